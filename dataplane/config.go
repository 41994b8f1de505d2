package dataplane

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// An Item is one piece of kernel state that the data plane manages: a
// namespace, a sysctl, a link, a veth pair, an address, a route or a
// policy-routing rule. Items are comparable values; Key is an item's
// identity (two items with one Key are two versions of the same thing) and
// String renders it as the iproute2 command(s) that would create it.
//
// The set of item types is closed: Netns, Sysctl, Link, Veth, Addr, Route,
// Rule, the nftables items of security groups (NftTable, NftSet, NftElem,
// NftChain, NftRule; see nft.go), PrivateLink's transit links (Transit)
// and NAT tables (NatTable, NatMap, NatChain; see nat.go), the fast path's
// programs and forwarding database (TCProgram, PortEntry; see fast.go),
// and ResolvConf. Later parts of the data
// plane add types here (and to the Kernel implementations) rather than
// going around the reconciler.
type Item interface {
	Key() string
	String() string
	// Namespace is the namespace the item lives in (a Netns's own name).
	Namespace() string
	phase() int
}

// The phases order items for creation: a namespace before what is inside
// it, links before their addresses, addresses before the routes that use
// them. Removal runs in reverse.
const (
	phaseNetns = iota
	phaseSysctl
	phaseLink
	phaseVeth
	phaseTransit
	phaseAddr
	phaseRoute
	phaseRule
	phaseNftTable
	phaseNftSet
	phaseNftElem
	phaseNftChain
	phaseNftRule
	phaseNftHook
	phaseFast // before NAT: a flow the NAT carries finds the programs there
	// After every program: a flow the NAT program opens itself must find
	// the programs on all its links (conntrack would find its SYN-ACK
	// invalid on the ordinary path).
	phaseFastFlows
	phaseNatTable
	phaseNatMap
	phaseNatChain
	phaseFile
)

// Netns is a named network namespace, mounted on /run/netns/<Name>.
type Netns struct {
	Name string
}

func (n Netns) Key() string       { return "netns " + n.Name }
func (n Netns) String() string    { return "ip netns add " + n.Name }
func (n Netns) Namespace() string { return n.Name }
func (Netns) phase() int          { return phaseNetns }

// Sysctl is a value under /proc/sys/net of a namespace, by its dotted name
// (net.ipv4.ip_forward). Removing a Sysctl item leaves the value as it is:
// it goes away with its namespace.
type Sysctl struct {
	NS    string
	Name  string
	Value string
}

func (s Sysctl) Key() string { return "sysctl " + s.NS + " " + s.Name }
func (s Sysctl) String() string {
	return "ip netns exec " + s.NS + " sysctl -w " + s.Name + "=" + s.Value
}
func (s Sysctl) Namespace() string { return s.NS }
func (Sysctl) phase() int          { return phaseSysctl }

// Link kinds that Link items may have.
const (
	KindLoopback = "loopback" // lo: exists in every namespace, never created or deleted
	KindBridge   = "bridge"
)

// Link is a network device that lives in one namespace: lo or a bridge. (A
// veth pair spans two namespaces and is a Veth.)
type Link struct {
	NS   string
	Name string
	Kind string
	// MAC is the link's hardware address; "" leaves it to the kernel (and
	// then any address matches).
	MAC string
	Up  bool
}

func (l Link) Key() string       { return "link " + l.NS + " " + l.Name }
func (l Link) Namespace() string { return l.NS }
func (Link) phase() int          { return phaseLink }
func (l Link) String() string {
	if l.Kind == KindLoopback {
		return "ip -n " + l.NS + " link set " + l.Name + " " + upDown(l.Up)
	}
	var b strings.Builder
	b.WriteString("ip -n " + l.NS + " link add " + l.Name)
	if l.MAC != "" {
		b.WriteString(" address " + l.MAC)
	}
	b.WriteString(" " + upDown(l.Up) + " type " + l.Kind)
	return b.String()
}

// Veth is a veth pair: one end Name in NS, the other PeerName in PeerNS,
// optionally enslaved to the bridge PeerMaster there. Both ends share Up.
type Veth struct {
	NS         string
	Name       string
	MAC        string // of the Name end; "" leaves it to the kernel
	PeerNS     string
	PeerName   string
	PeerMaster string
	Up         bool
}

func (v Veth) Key() string       { return "link " + v.NS + " " + v.Name }
func (v Veth) Namespace() string { return v.NS }
func (Veth) phase() int          { return phaseVeth }
func (v Veth) String() string {
	var b strings.Builder
	b.WriteString("ip -n " + v.NS + " link add " + v.Name)
	if v.MAC != "" {
		b.WriteString(" address " + v.MAC)
	}
	b.WriteString(" " + upDown(v.Up) + " type veth peer name " + v.PeerName + " netns " + v.PeerNS + "\n")
	b.WriteString("ip -n " + v.PeerNS + " link set " + v.PeerName)
	if v.PeerMaster != "" {
		b.WriteString(" master " + v.PeerMaster)
	}
	b.WriteString(" " + upDown(v.Up))
	return b.String()
}

