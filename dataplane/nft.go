package dataplane

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Security groups are nftables state in each interface's namespace: one
// table of family inet, NftTableName, holding
//
//	chain input    type filter hook input priority filter; policy drop
//	               iif lo accept
//	               ct state established,related accept
//	               ct state invalid drop
//	               ip saddr <AWS-reserved addresses> accept
//	               jump sg-in
//	chain output   the same for what the interface sends (oif, daddr),
//	               and at an interface endpoint ip daddr <node transit
//	               address> accept per transit link (plan_sg.go), ending
//	               in jump sg-out
//	chain sg-in    one rule per inbound permission of the interface's groups
//	chain sg-out   one rule per outbound permission
//	set sg-<id>    type ipv4_addr: the current members of a group that a
//	               rule names (ip saddr @sg-<id> ...)
//
// The rules of sg-in and sg-out only accept, so their order does not
// matter: each is an item of its own (NftRule), added and deleted one by
// one, and a group set changes element by element (NftElem). The base
// chains' few rules never change apart from the addresses, so they are
// part of their chain's item (NftChain.Rules) and rewritten together.

// NftTableName is the nftables table (family inet) of an interface's
// namespace.
const NftTableName = "isthmus"

// Chains of NftTableName.
const (
	ChainInput   = "input"  // base chain, hook input: what reaches the interface
	ChainOutput  = "output" // base chain, hook output: what it sends
	ChainIngress = "sg-in"  // the security groups' inbound rules
	ChainEgress  = "sg-out" // their outbound rules
	// ChainForward is a base chain on the forward hook, for interfaces
	// that forward (endpoint and load balancer interfaces): what they
	// forward from eth0 passes the inbound rules as what they receive does.
	ChainForward = "forward"
)

// Match is one nftables rule of the subset Isthmus writes: a match and a
// verdict. Whether addresses are sources or destinations, and interfaces
// input or output, is the chain's direction (see ingressChain). It renders
// as nft syntax (String) and parses back (ParseMatch); the rendering is
// also kept in the kernel as the rule's comment, which is how Observe
// recognises rules.
type Match struct {
	// Loopback matches packets on lo (iif lo, oif lo).
	Loopback bool
	// Iif matches the input interface's name; a final "*" makes it a
	// prefix (iifname tr*).
	Iif string
	// CtState matches a conntrack state: "established,related" or "invalid".
	CtState string
	// Peer is the other end: "" any IPv4 address, an address or prefix
	// ("10.0.0.2", "10.0.0.0/16"), or a named set ("@sg-0123…").
	Peer string
	// Proto is the IANA protocol number, -1 for every protocol (and for
	// the loopback and conntrack matches).
	Proto int
	// From and To are a tcp or udp destination port range (-1/-1 or
	// 0/65535: any), or an ICMP type and code (-1: any).
	From, To int32
	// Verdict is "accept", "drop" or "jump <chain>".
	Verdict string
}

// ingressChain reports whether a chain filters what reaches the interface
// (addresses are sources) rather than what it sends.
func ingressChain(chain string) bool {
	return chain == ChainInput || chain == ChainIngress || chain == ChainForward
}

