//go:build linux

package benchnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/netns"
)

// Routed is the topology of the direct and haproxy paths: three
// namespaces joined by veths, the middle one forwarding, no NAT.
//
//	<prefix>-cli  eth0 10.201.1.2/24, default via 10.201.1.1
//	<prefix>-rtr  cli  10.201.1.1/24 (peer of the client's eth0)
//	              srv  10.201.2.1/24 (peer of the server's eth0)
//	              net.ipv4.ip_forward=1
//	<prefix>-srv  eth0 10.201.2.2/24, default via 10.201.2.1
//
// Its veths get the segment size Isthmus gives its own
// (dataplane.BigTCP), so that the paths differ only in what lies between
// client and server.
//
// The direct path connects from the client to ServerIP; HAProxy listens
// on RouterIP in the router namespace.
type Routed struct {
	Client, Router, Server string
	ClientIP, RouterIP     netip.Addr // RouterIP: the router's address on the client's link
	ServerRouterIP         netip.Addr // the router's address on the server's link
	ServerIP               netip.Addr
}

// NewRouted builds the namespaces of Routed under prefix. On failure it
// removes whatever it made.
func NewRouted(prefix string) (r *Routed, err error) {
	r = &Routed{
		Client: prefix + "-cli", Router: prefix + "-rtr", Server: prefix + "-srv",
		ClientIP:       netip.MustParseAddr("10.201.1.2"),
		RouterIP:       netip.MustParseAddr("10.201.1.1"),
		ServerRouterIP: netip.MustParseAddr("10.201.2.1"),
		ServerIP:       netip.MustParseAddr("10.201.2.2"),
	}
	made := r // r is nil by the time a failing return reaches the defer
	defer func() {
		if err != nil {
			made.Close()
			r = nil
		}
	}()
	hs := map[string]*nsLink{}
	defer func() {
		for _, h := range hs {
			h.close()
		}
	}()
	for _, name := range []string{r.Client, r.Router, r.Server} {
		if err := netns.Create(name); err != nil {
			return nil, err
		}
		h, err := openNS(name)
		if err != nil {
			return nil, err
		}
		hs[name] = h
		if err := h.up("lo"); err != nil {
			return nil, err
		}
		if err := setSysctls(name, ClientSysctls); err != nil {
			return nil, err
		}
	}
	if err := setSysctls(r.Router, map[string]string{"net.ipv4.ip_forward": "1"}); err != nil {
		return nil, err
	}
	rt := hs[r.Router]
	for _, leg := range []struct {
		ns, routerDev     string
		routerIP, otherIP netip.Addr
	}{
		{r.Client, "cli", r.RouterIP, r.ClientIP},
		{r.Server, "srv", r.ServerRouterIP, r.ServerIP},
	} {
		other := hs[leg.ns]
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: leg.routerDev}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(other.fd))}
		if err := rt.nl.LinkAdd(v); err != nil {
			return nil, fmt.Errorf("netns %s: adding veth %s: %w", r.Router, leg.routerDev, err)
		}
		// The links Isthmus makes: the same segment sizes on both sides
		// of the comparison.
		for _, end := range []struct {
			h    *nsLink
			name string
		}{{rt, leg.routerDev}, {other, "eth0"}} {
			l, err := end.h.nl.LinkByName(end.name)
			if err != nil {
				return nil, err
			}
			dataplane.BigTCP(end.h.nl, l)
		}
		if err := rt.addr(leg.routerDev, netip.PrefixFrom(leg.routerIP, 24)); err != nil {
			return nil, err
		}
		if err := other.addr("eth0", netip.PrefixFrom(leg.otherIP, 24)); err != nil {
			return nil, err
		}
		if err := rt.up(leg.routerDev); err != nil {
			return nil, err
		}
		if err := other.up("eth0"); err != nil {
			return nil, err
		}
		if err := other.nl.RouteAdd(&netlink.Route{Gw: net.IP(leg.routerIP.AsSlice())}); err != nil {
			return nil, fmt.Errorf("netns %s: default route via %s: %w", leg.ns, leg.routerIP, err)
		}
	}
	return r, nil
}

// Namespaces are the names of Routed's namespaces.
func (r *Routed) Namespaces() []string { return []string{r.Client, r.Router, r.Server} }

// Close deletes the namespaces (their links go with them). Missing ones
// are fine.
func (r *Routed) Close() error {
	var errs []error
	for _, name := range r.Namespaces() {
		if err := netns.Delete(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ClientSysctls are set in every client namespace (and HAProxy's, which
// is a client of the server) so that a connection-rate run of many
// thousands of short connections does not run out of ports: the whole
// ephemeral range, and TIME_WAIT ports reused for new outgoing
// connections (safe with TCP timestamps).
var ClientSysctls = map[string]string{
	"net.ipv4.ip_local_port_range": "1024 65535",
	"net.ipv4.tcp_tw_reuse":        "1",
}

// setSysctls writes sysctls inside namespace ns (the files under
// /proc/sys/net are those of the namespace of the thread that opens them).
func setSysctls(ns string, kv map[string]string) error {
	return netns.DoNamed(ns, func() error {
		for k, v := range kv {
			if err := os.WriteFile("/proc/sys/"+strings.ReplaceAll(k, ".", "/"), []byte(v), 0o644); err != nil {
				return fmt.Errorf("netns %s: sysctl %s=%s: %w", ns, k, v, err)
			}
		}
		return nil
	})
}

// nsLink is a netlink handle opened inside a namespace (with netns.Do),
// usable from any goroutine.
type nsLink struct {
	name string
	fd   netns.Handle
	nl   *netlink.Handle
}

func openNS(name string) (*nsLink, error) {
	fd, err := netns.Open(name)
	if err != nil {
		return nil, err
	}
	var nl *netlink.Handle
	err = netns.Do(fd, func() error {
		var err error
		nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("netns %s: opening netlink: %w", name, err)
	}
	return &nsLink{name: name, fd: fd, nl: nl}, nil
}

func (h *nsLink) close() {
	h.nl.Close()
	h.fd.Close()
}

func (h *nsLink) up(dev string) error {
	l, err := h.nl.LinkByName(dev)
	if err == nil {
		err = h.nl.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("netns %s: %s up: %w", h.name, dev, err)
	}
	return nil
}

func (h *nsLink) addr(dev string, p netip.Prefix) error {
	l, err := h.nl.LinkByName(dev)
	if err == nil {
		err = h.nl.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}})
	}
	if err != nil {
		return fmt.Errorf("netns %s: %s on %s: %w", h.name, p, dev, err)
	}
	return nil
}
