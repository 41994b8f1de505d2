package dataplane

import (
	"net/netip"
	"slices"

	"github.com/isthmusnet/isthmus/core"
)

// LinkLocal is 169.254.0.0/16: the link-local range, where AWS also serves
// the resolver (LinkLocalResolver). Security groups never filter it.
var LinkLocal = netip.MustParsePrefix("169.254.0.0/16")

// LinkLocalResolver is the resolver's second address, as on AWS: every VPC
// router holds it on lo beside the VPC CIDR's base + 2.
var LinkLocalResolver = netip.MustParseAddr("169.254.169.253")

// sgPlanner turns the security groups of the interfaces into nftables
// items, with what every interface shares computed once.
type sgPlanner struct {
	groups      map[string]*core.ResolvedGroup
	prefixLists map[string][]netip.Prefix
	// lbOf holds the load balancer of each load balancer interface.
	lbOf map[string]*core.LoadBalancer
	// nodesOf holds, by endpoint interface, the transit addresses of the
	// load balancer nodes its transit links lead to, sorted.
	nodesOf map[string][]netip.Addr
}

func newSGPlanner(top *core.Topology) *sgPlanner {
	p := &sgPlanner{groups: map[string]*core.ResolvedGroup{}, prefixLists: map[string][]netip.Prefix{},
		lbOf: map[string]*core.LoadBalancer{}, nodesOf: map[string][]netip.Addr{}}
	for _, lb := range top.LoadBalancers {
		for _, z := range lb.Zones {
			p.lbOf[z.NetworkInterfaceID] = lb
		}
	}
	for _, t := range top.Transits {
		p.nodesOf[t.EndpointENI] = append(p.nodesOf[t.EndpointENI], t.LoadBalancerAddr())
	}
	for _, as := range p.nodesOf {
		slices.SortFunc(as, netip.Addr.Compare)
	}
	resolved := core.ResolveSecurityGroups(top.SecurityGroups, top.NetworkInterfaces)
	for i := range resolved {
		p.groups[resolved[i].ID] = &resolved[i]
	}
	for id, cidrs := range top.PrefixLists {
		var ps []netip.Prefix
		for _, c := range cidrs {
			if pr, ok := core.ParseCIDR(c); ok {
				ps = append(ps, pr)
			}
		}
		p.prefixLists[id] = ps
	}
	return p
}

// plan adds the firewall of one interface, in namespace ns, to hc: see
// nft.go for its shape. An interface with no security group (a Gateway
// Load Balancer endpoint's) is not filtered at all, as on AWS.
//
// Traffic that AWS's security groups never filter is accepted before any
// rule: loopback, link-local addresses, and the subnet's reserved
// addresses (its first four: the network, the router, the resolver's
// slot, the spare) and the VPC resolver (the VPC CIDR's base + 2).
//
// An interface endpoint's output chain also accepts, before sg-out, what
// it sends to the load balancer nodes' ends of its transit links (ip daddr
// <node transit address> accept, one rule per link): the PPv2 proxies'
// connections to the service (ppv2.go) are the PrivateLink hop, which on
// AWS the endpoint's egress rules do not govern, and endpoint groups often
// have no egress rule at all. Those addresses are routed through the
// transit links only (the allocator keeps them out of both VPCs), so
// nothing more leaves through eth0. (The addresses rather than oifname
// tr*: narrower, the nodes rather than whole links, and within what a
// Match already says.)
//
// Rules: a CIDR rule matches its prefix (IPv6 rules are left out: VPCs
// are IPv4 only and IPv6 is off in every namespace); a rule naming a
// group matches the set of that group's current members; a rule naming a
// prefix list becomes one rule per entry (AWS counts such a rule as that
// many rules too), none while the list is unknown.
func (p *sgPlanner) plan(hc *HostConfig, n *core.NetworkInterface, ns string, subnet, vpc netip.Prefix) {
	if len(n.Groups) == 0 {
		return
	}
	own := n.ID
	hc.Add(own, NftTable{NS: ns})
	hc.Add(own, NftChain{NS: ns, Name: ChainIngress})
	hc.Add(own, NftChain{NS: ns, Name: ChainEgress})

	reserved := reservedPeers(subnet, vpc)
	head := func(jump string) []Match {
		ms := []Match{
			{Loopback: true, Proto: -1, From: -1, To: -1, Verdict: "accept"},
			{CtState: "established,related", Proto: -1, From: -1, To: -1, Verdict: "accept"},
			{CtState: "invalid", Proto: -1, From: -1, To: -1, Verdict: "drop"},
		}
		for _, r := range reserved {
			ms = append(ms, Match{Peer: peerText(r), Proto: -1, From: -1, To: -1, Verdict: "accept"})
		}
		return append(ms, Match{Proto: -1, From: -1, To: -1, Verdict: "jump " + jump})
	}
	hc.Add(own, baseChain(ns, ChainInput, "input", "drop", head(ChainIngress)))
	out := head(ChainEgress)
	if nodes := p.nodesOf[own]; len(nodes) > 0 {
		hop := make([]Match, len(nodes))
		for i, a := range nodes {
			hop[i] = Match{Peer: a.String(), Proto: -1, From: -1, To: -1, Verdict: "accept"}
		}
		out = slices.Insert(out, len(out)-1, hop...)
	}
	hc.Add(own, baseChain(ns, ChainOutput, "output", "drop", out))
	if fwd := p.forward(n, head(ChainIngress)[1:]); fwd != nil {
		hc.Add(own, baseChain(ns, ChainForward, "forward", "drop", fwd))
	}

	for _, gid := range n.Groups {
		g := p.groups[gid]
		if g == nil {
			continue // deleted under the interface: nothing to allow
		}
		for _, r := range g.Ingress {
			p.rule(hc, own, ns, ChainIngress, r)
		}
		for _, r := range g.Egress {
			p.rule(hc, own, ns, ChainEgress, r)
		}
	}
}

