//go:build linux

// Package fastpath loads Isthmus's tc programs (bpf/fastpath.c) and
// attaches them to links in other namespaces. The programs shorten the
// path of packets that the namespaces' ordinary stacks would forward
// anyway: a VPC router's subnet bridge hands a frame for another
// interface on the same bridge straight to that interface's namespace,
// and the namespaces that translate PrivateLink flows send the segments
// of established, translated TCP flows straight into the next namespace,
// with conntrack's translation (cached per flow for a second; see
// ForgetFlows). For the TCP listeners given to SetListener, the NAT
// program also opens new flows itself, making their conntrack entries with
// conntrack's NAT after the same decisions the namespace's nftables rules
// would take (the clients an endpoint's security groups allow, a node's
// backend), so that handshakes and closes take the shortcut too. Anything
// else goes the ordinary way, where nftables and conntrack decide.
//
// The programs are attached to tcx, the kernel's multi-program tc ingress
// (Linux 6.6), without a bpf_link, so the kernel keeps them when the
// process that attached them ends: a daemon killed with kill -9 leaves the
// fast path working, and the next one adopts the programs and their maps
// (Adopt) or, for another version of them, attaches its own in their
// place. (tcx runs a program straight from the receive path, where a
// cls_bpf filter of a clsact qdisc, which Isthmus used before, costs a
// classifier walk per packet at each of a path's hops.)
package fastpath

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/netns"
)

// Kind names one of the programs.
type Kind string

const (
	// Port is the program of a VPC router's bridge ports.
	Port Kind = "isthmus_port"
	// NAT is the program of the links of a translating namespace.
	NAT Kind = "isthmus_nat"
)

// Programs is the loaded collection: both programs and their maps. One
// per process is enough: the maps are keyed by namespace.
type Programs struct {
	mu    sync.RWMutex // Adopt swaps what follows
	progs map[Kind]*ebpf.Program
	maps  map[string]*ebpf.Map // by name: fdb, bridges, flows, stats
	// What Adopt took over from an earlier process.
	adoptedProgs map[Kind]bool
	adoptedMaps  map[string]bool
}

// Load loads the programs into the kernel. It fails where the kernel
// lacks what they need (BPF, BTF, conntrack's kfuncs, bpf_redirect_peer)
// or the process may not load them; Isthmus then runs without the fast
// path.
func Load() (*Programs, error) {
	var objs fastpathObjects
	if err := loadFastpathObjects(&objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("fastpath: the kernel refused the programs: %w", err)
		}
		return nil, fmt.Errorf("fastpath: %w", err)
	}
	// The programs go on tcx (Linux 6.6): asking which programs the
	// loopback link of this namespace has says whether the kernel has it.
	if _, err := link.QueryPrograms(link.QueryOptions{Target: 1, Attach: ebpf.AttachTCXIngress}); err != nil {
		objs.Close()
		return nil, fmt.Errorf("fastpath: the kernel has no tcx (Linux 6.6 or later): %w", err)
	}
	return &Programs{
		progs: map[Kind]*ebpf.Program{Port: objs.IsthmusPort, NAT: objs.IsthmusNat},
		maps: map[string]*ebpf.Map{fastpathMapFdb: objs.Fdb, fastpathMapBridges: objs.Bridges,
			fastpathMapFlows: objs.Flows, fastpathMapStats: objs.Stats,
			fastpathMapPpListeners: objs.PpListeners, fastpathMapPpNetns: objs.PpNetns,
			fastpathMapPpFlows: objs.PpFlows, fastpathMapPpScratch: objs.PpScratch,
			fastpathMapNatListeners: objs.NatListeners, fastpathMapNatBackends: objs.NatBackends,
			fastpathMapSgAllow: objs.SgAllow},
		adoptedProgs: map[Kind]bool{},
		adoptedMaps:  map[string]bool{},
	}, nil
}

