package dataplane

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// PrivateLink's and the load balancers' NAT lives in nftables tables of
// family ip of their own, beside the security groups' table:
//
//	ip isthmus-pl   in an interface endpoint's namespace (NatTablePL)
//	ip isthmus-lb   in a network load balancer node's namespace (NatTableLB)
//
// A table holds a few base chains whose rules never change but for an
// address (NatChain, its rules as a whole, like the security groups' base
// chains) and maps whose elements carry everything that does change
// (NatMap): the listeners, the transit links, the targets. A map is one
// item holding its elements as text; applying it adds and deletes only
// the elements that differ, in one batch, so a new listener or target, or
// a target turning unhealthy, touches a few elements and nothing else.
// The NAT chains run only for the first packet of a flow: conntrack
// carries the rest.

// NAT tables.
const (
	NatTablePL = "isthmus-pl"
	NatTableLB = "isthmus-lb"
)

// NAT maps. Their name says their type.
const (
	// MapListeners (endpoint): protocol . port → the load balancer node's
	// transit address the listener is reached at.
	MapListeners = "listeners"
	// MapSources (endpoint): a load balancer node's transit address → the
	// endpoint's own address on that link, the SNAT source.
	MapSources = "sources"
	// MapBackends (load balancer node): protocol . port . bucket → target
	// address . port; a flow's bucket is a hash of its 5-tuple.
	MapBackends = "backends"
)

func natMapType(name string) (key, value string, ok bool) {
	switch name {
	case MapListeners:
		return "inet_proto . inet_service", "ipv4_addr", true
	case MapSources:
		return "ipv4_addr", "ipv4_addr", true
	case MapBackends:
		return "inet_proto . inet_service . mark", "ipv4_addr . inet_service", true
	}
	return "", "", false
}

// NatTable is a NAT table (family ip) in a namespace. Removing it removes
// everything in it.
type NatTable struct {
	NS    string
	Table string
}

func (t NatTable) Key() string       { return "nat table " + t.NS + " " + t.Table }
func (t NatTable) Namespace() string { return t.NS }
func (NatTable) phase() int          { return phaseNatTable }
func (t NatTable) String() string    { return nftCmd(t.NS) + "add table ip " + t.Table }

// NatMap is a map of a NAT table with all its elements: Elems holds one
// "key : value" line per element, sorted, as nft writes them (for
// example "tcp . 80 : 100.64.0.1").
type NatMap struct {
	NS    string
	Table string
	Name  string
	Elems string
}

func (m NatMap) Key() string       { return "nat map " + m.NS + " " + m.Table + " " + m.Name }
func (m NatMap) Namespace() string { return m.NS }
func (NatMap) phase() int          { return phaseNatMap }
func (m NatMap) String() string {
	k, v, _ := natMapType(m.Name)
	s := nftCmd(m.NS) + "add map ip " + m.Table + " " + m.Name + " '{ type " + k + " : " + v + "; }'"
	if m.Elems != "" {
		s += "\n" + nftCmd(m.NS) + "add element ip " + m.Table + " " + m.Name + " '{ " + strings.ReplaceAll(m.Elems, "\n", ", ") + " }'"
	}
	return s
}

// elems returns the element lines.
func (m NatMap) elems() []string {
	if m.Elems == "" {
		return nil
	}
	return strings.Split(m.Elems, "\n")
}

// natMap returns a map holding elems (in any order; duplicates merge).
func natMap(ns, table, name string, elems []string) NatMap {
	set := map[string]bool{}
	for _, e := range elems {
		set[e] = true
	}
	sorted := make([]string, 0, len(set))
	for e := range set {
		sorted = append(sorted, e)
	}
	sort.Strings(sorted)
	return NatMap{NS: ns, Table: table, Name: name, Elems: strings.Join(sorted, "\n")}
}

// NatChain is a base chain of a NAT table with its rules, rewritten as a
// whole (in one batch) when they differ. Hook is prerouting or postrouting
// (type nat, priorities dstnat and srcnat, policy accept) or input or
// forward (type filter, priority filter, with Policy). Rules holds one
// rule text per line, in the forms parseNatRule knows.
type NatChain struct {
	NS     string
	Table  string
	Name   string
	Hook   string
	Policy string
	Rules  string
}

func (c NatChain) Key() string       { return "nat chain " + c.NS + " " + c.Table + " " + c.Name }
func (c NatChain) Namespace() string { return c.NS }
func (NatChain) phase() int          { return phaseNatChain }
func (c NatChain) String() string {
	typ, prio := natHookType(c.Hook)
	s := nftCmd(c.NS) + "add chain ip " + c.Table + " " + c.Name + " '{ type " + typ + " hook " + c.Hook + " priority " + prio + "; policy " + c.Policy + "; }'"
	for _, r := range c.rules() {
		s += "\n" + nftCmd(c.NS) + "add rule ip " + c.Table + " " + c.Name + " " + r
	}
	return s
}

