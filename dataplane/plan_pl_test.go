package dataplane

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/isthmusnet/isthmus/core"
)

// PrivateLink test ids.
const (
	lbID    = "0123456789abcdef"
	lbENIa  = "eni-0aa1111111111111a"
	lbENIb  = "eni-0ab2222222222222b"
	epENI   = "eni-0ee1111111111111e"
	tgWeb   = "1111111111111111"
	tgDNS   = "2222222222222222"
	tgBoth  = "3333333333333333"
	tgPP    = "4444444444444444"
	svcID   = "vpce-svc-0123456789abcdef0"
	vpceID  = "vpce-0fedcba9876543210"
	subPa   = "subnet-0a1000000000000a1"
	subPb   = "subnet-0a2000000000000b2"
	subCons = "subnet-0c1000000000000c1"
	tgtA    = "eni-0d1111111111111a1"
	tgtB    = "eni-0d2222222222222b2"
)

func (t *topo) nlb(id string, zones map[string]string, subnets map[string]string, ips map[string]string, attrs map[string]string) *core.LoadBalancer {
	lb := &core.LoadBalancer{Meta: core.Meta{ID: id, Owner: "111111111111", Region: "us-east-1", VpcID: vpcA},
		Name: "nlb", Type: core.LoadBalancerNetwork, Scheme: "internal", IPAddressType: "ipv4", State: "active", Attributes: attrs}
	for _, z := range []string{"us-east-1a", "us-east-1b"} {
		if zones[z] == "" {
			continue
		}
		lb.Zones = append(lb.Zones, core.LoadBalancerZone{ZoneName: z, SubnetID: subnets[z], NetworkInterfaceID: zones[z], PrivateIP: ips[z]})
	}
	t.LoadBalancers = append(t.LoadBalancers, lb)
	return lb
}

func (t *topo) tg(id, proto, targetType string, attrs map[string]string, targets ...core.Target) *core.TargetGroup {
	tg := &core.TargetGroup{Meta: core.Meta{ID: id, Owner: "111111111111", Region: "us-east-1", VpcID: vpcA},
		Name: "tg-" + id[:4], Protocol: proto, Port: 80, TargetType: targetType, Attributes: attrs, Targets: targets}
	t.TargetGroups = append(t.TargetGroups, tg)
	return tg
}

func (t *topo) listener(id string, lb *core.LoadBalancer, port int32, proto string, tg *core.TargetGroup) {
	t.Listeners = append(t.Listeners, &core.Listener{Meta: core.Meta{ID: id, Owner: "111111111111", Region: "us-east-1"},
		LoadBalancerARN: lb.ARN(), LoadBalancerID: lb.ID, Port: port, Protocol: proto, TargetGroupARN: tg.ARN(), TargetGroupID: tg.ID})
}

func (t *topo) health(tg *core.TargetGroup, id string, port int32, state string) {
	if t.TargetHealth == nil {
		t.TargetHealth = map[string]map[core.TargetRef]core.TargetHealth{}
	}
	if t.TargetHealth[tg.ARN()] == nil {
		t.TargetHealth[tg.ARN()] = map[core.TargetRef]core.TargetHealth{}
	}
	t.TargetHealth[tg.ARN()][core.TargetRef{ID: id, Port: port}] = core.TargetHealth{State: state}
}

func (t *topo) transit(index int, endpointENI string, lb *core.LoadBalancer, lbENI, zone string) {
	t.Transits = append(t.Transits, &core.Transit{Index: index, Region: "us-east-1", EndpointID: vpceID, EndpointENI: endpointENI,
		EndpointVpcID: vpcB, ServiceID: svcID, LoadBalancerARN: lb.ARN(), LoadBalancerENI: lbENI, Zone: zone})
}

