package dataplane

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/health"
)

// The PrivateLink data path (the "hyperplane") and the network load
// balancers, planned on top of the interfaces' namespaces:
//
//	consumer VPC                 endpoint ENI ns                  NLB ENI ns                    provider VPC
//	client ──▶ eth0 E-ip:port ─DNAT─▶ tr… ═══ transit /31 ═══ tr… ─DNAT─▶ eth0 ──▶ target:port
//	                 SNAT to the endpoint's transit address      SNAT to the NLB's private IP
//
// An endpoint's namespace gets, for each transit link of its interface
// (one per load balancer node of the service in its zone), the link and
// the NAT table ip isthmus-pl:
//
//	map listeners   protocol . port → the node's transit address, for
//	                every listener of the service's load balancers (the
//	                first load balancer of the service that has a port
//	                wins it)
//	map sources     node transit address → the endpoint's own one
//	prerouting      iifname eth0 ip daddr <E-ip> dnat ip to meta l4proto . th dport map @listeners
//	postrouting     oifname tr* counter name new (every new flow to a node)
//	                ct status dnat snat ip to ip daddr map @sources
//	forward         policy drop: established,related, and new flows that
//	                came in on eth0 and were DNATed (counter bytes); RSTs
//	                from transit links counted (rst-in), the rest
//	                counted (dropped) and dropped
//	input           RSTs from transit links counted (rst-in); new flows
//	                from a transit link are dropped (dropped); the rest in
//	                from eth0 or a transit link counted (bytes)
//
// (TCP listeners of a target group with proxy_protocol_v2.enabled are not
// in listeners: Proxies serves them from the namespace's own stack, which
// is why new flows are counted in postrouting and bytes in input too.)
//
// so the provider can never open a connection into the consumer VPC, and
// an endpoint that is not available (no transit) carries nothing: its
// address answers every port with the kernel's own reset. A load balancer
// node's namespace (every network load balancer interface) gets ip
// isthmus-lb:
//
//	map backends    protocol . port . bucket → target address . port
//	prerouting      iifname eth0 tcp dport <port> accept, for each TCP
//	                    listener whose group has proxy protocol v2 (the
//	                    VPC's clients reach Proxies in this namespace), then
//	                fib daddr type local dnat ip to meta l4proto . th dport .
//	                    jhash ip saddr . ip daddr . th sport . th dport mod B seed S map @backends
//	postrouting     oifname eth0 ct status dnat snat ip to <NLB private IP>
//	forward         policy drop: established,related, and DNATed flows out eth0
//	count-<dev>     per transit link <dev> (hook forward, policy accept):
//	                counters new-<dev>, bytes-<dev>, rst-out-<dev>
//
// for traffic from transit links and from clients in the provider VPC
// alike. Both namespaces forward IPv4. Each listener's B buckets are dealt
// round-robin over its routable targets (sorted), B being a power of two
// of at least 64 and eight per target, the same for every listener of the
// node; a flow's bucket is a hash of its addresses and ports, and
// conntrack keeps the flow on its target afterwards.

// Routable targets of a load balancer node, per target group. A node uses
// the targets of its own zone, or of every zone of the load balancer when
// cross-zone load balancing is on (the target group's
// load_balancing.cross_zone.enabled, or the load balancer's when the group
// says use_load_balancer_configuration). Of those, new flows go to the
// healthy ones; when none is healthy, to all of them (fail-open, as
// health.Route). A target that health checks have not yet judged
// (initial) is therefore routable while no target is healthy: with no
// health checker running, every registered target in zone gets traffic.
// Targets in a zone the load balancer does not have (unused) never do.

// minBuckets is the least number of hash buckets per listener.
const minBuckets = 64

// eniPlan is what Plan made of an interface.
type eniPlan struct {
	n      *core.NetworkInterface
	ns     string
	ip     netip.Addr
	subnet netip.Prefix
	vpc    netip.Prefix
}

// Backend is one target a load balancer node may send a listener's new
// flows to.
type Backend struct {
	Addr netip.Addr
	Port int32
}

// plPlanner holds the indexes PrivateLink planning needs.
type plPlanner struct {
	top       *core.Topology
	enis      map[string]*eniPlan
	lbByARN   map[string]*core.LoadBalancer
	listeners map[string][]*core.Listener // by load balancer ARN, by port
	tgByARN   map[string]*core.TargetGroup
	ifaces    map[string]*core.NetworkInterface
	opts      PlanOptions
	sg        *sgPlanner // the interfaces' security groups (nil: no FastListener items)
}