// Close releases the process's references to the programs and maps.
// Attached filters keep them alive in the kernel.
func (p *Programs) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, prog := range p.progs {
		errs = append(errs, prog.Close())
	}
	for _, m := range p.maps {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

func (p *Programs) prog(k Kind) (*ebpf.Program, error) {
	if prog := p.progs[k]; prog != nil {
		return prog, nil
	}
	return nil, fmt.Errorf("fastpath: no program %q", k)
}

// Adopt takes over program k with kernel id, which an earlier process
// (a daemon that was killed, say) attached, when it is the same program
// as this process's: from then on p uses that program and its maps, with
// what they hold, so a restarted daemon finds everything in place and
// changes nothing. It reports whether it adopted the program; one that
// differs (another version of Isthmus), or whose maps are not the ones p
// adopted before, is left for Attach to replace.
func (p *Programs) Adopt(k Kind, id int) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mine, err := p.prog(k)
	if err != nil || p.adoptedProgs[k] {
		return false, err // one program of a kind: the first one found
	}
	theirs, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return false, fmt.Errorf("fastpath: program %d: %w", id, err)
	}
	taken := map[string]*ebpf.Map{} // their maps that p takes over
	keep := false
	defer func() {
		if !keep {
			theirs.Close()
			for _, m := range taken {
				m.Close()
			}
		}
	}()
	mi, err := mine.Info()
	if err != nil {
		return false, err
	}
	ti, err := theirs.Info()
	if err != nil {
		return false, err
	}
	ids, ok := ti.MapIDs()
	if mi.Tag != ti.Tag || !ok {
		return false, nil
	}
	for _, mid := range ids {
		m, err := ebpf.NewMapFromID(mid)
		if err != nil {
			return false, fmt.Errorf("fastpath: map %d: %w", mid, err)
		}
		info, err := m.Info()
		if err != nil || p.maps[info.Name] == nil {
			m.Close()
			return false, err
		}
		if p.adoptedMaps[info.Name] {
			same := sameMap(m, p.maps[info.Name])
			m.Close()
			if !same {
				return false, nil
			}
			continue
		}
		taken[info.Name] = m
	}
	if len(taken) > 0 {
		// Programs of p's own that use a map being taken over are loaded
		// again, to use it instead.
		spec, err := loadFastpath()
		if err != nil {
			return false, err
		}
		repl := map[string]*ebpf.Map{}
		for name, m := range p.maps {
			repl[name] = m
		}
		for name, m := range taken {
			repl[name] = m
		}
		var objs fastpathPrograms
		if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
			return false, fmt.Errorf("fastpath: loading with adopted maps: %w", err)
		}
		fresh := map[Kind]*ebpf.Program{Port: objs.IsthmusPort, NAT: objs.IsthmusNat}
		for kind, prog := range fresh {
			if p.adoptedProgs[kind] || kind == k {
				prog.Close()
				continue
			}
			p.progs[kind].Close()
			p.progs[kind] = prog
		}
		for name, m := range taken {
			p.maps[name].Close()
			p.maps[name] = m
			p.adoptedMaps[name] = true
		}
	}
	keep = true
	p.progs[k].Close()
	p.progs[k] = theirs
	p.adoptedProgs[k] = true
	return true, nil
}

func sameMap(a, b *ebpf.Map) bool {
	ai, err1 := a.Info()
	bi, err2 := b.Info()
	if err1 != nil || err2 != nil {
		return false
	}
	aid, ok1 := ai.ID()
	bid, ok2 := bi.ID()
	return ok1 && ok2 && aid == bid
}

// Attach puts program k on the tcx ingress of link dev (an index in
// namespace ns), in place of what Isthmus attached there before: a program of this
// process or an earlier one, or the cls_bpf filter of a version of
// Isthmus from before tcx.
func (p *Programs) Attach(ns netns.Handle, dev int, k Kind) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	prog, err := p.prog(k)
	if err != nil {
		return err
	}
	mine, err := progID(prog)
	if err != nil {
		return err
	}
	return netns.Do(ns, func() error {
		theirs, err := attachedTCX(dev)
		if err != nil {
			return err
		}
		attach := func(where link.Anchor) error {
			err := link.RawAttachProgram(link.RawAttachProgramOptions{Target: dev, Program: prog, Attach: ebpf.AttachTCXIngress, Anchor: where})
			if err != nil {
				return fmt.Errorf("fastpath: %s on link %d: %w", k, dev, err)
			}
			return nil
		}
		switch i := slices.IndexFunc(theirs, func(a tcxProg) bool { return a.id == mine }); {
		case i >= 0: // in place already
			theirs[i].prog.Close()
			theirs = slices.Delete(theirs, i, i+1)
		case len(theirs) > 0:
			err = attach(link.ReplaceProgram(theirs[0].prog))
			theirs[0].prog.Close()
			theirs = theirs[1:]
		default:
			err = attach(link.Head()) // first, as a filter of priority 1 was
		}
		if err != nil {
			closeAll(theirs)
			return err
		}
		// Anything else of Isthmus's there goes: a second program, a
		// cls_bpf filter.
		return errors.Join(detachTCX(dev, theirs), detachLegacy(dev))
	})
}

