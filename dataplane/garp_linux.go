package dataplane

import (
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"

	"github.com/isthmusnet/isthmus/netns"
)

// announce sends a gratuitous ARP request for addr from dev of c's
// namespace (an interface's eth0, just given its address). Neighbours
// whose ARP cache holds addr, because a deleted interface had it a moment
// ago, then learn the new MAC at once instead of sending to the old one
// until their entry goes stale. (Linux's arp_notify announces only when a
// link comes up, before Isthmus gives it its address.)
func (k *LinuxKernel) announce(c *nsConn, dev string, addr netip.Addr) error {
	return netns.Do(c.fd, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		cl, err := arp.Dial(ifi)
		if err != nil {
			return err
		}
		defer cl.Close()
		p, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, addr, ethernet.Broadcast, addr)
		if err != nil {
			return err
		}
		return cl.WriteTo(p, ethernet.Broadcast)
	})
}
