package core

import (
	"strconv"
	"strings"

	"github.com/isthmusnet/isthmus/awserr"
)

// Filter is one Describe filter: the object matches if any value matches
// (OR); all filters must match (AND). Values may hold the wildcards * and ?,
// with \ escaping them, as EC2 allows.
type Filter struct {
	Name   string
	Values []string
}

// checkFilters refuses filter names the kind does not know, as EC2 does
// even when nothing would match.
func checkFilters(o Object, filters []Filter) error {
	for _, f := range filters {
		if f.Name == "" {
			return awserr.InvalidParameterValue("The filter 'null' is invalid")
		}
		if _, ok := o.filter(f.Name); !ok {
			if _, ok := tagFilter(o.meta(), f.Name); !ok {
				return awserr.InvalidParameterValue("The filter '%s' is invalid", f.Name)
			}
		}
	}
	return nil
}

func matchFilters(o Object, filters []Filter) bool {
	for _, f := range filters {
		vals, ok := o.filter(f.Name)
		if !ok {
			vals, _ = tagFilter(o.meta(), f.Name)
		}
		if !matchAny(vals, f.Values) {
			return false
		}
	}
	return true
}

// tagFilter answers the filters every taggable object has.
func tagFilter(m *Meta, name string) ([]string, bool) {
	switch {
	case name == "tag-key":
		out := make([]string, len(m.Tags))
		for i, t := range m.Tags {
			out[i] = t.Key
		}
		return out, true
	case name == "tag-value":
		out := make([]string, len(m.Tags))
		for i, t := range m.Tags {
			out[i] = t.Value
		}
		return out, true
	case strings.HasPrefix(name, "tag:"):
		key := name[len("tag:"):]
		for _, t := range m.Tags {
			if t.Key == key {
				return []string{t.Value}, true
			}
		}
		return nil, true
	case name == "owner-id":
		return []string{m.Owner}, true
	}
	return nil, false
}

func matchAny(have, patterns []string) bool {
	for _, p := range patterns {
		for _, h := range have {
			if wildcardMatch(p, h) {
				return true
			}
		}
	}
	return false
}

// wildcardMatch matches s against p where * is any run, ? any one
// character, and \ escapes the next character.
func wildcardMatch(p, s string) bool {
	pr, sr := []rune(p), []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(sr) {
		if pi < len(pr) {
			switch c := pr[pi]; {
			case c == '*':
				star, mark = pi, si
				pi++
				continue
			case c == '?':
				pi++
				si++
				continue
			case c == '\\' && pi+1 < len(pr):
				if pr[pi+1] == sr[si] {
					pi += 2
					si++
					continue
				}
			case c == sr[si]:
				pi++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		pi = star + 1
		mark++
		si = mark
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}

// Helpers for filter methods.

func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func boolValue(b bool) []string { return []string{strconv.FormatBool(b)} }
