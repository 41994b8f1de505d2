package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// VPC endpoint policies: IAM policy documents, parsed and validated here
// (pure: no I/O). The data plane evaluates the parsed form.

// MaxPolicyLength is the longest endpoint policy AWS accepts, in
// characters.
const MaxPolicyLength = 20480

// DefaultEndpointPolicy is the full-access policy an endpoint gets when
// none is given (and back after ResetPolicy).
const DefaultEndpointPolicy = `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`

// Policy is a parsed policy document.
type Policy struct {
	Version    string
	ID         string
	Statements []Statement
}

// Statement is one statement of a policy. Lists hold the values as given
// (a single string becomes a list of one).
type Statement struct {
	Sid    string
	Effect string // Allow | Deny
	// Principal / NotPrincipal: by type (AWS, Service, Federated,
	// CanonicalUser); "*" alone is {"*": ["*"]}.
	Principal    map[string][]string
	NotPrincipal map[string][]string
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	// Condition: operator → key → values.
	Condition map[string]map[string][]string
}

// PolicyError is why a policy document is refused.
type PolicyError struct{ Msg string }

func (e *PolicyError) Error() string { return e.Msg }

func policyErr(format string, args ...any) error {
	return &PolicyError{Msg: fmt.Sprintf(format, args...)}
}

// ParsePolicy parses and validates a policy document: well-formed JSON,
// at most MaxPolicyLength characters, only the elements IAM defines
// (Version, Id, Statement; Sid, Effect, Principal, NotPrincipal, Action,
// NotAction, Resource, NotResource, Condition), each of the right shape.
func ParsePolicy(doc string) (*Policy, error) {
	if n := utf8.RuneCountInString(doc); n > MaxPolicyLength {
		return nil, policyErr("Policy document is %d characters long; the limit is %d characters.", n, MaxPolicyLength)
	}
	if strings.TrimSpace(doc) == "" {
		return nil, policyErr("Policy document is empty.")
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, policyErr("Policy document is not valid JSON: %v", jsonErrText(err))
	}
	if _, err := dec.Token(); err == nil {
		return nil, policyErr("Policy document is not valid JSON: unexpected content after the top-level object.")
	}
	top, ok := raw.(map[string]any)
	if !ok {
		return nil, policyErr("Policy document must be a JSON object.")
	}
	if err := checkDuplicateKeys(doc); err != nil {
		return nil, err
	}
	p := &Policy{}
	for _, k := range sortedMapKeys(top) {
		v := top[k]
		switch k {
		case "Version":
			s, ok := v.(string)
			if !ok || (s != "2008-10-17" && s != "2012-10-17") {
				return nil, policyErr("Policy Version must be \"2012-10-17\" or \"2008-10-17\", not %s.", jsonText(v))
			}
			p.Version = s
		case "Id":
			s, ok := v.(string)
			if !ok {
				return nil, policyErr("Policy Id must be a string.")
			}
			p.ID = s
		case "Statement":
		default:
			return nil, policyErr("Policy document has an unknown element %q.", k)
		}
	}
	st, ok := top["Statement"]
	if !ok {
		return nil, policyErr("Policy document is missing the required element \"Statement\".")
	}
	var list []any
	switch v := st.(type) {
	case map[string]any:
		list = []any{v}
	case []any:
		list = v
	default:
		return nil, policyErr("Policy Statement must be an object or a list of objects.")
	}
	if len(list) == 0 {
		return nil, policyErr("Policy Statement must not be empty.")
	}
	sids := map[string]bool{}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, policyErr("Statement %d must be an object.", i+1)
		}
		s, err := parseStatement(m, i+1)
		if err != nil {
			return nil, err
		}
		if s.Sid != "" {
			if sids[s.Sid] {
				return nil, policyErr("Statement ids (Sid) must be unique: %q is used twice.", s.Sid)
			}
			sids[s.Sid] = true
		}
		p.Statements = append(p.Statements, s)
	}
	return p, nil
}

