package health

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Matcher is the HTTP codes of a healthy answer: ELBv2's Matcher.HttpCode.
// A network load balancer accepts a code ("200"), a list ("200,202"), a
// range ("200-299"), or a list of codes and ranges ("200,202-204"), every
// code from 200 to 599. The zero Matcher is DefaultMatcher.
type Matcher struct {
	spans [][2]int // inclusive; nil means the default
	text  string
}

// DefaultMatcher is a network load balancer's default, 200-399.
var DefaultMatcher = Matcher{spans: [][2]int{{200, 399}}, text: "200-399"}

// Bounds of the codes a network load balancer's matcher may name.
const (
	MinMatcherCode = 200
	MaxMatcherCode = 599
)

// ErrMatcher is wrapped by the errors of ParseMatcher.
var ErrMatcher = errors.New("health: invalid matcher")

// ParseMatcher parses a Matcher.HttpCode. An empty string gives
// DefaultMatcher. Codes are three digits; a range's first code is not
// above its last; nothing else (no spaces, no empty items) is allowed.
func ParseMatcher(s string) (Matcher, error) {
	if s == "" {
		return DefaultMatcher, nil
	}
	m := Matcher{text: s}
	for _, item := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := parseCode(lo, s)
		if err != nil {
			return Matcher{}, err
		}
		b := a
		if isRange {
			if b, err = parseCode(hi, s); err != nil {
				return Matcher{}, err
			}
			if a > b {
				return Matcher{}, fmt.Errorf("%w %q: range %d-%d ends before it starts", ErrMatcher, s, a, b)
			}
		}
		m.spans = append(m.spans, [2]int{a, b})
	}
	return m, nil
}

func parseCode(c, s string) (int, error) {
	if len(c) != 3 || strings.Trim(c, "0123456789") != "" {
		return 0, fmt.Errorf("%w %q: %q is not a three-digit HTTP code; use a code (200), a list (200,202) or a range (200-299)", ErrMatcher, s, c)
	}
	n, _ := strconv.Atoi(c)
	if n < MinMatcherCode || n > MaxMatcherCode {
		return 0, fmt.Errorf("%w %q: code %d is outside %d-%d", ErrMatcher, s, n, MinMatcherCode, MaxMatcherCode)
	}
	return n, nil
}

// MustParseMatcher is ParseMatcher for constants; it panics on error.
func MustParseMatcher(s string) Matcher {
	m, err := ParseMatcher(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Match reports whether code is one of the matcher's.
func (m Matcher) Match(code int) bool {
	spans := m.spans
	if spans == nil {
		spans = DefaultMatcher.spans
	}
	for _, r := range spans {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

// String returns the matcher as it was written.
func (m Matcher) String() string {
	if m.spans == nil {
		return DefaultMatcher.text
	}
	return m.text
}
