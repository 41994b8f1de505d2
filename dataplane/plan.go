package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"

	"github.com/isthmusnet/isthmus/core"
)

// PlanOptions tune Plan.
type PlanOptions struct {
	// Prefix starts every namespace name; "" means DefaultPrefix.
	Prefix string
	// FastPath adds the fast path's programs and forwarding database
	// (fast.go); set it only when the kernel took the programs.
	FastPath bool
}

// SubnetRulePref is the preference of the rule that sends what comes in
// from a subnet to its route table. Every subnet's rule has it: they match
// different input links, so their order does not matter.
const SubnetRulePref = 1000

// tableBase is where route-table numbers start; see tableNumbers.
const tableBase = 0x10000000

// Plan computes the host configuration that realises top. It is a pure
// function: the same topology always gives the same configuration.
//
// Per VPC, a router namespace <prefix>-<vpc-id> with IPv4 forwarding on,
// and lo up holding the VPC resolver's addresses (the VPC CIDR's base + 2,
// and 169.254.169.253, each /32) for the DNS server. (On lo rather than a dummy device: lo exists in
// every kernel, dummy is a module some lack. Interfaces of the subnet that
// holds the address reach it by ARP on their bridge, which the router
// answers for any of its addresses.)
//
// Per subnet, a bridge br-<8 hex of the subnet id> in its VPC's namespace
// holding the gateway, the subnet's first host address, with the subnet's
// prefix length, and a fixed MAC of its own.
//
// Per route table, a kernel routing table in its VPC's namespace (numbered
// 0x10000000 + the first 7 hex digits of its id): for the `local` route,
// one route per subnet inside it to that subnet's bridge, and `blackhole
// default`, so that nothing leaves the VPC and nothing unknown falls through
// to another table. Per subnet, a rule `iif br-… lookup <table>` selecting
// its explicitly associated table, or the VPC's main one. Other routes
// (targets that do not exist in a VPC of this host yet) are left out.
//
// Per network interface, a namespace <prefix>-<eni-id> with lo up, IPv4
// forwarding off, and eth0 holding exactly the interface's private IP with
// its subnet's prefix length and the interface's MAC (made up from its id
// if the API's does not parse), a default route via
// the subnet gateway; eth0 is a veth whose other end v<12 hex of the eni id>
// is a port of the subnet's bridge. Its resolv.conf (EtcNetnsDir/<ns>/)
// names the VPC resolver and searches the region's internal domain, and
// its security groups are nftables rules in its namespace (plan_sg.go).
//
// IPv6 is disabled in every namespace: Isthmus's VPCs are IPv4-only, and so
// no link-local address or router solicitation appears that the API does
// not know of. MTUs are left at the kernel's default (1500 for veths and
// bridges); AWS's 9001 jumbo frames buy nothing on one host. The kernel
// side makes veths with 512 KiB TCP segments (BigTCP), which does.
//
// Per network load balancer node and per available interface endpoint,
// the PrivateLink data path: transit links, NAT tables and forwarding
// (plan_pl.go).
//
// Objects that cannot be realised (a CIDR that does not parse, an interface
// whose subnet or VPC is missing, a name that collides) get no kernel
// state and are listed in Problems.
func Plan(top *core.Topology, opts PlanOptions) *HostConfig {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	hc := NewHostConfig()

	type vpcPlan struct {
		vpc   *core.Vpc
		ns    string
		cidr  netip.Prefix
		names map[string]string // device name → owner, to catch collisions
	}
	type subnetPlan struct {
		subnet *core.Subnet
		vpc    *vpcPlan
		cidr   netip.Prefix
		bridge string
	}
	vpcs := map[string]*vpcPlan{}
	subnets := map[string]*subnetPlan{}
	subnetsOf := map[string][]*subnetPlan{}

	for _, v := range top.Vpcs {
		cidr, ok := core.ParseCIDR(v.CidrBlock)
		if !ok {
			hc.Problems[v.ID] = fmt.Sprintf("CIDR %q is not an IPv4 prefix", v.CidrBlock)
			continue
		}
		p := &vpcPlan{vpc: v, ns: VpcNamespace(prefix, v.ID), cidr: cidr, names: map[string]string{"lo": v.ID}}
		vpcs[v.ID] = p
		hc.Add(v.ID, Netns{Name: p.ns})
		addNamespaceBasics(hc, v.ID, p.ns, true)
		hc.Add(v.ID, Addr{NS: p.ns, Dev: ResolverDevice, Prefix: netip.PrefixFrom(ResolverAddr(cidr), 32)})
		hc.Add(v.ID, Addr{NS: p.ns, Dev: ResolverDevice, Prefix: netip.PrefixFrom(LinkLocalResolver, 32)})
	}

	for _, s := range top.Subnets {
		vp := vpcs[s.VpcID]
		if vp == nil {
			hc.Problems[s.ID] = fmt.Sprintf("its VPC %s has no router", s.VpcID)
			continue
		}
		cidr, ok := core.ParseCIDR(s.CidrBlock)
		if !ok || cidr.Bits() > 30 {
			hc.Problems[s.ID] = fmt.Sprintf("CIDR %q is not an IPv4 prefix of /30 or shorter", s.CidrBlock)
			continue
		}
		br := BridgeName(s.ID)
		if other, taken := vp.names[br]; taken {
			hc.Problems[s.ID] = fmt.Sprintf("bridge name %s is taken by %s", br, other)
			continue
		}
		vp.names[br] = s.ID
		sp := &subnetPlan{subnet: s, vpc: vp, cidr: cidr, bridge: br}
		subnets[s.ID] = sp
		subnetsOf[vp.vpc.ID] = append(subnetsOf[vp.vpc.ID], sp)
		hc.Add(s.ID, Link{NS: vp.ns, Name: br, Kind: KindBridge, MAC: gatewayMAC(s.ID), Up: true})
		hc.Add(s.ID, Addr{NS: vp.ns, Dev: br, Prefix: netip.PrefixFrom(Gateway(cidr), cidr.Bits())})
	}

	// Route tables, and which one each subnet uses.
	tablesOf := map[string][]*core.RouteTable{}
	for _, rt := range top.RouteTables {
		if vpcs[rt.VpcID] != nil {
			tablesOf[rt.VpcID] = append(tablesOf[rt.VpcID], rt)
		}
	}
	for vpcID, tables := range tablesOf {
		vp := vpcs[vpcID]
		numbers := tableNumbers(tables)
		var main *core.RouteTable
		explicit := map[string]*core.RouteTable{}
		for _, rt := range tables {
			num := numbers[rt.ID]
			hc.Add(rt.ID, Route{NS: vp.ns, Table: num, Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Type: RouteBlackhole})
			for _, r := range rt.Routes {
				if !r.Local() {
					continue
				}
				dst, ok := core.ParseCIDR(r.DestinationCidrBlock)
				if !ok {
					continue
				}
				for _, sp := range subnetsOf[vpcID] {
					if dst.Bits() <= sp.cidr.Bits() && dst.Contains(sp.cidr.Addr()) {
						hc.Add(rt.ID, Route{NS: vp.ns, Table: num, Dst: sp.cidr, Dev: sp.bridge})
					}
				}
			}
			for _, a := range rt.Associations {
				if a.Main {
					main = rt
				}
				if a.SubnetID != "" {
					explicit[a.SubnetID] = rt
				}
			}
		}
		if main == nil {
			for _, rt := range tables {
				if rt.ID == vp.vpc.MainRouteTableID {
					main = rt
				}
			}
		}
		for _, sp := range subnetsOf[vpcID] {
			rt := explicit[sp.subnet.ID]
			if rt == nil {
				rt = main
			}
			if rt == nil {
				hc.Problems[sp.subnet.ID] = "its VPC has no main route table"
				continue
			}
			hc.Add(sp.subnet.ID, Rule{NS: vp.ns, Pref: SubnetRulePref, Iif: sp.bridge, Table: numbers[rt.ID]})
		}
	}

	sg := newSGPlanner(top)
	enis := map[string]*eniPlan{}
	for _, n := range top.NetworkInterfaces {
		sp := subnets[n.SubnetID]
		if sp == nil {
			hc.Problems[n.ID] = fmt.Sprintf("its subnet %s has no bridge", n.SubnetID)
			continue
		}
		ip, err := netip.ParseAddr(n.PrivateIP)
		if err != nil || !ip.Is4() || !sp.cidr.Contains(ip) || ip == sp.cidr.Addr() || ip == Gateway(sp.cidr) {
			hc.Problems[n.ID] = fmt.Sprintf("private IP %q is not a host address of subnet %s (%s)", n.PrivateIP, sp.subnet.ID, sp.cidr)
			continue
		}
		peer := VethPeerName(n.ID)
		if other, taken := sp.vpc.names[peer]; taken {
			hc.Problems[n.ID] = fmt.Sprintf("veth name %s is taken by %s", peer, other)
			continue
		}
		sp.vpc.names[peer] = n.ID
		ns := ENINamespace(prefix, n.ID)
		hc.Add(n.ID, Netns{Name: ns})
		addNamespaceBasics(hc, n.ID, ns, false)
		hc.Add(n.ID, Veth{NS: ns, Name: ENIDevice, MAC: interfaceMAC(n.ID, n.MAC), PeerNS: sp.vpc.ns, PeerName: peer, PeerMaster: sp.bridge, Up: true})
		hc.Add(n.ID, Addr{NS: ns, Dev: ENIDevice, Prefix: netip.PrefixFrom(ip, sp.cidr.Bits())})
		hc.Add(n.ID, Route{NS: ns, Table: TableMain, Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Dev: ENIDevice, Via: Gateway(sp.cidr)})
		hc.Add(n.ID, ResolvConf{NS: ns, Nameserver: ResolverAddr(sp.vpc.cidr), Search: SearchDomain(n.Region)})
		sg.plan(hc, n, ns, sp.cidr, sp.vpc.cidr)
		if opts.FastPath {
			hc.Add(n.ID, TCProgram{NS: sp.vpc.ns, Dev: peer, Kind: FastPort})
			hc.Add(n.ID, PortEntry{NS: sp.vpc.ns, MAC: interfaceMAC(n.ID, n.MAC), Port: peer, Bridge: sp.bridge})
		}
		enis[n.ID] = &eniPlan{n: n, ns: ns, ip: ip, subnet: sp.cidr, vpc: sp.vpc.cidr}
	}

	// PrivateLink and the network load balancers (plan_pl.go).
	pl := newPLPlanner(top, enis, sg, opts)
	pl.planLoadBalancers(hc)
	pl.planEndpoints(hc)
	return hc
}

