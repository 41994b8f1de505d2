package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/fastpath"
	"github.com/isthmusnet/isthmus/netns"
)

// LinuxKernel is the Kernel of this machine, over rtnetlink. It keeps one
// netlink socket per namespace, opened inside the namespace with netns.Do
// (netlink's own NewHandleAt returns its thread to the scheduler even when
// switching back failed) and used from then on from any goroutine. A
// namespace deleted and re-created under the same name is noticed (by its
// inode) and reopened.
type LinuxKernel struct {
	log *slog.Logger

	mu    sync.Mutex
	conns map[string]*nsConn
	// The fast path's programs (fast_linux.go), nil until
	// EnableFastPath.
	fast *fastpath.Programs
}

type nsConn struct {
	fd       netns.Handle
	nl       *netlink.Handle
	nft      *nftables.Conn
	dev, ino uint64
	cookie   uint64 // the namespace's cookie, once asked (fast_linux.go)
}

func (c *nsConn) close() {
	c.nft.CloseLasting()
	c.nl.Close()
	c.fd.Close()
}

// NewLinuxKernel returns the Kernel of this machine. Close releases its
// sockets.
func NewLinuxKernel(log *slog.Logger) *LinuxKernel {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LinuxKernel{log: log, conns: map[string]*nsConn{}}
}

// Close releases every open namespace handle and socket. The kernel state
// stays as it is.
func (k *LinuxKernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for name, c := range k.conns {
		c.close()
		delete(k.conns, name)
	}
	if k.fast != nil {
		k.fast.Close() // the attached programs stay
		k.fast = nil
	}
	return nil
}

// conn returns the netlink handle of namespace name; the error wraps
// netns.ErrNotExist if there is none.
func (k *LinuxKernel) conn(name string) (*nsConn, error) {
	var st unix.Stat_t
	if err := unix.Stat(netns.Path(name), &st); err != nil {
		k.drop(name)
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("netns %s: %w", name, netns.ErrNotExist)
		}
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	k.mu.Lock()
	c := k.conns[name]
	k.mu.Unlock()
	if c != nil && c.dev == uint64(st.Dev) && c.ino == st.Ino {
		return c, nil
	}
	k.drop(name)
	fd, err := netns.Open(name)
	if err != nil {
		return nil, err
	}
	var nl *netlink.Handle
	err = netns.Do(fd, func() error {
		var err error
		// NETLINK_NETFILTER too, for conntrack: a handle without it would
		// open its conntrack socket in whatever namespace the caller is in.
		nl, err = netlink.NewHandle(unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER)
		return err
	})
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("netns %s: opening netlink: %w", name, err)
	}
	if err := nl.SetSocketTimeout(30 * time.Second); err != nil {
		nl.Close()
		fd.Close()
		return nil, err
	}
	nc, err := openNft(fd)
	if err != nil {
		nl.Close()
		fd.Close()
		return nil, fmt.Errorf("netns %s: opening nftables: %w", name, err)
	}
	var fst unix.Stat_t
	if err := unix.Fstat(int(fd), &fst); err != nil {
		nc.CloseLasting()
		nl.Close()
		fd.Close()
		return nil, err
	}
	c = &nsConn{fd: fd, nl: nl, nft: nc, dev: uint64(fst.Dev), ino: fst.Ino}
	k.mu.Lock()
	k.conns[name] = c
	k.mu.Unlock()
	return c, nil
}

func (k *LinuxKernel) drop(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c := k.conns[name]; c != nil {
		c.close()
		delete(k.conns, name)
	}
}

// missing reports whether err says that something is not there: the
// "missing is not an error" of Remove.
func missing(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.Is(err, netns.ErrNotExist) || errors.As(err, &lnf) ||
		errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ESRCH) ||
		errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EADDRNOTAVAIL)
}

