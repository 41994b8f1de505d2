package fastpath

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/isthmusnet/isthmus/testenv"
)

// TestAdopt loads the programs twice, as a killed daemon and its successor
// would, and checks that the second takes over the first's programs and
// maps (and what they hold) rather than its own.
func TestAdopt(t *testing.T) {
	testenv.RequireRoot(t)
	first, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	mac := []byte{0x0e, 1, 2, 3, 4, 5}
	if err := first.SetPort(42, mac, FDBEntry{Port: 7, Bridge: 3}); err != nil {
		t.Fatal(err)
	}
	listen, hdr := netip.MustParseAddrPort("10.0.1.5:443"), make([]byte, HeaderAddrs+12)
	if err := first.SetPPv2(42, listen, hdr); err != nil {
		t.Fatal(err)
	}
	second, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
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
	third, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
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
	testenv.RequireRoot(t)
	p, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
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
	testenv.RequireRoot(t)
	p, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
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
	testenv.RequireRoot(t)
	p, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
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
