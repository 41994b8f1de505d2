package dataplane

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isthmusnet/isthmus/core"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// topo builds topologies for tests with readable, well-formed ids.
type topo struct{ core.Topology }

func (t *topo) vpc(id, cidr string) *core.Vpc {
	v := &core.Vpc{Meta: core.Meta{ID: id, Owner: "111111111111", Region: "us-east-1"}, CidrBlock: cidr, State: "available"}
	v.VpcID = id
	rtb := &core.RouteTable{
		Meta:         core.Meta{ID: "rtb-" + id[4:], Owner: v.Owner, Region: v.Region, VpcID: id},
		Routes:       []core.Route{{DestinationCidrBlock: cidr, GatewayID: "local", Origin: "CreateRouteTable"}},
		Associations: []core.RouteAssociation{{ID: "rtbassoc-" + id[4:], Main: true}},
	}
	v.MainRouteTableID = rtb.ID
	t.Vpcs = append(t.Vpcs, v)
	t.RouteTables = append(t.RouteTables, rtb)
	return v
}

func (t *topo) subnet(id, vpcID, cidr string) *core.Subnet {
	s := &core.Subnet{Meta: core.Meta{ID: id, Owner: "111111111111", Region: "us-east-1", VpcID: vpcID}, CidrBlock: cidr, State: "available"}
	t.Subnets = append(t.Subnets, s)
	return s
}

func (t *topo) eni(id, subnetID, vpcID, ip, mac string) *core.NetworkInterface {
	n := &core.NetworkInterface{Meta: core.Meta{ID: id, Owner: "111111111111", Region: "us-east-1", VpcID: vpcID}, SubnetID: subnetID, PrivateIP: ip, MAC: mac, Status: "available", InterfaceType: "interface"}
	t.NetworkInterfaces = append(t.NetworkInterfaces, n)
	return n
}

// sg adds a security group with rules (see rule).
func (t *topo) sg(id, vpcID string, rules ...core.SGRule) *core.SecurityGroup {
	g := &core.SecurityGroup{Meta: core.Meta{ID: id, Owner: "111111111111", Region: "us-east-1", VpcID: vpcID}, Name: id, Rules: rules}
	t.SecurityGroups = append(t.SecurityGroups, g)
	return g
}

// rule is a security group rule: "in" or "out", a protocol, ports and a
// peer (a CIDR, "sg-…" or "pl-…").
func rule(dir, proto string, from, to int32, peer string) core.SGRule {
	r := core.SGRule{ID: "sgr-" + dir + proto + peer, Egress: dir == "out", Protocol: proto, FromPort: from, ToPort: to}
	switch {
	case strings.HasPrefix(peer, "sg-"):
		r.GroupID = peer
	case strings.HasPrefix(peer, "pl-"):
		r.PrefixList = peer
	case strings.Contains(peer, ":"):
		r.CidrIPv6 = peer
	default:
		r.CidrIPv4 = peer
	}
	return r
}

func (t *topo) table(id, vpcID string, subnets ...string) *core.RouteTable {
	var cidr string
	for _, v := range t.Vpcs {
		if v.ID == vpcID {
			cidr = v.CidrBlock
		}
	}
	rt := &core.RouteTable{
		Meta:   core.Meta{ID: id, Owner: "111111111111", Region: "us-east-1", VpcID: vpcID},
		Routes: []core.Route{{DestinationCidrBlock: cidr, GatewayID: "local", Origin: "CreateRouteTable"}},
	}
	for i, s := range subnets {
		rt.Associations = append(rt.Associations, core.RouteAssociation{ID: "rtbassoc-" + id[4:12] + string(rune('0'+i)), SubnetID: s})
	}
	t.RouteTables = append(t.RouteTables, rt)
	return rt
}

