package dataplane

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/isthmusnet/isthmus/core"
)

// randomTopology draws a topology from a small universe of objects, so
// that consecutive draws share objects, change some in place (a CIDR, an
// address, a subnet's table) and drop or add others. Some draws are
// inconsistent (an interface whose subnet is absent), as a store read in
// the middle of a cascade never is, to cover Plan's problems too.
func randomTopology(r *rand.Rand) *core.Topology {
	var t topo
	vpcs := []string{vpcA, vpcB, "vpc-0c3c3c3c3c3c3c3c3"}
	cidrs := []string{"10.0.0.0/16", "10.1.0.0/16"}
	type sub struct{ id, vpc string }
	subs := []sub{{subA, vpcA}, {subB, vpcA}, {subC, vpcB}, {"subnet-0544444444444444d", "vpc-0c3c3c3c3c3c3c3c3"}}
	enis := []struct{ id, sub string }{{eniA, subA}, {eniB, subA}, {eniC, subB}, {eniD, subC}, {"eni-0e5555555555555e5", subC}, {"eni-0e6666666666666f6", "subnet-0544444444444444d"}}
	vpcCIDR := map[string]string{}
	for _, v := range vpcs {
		if r.IntN(4) > 0 {
			vpcCIDR[v] = cidrs[r.IntN(len(cidrs))]
			t.vpc(v, vpcCIDR[v])
		}
	}
	subCIDR := map[string]string{}
	for i, s := range subs {
		if r.IntN(5) == 0 {
			continue
		}
		base := vpcCIDR[s.vpc]
		if base == "" {
			if r.IntN(3) > 0 {
				continue
			}
			base = "10.9.0.0/16"
		}
		third := 1 + i + 10*r.IntN(2)
		subCIDR[s.id] = strings.Replace(base, ".0.0/16", fmt.Sprintf(".%d.0/24", third), 1)
		t.subnet(s.id, s.vpc, subCIDR[s.id])
	}
	for i, n := range enis {
		if r.IntN(4) == 0 {
			continue
		}
		if i == 0 && r.IntN(2) == 0 {
			n.sub = subC // an id that moves to another VPC: its veth is replaced
		}
		cidr := subCIDR[n.sub]
		if cidr == "" && r.IntN(3) > 0 {
			continue
		}
		ip := "10.8.8.8"
		if cidr != "" {
			ip = strings.Replace(cidr, ".0/24", fmt.Sprintf(".%d", 10+i+r.IntN(2)), 1)
		}
		vpc := ""
		for _, s := range subs {
			if s.id == n.sub {
				vpc = s.vpc
			}
		}
		mac := ""
		if r.IntN(2) == 0 {
			mac = fmt.Sprintf("02:00:00:00:%02x:%02x", i, r.IntN(2))
		}
		eni := t.eni(n.id, n.sub, vpc, ip, mac)
		for _, g := range []string{sgWeb, sgApp, sgOps} {
			if r.IntN(3) == 0 {
				eni.Groups = append(eni.Groups, g)
			}
		}
	}
	// Security groups: each present or not, with a random subset of a
	// pool of rules (CIDRs, groups that may be absent, prefix lists that
	// may be unknown), so that rules, sets and their elements come and go.
	pool := []core.SGRule{
		rule("in", "tcp", 80, 80, "0.0.0.0/0"),
		rule("in", "tcp", 22, 22, "10.0.0.0/16"),
		rule("in", "-1", -1, -1, sgWeb),
		rule("in", "tcp", 5432, 5432, sgApp),
		rule("in", "icmp", 8, -1, "10.1.0.0/16"),
		rule("in", "udp", 53, 53, sgOps),
		rule("out", "-1", -1, -1, "0.0.0.0/0"),
		rule("out", "tcp", 443, 443, "pl-63a5400a"),
		rule("out", "tcp", 5432, 5432, sgApp),
		rule("out", "udp", 1000, 2000, "10.1.2.0/24"),
	}
	for _, g := range []string{sgWeb, sgApp, sgOps} {
		if r.IntN(4) == 0 {
			continue
		}
		var rules []core.SGRule
		for _, ru := range pool {
			if r.IntN(3) == 0 {
				rules = append(rules, ru)
			}
		}
		t.sg(g, vpcA, rules...)
	}
	if r.IntN(2) == 0 {
		entries := []string{"198.51.100.0/24", "198.51.101.0/25"}
		t.PrefixLists = map[string][]string{"pl-63a5400a": entries[:1+r.IntN(2)]}
	}
	// A second table in VPC A, associated with a random subset of its
	// subnets.
	if vpcCIDR[vpcA] != "" && r.IntN(2) == 0 {
		var assoc []string
		for _, s := range []string{subA, subB} {
			if subCIDR[s] != "" && r.IntN(2) == 0 {
				assoc = append(assoc, s)
			}
		}
		t.table(rtbC1, vpcA, assoc...)
	}
	randomPrivateLink(r, &t)
	return &t.Topology
}