// privateLinkCase: a provider VPC A with an NLB in zones a and b (TCP 80
// to two instance targets, one unhealthy; UDP 53 to an ip target in zone
// b only; TCP_UDP 7000 to a group whose targets are all unhealthy: fail
// open), and a consumer VPC B of the same CIDR whose available endpoint
// has an interface in zone a, joined to the zone-a node.
func privateLinkCase() *core.Topology {
	var t topo
	t.vpc(vpcA, "10.0.0.0/16")
	t.vpc(vpcB, "10.0.0.0/16")
	t.subnet(subPa, vpcA, "10.0.1.0/24").AvailabilityZone = "us-east-1a"
	t.subnet(subPb, vpcA, "10.0.2.0/24").AvailabilityZone = "us-east-1b"
	t.subnet(subCons, vpcB, "10.0.1.0/24").AvailabilityZone = "us-east-1a"
	t.sg(sgWeb, vpcB, rule("in", "tcp", 80, 80, "10.0.1.0/24"))
	t.sg(sgApp, vpcA, rule("in", "tcp", 80, 80, "10.0.0.0/16"))
	nodeA := t.eni(lbENIa, subPa, vpcA, "10.0.1.9", "02:00:00:00:0a:01")
	nodeA.InterfaceType, nodeA.AvailabilityZone = "network_load_balancer", "us-east-1a"
	nodeB := t.eni(lbENIb, subPb, vpcA, "10.0.2.9", "02:00:00:00:0a:02")
	nodeB.InterfaceType, nodeB.AvailabilityZone, nodeB.Groups = "network_load_balancer", "us-east-1b", []string{sgApp}
	t.eni(tgtA, subPa, vpcA, "10.0.1.10", "02:00:00:00:0d:01").AvailabilityZone = "us-east-1a"
	t.eni(tgtB, subPa, vpcA, "10.0.1.11", "02:00:00:00:0d:02").AvailabilityZone = "us-east-1a"
	ep := t.eni(epENI, subCons, vpcB, "10.0.1.5", "02:00:00:00:0e:01")
	ep.InterfaceType, ep.AvailabilityZone, ep.Groups = "vpc_endpoint", "us-east-1a", []string{sgWeb}

	lb := t.nlb(lbID, map[string]string{"us-east-1a": lbENIa, "us-east-1b": lbENIb},
		map[string]string{"us-east-1a": subPa, "us-east-1b": subPb},
		map[string]string{"us-east-1a": "10.0.1.9", "us-east-1b": "10.0.2.9"}, map[string]string{})
	web := t.tg(tgWeb, core.ProtocolTCP, core.TargetTypeInstance, map[string]string{},
		core.Target{ID: tgtA, Port: 8080, AvailabilityZone: "us-east-1a"},
		core.Target{ID: tgtB, Port: 8080, AvailabilityZone: "us-east-1a"})
	t.health(web, tgtA, 8080, "healthy")
	t.health(web, tgtB, 8080, "unhealthy")
	dns := t.tg(tgDNS, core.ProtocolUDP, core.TargetTypeIP, map[string]string{},
		core.Target{ID: "10.0.2.53", Port: 53, AvailabilityZone: "us-east-1b"})
	both := t.tg(tgBoth, core.ProtocolTCPUDP, core.TargetTypeIP, map[string]string{"load_balancing.cross_zone.enabled": "true"},
		core.Target{ID: "10.0.1.70", Port: 7000, AvailabilityZone: "us-east-1a"},
		core.Target{ID: "10.0.2.70", Port: 7000, AvailabilityZone: "us-east-1b"})
	t.health(both, "10.0.1.70", 7000, "unhealthy")
	t.health(both, "10.0.2.70", 7000, "unhealthy")
	t.listener("aaaaaaaaaaaaaaaa", lb, 80, core.ProtocolTCP, web)
	t.listener("bbbbbbbbbbbbbbbb", lb, 53, core.ProtocolUDP, dns)
	t.listener("cccccccccccccccc", lb, 7000, core.ProtocolTCPUDP, both)
	// Proxy protocol v2: with the fast path, kernel NAT and a PPv2Entry at
	// the endpoint; without it, no DNAT there (Proxies serves it).
	pp := t.tg(tgPP, core.ProtocolTCP, core.TargetTypeInstance, map[string]string{"proxy_protocol_v2.enabled": "true"},
		core.Target{ID: tgtA, Port: 8443, AvailabilityZone: "us-east-1a"})
	t.listener("dddddddddddddddd", lb, 443, core.ProtocolTCP, pp)
	t.EndpointServices = []*core.EndpointService{{Meta: core.Meta{ID: svcID, Owner: "111111111111", Region: "us-east-1"},
		Type: core.EndpointTypeInterface, State: "Available", NLBs: []string{lb.ARN()}}}
	t.VpcEndpoints = []*core.VpcEndpoint{{Meta: core.Meta{ID: vpceID, Owner: "222222222222", Region: "us-east-1", VpcID: vpcB},
		Type: core.EndpointTypeInterface, ServiceID: svcID, State: core.EndpointAvailable,
		Subnets: []core.EndpointInterface{{SubnetID: subCons, Zone: "us-east-1a", ENI: epENI, IP: "10.0.1.5"}}}}
	t.transit(0, epENI, lb, lbENIa, "us-east-1a")
	return &t.Topology
}

