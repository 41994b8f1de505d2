//go:build linux

package fastpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf"
)

// The conntrack marks of the flows the NAT program opens itself
// (SetListener): conntrack does not follow such a flow's TCP state, so
// what reads conntrack (draining, metrics) tells by the mark whether the
// flow is still open.
const (
	CtMarkOwned   = 0x10000000 // the NAT program opened the flow
	CtMarkClosing = 0x20000000 // a FIN of the flow went through
	CtMarkReset   = 0x40000000 // a RST went through
)

// OwnedOpen reports whether a conntrack entry with mark is a flow the NAT
// program opened (ok) and, if so, whether it is still open: no FIN or RST
// went through yet.
func OwnedOpen(mark uint32) (open, ok bool) {
	if mark&CtMarkOwned == 0 {
		return false, false
	}
	return mark&(CtMarkClosing|CtMarkReset) == 0, true
}

// Listener is a TCP listener whose flows the NAT program opens itself:
// for a client's SYN to it that comes in on link In, it makes the flow's
// conntrack entry with the translation the ordinary path's rules would
// give (conntrack's own NAT choosing the source port), so the SYN and the
// rest of the flow take the shortcut. At an interface endpoint, the flow
// goes to To (the load balancer node's end of the transit link, the port
// unchanged) from From (the endpoint's end), and only from the clients
// Allow holds (its security groups' inbound rules for the port; SG set).
// At a node, it goes to one of the listener port's Buckets backends
// (SetBackends) from From (the load balancer's address).
type Listener struct {
	In      int
	To      netip.Addr
	From    netip.Addr
	Buckets int
	SG      bool
	Allow   []netip.Prefix
}

// MaxBuckets is the most backend buckets a listener may have.
const MaxBuckets = 1 << 16

const natSG = 1

func (l Listener) check() error {
	switch {
	case l.In <= 0:
		return errors.New("no link")
	case !l.From.Is4():
		return fmt.Errorf("source %s: not IPv4", l.From)
	case l.Buckets == 0 && !l.To.Is4():
		return fmt.Errorf("destination %s: not IPv4", l.To)
	case l.Buckets < 0 || l.Buckets > MaxBuckets || bits.OnesCount(uint(l.Buckets)) > 1:
		return fmt.Errorf("%d buckets: not a power of two up to %d", l.Buckets, MaxBuckets)
	}
	for _, a := range l.Allow {
		if !a.Addr().Is4() {
			return fmt.Errorf("allowed clients %s: not IPv4", a)
		}
	}
	return nil
}