// identity is the start of a rendered item that names it: "ip -n NS link
// add NAME".
func identity(line string) string {
	f := strings.Fields(line)
	if len(f) > 6 {
		f = f[:6]
	}
	return strings.Join(f, " ")
}

func applyAll(t *testing.T, a *Applier, want *HostConfig) Result {
	t.Helper()
	res := a.Apply(want, nil)
	for id, err := range res.Failed {
		t.Fatalf("applying failed for %s: %v", id, err)
	}
	return res
}

// TestReplayConverges applies many random desired states in random order
// to one fake kernel. After each, the kernel must hold exactly that state,
// byte for byte the same as a fresh kernel given only that state, and a
// second Apply must find nothing to do.
func TestReplayConverges(t *testing.T) {
	seed := uint64(1)
	r := rand.New(rand.NewPCG(seed, 2))
	var states []*HostConfig
	for i := 0; i < 60; i++ {
		states = append(states, Plan(randomTopology(r), PlanOptions{}))
	}
	distinct := map[string]bool{}
	for _, s := range states {
		distinct[s.String()] = true
	}
	if len(distinct) < 40 {
		t.Fatalf("only %d distinct states drawn", len(distinct))
	}
	fk := NewFakeKernel()
	a := NewApplier(fk, DefaultPrefix)
	var adds, removes, replaced int
	nft := map[bool]int{} // nftables operations: added (true) or removed
	for round := 0; round < 400; round++ {
		i := r.IntN(len(states))
		want := states[i]
		applyAll(t, a, want)
		seen := map[string]bool{}
		for _, l := range fk.Log() {
			if strings.Contains(l, " nft add ") {
				nft[strings.HasPrefix(l, "+ ")]++
			}
			switch {
			case strings.HasPrefix(l, "+ "):
				adds++
				if seen[identity(l[2:])] {
					replaced++
				}
			case strings.HasPrefix(l, "- "):
				removes++
				seen[identity(l[2:])] = true
			}
		}

		fresh := NewFakeKernel()
		applyAll(t, NewApplier(fresh, DefaultPrefix), want)
		if got, fromScratch := fk.State(), fresh.State(); got != fromScratch {
			t.Fatalf("round %d (state %d): kernel differs from a fresh apply:\n--- after replay\n%s\n--- fresh\n%s", round, i, got, fromScratch)
		}
		if got := fk.State(); got != want.String() {
			t.Fatalf("round %d (state %d): kernel differs from the plan:\n--- kernel\n%s\n--- plan\n%s", round, i, got, want)
		}
		fk.Log()
		if res := applyAll(t, a, want); res.Ops != 0 {
			t.Fatalf("round %d: a second Apply did %d operations: %v", round, res.Ops, fk.Log())
		}
		// What the Applier believes is what the kernel holds.
		if drift, err := a.Observe(); err != nil || drift != 0 {
			t.Fatalf("round %d: observe found %d items of drift (%v)", round, drift, err)
		}
	}
	t.Logf("%d creations or changes, %d removals, %d replaced in one pass", adds, removes, replaced)
	if adds < 1000 || removes < 200 || replaced == 0 {
		t.Fatalf("the replay exercised too little: %d creations or changes, %d removals", adds, removes)
	}
	if nft[true] < 300 || nft[false] < 100 {
		t.Fatalf("the replay exercised too few nftables changes: %d added, %d removed one by one", nft[true], nft[false])
	}
}