func newPLPlanner(top *core.Topology, enis map[string]*eniPlan, sg *sgPlanner, opts PlanOptions) *plPlanner {
	p := &plPlanner{top: top, enis: enis, sg: sg, opts: opts, lbByARN: map[string]*core.LoadBalancer{},
		listeners: map[string][]*core.Listener{}, tgByARN: map[string]*core.TargetGroup{},
		ifaces: map[string]*core.NetworkInterface{}}
	for _, lb := range top.LoadBalancers {
		p.lbByARN[lb.ARN()] = lb
	}
	for _, l := range top.Listeners {
		p.listeners[l.LoadBalancerARN] = append(p.listeners[l.LoadBalancerARN], l)
	}
	for _, ls := range p.listeners {
		sort.Slice(ls, func(i, j int) bool {
			if ls[i].Port != ls[j].Port {
				return ls[i].Port < ls[j].Port
			}
			return ls[i].Protocol < ls[j].Protocol
		})
	}
	for _, tg := range top.TargetGroups {
		p.tgByARN[tg.ARN()] = tg
	}
	for _, n := range top.NetworkInterfaces {
		p.ifaces[n.ID] = n
	}
	return p
}

// listenerProtos are the IP protocols a listener protocol carries.
func listenerProtos(p string) []int {
	switch p {
	case core.ProtocolTCP:
		return []int{6}
	case core.ProtocolUDP:
		return []int{17}
	case core.ProtocolTCPUDP:
		return []int{6, 17}
	}
	return nil
}

// CrossZone reports whether a load balancer node sends a target group's
// flows to targets in every zone.
func CrossZone(lb *core.LoadBalancer, tg *core.TargetGroup) bool {
	switch tg.Attributes["load_balancing.cross_zone.enabled"] {
	case "true":
		return true
	case "false":
		return false
	}
	return lb.Attributes["load_balancing.cross_zone.enabled"] == "true"
}

// targetAddr is where a target receives traffic: an ip target's address,
// or an instance target's (a network interface's) private IP.
func (p *plPlanner) targetAddr(tg *core.TargetGroup, t core.Target) (netip.Addr, bool) {
	id := t.ID
	if tg.TargetType != core.TargetTypeIP {
		n := p.ifaces[t.ID]
		if n == nil || n.VpcID != tg.VpcID {
			return netip.Addr{}, false
		}
		id = n.PrivateIP
	}
	a, err := netip.ParseAddr(id)
	return a, err == nil && a.Is4()
}

// Routable returns the targets of tg that a node of lb in zone may send
// new flows to, sorted, and whether it fails open.
func Routable(top *core.Topology, lb *core.LoadBalancer, tg *core.TargetGroup, zone string) ([]Backend, bool) {
	return newPLPlanner(top, nil, nil, PlanOptions{}).routable(lb, tg, zone)
}

func (p *plPlanner) routable(lb *core.LoadBalancer, tg *core.TargetGroup, zone string) ([]Backend, bool) {
	type cand struct {
		b     Backend
		state health.State
	}
	cross := CrossZone(lb, tg)
	var cands []cand
	recs := p.top.TargetHealth[tg.ARN()]
	for _, t := range tg.Targets {
		if !lb.HasZone(t.AvailabilityZone) || (!cross && t.AvailabilityZone != zone) {
			continue
		}
		a, ok := p.targetAddr(tg, t)
		if !ok {
			continue
		}
		state := health.Initial
		if h, ok := recs[core.TargetRef{ID: t.ID, Port: t.Port}]; ok {
			state = health.State(h.State)
		}
		cands = append(cands, cand{Backend{Addr: a, Port: t.Port}, state})
	}
	route, failOpen := health.Route(cands, func(c cand) health.State { return c.state })
	out := make([]Backend, 0, len(route))
	seen := map[Backend]bool{}
	for _, c := range route {
		if !seen[c.b] {
			seen[c.b] = true
			out = append(out, c.b)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Addr != out[j].Addr {
			return out[i].Addr.Less(out[j].Addr)
		}
		return out[i].Port < out[j].Port
	})
	return out, failOpen
}

