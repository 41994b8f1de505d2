package health

import (
	"errors"
	"testing"
)

func TestMatcher(t *testing.T) {
	for _, c := range []struct {
		s        string
		match    []int
		nomatch  []int
		wantText string
	}{
		{"", []int{200, 301, 399}, []int{199, 400, 404, 500}, "200-399"},
		{"200", []int{200}, []int{201, 204, 300}, "200"},
		{"200,202", []int{200, 202}, []int{201, 203}, "200,202"},
		{"200-299", []int{200, 250, 299}, []int{300, 199}, "200-299"},
		{"200,202-204,302", []int{200, 202, 203, 204, 302}, []int{201, 205, 301, 303}, "200,202-204,302"},
		{"200-200", []int{200}, []int{201}, "200-200"},
		{"200-599", []int{200, 404, 599}, []int{600}, "200-599"},
		{"503", []int{503}, []int{200}, "503"},
		{"200,200", []int{200}, []int{201}, "200,200"},
	} {
		m, err := ParseMatcher(c.s)
		if err != nil {
			t.Errorf("ParseMatcher(%q): %v", c.s, err)
			continue
		}
		for _, code := range c.match {
			if !m.Match(code) {
				t.Errorf("%q does not match %d", c.s, code)
			}
		}
		for _, code := range c.nomatch {
			if m.Match(code) {
				t.Errorf("%q matches %d", c.s, code)
			}
		}
		if m.String() != c.wantText {
			t.Errorf("%q prints as %q", c.s, m.String())
		}
	}
	var zero Matcher
	if !zero.Match(302) || zero.Match(404) || zero.String() != "200-399" {
		t.Error("the zero Matcher is not the default")
	}
}

func TestMatcherErrors(t *testing.T) {
	for _, c := range []struct{ s, want string }{
		{"199", `health: invalid matcher "199": code 199 is outside 200-599`},
		{"600", `health: invalid matcher "600": code 600 is outside 200-599`},
		{"200-600", `health: invalid matcher "200-600": code 600 is outside 200-599`},
		{"100-200", `health: invalid matcher "100-200": code 100 is outside 200-599`},
		{"299-200", `health: invalid matcher "299-200": range 299-200 ends before it starts`},
		{"20", `health: invalid matcher "20": "20" is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)`},
		{"2000", `health: invalid matcher "2000": "2000" is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)`},
		{"abc", `health: invalid matcher "abc": "abc" is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)`},
		{"200,", `health: invalid matcher "200,": "" is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)`},
		{",200", `health: invalid matcher ",200": "" is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)`},
		{"200, 202", `health: invalid matcher "200, 202": " 202" is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)`},
		{"200-", `health: invalid matcher "200-": "" is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)`},
		{"200-300-400", `health: invalid matcher "200-300-400": "300-400" is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)`},
		{"200–399", `health: invalid matcher "200–399": "200–399" is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)`},
		{"+20", `health: invalid matcher "+20": "+20" is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)`},
	} {
		_, err := ParseMatcher(c.s)
		if err == nil || !errors.Is(err, ErrMatcher) || err.Error() != c.want {
			t.Errorf("ParseMatcher(%q) = %v\n want %s", c.s, err, c.want)
		}
	}
}