func parseStatement(m map[string]any, n int) (Statement, error) {
	var s Statement
	for _, k := range sortedMapKeys(m) {
		v := m[k]
		var err error
		switch k {
		case "Sid":
			str, ok := v.(string)
			if !ok {
				return s, policyErr("Statement %d: Sid must be a string.", n)
			}
			s.Sid = str
		case "Effect":
			str, _ := v.(string)
			if str != "Allow" && str != "Deny" {
				return s, policyErr("Statement %d: Effect must be \"Allow\" or \"Deny\", not %s.", n, jsonText(v))
			}
			s.Effect = str
		case "Principal":
			s.Principal, err = parsePrincipal(v, n, k)
		case "NotPrincipal":
			s.NotPrincipal, err = parsePrincipal(v, n, k)
		case "Action":
			s.Action, err = parseActions(v, n, k)
		case "NotAction":
			s.NotAction, err = parseActions(v, n, k)
		case "Resource":
			s.Resource, err = policyStrings(v, n, k)
		case "NotResource":
			s.NotResource, err = policyStrings(v, n, k)
		case "Condition":
			s.Condition, err = parseCondition(v, n)
		default:
			return s, policyErr("Statement %d has an unknown element %q.", n, k)
		}
		if err != nil {
			return s, err
		}
	}
	switch {
	case s.Effect == "":
		return s, policyErr("Statement %d is missing the required element \"Effect\".", n)
	case s.Action == nil && s.NotAction == nil:
		return s, policyErr("Statement %d must have an \"Action\" or a \"NotAction\".", n)
	case s.Action != nil && s.NotAction != nil:
		return s, policyErr("Statement %d cannot have both \"Action\" and \"NotAction\".", n)
	case s.Resource != nil && s.NotResource != nil:
		return s, policyErr("Statement %d cannot have both \"Resource\" and \"NotResource\".", n)
	case s.Principal != nil && s.NotPrincipal != nil:
		return s, policyErr("Statement %d cannot have both \"Principal\" and \"NotPrincipal\".", n)
	}
	return s, nil
}

// policyStrings accepts a string or a non-empty list of strings.
func policyStrings(v any, n int, elem string) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		if len(v) == 0 {
			return nil, policyErr("Statement %d: %s must not be an empty list.", n, elem)
		}
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, policyErr("Statement %d: every value of %s must be a string.", n, elem)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, policyErr("Statement %d: %s must be a string or a list of strings.", n, elem)
}

// parseActions checks each action is "*" or <service>:<action>.
func parseActions(v any, n int, elem string) ([]string, error) {
	acts, err := policyStrings(v, n, elem)
	if err != nil {
		return nil, err
	}
	for _, a := range acts {
		if a == "*" {
			continue
		}
		svc, name, ok := strings.Cut(a, ":")
		if !ok || svc == "" || name == "" || strings.ContainsAny(svc, "*?") || strings.ContainsAny(a, " \t") {
			return nil, policyErr("Statement %d: %s %q is not \"*\" or <service>:<action>.", n, elem, a)
		}
	}
	return acts, nil
}

var principalTypes = []string{"AWS", "Service", "Federated", "CanonicalUser"}

func parsePrincipal(v any, n int, elem string) (map[string][]string, error) {
	if s, ok := v.(string); ok {
		if s != "*" {
			return nil, policyErr("Statement %d: %s must be \"*\" or an object such as {\"AWS\": ...}.", n, elem)
		}
		return map[string][]string{"*": {"*"}}, nil
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, policyErr("Statement %d: %s must be \"*\" or an object such as {\"AWS\": ...}.", n, elem)
	}
	out := map[string][]string{}
	for _, k := range sortedMapKeys(m) {
		if !containsString(principalTypes, k) {
			return nil, policyErr("Statement %d: %s has an unknown principal type %q.", n, elem, k)
		}
		vals, err := policyStrings(m[k], n, elem+"."+k)
		if err != nil {
			return nil, err
		}
		out[k] = vals
	}
	return out, nil
}

func parseCondition(v any, n int) (map[string]map[string][]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, policyErr("Statement %d: Condition must be an object.", n)
	}
	out := map[string]map[string][]string{}
	for _, op := range sortedMapKeys(m) {
		keys, ok := m[op].(map[string]any)
		if !ok || len(keys) == 0 {
			return nil, policyErr("Statement %d: Condition operator %q must map condition keys to values.", n, op)
		}
		out[op] = map[string][]string{}
		for _, k := range sortedMapKeys(keys) {
			var vals []string
			switch v := keys[k].(type) {
			case []any:
				if len(v) == 0 {
					return nil, policyErr("Statement %d: Condition %s %s must not be an empty list.", n, op, k)
				}
				for _, e := range v {
					s, ok := scalarText(e)
					if !ok {
						return nil, policyErr("Statement %d: Condition %s %s values must be strings, numbers or booleans.", n, op, k)
					}
					vals = append(vals, s)
				}
			default:
				s, ok := scalarText(v)
				if !ok {
					return nil, policyErr("Statement %d: Condition %s %s values must be strings, numbers or booleans.", n, op, k)
				}
				vals = []string{s}
			}
			out[op][k] = vals
		}
	}
	return out, nil
}

func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

func sortedMapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

func jsonErrText(err error) string {
	var se *json.SyntaxError
	if e, ok := err.(*json.SyntaxError); ok {
		se = e
		return fmt.Sprintf("%s (at character %d)", se.Error(), se.Offset)
	}
	return err.Error()
}

// checkDuplicateKeys refuses an object with the same key twice, which
// encoding/json would silently collapse.
func checkDuplicateKeys(doc string) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	var walk func() error
	walk = func() error {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				if seen[k] {
					return policyErr("Policy document has the element %q twice in one object.", k)
				}
				seen[k] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	return walk()
}
