package dataplane

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/fastpath"
	"github.com/isthmusnet/isthmus/netns"
	"github.com/isthmusnet/isthmus/testenv"
)

// privileged skips (or, under ISTHMUS_TEST_STRICT=1, fails) a test that
// needs root, and otherwise returns a Linux kernel and a namespace prefix
// of its own, so that it can never meet a running daemon's namespaces
// ("isth-") or another test's. Everything of that prefix is removed when
// the test ends, failed or not. Nothing outside those namespaces is
// touched.
func privileged(t testing.TB) (*LinuxKernel, string) {
	t.Helper()
	testenv.RequireRoot(t)
	if err := CheckPrivileges(); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	rand.Read(b[:])
	prefix := "t" + hex.EncodeToString(b[:])
	k := NewLinuxKernel(nil)
	t.Cleanup(func() {
		if err := Teardown(k, prefix); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		k.Close()
		if left, _ := netns.List(prefix + "-"); len(left) > 0 {
			t.Errorf("cleanup left namespaces behind: %v", left)
		}
	})
	return k, prefix
}

// fastPath loads the fast path into k, as the daemon does, and reports
// whether it runs: where the kernel refuses it the tests run without,
// except under ISTHMUS_TEST_STRICT, where that fails.
func fastPath(t testing.TB, k *LinuxKernel) bool {
	t.Helper()
	if k.FastPath() != nil {
		return true
	}
	if err := k.EnableFastPath(); err != nil {
		if testenv.Strict() {
			t.Fatalf("the fast path: %v", err)
		}
		t.Logf("running without the fast path: %v", err)
		return false
	}
	return true
}