// addNamespaceBasics adds what every namespace has: lo up, IPv6 off,
// forwarding on (routers) or off (interfaces), and bridges that call no
// netfilter hook (br_netfilter, when loaded, would otherwise run every
// frame a subnet's bridge carries through the router's IP hooks, for
// nothing: the router filters nothing).
func addNamespaceBasics(hc *HostConfig, owner, ns string, router bool) {
	fwd := "0"
	if router {
		fwd = "1"
	}
	hc.Add(owner, Sysctl{NS: ns, Name: "net.ipv4.ip_forward", Value: fwd})
	hc.Add(owner, Sysctl{NS: ns, Name: BeLiberal, Value: "0"})
	hc.Add(owner, Sysctl{NS: ns, Name: "net.ipv6.conf.all.disable_ipv6", Value: "1"})
	hc.Add(owner, Sysctl{NS: ns, Name: "net.ipv6.conf.default.disable_ipv6", Value: "1"})
	for _, f := range []string{"iptables", "ip6tables", "arptables"} {
		hc.Add(owner, Sysctl{NS: ns, Name: "net.bridge.bridge-nf-call-" + f, Value: "0"})
	}
	hc.Add(owner, Link{NS: ns, Name: "lo", Kind: KindLoopback, Up: true})
}

// Gateway is a subnet's gateway: its first host address (.1 of a /24).
func Gateway(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }

// ResolverAddr is the VPC resolver's address, AmazonProvidedDNS: the VPC
// CIDR's base + 2.
func ResolverAddr(vpc netip.Prefix) netip.Addr { return vpc.Masked().Addr().Next().Next() }

// tableNumbers gives each table of one VPC a kernel table number derived
// from its id, 0x10000000 + its first 7 hex digits, so that the number
// never depends on which other tables exist. Should two ids share those
// digits, the one that sorts later takes the next free number.
func tableNumbers(tables []*core.RouteTable) map[string]int {
	ids := make([]string, len(tables))
	for i, rt := range tables {
		ids[i] = rt.ID
	}
	sort.Strings(ids)
	used := map[int]bool{}
	out := map[string]int{}
	for _, id := range ids {
		n, _ := strconv.ParseUint(idHex(id)[:7], 16, 32)
		num := tableBase + int(n)
		for used[num] {
			num++
		}
		used[num] = true
		out[id] = num
	}
	return out
}

// normalMAC returns s as the kernel prints it, or "" if s is not a MAC.
func normalMAC(s string) string {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return ""
	}
	return hw.String()
}