// Attachment is what Attached found on a link.
type Attachment struct {
	// Kind is the program's name, "" for none.
	Kind Kind
	// ID is the program's kernel id, which says which process loaded it
	// (see ID).
	ID int
	// Legacy is set when Isthmus's programs on the link are not exactly
	// one on tcx: a cls_bpf filter that a version from before tcx
	// attached, or more than one program. Attach puts that right.
	Legacy bool
}

// Attached reports the programs Isthmus attached to the ingress of links
// (indexes in namespace ns), by link; links without one are left out.
func Attached(ns netns.Handle, devs []int) (map[int]Attachment, error) {
	found := map[int]Attachment{}
	if len(devs) == 0 {
		return found, nil
	}
	err := netns.Do(ns, func() error {
		for _, l := range devs {
			progs, err := attachedTCX(l)
			if err != nil {
				return err
			}
			var a Attachment
			if len(progs) > 0 {
				info, err := progs[0].prog.Info()
				if err != nil {
					closeAll(progs)
					return err
				}
				a = Attachment{Kind: Kind(info.Name), ID: int(progs[0].id), Legacy: len(progs) > 1}
			}
			closeAll(progs)
			kind, id, err := legacyFilter(l)
			if err != nil {
				return err
			}
			if kind != "" {
				if a.Kind == "" {
					a.Kind, a.ID = kind, id
				}
				a.Legacy = true
			}
			if a.Kind != "" {
				found[l] = a
			}
		}
		return nil
	})
	return found, err
}

// ID is the kernel's id of program k as this process loaded it.
func (p *Programs) ID(k Kind) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	prog, err := p.prog(k)
	if err != nil {
		return 0, err
	}
	id, err := progID(prog)
	return int(id), err
}

func progID(prog *ebpf.Program) (ebpf.ProgramID, error) {
	info, err := prog.Info()
	if err != nil {
		return 0, err
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("fastpath: the kernel reports no program ids")
	}
	return id, nil
}

// Detach removes Isthmus's programs from link dev's ingress (an index in
// namespace ns). A link without them is not an error.
func Detach(ns netns.Handle, dev int) error {
	return netns.Do(ns, func() error {
		theirs, err := attachedTCX(dev)
		if err != nil {
			return err
		}
		return errors.Join(detachTCX(dev, theirs), detachLegacy(dev))
	})
}

// tcxProg is a program of Isthmus's on a link's tcx ingress.
type tcxProg struct {
	id   ebpf.ProgramID
	prog *ebpf.Program
}

// attachedTCX lists Isthmus's programs (by name) on the tcx ingress of
// link dev, in the calling thread's namespace, in the order they run. The
// caller closes them.
func attachedTCX(dev int) ([]tcxProg, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: dev, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			return nil, nil // the link is gone
		}
		return nil, fmt.Errorf("fastpath: programs of link %d: %w", dev, err)
	}
	var ours []tcxProg
	for _, ap := range res.Programs {
		prog, err := ebpf.NewProgramFromID(ap.ID)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // detached and gone meanwhile
			}
			closeAll(ours)
			return nil, fmt.Errorf("fastpath: program %d: %w", ap.ID, err)
		}
		info, err := prog.Info()
		if err != nil || (Kind(info.Name) != Port && Kind(info.Name) != NAT) {
			prog.Close()
			if err != nil {
				closeAll(ours)
				return nil, err
			}
			continue // someone else's
		}
		ours = append(ours, tcxProg{id: ap.ID, prog: prog})
	}
	return ours, nil
}

