package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// FakeKernel is a Kernel in memory that behaves as Linux does where the
// reconciler can tell: an item needs its namespace, an address or route its
// link, a gateway an address on the link that reaches it, a veth its peer
// namespace and bridge; a new namespace has lo down; removing a namespace,
// link or veth takes with it what Linux takes with it. Its State renders as
// the iproute2 commands that would rebuild it.
type FakeKernel struct {
	mu    sync.Mutex
	state *HostConfig
	log   []string
	// Fail, if set, is asked before each operation; a non-nil error fails
	// it without changing anything.
	Fail func(op Op) error
}

// NewFakeKernel returns a FakeKernel with nothing in it.
func NewFakeKernel() *FakeKernel {
	return &FakeKernel{state: NewHostConfig()}
}

// State returns the current state (sorted iproute2 commands).
func (k *FakeKernel) State() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state.String()
}

// Log returns the operations done since the last call ("+ item" or
// "- item"), in order, and clears it.
func (k *FakeKernel) Log() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := k.log
	k.log = nil
	return out
}

// Set replaces a piece of state behind the reconciler's back, as an admin
// (or a crash) would: to test drift and pruning.
func (k *FakeKernel) Set(it Item) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.state.apply(Op{Item: it})
}

// Delete removes a piece of state behind the reconciler's back.
func (k *FakeKernel) Delete(it Item) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.state.remove(it)
}

// Ensure implements Kernel.
func (k *FakeKernel) Ensure(it Item) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	op := Op{Item: it}
	if k.Fail != nil {
		if err := k.Fail(op); err != nil {
			return err
		}
	}
	if err := k.check(it); err != nil {
		return err
	}
	k.state.apply(op)
	k.log = append(k.log, op.String())
	return nil
}

// Remove implements Kernel.
func (k *FakeKernel) Remove(it Item) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	op := Op{Remove: true, Item: it}
	if k.Fail != nil {
		if err := k.Fail(op); err != nil {
			return err
		}
	}
	if l, ok := it.(Link); ok && l.Kind == KindLoopback {
		return fmt.Errorf("%s: lo cannot be deleted", l.NS)
	}
	if err := k.inUse(it); err != nil {
		return err
	}
	k.log = append(k.log, op.String())
	if _, ok := it.(Sysctl); ok {
		return nil
	}
	k.state.remove(it)
	return nil
}

// Observe implements Kernel.
func (k *FakeKernel) Observe(prefix string) (*HostConfig, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := NewHostConfig()
	for key, it := range k.state.Items {
		if strings.HasPrefix(it.Namespace(), prefix+"-") {
			out.Items[key] = it
		}
	}
	return out, nil
}

func (k *FakeKernel) hasNS(ns string) error {
	if _, ok := k.state.Items[Netns{Name: ns}.Key()]; !ok {
		return fmt.Errorf("netns %s: no such namespace", ns)
	}
	return nil
}

// device returns the link called name in ns: a Link, or either end of a
// Veth.
func (k *FakeKernel) device(ns, name string) (up bool, kind string, ok bool) {
	if it, found := k.state.Items["link "+ns+" "+name]; found {
		switch l := it.(type) {
		case Link:
			return l.Up, l.Kind, true
		case Veth:
			return l.Up, "veth", true
		case Transit:
			return true, "veth", true
		}
	}
	for _, it := range k.state.Items {
		if v, isVeth := it.(Veth); isVeth && v.PeerNS == ns && v.PeerName == name {
			return v.Up, "veth", true
		}
		if t, isTransit := it.(Transit); isTransit && t.PeerNS == ns && t.PeerName == name {
			return true, "veth", true
		}
	}
	return false, "", false
}

