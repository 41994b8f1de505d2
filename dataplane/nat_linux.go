package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/fastpath"
)

// The NAT tables (nat.go) and transit links (transit.go) of LinuxKernel.

func natTable(name string) *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyIPv4, Name: name}
}

// natSet returns the nftables map of a NatMap's name.
func natSet(table, name string) (*nftables.Set, error) {
	s := &nftables.Set{Table: natTable(table), Name: name, IsMap: true}
	switch name {
	case MapListeners:
		s.KeyType = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
		s.DataType = nftables.TypeIPAddr
		s.Concatenation = true
	case MapSources:
		s.KeyType, s.DataType = nftables.TypeIPAddr, nftables.TypeIPAddr
	case MapBackends:
		s.KeyType = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeMark)
		s.DataType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
		s.Concatenation = true
	default:
		return nil, fmt.Errorf("dataplane: unknown NAT map %q", name)
	}
	return s, nil
}

// natElemBytes encodes an element line as the kernel holds it: every field
// of a concatenation in a 4-byte register slot; protocols and marks in host
// order, ports and addresses in network order.
func natElemBytes(name, line string) (key, value []byte, err error) {
	e, err := parseNatElem(name, line)
	if err != nil {
		return nil, nil, err
	}
	kt, vt, _ := natMapType(name)
	enc := func(types string, vals []uint64) []byte {
		var b []byte
		for i, t := range strings.Split(types, " . ") {
			switch t {
			case "inet_proto":
				b = append(b, byte(vals[i]), 0, 0, 0)
			case "inet_service":
				b = binary.BigEndian.AppendUint16(b, uint16(vals[i]))
				b = append(b, 0, 0)
			case "mark":
				b = binary.NativeEndian.AppendUint32(b, uint32(vals[i]))
			case "ipv4_addr":
				b = binary.BigEndian.AppendUint32(b, uint32(vals[i]))
			}
		}
		return b
	}
	return enc(kt, e.key), enc(vt, e.value), nil
}

// natElemText decodes what natElemBytes encodes; ok is false for anything
// else.
func natElemText(name string, key, value []byte) (string, bool) {
	kt, vt, ok := natMapType(name)
	if !ok {
		return "", false
	}
	dec := func(types string, b []byte) (string, bool) {
		var parts []string
		for _, t := range strings.Split(types, " . ") {
			const n = 4 // every field fills a register slot
			if len(b) < n {
				return "", false
			}
			f := b[:n]
			b = b[n:]
			switch t {
			case "inet_proto":
				s, ok := natProtoNames[int(f[0])]
				if !ok {
					return "", false
				}
				parts = append(parts, s)
			case "inet_service":
				parts = append(parts, fmt.Sprint(binary.BigEndian.Uint16(f)))
			case "mark":
				parts = append(parts, fmt.Sprint(binary.NativeEndian.Uint32(f)))
			case "ipv4_addr":
				parts = append(parts, netip.AddrFrom4([4]byte(f)).String())
			}
		}
		return strings.Join(parts, " . "), len(b) == 0
	}
	k, ok1 := dec(kt, key)
	v, ok2 := dec(vt, value)
	return k + " : " + v, ok1 && ok2
}

func (k *LinuxKernel) ensureNat(it Item) error {
	nc, err := k.nftConn(it.Namespace())
	if err != nil {
		return err
	}
	switch x := it.(type) {
	case NatTable:
		nc.AddTable(natTable(x.Table))
	case NatMap:
		set, err := natSet(x.Table, x.Name)
		if err != nil {
			return err
		}
		if err := nc.AddSet(set, nil); err != nil {
			return err
		}
		// Only the elements that differ, in the same batch.
		want := map[string]bool{}
		for _, e := range x.elems() {
			want[e] = true
		}
		have := map[string]bool{}
		var stale []nftables.SetElement
		if elems, err := nc.GetSetElements(set); err == nil {
			for _, e := range elems {
				text, ok := natElemText(x.Name, e.Key, e.Val)
				if ok && want[text] {
					have[text] = true
					continue
				}
				stale = append(stale, nftables.SetElement{Key: e.Key})
			}
		}
		if len(stale) > 0 {
			if err := nc.SetDeleteElements(set, stale); err != nil {
				return err
			}
		}
		var add []nftables.SetElement
		for e := range want {
			if have[e] {
				continue
			}
			key, val, err := natElemBytes(x.Name, e)
			if err != nil {
				return err
			}
			add = append(add, nftables.SetElement{Key: key, Val: val})
		}
		if len(add) > 0 {
			if err := nc.SetAddElements(set, add); err != nil {
				return err
			}
		}
	case NatChain:
		return ensureNatChain(nc, x)
	default:
		return fmt.Errorf("dataplane: unknown item %T", it)
	}
	return nc.Flush()
}

