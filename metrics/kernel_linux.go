//go:build linux

package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/fastpath"
	"github.com/isthmusnet/isthmus/netns"
)

// FromKernel is the Source of a host's data plane (prefix as given to
// it): for every interface endpoint's network interface and every transit
// link of the topology, it reads the named counters listed in kernel.go
// and counts conntrack's open flows, in the namespaces the data plane
// made. An interface whose namespace does not exist (yet) reports zeros.
// It changes nothing in the kernel.
//
// fast, when the data plane runs the fast path (package fastpath), holds
// what the fast path carried past those counters; its bytes are added to
// BytesProcessed. It may be nil.
func FromKernel(prefix string, top Topologist, fast *fastpath.Programs) Source {
	return SourceFunc(func(ctx context.Context) (*Snapshot, error) {
		t, _, err := top.Topology()
		if err != nil {
			return nil, err
		}
		return kernelSnapshot(ctx, prefix, t, fast)
	})
}

func kernelSnapshot(ctx context.Context, prefix string, t *core.Topology, fast *fastpath.Programs) (*Snapshot, error) {
	snap := &Snapshot{}
	ownTransits := map[string]map[netip.Addr]bool{} // by endpoint interface
	for _, tr := range t.Transits {
		if ownTransits[tr.EndpointENI] == nil {
			ownTransits[tr.EndpointENI] = map[netip.Addr]bool{}
		}
		ownTransits[tr.EndpointENI][tr.EndpointAddr()] = true
	}
	for _, e := range t.VpcEndpoints {
		if e.Type != core.EndpointTypeInterface {
			continue
		}
		for _, s := range e.Subnets {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if s.ENI == "" {
				continue
			}
			ep := Endpoint{VpcID: e.VpcID, EndpointID: e.ID, EndpointType: e.Type, ServiceName: e.ServiceName, SubnetID: s.SubnetID}
			own := ownTransits[s.ENI]
			err := inNamespace(dataplane.ENINamespace(prefix, s.ENI), fast != nil, func(v *nsView) error {
				nc, ct := v.nc, v.ct
				c := counters(nc, dataplane.NatTablePL)
				ep.NewConnections = c[CounterNew].Packets
				ep.BytesProcessed = c[CounterBytes].Bytes
				ep.PacketsDropped = c[CounterDropped].Packets
				ep.RstPacketsReceived = c[CounterRstIn].Packets
				for dev := range v.links {
					if strings.HasPrefix(dev, dataplane.TransitPrefix) {
						out, in := v.fastStats(fast, dataplane.ENIDevice, dev), v.fastStats(fast, dev, dataplane.ENIDevice)
						ep.BytesProcessed += out.Bytes + in.Bytes
						ep.NewConnections += out.Flows
						ep.RstPacketsReceived += in.RSTs
					}
				}
				n, err := activeFlows(ct, func(f *netlink.ConntrackFlow) bool {
					// Flows the endpoint DNATed (their reply does not
					// come from the address they were sent to), and
					// the service legs of its PPv2 proxies' connections
					// (opened from its own transit addresses).
					if !f.Forward.DstIP.Equal(f.Reverse.SrcIP) {
						return true
					}
					a, ok := netip.AddrFromSlice(f.Forward.SrcIP)
					return ok && own[a.Unmap()]
				})
				ep.ActiveConnections = n
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("endpoint %s interface %s: %w", e.ID, s.ENI, err)
			}
			snap.Endpoints = append(snap.Endpoints, ep)
		}
	}
	for _, tr := range t.Transits {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sv := Service{ServiceID: tr.ServiceID, Zone: tr.Zone, LoadBalancerARN: tr.LoadBalancerARN, EndpointID: tr.EndpointID}
		dev := dataplane.TransitName(tr.EndpointENI)
		src := tr.EndpointAddr()
		err := inNamespace(dataplane.ENINamespace(prefix, tr.LoadBalancerENI), fast != nil, func(v *nsView) error {
			nc, ct := v.nc, v.ct
			c := counters(nc, dataplane.NatTableLB)
			sv.NewConnections = c[NodeCounter(CounterNodeNew, dev)].Packets
			in, out := v.fastStats(fast, dev, dataplane.ENIDevice), v.fastStats(fast, dataplane.ENIDevice, dev)
			sv.NewConnections += in.Flows
			sv.BytesProcessed = c[NodeCounter(CounterNodeBytes, dev)].Bytes + in.Bytes + out.Bytes
			sv.RstPacketsSent = c[NodeCounter(CounterNodeRstOut, dev)].Packets + out.RSTs
			n, err := activeFlows(ct, func(f *netlink.ConntrackFlow) bool {
				a, ok := netip.AddrFromSlice(f.Forward.SrcIP)
				return ok && a.Unmap() == src
			})
			sv.ActiveConnections = n
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("transit of endpoint %s to %s: %w", tr.EndpointID, tr.LoadBalancerENI, err)
		}
		snap.Services = append(snap.Services, sv)
	}
	return snap, nil
}

// nsView is what the metrics read in one namespace: its nftables and
// conntrack connections, and for the fast path's counters its cookie and
// links by name.
type nsView struct {
	nc     *nftables.Conn
	ct     *netlink.Handle
	cookie uint64
	links  map[string]int
}

// fastStats is what the fast path carried in through link in and out
// through link out: bytes, and the flows it opened and the RSTs it
// carried (nothing without the fast path or either link).
func (v *nsView) fastStats(fast *fastpath.Programs, in, out string) fastpath.Stats {
	i, o := v.links[in], v.links[out]
	if fast == nil || v.cookie == 0 || i == 0 || o == 0 {
		return fastpath.Stats{}
	}
	s, err := fast.Stats(v.cookie, i, o)
	if err != nil {
		return fastpath.Stats{}
	}
	return s
}

// inNamespace opens nftables and conntrack connections in the namespace
// name and runs fn with them, and with withFast its links and cookie too;
// a namespace that does not exist is not an error (fn is not run).
func inNamespace(name string, withFast bool, fn func(*nsView) error) error {
	h, err := netns.Open(name)
	if errors.Is(err, netns.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer h.Close()
	nc, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		return err
	}
	defer nc.CloseLasting()
	v := &nsView{nc: nc, links: map[string]int{}}
	if err := netns.Do(h, func() error {
		var err error
		v.ct, err = netlink.NewHandle(unix.NETLINK_NETFILTER)
		if err != nil || !withFast {
			return err
		}
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, i := range ifs {
			v.links[i.Name] = i.Index
		}
		v.cookie, _ = fastpath.Cookie() // 0: no fast-path figures
		return nil
	}); err != nil {
		if v.ct != nil {
			v.ct.Close()
		}
		return err
	}
	defer v.ct.Close()
	return fn(v)
}

type counter struct{ Packets, Bytes uint64 }

// counters reads the named counters of table (family ip); a table that
// does not exist has none.
func counters(nc *nftables.Conn, table string) map[string]counter {
	out := map[string]counter{}
	objs, err := nc.GetNamedObjects(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: table})
	if err != nil {
		return out
	}
	for _, o := range objs {
		switch x := o.(type) {
		case *nftables.NamedObj:
			if c, ok := x.Obj.(*expr.Counter); ok {
				out[x.Name] = counter{Packets: c.Packets, Bytes: c.Bytes}
			}
		case *nftables.CounterObj:
			out[x.Name] = counter{Packets: x.Packets, Bytes: x.Bytes}
		}
	}
	return out
}

// TCP conntrack states (linux/netfilter/nf_conntrack_tcp.h).
const (
	tcpSynSent     = 1
	tcpSynRecv     = 2
	tcpEstablished = 3
)

// activeFlows counts the IPv4 conntrack entries that match and are open:
// a TCP flow opening or established (CloudWatch counts SYN_SENT and
// ESTABLISHED; SYN_RECV is a flow between the two), or any UDP flow.
func activeFlows(ct *netlink.Handle, match func(*netlink.ConntrackFlow) bool) (uint64, error) {
	flows, err := ct.ConntrackTableList(netlink.ConntrackTable, netlink.FAMILY_V4)
	if err != nil {
		return 0, fmt.Errorf("conntrack: %w", err)
	}
	var n uint64
	for _, f := range flows {
		if !match(f) {
			continue
		}
		switch f.Forward.Protocol {
		case unix.IPPROTO_TCP:
			// A flow the fast path opened: conntrack does not follow
			// its state, the mark says whether it ended.
			if open, owned := fastpath.OwnedOpen(f.Mark); owned {
				if open {
					n++
				}
				continue
			}
			if p, ok := f.ProtoInfo.(*netlink.ProtoInfoTCP); ok {
				switch p.State {
				case tcpSynSent, tcpSynRecv, tcpEstablished:
					n++
				}
			}
		case unix.IPPROTO_UDP:
			n++
		}
	}
	return n, nil
}