// SetListener makes the NAT program open the flows to listen in the
// namespace whose cookie is netns itself, as l says.
func (p *Programs) SetListener(netns uint64, listen netip.AddrPort, l Listener) error {
	if !listen.Addr().Is4() {
		return fmt.Errorf("fastpath: listener %s: not IPv4", listen)
	}
	if err := l.check(); err != nil {
		return fmt.Errorf("fastpath: listener %s: %w", listen, err)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	// The allowed clients first, so that the listener is never checked
	// against a partial list; then those no longer allowed.
	port := ppKey(netns, listen).Port
	had, err := p.allowed(netns, port)
	if err != nil {
		return err
	}
	want := map[netip.Prefix]bool{}
	for _, a := range l.Allow {
		want[a.Masked()] = true
		if err := p.maps[fastpathMapSgAllow].Put(sgKey(netns, port, a.Masked()), uint32(1)); err != nil {
			return err
		}
	}
	v := fastpathNatListener{In: uint32(l.In), Buckets: uint32(l.Buckets), From: addrWord(l.From)}
	if l.Buckets == 0 {
		v.To = addrWord(l.To)
	}
	if l.SG {
		v.Flags = natSG
	}
	if err := p.maps[fastpathMapNatListeners].Put(ppKey(netns, listen), v); err != nil {
		return err
	}
	for _, a := range had {
		if !want[a] {
			if err := deleteKey(p.maps[fastpathMapSgAllow], sgKey(netns, port, a)); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteListener leaves the flows to listen to the ordinary path again
// (those the program opened go on); deleting nothing is not an error.
func (p *Programs) DeleteListener(netns uint64, listen netip.AddrPort) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	k := ppKey(netns, listen)
	if err := deleteKey(p.maps[fastpathMapNatListeners], k); err != nil {
		return err
	}
	had, err := p.allowed(netns, k.Port)
	if err != nil {
		return err
	}
	for _, a := range had {
		if err := deleteKey(p.maps[fastpathMapSgAllow], sgKey(netns, k.Port, a)); err != nil {
			return err
		}
	}
	return nil
}

// Listeners lists what SetListener recorded, by namespace cookie and
// listener.
func (p *Programs) Listeners() (map[uint64]map[netip.AddrPort]Listener, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	allowed, err := p.allAllowed()
	if err != nil {
		return nil, err
	}
	out := map[uint64]map[netip.AddrPort]Listener{}
	var k fastpathPpKey
	var v fastpathNatListener
	it := p.maps[fastpathMapNatListeners].Iterate()
	for it.Next(&k, &v) {
		l := Listener{In: int(v.In), Buckets: int(v.Buckets), From: wordAddr(v.From), SG: v.Flags&natSG != 0}
		if v.Buckets == 0 {
			l.To = wordAddr(v.To)
		}
		if l.SG {
			l.Allow = allowed[allowKey{k.Netns, k.Port}]
		}
		if out[k.Netns] == nil {
			out[k.Netns] = map[netip.AddrPort]Listener{}
		}
		out[k.Netns][netip.AddrPortFrom(wordAddr(k.Addr), portOf(k.Port))] = l
	}
	return out, it.Err()
}

// allowKey is a namespace and a listener port (in the program's byte
// order): what sg_allow's prefixes belong to.
type allowKey struct {
	netns uint64
	port  uint16
}

// allAllowed reads sg_allow once: the prefixes of every namespace and
// listener port, each list sorted.
func (p *Programs) allAllowed() (map[allowKey][]netip.Prefix, error) {
	out := map[allowKey][]netip.Prefix{}
	var k fastpathSgKey
	var v uint32
	it := p.maps[fastpathMapSgAllow].Iterate()
	for it.Next(&k, &v) {
		if k.Prefixlen < sgBits || k.Prefixlen > sgBits+32 {
			continue
		}
		ak := allowKey{sgNetns(k), k.Port}
		out[ak] = append(out[ak], netip.PrefixFrom(wordAddr(k.Addr), int(k.Prefixlen-sgBits)))
	}
	for _, ps := range out {
		slices.SortFunc(ps, comparePrefix)
	}
	return out, it.Err()
}

// allowed lists the prefixes sg_allow holds for a listener port (in the
// program's byte order) of a namespace, sorted.
func (p *Programs) allowed(netns uint64, port uint16) ([]netip.Prefix, error) {
	all, err := p.allAllowed()
	return all[allowKey{netns, port}], err
}

// SetBackends deals the new flows to listener port of a load balancer
// node (the namespace whose cookie is netns) over buckets: a flow goes to
// buckets[hash mod len(buckets)], len(buckets) being the Buckets of the
// node's Listeners for the port.
func (p *Programs) SetBackends(netns uint64, port uint16, buckets []netip.AddrPort) error {
	n := len(buckets)
	if n == 0 || n > MaxBuckets || bits.OnesCount(uint(n)) != 1 {
		return fmt.Errorf("fastpath: %d backend buckets: not a power of two up to %d", n, MaxBuckets)
	}
	for _, b := range buckets {
		if !b.Addr().Is4() {
			return fmt.Errorf("fastpath: backend %s: not IPv4", b)
		}
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	m := p.maps[fastpathMapNatBackends]
	pk := ppKey(netns, netip.AddrPortFrom(netip.IPv4Unspecified(), port)).Port
	for i, b := range buckets {
		k := fastpathBackendKey{Netns: netns, Port: pk, Bucket: uint32(i)}
		if err := m.Put(k, backendVal(b)); err != nil {
			return err
		}
	}
	// Buckets past the new count are no longer reached.
	return prune(m, func(k fastpathBackendKey) bool {
		return k.Netns == netns && k.Port == pk && int(k.Bucket) >= n
	})
}

// DeleteBackends forgets a listener port's backends.
func (p *Programs) DeleteBackends(netns uint64, port uint16) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pk := ppKey(netns, netip.AddrPortFrom(netip.IPv4Unspecified(), port)).Port
	return prune(p.maps[fastpathMapNatBackends], func(k fastpathBackendKey) bool {
		return k.Netns == netns && k.Port == pk
	})
}

// Backends lists what SetBackends recorded, by namespace cookie and
// port: each port's buckets in order (a bucket that is missing reads as
// the zero AddrPort).
func (p *Programs) Backends() (map[uint64]map[uint16][]netip.AddrPort, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := map[uint64]map[uint16][]netip.AddrPort{}
	var k fastpathBackendKey
	var v fastpathBackend
	it := p.maps[fastpathMapNatBackends].Iterate()
	for it.Next(&k, &v) {
		if k.Bucket >= MaxBuckets {
			continue
		}
		port := portOf(k.Port)
		if out[k.Netns] == nil {
			out[k.Netns] = map[uint16][]netip.AddrPort{}
		}
		bs := out[k.Netns][port]
		for len(bs) <= int(k.Bucket) {
			bs = append(bs, netip.AddrPort{})
		}
		bs[k.Bucket] = netip.AddrPortFrom(wordAddr(v.Addr), portOf(v.Port))
		out[k.Netns][port] = bs
	}
	return out, it.Err()
}

// sgBits is the part of an sg_allow key before the client's address: the
// namespace (64 bits), the port and the padding (32).
const sgBits = 96

func sgKey(netns uint64, port uint16, a netip.Prefix) fastpathSgKey {
	k := fastpathSgKey{Prefixlen: uint32(sgBits + a.Bits()), Port: port, Addr: addrWord(a.Addr())}
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], netns)
	k.Netns[0] = binary.NativeEndian.Uint32(b[:4])
	k.Netns[1] = binary.NativeEndian.Uint32(b[4:])
	return k
}

func sgNetns(k fastpathSgKey) uint64 {
	var b [8]byte
	binary.NativeEndian.PutUint32(b[:4], k.Netns[0])
	binary.NativeEndian.PutUint32(b[4:], k.Netns[1])
	return binary.NativeEndian.Uint64(b[:])
}

// addrWord is an IPv4 address as the program reads it from a packet.
func addrWord(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

func wordAddr(w uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], w)
	return netip.AddrFrom4(b)
}

// portOf is a port the program reads from a packet, in host order.
func portOf(w uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], w)
	return binary.BigEndian.Uint16(b[:])
}

func backendVal(b netip.AddrPort) fastpathBackend {
	return fastpathBackend{Addr: addrWord(b.Addr()), Port: ppKey(0, b).Port}
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func deleteKey(m *ebpf.Map, k any) error {
	if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
}