// TestPlanPPv2Endpoint: a TCP listener whose target group enables proxy
// protocol v2 is kernel NAT at the endpoint and the load balancer's nodes
// with PPv2Entry items (the fast path writes the headers) and, without
// the fast path, has no DNAT at the endpoint (Proxies serves it).
func TestPlanPPv2Endpoint(t *testing.T) {
	top := privateLinkCase()
	epNS := ENINamespace("p", epENI)
	for _, fast := range []bool{true, false} {
		hc := Plan(top, PlanOptions{Prefix: "p", FastPath: fast})
		var entries []PPv2Entry
		for _, it := range hc.Sorted() {
			if e, ok := it.(PPv2Entry); ok {
				entries = append(entries, e)
			}
		}
		listeners, ok := hc.Items[NatMap{NS: epNS, Table: NatTablePL, Name: MapListeners}.Key()].(NatMap)
		if !ok {
			t.Fatalf("fast path %v: no listeners map", fast)
		}
		dnat := slices.Contains(listeners.elems(), "tcp . 443 : 100.64.0.1")
		want := []PPv2Entry{
			// Node a's and node b's, for clients in the provider's VPC.
			{NS: ENINamespace("p", lbENIa), Listen: netip.MustParseAddrPort("10.0.1.9:443")},
			{NS: ENINamespace("p", lbENIb), Listen: netip.MustParseAddrPort("10.0.2.9:443")},
			{NS: epNS, Listen: netip.MustParseAddrPort("10.0.1.5:443"), Endpoint: vpceID},
		}
		if !fast {
			want = nil
		}
		if !slices.Equal(entries, want) || dnat != fast {
			t.Errorf("fast path %v: PPv2 entries %v (want %v), DNAT of port 443 %v", fast, entries, want, dnat)
		}
	}
	for _, id := range []string{vpceID, ""} {
		h, err := PPv2Header(id)
		want := 16 + 12
		if id != "" {
			want += 4 + len(id)
		}
		if err != nil || ppv2Endpoint(h) != id || len(h) != want {
			t.Errorf("PPv2Header(%q): % x, %v; it reads back as endpoint %q", id, h, err, ppv2Endpoint(h))
		}
	}
	if got := ppv2Endpoint([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + strings.Repeat("\x00", 12) + "x")); got != ppv2StaleHeader {
		t.Errorf("a header PPv2Header did not make reads back as %q", got)
	}
}