// TestApplierStartsFromAnything: an Applier that first observes a kernel
// left in any state (another plan, or junk of its prefix) converges too, and
// leaves other prefixes alone.
func TestApplierStartsFromAnything(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 50; i++ {
		fk := NewFakeKernel()
		applyAll(t, NewApplier(fk, DefaultPrefix), Plan(randomTopology(r), PlanOptions{}))
		// Someone else's namespace, and a stray one of ours.
		other := Plan(planCases()["one-interface"], PlanOptions{Prefix: "other"})
		applyAll(t, NewApplier(fk, "other"), other)
		fk.Set(Netns{Name: "isth-eni-0ffffffffffffffff"})
		fk.Set(Link{NS: "isth-eni-0ffffffffffffffff", Name: "lo", Kind: KindLoopback, Up: true})

		want := Plan(randomTopology(r), PlanOptions{})
		a := NewApplier(fk, DefaultPrefix)
		if _, err := a.Observe(); err != nil {
			t.Fatal(err)
		}
		applyAll(t, a, want)
		fresh := NewFakeKernel()
		applyAll(t, NewApplier(fresh, "other"), other)
		applyAll(t, NewApplier(fresh, DefaultPrefix), want)
		if fk.State() != fresh.State() {
			t.Fatalf("draw %d: did not converge:\n--- got\n%s\n--- want\n%s", i, fk.State(), fresh.State())
		}
	}
}

// TestAddingOneInterfaceTouchesOnlyIt: with a VPC of several interfaces
// up, adding one more does only that interface's operations.
func TestAddingOneInterfaceTouchesOnlyIt(t *testing.T) {
	var tp topo
	tp.vpc(vpcA, "10.0.0.0/16")
	tp.subnet(subA, vpcA, "10.0.1.0/24")
	tp.subnet(subB, vpcA, "10.0.2.0/24")
	tp.eni(eniA, subA, vpcA, "10.0.1.10", "02:00:00:00:00:01")
	tp.eni(eniB, subB, vpcA, "10.0.2.10", "02:00:00:00:00:02")
	fk := NewFakeKernel()
	a := NewApplier(fk, DefaultPrefix)
	applyAll(t, a, Plan(&tp.Topology, PlanOptions{}))
	fk.Log()

	tp.eni(eniC, subA, vpcA, "10.0.1.11", "02:00:00:00:00:03")
	applyAll(t, a, Plan(&tp.Topology, PlanOptions{}))
	ns := ENINamespace(DefaultPrefix, eniC)
	got := strings.Join(fk.Log(), "\n")
	want := strings.Join([]string{
		"+ ip netns add " + ns,
		"+ ip netns exec " + ns + " sysctl -w net.bridge.bridge-nf-call-arptables=0",
		"+ ip netns exec " + ns + " sysctl -w net.bridge.bridge-nf-call-ip6tables=0",
		"+ ip netns exec " + ns + " sysctl -w net.bridge.bridge-nf-call-iptables=0",
		"+ ip netns exec " + ns + " sysctl -w net.ipv4.ip_forward=0",
		"+ ip netns exec " + ns + " sysctl -w net.ipv6.conf.all.disable_ipv6=1",
		"+ ip netns exec " + ns + " sysctl -w net.ipv6.conf.default.disable_ipv6=1",
		"+ ip netns exec " + ns + " sysctl -w net.netfilter.nf_conntrack_tcp_be_liberal=0",
		"+ ip -n " + ns + " link set lo up",
		"+ ip -n " + ns + " link add eth0 address 02:00:00:00:00:03 up type veth peer name " + VethPeerName(eniC) + " netns " + VpcNamespace(DefaultPrefix, vpcA),
		"ip -n " + VpcNamespace(DefaultPrefix, vpcA) + " link set " + VethPeerName(eniC) + " master " + BridgeName(subA) + " up",
		"+ ip -n " + ns + " addr add 10.0.1.11/24 dev eth0",
		"+ ip -n " + ns + " route add default via 10.0.1.1 dev eth0",
		"+ " + ResolvConf{NS: ns, Nameserver: netip.MustParseAddr("10.0.0.2"), Search: "ec2.internal"}.String(),
	}, "\n")
	if got != want {
		t.Fatalf("adding one interface did:\n%s\nwant only:\n%s", got, want)
	}

	// Deleting it removes its namespace, which takes the veth with it,
	// and nothing else.
	tp.NetworkInterfaces = tp.NetworkInterfaces[:2]
	applyAll(t, a, Plan(&tp.Topology, PlanOptions{}))
	if got := fk.Log(); len(got) != 1 || got[0] != "- ip netns add "+ns {
		t.Fatalf("deleting one interface did %q", got)
	}
	if strings.Contains(fk.State(), VethPeerName(eniC)) {
		t.Fatalf("the veth peer survived its interface:\n%s", fk.State())
	}
}