// detachTCX detaches progs from link dev's tcx ingress and closes them.
func detachTCX(dev int, progs []tcxProg) error {
	defer closeAll(progs)
	var errs []error
	for _, t := range progs {
		err := link.RawDetachProgram(link.RawDetachProgramOptions{Target: dev, Program: t.prog, Attach: ebpf.AttachTCXIngress})
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("fastpath: detach from link %d: %w", dev, err))
		}
	}
	return errors.Join(errs...)
}

func closeAll(progs []tcxProg) {
	for _, t := range progs {
		t.prog.Close()
	}
}

// Versions of Isthmus from before tcx attached their program as a
// cls_bpf filter with this handle and priority on a clsact qdisc of their
// own; Attach and Detach remove it (with the qdisc).
const (
	legacyHandle = 0x1573
	legacyPrio   = 1
)

// legacyFilter reports the cls_bpf filter of an earlier version on link
// dev's ingress, in the calling thread's namespace.
func legacyFilter(dev int) (Kind, int, error) {
	fs, err := netlink.FilterList(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: dev}}, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
			return "", 0, nil // no clsact qdisc
		}
		return "", 0, err
	}
	for _, f := range fs {
		if bf, ok := f.(*netlink.BpfFilter); ok && bf.Handle == legacyHandle && bf.Priority == legacyPrio {
			return Kind(bf.Name), bf.Id, nil
		}
	}
	return "", 0, nil
}

// detachLegacy removes an earlier version's cls_bpf filter from link dev,
// with the clsact qdisc it made for it.
func detachLegacy(dev int) error {
	kind, _, err := legacyFilter(dev)
	if err != nil || kind == "" {
		return err
	}
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: dev, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("fastpath: removing the cls_bpf filter of link %d: %w", dev, err)
	}
	return nil
}

// FDBEntry is where a router's forwarding database sends frames for one
// hardware address: a port (an ifindex in the router's namespace) and the
// bridge it belongs to (another ifindex there).
type FDBEntry struct {
	Port, Bridge int
}

// SetPort records that, in the router namespace whose cookie is netns, the
// interface with hardware address mac sits behind port p. Only frames that
// come in on a port of the same bridge take the shortcut.
func (p *Programs) SetPort(netns uint64, mac net.HardwareAddr, port FDBEntry) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	k, err := fdbKey(netns, mac)
	if err != nil {
		return err
	}
	// The port's bridge first: the entry is of no use without it.
	err = p.maps[fastpathMapBridges].Put(fastpathPortKey{Netns: netns, Port: uint32(port.Port)}, uint32(port.Bridge))
	if err != nil {
		return err
	}
	return p.maps[fastpathMapFdb].Put(k, fastpathFdbVal{Port: uint32(port.Port), Bridge: uint32(port.Bridge)})
}

// DeletePort forgets what SetPort recorded; forgetting nothing is not an
// error.
func (p *Programs) DeletePort(netns uint64, mac net.HardwareAddr) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	k, err := fdbKey(netns, mac)
	if err != nil {
		return err
	}
	var v fastpathFdbVal
	err = p.maps[fastpathMapFdb].Lookup(k, &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := p.maps[fastpathMapFdb].Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	err = p.maps[fastpathMapBridges].Delete(fastpathPortKey{Netns: netns, Port: v.Port})
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
}

// Ports lists what the forwarding database holds for the namespace whose
// cookie is netns, by hardware address. An entry whose port has no bridge
// recorded reads with Bridge 0 (the program does not use it).
func (p *Programs) Ports(netns uint64) (map[string]FDBEntry, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := map[string]FDBEntry{}
	var k fastpathFdbKey
	var v fastpathFdbVal
	it := p.maps[fastpathMapFdb].Iterate()
	for it.Next(&k, &v) {
		if k.Netns != netns {
			continue
		}
		var br uint32
		err := p.maps[fastpathMapBridges].Lookup(fastpathPortKey{Netns: netns, Port: v.Port}, &br)
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil, err
		}
		if br != v.Bridge {
			br = 0
		}
		out[net.HardwareAddr(k.Mac[:]).String()] = FDBEntry{Port: int(v.Port), Bridge: int(br)}
	}
	return out, it.Err()
}

