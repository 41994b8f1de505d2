package isthmustest_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/dns"
	healthcheck "github.com/isthmusnet/isthmus/health"
	"github.com/isthmusnet/isthmus/isthmustest"
	"github.com/isthmusnet/isthmus/netns"
	"github.com/isthmusnet/isthmus/testenv"
)

// dpPlane is a Linux data plane run in-process over a test server's
// store, under a prefix of its own, as `isthmus serve --dataplane linux`
// runs it: the reconciler with the VPC resolvers (and the endpoints'
// names) and the load balancers' health checks as followers.
type dpPlane struct {
	t      *testing.T
	env    *isthmustest.Env
	prefix string
	k      *dataplane.LinuxKernel
	noFast bool // run without the fast path (dpStartSlow)
	fast   bool // the kernel took the fast path (enableFastPath)
	rec    *dataplane.Reconciler
	// proxies serve the PPv2 listeners.
	proxies *dataplane.Proxies
	done    chan error
	stop    func()
}

// dpStart starts a data plane for env; it is torn down (every namespace of
// its prefix removed) when the test ends.
func dpStart(t *testing.T, env *isthmustest.Env) *dpPlane {
	t.Helper()
	return dpStartMode(t, env, true)
}

// dpStartSlow is dpStart for a data plane without the fast path, as
// `isthmus serve --fastpath=false` runs it.
func dpStartSlow(t *testing.T, env *isthmustest.Env) *dpPlane {
	t.Helper()
	return dpStartMode(t, env, false)
}

func dpStartMode(t *testing.T, env *isthmustest.Env, fast bool) *dpPlane {
	t.Helper()
	testenv.RequireRoot(t)
	if err := dataplane.CheckPrivileges(); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	rand.Read(b[:])
	p := &dpPlane{t: t, env: env, prefix: "d" + hex.EncodeToString(b[:]), noFast: !fast}
	k := dataplane.NewLinuxKernel(nil)
	t.Cleanup(func() {
		if p.stop != nil {
			p.stop()
		}
		if err := dataplane.Teardown(k, p.prefix); err != nil {
			t.Errorf("teardown: %v", err)
		}
		k.Close()
		if left, _ := netns.List(p.prefix + "-"); len(left) > 0 {
			t.Errorf("teardown left namespaces behind: %v", left)
		}
	})
	p.k = k
	p.fast = fast && enableFastPath(t, k)
	p.run()
	return p
}

// enableFastPath loads the fast path into k, as the daemon does. Where the
// kernel refuses it the tests run without (the ordinary path carries the
// same traffic), except under ISTHMUS_TEST_STRICT, where that fails.
func enableFastPath(t *testing.T, k *dataplane.LinuxKernel) bool {
	t.Helper()
	if err := k.EnableFastPath(); err != nil {
		if testenv.Strict() {
			t.Fatalf("the fast path: %v", err)
		}
		t.Logf("running without the fast path: %v", err)
		return false
	}
	return true
}

// run starts a reconciler and its followers (again, after restart's stop).
func (p *dpPlane) run() {
	resolvers := dns.NewManager(dns.Options{Prefix: p.prefix, Zones: []dns.ZoneSource{dns.EndpointNames}})
	checks := dataplane.NewHealthChecks(p.env.Cloud.SetTargetHealth, dataplane.HealthOptions{Prefix: p.prefix, Flusher: p.k,
		// The first check of a target at once, then on the interval.
		Checker: healthcheck.Options{Jitter: -1, Rand: func() float64 { return 0 }}})
	drains := dataplane.NewDraining(p.env.Cloud.EndDraining, p.k, p.prefix, nil)
	proxies := dataplane.NewProxies(dataplane.ProxyOptions{Prefix: p.prefix, Kernel: p.fast})
	rec, err := dataplane.New(p.env.Cloud, p.k, nil, dataplane.Options{Prefix: p.prefix, Debounce: time.Millisecond,
		Followers: []dataplane.Follower{resolvers, checks, drains, proxies}, FastPath: p.fast})
	if err != nil {
		p.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rec.Run(context.Background()) }()
	p.rec, p.done, p.proxies = rec, done, proxies
	p.stop = func() {
		rec.Close()
		if err := <-done; err != nil {
			p.t.Errorf("reconciler: %v", err)
		}
		checks.Close()
		drains.Close()
		proxies.Close()
		resolvers.Close()
	}
}

// restart stops the reconciler and its followers, as a killed daemon
// would leave the kernel, and starts new ones with a new kernel handle.
func (p *dpPlane) restart() {
	p.stop()
	p.stop = nil
	p.k = dataplane.NewLinuxKernel(nil)
	p.t.Cleanup(func() { p.k.Close() })
	p.fast = !p.noFast && enableFastPath(p.t, p.k)
	p.run()
}