// Test ids: 17 hex digits, as AWS's, distinct in their first digits as
// random ids are.
const (
	vpcA  = "vpc-0a1a1a1a1a1a1a1a1"
	vpcB  = "vpc-0b2b2b2b2b2b2b2b2"
	subA  = "subnet-0511111111111111a"
	subB  = "subnet-0522222222222222b"
	subC  = "subnet-0533333333333333c"
	eniA  = "eni-0e1111111111111a1"
	eniB  = "eni-0e2222222222222b2"
	eniC  = "eni-0e3333333333333c3"
	eniD  = "eni-0e4444444444444d4"
	rtbC1 = "rtb-0c1c1c1c1c1c1c1c1"
	rtbC2 = "rtb-0c2c2c2c2c2c2c2c2"
	rtbC3 = "rtb-0c1c1c1dddddddddd" // shares its first 7 hex digits with rtbC1
	sgWeb = "sg-0f1f1f1f1f1f1f1f1"
	sgApp = "sg-0f2f2f2f2f2f2f2f2"
	sgOps = "sg-0f3f3f3f3f3f3f3f3"
)

func planCases() map[string]*core.Topology {
	cases := map[string]*core.Topology{}

	cases["empty"] = &core.Topology{}

	{
		var t topo
		t.vpc(vpcA, "10.0.0.0/16")
		t.subnet(subA, vpcA, "10.0.1.0/24")
		t.eni(eniA, subA, vpcA, "10.0.1.10", "02:11:22:33:44:55")
		cases["one-interface"] = &t.Topology
	}
	{
		var t topo
		t.vpc(vpcA, "10.0.0.0/16")
		t.vpc(vpcB, "10.0.0.0/16")
		t.subnet(subA, vpcA, "10.0.1.0/24")
		t.subnet(subB, vpcB, "10.0.1.0/24")
		t.eni(eniA, subA, vpcA, "10.0.1.10", "02:00:00:00:00:01")
		t.eni(eniB, subB, vpcB, "10.0.1.10", "02:00:00:00:00:02")
		cases["same-cidr-two-vpcs"] = &t.Topology
	}
	{
		var t topo
		t.vpc(vpcA, "10.1.0.0/16")
		t.subnet(subA, vpcA, "10.1.1.0/24")
		t.subnet(subB, vpcA, "10.1.2.0/24")
		t.subnet(subC, vpcA, "10.1.128.0/20")
		custom := t.table(rtbC1, vpcA, subB)
		custom.Routes = append(custom.Routes,
			core.Route{DestinationCidrBlock: "192.168.0.0/16", NetworkInterfaceID: eniA, Origin: "CreateRoute"},
			core.Route{DestinationPrefixListID: "pl-0123", VpcEndpointID: "vpce-0123", Origin: "CreateRoute"})
		t.table(rtbC2, vpcA) // no associations
		t.table(rtbC3, vpcA, subC)
		t.eni(eniA, subA, vpcA, "10.1.1.4", "02:00:00:00:00:01")
		t.eni(eniB, subB, vpcA, "10.1.2.200", "02:00:00:00:00:02")
		t.eni(eniC, subC, vpcA, "10.1.143.254", "")
		cases["route-tables"] = &t.Topology
	}
	{
		var t topo
		t.vpc(vpcA, "10.0.0.0/16")
		t.vpc(vpcB, "not-a-cidr")
		t.subnet(subA, vpcA, "10.0.1.0/24")
		t.subnet(subB, "vpc-0999999999999999f", "10.9.1.0/24")
		t.subnet("subnet-051111111ffffffff", vpcA, "10.0.2.0/24") // bridge name collides with subA's
		t.eni(eniA, subA, vpcA, "10.0.2.10", "")
		t.eni(eniB, "subnet-0577777777777777f", vpcA, "10.0.7.10", "")
		t.eni(eniC, subA, vpcA, "10.0.1.1", "")
		t.eni(eniD, subA, vpcA, "10.0.1.20", "not-a-mac")
		cases["problems"] = &t.Topology
	}
	{
		var t topo
		t.vpc(vpcA, "10.0.0.0/16")
		t.subnet(subA, vpcA, "10.0.1.0/24")
		t.subnet(subB, vpcA, "10.0.2.0/24")
		t.sg(sgWeb, vpcA,
			rule("in", "tcp", 80, 80, "0.0.0.0/0"),
			rule("in", "tcp", 22, 22, "10.0.0.0/16"),
			rule("in", "tcp", 5432, 5432, sgApp),
			rule("in", "icmp", 8, -1, "10.0.2.0/24"),
			rule("in", "icmp", 3, 4, "10.0.2.0/24"),
			rule("in", "udp", 1000, 2000, "10.0.3.7/32"),
			rule("in", "udp", 0, 65535, "10.0.3.8/32"),
			rule("in", "47", -1, -1, "10.0.0.0/8"),
			rule("in", "tcp", 443, 443, "::/0"), // IPv6: left out
			rule("out", "-1", -1, -1, "0.0.0.0/0"),
			rule("out", "tcp", 443, 443, "pl-63a5400a"),
			rule("out", "tcp", 443, 443, "pl-0000000000dead"), // unknown: no rule
		)
		t.sg(sgApp, vpcA,
			rule("in", "-1", -1, -1, sgApp),
			rule("out", "tcp", 5432, 5432, sgWeb),
			rule("out", "icmp", -1, -1, "10.0.0.0/16"))
		t.PrefixLists = map[string][]string{"pl-63a5400a": {"198.51.100.0/24", "198.51.101.0/25"}}
		t.eni(eniA, subA, vpcA, "10.0.1.10", "02:00:00:00:00:01").Groups = []string{sgWeb}
		t.eni(eniB, subB, vpcA, "10.0.2.10", "02:00:00:00:00:02").Groups = []string{sgApp}
		t.eni(eniC, subA, vpcA, "10.0.1.11", "02:00:00:00:00:03").Groups = []string{sgWeb, sgApp}
		t.eni(eniD, subA, vpcA, "10.0.1.12", "02:00:00:00:00:04") // no group: not filtered
		cases["security-groups"] = &t.Topology
	}
	cases["privatelink"] = privateLinkCase()
	cases["privatelink-fastpath"] = privateLinkCase()
	return cases
}

