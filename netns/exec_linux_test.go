package netns_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/isthmusnet/isthmus/netns"
)

// TestHelperExec is not a test: TestExec runs the test binary again with
// ISTHMUS_HELPER_EXEC set to a namespace name, to have a process that
// netns.Exec can replace.
func TestHelperExec(t *testing.T) {
	name := os.Getenv("ISTHMUS_HELPER_EXEC")
	if name == "" {
		t.Skip("helper process")
	}
	argv := strings.Split(os.Getenv("ISTHMUS_HELPER_ARGV"), "\x1f")
	err := netns.Exec(name, argv, os.Environ())
	fmt.Fprintln(os.Stderr, "exec:", err)
	if errors.Is(err, netns.ErrNotFound) {
		os.Exit(127)
	}
	os.Exit(125)
}

func helperExec(t *testing.T, name string, argv ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperExec$")
	cmd.Env = append(os.Environ(), "ISTHMUS_HELPER_EXEC="+name, "ISTHMUS_HELPER_ARGV="+strings.Join(argv, "\x1f"))
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func TestExec(t *testing.T) {
	requirePrivileged(t)
	name := tempName(t)
	if err := netns.Create(name); err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(netns.EtcDir, name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	const conf = "nameserver 10.9.0.2\nsearch ec2.internal\n"
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	hostConf, _ := os.ReadFile("/etc/resolv.conf")

	out, code := helperExec(t, name, "sh", "-c", "cat /etc/resolv.conf; echo ---; ls /sys/class/net; echo ---; stat -L -c %i /proc/self/ns/net; exit 7")
	if code != 7 {
		t.Fatalf("exit code %d, want the command's 7; output:\n%s", code, out)
	}
	parts := strings.Split(out, "---\n")
	if len(parts) != 3 {
		t.Fatalf("output:\n%s", out)
	}
	if parts[0] != conf {
		t.Errorf("/etc/resolv.conf inside is %q, want the namespace's %q", parts[0], conf)
	}
	if strings.TrimSpace(parts[1]) != "lo" {
		t.Errorf("/sys/class/net inside shows %q, want only lo", parts[1])
	}
	if got, want := strings.TrimSpace(parts[2]), fmt.Sprint(inode(t, netns.Path(name))); got != want {
		t.Errorf("the command ran in namespace %s, want %s", got, want)
	}
	// Nothing leaked to the host.
	if now, _ := os.ReadFile("/etc/resolv.conf"); string(now) != string(hostConf) {
		t.Errorf("the host's /etc/resolv.conf changed: %q", now)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/class/net/lo", &st); err != nil {
		t.Errorf("the host's /sys was disturbed: %v", err)
	}

	if _, code := helperExec(t, name, "no-such-command-isthmus"); code != 127 {
		t.Errorf("a missing command: exit %d, want 127", code)
	}
	if _, code := helperExec(t, name+"-missing", "true"); code != 125 {
		t.Errorf("a missing namespace: exit %d, want 125", code)
	}
}