// reservedPeers are the addresses security groups never filter on an
// interface of subnet in vpc: link-local, the subnet's first four, the
// VPC resolver.
func reservedPeers(subnet, vpc netip.Prefix) []netip.Prefix {
	reserved := []netip.Prefix{LinkLocal, netip.PrefixFrom(subnet.Masked().Addr(), 30)}
	if r := ResolverAddr(vpc); !reserved[1].Contains(r) {
		reserved = append(reserved, netip.PrefixFrom(r, 32))
	}
	return reserved
}

// allowTCP returns the clients that interface n (of subnet in vpc) lets
// open TCP connections to port: what its groups' inbound rules allow and
// what they never filter. It is the forward chain's decision for a new
// flow, which the fast path's NAT program takes itself for the flows it
// opens (FastListener). An interface without groups is not filtered.
func (p *sgPlanner) allowTCP(n *core.NetworkInterface, subnet, vpc netip.Prefix, port int32) []netip.Prefix {
	if len(n.Groups) == 0 {
		return []netip.Prefix{netip.PrefixFrom(netip.IPv4Unspecified(), 0)}
	}
	out := reservedPeers(subnet, vpc)
	for _, gid := range n.Groups {
		g := p.groups[gid]
		if g == nil {
			continue
		}
		for _, r := range g.Ingress {
			m := sgMatch(r)
			if m.Proto != -1 && m.Proto != 6 {
				continue
			}
			if m.Proto == 6 && m.From >= 0 && (port < m.From || port > m.To) {
				continue
			}
			switch {
			case r.GroupID != "":
				if rg := p.groups[r.GroupID]; rg != nil {
					for _, mb := range rg.Members {
						if mb.IP.Is4() {
							out = append(out, netip.PrefixFrom(mb.IP, 32))
						}
					}
				}
			case r.PrefixList != "":
				out = append(out, p.prefixLists[r.PrefixList]...)
			default:
				out = append(out, r.Prefixes...)
			}
		}
	}
	return out
}

// forward returns the rules of the forward chain of an interface that
// forwards, or nil: its inbound rules guard what it forwards as what it
// receives (head is the input chain's rules but the loopback one). An
// interface endpoint forwards new flows from eth0 only (the NAT table
// drops the rest), so the chain is head as it is. A network load balancer
// forwards flows from eth0 (clients in its VPC), which its groups filter,
// and flows from transit links (PrivateLink), which they filter only when
// EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic is on.
func (p *sgPlanner) forward(n *core.NetworkInterface, head []Match) []Match {
	switch n.InterfaceType {
	case "vpc_endpoint":
		return head
	case "network_load_balancer":
		if lb := p.lbOf[n.ID]; lb != nil && lb.EnforcePrivateLinkInbound == "on" {
			return head
		}
		transit := Match{Iif: TransitPrefix + "*", Proto: -1, From: -1, To: -1, Verdict: "accept"}
		return append([]Match{head[0], head[1], transit}, head[2:]...)
	}
	return nil
}

// rule adds the nftables rules of one security group rule.
func (p *sgPlanner) rule(hc *HostConfig, own, ns, chain string, r core.ResolvedRule) {
	base := sgMatch(r)
	switch {
	case r.GroupID != "":
		hc.Add(own, NftSet{NS: ns, Name: r.GroupID})
		if g := p.groups[r.GroupID]; g != nil {
			for _, m := range g.Members {
				if m.IP.Is4() {
					hc.Add(own, NftElem{NS: ns, Set: r.GroupID, Addr: m.IP})
				}
			}
		}
		base.Peer = "@" + r.GroupID
		hc.Add(own, NftRule{NS: ns, Chain: chain, Match: base})
	case r.PrefixList != "":
		for _, pr := range p.prefixLists[r.PrefixList] {
			m := base
			m.Peer = peerOrAny(pr)
			hc.Add(own, NftRule{NS: ns, Chain: chain, Match: m})
		}
	default:
		for _, pr := range r.Prefixes {
			if !pr.Addr().Is4() {
				continue
			}
			m := base
			m.Peer = peerOrAny(pr.Masked())
			hc.Add(own, NftRule{NS: ns, Chain: chain, Match: m})
		}
	}
}

// peerOrAny is a Match's Peer for a prefix: "" for 0.0.0.0/0.
func peerOrAny(p netip.Prefix) string {
	if p.Bits() == 0 {
		return ""
	}
	return peerText(p)
}

// sgMatch is the protocol and port part of a rule, in the canonical form
// its text parses back to (so that equal texts are equal items).
func sgMatch(r core.ResolvedRule) Match {
	m := Match{Proto: r.Protocol, From: -1, To: -1, Verdict: "accept"}
	switch {
	case m.Proto < 0 || m.Proto > 255:
		m.Proto = -1
	case m.Proto == 6 || m.Proto == 17:
		if !anyPort(r.FromPort, r.ToPort) && r.FromPort <= r.ToPort && r.ToPort <= 65535 {
			m.From, m.To = r.FromPort, r.ToPort
		}
	case m.Proto == 1:
		if r.FromPort >= 0 && r.FromPort <= 255 {
			m.From = r.FromPort
			if r.ToPort >= 0 && r.ToPort <= 255 {
				m.To = r.ToPort
			}
		}
	}
	return m
}