func TestLinuxObserveIsThePlan(t *testing.T) {
	k, prefix := privileged(t)
	fast := fastPath(t, k)
	for _, name := range []string{"same-cidr-two-vpcs", "route-tables", "security-groups", "one-interface", "privatelink", "privatelink-fastpath"} {
		fp := strings.HasSuffix(name, "-fastpath")
		if fp && !fast {
			continue
		}
		want := Plan(planCases()[name], PlanOptions{Prefix: prefix, FastPath: fp})
		a := NewApplier(k, prefix)
		if _, err := a.Observe(); err != nil {
			t.Fatal(err)
		}
		res := a.Apply(want, nil)
		for id, err := range res.Failed {
			t.Fatalf("%s: %s: %v", name, id, err)
		}
		seen, err := k.Observe(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if seen.String() != want.String() {
			t.Fatalf("%s: the kernel holds:\n%s\nthe plan is:\n%s", name, seen, want)
		}
		// A second applier (a restart) finds nothing to do.
		b := NewApplier(k, prefix)
		if _, err := b.Observe(); err != nil {
			t.Fatal(err)
		}
		if res := b.Apply(want, nil); res.Ops != 0 {
			t.Fatalf("%s: after a restart, %d operations (%v)", name, res.Ops, Diff(b.Have(), want))
		}
	}
}

func TestLinuxIdempotentAndMissingIsNotAnError(t *testing.T) {
	k, prefix := privileged(t)
	want := Plan(planCases()["one-interface"], PlanOptions{Prefix: prefix})
	for i := 0; i < 2; i++ {
		for _, it := range want.Sorted() {
			if err := k.Ensure(it); err != nil {
				t.Fatalf("pass %d: Ensure %s: %v", i, it, err)
			}
		}
	}
	items := want.Sorted()
	for i := len(items) - 1; i >= 0; i-- {
		for j := 0; j < 2; j++ {
			if err := k.Remove(items[i]); err != nil {
				t.Fatalf("Remove %s (time %d): %v", items[i], j+1, err)
			}
		}
	}
	if left, _ := netns.List(prefix + "-"); len(left) != 0 {
		t.Fatalf("namespaces left: %v", left)
	}
	// Removing inside a namespace that is gone is fine too.
	if err := k.Remove(Addr{NS: prefix + "-gone", Dev: "eth0", Prefix: mustPrefix("10.0.0.1/24")}); err != nil {
		t.Fatal(err)
	}
}

func TestLinuxRepairsWhatChangedBehindItsBack(t *testing.T) {
	k, prefix := privileged(t)
	want := Plan(planCases()["route-tables"], PlanOptions{Prefix: prefix})
	a := NewApplier(k, prefix)
	if res := a.Apply(want, nil); len(res.Failed) > 0 {
		t.Fatal(res.Failed)
	}
	vpcNS := VpcNamespace(prefix, vpcA)
	eniNS := ENINamespace(prefix, eniA)
	// Break things as an admin might: a bridge deleted (its ports and
	// routes go with it), a veth port moved off its bridge, a rule removed,
	// a stray link added, lo down.
	run(t, "ip", "-n", vpcNS, "link", "del", BridgeName(subB))
	run(t, "ip", "-n", vpcNS, "link", "set", VethPeerName(eniA), "nomaster")
	run(t, "ip", "-n", vpcNS, "rule", "del", "pref", fmt.Sprint(SubnetRulePref), "iif", BridgeName(subC))
	run(t, "ip", "-n", vpcNS, "link", "add", "junk0", "type", "bridge")
	run(t, "ip", "-n", eniNS, "link", "set", "lo", "down")
	drift, err := a.Observe()
	if err != nil {
		t.Fatal(err)
	}
	if drift < 5 {
		t.Fatalf("drift %d, want at least 5", drift)
	}
	if res := a.Apply(want, nil); len(res.Failed) > 0 {
		t.Fatal(res.Failed)
	}
	seen, err := k.Observe(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if seen.String() != want.String() {
		t.Fatalf("not repaired:\n%s\nwant:\n%s", seen, want)
	}
}

// run runs a command (iproute2, to change things behind the reconciler's
// back) and fails the test if it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestLinuxFastPathMovesLegacyFilters: versions of Isthmus from before
// tcx attached the fast path's programs as cls_bpf filters (handle 0x1573,
// priority 1, on a clsact qdisc). A daemon started over them reports them
// as stale and puts its programs on tcx in their place, with nothing of
// the filters left.
func TestLinuxFastPathMovesLegacyFilters(t *testing.T) {
	k, prefix := privileged(t)
	if !fastPath(t, k) {
		t.Skip("no fast path on this kernel")
	}
	want := Plan(planCases()["privatelink-fastpath"], PlanOptions{Prefix: prefix, FastPath: true})
	a := NewApplier(k, prefix)
	if _, err := a.Observe(); err != nil {
		t.Fatal(err)
	}
	if res := a.Apply(want, nil); len(res.Failed) > 0 {
		t.Fatal(res.Failed)
	}
	// Every program goes back to how an older daemon left it.
	var progs []TCProgram
	for _, it := range want.Sorted() {
		if x, ok := it.(TCProgram); ok {
			progs = append(progs, x)
		}
	}
	if len(progs) == 0 {
		t.Fatal("the plan has no tc programs")
	}
	for _, x := range progs {
		c, err := k.conn(x.NS)
		if err != nil {
			t.Fatal(err)
		}
		l, err := c.nl.LinkByName(x.Dev)
		if err != nil {
			t.Fatal(err)
		}
		id, err := k.FastPath().ID(fastpath.Kind(x.Kind))
		if err != nil {
			t.Fatal(err)
		}
		prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
		if err != nil {
			t.Fatal(err)
		}
		if err := fastpath.Detach(c.fd, l.Attrs().Index); err != nil {
			t.Fatal(err)
		}
		q := &netlink.GenericQdisc{QdiscType: "clsact", QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: l.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
		if err := c.nl.QdiscAdd(q); err != nil {
			t.Fatal(err)
		}
		f := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: l.Attrs().Index,
			Parent: netlink.HANDLE_MIN_INGRESS, Handle: 0x1573, Priority: 1, Protocol: unix.ETH_P_ALL},
			Fd: prog.FD(), Name: x.Kind, DirectAction: true}
		if err := c.nl.FilterAdd(f); err != nil {
			t.Fatal(err)
		}
		prog.Close()
	}
	seen, err := k.Observe(prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range progs {
		got, ok := seen.Items[x.Key()].(TCProgram)
		if !ok || got.Kind != FastStale {
			t.Fatalf("%s: observed as %v, want %s", x.Key(), got, FastStale)
		}
	}
	b := NewApplier(k, prefix)
	if _, err := b.Observe(); err != nil {
		t.Fatal(err)
	}
	if res := b.Apply(want, nil); len(res.Failed) > 0 {
		t.Fatal(res.Failed)
	}
	seen, err = k.Observe(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if seen.String() != want.String() {
		t.Fatalf("the kernel holds:\n%s\nthe plan is:\n%s", seen, want)
	}
	for _, x := range progs {
		c, _ := k.conn(x.NS)
		l, err := c.nl.LinkByName(x.Dev)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := c.nl.FilterList(l, netlink.HANDLE_MIN_INGRESS)
		if err == nil && len(fs) > 0 {
			t.Fatalf("%s: filters left on ingress: %v", x.Key(), fs)
		}
		var res *link.QueryResult
		err = netns.Do(c.fd, func() (err error) {
			res, err = link.QueryPrograms(link.QueryOptions{Target: l.Attrs().Index, Attach: ebpf.AttachTCXIngress})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := k.FastPath().ID(fastpath.Kind(x.Kind))
		if len(res.Programs) != 1 || int(res.Programs[0].ID) != id {
			t.Fatalf("%s: tcx ingress holds %v, want program %d alone", x.Key(), res.Programs, id)
		}
	}
}
