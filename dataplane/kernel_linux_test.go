package dataplane

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"

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