func (c NatChain) rules() []string {
	if c.Rules == "" {
		return nil
	}
	return strings.Split(c.Rules, "\n")
}

func natHookType(hook string) (typ, priority string) {
	switch hook {
	case "prerouting":
		return "nat", "dstnat"
	case "postrouting":
		return "nat", "srcnat"
	}
	return "filter", "filter"
}

func natChain(ns, table, hook, policy string, rules ...string) NatChain {
	return NatChain{NS: ns, Table: table, Name: hook, Hook: hook, Policy: policy, Rules: strings.Join(rules, "\n")}
}

// The rules of the NAT chains. Each is written exactly so (it is also the
// rule's comment in the kernel, which is how Observe reads it back, so it
// holds no quotes: `nft list ruleset` output stays loadable) and parsed by
// parseNatRule into nftables expressions.
const (
	ruleEstablished   = "ct state established,related accept"
	ruleEndpointSNAT  = "ct status dnat snat ip to ip daddr map @" + MapSources
	ruleEndpointFwd   = "iifname eth0 ct status dnat accept"
	ruleEndpointInput = "iifname " + TransitPrefix + "* ct state new drop"
	ruleLBFwd         = "oifname eth0 ct status dnat accept"
)

// ruleEndpointDNAT sends what reaches the endpoint's address at a
// listener's port to the load balancer node that serves it.
func ruleEndpointDNAT(ip netip.Addr) string {
	return "iifname eth0 ip daddr " + ip.String() + " dnat ip to meta l4proto . th dport map @" + MapListeners
}

// ruleLBDNAT picks a flow's target: the listener (protocol and port) and
// a Jenkins hash of the flow's addresses and ports modulo buckets select
// the target's address and port in MapBackends.
func ruleLBDNAT(buckets int, seed uint32) string {
	return fmt.Sprintf("fib daddr type local dnat ip to meta l4proto . th dport . jhash ip saddr . ip daddr . th sport . th dport mod %d seed 0x%08x map @%s", buckets, seed, MapBackends)
}

// ruleLBLocal keeps what clients in the load balancer's VPC send to a TCP
// listener port whose target group enables proxy protocol v2 from the DNAT
// (accept ends the nat chain): it reaches the node's own stack, where
// Proxies listens and writes the header.
func ruleLBLocal(port int32) string {
	return fmt.Sprintf("iifname eth0 tcp dport %d accept", port)
}

// ruleLBSNAT makes targets see the load balancer's own address.
func ruleLBSNAT(ip netip.Addr) string {
	return "oifname eth0 ct status dnat snat ip to " + ip.String()
}

// Named counters. A rule may count what it matches in a named counter of
// its table (an nftables object of type counter, which package metrics
// reads): its text then holds "counter name <name>" before its action
// (the verdict, the dnat or snat), or at its end for a rule that only
// counts. The counter counts only what matches the rest of the rule (for
// a NAT rule with a map: what the map holds). Applying a chain creates the
// counters its rules name and deletes those of its table that no rule
// uses any more; a counter keeps its values while rules are rewritten.
//
// The names are package metrics's (CounterNew, ...):
//
//	ip isthmus-pl  new      a counting rule first in postrouting, oifname
//	                        tr*: one packet per new flow leaving for a load
//	                        balancer node (NAT chains see only a flow's first
//	                        packet), whether the DNAT sent it there from
//	                        eth0 or a PPv2 proxy of the namespace opened it
//	               bytes    the forward chain's accepting rules (kernel NAT
//	                        flows), and counting rules at the end of the
//	                        input chain, iifname eth0 and iifname tr*: what
//	                        the namespace's own stack receives, which in an
//	                        available endpoint is the PPv2 proxies' two legs
//	                        (client to proxy, service to proxy)
//	               dropped  the forward chain's last rule (before its drop
//	                        policy) and the input rule dropping new flows
//	                        from transit links
//	               rst-in   TCP RSTs arriving on transit links (forward
//	                        and input)
//	ip isthmus-lb  new-<dev>, bytes-<dev>, rst-out-<dev> per transit link
//	               <dev>, in its chain count-<dev> (hook forward): new
//	               flows forwarded in from it, what is forwarded in from or
//	               out to it, TCP RSTs forwarded out to it
//
// PPv2 connections are counted in the kernel too, rather than by the
// proxies (proxy.Stats), so that package metrics reads one source for
// every connection and the counters survive a restart of the daemon or of
// a proxy, as the NAT flows' do. The price: the endpoint's own stack also
// receives what is not proxied (a ping, a probe of a port that is no
// listener), which counts in bytes; and the bytes of the client's
// direction are counted before the proxy adds the PROXY header.
const (
	counterNew     = "new"
	counterBytes   = "bytes"
	counterDropped = "dropped"
	counterRstIn   = "rst-in"

	counterNodeNew    = "new-"
	counterNodeBytes  = "bytes-"
	counterNodeRstOut = "rst-out-"
)

