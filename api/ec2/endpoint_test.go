package ec2

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

// The wire shapes of the VPC endpoint family, as golden files in
// testdata/ (indented for reading beside AWS's documented responses). Run
// with -update to rewrite them.

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func updatingGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func vpceIndent(t *testing.T, b []byte) []byte {
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

func vpceGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updatingGolden() {
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

// vpceWire runs EC2 actions against one deterministic cloud and renders
// their answers as the body the client receives.
type vpceWire struct {
	t     *testing.T
	svc   *awsquery.Service
	cloud *core.Cloud
}

func (w *vpceWire) call(who core.Caller, action string, params ...string) []byte {
	w.t.Helper()
	form := url.Values{"Action": {action}, "Version": {APIVersion}}
	for i := 0; i+1 < len(params); i += 2 {
		form.Add(params[i], params[i+1])
	}
	req := &awsquery.Request{ID: "req-1", Action: action, Service: "ec2", Region: who.Region,
		Account: who.Account, Principal: who.ARN, Form: form, Flavor: awsquery.EC2}
	out, err := w.svc.Actions[action](req)
	if err != nil {
		e, ok := awserr.As(err)
		if !ok {
			w.t.Fatalf("%s: %v", action, err)
		}
		rec := httptest.NewRecorder()
		awsquery.WriteError(rec, awsquery.EC2, XMLNamespace, "req-1", e)
		return vpceIndent(w.t, rec.Body.Bytes())
	}
	b, err := awsquery.MarshalResponse(w.svc, action, "req-1", out)
	if err != nil {
		w.t.Fatal(err)
	}
	return vpceIndent(w.t, b)
}

func xmlField(b []byte, name string) string {
	s := string(b)
	i := strings.Index(s, "<"+name+">")
	if i < 0 {
		return ""
	}
	s = s[i+len(name)+2:]
	return s[:strings.Index(s, "<")]
}

func TestEndpointWireShapes(t *testing.T) {
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
	w := &vpceWire{t: t, svc: New(cloud), cloud: cloud}
	a := core.Caller{Account: "111111111111", ARN: core.RootARN("111111111111"), Region: "us-east-1"}
	b := core.Caller{Account: "222222222222", ARN: core.RootARN("222222222222"), Region: "us-east-1"}
	net := func(who core.Caller) (string, string) {
		v, err := cloud.CreateVpc(who, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := cloud.CreateSubnet(who, core.CreateSubnetInput{VpcID: v.ID, CidrBlock: "10.0.1.0/24", AvailabilityZone: "us-east-1a"})
		if err != nil {
			t.Fatal(err)
		}
		return v.ID, s.ID
	}
	_, sa := net(a)
	lb, err := cloud.CreateLoadBalancer(a, core.CreateLoadBalancerInput{Name: "svc", Type: core.LoadBalancerNetwork, Subnets: []string{sa}})
	if err != nil {
		t.Fatal(err)
	}
	body := w.call(a, "CreateVpcEndpointServiceConfiguration", "NetworkLoadBalancerArn.1", lb.ARN(), "AcceptanceRequired", "true",
		"PrivateDnsName", "api.example.test", "TagSpecification.1.ResourceType", "vpc-endpoint-service",
		"TagSpecification.1.Tag.1.Key", "Name", "TagSpecification.1.Tag.1.Value", "api")
	vpceGolden(t, "create-vpc-endpoint-service-configuration.xml", body)
	svc := xmlField(body, "serviceId")
	name := xmlField(body, "serviceName")
	vpceGolden(t, "modify-vpc-endpoint-service-permissions.xml", w.call(a, "ModifyVpcEndpointServicePermissions", "ServiceId", svc,
		"AddAllowedPrincipals.1", core.RootARN(b.Account)))
	vpceGolden(t, "describe-vpc-endpoint-service-permissions.xml", w.call(a, "DescribeVpcEndpointServicePermissions", "ServiceId", svc))

	vb, sb := net(b)
	vpceGolden(t, "describe-vpc-endpoint-services.xml", w.call(b, "DescribeVpcEndpointServices", "ServiceName.1", name, "ServiceName.2", "com.amazonaws.us-east-1.s3"))
	body = w.call(b, "CreateVpcEndpoint", "VpcId", vb, "ServiceName", name, "VpcEndpointType", "Interface", "SubnetId.1", sb)
	vpceGolden(t, "create-vpc-endpoint-interface.xml", body)
	ep := xmlField(body, "vpcEndpointId")
	rtbs, _, err := cloud.DescribeRouteTables(b, nil, nil, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	w.call(b, "CreateVpcEndpoint", "VpcId", vb, "ServiceName", "com.amazonaws.us-east-1.s3", "RouteTableId.1", rtbs[0].ID)
	vpceGolden(t, "describe-vpc-endpoints.xml", w.call(b, "DescribeVpcEndpoints"))
	vpceGolden(t, "describe-vpc-endpoint-connections.xml", w.call(a, "DescribeVpcEndpointConnections"))
	vpceGolden(t, "accept-vpc-endpoint-connections.xml", w.call(a, "AcceptVpcEndpointConnections", "ServiceId", svc,
		"VpcEndpointId.1", ep, "VpcEndpointId.2", "vpce-0123456789abcdef0"))
	vpceGolden(t, "describe-vpc-endpoint-service-configurations.xml", w.call(a, "DescribeVpcEndpointServiceConfigurations"))
	vpceGolden(t, "delete-vpc-endpoint-service-configurations.xml", w.call(a, "DeleteVpcEndpointServiceConfigurations", "ServiceId.1", svc))
	vpceGolden(t, "describe-route-tables-gateway-endpoint.xml", w.call(b, "DescribeRouteTables", "RouteTableId.1", rtbs[0].ID))
	vpceGolden(t, "describe-prefix-lists.xml", w.call(b, "DescribePrefixLists"))
	vpceGolden(t, "describe-managed-prefix-lists.xml", w.call(b, "DescribeManagedPrefixLists", "PrefixListId.1", "pl-63a5400a"))
	vpceGolden(t, "get-managed-prefix-list-entries.xml", w.call(b, "GetManagedPrefixListEntries", "PrefixListId", "pl-63a5400a"))
	vpceGolden(t, "modify-vpc-endpoint.xml", w.call(b, "ModifyVpcEndpoint", "VpcEndpointId", ep, "AddSecurityGroupId.1", "sg-0123456789abcdef0"))
	vpceGolden(t, "delete-vpc-endpoints.xml", w.call(b, "DeleteVpcEndpoints", "VpcEndpointId.1", ep, "VpcEndpointId.2", "vpce-0123456789abcdef0"))
	vpceGolden(t, "create-vpc-endpoint-invalid-service.xml", w.call(b, "CreateVpcEndpoint", "VpcId", vb, "ServiceName", name))
}