var natHooks = map[string]*nftables.ChainHook{
	"prerouting":  nftables.ChainHookPrerouting,
	"postrouting": nftables.ChainHookPostrouting,
	"input":       nftables.ChainHookInput,
	"forward":     nftables.ChainHookForward,
}

func natChainSpec(x NatChain) (*nftables.Chain, error) {
	hook, ok := natHooks[x.Hook]
	if !ok {
		return nil, fmt.Errorf("dataplane: chain %s: unknown hook %q", x.Name, x.Hook)
	}
	ch := &nftables.Chain{Name: x.Name, Table: natTable(x.Table), Hooknum: hook}
	policy := nftables.ChainPolicyAccept
	if x.Policy == "drop" {
		policy = nftables.ChainPolicyDrop
	}
	ch.Policy = &policy
	switch x.Hook {
	case "prerouting":
		ch.Type, ch.Priority = nftables.ChainTypeNAT, nftables.ChainPriorityNATDest
	case "postrouting":
		ch.Type, ch.Priority = nftables.ChainTypeNAT, nftables.ChainPriorityNATSource
	default:
		ch.Type, ch.Priority = nftables.ChainTypeFilter, nftables.ChainPriorityFilter
	}
	return ch, nil
}

func ensureNatChain(nc *nftables.Conn, x NatChain) error {
	ch, err := natChainSpec(x)
	if err != nil {
		return err
	}
	var want []*nftables.Rule
	for _, text := range x.rules() {
		r, err := natRuleOf(ch, text)
		if err != nil {
			return err
		}
		want = append(want, r)
	}
	have, err := nc.GetRules(ch.Table, ch)
	same := err == nil && len(have) == len(want)
	for i := 0; same && i < len(have); i++ {
		same = ruleComment(have[i]) == ruleComment(want[i])
	}
	nc.AddChain(ch)
	if !same {
		// The counters its rules use, those missing only (adding one
		// that exists would be harmless, but this keeps it untouched).
		have := map[string]bool{}
		if objs, err := nc.GetNamedObjects(ch.Table); err == nil {
			for _, o := range objs {
				if n, ok := counterObjName(o); ok {
					have[n] = true
				}
			}
		}
		for _, n := range x.counters() {
			if !have[n] {
				nc.AddObj(&nftables.CounterObj{Table: ch.Table, Name: n})
			}
		}
		nc.FlushChain(ch)
		for _, r := range want {
			nc.AddRule(r)
		}
		if err := nc.Flush(); err != nil {
			return err
		}
		deleteUnusedCounters(nc, ch.Table)
		return nil
	}
	return nc.Flush()
}

func counterObjName(o nftables.Obj) (string, bool) {
	switch x := o.(type) {
	case *nftables.CounterObj:
		return x.Name, true
	case *nftables.NamedObj:
		if x.Type == nftables.ObjTypeCounter {
			return x.Name, true
		}
	}
	return "", false
}

