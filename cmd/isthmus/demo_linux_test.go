package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/testenv"
)

// TestDemo runs `isthmus demo` end to end: its own Isthmus, both
// accounts, the page fetched through the endpoint's DNS name, the source
// address the target saw, and a cleanup that leaves nothing. A failure
// names the step that failed.
func TestDemo(t *testing.T) {
	testenv.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := runDemo(ctx, demoConfig{
		Timeout:  20 * time.Second,
		Provider: "111111111111", Consumer: "222222222222",
	}, &out)
	if err != nil {
		t.Fatalf("demo: %v\n\noutput:\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"$ aws ec2 create-vpc --cidr-block 10.0.0.0/16\n",
		"$ aws ec2 accept-vpc-endpoint-connections --service-id vpce-svc-",
		"--query 'VpcEndpoints[0].State'\n  → available\n",
		"Hello from the provider's web server 10.0.1.10:8080",
		"I see this request coming from " + demoLBIP + ":",
		"The web server saw the request come from " + demoLBIP + ": the network load balancer's private IP",
		"$ aws ec2 delete-vpc --vpc-id vpc-",
		"nothing left: no object in either account, no namespace demo",
		"Done: everything the demo made is gone.",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the output lacks %q:\n%s", want, s)
		}
	}
	// Both VPCs were made with the same CIDR, by different accounts.
	if n := strings.Count(s, "[provider]\n$ aws ec2 create-vpc --cidr-block 10.0.0.0/16"); n != 1 {
		t.Errorf("provider create-vpc printed %d times", n)
	}
	if n := strings.Count(s, "[consumer]\n$ aws ec2 create-vpc --cidr-block 10.0.0.0/16"); n != 1 {
		t.Errorf("consumer create-vpc printed %d times", n)
	}
}