var protoNames = map[int]string{1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp"}

// Text renders m as nft writes it, for a chain of the given direction.
func (m Match) Text(ingress bool) string {
	addr, iface := "daddr", "oif"
	if ingress {
		addr, iface = "saddr", "iif"
	}
	var parts []string
	switch {
	case m.Loopback:
		parts = append(parts, iface+" lo")
	case m.Iif != "":
		parts = append(parts, "iifname "+m.Iif)
	case m.CtState != "":
		parts = append(parts, "ct state "+m.CtState)
	case m.Peer != "":
		parts = append(parts, "ip "+addr+" "+m.Peer)
	default:
		parts = append(parts, "meta nfproto ipv4")
	}
	switch name := protoNames[m.Proto]; {
	case m.Proto < 0:
	case (m.Proto == 6 || m.Proto == 17) && !anyPort(m.From, m.To):
		if m.From == m.To {
			parts = append(parts, fmt.Sprintf("%s dport %d", name, m.From))
		} else {
			parts = append(parts, fmt.Sprintf("%s dport %d-%d", name, m.From, m.To))
		}
	case m.Proto == 1 && m.From >= 0:
		parts = append(parts, fmt.Sprintf("icmp type %d", m.From))
		if m.To >= 0 {
			parts = append(parts, fmt.Sprintf("icmp code %d", m.To))
		}
	case name != "":
		parts = append(parts, "meta l4proto "+name)
	default:
		parts = append(parts, fmt.Sprintf("meta l4proto %d", m.Proto))
	}
	parts = append(parts, m.Verdict)
	return strings.Join(parts, " ")
}

func anyPort(from, to int32) bool { return from < 0 || (from <= 0 && to >= 65535) }

// ParseMatch parses what Text renders, and reports the direction it was
// rendered for (false when the text names neither).
func ParseMatch(s string) (m Match, ingress bool, err error) {
	bad := func() (Match, bool, error) {
		return Match{}, false, fmt.Errorf("dataplane: not a rule Isthmus writes: %q", s)
	}
	f := strings.Fields(s)
	m = Match{Proto: -1, From: -1, To: -1}
	take := func(words ...string) bool {
		if len(f) < len(words) {
			return false
		}
		for i, w := range words {
			if f[i] != w {
				return false
			}
		}
		f = f[len(words):]
		return true
	}
	switch {
	case take("iif", "lo"):
		m.Loopback, ingress = true, true
	case take("oif", "lo"):
		m.Loopback = true
	case len(f) > 1 && f[0] == "iifname" && f[1] != "" && f[1] != "*":
		m.Iif, ingress, f = f[1], true, f[2:]
	case take("ct", "state") && len(f) > 0:
		m.CtState, f = f[0], f[1:]
	case take("meta", "nfproto", "ipv4"):
	case len(f) > 2 && f[0] == "ip" && (f[1] == "saddr" || f[1] == "daddr"):
		ingress = f[1] == "saddr"
		m.Peer, f = f[2], f[3:]
		if !strings.HasPrefix(m.Peer, "@") {
			p, ok := parsePeer(m.Peer)
			if !ok || peerText(p) != m.Peer {
				return bad()
			}
		}
	default:
		return bad()
	}
	number := func(x string, max int) (int32, bool) {
		n, err := strconv.Atoi(x)
		return int32(n), err == nil && n >= 0 && n <= max && strconv.Itoa(n) == x
	}
	switch {
	case len(f) >= 3 && (f[0] == "tcp" || f[0] == "udp") && f[1] == "dport":
		m.Proto = 6
		if f[0] == "udp" {
			m.Proto = 17
		}
		lo, hi, isRange := strings.Cut(f[2], "-")
		var ok1, ok2 bool
		m.From, ok1 = number(lo, 65535)
		m.To, ok2 = m.From, true
		if isRange {
			m.To, ok2 = number(hi, 65535)
		}
		if !ok1 || !ok2 || m.From > m.To || anyPort(m.From, m.To) || (isRange && m.From == m.To) {
			return bad()
		}
		f = f[3:]
	case take("icmp", "type") && len(f) > 0:
		var ok bool
		m.Proto = 1
		if m.From, ok = number(f[0], 255); !ok {
			return bad()
		}
		f = f[1:]
		if take("icmp", "code") {
			if len(f) == 0 {
				return bad()
			}
			if m.To, ok = number(f[0], 255); !ok {
				return bad()
			}
			f = f[1:]
		}
	case take("meta", "l4proto") && len(f) > 0:
		m.Proto = -1
		for n, name := range protoNames {
			if f[0] == name {
				m.Proto = n
			}
		}
		if m.Proto < 0 {
			n, ok := number(f[0], 255)
			if !ok || protoNames[int(n)] != "" {
				return bad()
			}
			m.Proto = int(n)
		}
		if m.Proto == 6 || m.Proto == 17 {
			m.From, m.To = -1, -1
		}
		f = f[1:]
	}
	switch {
	case len(f) == 1 && (f[0] == "accept" || f[0] == "drop"):
		m.Verdict = f[0]
	case len(f) == 2 && f[0] == "jump":
		m.Verdict = f[0] + " " + f[1]
	default:
		return bad()
	}
	if m.Text(ingress) != s {
		return bad()
	}
	return m, ingress, nil
}

// parsePeer parses an address or prefix as Text writes it.
func parsePeer(s string) (netip.Prefix, bool) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, 32), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p != p.Masked() {
		return netip.Prefix{}, false
	}
	return p, true
}

// peerText is how a prefix appears in a Match: a /32 as its address.
func peerText(p netip.Prefix) string {
	if p.Bits() == 32 {
		return p.Addr().String()
	}
	return p.String()
}

// jumpTarget returns the chain a verdict jumps to, if it does.
func (m Match) jumpTarget() (string, bool) { return strings.CutPrefix(m.Verdict, "jump ") }

// setName returns the set the peer names, if it does.
func (m Match) setName() (string, bool) { return strings.CutPrefix(m.Peer, "@") }

func nftCmd(ns string) string { return "ip netns exec " + ns + " nft " }

// NftTable is the table NftTableName (family inet) in a namespace.
// Removing it removes everything in it.
type NftTable struct {
	NS string
}

func (t NftTable) Key() string       { return "nft table " + t.NS }
func (t NftTable) Namespace() string { return t.NS }
func (NftTable) phase() int          { return phaseNftTable }
func (t NftTable) String() string    { return nftCmd(t.NS) + "add table inet " + NftTableName }

