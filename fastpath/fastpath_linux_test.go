package fastpath

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/isthmusnet/isthmus/testenv"
)

// load loads the programs for a test that needs root, and releases them
// when it ends.
func load(t *testing.T) *Programs {
	t.Helper()
	testenv.RequireRoot(t)
	p, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestAdopt loads the programs twice, as a killed daemon and its successor
// would, and checks that the second takes over the first's programs and
// maps (and what they hold) rather than its own.
func TestAdopt(t *testing.T) {
	first := load(t)
	mac := []byte{0x0e, 1, 2, 3, 4, 5}
	if err := first.SetPort(42, mac, FDBEntry{Port: 7, Bridge: 3}); err != nil {
		t.Fatal(err)
	}
	listen, hdr := netip.MustParseAddrPort("10.0.1.5:443"), make([]byte, HeaderAddrs+12)
	if err := first.SetPPv2(42, listen, hdr); err != nil {
		t.Fatal(err)
	}
	second := load(t)
	if got, _ := second.Ports(42); len(got) != 0 {
		t.Fatalf("a fresh load holds ports %v", got)
	}
	for _, k := range []Kind{Port, NAT} {
		id, err := first.ID(k)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := second.Adopt(k, id)
		if err != nil || !ok {
			t.Fatalf("adopt %s: %v, %v", k, ok, err)
		}
		if got, _ := second.ID(k); got != id {
			t.Fatalf("%s: id %d after adopting %d", k, got, id)
		}
	}
	got, err := second.Ports(42)
	if err != nil || got["0e:01:02:03:04:05"] != (FDBEntry{Port: 7, Bridge: 3}) {
		t.Fatalf("ports after adoption: %v, %v", got, err)
	}
	if pp, err := second.AllPPv2(); err != nil || pp[42][listen] == nil {
		t.Fatalf("PPv2 listeners after adoption: %v, %v", pp, err)
	}
	// A program that is not one of these is not adopted.
	third := load(t)
	nat, _ := third.ID(NAT)
	if ok, err := second.Adopt(Port, nat); ok || err != nil {
		t.Fatalf("adopting the NAT program as the port program: %v, %v", ok, err)
	}
	// Nor a second program of a kind already adopted.
	port, _ := third.ID(Port)
	if ok, err := second.Adopt(Port, port); ok || err != nil {
		t.Fatalf("adopting a second port program: %v, %v", ok, err)
	}
}

// TestPrune forgets the forwarding entries of namespaces that are gone and
// keeps the others.
func TestPrune(t *testing.T) {
	p := load(t)
	for i, ns := range []uint64{42, 43, 43, 44} {
		if err := p.SetPort(ns, []byte{0x0e, 0, 0, 0, 0, byte(i)}, FDBEntry{Port: i + 1, Bridge: 9}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Prune(map[uint64]bool{42: true, 44: true}); err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[uint64]int{42: 1, 43: 0, 44: 1} {
		if got, err := p.Ports(ns); err != nil || len(got) != want {
			t.Errorf("namespace %d after pruning: %v, %v (want %d entries)", ns, got, err, want)
		}
	}
}

// TestForgetFlows drops one namespace's cached flows and keeps the others'.
func TestForgetFlows(t *testing.T) {
	p := load(t)
	for i, ns := range []uint64{42, 42, 43} {
		k := fastpathFlowKey{Netns: ns, Saddr: uint32(i + 1), Sport: 1000}
		if err := p.maps[fastpathMapFlows].Put(k, fastpathFlowVal{Ifindex: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.ForgetFlows(42); err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[uint64]int{42: 0, 43: 1} {
		if n, err := p.CachedFlows(ns); err != nil || n != want {
			t.Errorf("namespace %d: %d cached flows, %v (want %d)", ns, n, err, want)
		}
	}
}

// TestPPv2Listeners records, lists and forgets PPv2 listeners, refuses
// what the program cannot write, and prunes them with their namespace.
func TestPPv2Listeners(t *testing.T) {
	p := load(t)
	hdr := make([]byte, HeaderAddrs+12+26)
	copy(hdr, "\r\n\r\n\x00\r\nQUIT\n\x21\x11")
	a := netip.MustParseAddrPort("10.0.1.5:443")
	b := netip.MustParseAddrPort("10.0.1.5:8443")
	for _, bad := range []struct {
		listen netip.AddrPort
		hdr    []byte
	}{
		{netip.MustParseAddrPort("[fd00::5]:443"), hdr},
		{a, hdr[:HeaderAddrs+11]},
		{a, make([]byte, MaxHeader+1)},
	} {
		if err := p.SetPPv2(42, bad.listen, bad.hdr); err == nil {
			t.Errorf("SetPPv2(%s, %d bytes) took it", bad.listen, len(bad.hdr))
		}
	}
	for _, l := range []struct {
		ns     uint64
		listen netip.AddrPort
	}{{42, a}, {42, b}, {43, a}} {
		if err := p.SetPPv2(l.ns, l.listen, hdr); err != nil {
			t.Fatal(err)
		}
	}
	all, err := p.AllPPv2()
	if err != nil || len(all[42]) != 2 || len(all[43]) != 1 || !bytes.Equal(all[42][b], hdr) {
		t.Fatalf("listeners: %v, %v", all, err)
	}
	if err := p.DeletePPv2(42, b); err != nil {
		t.Fatal(err)
	}
	if err := p.DeletePPv2(42, b); err != nil {
		t.Fatalf("forgetting nothing: %v", err)
	}
	if err := p.Prune(map[uint64]bool{42: true}); err != nil {
		t.Fatal(err)
	}
	all, err = p.AllPPv2()
	if err != nil || len(all) != 1 || len(all[42]) != 1 || all[42][a] == nil {
		t.Fatalf("after deleting one and pruning namespace 43: %v, %v", all, err)
	}
}

// TestListeners records, lists, changes and forgets the listeners the NAT
// program opens flows of, with their allowed clients and backends,
// refuses what the program cannot use, and prunes them with their
// namespace.
func TestListeners(t *testing.T) {
	p := load(t)
	pfx := netip.MustParsePrefix
	ep := netip.MustParseAddrPort("10.0.1.5:443")
	node := netip.MustParseAddrPort("100.64.0.1:443")
	epL := Listener{In: 2, To: netip.MustParseAddr("100.64.0.1"), From: netip.MustParseAddr("100.64.0.0"), SG: true,
		Allow: []netip.Prefix{pfx("10.0.1.0/24"), pfx("169.254.0.0/16")}}
	nodeL := Listener{In: 3, From: netip.MustParseAddr("10.0.2.9"), Buckets: 2}
	for _, bad := range []Listener{
		{To: epL.To, From: epL.From},        // no link
		{In: 2, To: epL.To},                 // no source
		{In: 2, From: epL.From},             // no destination, no buckets
		{In: 2, From: epL.From, Buckets: 3}, // not a power of two
		{In: 2, From: epL.From, To: epL.To, Allow: []netip.Prefix{pfx("fd00::/8")}},
	} {
		if err := p.SetListener(42, ep, bad); err == nil {
			t.Errorf("SetListener(%+v) took it", bad)
		}
	}
	if err := p.SetListener(42, ep, epL); err != nil {
		t.Fatal(err)
	}
	if err := p.SetListener(43, node, nodeL); err != nil {
		t.Fatal(err)
	}
	all, err := p.Listeners()
	if err != nil || !sameListener(all[42][ep], epL) || !sameListener(all[43][node], nodeL) {
		t.Fatalf("listeners: %+v, %v", all, err)
	}
	// A change of the allowed clients leaves exactly the new ones.
	epL.Allow = []netip.Prefix{pfx("10.0.1.20/32")}
	if err := p.SetListener(42, ep, epL); err != nil {
		t.Fatal(err)
	}
	if all, err = p.Listeners(); err != nil || !sameListener(all[42][ep], epL) {
		t.Fatalf("after changing the allowed clients: %+v, %v", all[42], err)
	}

	a, b := netip.MustParseAddrPort("10.0.2.10:8443"), netip.MustParseAddrPort("10.0.2.11:8443")
	if err := p.SetBackends(43, 443, []netip.AddrPort{a, b, a}); err == nil {
		t.Error("SetBackends took 3 buckets")
	}
	if err := p.SetBackends(43, 443, []netip.AddrPort{a, b, a, b}); err != nil {
		t.Fatal(err)
	}
	// Fewer buckets: those past the new count go.
	if err := p.SetBackends(43, 443, []netip.AddrPort{b, a}); err != nil {
		t.Fatal(err)
	}
	bs, err := p.Backends()
	if err != nil || len(bs[43][443]) != 2 || bs[43][443][0] != b || bs[43][443][1] != a {
		t.Fatalf("backends: %v, %v", bs, err)
	}

	if err := p.DeleteListener(42, ep); err != nil {
		t.Fatal(err)
	}
	if err := p.DeleteListener(42, ep); err != nil {
		t.Fatalf("forgetting nothing: %v", err)
	}
	if all, err = p.Listeners(); err != nil || len(all[42]) != 0 {
		t.Fatalf("after DeleteListener: %+v, %v", all, err)
	}
	if allowed, err := p.allowed(42, ppKey(42, ep).Port); err != nil || len(allowed) != 0 {
		t.Fatalf("allowed clients left after DeleteListener: %v, %v", allowed, err)
	}
	// Pruning a namespace that is gone takes its listeners, allowed
	// clients and backends.
	if err := p.SetListener(44, ep, epL); err != nil {
		t.Fatal(err)
	}
	if err := p.Prune(map[uint64]bool{}); err != nil {
		t.Fatal(err)
	}
	all, err = p.Listeners()
	bs, err2 := p.Backends()
	allowed, err3 := p.allowed(44, ppKey(44, ep).Port)
	if err != nil || err2 != nil || err3 != nil || len(all) != 0 || len(bs) != 0 || len(allowed) != 0 {
		t.Fatalf("after pruning: %+v, %v, %v, %v, %v, %v", all, bs, allowed, err, err2, err3)
	}
}

func sameListener(a, b Listener) bool {
	return a.In == b.In && a.To == b.To && a.From == b.From && a.Buckets == b.Buckets && a.SG == b.SG &&
		slices.Equal(a.Allow, b.Allow)
}