// TestFailureIsolated: an object whose operations fail does not keep the
// others from being applied, its later operations wait, and a later
// Apply finishes it.
func TestFailureIsolated(t *testing.T) {
	var tp topo
	tp.vpc(vpcA, "10.0.0.0/16")
	tp.subnet(subA, vpcA, "10.0.1.0/24")
	tp.eni(eniA, subA, vpcA, "10.0.1.10", "")
	tp.eni(eniB, subA, vpcA, "10.0.1.11", "")
	want := Plan(&tp.Topology, PlanOptions{})

	fk := NewFakeKernel()
	boom := errors.New("injected failure")
	fk.Fail = func(op Op) error {
		if v, ok := op.Item.(Veth); ok && v.NS == ENINamespace(DefaultPrefix, eniA) {
			return boom
		}
		return nil
	}
	a := NewApplier(fk, DefaultPrefix)
	res := a.Apply(want, nil)
	if len(res.Failed) != 1 || !errors.Is(res.Failed[eniA], boom) {
		t.Fatalf("Failed = %v, want only %s", res.Failed, eniA)
	}
	if res.Pending[eniA] != 4 { // the veth, then its address, route and resolv.conf
		t.Fatalf("Pending[%s] = %d, want 4", eniA, res.Pending[eniA])
	}
	if res.Pending[eniB] != 0 || !strings.Contains(fk.State(), "10.0.1.11/24") {
		t.Fatalf("the healthy interface was not applied:\n%s", fk.State())
	}
	// Held back: nothing happens for it.
	fk.Fail = nil
	res = a.Apply(want, func(owner string) bool { return owner == eniA })
	if res.Ops != 0 || res.Pending[eniA] != 4 {
		t.Fatalf("held object: ops %d pending %v", res.Ops, res.Pending)
	}
	applyAll(t, a, want)
	if fk.State() != want.String() {
		t.Fatalf("retry did not converge:\n%s", fk.State())
	}
}