// Ensure implements Kernel.
func (k *LinuxKernel) Ensure(it Item) error {
	switch x := it.(type) {
	case Netns:
		if err := netns.Create(x.Name); err != nil && !errors.Is(err, netns.ErrExist) {
			return err
		}
		return nil
	case Sysctl:
		return k.setSysctl(x)
	case Link:
		return k.ensureLink(x)
	case Veth:
		return k.ensureVeth(x)
	case Addr:
		c, l, err := k.link(x.NS, x.Dev)
		if err != nil {
			return err
		}
		err = c.nl.AddrAdd(l, &netlink.Addr{IPNet: ipNet(x.Prefix)})
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		if err == nil && x.Dev == ENIDevice {
			// A new address on an interface: tell the subnet, whose
			// caches may hold it for a deleted interface. Best effort.
			if err := k.announce(c, x.Dev, x.Prefix.Addr()); err != nil {
				k.log.Debug("gratuitous ARP", "ns", x.NS, "addr", x.Prefix.Addr(), "err", err)
			}
		}
		return err
	case Route:
		c, err := k.conn(x.NS)
		if err != nil {
			return err
		}
		r, err := k.nlRoute(c, x)
		if err != nil {
			return err
		}
		return c.nl.RouteReplace(r)
	case Rule:
		c, err := k.conn(x.NS)
		if err != nil {
			return err
		}
		err = c.nl.RuleAdd(nlRule(x))
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		return err
	case NftTable, NftSet, NftElem, NftChain, NftRule:
		return k.ensureNft(it)
	case Transit:
		return k.ensureTransit(x)
	case NatTable, NatMap, NatChain:
		return k.ensureNat(it)
	case TCProgram:
		return k.ensureTC(x)
	case PortEntry:
		return k.ensurePort(x)
	case PPv2Entry:
		return k.ensurePPv2(x)
	case FastListener:
		return k.ensureFastListener(x)
	case FastBackends:
		return k.ensureFastBackends(x)
	case ResolvConf:
		if _, err := k.conn(x.NS); err != nil {
			return err
		}
		return writeResolvConf(x)
	}
	return fmt.Errorf("dataplane: unknown item %T", it)
}

// Remove implements Kernel.
func (k *LinuxKernel) Remove(it Item) error {
	err := k.remove(it)
	if missing(err) {
		return nil
	}
	return err
}

func (k *LinuxKernel) remove(it Item) error {
	switch x := it.(type) {
	case Netns:
		// Delete the links first, so that veth pairs go at once even if a
		// process or socket keeps the namespace alive.
		if c, err := k.conn(x.Name); err == nil {
			links, err := c.nl.LinkList()
			if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
				return err
			}
			for _, l := range links {
				if l.Type() == "veth" || l.Type() == "bridge" {
					if err := c.nl.LinkDel(l); err != nil && !missing(err) {
						return fmt.Errorf("netns %s: deleting %s: %w", x.Name, l.Attrs().Name, err)
					}
				}
			}
		}
		k.drop(x.Name)
		if err := netns.Delete(x.Name); err != nil {
			return err
		}
		return removeEtcDir(x.Name)
	case Sysctl:
		return nil
	case Link:
		c, l, err := k.link(x.NS, x.Name)
		if err != nil {
			return err
		}
		if l.Type() == "device" && l.Attrs().Name == "lo" {
			return c.nl.LinkSetDown(l)
		}
		return c.nl.LinkDel(l)
	case Veth:
		c, l, err := k.link(x.NS, x.Name)
		if err == nil {
			return c.nl.LinkDel(l)
		}
		if !missing(err) {
			return err
		}
		if c, l, err := k.link(x.PeerNS, x.PeerName); err == nil && l.Type() == "veth" {
			return c.nl.LinkDel(l)
		}
		return nil
	case Addr:
		c, l, err := k.link(x.NS, x.Dev)
		if err != nil {
			return err
		}
		return c.nl.AddrDel(l, &netlink.Addr{IPNet: ipNet(x.Prefix)})
	case Route:
		c, err := k.conn(x.NS)
		if err != nil {
			return err
		}
		r := &netlink.Route{Table: x.Table, Dst: ipNet(x.Dst), Protocol: RouteProtocol}
		if x.Type == RouteBlackhole {
			r.Type = unix.RTN_BLACKHOLE
		}
		return c.nl.RouteDel(r)
	case Rule:
		c, err := k.conn(x.NS)
		if err != nil {
			return err
		}
		return c.nl.RuleDel(nlRule(x))
	case NftTable, NftSet, NftElem, NftChain, NftRule:
		return k.removeNft(it)
	case Transit:
		return k.removeTransit(x)
	case NatTable, NatMap, NatChain:
		return k.removeNat(it)
	case TCProgram:
		return k.removeTC(x)
	case PortEntry:
		return k.removePort(x)
	case PPv2Entry:
		return k.removePPv2(x)
	case FastListener:
		return k.removeFastListener(x)
	case FastBackends:
		return k.removeFastBackends(x)
	case ResolvConf:
		return removeEtcDir(x.NS)
	}
	return fmt.Errorf("dataplane: unknown item %T", it)
}

