package core

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/isthmusnet/isthmus/store/bolt"
)

func newELBTestCloud(t *testing.T) *Cloud {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "elb.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, Options{Regions: []Region{NewRegion("us-east-1", 3)}})
}

var elbCaller = Caller{Account: "111111111111", Region: "us-east-1"}

func TestELBARNs(t *testing.T) {
	const lb = "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/web/0123456789abcdef"
	if id, ok := loadBalancerIDOf(lb); !ok || id != "0123456789abcdef" {
		t.Errorf("loadBalancerIDOf(%s) = %q, %v", lb, id, ok)
	}
	for _, bad := range []string{
		"",
		"arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/web/0123456789ABCDEF",
		"arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/web/0123456789abcde",
		"arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/xyz/web/0123456789abcdef",
		"arn:aws:elasticloadbalancing:us-east-1:1111:loadbalancer/net/web/0123456789abcdef",
		"arn:aws:ec2:us-east-1:111111111111:loadbalancer/net/web/0123456789abcdef",
		"arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net//0123456789abcdef",
		"arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/web/0123456789abcdef",
	} {
		if _, ok := loadBalancerIDOf(bad); ok {
			t.Errorf("loadBalancerIDOf(%q) accepted", bad)
		}
	}
	const l = "arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/gwy/gw/0123456789abcdef/fedcba9876543210"
	lbARN, id, ok := listenerIDOf(l)
	if !ok || id != "fedcba9876543210" || lbARN != "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/gwy/gw/0123456789abcdef" {
		t.Errorf("listenerIDOf = %q, %q, %v", lbARN, id, ok)
	}
	if id, ok := targetGroupIDOf("arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tg/00000000000000ff"); !ok || id != "00000000000000ff" {
		t.Errorf("targetGroupIDOf = %q, %v", id, ok)
	}
}

func TestPageByMarker(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e"}
	id := func(s string) string { return s }
	size := int32(2)
	var got []string
	marker := ""
	for pages := 0; ; pages++ {
		page, next, err := pageByMarker(items, id, MarkerPage{PageSize: &size, Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			if pages != 2 {
				t.Errorf("%d pages, want 3", pages+1)
			}
			break
		}
		marker = next
	}
	if strings.Join(got, "") != "abcde" {
		t.Errorf("pages gave %v", got)
	}
	for _, n := range []int32{0, 401} {
		if _, _, err := pageByMarker(items, id, MarkerPage{PageSize: &n}); ipamCode(err) != "ValidationError" {
			t.Errorf("PageSize %d: %v", n, err)
		}
	}
}

// TestLoadBalancerUserRefusesDelete checks the hook endpoint services use
// to keep their load balancers.
func TestLoadBalancerUserRefusesDelete(t *testing.T) {
	c := newELBTestCloud(t)
	v, err := c.CreateVpc(elbCaller, CreateVpcInput{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.CreateSubnet(elbCaller, CreateSubnetInput{VpcID: v.ID, CidrBlock: "10.0.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	lb, err := c.CreateLoadBalancer(elbCaller, CreateLoadBalancerInput{Name: "svc", Type: LoadBalancerNetwork, Subnets: []string{s.ID}})
	if err != nil {
		t.Fatal(err)
	}
	saved := loadBalancerUsers
	t.Cleanup(func() { loadBalancerUsers = saved })
	registerLoadBalancerUser(func(tx *Tx, l *LoadBalancer) (string, error) {
		if l.ID == lb.ID {
			return "vpce-svc-0123456789abcdef0", nil
		}
		return "", nil
	})
	err = c.DeleteLoadBalancer(elbCaller, lb.ARN())
	if ipamCode(err) != "ResourceInUse" || !strings.Contains(err.Error(), "vpce-svc-0123456789abcdef0") {
		t.Fatalf("DeleteLoadBalancer of a used load balancer: %v", err)
	}
	got, err := c.LoadBalancerByARN(elbCaller, lb.ARN())
	if err != nil || len(got.Zones) != 1 || got.Zones[0].SubnetID != s.ID || got.Zones[0].NetworkInterfaceID == "" {
		t.Fatalf("after the refused delete: %+v, %v", got, err)
	}
	// Lookups for other services.
	err = c.view(elbCaller, func(tx *Tx) error {
		if l, err := tx.findLoadBalancer(lb.ARN()); err != nil || l == nil {
			t.Errorf("findLoadBalancer = %v, %v", l, err)
		}
		if l, err := tx.findLoadBalancer("bogus"); err != nil || l != nil {
			t.Errorf("findLoadBalancer(bogus) = %v, %v", l, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	other := Caller{Account: "222222222222", Region: "us-east-1"}
	err = c.view(other, func(tx *Tx) error {
		if l, err := tx.findLoadBalancer(lb.ARN()); err != nil || l != nil {
			t.Errorf("another account's findLoadBalancer = %v, %v", l, err)
		}
		if l, err := tx.loadBalancerAnyOwner(lb.ARN()); err != nil || l == nil || l.Owner != elbCaller.Account {
			t.Errorf("loadBalancerAnyOwner = %v, %v", l, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	loadBalancerUsers = saved
	if err := c.DeleteLoadBalancer(elbCaller, lb.ARN()); err != nil {
		t.Fatalf("DeleteLoadBalancer once unused: %v", err)
	}
}