// counted returns rule text base counting in the named counter.
func counted(base, name string) string {
	c := "counter name " + name
	if base == "" {
		return c
	}
	for _, v := range []string{" accept", " drop"} {
		if strings.HasSuffix(base, v) {
			return strings.TrimSuffix(base, v) + " " + c + v
		}
	}
	for _, action := range []string{" snat ip to ", " dnat ip to "} {
		if i := strings.Index(base, action); i >= 0 {
			return base[:i] + " " + c + base[i:]
		}
	}
	return base + " " + c
}

// countRule is a rule that only counts: packets in on (or out on) dev
// (a final "*" makes it a prefix), TCP RSTs only when rst.
func countRule(in bool, dev string, rst bool, name string) string {
	s := "oifname " + dev
	if in {
		s = "iifname " + dev
	}
	if rst {
		s += " " + matchRst
	}
	return counted(s, name)
}

const (
	matchRst = "tcp flags & rst == rst"
	matchNew = "ct state new"
)

// CountChainPrefix starts the name of a load balancer node's counting
// chain for one transit link: count-<dev>.
const CountChainPrefix = "count-"

// natRule is a parsed rule: its form and its parameters.
type natRule struct {
	form    string // one of the rule constants, or "endpoint-dnat", "lb-dnat", "lb-snat", "lb-local", "count"
	addr    netip.Addr
	buckets int
	seed    uint32
	counter string // the named counter it counts in, if any
	port    uint16 // an "lb-local" rule's

	// A "count" rule's match: nothing, or an interface (in or out; a
	// final "*" makes it a prefix), TCP RSTs only when rst.
	in  bool
	dev string
	rst bool
	new bool // new flows only
}

// parseNatRule parses a rule text.
func parseNatRule(s string) (natRule, error) {
	if i := strings.Index(s, "counter name "); i >= 0 && (i == 0 || s[i-1] == ' ') {
		rest := s[i+len("counter name "):]
		name, after, _ := strings.Cut(rest, " ")
		base := strings.TrimSpace(s[:i])
		if after != "" {
			base = strings.TrimSpace(base + " " + after)
		}
		if !validCounterName(name) || counted(base, name) != s {
			return natRule{}, fmt.Errorf("dataplane: not a NAT rule Isthmus writes: %q", s)
		}
		r, err := parseCountBase(base)
		if err != nil {
			r, err = parseNatRule(base)
		}
		if err != nil || r.counter != "" {
			return natRule{}, fmt.Errorf("dataplane: not a NAT rule Isthmus writes: %q", s)
		}
		r.counter = name
		return r, nil
	}
	switch s {
	case ruleEstablished, ruleEndpointSNAT, ruleEndpointFwd, ruleEndpointInput, ruleLBFwd:
		return natRule{form: s}, nil
	}
	bad := fmt.Errorf("dataplane: not a NAT rule Isthmus writes: %q", s)
	if rest, ok := strings.CutPrefix(s, "iifname eth0 ip daddr "); ok {
		a, _, _ := strings.Cut(rest, " ")
		ip, err := netip.ParseAddr(a)
		if err != nil || !ip.Is4() || ruleEndpointDNAT(ip) != s {
			return natRule{}, bad
		}
		return natRule{form: "endpoint-dnat", addr: ip}, nil
	}
	if rest, ok := strings.CutPrefix(s, "iifname eth0 tcp dport "); ok {
		port, err := strconv.ParseUint(strings.TrimSuffix(rest, " accept"), 10, 16)
		if err != nil || port == 0 || ruleLBLocal(int32(port)) != s {
			return natRule{}, bad
		}
		return natRule{form: "lb-local", port: uint16(port)}, nil
	}
	if rest, ok := strings.CutPrefix(s, "oifname eth0 ct status dnat snat ip to "); ok {
		ip, err := netip.ParseAddr(rest)
		if err != nil || !ip.Is4() || ruleLBSNAT(ip) != s {
			return natRule{}, bad
		}
		return natRule{form: "lb-snat", addr: ip}, nil
	}
	if strings.HasPrefix(s, "fib daddr type local dnat ") {
		f := strings.Fields(s)
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "mod":
				n, err := strconv.Atoi(f[i+1])
				if err != nil || n < 1 {
					return natRule{}, bad
				}
				r := natRule{form: "lb-dnat", buckets: n}
				for j := i + 2; j+1 < len(f); j++ {
					if f[j] == "seed" {
						v, err := strconv.ParseUint(strings.TrimPrefix(f[j+1], "0x"), 16, 32)
						if err != nil {
							return natRule{}, bad
						}
						r.seed = uint32(v)
					}
				}
				if ruleLBDNAT(r.buckets, r.seed) != s {
					return natRule{}, bad
				}
				return r, nil
			}
		}
	}
	return natRule{}, bad
}