// Buckets is the number of hash buckets of a node whose largest listener
// has n routable targets: a power of two, at least minBuckets and 8n.
func Buckets(n int) int {
	b := minBuckets
	for b < 8*n {
		b *= 2
	}
	return b
}

// lbSeed is a load balancer's hash seed: stable, from its id.
func lbSeed(lb *core.LoadBalancer) uint32 {
	v, _ := strconv.ParseUint(idHex("x-" + lb.ID)[:8], 16, 32)
	return uint32(v)
}

// planLoadBalancers adds the NAT of every network load balancer node.
func (p *plPlanner) planLoadBalancers(hc *HostConfig) {
	for _, lb := range p.top.LoadBalancers {
		if lb.Type != core.LoadBalancerNetwork {
			continue
		}
		for _, z := range lb.Zones {
			ep := p.enis[z.NetworkInterfaceID]
			if ep == nil {
				continue
			}
			p.planNode(hc, lb, z, ep)
		}
	}
}

func (p *plPlanner) planNode(hc *HostConfig, lb *core.LoadBalancer, z core.LoadBalancerZone, node *eniPlan) {
	own, ns := node.n.ID, node.ns
	type listener struct {
		protos   []int
		port     int32
		backends []Backend
	}
	var ls []listener
	var pre []string // TCP listeners with PPv2 without the fast path: clients of the VPC reach Proxies
	most := 0
	for _, l := range p.listeners[lb.ARN()] {
		tg := p.tgByARN[l.TargetGroupARN]
		protos := listenerProtos(l.Protocol)
		if tg == nil || len(protos) == 0 {
			continue
		}
		if protos[0] == 6 && tg.Attributes["proxy_protocol_v2.enabled"] == "true" {
			// Clients in the load balancer's own VPC: the header names
			// them and the load balancer's address, without AWS's TLV.
			if p.opts.FastPath {
				hc.Add(own, PPv2Entry{NS: ns, Listen: netip.AddrPortFrom(node.ip, uint16(l.Port))})
			} else {
				pre = append(pre, ruleLBLocal(l.Port))
			}
		}
		bs, _ := p.routable(lb, tg, z.ZoneName)
		ls = append(ls, listener{protos: protos, port: l.Port, backends: bs})
		most = max(most, len(bs))
	}
	buckets := Buckets(most)
	var elems []string
	// With the fast path, the NAT program opens the TCP flows that come
	// in from the transit links itself (FastListener), dealing them over
	// the same buckets, unless the load balancer's groups filter them.
	owned := p.opts.FastPath && lb.EnforcePrivateLinkInbound != "on"
	for _, l := range ls {
		if len(l.backends) == 0 {
			continue // nothing to route to: the node's own stack resets the flow
		}
		for _, proto := range l.protos {
			var targets []string
			for b := 0; b < buckets; b++ {
				t := l.backends[b%len(l.backends)]
				elems = append(elems, backendElem(proto, l.port, b, t.Addr, t.Port))
				targets = append(targets, netip.AddrPortFrom(t.Addr, uint16(t.Port)).String())
			}
			if proto != 6 || !owned {
				continue
			}
			hc.Add(own, FastBackends{NS: ns, Port: uint16(l.port), Targets: strings.Join(targets, " ")})
			for _, t := range p.top.Transits {
				if t.LoadBalancerENI != own || p.enis[t.EndpointENI] == nil {
					continue
				}
				hc.Add(own, FastListener{NS: ns, Listen: netip.AddrPortFrom(t.LoadBalancerAddr(), uint16(l.port)),
					In: TransitName(t.EndpointENI), From: node.ip, Buckets: buckets})
			}
		}
	}
	hc.Add(own, Sysctl{NS: ns, Name: "net.ipv4.ip_forward", Value: "1"})
	hc.Add(own, Sysctl{NS: ns, Name: BeLiberal, Value: "1"})
	addFastNAT(hc, p.opts, own, ns, ENIDevice)
	hc.Add(own, NatTable{NS: ns, Table: NatTableLB})
	hc.Add(own, natMap(ns, NatTableLB, MapBackends, elems))
	hc.Add(own, natChain(ns, NatTableLB, "prerouting", "accept", append(pre, ruleLBDNAT(buckets, lbSeed(lb)))...))
	hc.Add(own, natChain(ns, NatTableLB, "postrouting", "accept", ruleLBSNAT(node.ip)))
	hc.Add(own, natChain(ns, NatTableLB, "forward", "drop", ruleEstablished, ruleLBFwd))
	// Counters per transit link of the node (package metrics's service
	// metrics), in a counting chain of its own per link (on the forward
	// hook, policy accept, no verdicts), so that a link coming or going
	// adds or removes one chain and rewrites nothing else: the link's new
	// flows, its bytes both ways, the RSTs forwarded to it.
	for _, t := range p.top.Transits {
		if t.LoadBalancerENI != own || p.enis[t.EndpointENI] == nil {
			continue
		}
		d := TransitName(t.EndpointENI)
		c := natChain(ns, NatTableLB, "forward", "accept",
			counted("iifname "+d+" "+matchNew, counterNodeNew+d),
			countRule(true, d, false, counterNodeBytes+d), countRule(false, d, false, counterNodeBytes+d),
			countRule(false, d, true, counterNodeRstOut+d))
		c.Name = CountChainPrefix + d
		hc.Add(own, c)
	}
}