// settle waits until the data plane has applied everything the store holds.
func (p *dpPlane) settle() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.rec.WaitApplied(ctx, p.env.Store.Rev()); err != nil {
		p.t.Fatal(err)
	}
	for id, st := range p.rec.Statuses() {
		if st.State != dataplane.StateReady {
			p.t.Fatalf("object %s is %s: %s", id, st.State, st.Error)
		}
	}
}

func (p *dpPlane) ns(eni string) string { return dataplane.ENINamespace(p.prefix, eni) }

// fastPackets is how many packets the fast path's NAT program carried
// through namespace ns.
func (p *dpPlane) fastPackets(ns string) uint64 {
	p.t.Helper()
	cookie, err := p.k.NamespaceCookie(ns)
	if err != nil {
		p.t.Fatal(err)
	}
	s, err := p.k.FastPath().Carried(cookie)
	if err != nil {
		p.t.Fatal(err)
	}
	return s.Packets
}

// dpServer is a TCP server in a target's namespace: it answers every
// connection with "<name> <peer address>\n", then echoes. Kill resets
// every connection it holds and stops it, as a target that dies.
type dpServer struct {
	name  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func dpServe(t *testing.T, ns, addr, name string) *dpServer {
	t.Helper()
	ln, err := netns.Listen(ns, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &dpServer{name: name, ln: ln}
	t.Cleanup(s.kill)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr())
				io.Copy(c, c)
			}()
		}
	}()
	return s
}

func (s *dpServer) kill() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.(*net.TCPConn).SetLinger(0) // a reset, as a process that dies
		c.Close()
	}
	s.conns = nil
}

// lastConn is the server side of the newest connection.
func (s *dpServer) lastConn() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		return nil
	}
	return s.conns[len(s.conns)-1]
}

// dpServeUDP answers every datagram with "<name> <peer address>".
func dpServeUDP(t *testing.T, ns, addr, name string) {
	t.Helper()
	pc, err := netns.ListenPacket(ns, "udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(name+" "+from.String()), from)
		}
	}()
}

// dpConnect connects from a namespace and reads the server's first line.
func dpConnect(ns, addr string, timeout time.Duration) (string, net.Conn, error) {
	line, c, err := dpConnectFrom(ns, addr, 0, timeout)
	if err != nil {
		return "", nil, err // not a nil *net.TCPConn in an interface
	}
	return line, c, nil
}

// dpConnectFrom is dpConnect from the local port port (any, for 0).
func dpConnectFrom(ns, addr string, port uint16, timeout time.Duration) (string, *net.TCPConn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{Port: int(port)}}
	var nc net.Conn
	if err := netns.DoNamed(ns, func() (err error) {
		nc, err = d.Dial("tcp4", addr)
		return err
	}); err != nil {
		return "", nil, err
	}
	c := nc.(*net.TCPConn)
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return "", nil, err
	}
	c.SetDeadline(time.Time{})
	return strings.TrimSpace(line), c, nil
}

// dpEcho sends msg and reads it back.
func dpEcho(c net.Conn, msg string) error { return testenv.Echo(c, msg, 2*time.Second) }

// dpUDP sends a datagram from a namespace and returns the answer.
func dpUDP(ns, addr string) (string, error) {
	c, err := netns.Dial(ns, "udp4", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("?")); err != nil {
		return "", err
	}
	buf := make([]byte, 200)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

func dpRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
func dpReset(err error) bool   { return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) }

// dpCensus counts what the data plane holds under its prefix: namespaces,
// transit links, NAT tables (both sides) and their map elements.
type dpCensus struct{ namespaces, transits, natTables, natChains, natMaps int }

func (p *dpPlane) census() dpCensus {
	p.t.Helper()
	hc, err := p.k.Observe(p.prefix)
	if err != nil {
		p.t.Fatal(err)
	}
	var c dpCensus
	for _, it := range hc.Items {
		switch it.(type) {
		case dataplane.Netns:
			c.namespaces++
		case dataplane.Transit:
			c.transits++
		case dataplane.NatTable:
			c.natTables++
		case dataplane.NatChain:
			c.natChains++
		case dataplane.NatMap:
			c.natMaps++
		}
	}
	return c
}

// dpWait polls ok until it holds or limit passes.
func dpWait(t *testing.T, what string, limit time.Duration, ok func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		done, state := ok()
		if done {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v (%s)", what, limit, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runIP runs iproute2.
func runIP(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	return string(out), err
}
