package health

import (
	"reflect"
	"testing"
)

func TestRoute(t *testing.T) {
	type tg struct {
		id string
		st State
	}
	ids := func(ts []tg) (s []string) {
		for _, t := range ts {
			s = append(s, t.id)
		}
		return s
	}
	state := func(t tg) State { return t.st }
	for _, c := range []struct {
		name     string
		in       []tg
		want     []string
		failOpen bool
	}{
		{"healthy ones only", []tg{{"a", Healthy}, {"b", Unhealthy}, {"c", Healthy}, {"d", Initial}}, []string{"a", "c"}, false},
		{"none healthy: fail open to all registered", []tg{{"a", Unhealthy}, {"b", Initial}, {"c", Unavailable}, {"d", UnhealthyDraining}}, []string{"a", "b", "c", "d"}, true},
		{"fail open leaves out draining and unused", []tg{{"a", Unhealthy}, {"b", Draining}, {"c", Unused}, {"d", Unhealthy}}, []string{"a", "d"}, true},
		{"a draining target is never routed to even if healthy otherwise", []tg{{"a", Draining}, {"b", Healthy}}, []string{"b"}, false},
		{"only draining and unused", []tg{{"a", Draining}, {"b", Unused}}, nil, false},
		{"empty", nil, nil, false},
		{"one unhealthy", []tg{{"a", Unhealthy}}, []string{"a"}, true},
	} {
		got, fo := Route(c.in, state)
		if !reflect.DeepEqual(ids(got), c.want) || fo != c.failOpen {
			t.Errorf("%s: Route = %v, failOpen %v; want %v, %v", c.name, ids(got), fo, c.want, c.failOpen)
		}
	}
}