// deleteUnusedCounters deletes the named counters of table that no rule
// of it uses any more (a transit link that went): each in a batch of its
// own, since the kernel refuses (EBUSY) to delete one a rule uses.
func deleteUnusedCounters(nc *nftables.Conn, table *nftables.Table) {
	objs, err := nc.GetNamedObjects(table)
	if err != nil {
		return
	}
	used := map[string]bool{}
	if chains, err := nc.ListChainsOfTableFamily(nftables.TableFamilyIPv4); err == nil {
		for _, ch := range chains {
			if ch.Table == nil || ch.Table.Name != table.Name {
				continue
			}
			ch.Table = table
			rules, err := nc.GetRules(table, ch)
			if err != nil {
				return // unsure: keep them all
			}
			for _, r := range rules {
				for _, e := range r.Exprs {
					if o, ok := e.(*expr.Objref); ok {
						used[o.Name] = true
					}
				}
			}
		}
	} else {
		return
	}
	for _, o := range objs {
		if n, ok := counterObjName(o); ok && !used[n] {
			nc.DeleteObject(&nftables.CounterObj{Table: table, Name: n})
			nc.Flush() // refused if a rule uses it after all: it stays
		}
	}
}

// isAction reports whether e ends a rule: a verdict or NAT.
func isAction(e expr.Any) bool {
	switch e.(type) {
	case *expr.Verdict, *expr.NAT:
		return true
	}
	return false
}

func (k *LinuxKernel) removeNat(it Item) error {
	nc, err := k.nftConn(it.Namespace())
	if err != nil {
		return err
	}
	switch x := it.(type) {
	case NatTable:
		nc.DelTable(natTable(x.Table))
	case NatMap:
		set, err := natSet(x.Table, x.Name)
		if err != nil {
			return err
		}
		nc.DelSet(set)
	case NatChain:
		ch := &nftables.Chain{Name: x.Name, Table: natTable(x.Table)}
		nc.FlushChain(ch)
		nc.DelChain(ch)
		if err := nc.Flush(); err != nil {
			return err
		}
		deleteUnusedCounters(nc, ch.Table) // the chain's own counters
		return nil
	default:
		return fmt.Errorf("dataplane: unknown item %T", it)
	}
	return nc.Flush()
}

// observeNat reads the NAT tables of a namespace into hc.
func observeNat(hc *HostConfig, ns string, nc *nftables.Conn) error {
	tables, err := nc.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if t.Name != NatTablePL && t.Name != NatTableLB {
			continue
		}
		tbl := natTable(t.Name)
		hc.Add("", NatTable{NS: ns, Table: t.Name})
		sets, err := nc.GetSets(tbl)
		if err != nil {
			return err
		}
		for _, s := range sets {
			if s.Anonymous {
				continue
			}
			elems, err := nc.GetSetElements(s)
			if err != nil {
				return err
			}
			var lines []string
			for _, e := range elems {
				text, ok := natElemText(s.Name, e.Key, e.Val)
				if !ok {
					text = "?" // not ours: differs from every plan
				}
				lines = append(lines, text)
			}
			hc.Add("", natMap(ns, t.Name, s.Name, lines))
		}
		chains, err := nc.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil {
			return err
		}
		for _, ch := range chains {
			if ch.Table == nil || ch.Table.Name != t.Name {
				continue
			}
			ch.Table = tbl
			rules, err := nc.GetRules(tbl, ch)
			if err != nil {
				return err
			}
			c := NatChain{NS: ns, Table: t.Name, Name: ch.Name, Hook: "?", Policy: "accept"}
			if ch.Hooknum != nil {
				for name, h := range natHooks {
					if *h == *ch.Hooknum {
						c.Hook = name
					}
				}
				if want, err := natChainSpec(NatChain{Hook: c.Hook}); err != nil || ch.Type != want.Type || ch.Priority == nil || *ch.Priority != *want.Priority {
					c.Hook = "?" // not as Isthmus makes it
				}
			}
			if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
				c.Policy = "drop"
			}
			texts := make([]string, len(rules))
			for i, r := range rules {
				texts[i] = ruleComment(r)
				if texts[i] == "" {
					texts[i] = "?"
				}
			}
			c.Rules = strings.Join(texts, "\n")
			hc.Add("", c)
		}
	}
	return nil
}

