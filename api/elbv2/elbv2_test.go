package elbv2

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	mathrand "math/rand"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/store/bolt"
)

var update = flag.Bool("update", false, "rewrite golden files")

// indent re-encodes an XML document with indentation, so that golden files
// can be read and compared with AWS's documented responses.
func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var out bytes.Buffer
	e := xml.NewEncoder(&out)
	e.Indent("", "  ")
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%v in %s", err, b)
		}
		// Drop the namespace the decoder resolved onto every element; the
		// root keeps its xmlns attribute.
		switch v := tok.(type) {
		case xml.StartElement:
			v.Name.Space = ""
			tok = v
		case xml.EndElement:
			v.Name.Space = ""
			tok = v
		}
		if err := e.EncodeToken(xml.CopyToken(tok)); err != nil {
			t.Fatal(err)
		}
	}
	e.Flush()
	out.WriteByte('\n')
	return out.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s:\ngot\n%s\nwant\n%s", name, got, want)
	}
}

// wire runs actions against one deterministic cloud and renders their
// answers (or errors) as the HTTP body the client receives.
type wire struct {
	t     *testing.T
	svc   *awsquery.Service
	cloud *core.Cloud
	who   core.Caller
}

func newWire(t *testing.T) *wire {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2025, 3, 4, 5, 6, 7, 890e6, time.UTC)
	cloud := core.New(st, core.Options{
		Regions: []core.Region{core.NewRegion("us-east-1", 3)},
		Now:     func() time.Time { return now },
		Rand:    mathrand.New(mathrand.NewSource(1)),
	})
	return &wire{t: t, svc: New(cloud), cloud: cloud, who: core.Caller{Account: "111111111111", ARN: core.RootARN("111111111111"), Region: "us-east-1"}}
}

func (w *wire) call(action string, params ...string) []byte {
	w.t.Helper()
	form := url.Values{"Action": {action}, "Version": {APIVersion}}
	for i := 0; i+1 < len(params); i += 2 {
		form.Add(params[i], params[i+1])
	}
	req := &awsquery.Request{ID: "req-1", Action: action, Service: "elasticloadbalancing", Region: w.who.Region,
		Account: w.who.Account, Principal: w.who.ARN, Form: form, Flavor: awsquery.Query}
	out, err := w.svc.Actions[action](req)
	if err != nil {
		e, ok := awserr.As(err)
		if !ok {
			w.t.Fatalf("%s: %v", action, err)
		}
		rec := httptest.NewRecorder()
		awsquery.WriteError(rec, awsquery.Query, XMLNamespace, "req-1", e)
		return indent(w.t, rec.Body.Bytes())
	}
	b, err := awsquery.MarshalResponse(w.svc, action, "req-1", out)
	if err != nil {
		w.t.Fatal(err)
	}
	return indent(w.t, b)
}

// field returns the text of the first element named name in an XML body.
func field(b []byte, name string) string {
	s := string(b)
	i := strings.Index(s, "<"+name+">")
	if i < 0 {
		return ""
	}
	s = s[i+len(name)+2:]
	return s[:strings.Index(s, "<")]
}

func TestWireShapes(t *testing.T) {
	w := newWire(t)
	v, err := w.cloud.CreateVpc(w.who, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for i, z := range []string{"us-east-1a", "us-east-1b"} {
		s, err := w.cloud.CreateSubnet(w.who, core.CreateSubnetInput{VpcID: v.ID, CidrBlock: "10.0." + string(rune('1'+i)) + ".0/24", AvailabilityZone: z})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, s.ID)
	}
	g, err := w.cloud.CreateSecurityGroup(w.who, core.CreateSecurityGroupInput{GroupName: "lb", Description: "lb", VpcID: v.ID})
	if err != nil {
		t.Fatal(err)
	}

	b := w.call("CreateLoadBalancer", "Name", "web", "Type", "network", "Scheme", "internal",
		"SubnetMappings.member.1.SubnetId", subnets[0],
		"SubnetMappings.member.2.SubnetId", subnets[1], "SubnetMappings.member.2.PrivateIPv4Address", "10.0.2.10",
		"SecurityGroups.member.1", g.ID, "Tags.member.1.Key", "env", "Tags.member.1.Value", "prod")
	golden(t, "create-load-balancer.xml", b)
	lb := field(b, "LoadBalancerArn")
	golden(t, "describe-load-balancers.xml", w.call("DescribeLoadBalancers", "Names.member.1", "web"))
	golden(t, "create-load-balancer-gateway.xml", w.call("CreateLoadBalancer", "Name", "gw", "Type", "gateway", "Subnets.member.1", subnets[0]))

	b = w.call("CreateTargetGroup", "Name", "web-tg", "Protocol", "TCP", "Port", "80", "VpcId", v.ID, "TargetType", "ip",
		"HealthCheckProtocol", "HTTP", "HealthCheckPath", "/healthz")
	golden(t, "create-target-group.xml", b)
	tg := field(b, "TargetGroupArn")
	golden(t, "create-listener.xml", w.call("CreateListener", "LoadBalancerArn", lb, "Protocol", "TCP", "Port", "80",
		"DefaultActions.member.1.Type", "forward", "DefaultActions.member.1.TargetGroupArn", tg))
	golden(t, "describe-target-groups.xml", w.call("DescribeTargetGroups", "LoadBalancerArn", lb))
	golden(t, "register-targets.xml", w.call("RegisterTargets", "TargetGroupArn", tg, "Targets.member.1.Id", "10.0.1.50",
		"Targets.member.2.Id", "10.0.2.60", "Targets.member.2.Port", "8080"))
	golden(t, "describe-target-health.xml", w.call("DescribeTargetHealth", "TargetGroupArn", tg))
	golden(t, "describe-listeners.xml", w.call("DescribeListeners", "LoadBalancerArn", lb, "PageSize", "1"))
	golden(t, "describe-load-balancer-attributes.xml", w.call("DescribeLoadBalancerAttributes", "LoadBalancerArn", lb))
	golden(t, "modify-target-group-attributes.xml", w.call("ModifyTargetGroupAttributes", "TargetGroupArn", tg,
		"Attributes.member.1.Key", "proxy_protocol_v2.enabled", "Attributes.member.1.Value", "true"))
	golden(t, "describe-tags.xml", w.call("DescribeTags", "ResourceArns.member.1", lb, "ResourceArns.member.2", tg))
	golden(t, "set-security-groups.xml", w.call("SetSecurityGroups", "LoadBalancerArn", lb, "SecurityGroups.member.1", g.ID))
	golden(t, "delete-target-group-in-use.xml", w.call("DeleteTargetGroup", "TargetGroupArn", tg))
	golden(t, "error-not-found.xml", w.call("DescribeLoadBalancers", "Names.member.1", "nope"))
	golden(t, "delete-load-balancer.xml", w.call("DeleteLoadBalancer", "LoadBalancerArn", lb))
}
