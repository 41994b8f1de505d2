package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/netns"
)

// The nftables side of LinuxKernel, over github.com/google/nftables. Each
// namespace's nftables netlink socket is opened inside it with netns.Do
// (never with the library's own namespace switching) and kept with its
// rtnetlink handle. Every rule Isthmus writes carries its Match text as
// its comment: that is how Observe reads rules back and Remove finds them.

var nftTable = &nftables.Table{Family: nftables.TableFamilyINet, Name: NftTableName}

// openNft opens an nftables connection inside the namespace fd.
func openNft(fd netns.Handle) (*nftables.Conn, error) {
	var c *nftables.Conn
	err := netns.Do(fd, func() error {
		var err error
		c, err = nftables.New(nftables.AsLasting())
		return err
	})
	return c, err
}

func (k *LinuxKernel) nftConn(ns string) (*nftables.Conn, error) {
	c, err := k.conn(ns)
	if err != nil {
		return nil, err
	}
	return c.nft, nil
}

func (k *LinuxKernel) ensureNft(it Item) error {
	nc, err := k.nftConn(it.Namespace())
	if err != nil {
		return err
	}
	switch x := it.(type) {
	case NftTable:
		nc.AddTable(nftTable)
	case NftSet:
		if err := nc.AddSet(nftSet(x.Name), nil); err != nil {
			return err
		}
	case NftElem:
		if err := nc.SetAddElements(nftSet(x.Set), []nftables.SetElement{{Key: x.Addr.AsSlice()}}); err != nil {
			return err
		}
	case NftChain:
		return k.ensureChain(nc, x)
	case NftRule:
		rules, err := nc.GetRules(nftTable, &nftables.Chain{Name: x.Chain, Table: nftTable})
		if err != nil {
			return fmt.Errorf("chain %s: %w", x.Chain, err)
		}
		text := x.text()
		for _, r := range rules {
			if ruleComment(r) == text {
				return nil
			}
		}
		r, err := nftRule(x.Chain, x.Match)
		if err != nil {
			return err
		}
		nc.AddRule(r)
	default:
		return fmt.Errorf("dataplane: unknown item %T", it)
	}
	return nc.Flush()
}

func (k *LinuxKernel) ensureChain(nc *nftables.Conn, x NftChain) error {
	ch := &nftables.Chain{Name: x.Name, Table: nftTable}
	if x.Hook == "" {
		nc.AddChain(ch)
		return nc.Flush()
	}
	hook, ok := nftHooks[x.Hook]
	if !ok {
		return fmt.Errorf("dataplane: chain %s: unknown hook %q", x.Name, x.Hook)
	}
	policy := nftables.ChainPolicyDrop
	if x.Policy == "accept" {
		policy = nftables.ChainPolicyAccept
	}
	ch.Hooknum, ch.Priority, ch.Type, ch.Policy = hook, nftables.ChainPriorityFilter, nftables.ChainTypeFilter, &policy
	var want []*nftables.Rule
	for _, text := range x.matches() {
		m, _, err := ParseMatch(text)
		if err != nil {
			return err
		}
		r, err := nftRule(x.Name, m)
		if err != nil {
			return err
		}
		want = append(want, r)
	}
	// The chain's rules as they are: rewrite them only if they differ, in
	// the same batch as the chain, so that no packet sees half of them.
	have, err := nc.GetRules(nftTable, ch)
	same := err == nil && len(have) == len(want)
	for i := 0; same && i < len(have); i++ {
		same = ruleComment(have[i]) == ruleComment(want[i])
	}
	nc.AddChain(ch)
	if !same {
		nc.FlushChain(ch)
		for _, r := range want {
			nc.AddRule(r)
		}
	}
	return nc.Flush()
}

var nftHooks = map[string]*nftables.ChainHook{"input": nftables.ChainHookInput, "output": nftables.ChainHookOutput, "forward": nftables.ChainHookForward}

func nftSet(name string) *nftables.Set {
	return &nftables.Set{Table: nftTable, Name: name, KeyType: nftables.TypeIPAddr}
}

