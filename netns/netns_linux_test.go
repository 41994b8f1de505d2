package netns_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/netns"
	"github.com/isthmusnet/isthmus/testenv"
)

// requirePrivileged skips (or, under ISTHMUS_TEST_STRICT=1, fails) the
// test unless it can create namespaces.
func requirePrivileged(t *testing.T) { testenv.RequireRoot(t) }

// tempName returns a namespace name unique to this test run, deleted at
// the end of the test even if it fails.
func tempName(t *testing.T) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "isthtest-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { netns.Delete(name) })
	return name
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestCreateListDelete(t *testing.T) {
	requirePrivileged(t)
	name := tempName(t)
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	if err := netns.Create(name); !errors.Is(err, netns.ErrExist) {
		t.Fatalf("second Create: got %v, want ErrExist", err)
	}
	names, err := netns.List("isthtest-")
	if err != nil {
		t.Fatal(err)
	}
	if !contains(names, name) {
		t.Fatalf("List = %v, missing %s", names, name)
	}
	if ip, err := exec.LookPath("ip"); err == nil {
		out, err := exec.Command(ip, "netns", "exec", name, ip, "-o", "link", "show").CombinedOutput()
		if err != nil {
			t.Fatalf("ip netns exec: %v\n%s", err, out)
		}
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], " lo: ") {
			t.Fatalf("a new namespace should hold only lo, ip link shows:\n%s", out)
		}
		out, err = exec.Command(ip, "netns", "list").CombinedOutput()
		if err != nil || !strings.Contains(string(out), name) {
			t.Fatalf("ip netns list does not show %s: %v\n%s", name, err, out)
		}
	}
	if err := netns.Delete(name); err != nil {
		t.Fatal(err)
	}
	if netns.Exists(name) {
		t.Fatal("namespace still exists after Delete")
	}
	if _, err := netns.Open(name); !errors.Is(err, netns.ErrNotExist) {
		t.Fatalf("Open after Delete: got %v, want ErrNotExist", err)
	}
	if err := netns.Delete(name); err != nil {
		t.Fatalf("deleting a missing namespace: %v", err)
	}
	names, _ = netns.List("isthtest-")
	if contains(names, name) {
		t.Fatalf("List after Delete still has %s", name)
	}
}

func TestCreateReplacesStaleFile(t *testing.T) {
	requirePrivileged(t)
	name := tempName(t)
	os.MkdirAll(netns.RunDir, 0o755)
	if err := os.WriteFile(netns.Path(name), nil, 0); err != nil {
		t.Fatal(err)
	}
	if netns.Exists(name) {
		t.Fatal("a plain file counts as a namespace")
	}
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	if !netns.Exists(name) {
		t.Fatal("Create over a stale file made no namespace")
	}
}

func TestDoRunsInsideAndRestores(t *testing.T) {
	requirePrivileged(t)
	name := tempName(t)
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	want := inode(t, netns.Path(name))
	h, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	runtime.LockOSThread()
	home := inode(t, "/proc/thread-self/ns/net")
	runtime.UnlockOSThread()
	if home == want {
		t.Fatal("test namespace is the host's")
	}

	// A netlink handle created inside works from outside afterwards.
	var nh *netlink.Handle
	err = netns.Do(h, func() error {
		if got := inode(t, "/proc/thread-self/ns/net"); got != want {
			t.Errorf("inside Do: namespace inode %d, want %d", got, want)
		}
		var err error
		nh, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	lo, err := nh.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := nh.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	err = netns.Do(h, func() error {
		l, err := netlink.LinkByName("lo")
		if err == nil && l.Attrs().Flags&unix.IFF_UP == 0 {
			err = errors.New("lo is not up inside the namespace")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Many concurrent Do calls never leak the namespace to other code:
	// every thread that ordinary goroutines run on stays at home.
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := netns.Do(h, func() error { return nil }); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if got := inode(t, "/proc/thread-self/ns/net"); got != home {
				t.Errorf("an ordinary goroutine runs in namespace %d, not the host's %d", got, home)
			}
		}()
	}
	wg.Wait()

	sentinel := errors.New("from fn")
	if err := netns.Do(h, func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("Do returned %v, want fn's error", err)
	}
}

func TestDoPanics(t *testing.T) {
	requirePrivileged(t)
	name := tempName(t)
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if v := recover(); v != "boom" {
			t.Fatalf("recovered %v, want the panic of fn", v)
		}
	}()
	netns.DoNamed(name, func() error { panic("boom") })
}

func TestBadNames(t *testing.T) {
	for _, n := range []string{"", ".", "..", "a/b", strings.Repeat("x", 256)} {
		if err := netns.Create(n); err == nil {
			t.Errorf("Create(%q) succeeded", n)
		}
	}
	if err := netns.DoNamed("isthtest-does-not-exist", func() error { return nil }); !errors.Is(err, netns.ErrNotExist) {
		t.Errorf("DoNamed of a missing namespace: %v, want ErrNotExist", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