func fdbKey(netns uint64, mac net.HardwareAddr) (fastpathFdbKey, error) {
	k := fastpathFdbKey{Netns: netns}
	if len(mac) != len(k.Mac) {
		return k, fmt.Errorf("fastpath: %q is not an Ethernet address", mac)
	}
	copy(k.Mac[:], mac)
	return k, nil
}

// MaxHeader is the longest PROXY header SetPPv2 takes.
const MaxHeader = len(fastpathPpHeader{}.B)

// HeaderAddrs is where the address block of an IPv4 PROXY v2 header
// starts (after the 16 fixed bytes): the NAT program writes the client's
// address, the endpoint's and their ports there, 12 bytes.
const HeaderAddrs = 16

// SetPPv2 makes the NAT program write header into every new TCP flow to
// listen (an interface endpoint's address and a listener port) in the
// namespace whose cookie is netns, with the flow's addresses in its
// address block (HeaderAddrs); the header is an IPv4 PROXY protocol v2
// header of at most MaxHeader bytes.
func (p *Programs) SetPPv2(netns uint64, listen netip.AddrPort, header []byte) error {
	if !listen.Addr().Is4() {
		return fmt.Errorf("fastpath: PPv2 listener %s: not IPv4", listen)
	}
	if len(header) < HeaderAddrs+12 || len(header) > MaxHeader {
		return fmt.Errorf("fastpath: a PROXY header of %d bytes (%d to %d)", len(header), HeaderAddrs+12, MaxHeader)
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	v := fastpathPpHeader{Len: uint32(len(header))}
	copy(v.B[:], header) // zero-padded: the program sums whole words
	if err := p.maps[fastpathMapPpListeners].Put(ppKey(netns, listen), v); err != nil {
		return err
	}
	return p.maps[fastpathMapPpNetns].Put(netns, uint32(1))
}

// DeletePPv2 forgets what SetPPv2 recorded, for new flows; forgetting
// nothing is not an error. Flows that have a header keep it accounted for
// to their end: the namespace stays marked as one with headers to look
// for (pp_netns) until Prune finds it gone.
func (p *Programs) DeletePPv2(netns uint64, listen netip.AddrPort) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	err := p.maps[fastpathMapPpListeners].Delete(ppKey(netns, listen))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
}

// AllPPv2 lists the headers SetPPv2 recorded, by namespace cookie and
// listener.
func (p *Programs) AllPPv2() (map[uint64]map[netip.AddrPort][]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := map[uint64]map[netip.AddrPort][]byte{}
	var k fastpathPpKey
	var v fastpathPpHeader
	it := p.maps[fastpathMapPpListeners].Iterate()
	for it.Next(&k, &v) {
		if int(v.Len) > len(v.B) {
			continue
		}
		if out[k.Netns] == nil {
			out[k.Netns] = map[netip.AddrPort][]byte{}
		}
		var a [4]byte
		binary.NativeEndian.PutUint32(a[:], k.Addr)
		var port [2]byte
		binary.NativeEndian.PutUint16(port[:], k.Port)
		listen := netip.AddrPortFrom(netip.AddrFrom4(a), binary.BigEndian.Uint16(port[:]))
		out[k.Netns][listen] = bytes.Clone(v.B[:v.Len])
	}
	return out, it.Err()
}

// ppKey is the program's key of a listener: the address and port in
// network byte order, as they are in the packet.
func ppKey(netns uint64, listen netip.AddrPort) fastpathPpKey {
	a := listen.Addr().As4()
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], listen.Port())
	return fastpathPpKey{Netns: netns, Addr: binary.NativeEndian.Uint32(a[:]), Port: binary.NativeEndian.Uint16(port[:])}
}