func (k *LinuxKernel) removeNft(it Item) error {
	nc, err := k.nftConn(it.Namespace())
	if err != nil {
		return err
	}
	switch x := it.(type) {
	case NftTable:
		nc.DelTable(nftTable)
	case NftSet:
		nc.DelSet(nftSet(x.Name))
	case NftElem:
		if err := nc.SetDeleteElements(nftSet(x.Set), []nftables.SetElement{{Key: x.Addr.AsSlice()}}); err != nil {
			return err
		}
	case NftChain:
		ch := &nftables.Chain{Name: x.Name, Table: nftTable}
		nc.FlushChain(ch)
		nc.DelChain(ch)
	case NftRule:
		ch := &nftables.Chain{Name: x.Chain, Table: nftTable}
		rules, err := nc.GetRules(nftTable, ch)
		if err != nil {
			return err
		}
		text := x.text()
		handle, junk := junkHandle(x.Match)
		for _, r := range rules {
			if (junk && r.Handle == handle) || (!junk && ruleComment(r) == text) {
				if err := nc.DelRule(r); err != nil {
					return err
				}
			}
		}
	default:
		return fmt.Errorf("dataplane: unknown item %T", it)
	}
	return nc.Flush()
}

// ruleComment is the comment of a rule: the Match text Isthmus wrote.
func ruleComment(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// junkPrefix starts the Verdict of a rule Observe found without a comment
// it can parse: Remove deletes it by handle.
const junkPrefix = "?handle "

func junkHandle(m Match) (uint64, bool) {
	s, ok := strings.CutPrefix(m.Verdict, junkPrefix)
	if !ok {
		return 0, false
	}
	h, err := strconv.ParseUint(s, 10, 64)
	return h, err == nil
}

// observeNft reads the table of a namespace into hc.
func observeNft(hc *HostConfig, ns string, nc *nftables.Conn) error {
	if _, err := nc.ListTableOfFamily(NftTableName, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	hc.Add("", NftTable{NS: ns})
	sets, err := nc.GetSets(nftTable)
	if err != nil {
		return err
	}
	for _, s := range sets {
		if s.Anonymous {
			continue
		}
		hc.Add("", NftSet{NS: ns, Name: s.Name})
		elems, err := nc.GetSetElements(s)
		if err != nil {
			return err
		}
		for _, e := range elems {
			if a, ok := netip.AddrFromSlice(e.Key); ok && a.Is4() {
				hc.Add("", NftElem{NS: ns, Set: s.Name, Addr: a})
			}
		}
	}
	chains, err := nc.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return err
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != NftTableName {
			continue
		}
		ch.Table = nftTable
		rules, err := nc.GetRules(nftTable, ch)
		if err != nil {
			return err
		}
		if ch.Hooknum == nil {
			hc.Add("", NftChain{NS: ns, Name: ch.Name})
			for _, r := range rules {
				m, _, err := ParseMatch(ruleComment(r))
				if err != nil {
					m = Match{Proto: -1, From: -1, To: -1, Verdict: junkPrefix + strconv.FormatUint(r.Handle, 10)}
				}
				hc.Add("", NftRule{NS: ns, Chain: ch.Name, Match: m})
			}
			continue
		}
		c := NftChain{NS: ns, Name: ch.Name, Hook: "hook" + strconv.Itoa(int(*ch.Hooknum)), Policy: "accept"}
		for name, h := range nftHooks {
			if *h == *ch.Hooknum && ch.Type == nftables.ChainTypeFilter && ch.Priority != nil && *ch.Priority == 0 {
				c.Hook = name
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
	return nil
}

// nftRule builds the expressions of a Match for a chain, with the Match
// text as the rule's comment.
func nftRule(chain string, m Match) (*nftables.Rule, error) {
	ingress := ingressChain(chain)
	const reg = 1
	var ex []expr.Any
	cmp := func(op expr.CmpOp, data []byte) { ex = append(ex, &expr.Cmp{Op: op, Register: reg, Data: data}) }
	meta := func(key expr.MetaKey) { ex = append(ex, &expr.Meta{Key: key, Register: reg}) }
	payload := func(base expr.PayloadBase, off, n uint32) {
		ex = append(ex, &expr.Payload{DestRegister: reg, Base: base, Offset: off, Len: n})
	}
	switch {
	case m.Loopback:
		if ingress {
			meta(expr.MetaKeyIIF)
		} else {
			meta(expr.MetaKeyOIF)
		}
		cmp(expr.CmpOpEq, binary.NativeEndian.AppendUint32(nil, 1)) // lo is ifindex 1 in every namespace
	case m.Iif != "":
		meta(expr.MetaKeyIIFNAME)
		name, prefix := strings.CutSuffix(m.Iif, "*")
		b := []byte(name)
		if !prefix {
			b = make([]byte, unix.IFNAMSIZ)
			copy(b, name)
		}
		cmp(expr.CmpOpEq, b)
	case m.CtState != "":
		var bits uint32
		for _, s := range strings.Split(m.CtState, ",") {
			switch s {
			case "established":
				bits |= expr.CtStateBitESTABLISHED
			case "related":
				bits |= expr.CtStateBitRELATED
			case "invalid":
				bits |= expr.CtStateBitINVALID
			case "new":
				bits |= expr.CtStateBitNEW
			default:
				return nil, fmt.Errorf("dataplane: unknown ct state %q", s)
			}
		}
		ex = append(ex, &expr.Ct{Register: reg, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4,
				Mask: binary.NativeEndian.AppendUint32(nil, bits), Xor: make([]byte, 4)})
		cmp(expr.CmpOpNeq, make([]byte, 4))
	default:
		meta(expr.MetaKeyNFPROTO)
		cmp(expr.CmpOpEq, []byte{unix.NFPROTO_IPV4})
		if m.Peer == "" {
			break
		}
		off := uint32(16) // daddr
		if ingress {
			off = 12 // saddr
		}
		payload(expr.PayloadBaseNetworkHeader, off, 4)
		if set, ok := m.setName(); ok {
			ex = append(ex, &expr.Lookup{SourceRegister: reg, SetName: set})
			break
		}
		p, ok := parsePeer(m.Peer)
		if !ok {
			return nil, fmt.Errorf("dataplane: bad peer %q", m.Peer)
		}
		if p.Bits() < 32 {
			mask := netip.PrefixFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), p.Bits()).Masked().Addr().AsSlice()
			ex = append(ex, &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: mask, Xor: make([]byte, 4)})
		}
		cmp(expr.CmpOpEq, p.Addr().AsSlice())
	}
	if m.Proto >= 0 {
		meta(expr.MetaKeyL4PROTO)
		cmp(expr.CmpOpEq, []byte{byte(m.Proto)})
		switch {
		case (m.Proto == 6 || m.Proto == 17) && !anyPort(m.From, m.To):
			payload(expr.PayloadBaseTransportHeader, 2, 2)
			from := binary.BigEndian.AppendUint16(nil, uint16(m.From))
			if m.From == m.To {
				cmp(expr.CmpOpEq, from)
			} else {
				ex = append(ex, &expr.Range{Op: expr.CmpOpEq, Register: reg, FromData: from, ToData: binary.BigEndian.AppendUint16(nil, uint16(m.To))})
			}
		case m.Proto == 1 && m.From >= 0:
			payload(expr.PayloadBaseTransportHeader, 0, 1)
			cmp(expr.CmpOpEq, []byte{byte(m.From)})
			if m.To >= 0 {
				payload(expr.PayloadBaseTransportHeader, 1, 1)
				cmp(expr.CmpOpEq, []byte{byte(m.To)})
			}
		}
	}
	switch m.Verdict {
	case "accept":
		ex = append(ex, &expr.Verdict{Kind: expr.VerdictAccept})
	case "drop":
		ex = append(ex, &expr.Verdict{Kind: expr.VerdictDrop})
	default:
		target, ok := m.jumpTarget()
		if !ok {
			return nil, fmt.Errorf("dataplane: unknown verdict %q", m.Verdict)
		}
		ex = append(ex, &expr.Verdict{Kind: expr.VerdictJump, Chain: target})
	}
	return &nftables.Rule{
		Table:    nftTable,
		Chain:    &nftables.Chain{Name: chain, Table: nftTable},
		Exprs:    ex,
		UserData: userdata.AppendString(nil, userdata.TypeComment, m.Text(ingress)),
	}, nil
}
