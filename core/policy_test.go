package core

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updatePolicies = flag.Bool("update", false, "rewrite the expected outcomes of testdata/policies.txt")

// TestPolicyTranscript runs the endpoint policy validator over
// testdata/policies.txt: blocks of "# name", a policy document, and the
// expected outcome "-> ok" or "-> error: <message>". With -update the
// outcomes are rewritten from what the validator answers.
func TestPolicyTranscript(t *testing.T) {
	const path = "testdata/policies.txt"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	var name string
	var doc []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "# "):
			name, doc = strings.TrimSpace(line[2:]), nil
			out.WriteString(line)
		case strings.HasPrefix(line, "-> "):
			got := "ok"
			if _, err := ParsePolicy(strings.TrimSuffix(strings.Join(doc, ""), "\n")); err != nil {
				got = "error: " + err.Error()
			}
			if want := strings.TrimSpace(line[3:]); got != want && !*updatePolicies {
				t.Errorf("%s:\n got  %s\n want %s", name, got, want)
			}
			out.WriteString("-> " + got + "\n")
		default:
			doc = append(doc, line)
			out.WriteString(line)
		}
	}
	if *updatePolicies {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPolicyLimits(t *testing.T) {
	if _, err := ParsePolicy(DefaultEndpointPolicy); err != nil {
		t.Fatalf("the default policy: %v", err)
	}
	pad := func(n int) string {
		base := `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Sid":""}]}`
		return strings.Replace(base, `"Sid":""`, `"Sid":"`+strings.Repeat("é", n-len([]rune(base)))+`"`, 1)
	}
	if _, err := ParsePolicy(pad(MaxPolicyLength)); err != nil {
		t.Errorf("a policy of exactly %d characters: %v", MaxPolicyLength, err)
	}
	if _, err := ParsePolicy(pad(MaxPolicyLength + 1)); err == nil {
		t.Errorf("a policy of %d characters was accepted", MaxPolicyLength+1)
	}
	p, err := ParsePolicy(`{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111111111111:root"]},"NotAction":"s3:Delete*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"},"Bool":{"aws:SecureTransport":false}}}}`)
	if err != nil {
		t.Fatal(err)
	}
	s := p.Statements[0]
	if s.Effect != "Deny" || s.NotPrincipal["AWS"][0] != "arn:aws:iam::111111111111:root" || s.NotAction[0] != "s3:Delete*" ||
		s.Condition["StringEquals"]["aws:SourceVpce"][0] != "vpce-1" || s.Condition["Bool"]["aws:SecureTransport"][0] != "false" {
		t.Errorf("parsed statement %+v", s)
	}
}
