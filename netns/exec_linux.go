package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// EtcDir is where iproute2 keeps per-namespace files: Exec bind-mounts
// every file of EtcDir/<name>/ over its namesake in /etc, as
// `ip netns exec` does (resolv.conf, for one).
const EtcDir = "/etc/netns"

// ErrNotFound is wrapped by Exec's error when the command does not exist
// (a shell answers 127); ErrNotExecutable when it cannot be run (126).
var (
	ErrNotFound      = errors.New("command not found")
	ErrNotExecutable = errors.New("command not executable")
)

// Exec replaces the calling process with argv run inside the namespace
// called name, exactly as `ip netns exec NAME argv...` does: it enters
// the network namespace, makes a private mount namespace (so that nothing
// it mounts is seen outside), mounts a sysfs there that shows the
// namespace's links, bind-mounts the files of EtcDir/<name>/ over /etc
// (so /etc/resolv.conf is the namespace's), and execs argv[0] (looked up
// in PATH) with env. On success it does not return.
//
// The switching happens on a fresh thread locked to its goroutine; if a
// step fails, that thread is discarded and Exec returns the error with
// the process as it was.
func Exec(name string, argv, env []string) error {
	if len(argv) == 0 {
		return errors.New("netns: exec: no command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w", argv[0], ErrNotFound)
		}
		return fmt.Errorf("%s: %w: %v", argv[0], ErrNotExecutable, err)
	}
	ns, err := Open(name)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: on success the process image is replaced; on
		// failure the goroutine exits locked and the thread with it.
		done <- enterAndExec(ns, name, path, argv, env)
	}()
	err = <-done
	ns.Close()
	return err
}

func enterAndExec(ns Handle, name, path string, argv, env []string) error {
	if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns %s: entering: %w", name, err)
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("netns %s: a private mount namespace: %w", name, err)
	}
	// Nothing mounted from here on propagates back to the host.
	if err := unix.Mount("", "/", "none", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netns %s: making / a slave mount: %w", name, err)
	}
	// A sysfs of this namespace, so that /sys/class/net shows its links.
	var flags uintptr
	if err := unix.Unmount("/sys", unix.MNT_DETACH); err != nil {
		var st unix.Statfs_t
		if unix.Statfs("/sys", &st) == nil && st.Flags&unix.ST_RDONLY != 0 {
			flags = unix.MS_RDONLY
		}
	}
	if err := unix.Mount(name, "/sys", "sysfs", flags, ""); err != nil {
		return fmt.Errorf("netns %s: mounting /sys: %w", name, err)
	}
	if err := bindEtc(name); err != nil {
		return err
	}
	err := syscall.Exec(path, argv, env)
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOEXEC) {
		return fmt.Errorf("%s: %w: %v", argv[0], ErrNotExecutable, err)
	}
	return fmt.Errorf("%s: %w", argv[0], err)
}

// bindEtc bind-mounts each file of EtcDir/<name>/ over /etc/<file>. A
// missing directory is fine (nothing to bind); a file that cannot be bound
// is an error, since the command would otherwise see the host's.
func bindEtc(name string) error {
	dir := filepath.Join(EtcDir, name)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	for _, e := range ents {
		src, dst := filepath.Join(dir, e.Name()), filepath.Join("/etc", e.Name())
		if err := unix.Mount(src, dst, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("netns %s: binding %s over %s: %w", name, src, dst, err)
		}
	}
	return nil
}