func (k *LinuxKernel) link(ns, name string) (*nsConn, netlink.Link, error) {
	c, err := k.conn(ns)
	if err != nil {
		return nil, nil, err
	}
	l, err := c.nl.LinkByName(name)
	if err != nil {
		return c, nil, fmt.Errorf("netns %s: link %s: %w", ns, name, err)
	}
	return c, l, nil
}

func sysctlPath(name string) string {
	return "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
}

// setSysctl writes a sysctl inside its namespace (the files under
// /proc/sys/net are those of the namespace of the thread that opens them).
// A missing net.ipv6 tree means IPv6 is off in this kernel: that satisfies
// disable_ipv6=1. A missing net.bridge tree means br_netfilter is not
// loaded: bridges call no netfilter hook, which bridge-nf-call-*=0 asks.
func (k *LinuxKernel) setSysctl(s Sysctl) error {
	c, err := k.conn(s.NS)
	if err != nil {
		return err
	}
	return netns.Do(c.fd, func() error {
		p := sysctlPath(s.Name)
		cur, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) && (strings.HasPrefix(s.Name, "net.ipv6.") || strings.HasPrefix(s.Name, "net.bridge.")) {
			return nil
		}
		if err == nil && strings.TrimSpace(string(cur)) == s.Value {
			return nil
		}
		return os.WriteFile(p, []byte(s.Value), 0o644)
	})
}

func (k *LinuxKernel) ensureLink(x Link) error {
	c, err := k.conn(x.NS)
	if err != nil {
		return err
	}
	l, err := c.nl.LinkByName(x.Name)
	var lnf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &lnf):
		l = nil
	case err != nil:
		return err
	case linkKind(l) != x.Kind:
		if x.Kind == KindLoopback {
			return fmt.Errorf("netns %s: %s is a %s, not the loopback", x.NS, x.Name, linkKind(l))
		}
		if err := c.nl.LinkDel(l); err != nil {
			return err
		}
		l = nil
	}
	if l == nil {
		attrs := netlink.LinkAttrs{Name: x.Name}
		if x.MAC != "" {
			hw, err := net.ParseMAC(x.MAC)
			if err != nil {
				return err
			}
			attrs.HardwareAddr = hw
		}
		if x.Kind != KindBridge {
			return fmt.Errorf("netns %s: cannot create a link of kind %q", x.NS, x.Kind)
		}
		if err := c.nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("netns %s: adding %s: %w", x.NS, x.Name, err)
		}
		if l, err = c.nl.LinkByName(x.Name); err != nil {
			return err
		}
	}
	return setLink(c.nl, l, x.MAC, x.Up)
}

// setLink brings a link's MAC and state to what is wanted.
func setLink(h *netlink.Handle, l netlink.Link, mac string, up bool) error {
	a := l.Attrs()
	if mac != "" && a.HardwareAddr.String() != mac {
		hw, err := net.ParseMAC(mac)
		if err != nil {
			return err
		}
		if err := h.LinkSetHardwareAddr(l, hw); err != nil {
			return fmt.Errorf("setting the MAC of %s: %w", a.Name, err)
		}
	}
	isUp := a.Flags&net.FlagUp != 0
	switch {
	case up && !isUp:
		return h.LinkSetUp(l)
	case !up && isUp:
		return h.LinkSetDown(l)
	}
	return nil
}

