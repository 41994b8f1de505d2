//go:build linux

package benchnet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/isthmusnet/isthmus/netns"
)

// Tools are the paths of the external programs the benchmark runs.
type Tools struct {
	IP      string // iproute2's ip, for `ip netns exec`
	Iperf3  string
	HAProxy string
}

// FindTools looks ip, iperf3 and haproxy up in PATH; $ISTHMUS_<NAME>_PATH
// (ISTHMUS_IPERF3_PATH, ISTHMUS_HAPROXY_PATH, ISTHMUS_IP_PATH) names a
// binary to use instead, as the tests' testenv does. It says which one is
// missing and what installs it.
func FindTools() (*Tools, error) {
	var t Tools
	for _, p := range []struct {
		name, pkg string
		dst       *string
	}{{"ip", "iproute2", &t.IP}, {"iperf3", "iperf3", &t.Iperf3}, {"haproxy", "haproxy", &t.HAProxy}} {
		env := "ISTHMUS_" + strings.ToUpper(p.name) + "_PATH"
		if v := os.Getenv(env); v != "" {
			if _, err := os.Stat(v); err != nil {
				return nil, fmt.Errorf("%s=%s: %w", env, v, err)
			}
			*p.dst = v
			continue
		}
		path, err := exec.LookPath(p.name)
		if err != nil {
			return nil, fmt.Errorf("the benchmark needs %s, which is not in PATH: install Debian's %s (apt-get install %s) or set %s", p.name, p.pkg, p.pkg, env)
		}
		*p.dst = path
	}
	return &t, nil
}

// command is `ip netns exec ns prog args...`, killed if the benchmark
// dies.
func (t *Tools) command(ctx context.Context, ns, prog string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if ctx == nil {
		cmd = exec.Command(t.IP, append([]string{"netns", "exec", ns, prog}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, t.IP, append([]string{"netns", "exec", ns, prog}, args...)...)
	}
	// `ip netns exec` execs prog, so the process is prog itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Output runs prog in namespace ns and returns its standard output; the
// error carries the end of its standard error.
func (t *Tools) Output(ctx context.Context, ns, prog string, args ...string) ([]byte, error) {
	cmd := t.command(ctx, ns, prog, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", prog, err, lastLines(stderr.String(), 3))
	}
	return out, nil
}

// Proc is a long-running program in a namespace (iperf3 -s, haproxy).
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
	err  error
}

// Start starts prog in namespace ns. Stop ends it.
func (t *Tools) Start(ns, prog string, args ...string) (*Proc, error) {
	p := &Proc{Name: prog, done: make(chan struct{})}
	p.cmd = t.command(nil, ns, prog, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the program has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Output is what the program printed so far (its last lines).
func (p *Proc) Output() string { return lastLines(p.out.String(), 5) }

// Stop ends the program (SIGTERM, SIGKILL after two seconds) and waits
// for it. A program that already ended is fine.
func (p *Proc) Stop() {
	if exited, _ := p.Exited(); exited {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// WaitListening waits until something listens on TCP port inside
// namespace ns, failing early if p (when not nil) exits.
func WaitListening(ns string, port uint16, p *Proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := listening(ns, port)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if p != nil {
			if exited, err := p.Exited(); exited {
				return fmt.Errorf("%s exited (%v): %s", p.Name, err, p.Output())
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on port %d in %s after %s", port, ns, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listening reads /proc/thread-self/net/tcp and tcp6 (the tables of the
// reading thread's namespace) inside ns.
func listening(ns string, port uint16) (bool, error) {
	var tables [][]byte
	err := netns.DoNamed(ns, func() error {
		for _, f := range []string{"tcp", "tcp6"} {
			b, err := os.ReadFile("/proc/thread-self/net/" + f)
			if err != nil && !(f == "tcp6" && errors.Is(err, os.ErrNotExist)) {
				return err
			}
			tables = append(tables, b)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(tables, func(t []byte) bool { return listensOn(t, port) }), nil
}

// listensOn reports whether a /proc/net/tcp or tcp6 table has a socket in LISTEN
// state (0A) on port.
func listensOn(table []byte, port uint16) bool {
	sc := bufio.NewScanner(bytes.NewReader(table))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && uint16(p) == port {
			return true
		}
	}
	return false
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 64<<10 {
		b.b.Reset() // keep the tail of a chatty program only
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
