//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-paths", "direct,tunnel"}, `unknown path "tunnel"`},
		{[]string{"now"}, "usage: go run ./cmd/isthmus-bench"},
		{[]string{"-no-such-flag"}, "flag provided but not defined"},
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", c.args, code)
		}
		if !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: stderr %q, want %q", c.args, errb.String(), c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: stdout %q", c.args, out.String())
		}
	}
}

func TestSplitList(t *testing.T) {
	got := strings.Join(splitList(" direct, haproxy,,endpoint "), "|")
	if got != "direct|haproxy|endpoint" {
		t.Errorf("splitList = %q", got)
	}
}