func (k *LinuxKernel) ensureVeth(x Veth) error {
	c, err := k.conn(x.NS)
	if err != nil {
		return err
	}
	pc, err := k.conn(x.PeerNS)
	if err != nil {
		return err
	}
	l, err := c.nl.LinkByName(x.Name)
	var lnf netlink.LinkNotFoundError
	if err != nil && !errors.As(err, &lnf) {
		return err
	}
	var peer netlink.Link
	if l != nil {
		peer, err = k.peerOf(c, pc, l, x.PeerName)
		if err != nil {
			return err
		}
		if peer == nil {
			// Not the pair wanted: replace it.
			if err := c.nl.LinkDel(l); err != nil {
				return err
			}
			l = nil
		}
	}
	if l == nil {
		// A leftover of the peer's name (its other end elsewhere) would
		// block the creation; it is ours, in our namespace.
		if old, err := pc.nl.LinkByName(x.PeerName); err == nil {
			if err := pc.nl.LinkDel(old); err != nil {
				return err
			}
		}
		attrs := netlink.LinkAttrs{Name: x.Name}
		if x.MAC != "" {
			hw, err := net.ParseMAC(x.MAC)
			if err != nil {
				return err
			}
			attrs.HardwareAddr = hw
		}
		v := &netlink.Veth{LinkAttrs: attrs, PeerName: x.PeerName, PeerNamespace: netlink.NsFd(int(pc.fd))}
		if err := c.nl.LinkAdd(v); err != nil {
			return fmt.Errorf("netns %s: adding veth %s (peer %s in %s): %w", x.NS, x.Name, x.PeerName, x.PeerNS, err)
		}
		if l, err = c.nl.LinkByName(x.Name); err != nil {
			return err
		}
		if peer, err = pc.nl.LinkByName(x.PeerName); err != nil {
			return err
		}
		BigTCP(c.nl, l)
		BigTCP(pc.nl, peer)
	}
	// The peer's bridge, then both ends up.
	switch {
	case x.PeerMaster != "":
		br, err := pc.nl.LinkByName(x.PeerMaster)
		if err != nil {
			return fmt.Errorf("netns %s: bridge %s: %w", x.PeerNS, x.PeerMaster, err)
		}
		if peer.Attrs().MasterIndex != br.Attrs().Index {
			if err := pc.nl.LinkSetMaster(peer, br); err != nil {
				return fmt.Errorf("netns %s: enslaving %s to %s: %w", x.PeerNS, x.PeerName, x.PeerMaster, err)
			}
		}
	case peer.Attrs().MasterIndex != 0:
		if err := pc.nl.LinkSetNoMaster(peer); err != nil {
			return err
		}
	}
	if err := setLink(pc.nl, peer, "", x.Up); err != nil {
		return err
	}
	return setLink(c.nl, l, x.MAC, x.Up)
}

// BigTCPSize is the largest TCP segment the stack may build for a veth
// of Isthmus's (its GSO size, IPv4 and IPv6 alike). A veth carries
// segments whole, so larger ones cost every hop of a path (each IP stack,
// conntrack, the fast path's programs) less per byte: BIG TCP, which the
// kernel has had for IPv4 since 6.3. This is the most it allows (the
// veth's own limit, GSO_MAX_SIZE: 8 bytes, the least MSS, times 65535
// segments); a sender that writes less at a time builds smaller ones.
const BigTCPSize = 524280

// BigTCP lets the stack send BigTCPSize segments through l. A kernel that
// does not know the setting (or refuses it) keeps its 64 KiB: the data
// plane works the same, so that is not an error.
func BigTCP(h *netlink.Handle, l netlink.Link) {
	h.LinkSetGSOMaxSize(l, BigTCPSize)
	h.LinkSetGSOIPv4MaxSize(l, BigTCPSize)
}

// peerOf returns l's peer if it is the veth peerName in the namespace of
// pc, or nil.
func (k *LinuxKernel) peerOf(c, pc *nsConn, l netlink.Link, peerName string) (netlink.Link, error) {
	if l.Type() != "veth" {
		return nil, nil
	}
	peer, err := pc.nl.LinkByName(peerName)
	var lnf netlink.LinkNotFoundError
	if errors.As(err, &lnf) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if peer.Type() != "veth" || peer.Attrs().ParentIndex != l.Attrs().Index || l.Attrs().ParentIndex != peer.Attrs().Index {
		return nil, nil
	}
	if c == pc {
		return peer, nil
	}
	id, err := c.nl.GetNetNsIdByFd(int(pc.fd))
	if err != nil || id < 0 || id != l.Attrs().NetNsID {
		return nil, nil
	}
	return peer, nil
}