// Registers: NFT_REG_1 is the first of the 32-bit registers 8 to 23 that
// concatenations use; regReg2 is the 128-bit register 2 (32-bit 12 to 15).
const (
	reg1   = 1
	reg9   = 9
	reg10  = 10
	regR2  = 2
	reg13  = 13
	reg14  = 14
	reg15  = 15
	ifname = unix.IFNAMSIZ
)

// natRuleOf builds a rule of chain ch from its text.
func natRuleOf(ch *nftables.Chain, text string) (*nftables.Rule, error) {
	r, err := parseNatRule(text)
	if err != nil {
		return nil, err
	}
	var ex []expr.Any
	add := func(e ...expr.Any) { ex = append(ex, e...) }
	cmp := func(reg uint32, op expr.CmpOp, data []byte) { add(&expr.Cmp{Op: op, Register: reg, Data: data}) }
	ifName := func(key expr.MetaKey, name string, prefix bool) {
		add(&expr.Meta{Key: key, Register: reg1})
		b := []byte(name)
		if !prefix {
			b = make([]byte, ifname)
			copy(b, name)
		}
		cmp(reg1, expr.CmpOpEq, b)
	}
	ctBits := func(key expr.CtKey, bits uint32) {
		add(&expr.Ct{Register: reg1, Key: key},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binary.NativeEndian.AppendUint32(nil, bits), Xor: make([]byte, 4)})
		cmp(reg1, expr.CmpOpNeq, make([]byte, 4))
	}
	const ipsDstNat = 1 << 5 // IPS_DST_NAT
	payload := func(base expr.PayloadBase, off, n, reg uint32) {
		add(&expr.Payload{DestRegister: reg, Base: base, Offset: off, Len: n})
	}
	nat := func(typ expr.NATType, proto bool) {
		n := &expr.NAT{Type: typ, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegAddrMax: reg1}
		if proto {
			n.RegProtoMin, n.RegProtoMax = reg9, reg9
		}
		add(n)
	}
	switch r.form {
	case ruleEstablished:
		ctBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
		add(&expr.Verdict{Kind: expr.VerdictAccept})
	case ruleEndpointSNAT:
		ctBits(expr.CtKeySTATUS, ipsDstNat)
		payload(expr.PayloadBaseNetworkHeader, 16, 4, reg1)
		add(&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: MapSources})
		nat(expr.NATTypeSourceNAT, false)
	case ruleEndpointFwd:
		ifName(expr.MetaKeyIIFNAME, ENIDevice, false)
		ctBits(expr.CtKeySTATUS, ipsDstNat)
		add(&expr.Verdict{Kind: expr.VerdictAccept})
	case ruleEndpointInput:
		ifName(expr.MetaKeyIIFNAME, TransitPrefix, true)
		ctBits(expr.CtKeySTATE, expr.CtStateBitNEW)
		add(&expr.Verdict{Kind: expr.VerdictDrop})
	case ruleLBFwd:
		ifName(expr.MetaKeyOIFNAME, ENIDevice, false)
		ctBits(expr.CtKeySTATUS, ipsDstNat)
		add(&expr.Verdict{Kind: expr.VerdictAccept})
	case "endpoint-dnat":
		ifName(expr.MetaKeyIIFNAME, ENIDevice, false)
		payload(expr.PayloadBaseNetworkHeader, 16, 4, reg1)
		cmp(reg1, expr.CmpOpEq, r.addr.AsSlice())
		add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1})
		payload(expr.PayloadBaseTransportHeader, 2, 2, reg9)
		add(&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: MapListeners})
		nat(expr.NATTypeDestNAT, false)
	case "lb-local":
		ifName(expr.MetaKeyIIFNAME, ENIDevice, false)
		add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1})
		cmp(reg1, expr.CmpOpEq, []byte{unix.IPPROTO_TCP})
		payload(expr.PayloadBaseTransportHeader, 2, 2, reg1)
		cmp(reg1, expr.CmpOpEq, binary.BigEndian.AppendUint16(nil, r.port))
		add(&expr.Verdict{Kind: expr.VerdictAccept})
	case "lb-snat":
		ifName(expr.MetaKeyOIFNAME, ENIDevice, false)
		ctBits(expr.CtKeySTATUS, ipsDstNat)
		add(&expr.Immediate{Register: reg1, Data: r.addr.AsSlice()})
		nat(expr.NATTypeSourceNAT, false)
	case "lb-dnat":
		add(&expr.Fib{Register: reg1, ResultADDRTYPE: true, FlagDADDR: true})
		cmp(reg1, expr.CmpOpEq, binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL))
		add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1})
		payload(expr.PayloadBaseTransportHeader, 2, 2, reg9)
		payload(expr.PayloadBaseNetworkHeader, 12, 4, regR2)
		payload(expr.PayloadBaseNetworkHeader, 16, 4, reg13)
		payload(expr.PayloadBaseTransportHeader, 0, 2, reg14)
		payload(expr.PayloadBaseTransportHeader, 2, 2, reg15)
		add(&expr.Hash{SourceRegister: regR2, DestRegister: reg10, Length: 16, Modulus: uint32(r.buckets), Seed: r.seed, Type: expr.HashTypeJenkins})
		add(&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: MapBackends})
		nat(expr.NATTypeDestNAT, true)
	case "count":
		if r.dev != "" {
			key := expr.MetaKeyOIFNAME
			if r.in {
				key = expr.MetaKeyIIFNAME
			}
			name, prefix := strings.CutSuffix(r.dev, "*")
			ifName(key, name, prefix)
		}
		if r.new {
			ctBits(expr.CtKeySTATE, expr.CtStateBitNEW)
		}
		if r.rst {
			add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1})
			cmp(reg1, expr.CmpOpEq, []byte{unix.IPPROTO_TCP})
			payload(expr.PayloadBaseTransportHeader, 13, 1, reg1)
			add(&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1, Mask: []byte{0x04}, Xor: []byte{0}})
			cmp(reg1, expr.CmpOpNeq, []byte{0})
		}
	default:
		return nil, fmt.Errorf("dataplane: no expressions for NAT rule %q", text)
	}
	if r.counter != "" {
		// Before the action (a verdict or NAT), after every match and
		// map lookup: it counts what the rule acts on.
		ref := &expr.Objref{Type: int(nftables.ObjTypeCounter), Name: r.counter}
		switch last := len(ex) - 1; {
		case last >= 0 && isAction(ex[last]):
			ex = append(ex[:last], ref, ex[last])
		default:
			ex = append(ex, ref)
		}
	}
	return &nftables.Rule{
		Table:    ch.Table,
		Chain:    ch,
		Exprs:    ex,
		UserData: userdata.AppendString(nil, userdata.TypeComment, text),
	}, nil
}