// EndpointListener is one listener port an interface endpoint's interface
// serves: the protocol and port, the transit link (to the load balancer
// node) that carries it, and whether its target group wants a PROXY
// protocol v2 header. Kernel NAT carries every listener; without the fast
// path, which writes the headers, a userspace proxy (Proxies) serves the
// TCP ones with PPv2 instead.
type EndpointListener struct {
	Proto   int // 6 or 17
	Port    int32
	Transit *core.Transit
	PPv2    bool
}

// endpointTransits returns, by endpoint interface, its transit links in the
// order of its service's load balancers.
func (p *plPlanner) endpointTransits() map[string][]*core.Transit {
	services := map[string]*core.EndpointService{}
	for _, s := range p.top.EndpointServices {
		services[s.ID] = s
	}
	byENI := map[string][]*core.Transit{}
	for _, t := range p.top.Transits {
		byENI[t.EndpointENI] = append(byENI[t.EndpointENI], t)
	}
	for _, ts := range byENI {
		// The service's load balancers in its order: the first with a port wins it.
		order := map[string]int{}
		if s := services[ts[0].ServiceID]; s != nil {
			for i, arn := range s.NLBs {
				order[arn] = i
			}
		}
		sort.SliceStable(ts, func(i, j int) bool {
			if order[ts[i].LoadBalancerARN] != order[ts[j].LoadBalancerARN] {
				return order[ts[i].LoadBalancerARN] < order[ts[j].LoadBalancerARN]
			}
			return ts[i].Index < ts[j].Index
		})
	}
	return byENI
}

// endpointListeners returns the listeners an endpoint interface with
// transit links ts (in the service's order) serves: the first load
// balancer that has a protocol and port wins it. Links whose node has no
// namespace (in p.enis, when p.enis is set) are skipped.
func (p *plPlanner) endpointListeners(ts []*core.Transit) []EndpointListener {
	var out []EndpointListener
	taken := map[string]bool{}
	for _, t := range ts {
		if p.enis != nil && p.enis[t.LoadBalancerENI] == nil {
			continue
		}
		for _, l := range p.listeners[t.LoadBalancerARN] {
			tg := p.tgByARN[l.TargetGroupARN]
			for _, proto := range listenerProtos(l.Protocol) {
				key := fmt.Sprintf("%d/%d", proto, l.Port)
				if taken[key] {
					continue
				}
				taken[key] = true
				out = append(out, EndpointListener{Proto: proto, Port: l.Port, Transit: t,
					PPv2: proto == 6 && tg != nil && tg.Attributes["proxy_protocol_v2.enabled"] == "true"})
			}
		}
	}
	return out
}

// EndpointListeners returns, by endpoint interface id, the listeners each
// interface of an available interface endpoint serves.
func EndpointListeners(top *core.Topology) map[string][]EndpointListener {
	p := newPLPlanner(top, nil, nil, PlanOptions{})
	out := map[string][]EndpointListener{}
	for id, ts := range p.endpointTransits() {
		out[id] = p.endpointListeners(ts)
	}
	return out
}