func linkKind(l netlink.Link) string {
	switch t := l.Type(); t {
	case "device":
		if l.Attrs().Flags&net.FlagLoopback != 0 {
			return KindLoopback
		}
		return t
	default:
		return t
	}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

func (k *LinuxKernel) nlRoute(c *nsConn, x Route) (*netlink.Route, error) {
	r := &netlink.Route{Table: x.Table, Dst: ipNet(x.Dst), Protocol: RouteProtocol, Family: netlink.FAMILY_V4}
	if x.Type == RouteBlackhole {
		r.Type = unix.RTN_BLACKHOLE
		return r, nil
	}
	l, err := c.nl.LinkByName(x.Dev)
	if err != nil {
		return nil, fmt.Errorf("route %s: device %s: %w", x.Dst, x.Dev, err)
	}
	r.LinkIndex = l.Attrs().Index
	if x.Via.IsValid() {
		r.Gw = x.Via.AsSlice()
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	return r, nil
}

func nlRule(x Rule) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = netlink.FAMILY_V4
	r.Priority = x.Pref
	r.IifName = x.Iif
	r.Table = x.Table
	r.Protocol = RouteProtocol
	return r
}

// vethEnd is one end of a veth pair as one namespace shows it.
type vethEnd struct {
	ns, name         string
	index, peerIndex int
	nsid             int
	master, mac      string
	up               bool
	c                *nsConn
}

// Observe implements Kernel.
func (k *LinuxKernel) Observe(prefix string) (*HostConfig, error) {
	names, err := netns.List(prefix + "-")
	if err != nil {
		return nil, err
	}
	hc := NewHostConfig()
	var ends []*vethEnd
	fast := &fastObservation{live: map[uint64]string{}, routers: map[string]fastRouter{}, links: map[uint64]map[int]string{}}
	for _, name := range names {
		hc.Add("", Netns{Name: name})
		c, err := k.conn(name)
		if errors.Is(err, netns.ErrNotExist) {
			continue // a stale file: Remove of the Netns clears it
		}
		if err != nil {
			return nil, err
		}
		e, err := k.observeNS(hc, name, c, fast)
		if err != nil {
			return nil, fmt.Errorf("netns %s: %w", name, err)
		}
		ends = append(ends, e...)
	}
	pairVeths(hc, ends)
	foldTransits(hc)
	if err := k.finishFast(hc, fast); err != nil {
		return nil, fmt.Errorf("fast path: %w", err)
	}
	if err := observeEtc(hc, prefix); err != nil {
		return nil, err
	}
	return hc, nil
}

func retryDump[T any](f func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := f()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 10 {
			continue
		}
		return v, err
	}
}