func (k *FakeKernel) check(it Item) error {
	if _, ok := it.(Netns); ok {
		return nil
	}
	if err := k.hasNS(it.Namespace()); err != nil {
		return err
	}
	switch x := it.(type) {
	case Link:
		if x.Kind == KindLoopback {
			if x.Name != "lo" {
				return fmt.Errorf("%s: cannot create a loopback %s", x.NS, x.Name)
			}
			return nil
		}
		if x.Kind != KindBridge {
			return fmt.Errorf("%s: unknown link kind %q", x.NS, x.Kind)
		}
		if _, ok := k.state.Items[x.Key()]; !ok {
			if _, _, taken := k.device(x.NS, x.Name); taken {
				return fmt.Errorf("%s: link %s: file exists", x.NS, x.Name)
			}
		}
	case Veth:
		if err := k.hasNS(x.PeerNS); err != nil {
			return err
		}
		old, exists := k.state.Items[x.Key()]
		same := exists && !replaces(x, old)
		if !exists {
			if _, _, taken := k.device(x.NS, x.Name); taken {
				return fmt.Errorf("%s: link %s: file exists", x.NS, x.Name)
			}
		}
		if !same {
			if _, _, taken := k.device(x.PeerNS, x.PeerName); taken {
				return fmt.Errorf("%s: link %s: file exists", x.PeerNS, x.PeerName)
			}
		}
		if x.PeerMaster != "" {
			if _, kind, ok := k.device(x.PeerNS, x.PeerMaster); !ok || kind != KindBridge {
				return fmt.Errorf("%s: master %s: no such bridge", x.PeerNS, x.PeerMaster)
			}
		}
	case Transit:
		if err := k.hasNS(x.PeerNS); err != nil {
			return err
		}
		if x.NS >= x.PeerNS {
			return fmt.Errorf("%s: transit %s: its namespace must sort before its peer's %s", x.NS, x.Name, x.PeerNS)
		}
		if !x.Addr.IsValid() || !x.PeerAddr.IsValid() || x.Addr.Masked() != x.PeerAddr.Masked() || x.Addr == x.PeerAddr {
			return fmt.Errorf("%s: transit %s: addresses %s and %s are not one link's", x.NS, x.Name, x.Addr, x.PeerAddr)
		}
		old, exists := k.state.Items[x.Key()]
		same := exists && !replaces(x, old)
		if !exists {
			if _, _, taken := k.device(x.NS, x.Name); taken {
				return fmt.Errorf("%s: link %s: file exists", x.NS, x.Name)
			}
		}
		if !same {
			if _, _, taken := k.device(x.PeerNS, x.PeerName); taken {
				return fmt.Errorf("%s: link %s: file exists", x.PeerNS, x.PeerName)
			}
		}
	case NatTable:
	case NatMap:
		if err := k.hasItem(x.NS, NatTable{NS: x.NS, Table: x.Table}.Key(), "table ip "+x.Table); err != nil {
			return err
		}
		for _, e := range x.elems() {
			if _, err := parseNatElem(x.Name, e); err != nil {
				return err
			}
		}
	case NatChain:
		if err := k.hasItem(x.NS, NatTable{NS: x.NS, Table: x.Table}.Key(), "table ip "+x.Table); err != nil {
			return err
		}
		switch x.Hook {
		case "prerouting", "postrouting", "input", "forward":
		default:
			return fmt.Errorf("%s: chain %s: bad hook %q", x.NS, x.Name, x.Hook)
		}
		if x.Policy != "accept" && x.Policy != "drop" {
			return fmt.Errorf("%s: chain %s: bad policy %q", x.NS, x.Name, x.Policy)
		}
		for _, text := range x.rules() {
			if _, err := parseNatRule(text); err != nil {
				return err
			}
			if _, m, ok := strings.Cut(text, "map @"); ok {
				if err := k.hasItem(x.NS, NatMap{NS: x.NS, Table: x.Table, Name: m}.Key(), "map "+m); err != nil {
					return err
				}
			}
		}
	case Addr:
		if _, _, ok := k.device(x.NS, x.Dev); !ok {
			return fmt.Errorf("%s: addr %s: no such device %s", x.NS, x.Prefix, x.Dev)
		}
	case Route:
		if x.Type == RouteBlackhole {
			if x.Dev != "" || x.Via.IsValid() {
				return fmt.Errorf("%s: a blackhole route has no device or gateway", x.NS)
			}
			return nil
		}
		up, _, ok := k.device(x.NS, x.Dev)
		if !ok {
			return fmt.Errorf("%s: route %s: no such device %s", x.NS, x.Dst, x.Dev)
		}
		if x.Via.IsValid() && (!up || !k.onLink(x.NS, x.Dev, x.Via)) {
			return fmt.Errorf("%s: route %s via %s: Nexthop has invalid gateway", x.NS, x.Dst, x.Via)
		}
	case Rule:
	case Sysctl:
	case TCProgram:
		if _, kind, ok := k.device(x.NS, x.Dev); !ok || kind != "veth" {
			return fmt.Errorf("%s: tc filter on %s: no such veth", x.NS, x.Dev)
		}
		if x.Kind != FastPort && x.Kind != FastNAT {
			return fmt.Errorf("%s: tc filter on %s: no program %q", x.NS, x.Dev, x.Kind)
		}
	case PortEntry:
		if _, err := net.ParseMAC(x.MAC); err != nil {
			return fmt.Errorf("%s: fdb: %w", x.NS, err)
		}
		if _, kind, ok := k.device(x.NS, x.Port); !ok || kind != "veth" {
			return fmt.Errorf("%s: fdb %s: no such port %s", x.NS, x.MAC, x.Port)
		}
		if _, kind, ok := k.device(x.NS, x.Bridge); !ok || kind != KindBridge {
			return fmt.Errorf("%s: fdb %s: no such bridge %s", x.NS, x.MAC, x.Bridge)
		}
	case PPv2Entry:
		if !x.Listen.Addr().Is4() {
			return fmt.Errorf("%s: ppv2 %s: not IPv4", x.NS, x.Listen)
		}
		if _, err := PPv2Header(x.Endpoint); err != nil {
			return fmt.Errorf("%s: ppv2 %s: %w", x.NS, x.Listen, err)
		}
	case FastListener:
		if !x.Listen.Addr().Is4() || !x.From.Is4() || (x.Buckets == 0 && !x.To.Is4()) {
			return fmt.Errorf("%s: fastpath listener %s: not IPv4", x.NS, x.Listen)
		}
		if _, kind, ok := k.device(x.NS, x.In); !ok || kind != "veth" {
			return fmt.Errorf("%s: fastpath listener %s: no such link %s", x.NS, x.Listen, x.In)
		}
		if x.Buckets < 0 || x.Buckets&(x.Buckets-1) != 0 {
			return fmt.Errorf("%s: fastpath listener %s: %d buckets", x.NS, x.Listen, x.Buckets)
		}
		if _, err := x.allow(); err != nil {
			return fmt.Errorf("%s: %w", x.NS, err)
		}
	case FastBackends:
		if _, err := x.targets(); err != nil {
			return fmt.Errorf("%s: %w", x.NS, err)
		}
	case ResolvConf:
		if !x.Nameserver.Is4() {
			return fmt.Errorf("%s: resolv.conf: bad nameserver %s", x.NS, x.Nameserver)
		}
	case NftTable:
	case NftSet:
		return k.hasItem(x.NS, NftTable{NS: x.NS}.Key(), "table inet "+NftTableName)
	case NftElem:
		if !x.Addr.Is4() {
			return fmt.Errorf("%s: set %s: %s is not an IPv4 address", x.NS, x.Set, x.Addr)
		}
		return k.hasItem(x.NS, NftSet{NS: x.NS, Name: x.Set}.Key(), "set "+x.Set)
	case NftChain:
		if err := k.hasItem(x.NS, NftTable{NS: x.NS}.Key(), "table inet "+NftTableName); err != nil {
			return err
		}
		switch {
		case x.Hook == "" && x.Rules == "" && x.Policy == "":
			return nil
		case x.Hook != "input" && x.Hook != "output" && x.Hook != "forward", x.Policy != "accept" && x.Policy != "drop":
			return fmt.Errorf("%s: chain %s: bad hook %q or policy %q", x.NS, x.Name, x.Hook, x.Policy)
		}
		for _, text := range x.matches() {
			m, _, err := ParseMatch(text)
			if err != nil {
				return err
			}
			if err := k.checkRefs(x.NS, m); err != nil {
				return err
			}
		}
	case NftRule:
		c, ok := k.state.Items[NftChain{NS: x.NS, Name: x.Chain}.Key()].(NftChain)
		if !ok {
			return fmt.Errorf("%s: rule %s: no such chain %s", x.NS, x.Match.Text(ingressChain(x.Chain)), x.Chain)
		}
		if c.Hook != "" {
			return fmt.Errorf("%s: chain %s is a base chain; its rules are part of it", x.NS, x.Chain)
		}
		return k.checkRefs(x.NS, x.Match)
	default:
		return fmt.Errorf("unknown item %T", it)
	}
	return nil
}

