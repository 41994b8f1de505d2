package fastpath

import (
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