// NftSet is a named set of IPv4 addresses in NftTableName. Removing it
// removes its elements; the kernel refuses while a rule uses it.
type NftSet struct {
	NS   string
	Name string
}

func (s NftSet) Key() string       { return "nft set " + s.NS + " " + s.Name }
func (s NftSet) Namespace() string { return s.NS }
func (NftSet) phase() int          { return phaseNftSet }
func (s NftSet) String() string {
	return nftCmd(s.NS) + "add set inet " + NftTableName + " " + s.Name + " '{ type ipv4_addr; }'"
}

// NftElem is one address in a set.
type NftElem struct {
	NS   string
	Set  string
	Addr netip.Addr
}

func (e NftElem) Key() string       { return "nft element " + e.NS + " " + e.Set + " " + e.Addr.String() }
func (e NftElem) Namespace() string { return e.NS }
func (NftElem) phase() int          { return phaseNftElem }
func (e NftElem) String() string {
	return nftCmd(e.NS) + "add element inet " + NftTableName + " " + e.Set + " '{ " + e.Addr.String() + " }'"
}

// NftChain is a chain of NftTableName. A regular chain (Hook "") holds
// NftRule items. A base chain (Hook "input" or "output": type filter,
// priority filter) holds its rules itself, in order: Rules, one Match
// text per line, rewritten as a whole when it differs. Removing a chain
// removes its rules; the kernel refuses while a rule jumps to it.
type NftChain struct {
	NS     string
	Name   string
	Hook   string // "", "input", "output" or "forward"
	Policy string // base chains: "accept" or "drop"
	Rules  string // base chains: their rules
}

func (c NftChain) Key() string       { return "nft chain " + c.NS + " " + c.Name }
func (c NftChain) Namespace() string { return c.NS }
func (c NftChain) phase() int {
	if c.Hook != "" {
		return phaseNftHook // after the chains its rules jump to
	}
	return phaseNftChain
}
func (c NftChain) String() string {
	s := nftCmd(c.NS) + "add chain inet " + NftTableName + " " + c.Name
	if c.Hook == "" {
		return s
	}
	s += " '{ type filter hook " + c.Hook + " priority filter; policy " + c.Policy + "; }'"
	for _, r := range c.matches() {
		s += "\n" + nftCmd(c.NS) + "add rule inet " + NftTableName + " " + c.Name + " " + r
	}
	return s
}

// matches returns the base chain's rule texts.
func (c NftChain) matches() []string {
	if c.Rules == "" {
		return nil
	}
	return strings.Split(c.Rules, "\n")
}

// baseChain returns a base chain holding rules.
func baseChain(ns, name, hook, policy string, rules []Match) NftChain {
	texts := make([]string, len(rules))
	for i, r := range rules {
		texts[i] = r.Text(ingressChain(name))
	}
	return NftChain{NS: ns, Name: name, Hook: hook, Policy: policy, Rules: strings.Join(texts, "\n")}
}

// NftRule is one rule of a regular chain. Its Match is its identity:
// two equal rules are one.
type NftRule struct {
	NS    string
	Chain string
	Match Match
}

func (r NftRule) text() string      { return r.Match.Text(ingressChain(r.Chain)) }
func (r NftRule) Key() string       { return "nft rule " + r.NS + " " + r.Chain + " " + r.text() }
func (r NftRule) Namespace() string { return r.NS }
func (NftRule) phase() int          { return phaseNftRule }
func (r NftRule) String() string {
	return nftCmd(r.NS) + "add rule inet " + NftTableName + " " + r.Chain + " " + r.text()
}

// containers returns the keys of the items whose removal takes it with
// it (besides its namespace): an address or route goes with its link, an
// element with its set, a rule with its chain, all of them with the table
// (NAT maps and chains with their NAT table).
func containers(it Item) []string {
	switch x := it.(type) {
	case NftSet:
		return []string{NftTable{NS: x.NS}.Key()}
	case NftChain:
		return []string{NftTable{NS: x.NS}.Key()}
	case NftElem:
		return []string{NftSet{NS: x.NS, Name: x.Set}.Key(), NftTable{NS: x.NS}.Key()}
	case NftRule:
		return []string{NftChain{NS: x.NS, Name: x.Chain}.Key(), NftTable{NS: x.NS}.Key()}
	case NatMap:
		return []string{NatTable{NS: x.NS, Table: x.Table}.Key()}
	case NatChain:
		return []string{NatTable{NS: x.NS, Table: x.Table}.Key()}
	case Addr:
		return []string{"link " + x.NS + " " + x.Dev}
	case Route:
		if x.Dev != "" {
			return []string{"link " + x.NS + " " + x.Dev}
		}
	}
	return nil
}