// peerKey is the Key a Link of the peer end's name would have.
func (v Veth) peerKey() string { return "link " + v.PeerNS + " " + v.PeerName }

// Addr is an IPv4 address with its prefix length on a link.
type Addr struct {
	NS     string
	Dev    string
	Prefix netip.Prefix
}

func (a Addr) Key() string { return "addr " + a.NS + " " + a.Dev + " " + a.Prefix.String() }
func (a Addr) String() string {
	return "ip -n " + a.NS + " addr add " + a.Prefix.String() + " dev " + a.Dev
}
func (a Addr) Namespace() string { return a.NS }
func (Addr) phase() int          { return phaseAddr }

// Routing tables with names.
const (
	TableMain = 254
)

// Route types.
const (
	RouteUnicast   = ""
	RouteBlackhole = "blackhole"
)

// Route is an IPv4 route in one table of a namespace. A table holds at most
// one route per destination (the Key). A unicast route has a Dev and, if
// it is not on-link, a Via gateway; a blackhole route has neither.
type Route struct {
	NS    string
	Table int
	Dst   netip.Prefix
	Type  string
	Dev   string
	Via   netip.Addr
}

func (r Route) Key() string {
	return fmt.Sprintf("route %s %d %s", r.NS, r.Table, r.Dst)
}
func (r Route) Namespace() string { return r.NS }
func (Route) phase() int          { return phaseRoute }
func (r Route) String() string {
	var b strings.Builder
	b.WriteString("ip -n " + r.NS + " route add ")
	if r.Type != RouteUnicast {
		b.WriteString(r.Type + " ")
	}
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Via.IsValid() {
		b.WriteString(" via " + r.Via.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Table != TableMain {
		fmt.Fprintf(&b, " table %d", r.Table)
	}
	return b.String()
}

// Rule is an IPv4 policy-routing rule: packets that came in on Iif look up
// Table. Several rules may share a preference; the Key holds every field.
type Rule struct {
	NS    string
	Pref  int
	Iif   string
	Table int
}

func (r Rule) Key() string {
	return fmt.Sprintf("rule %s %d %s %d", r.NS, r.Pref, r.Iif, r.Table)
}
func (r Rule) Namespace() string { return r.NS }
func (Rule) phase() int          { return phaseRule }
func (r Rule) String() string {
	return fmt.Sprintf("ip -n %s rule add pref %d iif %s lookup %d", r.NS, r.Pref, r.Iif, r.Table)
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// HostConfig is a set of items: the desired state Plan computes, or the
// state a Kernel observed. Owners says which API object each item exists
// for (a vpc-, subnet-, rtb- or eni- id), so that a failure can be charged
// to that object; Problems lists objects Plan could not turn into kernel
// state, and why.
type HostConfig struct {
	Items    map[string]Item
	Owners   map[string]string
	Problems map[string]string
}

// NewHostConfig returns an empty configuration.
func NewHostConfig() *HostConfig {
	return &HostConfig{Items: map[string]Item{}, Owners: map[string]string{}, Problems: map[string]string{}}
}

// Add puts it into c, owned by owner ("" if unknown).
func (c *HostConfig) Add(owner string, it Item) {
	k := it.Key()
	c.Items[k] = it
	if owner != "" {
		c.Owners[k] = owner
	} else {
		delete(c.Owners, k)
	}
}

// Clone returns a copy of c that shares nothing with it.
func (c *HostConfig) Clone() *HostConfig {
	out := NewHostConfig()
	for k, it := range c.Items {
		out.Items[k] = it
	}
	for k, o := range c.Owners {
		out.Owners[k] = o
	}
	for k, p := range c.Problems {
		out.Problems[k] = p
	}
	return out
}

// Sorted returns the items in creation order: by phase, then namespace,
// then key.
func (c *HostConfig) Sorted() []Item {
	out := make([]Item, 0, len(c.Items))
	for _, it := range c.Items {
		out = append(out, it)
	}
	sortItems(out)
	return out
}

func sortItems(items []Item) {
	sort.Slice(items, func(i, j int) bool { return itemLess(items[i], items[j]) })
}

func itemLess(a, b Item) bool {
	if a.phase() != b.phase() {
		return a.phase() < b.phase()
	}
	if a.Namespace() != b.Namespace() {
		return a.Namespace() < b.Namespace()
	}
	return a.Key() < b.Key()
}

// String renders c as the iproute2 commands that build it from nothing,
// one item after another in creation order: a readable, diffable,
// replayable picture of the kernel state.
func (c *HostConfig) String() string {
	var b strings.Builder
	for _, it := range c.Sorted() {
		b.WriteString(it.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// ProblemsText renders Problems, one "id: why" line each, sorted.
func (c *HostConfig) ProblemsText() string {
	var lines []string
	for id, p := range c.Problems {
		lines = append(lines, id+": "+p)
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
