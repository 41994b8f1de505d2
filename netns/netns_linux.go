package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Do runs fn with the calling code in the network namespace ns and returns
// fn's error. The caller's own thread is never switched.
//
// fn runs on a fresh goroutine locked to its OS thread: Do saves that
// thread's own namespace (from /proc/<pid>/task/<tid>/ns/net), enters ns,
// runs fn, and switches back. The thread is unlocked, and so returned to
// the Go scheduler, only if switching back worked; otherwise the goroutine
// exits still locked and the runtime destroys the thread, so no other
// goroutine can ever run in the wrong namespace.
//
// Inside fn, do only what needs the namespace: create a socket, open a
// netlink handle, read or write /proc/sys/net. Do not start goroutines (they
// run on other threads, in other namespaces) and do not resolve names. A
// panic in fn is re-raised in the caller after the thread has been dealt
// with.
func Do(ns Handle, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		panicVal any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		home, err := vnetns.GetFromThread(os.Getpid(), unix.Gettid())
		if err != nil {
			runtime.UnlockOSThread() // nothing switched yet
			done <- result{err: fmt.Errorf("netns: opening this thread's namespace: %w", err)}
			return
		}
		defer home.Close()
		if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // setns failed, so the thread did not move
			done <- result{err: fmt.Errorf("netns: entering namespace: %w", err)}
			return
		}
		var r result
		func() {
			defer func() {
				if v := recover(); v != nil {
					r.panicked, r.panicVal = true, v
				}
			}()
			r.err = fn()
		}()
		if err := unix.Setns(int(home), unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread dies with this goroutine.
			r.err = errors.Join(r.err, fmt.Errorf("netns: switching back (thread discarded): %w", err))
			done <- r
			return
		}
		runtime.UnlockOSThread()
		done <- r
	}()
	r := <-done
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

// DoNamed is Do in the namespace called name.
func DoNamed(name string, fn func() error) error {
	h, err := Open(name)
	if err != nil {
		return err
	}
	defer h.Close()
	return Do(h, fn)
}

// Open returns a handle to the namespace called name. The error wraps
// ErrNotExist when there is none.
func Open(name string) (Handle, error) {
	if err := CheckName(name); err != nil {
		return vnetns.None(), err
	}
	fd, err := unix.Open(Path(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return vnetns.None(), fmt.Errorf("netns %s: %w", name, ErrNotExist)
		}
		return vnetns.None(), fmt.Errorf("netns %s: %w", name, err)
	}
	if !isNsfs(fd) {
		unix.Close(fd)
		return vnetns.None(), fmt.Errorf("netns %s: %s is not mounted: %w", name, Path(name), ErrNotExist)
	}
	return Handle(fd), nil
}

// Exists reports whether a namespace called name exists.
func Exists(name string) bool {
	h, err := Open(name)
	if err != nil {
		return false
	}
	h.Close()
	return true
}

func isNsfs(fd int) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(fd, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// Create creates a new, empty network namespace called name, bind-mounted
// on /run/netns/NAME exactly as `ip netns add NAME` does. Its error wraps
// ErrExist if the namespace already exists. A leftover file of that name
// with no namespace mounted on it (from a crash half-way through a Create)
// is replaced.
func Create(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := prepareRunDir(); err != nil {
		return err
	}
	path := Path(name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	if errors.Is(err, fs.ErrExist) {
		if Exists(name) {
			return fmt.Errorf("netns %s: %w", name, ErrExist)
		}
		// A stale file: not a namespace. Replace it.
		unix.Unmount(path, unix.MNT_DETACH)
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("netns %s: removing stale %s: %w", name, path, err)
		}
		f, err = os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	}
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	f.Close()
	if err := mountNew(path); err != nil {
		os.Remove(path)
		return fmt.Errorf("netns %s: %w", name, err)
	}
	return nil
}

// mountNew creates a network namespace on a fresh locked thread and binds
// it onto path, then returns the thread to its own namespace (or discards
// it, as Do does).
func mountNew(path string) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		tid := unix.Gettid()
		home, err := vnetns.GetFromThread(os.Getpid(), tid)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("opening this thread's namespace: %w", err)
			return
		}
		defer home.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // unshare failed: nothing changed
			done <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), tid)
		merr := unix.Mount(self, path, "none", unix.MS_BIND, "")
		if merr != nil {
			merr = fmt.Errorf("bind-mounting the namespace on %s: %w", path, merr)
		}
		if err := unix.Setns(int(home), unix.CLONE_NEWNET); err != nil {
			done <- errors.Join(merr, fmt.Errorf("switching back (thread discarded): %w", err))
			return
		}
		runtime.UnlockOSThread()
		done <- merr
	}()
	return <-done
}

// prepareRunDir makes RunDir exist and be a mount point with shared
// propagation, as iproute2 does, so that namespaces mounted later also
// appear in mount namespaces cloned from this one (and vice versa).
func prepareRunDir() error {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	for bound := false; ; bound = true {
		err := unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || bound {
			return fmt.Errorf("netns: making %s a shared mount: %w", RunDir, err)
		}
		// Not a mount point yet: bind it onto itself, then retry.
		if err := unix.Mount(RunDir, RunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("netns: bind-mounting %s: %w", RunDir, err)
		}
	}
}

// Delete removes the named namespace as `ip netns delete` does: unmount
// (lazily) and remove the file. A missing namespace is not an error. The
// kernel frees the namespace, and destroys its virtual links, once no
// process, open handle or socket uses it any more.
func Delete(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	path := Path(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netns %s: unmount: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	return nil
}

// List returns the names of the named namespaces that start with prefix,
// sorted. A missing RunDir is an empty list.
func List(prefix string) ([]string, error) {
	ents, err := os.ReadDir(RunDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) && !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Dial connects to addr (an IP literal and port: no name is resolved)
// from inside the namespace called name, as net.DialTimeout does. The
// connection belongs to that namespace and is used from any goroutine.
func Dial(name, network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := DoNamed(name, func() error {
		var err error
		c, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return c, err
}

// Listen opens a stream listener (tcp, tcp4, unix...) inside the
// namespace called name, as net.Listen does.
func Listen(name, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := DoNamed(name, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ListenPacket opens a packet socket (udp, udp4, ip4:icmp...) inside the
// namespace called name, as net.ListenPacket does.
func ListenPacket(name, network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := DoNamed(name, func() error {
		var err error
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	return pc, err
}
