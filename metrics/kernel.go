package metrics

import (
	"github.com/isthmusnet/isthmus/core"
)

// What FromKernel reads. The data plane counts PrivateLink traffic in
// nftables named counters (objects of type counter) of its NAT tables,
// and FromKernel reads them by these names; connections in flight come
// from conntrack.
//
// In an interface endpoint's network interface namespace, table ip
// isthmus-pl (dataplane.NatTablePL):
//
//	new       packets: one per new connection to the service (a counting
//	          rule, oifname "tr*", in the postrouting chain, which only sees
//	          a flow's first packet): flows the DNAT forwards and the
//	          connections the PPv2 proxies open alike
//	bytes     bytes: every packet forwarded between eth0 and the transit
//	          links, both directions (a counter on the forward chain's
//	          accepting rules), and every packet the namespace's own stack
//	          receives on eth0 or a transit link (counting rules in the
//	          input chain): the two legs of the PPv2 proxies' connections
//	dropped   packets: what the namespace's PrivateLink chains drop (the
//	          forward chain's policy, new flows from transit links in input)
//	rst-in    packets: TCP segments with RST that arrive on a transit link
//	          (`iifname "tr*" tcp flags & rst == rst counter name "rst-in"`)
//
// In a network load balancer node's namespace, table ip isthmus-lb
// (dataplane.NatTableLB), per transit link, <dev> being the link's device
// in that namespace (dataplane.TransitName of the endpoint's interface):
//
//	new-<dev>      packets: new connections that came in on <dev>
//	bytes-<dev>    bytes forwarded in from and out to <dev>
//	rst-out-<dev>  packets: TCP RSTs sent out on <dev> towards the endpoint
//
// TCP listeners whose target group enables proxy protocol v2 are served by
// userspace proxies in the endpoint's namespace (dataplane.Proxies), not by
// the DNAT. Their connections are counted by the same kernel counters, not
// by the proxies (whose counters start again with every proxy), so that
// one read of the namespace covers every connection and the totals survive
// a restarted daemon. ActiveConnections counts, in the endpoint's
// namespace, the flows it DNATed and the flows its proxies opened from its
// own transit addresses (one per proxied connection).
//
// With the fast path, what its NAT program carries adds to these: its
// packets' bytes to the bytes counters, and for the TCP flows it opens
// itself (dataplane.FastListener), which the nftables chains never see,
// those flows to new and new-<dev> and their RSTs to rst-in and
// rst-out-<dev> (fastpath.Stats); such flows' conntrack entries count as
// in flight until their mark says a FIN or RST went through
// (fastpath.OwnedOpen).
//
// A counter that does not exist reads as zero, so the metrics work before
// the data plane counts everything (only ActiveConnections is then real).
const (
	CounterNew     = "new"
	CounterBytes   = "bytes"
	CounterDropped = "dropped"
	CounterRstIn   = "rst-in"

	CounterNodeNew    = "new-"
	CounterNodeBytes  = "bytes-"
	CounterNodeRstOut = "rst-out-"
)

// NodeCounter is the name of a load balancer node's counter for one
// transit link: NodeCounter(CounterNodeNew, "tr0123456789ab").
func NodeCounter(kind, dev string) string { return kind + dev }

// Topologist gives the current topology; *core.Cloud is one.
type Topologist interface {
	Topology() (*core.Topology, int64, error)
}