func TestPrivateLinkPlan(t *testing.T) {
	hc := Plan(privateLinkCase(), PlanOptions{Prefix: "p"})
	if p := hc.ProblemsText(); p != "" {
		t.Fatalf("problems:\n%s", p)
	}
	ns := func(id string) string { return ENINamespace("p", id) }
	get := func(key string) Item {
		t.Helper()
		it, ok := hc.Items[key]
		if !ok {
			t.Fatalf("no item %s", key)
		}
		return it
	}
	// The transit link, ordered by namespace, owned by the endpoint's interface.
	tr := get("link " + ns(lbENIa) + " " + TransitName(epENI)).(Transit)
	want := Transit{NS: ns(lbENIa), Name: TransitName(epENI), Addr: netip.MustParsePrefix("100.64.0.1/31"),
		PeerNS: ns(epENI), PeerName: TransitName(lbENIa), PeerAddr: netip.MustParsePrefix("100.64.0.0/31")}
	if tr != want {
		t.Errorf("transit %+v, want %+v", tr, want)
	}
	if o := hc.Owners[tr.Key()]; o != epENI {
		t.Errorf("the transit is charged to %q", o)
	}
	// The endpoint: each listener port to the node's transit address.
	lm := get(NatMap{NS: ns(epENI), Table: NatTablePL, Name: MapListeners}.Key()).(NatMap)
	if lm.Elems != "tcp . 7000 : 100.64.0.1\ntcp . 80 : 100.64.0.1\nudp . 53 : 100.64.0.1\nudp . 7000 : 100.64.0.1" {
		t.Errorf("listeners:\n%s", lm.Elems)
	}
	if sm := get(NatMap{NS: ns(epENI), Table: NatTablePL, Name: MapSources}.Key()).(NatMap); sm.Elems != "100.64.0.1 : 100.64.0.0" {
		t.Errorf("sources: %s", sm.Elems)
	}
	for _, n := range []string{epENI, lbENIa, lbENIb} {
		if s := get("sysctl " + ns(n) + " net.ipv4.ip_forward").(Sysctl); s.Value != "1" {
			t.Errorf("%s forwards %s", n, s.Value)
		}
	}
	if s := get("sysctl " + ns(tgtA) + " net.ipv4.ip_forward").(Sysctl); s.Value != "0" {
		t.Errorf("a target forwards")
	}
	// Node a: TCP 80 to the healthy target only; UDP 53's only target is
	// in zone b (no cross-zone): none; 7000 fails open to both zones.
	bm := get(NatMap{NS: ns(lbENIa), Table: NatTableLB, Name: MapBackends}.Key()).(NatMap)
	counts := map[string]int{}
	for _, e := range bm.elems() {
		k, v, _ := strings.Cut(e, " : ")
		f := strings.Fields(k)
		counts[f[0]+" "+f[2]+" → "+v]++
	}
	wantCounts := map[string]int{"tcp 80 → 10.0.1.10 . 8080": 64, "tcp 443 → 10.0.1.10 . 8443": 64, "tcp 7000 → 10.0.1.70 . 7000": 32, "tcp 7000 → 10.0.2.70 . 7000": 32,
		"udp 7000 → 10.0.1.70 . 7000": 32, "udp 7000 → 10.0.2.70 . 7000": 32}
	if fmt.Sprint(counts) != fmt.Sprint(wantCounts) {
		t.Errorf("node a's buckets: %v, want %v", counts, wantCounts)
	}
	// Node b has the UDP target.
	bmB := get(NatMap{NS: ns(lbENIb), Table: NatTableLB, Name: MapBackends}.Key()).(NatMap)
	if !strings.Contains(bmB.Elems, "udp . 53 . 63 : 10.0.2.53 . 53") || strings.Contains(bmB.Elems, "tcp . 80 ") {
		t.Errorf("node b's buckets:\n%s", bmB.Elems)
	}
	// The endpoint's security group guards what it forwards; node b's
	// group filters its own VPC's clients but not PrivateLink traffic.
	fwd := get(NftChain{NS: ns(epENI), Name: ChainForward}.Key()).(NftChain)
	if fwd.Hook != "forward" || fwd.Policy != "drop" || !strings.HasSuffix(fwd.Rules, "jump sg-in") || strings.Contains(fwd.Rules, "iifname") {
		t.Errorf("endpoint forward chain: %+v", fwd)
	}
	fwdB := get(NftChain{NS: ns(lbENIb), Name: ChainForward}.Key()).(NftChain)
	if !strings.Contains(fwdB.Rules, "iifname tr* accept") {
		t.Errorf("node b forward chain: %+v", fwdB)
	}
	if _, ok := hc.Items[NftChain{NS: ns(tgtA), Name: ChainForward}.Key()]; ok {
		t.Error("a plain interface has a forward chain")
	}
	// Rules parse.
	for _, it := range hc.Items {
		if c, ok := it.(NatChain); ok {
			for _, r := range c.rules() {
				if _, err := parseNatRule(r); err != nil {
					t.Error(err)
				}
			}
		}
	}
}

