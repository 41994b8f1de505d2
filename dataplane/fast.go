package dataplane

// The fast path (package fastpath): tc programs that let packets skip the
// IP stacks of the namespaces in the middle of a path. Plan adds these
// items only with PlanOptions.FastPath, which the daemon sets when the
// kernel took the programs; without them every packet takes the ordinary
// path, which carries the same traffic more slowly.
//
//	<prefix>-vpc-…  v<12 hex>  isthmus_port on each interface's bridge port;
//	                           the router's forwarding database maps each
//	                           interface's MAC to its port and bridge, and a
//	                           frame takes the shortcut only within its bridge
//	<prefix>-eni-…  eth0, tr…  isthmus_nat on every link of an available
//	                           endpoint's and a load balancer node's
//	                           namespace (where plan_pl.go translates)
//
// The namespaces where the NAT program runs set
// net.netfilter.nf_conntrack_tcp_be_liberal: conntrack there sees only the
// segments the fast path leaves to it (handshakes, FIN and RST), so it
// must not judge their sequence numbers against a window it could not
// follow. This is what the kernel's own flowtables do for the flows they
// offload. The TCP flows of FastListener items it sees none of: the
// program opens them (their conntrack entries carry
// fastpath.CtMarkOwned) and follows their end itself.
//
// The programs' maps hold 65,536 entries each: interfaces behind the
// routers' ports, (namespace, in, out) link pairs the NAT program counts,
// listeners it opens flows of; 262,144 backend buckets and allowed client
// prefixes. Past that, ensuring a PortEntry or FastListener fails (the
// reconciler retries and reports it) and such frames take the bridge, such
// SYNs the ordinary path; nothing is lost but speed. A TCProgram is a
// program on its link's tcx ingress; ensuring or removing one also removes
// the cls_bpf filter (and clsact qdisc) that versions from before tcx
// attached.
//
// With the fast path, the TCP listeners whose target group enables proxy
// protocol v2 are kernel NAT like the others, at interface endpoints and
// for clients in a load balancer's own VPC, and the NAT program writes
// the header (PPv2Entry, fastpath.SetPPv2); without it, a userspace proxy
// per listener does (Proxies).

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/isthmusnet/isthmus/proxy"
)

// TC program kinds, the names of the programs in package fastpath.
const (
	FastPort = "isthmus_port"
	FastNAT  = "isthmus_nat"
	// FastStale is what Observe reports for a program that another
	// process loaded (an earlier daemon): it works, but with maps this
	// process cannot update, so Ensure replaces it.
	FastStale = "stale"
)

// BeLiberal is the conntrack sysctl of the namespaces that run the NAT
// program.
const BeLiberal = "net.netfilter.nf_conntrack_tcp_be_liberal"

// TCProgram is one of the fast path's programs on the tcx ingress of link
// Dev in NS.
type TCProgram struct {
	NS   string
	Dev  string
	Kind string
}

func (p TCProgram) Key() string       { return "tc " + p.NS + " " + p.Dev }
func (p TCProgram) Namespace() string { return p.NS }
func (TCProgram) phase() int          { return phaseFast }
func (p TCProgram) String() string {
	return "ip netns exec " + p.NS + " bpftool net attach tcx_ingress name " + p.Kind + " dev " + p.Dev + " # of package fastpath"
}

// PortEntry is one entry of a router's forwarding database for the port
// program: frames to MAC that come in on a port of Bridge go to the
// namespace at the other end of Port (a port of Bridge).
type PortEntry struct {
	NS     string
	MAC    string
	Port   string
	Bridge string
}

func (e PortEntry) Key() string       { return "fdb " + e.NS + " " + e.MAC }
func (e PortEntry) Namespace() string { return e.NS }
func (PortEntry) phase() int          { return phaseFast }
func (e PortEntry) String() string {
	return "# fastpath fdb " + e.NS + ": " + e.MAC + " via " + e.Port + " on " + e.Bridge
}

// PPv2Entry makes the NAT program of namespace NS write a PROXY protocol
// v2 header into every new TCP flow to Listen, a listener port whose
// target group enables proxy_protocol_v2.enabled: at an interface
// endpoint's address, with AWS's TLV carrying the id of Endpoint; at a
// load balancer's own address (for clients in its VPC), with Endpoint ""
// and no TLV. The client's address and port are the header's source,
// Listen its destination (PPv2Header). Such listeners are then kernel NAT
// like the others, rather than served by a userspace proxy (Proxies).
type PPv2Entry struct {
	NS       string
	Listen   netip.AddrPort
	Endpoint string
}

func (e PPv2Entry) Key() string       { return "ppv2 " + e.NS + " " + e.Listen.String() }
func (e PPv2Entry) Namespace() string { return e.NS }
func (PPv2Entry) phase() int          { return phaseFast }
func (e PPv2Entry) String() string {
	s := "# fastpath ppv2 " + e.NS + ": " + e.Listen.String()
	if e.Endpoint != "" {
		s += " for " + e.Endpoint
	}
	return s
}