// planEndpoints adds the transit links and the NAT of every available
// interface endpoint's interfaces. TCP listeners whose target group
// enables proxy protocol v2 get DNAT and a PPv2Entry with the fast path
// (its NAT program writes the header); without it they get no DNAT, and
// their connections reach the endpoint's own stack, where Proxies
// listens.
func (p *plPlanner) planEndpoints(hc *HostConfig) {
	byENI := p.endpointTransits()
	enis := make([]string, 0, len(byENI))
	for id := range byENI {
		enis = append(enis, id)
	}
	sort.Strings(enis)
	for _, id := range enis {
		ep := p.enis[id]
		if ep == nil {
			continue // no namespace: Plan says why
		}
		ts := byENI[id]
		var listeners, sources []string
		n := 0
		for _, t := range ts {
			node := p.enis[t.LoadBalancerENI]
			if node == nil {
				hc.Problems[t.EndpointENI] = fmt.Sprintf("transit to %s: the load balancer's interface has no namespace", t.LoadBalancerENI)
				continue
			}
			n++
			hc.Add(id, newTransit(ep.ns, TransitName(t.LoadBalancerENI), t.Prefix(),
				node.ns, TransitName(t.EndpointENI), netip.PrefixFrom(t.LoadBalancerAddr(), 31)))
			addFastNAT(hc, p.opts, id, ep.ns, TransitName(t.LoadBalancerENI))
			addFastNAT(hc, p.opts, id, node.ns, TransitName(t.EndpointENI))
			sources = append(sources, sourceElem(t.LoadBalancerAddr(), t.EndpointAddr()))
		}
		for _, l := range p.endpointListeners(ts) {
			if l.PPv2 {
				if !p.opts.FastPath {
					continue // Proxies serves it
				}
				hc.Add(id, PPv2Entry{NS: ep.ns, Listen: netip.AddrPortFrom(ep.ip, uint16(l.Port)), Endpoint: l.Transit.EndpointID})
			}
			if l.Proto == 6 && p.opts.FastPath && p.sg != nil && p.enis[l.Transit.LoadBalancerENI] != nil {
				// The NAT program opens these flows itself, with the
				// forward chain's decision on who may.
				hc.Add(id, FastListener{NS: ep.ns, Listen: netip.AddrPortFrom(ep.ip, uint16(l.Port)), In: ENIDevice,
					To: l.Transit.LoadBalancerAddr(), From: l.Transit.EndpointAddr(),
					Allow: allowText(p.sg.allowTCP(ep.n, ep.subnet, ep.vpc, l.Port))})
			}
			listeners = append(listeners, listenerElem(l.Proto, l.Port, l.Transit.LoadBalancerAddr()))
		}
		if n == 0 {
			continue
		}
		ns := ep.ns
		hc.Add(id, Sysctl{NS: ns, Name: "net.ipv4.ip_forward", Value: "1"})
		hc.Add(id, Sysctl{NS: ns, Name: BeLiberal, Value: "1"})
		addFastNAT(hc, p.opts, id, ns, ENIDevice)
		hc.Add(id, NatTable{NS: ns, Table: NatTablePL})
		hc.Add(id, natMap(ns, NatTablePL, MapListeners, listeners))
		hc.Add(id, natMap(ns, NatTablePL, MapSources, sources))
		// Counters (nat.go): new flows where they leave for a transit
		// link, DNATed or opened by a PPv2 proxy alike; bytes where they
		// are forwarded and, for the proxies' flows, where they reach
		// the namespace's own stack.
		transits := TransitPrefix + "*"
		rstIn := countRule(true, transits, true, counterRstIn)
		hc.Add(id, natChain(ns, NatTablePL, "prerouting", "accept", ruleEndpointDNAT(ep.ip)))
		hc.Add(id, natChain(ns, NatTablePL, "postrouting", "accept", countRule(false, transits, false, counterNew), ruleEndpointSNAT))
		hc.Add(id, natChain(ns, NatTablePL, "forward", "drop", rstIn,
			counted(ruleEstablished, counterBytes), counted(ruleEndpointFwd, counterBytes), counted("", counterDropped)))
		hc.Add(id, natChain(ns, NatTablePL, "input", "accept", rstIn, counted(ruleEndpointInput, counterDropped),
			countRule(true, ENIDevice, false, counterBytes), countRule(true, transits, false, counterBytes)))
	}
}