// ensureTransit makes a transit link exactly as given: the veth pair, both
// ends up, and each end holding only its address.
func (k *LinuxKernel) ensureTransit(x Transit) error {
	if err := k.ensureVeth(Veth{NS: x.NS, Name: x.Name, PeerNS: x.PeerNS, PeerName: x.PeerName, Up: true}); err != nil {
		return err
	}
	for _, end := range []struct {
		ns, dev string
		addr    netip.Prefix
	}{{x.NS, x.Name, x.Addr}, {x.PeerNS, x.PeerName, x.PeerAddr}} {
		c, l, err := k.link(end.ns, end.dev)
		if err != nil {
			return err
		}
		addrs, err := retryDump(func() ([]netlink.Addr, error) { return c.nl.AddrList(l, netlink.FAMILY_V4) })
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if p, ok := prefixOf(a.IPNet); ok && p != end.addr {
				if err := c.nl.AddrDel(l, &a); err != nil && !missing(err) {
					return err
				}
			}
		}
		err = c.nl.AddrAdd(l, &netlink.Addr{IPNet: ipNet(end.addr)})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("netns %s: %s: adding %s: %w", end.ns, end.dev, end.addr, err)
		}
	}
	return nil
}

// removeTransit deletes a transit link and then the conntrack entries of
// its addresses in both namespaces (either may be gone already).
func (k *LinuxKernel) removeTransit(x Transit) error {
	err := k.remove(Veth{NS: x.NS, Name: x.Name, PeerNS: x.PeerNS, PeerName: x.PeerName})
	if err != nil && !missing(err) {
		return err
	}
	addrs := []netip.Addr{x.Addr.Addr(), x.PeerAddr.Addr()}
	var errs []error
	for _, ns := range []string{x.NS, x.PeerNS} {
		if _, err := k.FlushConntrack(ns, addrs...); err != nil && !missing(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// FlushConntrack deletes, in namespace ns, every conntrack entry that has
// one of addrs as a source or destination in either direction, and
// returns how many it deleted. The next packet of such a flow is a new
// flow to the kernel: with no NAT for it any more, it is answered with a
// reset (TCP) or port unreachable (UDP), or dropped.
func (k *LinuxKernel) FlushConntrack(ns string, addrs ...netip.Addr) (uint, error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	c, err := k.conn(ns)
	if err != nil {
		return 0, err
	}
	f := conntrackAddrs{}
	for _, a := range addrs {
		if a.IsValid() {
			f[a] = true
		}
	}
	n, err := c.nl.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, f)
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		n2, err2 := c.nl.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, f)
		n, err = n+n2, err2
	}
	return n, errors.Join(err, k.forgetFlows(c))
}