// PPv2Header returns the header the NAT program writes for the flows
// through interface endpoint endpoint ("" for the flows of clients in a
// load balancer's own VPC), with an empty address block (the program fills
// it in per flow): PROXY, INET, STREAM and, for an endpoint, the
// PP2_TYPE_AWS TLV with subtype PP2_SUBTYPE_AWS_VPCE_ID, as Proxies writes
// it.
func PPv2Header(endpoint string) ([]byte, error) {
	any4 := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	h := proxy.NewHeader(any4, any4)
	h.VPCEndpointID = endpoint
	return h.MarshalBinary()
}

// ppv2StaleHeader is the Endpoint Observe reports for a header that
// PPv2Header did not make (another version's): the plan never wants it,
// so Ensure writes the right one.
const ppv2StaleHeader = "(stale header)"

// ppv2Endpoint is the endpoint id a header of PPv2Header carries ("" for
// none), or ppv2StaleHeader for any other header.
func ppv2Endpoint(b []byte) string {
	var h proxy.Header
	if err := h.UnmarshalBinary(b); err != nil {
		return ppv2StaleHeader
	}
	if want, err := PPv2Header(h.VPCEndpointID); err != nil || !bytes.Equal(want, b) {
		return ppv2StaleHeader
	}
	return h.VPCEndpointID
}

// addFastNAT puts the NAT program on devs of a translating namespace.
func addFastNAT(hc *HostConfig, opts PlanOptions, owner, ns string, devs ...string) {
	if !opts.FastPath {
		return
	}
	for _, d := range devs {
		hc.Add(owner, TCProgram{NS: ns, Dev: d, Kind: FastNAT})
	}
}

// FastListener makes the NAT program of namespace NS open the flows of
// the TCP listener Listen itself (fastpath.SetListener): a client's SYN
// that comes in on device In gets its conntrack entry, with the
// translation the namespace's nftables rules would give it, from the
// program, and takes the shortcut with the rest of its flow, so that a
// connection's handshake and end cross the namespace as cheaply as its
// data. At an interface endpoint (Buckets 0) the flow goes to To (the load
// balancer node's end of the transit link, the port unchanged) from From
// (the endpoint's end), and only from the clients in Allow (the
// endpoint's security groups' inbound rules for the port, with what they
// never filter; space-separated prefixes, sorted). At a node it goes to
// one of the listener port's Buckets targets (FastBackends) from From,
// the load balancer's address. A SYN the program does not take (a client
// the groups do not allow, a target not in the map) takes the ordinary
// path, where nftables decides as before.
type FastListener struct {
	NS      string
	Listen  netip.AddrPort
	In      string
	To      netip.Addr
	From    netip.Addr
	Buckets int
	Allow   string
}

func (e FastListener) Key() string       { return "fastnat " + e.NS + " " + e.Listen.String() }
func (e FastListener) Namespace() string { return e.NS }
func (FastListener) phase() int          { return phaseFastFlows }
func (e FastListener) String() string {
	s := "# fastpath listener " + e.NS + ": " + e.Listen.String() + " from " + e.In
	if e.Buckets > 0 {
		return s + fmt.Sprintf(" to %d buckets, as %s", e.Buckets, e.From)
	}
	return s + " to " + e.To.String() + " as " + e.From.String() + ", clients " + e.Allow
}

// allow parses Allow.
func (e FastListener) allow() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Fields(e.Allow) {
		p, err := netip.ParsePrefix(f)
		if err != nil || !p.Addr().Is4() {
			return nil, fmt.Errorf("fastpath listener %s: clients %q: not an IPv4 prefix", e.Listen, f)
		}
		out = append(out, p)
	}
	return out, nil
}

// allowText is the Allow of prefixes: masked, sorted, without repeats.
func allowText(ps []netip.Prefix) string {
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, p := range ps {
		if p = p.Masked(); p.Addr().Is4() && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	ss := make([]string, len(out))
	for i, p := range out {
		ss[i] = p.String()
	}
	return strings.Join(ss, " ")
}

// FastBackends deals the new flows that the NAT program of a load
// balancer node (namespace NS) opens to TCP listener port Port over its
// targets, one per bucket as the node's nftables map deals them (Targets:
// space-separated address:port, a power of two of them).
type FastBackends struct {
	NS      string
	Port    uint16
	Targets string
}

func (b FastBackends) Key() string       { return "fastbackends " + b.NS + " " + strconv.Itoa(int(b.Port)) }
func (b FastBackends) Namespace() string { return b.NS }
func (FastBackends) phase() int          { return phaseFastFlows }
func (b FastBackends) String() string {
	return "# fastpath backends " + b.NS + ": port " + strconv.Itoa(int(b.Port)) + ": " + b.Targets
}

// targets parses Targets.
func (b FastBackends) targets() ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, f := range strings.Fields(b.Targets) {
		t, err := netip.ParseAddrPort(f)
		if err != nil || !t.Addr().Is4() {
			return nil, fmt.Errorf("fastpath backends of port %d: %q: not an IPv4 address and port", b.Port, f)
		}
		out = append(out, t)
	}
	if n := len(out); n == 0 || n&(n-1) != 0 {
		return nil, fmt.Errorf("fastpath backends of port %d: %d buckets, not a power of two", b.Port, n)
	}
	return out, nil
}