func TestPlanGolden(t *testing.T) {
	cases := planCases()
	for name, top := range cases {
		t.Run(name, func(t *testing.T) {
			if !strings.HasSuffix(name, "-fastpath") {
				for _, it := range Plan(top, PlanOptions{}).Items {
					switch it.(type) {
					case TCProgram, PortEntry:
						t.Fatalf("without FastPath, Plan has %s", it.Key())
					}
				}
			}
			hc := Plan(top, PlanOptions{FastPath: strings.HasSuffix(name, "-fastpath")})
			got := hc.String()
			if p := hc.ProblemsText(); p != "" {
				got += "# problems\n" + p
			}
			path := filepath.Join("testdata", "plan-"+name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Plan differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
			// Pure: planning again gives the same thing.
			if again := Plan(top, PlanOptions{FastPath: strings.HasSuffix(name, "-fastpath")}).String(); again != hc.String() {
				t.Errorf("Plan is not deterministic")
			}
		})
	}
}

func TestPlanPrefix(t *testing.T) {
	top := planCases()["one-interface"]
	hc := Plan(top, PlanOptions{Prefix: "t1"})
	for _, it := range hc.Items {
		if !strings.HasPrefix(it.Namespace(), "t1-") {
			t.Errorf("item %s is in namespace %s, not under the prefix", it.Key(), it.Namespace())
		}
	}
}

func TestNames(t *testing.T) {
	for _, n := range []string{BridgeName("subnet-0123456789abcdef0"), VethPeerName("eni-0123456789abcdef0"), BridgeName("x"), VethPeerName("eni-zz")} {
		if len(n) > 15 {
			t.Errorf("interface name %q is longer than 15 bytes", n)
		}
	}
	if got := BridgeName("subnet-0123456789abcdef0"); got != "br-01234567" {
		t.Errorf("BridgeName = %s", got)
	}
	if got := VethPeerName("eni-0123456789abcdef0"); got != "v0123456789ab" {
		t.Errorf("VethPeerName = %s", got)
	}
	if got := gatewayMAC("subnet-0123456789abcdef0"); got != "0e:01:23:45:67:89" {
		t.Errorf("gatewayMAC = %s", got)
	}
	if id, ok := ObjectOfNamespace("isth", ENINamespace("isth", "eni-0123")); !ok || id != "eni-0123" {
		t.Errorf("ObjectOfNamespace = %s %v", id, ok)
	}
	for _, p := range []string{"", "isth-x", "ISTH", "abcdefghijklm"} {
		if CheckPrefix(p) == nil {
			t.Errorf("CheckPrefix(%q) accepted it", p)
		}
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// TestMatchTextRoundTrips: every rule the plan can write parses back to
// itself, which is how Observe reads rules from the kernel.
func TestMatchTextRoundTrips(t *testing.T) {
	var n int
	for _, top := range planCases() {
		for _, it := range Plan(top, PlanOptions{}).Items {
			var ms []Match
			var ingress []bool
			switch x := it.(type) {
			case NftRule:
				ms, ingress = append(ms, x.Match), append(ingress, ingressChain(x.Chain))
			case NftChain:
				for _, text := range x.matches() {
					m, _, err := ParseMatch(text)
					if err != nil {
						t.Fatal(err)
					}
					ms, ingress = append(ms, m), append(ingress, ingressChain(x.Name))
				}
			}
			for i, m := range ms {
				text := m.Text(ingress[i])
				got, _, err := ParseMatch(text)
				if err != nil || got != m {
					t.Errorf("%q parses to %+v, %v; want %+v", text, got, err, m)
				}
				n++
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d rules checked", n)
	}
	for _, bad := range []string{"", "accept", "ip saddr 10.0.0.1/24 accept", "tcp dport 0-65535 accept", "ip saddr 10.0.0.0/8 tcp dport 5-4 accept",
		"meta l4proto 6 accept", "icmp type 300 accept", "ip saddr @x tcp dport 80 drop extra", "jump"} {
		if m, _, err := ParseMatch(bad); err == nil {
			t.Errorf("ParseMatch(%q) = %+v, want an error", bad, m)
		}
	}
}

// TestSecurityGroupPlan checks the plan's firewall of the security-groups
// case beyond the golden file: who gets a table, which sets hold whom.
func TestSecurityGroupPlan(t *testing.T) {
	hc := Plan(planCases()["security-groups"], PlanOptions{})
	ns := func(id string) string { return ENINamespace(DefaultPrefix, id) }
	has := func(it Item) bool { _, ok := hc.Items[it.Key()]; return ok }
	if has(NftTable{NS: ns(eniD)}) {
		t.Error("an interface without security groups got a firewall")
	}
	for _, id := range []string{eniA, eniB, eniC} {
		if !has(NftTable{NS: ns(id)}) || hc.Owners[NftTable{NS: ns(id)}.Key()] != id {
			t.Errorf("%s has no table of its own", id)
		}
	}
	// sgApp's members are B and C: the set in A (whose group names sgApp)
	// holds both; A, not a member, is in no sgApp set.
	for _, ip := range []string{"10.0.2.10", "10.0.1.11"} {
		if !has(NftElem{NS: ns(eniA), Set: sgApp, Addr: netip.MustParseAddr(ip)}) {
			t.Errorf("set %s in %s lacks %s", sgApp, eniA, ip)
		}
	}
	if has(NftElem{NS: ns(eniA), Set: sgApp, Addr: netip.MustParseAddr("10.0.1.10")}) {
		t.Error("a non-member is in the group's set")
	}
	// C carries both groups: the rules of both.
	for _, r := range []NftRule{
		{NS: ns(eniC), Chain: ChainIngress, Match: Match{Peer: "@" + sgApp, Proto: -1, From: -1, To: -1, Verdict: "accept"}},
		{NS: ns(eniC), Chain: ChainIngress, Match: Match{Proto: 6, From: 80, To: 80, Verdict: "accept"}},
		{NS: ns(eniC), Chain: ChainEgress, Match: Match{Peer: "198.51.101.0/25", Proto: 6, From: 443, To: 443, Verdict: "accept"}},
	} {
		if !has(r) {
			t.Errorf("missing %s", r)
		}
	}
	for _, it := range hc.Items {
		if r, ok := it.(NftRule); ok && strings.Contains(r.Match.Peer, ":") {
			t.Errorf("an IPv6 rule was planned: %s", r)
		}
	}
}