func (k *LinuxKernel) observeNS(hc *HostConfig, name string, c *nsConn, fast *fastObservation) ([]*vethEnd, error) {
	// Sysctls.
	err := netns.Do(c.fd, func() error {
		for _, s := range ManagedSysctls {
			b, err := os.ReadFile(sysctlPath(s))
			v := strings.TrimSpace(string(b))
			if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(s, "net.ipv6.") {
				v, err = "1", nil
			}
			if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(s, "net.bridge.") {
				v, err = "0", nil
			}
			if err != nil {
				return err
			}
			hc.Add("", Sysctl{NS: name, Name: s, Value: v})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	links, err := retryDump(c.nl.LinkList)
	if err != nil {
		return nil, err
	}
	byIndex := map[int]string{}
	for _, l := range links {
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	var ends []*vethEnd
	for _, l := range links {
		a := l.Attrs()
		up := a.Flags&net.FlagUp != 0
		switch kind := linkKind(l); kind {
		case KindLoopback:
			hc.Add("", Link{NS: name, Name: a.Name, Kind: KindLoopback, Up: up})
		case KindBridge:
			hc.Add("", Link{NS: name, Name: a.Name, Kind: kind, MAC: a.HardwareAddr.String(), Up: up})
		case "veth":
			ends = append(ends, &vethEnd{ns: name, name: a.Name, index: a.Index, peerIndex: a.ParentIndex, nsid: a.NetNsID,
				master: byIndex[a.MasterIndex], mac: a.HardwareAddr.String(), up: up, c: c})
		}
	}

	addrs, err := retryDump(func() ([]netlink.Addr, error) { return c.nl.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, err
	}
	for _, ad := range addrs {
		p, ok := prefixOf(ad.IPNet)
		dev := byIndex[ad.LinkIndex]
		if !ok || dev == "" || p.Addr().IsLoopback() {
			continue
		}
		hc.Add("", Addr{NS: name, Dev: dev, Prefix: p})
	}

	routes, err := retryDump(func() ([]netlink.Route, error) {
		return c.nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC, Protocol: RouteProtocol},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	})
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		dst, ok := prefixOf(r.Dst)
		if !ok {
			continue
		}
		rt := Route{NS: name, Table: r.Table, Dst: dst, Dev: byIndex[r.LinkIndex]}
		switch r.Type {
		case unix.RTN_BLACKHOLE:
			rt.Type = RouteBlackhole
		case unix.RTN_UNICAST:
		default:
			rt.Type = fmt.Sprintf("type%d", r.Type)
		}
		if gw, ok := netip.AddrFromSlice(r.Gw); ok {
			rt.Via = gw.Unmap()
		}
		hc.Add("", rt)
	}

	rules, err := retryDump(func() ([]netlink.Rule, error) { return c.nl.RuleList(netlink.FAMILY_V4) })
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if r.Protocol == RouteProtocol {
			hc.Add("", Rule{NS: name, Pref: r.Priority, Iif: r.IifName, Table: r.Table})
		}
	}
	if err := observeNft(hc, name, c.nft); err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	if err := observeNat(hc, name, c.nft); err != nil {
		return nil, fmt.Errorf("nftables (NAT): %w", err)
	}
	if err := k.observeFast(hc, name, c, links, fast); err != nil {
		return nil, fmt.Errorf("fast path: %w", err)
	}
	return ends, nil
}

// pairVeths turns veth ends into Veth items. Two ends are a pair when each
// one's peer index is the other's index and the peer's namespace id, as the
// first end's namespace numbers it, is the second's namespace. The end
// enslaved to a bridge is the peer (the VPC side); between two ends with
// no bridge, or two with one, the one in the namespace that sorts first is
// the Veth's own end.
func pairVeths(hc *HostConfig, ends []*vethEnd) {
	type key struct{ index, peer int }
	byIdx := map[key][]*vethEnd{}
	for _, e := range ends {
		byIdx[key{e.index, e.peerIndex}] = append(byIdx[key{e.index, e.peerIndex}], e)
	}
	sort.Slice(ends, func(i, j int) bool {
		if ends[i].ns != ends[j].ns {
			return ends[i].ns < ends[j].ns
		}
		return ends[i].name < ends[j].name
	})
	done := map[*vethEnd]bool{}
	for _, a := range ends {
		if done[a] {
			continue
		}
		var peer *vethEnd
		for _, b := range byIdx[key{a.peerIndex, a.index}] {
			if done[b] || b == a || b.ns == a.ns {
				continue
			}
			if id, err := a.c.nl.GetNetNsIdByFd(int(b.c.fd)); err == nil && id >= 0 && id == a.nsid {
				peer = b
				break
			}
		}
		done[a] = true
		if peer == nil {
			hc.Add("", Veth{NS: a.ns, Name: a.name, MAC: a.mac, PeerNS: "?", PeerName: "?", Up: a.up})
			continue
		}
		done[peer] = true
		in, out := a, peer
		if in.master != "" && out.master == "" {
			in, out = out, in
		}
		hc.Add("", Veth{NS: in.ns, Name: in.name, MAC: in.mac, PeerNS: out.ns, PeerName: out.name, PeerMaster: out.master, Up: in.up && out.up})
	}
}
