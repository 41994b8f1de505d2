package core

import (
	"net/netip"
	"testing"
)

func transitsOf(t *testing.T, c *Cloud) *Topology {
	t.Helper()
	top, _, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func syncTransits(t *testing.T, c *Cloud, wantChanged bool) {
	t.Helper()
	changed, err := c.SyncTransits()
	if err != nil {
		t.Fatal(err)
	}
	if changed != wantChanged {
		t.Fatalf("SyncTransits changed = %v, want %v", changed, wantChanged)
	}
}

func TestTransitsFollowAvailableEndpoints(t *testing.T) {
	f := newPLFixture(t, Options{})
	ep, err := f.c.CreateVpcEndpoint(plConsumer, CreateVpcEndpointInput{VpcID: f.vpc.ID, ServiceName: f.svc.ServiceName(),
		Type: EndpointTypeInterface, SubnetIDs: []string{f.subnets[0].ID, f.subnets[1].ID}})
	if err != nil {
		t.Fatal(err)
	}
	// pendingAcceptance: nothing to join.
	if top := transitsOf(t, f.c); top.TransitsPending || len(top.Transits) != 0 {
		t.Fatalf("pending endpoint: pending %v, transits %v", top.TransitsPending, top.Transits)
	}
	if _, err := f.c.AcceptVpcEndpointConnections(plProvider, f.svc.ID, []string{ep.ID}); err != nil {
		t.Fatal(err)
	}
	if top := transitsOf(t, f.c); !top.TransitsPending || len(top.Transits) != 0 {
		t.Fatalf("accepted endpoint before SyncTransits: pending %v, transits %v", top.TransitsPending, top.Transits)
	}
	syncTransits(t, f.c, true)
	rev := f.c.Store().Rev()
	syncTransits(t, f.c, false)
	if f.c.Store().Rev() != rev {
		t.Fatal("a SyncTransits with nothing to do wrote to the store")
	}

	top := transitsOf(t, f.c)
	if top.TransitsPending || len(top.Transits) != 2 {
		t.Fatalf("after SyncTransits: pending %v, transits %+v", top.TransitsPending, top.Transits)
	}
	lbENI := map[string]string{}
	for _, lb := range top.LoadBalancers {
		for _, z := range lb.Zones {
			lbENI[z.ZoneName] = z.NetworkInterfaceID
		}
	}
	for i, tr := range top.Transits {
		sub := ep.Subnets[i]
		if tr.Index != i || tr.EndpointID != ep.ID || tr.EndpointENI != sub.ENI || tr.Zone != sub.Zone ||
			tr.LoadBalancerENI != lbENI[sub.Zone] || tr.ServiceID != f.svc.ID || tr.EndpointVpcID != f.vpc.ID {
			t.Errorf("transit %d: %+v (endpoint interface %+v, load balancer interfaces %v)", i, tr, sub, lbENI)
		}
	}
	if a, b := top.Transits[1].EndpointAddr(), top.Transits[1].LoadBalancerAddr(); a != netip.MustParseAddr("100.64.0.2") || b != netip.MustParseAddr("100.64.0.3") {
		t.Errorf("link 1 is %s ⇄ %s", a, b)
	}
	if p := top.Transits[1].Prefix(); p != netip.MustParsePrefix("100.64.0.2/31") {
		t.Errorf("link 1 prefix %s", p)
	}
	if got := top.EndpointNames[ep.ID]; got.Regional == "" || len(got.Zonal) != 2 || got.Zonal["us-east-1a"] == "" || got.Private != "" {
		t.Errorf("endpoint names %+v", got)
	}

	// Rejecting frees the links; a new endpoint takes the lowest numbers.
	if _, err := f.c.RejectVpcEndpointConnections(plProvider, f.svc.ID, []string{ep.ID}); err != nil {
		t.Fatal(err)
	}
	if top := transitsOf(t, f.c); !top.TransitsPending || len(top.Transits) != 0 {
		t.Fatalf("rejected endpoint: pending %v, transits %v (a link no longer wanted must not be shown)", top.TransitsPending, top.Transits)
	}
	syncTransits(t, f.c, true)
	if top := transitsOf(t, f.c); top.TransitsPending || len(top.Transits) != 0 {
		t.Fatalf("after freeing: %+v", top.Transits)
	}
}

func TestTransitsAvoidTheVPCs(t *testing.T) {
	f := newPLFixture(t, Options{})
	// A consumer VPC inside the pool: its links must not use its addresses.
	v, err := f.c.CreateVpc(plConsumer, CreateVpcInput{CidrBlock: "100.64.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.c.CreateSubnet(plConsumer, CreateSubnetInput{VpcID: v.ID, CidrBlock: "100.64.1.0/24", AvailabilityZone: "us-east-1a"})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := f.c.CreateVpcEndpoint(plConsumer, CreateVpcEndpointInput{VpcID: v.ID, ServiceName: f.svc.ServiceName(),
		Type: EndpointTypeInterface, SubnetIDs: []string{s.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AcceptVpcEndpointConnections(plProvider, f.svc.ID, []string{ep.ID}); err != nil {
		t.Fatal(err)
	}
	syncTransits(t, f.c, true)
	top := transitsOf(t, f.c)
	if len(top.Transits) != 1 {
		t.Fatalf("transits %+v", top.Transits)
	}
	tr := top.Transits[0]
	if tr.EndpointAddr() != netip.MustParseAddr("100.65.0.0") || tr.Index != 1<<15 {
		t.Errorf("the link is %s (index %d), want the first pair after 100.64.0.0/16", tr.Prefix(), tr.Index)
	}
}

func TestTopologyKeys(t *testing.T) {
	for key, want := range map[string]bool{
		"transit/eni-1/eni-2":                 true,
		"r/us-east-1/elb-th/0123/10.0.1.5/80": true,
		"r/us-east-1/vpce/vpce-0123":          true,
		"r/us-east-1/vpcesvc/vpce-svc-0123":   true,
		"r/us-east-1/elb-lb/0123":             true,
		"r/us-east-1/elb-tg/0123":             true,
		"r/us-east-1/elb-listener/0123":       true,
		"r/us-east-1/vpcecon/vpce-0123":       false,
		"r/us-east-1/ip/subnet-1/10.0.1.5":    false,
		"accounts/111111111111":               false,
	} {
		if got := IsTopologyKey(key); got != want {
			t.Errorf("IsTopologyKey(%q) = %v, want %v", key, got, want)
		}
	}
}