// TestFakeKernelChecks: the fake refuses what Linux refuses, so that an
// apply order that works on the fake works on Linux.
func TestFakeKernelChecks(t *testing.T) {
	fk := NewFakeKernel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	refuse := func(err error) {
		t.Helper()
		if err == nil {
			t.Fatal("the fake kernel accepted it")
		}
	}
	refuse(fk.Ensure(Link{NS: "a", Name: "br0", Kind: KindBridge}))
	must(fk.Ensure(Netns{Name: "a"}))
	must(fk.Ensure(Netns{Name: "b"}))
	refuse(fk.Ensure(Addr{NS: "a", Dev: "br0", Prefix: mustPrefix("10.0.1.1/24")}))
	refuse(fk.Ensure(Veth{NS: "b", Name: "eth0", PeerNS: "a", PeerName: "v1", PeerMaster: "br0", Up: true}))
	must(fk.Ensure(Link{NS: "a", Name: "br0", Kind: KindBridge, Up: true}))
	must(fk.Ensure(Veth{NS: "b", Name: "eth0", PeerNS: "a", PeerName: "v1", PeerMaster: "br0", Up: true}))
	refuse(fk.Ensure(Link{NS: "a", Name: "v1", Kind: KindBridge}))
	refuse(fk.Ensure(Route{NS: "b", Table: TableMain, Dst: mustPrefix("0.0.0.0/0"), Dev: "eth0", Via: mustPrefix("10.0.1.1/32").Addr()}))
	must(fk.Ensure(Addr{NS: "b", Dev: "eth0", Prefix: mustPrefix("10.0.1.10/24")}))
	must(fk.Ensure(Route{NS: "b", Table: TableMain, Dst: mustPrefix("0.0.0.0/0"), Dev: "eth0", Via: mustPrefix("10.0.1.1/32").Addr()}))
	refuse(fk.Remove(Link{NS: "b", Name: "lo", Kind: KindLoopback}))
	// Removing the bridge releases the port; removing namespace a takes
	// the veth (and so b's address and route) with it.
	must(fk.Remove(Link{NS: "a", Name: "br0", Kind: KindBridge}))
	if !strings.Contains(fk.State(), "link set v1 up") {
		t.Fatalf("port not released:\n%s", fk.State())
	}
	must(fk.Remove(Netns{Name: "a"}))
	want := "ip netns add b\nip -n b link set lo down\n"
	if fk.State() != want {
		t.Fatalf("state:\n%s\nwant:\n%s", fk.State(), want)
	}
	must(fk.Remove(Netns{Name: "a"})) // missing is not an error
}

func TestTeardown(t *testing.T) {
	fk := NewFakeKernel()
	applyAll(t, NewApplier(fk, "one"), Plan(planCases()["same-cidr-two-vpcs"], PlanOptions{Prefix: "one"}))
	applyAll(t, NewApplier(fk, "two"), Plan(planCases()["one-interface"], PlanOptions{Prefix: "two"}))
	if err := Teardown(fk, "one"); err != nil {
		t.Fatal(err)
	}
	if got, want := fk.State(), Plan(planCases()["one-interface"], PlanOptions{Prefix: "two"}).String(); got != want {
		t.Fatalf("after tearing down one prefix:\n%s\nwant the other's alone:\n%s", got, want)
	}
	if Teardown(fk, "bad-prefix") == nil {
		t.Fatal("a bad prefix was accepted")
	}
}