// onLink reports whether an address on dev has a prefix holding gw.
func (k *FakeKernel) onLink(ns, dev string, gw netip.Addr) bool {
	for _, it := range k.state.Items {
		if a, ok := it.(Addr); ok && a.NS == ns && a.Dev == dev && a.Prefix.Contains(gw) {
			return true
		}
	}
	return false
}

func (k *FakeKernel) hasItem(ns, key, what string) error {
	if _, ok := k.state.Items[key]; !ok {
		return fmt.Errorf("%s: %s: no such file or directory", ns, what)
	}
	return nil
}

// checkRefs refuses a rule whose set or jump target does not exist, as
// nftables does.
func (k *FakeKernel) checkRefs(ns string, m Match) error {
	if set, ok := m.setName(); ok {
		if err := k.hasItem(ns, NftSet{NS: ns, Name: set}.Key(), "set "+set); err != nil {
			return err
		}
	}
	if chain, ok := m.jumpTarget(); ok {
		c, found := k.state.Items[NftChain{NS: ns, Name: chain}.Key()].(NftChain)
		if !found || c.Hook != "" {
			return fmt.Errorf("%s: jump %s: no such regular chain", ns, chain)
		}
	}
	return nil
}

// inUse refuses to remove a set a rule uses or a chain a rule jumps to
// (EBUSY), unless the rule goes with it.
func (k *FakeKernel) inUse(it Item) error {
	var set, chain string
	switch x := it.(type) {
	case NftSet:
		set = x.Name
	case NftChain:
		chain = x.Name
	case NatMap:
		for _, other := range k.state.Items {
			if c, ok := other.(NatChain); ok && c.NS == x.NS && c.Table == x.Table && strings.Contains(c.Rules, "map @"+x.Name) {
				return fmt.Errorf("%s: deleting %s: device or resource busy (used by chain %s)", x.NS, x.Key(), c.Name)
			}
		}
		return nil
	default:
		return nil
	}
	uses := func(owner NftChain, m Match) bool {
		if s, ok := m.setName(); ok && set != "" && s == set {
			return true
		}
		if c, ok := m.jumpTarget(); ok && chain != "" && c == chain && owner.Name != chain {
			return true
		}
		return false
	}
	for _, other := range k.state.Items {
		switch o := other.(type) {
		case NftRule:
			if o.NS == it.Namespace() && o.Chain != chain && uses(NftChain{Name: o.Chain}, o.Match) {
				return fmt.Errorf("%s: deleting %s: device or resource busy (used by rule %s)", o.NS, it.Key(), o.Key())
			}
		case NftChain:
			if o.NS != it.Namespace() || o.Name == chain {
				continue
			}
			for _, text := range o.matches() {
				if m, _, err := ParseMatch(text); err == nil && uses(o, m) {
					return fmt.Errorf("%s: deleting %s: device or resource busy (used by chain %s)", o.NS, it.Key(), o.Name)
				}
			}
		}
	}
	return nil
}
