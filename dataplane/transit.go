package dataplane

import (
	"net/netip"
	"strings"
)

// TransitPrefix starts the name of both ends of a transit link.
const TransitPrefix = "tr"

// TransitName is the name of a transit link's end in one namespace, after
// the interface at the other end: tr<first 12 hex digits of its id>. (An
// endpoint interface's namespace has one link per load balancer node, a
// node's one per endpoint interface, so the names never collide.)
func TransitName(otherENI string) string { return TransitPrefix + idHex(otherENI)[:12] }

// Transit is a transit link of PrivateLink's hyperplane: a veth pair
// joining two interface namespaces directly (no bridge), each end up and
// holding one address of a /31 pair from core.TransitPool. NS sorts
// before PeerNS (as Observe pairs veth ends).
//
// Removing a Transit deletes the pair and then every conntrack entry of
// either address in both namespaces, so that the flows it carried end:
// the next packet of such a flow finds no NAT and is answered with a
// reset. It is removed this way even when one of its namespaces is being
// deleted, so that the other side's flows end too.
type Transit struct {
	NS       string
	Name     string
	Addr     netip.Prefix
	PeerNS   string
	PeerName string
	PeerAddr netip.Prefix
}

func (t Transit) Key() string       { return "link " + t.NS + " " + t.Name }
func (t Transit) Namespace() string { return t.NS }
func (Transit) phase() int          { return phaseTransit }
func (t Transit) String() string {
	var b strings.Builder
	b.WriteString("ip -n " + t.NS + " link add " + t.Name + " up type veth peer name " + t.PeerName + " netns " + t.PeerNS + "\n")
	b.WriteString("ip -n " + t.PeerNS + " link set " + t.PeerName + " up\n")
	b.WriteString("ip -n " + t.NS + " addr add " + t.Addr.String() + " dev " + t.Name + "\n")
	b.WriteString("ip -n " + t.PeerNS + " addr add " + t.PeerAddr.String() + " dev " + t.PeerName)
	return b.String()
}

// newTransit orders the two ends as Observe does.
func newTransit(ns, name string, addr netip.Prefix, peerNS, peerName string, peerAddr netip.Prefix) Transit {
	if peerNS < ns {
		ns, name, addr, peerNS, peerName, peerAddr = peerNS, peerName, peerAddr, ns, name, addr
	}
	return Transit{NS: ns, Name: name, Addr: addr, PeerNS: peerNS, PeerName: peerName, PeerAddr: peerAddr}
}

// foldTransits turns the veth pairs and addresses that Observe found for
// transit links into Transit items: a veth pair with no bridge whose two
// ends are named tr…, and the addresses on them.
func foldTransits(hc *HostConfig) {
	addrsOn := map[string][]Addr{}
	for _, it := range hc.Items {
		if a, ok := it.(Addr); ok && strings.HasPrefix(a.Dev, TransitPrefix) {
			addrsOn[a.NS+" "+a.Dev] = append(addrsOn[a.NS+" "+a.Dev], a)
		}
	}
	one := func(ns, dev string) netip.Prefix {
		as := addrsOn[ns+" "+dev]
		if len(as) != 1 {
			return netip.Prefix{} // none or several: not what any plan wants
		}
		return as[0].Prefix
	}
	for k, it := range hc.Items {
		v, ok := it.(Veth)
		if !ok || v.PeerMaster != "" || !strings.HasPrefix(v.Name, TransitPrefix) || !strings.HasPrefix(v.PeerName, TransitPrefix) {
			continue
		}
		t := Transit{NS: v.NS, Name: v.Name, Addr: one(v.NS, v.Name), PeerNS: v.PeerNS, PeerName: v.PeerName, PeerAddr: one(v.PeerNS, v.PeerName)}
		if !v.Up {
			t.Addr = netip.Prefix{} // differs from any plan: Ensure brings it up
		}
		for _, dev := range [][2]string{{v.NS, v.Name}, {v.PeerNS, v.PeerName}} {
			for _, a := range addrsOn[dev[0]+" "+dev[1]] {
				delete(hc.Items, a.Key())
				delete(hc.Owners, a.Key())
			}
		}
		hc.Items[k] = t
	}
}