// parseCountBase parses the match of a rule that only counts.
func parseCountBase(s string) (natRule, error) {
	r := natRule{form: "count"}
	if s == "" {
		return r, nil
	}
	f := strings.Fields(s)
	if len(f) < 2 || (f[0] != "iifname" && f[0] != "oifname") {
		return natRule{}, fmt.Errorf("dataplane: not a counting rule: %q", s)
	}
	r.in, r.dev = f[0] == "iifname", f[1]
	rest := strings.TrimSpace(strings.Join(f[2:], " "))
	switch rest {
	case "":
	case matchRst:
		r.rst = true
	case matchNew:
		r.new = true
	default:
		return natRule{}, fmt.Errorf("dataplane: not a counting rule: %q", s)
	}
	dev := strings.TrimSuffix(r.dev, "*")
	if dev == "" || len(dev) >= 16 || strings.ContainsAny(dev, "*'\" ") {
		return natRule{}, fmt.Errorf("dataplane: not a counting rule: %q", s)
	}
	return r, nil
}

func validCounterName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// counters returns the named counters the rules of c count in.
func (c NatChain) counters() []string {
	var out []string
	seen := map[string]bool{}
	for _, text := range c.rules() {
		if r, err := parseNatRule(text); err == nil && r.counter != "" && !seen[r.counter] {
			seen[r.counter] = true
			out = append(out, r.counter)
		}
	}
	return out
}

// Element texts of the maps.

var natProtoNames = map[int]string{6: "tcp", 17: "udp"}

func natProtoNumber(name string) (int, bool) {
	for n, s := range natProtoNames {
		if s == name {
			return n, true
		}
	}
	return 0, false
}

// listenerElem is an element of MapListeners.
func listenerElem(proto int, port int32, to netip.Addr) string {
	return fmt.Sprintf("%s . %d : %s", natProtoNames[proto], port, to)
}

// sourceElem is an element of MapSources.
func sourceElem(peer, own netip.Addr) string { return peer.String() + " : " + own.String() }

// backendElem is an element of MapBackends.
func backendElem(proto int, port int32, bucket int, target netip.Addr, targetPort int32) string {
	return fmt.Sprintf("%s . %d . %d : %s . %d", natProtoNames[proto], port, bucket, target, targetPort)
}

// natElem is a parsed element: its fields in order (protocols as numbers).
type natElem struct {
	key, value []uint64 // addresses as their 32-bit value
}

// parseNatElem parses an element line of map name.
func parseNatElem(name, line string) (natElem, error) {
	bad := fmt.Errorf("dataplane: map %s: bad element %q", name, line)
	k, v, ok := strings.Cut(line, " : ")
	if !ok {
		return natElem{}, bad
	}
	kt, vt, ok := natMapType(name)
	if !ok {
		return natElem{}, fmt.Errorf("dataplane: unknown NAT map %q", name)
	}
	parse := func(types, text string) ([]uint64, bool) {
		ts, fs := strings.Split(types, " . "), strings.Split(text, " . ")
		if len(ts) != len(fs) {
			return nil, false
		}
		out := make([]uint64, len(ts))
		for i, t := range ts {
			switch t {
			case "inet_proto":
				n, ok := natProtoNumber(fs[i])
				if !ok {
					return nil, false
				}
				out[i] = uint64(n)
			case "inet_service":
				n, err := strconv.ParseUint(fs[i], 10, 16)
				if err != nil || strconv.FormatUint(n, 10) != fs[i] {
					return nil, false
				}
				out[i] = n
			case "mark":
				n, err := strconv.ParseUint(fs[i], 10, 32)
				if err != nil || strconv.FormatUint(n, 10) != fs[i] {
					return nil, false
				}
				out[i] = n
			case "ipv4_addr":
				a, err := netip.ParseAddr(fs[i])
				if err != nil || !a.Is4() || a.String() != fs[i] {
					return nil, false
				}
				b := a.As4()
				out[i] = uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
			}
		}
		return out, true
	}
	key, ok1 := parse(kt, k)
	value, ok2 := parse(vt, v)
	if !ok1 || !ok2 {
		return natElem{}, bad
	}
	return natElem{key: key, value: value}, nil
}