// TestSecurityGroupChangesAreIncremental: authorizing a rule touches only
// the tables of the group's members, one rule each; an interface joining
// a group adds one element to the sets that name the group, and its own
// state; nothing else is rewritten.
func TestSecurityGroupChangesAreIncremental(t *testing.T) {
	top := planCases()["security-groups"]
	fk := NewFakeKernel()
	a := NewApplier(fk, DefaultPrefix)
	applyAll(t, a, Plan(top, PlanOptions{}))
	fk.Log()
	ns := func(id string) string { return ENINamespace(DefaultPrefix, id) }

	// sgApp (members B and C) gains a rule.
	for _, g := range top.SecurityGroups {
		if g.ID == sgApp {
			g.Rules = append(g.Rules, rule("in", "tcp", 9000, 9100, "10.0.0.0/16"))
		}
	}
	applyAll(t, a, Plan(top, PlanOptions{}))
	got := fk.Log()
	slices.Sort(got)
	want := []string{
		"+ " + NftRule{NS: ns(eniB), Chain: ChainIngress, Match: Match{Peer: "10.0.0.0/16", Proto: 6, From: 9000, To: 9100, Verdict: "accept"}}.String(),
		"+ " + NftRule{NS: ns(eniC), Chain: ChainIngress, Match: Match{Peer: "10.0.0.0/16", Proto: 6, From: 9000, To: 9100, Verdict: "accept"}}.String(),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("authorizing one rule did:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// D (no group so far) joins sgApp: A's and C's sets of sgApp gain its
	// address, B's too, and D gets its own firewall.
	for _, n := range top.NetworkInterfaces {
		if n.ID == eniD {
			n.Groups = []string{sgApp}
		}
	}
	applyAll(t, a, Plan(top, PlanOptions{}))
	elems := map[string]bool{}
	for _, l := range fk.Log() {
		switch {
		case strings.Contains(l, ns(eniD)):
		case strings.Contains(l, "add element inet isthmus "+sgApp+" '{ 10.0.1.12 }'") && strings.HasPrefix(l, "+ "):
			elems[l] = true
		default:
			t.Errorf("joining a group did %q", l)
		}
	}
	if len(elems) != 3 {
		t.Fatalf("the new member joined %d sets, want 3 (in A, B and C): %v", len(elems), elems)
	}
}

// TestFakeKernelChecksNftables: the fake refuses what nftables refuses.
func TestFakeKernelChecksNftables(t *testing.T) {
	fk := NewFakeKernel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	refuse := func(err error) {
		t.Helper()
		if err == nil {
			t.Fatal("the fake kernel accepted it")
		}
	}
	all := Match{Proto: -1, From: -1, To: -1, Verdict: "accept"}
	bySet := Match{Peer: "@sg-1", Proto: 6, From: 22, To: 22, Verdict: "accept"}
	base := baseChain("a", ChainInput, "input", "drop", []Match{{CtState: "invalid", Proto: -1, From: -1, To: -1, Verdict: "drop"}, {Proto: -1, From: -1, To: -1, Verdict: "jump " + ChainIngress}})

	refuse(fk.Ensure(NftTable{NS: "a"})) // no namespace
	must(fk.Ensure(Netns{Name: "a"}))
	refuse(fk.Ensure(NftChain{NS: "a", Name: ChainIngress})) // no table
	must(fk.Ensure(NftTable{NS: "a"}))
	refuse(fk.Ensure(base)) // jumps to a chain that does not exist
	refuse(fk.Ensure(NftRule{NS: "a", Chain: ChainIngress, Match: all}))
	must(fk.Ensure(NftChain{NS: "a", Name: ChainIngress}))
	must(fk.Ensure(base))
	refuse(fk.Ensure(NftRule{NS: "a", Chain: ChainInput, Match: all})) // a base chain's rules are part of it
	refuse(fk.Ensure(NftRule{NS: "a", Chain: ChainIngress, Match: bySet}))
	refuse(fk.Ensure(NftElem{NS: "a", Set: "sg-1", Addr: netip.MustParseAddr("10.0.1.5")}))
	must(fk.Ensure(NftSet{NS: "a", Name: "sg-1"}))
	must(fk.Ensure(NftElem{NS: "a", Set: "sg-1", Addr: netip.MustParseAddr("10.0.1.5")}))
	must(fk.Ensure(NftRule{NS: "a", Chain: ChainIngress, Match: bySet}))
	refuse(fk.Remove(NftSet{NS: "a", Name: "sg-1"}))         // a rule uses it
	refuse(fk.Remove(NftChain{NS: "a", Name: ChainIngress})) // the base chain jumps to it
	must(fk.Remove(NftRule{NS: "a", Chain: ChainIngress, Match: bySet}))
	must(fk.Remove(NftSet{NS: "a", Name: "sg-1"})) // and its element with it
	if strings.Contains(fk.State(), "add element") {
		t.Fatalf("an element outlived its set:\n%s", fk.State())
	}
	must(fk.Remove(NftTable{NS: "a"}))
	if want := "ip netns add a\nip -n a link set lo down\n"; fk.State() != want {
		t.Fatalf("removing the table left:\n%s", fk.State())
	}
}