// Prune forgets every forwarding entry, counter, PPv2 listener and flow,
// and listener the NAT program opens flows of (with its backends and
// allowed clients), of a namespace whose cookie live does not hold: namespaces that are gone
// (cookies are never reused).
func (p *Programs) Prune(live map[uint64]bool) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if err := prune(p.maps[fastpathMapFdb], func(k fastpathFdbKey) bool { return !live[k.Netns] }); err != nil {
		return err
	}
	if err := prune(p.maps[fastpathMapBridges], func(k fastpathPortKey) bool { return !live[k.Netns] }); err != nil {
		return err
	}
	if err := prune(p.maps[fastpathMapFlows], func(k fastpathFlowKey) bool { return !live[k.Netns] }); err != nil {
		return err
	}
	if err := prune(p.maps[fastpathMapPpListeners], func(k fastpathPpKey) bool { return !live[k.Netns] }); err != nil {
		return err
	}
	if err := prune(p.maps[fastpathMapPpNetns], func(k uint64) bool { return !live[k] }); err != nil {
		return err
	}
	if err := prune(p.maps[fastpathMapPpFlows], func(k fastpathFlowKey) bool { return !live[k.Netns] }); err != nil {
		return err
	}
	if err := prune(p.maps[fastpathMapNatListeners], func(k fastpathPpKey) bool { return !live[k.Netns] }); err != nil {
		return err
	}
	if err := prune(p.maps[fastpathMapNatBackends], func(k fastpathBackendKey) bool { return !live[k.Netns] }); err != nil {
		return err
	}
	if err := prune(p.maps[fastpathMapSgAllow], func(k fastpathSgKey) bool { return !live[sgNetns(k)] }); err != nil {
		return err
	}
	return prune(p.maps[fastpathMapStats], func(k fastpathDevKey) bool { return !live[k.Netns] })
}

// prune deletes the keys of m that dead picks.
func prune[K any](m *ebpf.Map, dead func(K) bool) error {
	var gone []K
	var prev any // nil: the first key
	for {
		var k K
		err := m.NextKey(prev, &k)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return err
		}
		if dead(k) {
			gone = append(gone, k)
		}
		prev = k
	}
	for _, k := range gone {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return nil
}

// ForgetFlows drops the NAT program's cached flows of the namespace whose
// cookie is netns, so that each one's next segment asks conntrack again.
// Call it after deleting conntrack entries there: a flow conntrack no
// longer translates then stops taking the shortcut at once, instead of
// when its cache entry expires (a second).
func (p *Programs) ForgetFlows(netns uint64) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return prune(p.maps[fastpathMapFlows], func(k fastpathFlowKey) bool { return k.Netns == netns })
}

// CachedFlows counts the NAT program's cached flows of the namespace
// whose cookie is netns.
func (p *Programs) CachedFlows(netns uint64) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	var prev any
	for {
		var k fastpathFlowKey
		err := p.maps[fastpathMapFlows].NextKey(prev, &k)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		if k.Netns == netns {
			n++
		}
		prev = k
	}
}

// Stats are what the fast path carried in through one link: packets and
// bytes, the flows the NAT program opened itself (SetListener) and the
// RSTs of such flows it carried (those of other flows take the ordinary
// path, where nftables counts them).
type Stats struct {
	Packets, Bytes, Flows, RSTs uint64
}

// Stats sums, over every CPU, what the NAT program carried in through
// link in and out through link out (ifindexes) of the namespace whose
// cookie is netns.
func (p *Programs) Stats(netns uint64, in, out int) (Stats, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var per []fastpathDevStats
	err := p.maps[fastpathMapStats].Lookup(fastpathDevKey{Netns: netns, In: uint32(in), Out: uint32(out)}, &per)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return Stats{}, nil
	}
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	for _, c := range per {
		s.add(c)
	}
	return s, nil
}

// Carried sums what the NAT program carried through every pair of links
// of the namespace whose cookie is netns.
func (p *Programs) Carried(netns uint64) (Stats, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var s Stats
	var k fastpathDevKey
	var per []fastpathDevStats
	it := p.maps[fastpathMapStats].Iterate()
	for it.Next(&k, &per) {
		if k.Netns != netns {
			continue
		}
		for _, c := range per {
			s.add(c)
		}
	}
	return s, it.Err()
}

func (s *Stats) add(c fastpathDevStats) {
	s.Packets += c.Packets
	s.Bytes += c.Bytes
	s.Flows += c.Flows
	s.RSTs += c.Rsts
}

// Cookie is the cookie of the namespace the calling thread is in (the
// kernel's SO_NETNS_COOKIE, what bpf_get_netns_cookie returns to the
// programs). Call it inside netns.Do.
func Cookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	v, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0, fmt.Errorf("fastpath: SO_NETNS_COOKIE: %w", err)
	}
	return v, nil
}