// FlushConntrackTo deletes, in namespace ns, the conntrack entries of
// flows NATed to dst:port (protocol proto, 0 for any): a target's flows
// in a load balancer node.
func (k *LinuxKernel) FlushConntrackTo(ns string, proto uint8, dst netip.AddrPort) (uint, error) {
	c, err := k.conn(ns)
	if err != nil {
		return 0, err
	}
	f := conntrackReplySource{proto: proto, src: dst}
	n, err := c.nl.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, f)
	return n, errors.Join(err, k.forgetFlows(c))
}

// CountFlowsTo counts, in namespace ns, the conntrack entries of flows
// NATed to dst.
func (k *LinuxKernel) CountFlowsTo(ns string, dst netip.AddrPort) (int, error) {
	c, err := k.conn(ns)
	if err != nil {
		return 0, err
	}
	flows, err := retryDump(func() ([]*netlink.ConntrackFlow, error) {
		return c.nl.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	})
	if err != nil {
		return 0, err
	}
	f := conntrackReplySource{src: dst}
	n := 0
	for _, fl := range flows {
		if !f.MatchConntrackFlow(fl) {
			continue
		}
		// A TCP flow that is over (TIME_WAIT, CLOSE; for a flow the
		// fast path opened, a FIN or RST went through) is not a live one.
		if open, owned := fastpath.OwnedOpen(fl.Mark); owned {
			if !open {
				continue
			}
		} else if tcp, ok := fl.ProtoInfo.(*netlink.ProtoInfoTCP); ok && tcp.State >= 7 {
			continue
		}
		n++
	}
	return n, nil
}

// conntrackAddrs matches the flows that have one of its addresses
// anywhere in their tuples.
type conntrackAddrs map[netip.Addr]bool

func (f conntrackAddrs) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	for _, ip := range []net.IP{flow.Forward.SrcIP, flow.Forward.DstIP, flow.Reverse.SrcIP, flow.Reverse.DstIP} {
		if a, ok := netip.AddrFromSlice(ip); ok && f[a.Unmap()] {
			return true
		}
	}
	return false
}

// conntrackReplySource matches the flows whose replies come from src: the
// flows DNATed to it.
type conntrackReplySource struct {
	proto uint8
	src   netip.AddrPort
}

func (f conntrackReplySource) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	a, ok := netip.AddrFromSlice(flow.Reverse.SrcIP)
	return ok && a.Unmap() == f.src.Addr() && flow.Reverse.SrcPort == f.src.Port() &&
		(f.proto == 0 || flow.Forward.Protocol == f.proto)
}
