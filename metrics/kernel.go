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
//	new       packets: one per new connection (a counter on the DNAT rule of
//	          the prerouting chain, which only sees a flow's first packet)
//	bytes     bytes: every packet forwarded between eth0 and the transit
//	          links, both directions (a counter on the forward chain's
//	          accepting rules)
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