func TestPendingEndpointGetsNothing(t *testing.T) {
	top := privateLinkCase()
	top.Transits = nil // what Topology shows for an endpoint that is not available
	hc := Plan(top, PlanOptions{Prefix: "p"})
	ns := ENINamespace("p", epENI)
	for k, it := range hc.Items {
		switch it.(type) {
		case Transit, NatTable, NatMap, NatChain:
			if it.Namespace() == ns {
				t.Errorf("the endpoint has %s", k)
			}
		}
	}
	if s := hc.Items["sysctl "+ns+" net.ipv4.ip_forward"].(Sysctl); s.Value != "0" {
		t.Error("a pending endpoint forwards")
	}
}

func TestBuckets(t *testing.T) {
	for n, want := range map[int]int{0: 64, 1: 64, 8: 64, 9: 128, 16: 128, 17: 256, 100: 1024} {
		if got := Buckets(n); got != want {
			t.Errorf("Buckets(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestNatTextsRoundTrip(t *testing.T) {
	ip := netip.MustParseAddr("10.0.1.5")
	for _, s := range []string{ruleEstablished, ruleEndpointSNAT, ruleEndpointFwd, ruleEndpointInput, ruleLBFwd,
		ruleEndpointDNAT(ip), ruleLBSNAT(ip), ruleLBDNAT(128, 0xdeadbeef)} {
		r, err := parseNatRule(s)
		if err != nil {
			t.Fatal(err)
		}
		if r.form == "lb-dnat" && (r.buckets != 128 || r.seed != 0xdeadbeef) {
			t.Errorf("%q parsed as %+v", s, r)
		}
	}
	for _, bad := range []string{"", "accept", ruleLBDNAT(64, 1) + " ", "iifname eth0 ip daddr 10.0.1.500 dnat ip to meta l4proto . th dport map @listeners"} {
		if _, err := parseNatRule(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	for name, elems := range map[string][]string{
		MapListeners: {listenerElem(6, 80, netip.MustParseAddr("100.64.0.1")), listenerElem(17, 53, netip.MustParseAddr("100.127.255.255"))},
		MapSources:   {sourceElem(netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("100.64.0.0"))},
		MapBackends:  {backendElem(6, 443, 1023, netip.MustParseAddr("10.0.1.10"), 8443)},
	} {
		for _, e := range elems {
			if _, err := parseNatElem(name, e); err != nil {
				t.Error(err)
			}
		}
	}
	if _, err := parseNatElem(MapBackends, "tcp . 80 : 10.0.1.10 . 80"); err == nil {
		t.Error("a backend element without a bucket parsed")
	}
}

// randomPrivateLink adds, at random, a load balancer whose node is
// interface eniC (subnet B of VPC A) and an endpoint interface eniD (in
// VPC B) joined to it, with random listeners, targets and health, to a
// random topology: transits, NAT maps and forwarding come and go.
func randomPrivateLink(r *rand.Rand, t *topo) {
	if r.IntN(3) == 0 {
		return
	}
	var node, ep *core.NetworkInterface
	for _, n := range t.NetworkInterfaces {
		switch n.ID {
		case eniC:
			node = n
		case eniD:
			ep = n
		}
	}
	if node == nil {
		return
	}
	node.InterfaceType, node.AvailabilityZone = "network_load_balancer", "us-east-1a"
	lb := t.nlb(lbID, map[string]string{"us-east-1a": eniC}, map[string]string{"us-east-1a": node.SubnetID},
		map[string]string{"us-east-1a": node.PrivateIP}, map[string]string{})
	var targets []core.Target
	for i := 0; i < r.IntN(4); i++ {
		targets = append(targets, core.Target{ID: fmt.Sprintf("10.0.2.%d", 100+i), Port: int32(8000 + r.IntN(2)), AvailabilityZone: "us-east-1a"})
	}
	g := t.tg(tgWeb, core.ProtocolTCP, core.TargetTypeIP, map[string]string{}, targets...)
	for _, tt := range targets {
		if s := []string{"", "healthy", "unhealthy", "draining"}[r.IntN(4)]; s != "" {
			t.health(g, tt.ID, tt.Port, s)
		}
	}
	protos := []string{core.ProtocolTCP, core.ProtocolUDP, core.ProtocolTCPUDP}
	for i, port := range []int32{80, 443, 53} {
		if r.IntN(2) == 0 {
			t.listener(fmt.Sprintf("%016x", i+1), lb, port, protos[r.IntN(3)], g)
		}
	}
	if ep != nil && r.IntN(3) > 0 {
		ep.InterfaceType = "vpc_endpoint"
		t.transit(r.IntN(3), eniD, lb, eniC, "us-east-1a")
	}
}

func TestPrivateLinkPlanConverges(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var states []*HostConfig
	for i := 0; i < 60; i++ {
		top := randomTopology(r)
		states = append(states, Plan(top, PlanOptions{}))
	}
	fk := NewFakeKernel()
	a := NewApplier(fk, DefaultPrefix)
	sawTransit, sawNat := 0, 0
	for round := 0; round < 300; round++ {
		want := states[r.IntN(len(states))]
		applyAll(t, a, want)
		for _, l := range fk.Log() {
			if strings.Contains(l, "type veth peer name "+TransitPrefix) {
				sawTransit++
			}
			if strings.Contains(l, "add map ip "+NatTableLB) {
				sawNat++
			}
		}
		if got := fk.State(); got != want.String() {
			t.Fatalf("round %d: kernel differs from the plan:\n--- kernel\n%s\n--- plan\n%s", round, got, want)
		}
		if res := applyAll(t, a, want); res.Ops != 0 {
			t.Fatalf("round %d: a second Apply did %d operations: %v", round, res.Ops, fk.Log())
		}
	}
	if sawTransit < 10 || sawNat < 10 {
		t.Fatalf("too little PrivateLink in the replay: %d transits, %d NAT maps created", sawTransit, sawNat)
	}
}

// TestPrivateLinkChangesAreIncremental: a new endpoint interface touches
// only its own namespace, its transit link and the node's counting chain
// of that link; a target's health changes
// one map; nothing is rebuilt.
func TestPrivateLinkChangesAreIncremental(t *testing.T) {
	top := privateLinkCase()
	fk := NewFakeKernel()
	a := NewApplier(fk, DefaultPrefix)
	applyAll(t, a, Plan(top, PlanOptions{}))
	fk.Log()

	// A second endpoint interface, in another consumer subnet, joined to node a.
	const ep2 = "eni-0ef2222222222222f"
	sub2 := "subnet-0c2000000000000c2"
	t2 := topo{*top}
	t2.subnet(sub2, vpcB, "10.0.2.0/24")
	n := t2.eni(ep2, sub2, vpcB, "10.0.2.5", "02:00:00:00:0e:02")
	n.InterfaceType, n.Groups = "vpc_endpoint", []string{sgWeb}
	t2.transit(1, ep2, t2.LoadBalancers[0], lbENIa, "us-east-1a")
	applyAll(t, a, Plan(&t2.Topology, PlanOptions{}))
	for _, l := range fk.Log() {
		newNS := strings.Contains(l, ENINamespace(DefaultPrefix, ep2))
		newSubnet := strings.Contains(l, BridgeName(sub2)) || strings.Contains(l, "10.0.2.0/24") || strings.Contains(l, "10.0.2.1/24")
		// The node's counting chain of the new link (count-<its device>).
		newLink := strings.Contains(l, " "+CountChainPrefix+TransitName(ep2)+" ")
		if !newNS && !newSubnet && !newLink {
			t.Errorf("adding an endpoint interface did: %s", l)
		}
		if strings.HasPrefix(l, "- ") {
			t.Errorf("adding an endpoint interface removed: %s", l)
		}
	}

	// The unhealthy web target turns healthy: node a's map changes, alone.
	t2.health(t2.TargetGroups[0], tgtB, 8080, "healthy")
	applyAll(t, a, Plan(&t2.Topology, PlanOptions{}))
	log := fk.Log()
	if len(log) != 1 || !strings.Contains(log[0], "add map ip "+NatTableLB+" "+MapBackends) || !strings.Contains(log[0], ENINamespace(DefaultPrefix, lbENIa)) {
		t.Errorf("a health change did: %v", log)
	}
}
