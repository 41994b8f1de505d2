package awsquery

import (
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/isthmusnet/isthmus/awserr"
)

var update = flag.Bool("update", false, "rewrite golden files")

type wireTag struct {
	Key   *string `xml:"key,omitempty"`
	Value *string `xml:"value,omitempty"`
}

type vpc struct {
	VpcId     *string   `xml:"vpcId,omitempty"`
	IsDefault *bool     `xml:"isDefault,omitempty"`
	Tags      []wireTag `xml:"tagSet>item,omitempty"`
}

type describeOut struct {
	Vpcs      []vpc   `xml:"vpcSet>item,omitempty"`
	NextToken *string `xml:"nextToken,omitempty"`
}

type lbOut struct {
	LoadBalancers []struct {
		LoadBalancerArn *string `xml:"LoadBalancerArn,omitempty"`
	} `xml:"LoadBalancers>member,omitempty"`
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
		t.Errorf("%s:\ngot  %s\nwant %s", name, got, want)
	}
}

func TestEnvelopes(t *testing.T) {
	ec2 := &Service{Namespace: "http://ec2.amazonaws.com/doc/2016-11-15", Flavor: EC2}
	elb := &Service{Namespace: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/", Flavor: Query}
	id, tr, k, v := "vpc-0123456789abcdef0", false, "Name", "a&b"
	b, err := MarshalResponse(ec2, "DescribeVpcs", "req-1", &describeOut{Vpcs: []vpc{{VpcId: &id, IsDefault: &tr, Tags: []wireTag{{&k, &v}}}}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "ec2-describe-vpcs.xml", b)
	b, _ = MarshalResponse(ec2, "DeleteVpc", "req-2", nil)
	golden(t, "ec2-no-output.xml", b)
	arn := "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/x/0123456789abcdef"
	out := &lbOut{}
	out.LoadBalancers = append(out.LoadBalancers, struct {
		LoadBalancerArn *string `xml:"LoadBalancerArn,omitempty"`
	}{&arn})
	b, _ = MarshalResponse(elb, "DescribeLoadBalancers", "req-3", out)
	golden(t, "query-describe-load-balancers.xml", b)

	for _, tc := range []struct {
		name   string
		flavor Flavor
		err    *awserr.Error
	}{
		{"ec2-error.xml", EC2, awserr.New("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist")},
		{"query-error.xml", Query, awserr.New("LoadBalancerNotFound", "One or more load balancers not found <&>")},
		{"query-internal-error.xml", Query, awserr.Internal()},
	} {
		w := httptest.NewRecorder()
		WriteError(w, tc.flavor, "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/", "req-e", tc.err)
		if w.Code != tc.err.HTTPStatus() {
			t.Errorf("%s: status %d", tc.name, w.Code)
		}
		golden(t, tc.name, w.Body.Bytes())
	}
}
