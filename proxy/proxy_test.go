package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// noLeaks fails the test if goroutines started during it are still running
// once its cleanups have run. Call it first, so that its cleanup runs last.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// backend is a target: it reads the PROXY header of each connection (if
// header is set), answers with the header's String() on one line, then
// runs serve on the connection.
type backend struct {
	ln      net.Listener
	header  bool
	serve   func(c *net.TCPConn, r *bufio.Reader)
	headers chan Header
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

// echo copies what it reads back and half-closes at the end.
func echo(c *net.TCPConn, r *bufio.Reader) {
	io.Copy(c, r)
	c.CloseWrite()
}

func newBackend(t *testing.T, header bool, serve func(c *net.TCPConn, r *bufio.Reader)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{ln: ln, header: header, serve: serve, headers: make(chan Header, 100)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				if b.header {
					h, err := Read(r)
					if err != nil {
						fmt.Fprintf(c, "error: %v\n", err)
						return
					}
					b.headers <- h
					fmt.Fprintf(c, "%s\n", h.String())
				}
				b.serve(c.(*net.TCPConn), r)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *backend) addr() string { return b.ln.Addr().String() }

func dialTo(addr string) func(ctx context.Context, _ net.Conn) (net.Conn, error) {
	return func(ctx context.Context, _ net.Conn) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// startProxy serves cfg on a loopback listener and closes it at the end of
// the test, checking that Serve returned ErrClosed.
func startProxy(t *testing.T, cfg Config) (*Proxy, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := New(cfg)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	t.Cleanup(func() {
		closed := make(chan struct{})
		go func() { p.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
		if err := <-served; err != ErrClosed {
			t.Errorf("Serve returned %v, want ErrClosed", err)
		}
	})
	return p, ln.Addr().String()
}

// expectReset connects to addr and fails the test unless the connection
// is reset (a reset that beats connect(2) counts).
func expectReset(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		defer c.Close()
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("connection to %s: %v, want a reset", addr, err)
	}
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails the test
	return c.(*net.TCPConn)
}

// TestEndToEnd: concurrent clients each send a megabyte through the proxy
// to an echo target that checks the PROXY header; every byte comes back,
// the header names each client, and the counters add up.
func TestEndToEnd(t *testing.T) {
	noLeaks(t)
	be := newBackend(t, true, echo)
	p, addr := startProxy(t, Config{Dial: dialTo(be.addr())})

	const clients, size = 8, 1 << 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	var sent, received int64
	var mu sync.Mutex
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			data := make([]byte, size)
			rand.Read(data)
			go func() {
				c.Write(data)
				c.(*net.TCPConn).CloseWrite()
			}()
			r := bufio.NewReader(c)
			line, err := r.ReadString('\n')
			if err != nil {
				errs <- err
				return
			}
			want := fmt.Sprintf("PROXY TCP4 %s -> %s\n", c.LocalAddr(), c.RemoteAddr())
			if line != want {
				errs <- fmt.Errorf("target saw header %q, want %q", line, want)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				errs <- fmt.Errorf("echo: %d bytes, equal %v, %v", len(got), bytes.Equal(got, data), err)
			}
			mu.Lock()
			sent += size
			received += int64(len(line)) + int64(len(got))
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "no active connections", func() bool { return p.Stats().Active == 0 })
	s := p.Stats()
	if s.New != clients || s.BytesIn != uint64(sent) || s.BytesOut != uint64(received) || s.Resets != 0 || s.DialErrors != 0 {
		t.Errorf("stats %+v, want New %d, BytesIn %d, BytesOut %d", s, clients, sent, received)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHeaderHook: the data plane's hook supplies the consumer's original
// address and the endpoint id; a nil header sends none; an error resets
// the client without dialing.
func TestHeaderHook(t *testing.T) {
	noLeaks(t)
	be := newBackend(t, true, echo)
	_, addr := startProxy(t, Config{
		Dial: dialTo(be.addr()),
		Header: func(c net.Conn) (*Header, error) {
			h := HeaderFor(c)
			h.Source = netip.MustParseAddrPort("10.0.0.25:40312")
			h.VPCEndpointID = "vpce-0123456789abcdef0"
			return &h, nil
		},
	})
	c := dial(t, addr)
	c.Write([]byte("x"))
	c.CloseWrite()
	got, _ := io.ReadAll(c)
	want := fmt.Sprintf("PROXY TCP4 10.0.0.25:40312 -> %s vpce=vpce-0123456789abcdef0\nx", c.RemoteAddr())
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}

	raw := newBackend(t, false, echo)
	_, addr = startProxy(t, Config{
		Dial:   dialTo(raw.addr()),
		Header: func(net.Conn) (*Header, error) { return nil, nil },
	})
	c = dial(t, addr)
	c.Write([]byte("no header"))
	c.CloseWrite()
	if got, _ := io.ReadAll(c); string(got) != "no header" {
		t.Errorf("without a header: got %q", got)
	}

	var dialed atomic.Bool
	p, addr := startProxy(t, Config{
		Dial:   func(context.Context, net.Conn) (net.Conn, error) { dialed.Store(true); return nil, errors.New("no") },
		Header: func(net.Conn) (*Header, error) { return nil, errors.New("unknown endpoint") },
	})
	expectReset(t, addr)
	waitFor(t, "the rejection to be counted", func() bool { return p.Stats().Rejected == 1 })

	// A header that cannot be encoded is refused the same way.
	p2, addr := startProxy(t, Config{
		Dial: func(context.Context, net.Conn) (net.Conn, error) { dialed.Store(true); return nil, errors.New("no") },
		Header: func(net.Conn) (*Header, error) {
			return &Header{Command: CommandProxy, Family: INET, Transport: Stream}, nil // no addresses
		},
	})
	expectReset(t, addr)
	waitFor(t, "the rejection to be counted", func() bool { return p2.Stats().Rejected == 1 })
	if dialed.Load() {
		t.Error("dialed despite the header error")
	}
}

// TestDialFailureResets: when the target cannot be reached the client gets
// a reset, not a clean close.
func TestDialFailureResets(t *testing.T) {
	noLeaks(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close() // nothing listens here now
	p, addr := startProxy(t, Config{Dial: dialTo(closed)})
	expectReset(t, addr)
	// The connection counts as active until its goroutine has finished,
	// a moment after the dial error is counted (CI saw Active 1 once).
	waitFor(t, "the dial error to be counted and the connection to end", func() bool {
		s := p.Stats()
		return s.DialErrors == 1 && s.Active == 0
	})
	if s := p.Stats(); s.New != 1 || s.Active != 0 || s.DialErrors != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestHalfClose: each direction's FIN is passed on alone; the other
// direction keeps going.
func TestHalfClose(t *testing.T) {
	noLeaks(t)
	// The target reads to EOF, then answers, then closes.
	be := newBackend(t, true, func(c *net.TCPConn, r *bufio.Reader) {
		b, _ := io.ReadAll(r)
		time.Sleep(50 * time.Millisecond)
		fmt.Fprintf(c, "got %q after EOF", b)
	})
	_, addr := startProxy(t, Config{Dial: dialTo(be.addr())})
	c := dial(t, addr)
	c.Write([]byte("ping"))
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || !strings.HasSuffix(string(got), `got "ping" after EOF`) {
		t.Errorf("client half-close: %q, %v", got, err)
	}

	// The target half-closes first; the client still sends after that.
	late := make(chan string, 1)
	be2 := newBackend(t, true, func(c *net.TCPConn, r *bufio.Reader) {
		c.Write([]byte("bye"))
		c.CloseWrite()
		b, _ := io.ReadAll(r)
		late <- string(b)
	})
	_, addr = startProxy(t, Config{Dial: dialTo(be2.addr())})
	c = dial(t, addr)
	got, err = io.ReadAll(c)
	if err != nil || !strings.HasSuffix(string(got), "\nbye") {
		t.Fatalf("target half-close: %q, %v", got, err)
	}
	if _, err := c.Write([]byte("still here")); err != nil {
		t.Fatalf("writing after the target's FIN: %v", err)
	}
	c.CloseWrite()
	if b := <-late; b != "still here" {
		t.Errorf("target read %q after its own FIN", b)
	}
	// The connection ends cleanly once both directions have.
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after both FINs: %d, %v", n, err)
	}
}

// TestResetPropagates: a target's reset reaches the client as a reset and
// is counted.
func TestResetPropagates(t *testing.T) {
	noLeaks(t)
	be := newBackend(t, true, func(c *net.TCPConn, r *bufio.Reader) {
		r.ReadByte()
		c.SetLinger(0)
		c.Close()
	})
	p, addr := startProxy(t, Config{Dial: dialTo(be.addr())})
	c := dial(t, addr)
	r := bufio.NewReader(c)
	r.ReadString('\n')
	c.Write([]byte("x"))
	_, err := r.ReadByte()
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read %v, want ECONNRESET", err)
	}
	waitFor(t, "the reset to be counted", func() bool { return p.Stats().Resets == 1 })
}

// TestIdleTimeout: traffic in either direction keeps a connection open past
// the timeout; silence resets both sides.
func TestIdleTimeout(t *testing.T) {
	noLeaks(t)
	const idle = 400 * time.Millisecond
	targetErr := make(chan error, 1)
	be := newBackend(t, true, func(c *net.TCPConn, r *bufio.Reader) {
		buf := make([]byte, 64)
		for {
			n, err := r.Read(buf)
			if err != nil {
				targetErr <- err
				return
			}
			if strings.HasSuffix(string(buf[:n]), "talk") {
				// Answer in the other direction only, three times.
				for range 3 {
					time.Sleep(idle / 3)
					c.Write([]byte("."))
				}
			}
		}
	})
	p, addr := startProxy(t, Config{Dial: dialTo(be.addr()), IdleTimeout: idle})
	c := dial(t, addr)
	r := bufio.NewReader(c)
	r.ReadString('\n')
	start := time.Now()
	// Client to target traffic for 2.5 timeouts.
	for range 10 {
		time.Sleep(idle / 4)
		if _, err := c.Write([]byte("k")); err != nil {
			t.Fatalf("write after %v: %v", time.Since(start), err)
		}
	}
	// Target to client traffic only, for another timeout.
	c.Write([]byte("talk"))
	for range 3 {
		if _, err := r.ReadByte(); err != nil {
			t.Fatalf("read after %v: %v", time.Since(start), err)
		}
	}
	quiet := time.Now()
	_, err := r.ReadByte()
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after silence: %v, want ECONNRESET", err)
	}
	if d := time.Since(quiet); d < idle*3/4 || d > 3*idle {
		t.Errorf("reset %v after the last byte, timeout %v", d, idle)
	}
	if err := <-targetErr; !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("target read %v, want ECONNRESET", err)
	}
	if s := p.Stats(); s.IdleClosed != 1 {
		t.Errorf("IdleClosed = %d", s.IdleClosed)
	}
}

// TestShutdown: Shutdown stops accepting at once, lets open connections
// finish, and resets what is left when its context ends.
func TestShutdown(t *testing.T) {
	noLeaks(t)
	be := newBackend(t, true, echo)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	p := New(Config{Dial: dialTo(be.addr())})
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()

	c := dial(t, addr)
	r := bufio.NewReader(c)
	r.ReadString('\n')
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(context.Background()) }()
	if err := <-served; err != ErrClosed {
		t.Errorf("Serve returned %v", err)
	}
	if c2, err := net.Dial("tcp", addr); err == nil {
		c2.Close()
		t.Error("a new connection was accepted during Shutdown")
	}
	// The open connection still works.
	c.Write([]byte("abc"))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "abc" {
		t.Errorf("during Shutdown: %q, %v", buf, err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a connection open", err)
	case <-time.After(100 * time.Millisecond):
	}
	c.CloseWrite()
	io.ReadAll(r)
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}

	// A Shutdown whose context ends resets the connections left.
	p2, addr2 := startProxy(t, Config{Dial: dialTo(be.addr())})
	c = dial(t, addr2)
	r = bufio.NewReader(c)
	r.ReadString('\n')
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- p2.Shutdown(ctx) }()
	select {
	case err := <-shut:
		if err != context.DeadlineExceeded {
			t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after its deadline")
	}
	if _, err := r.ReadByte(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after Shutdown's deadline the client read %v", err)
	}
	if err := p2.Serve(ln); err != ErrClosed {
		t.Errorf("Serve after Close: %v", err)
	}
}

// TestCloseAbortsDial: Close does not wait for a dial that hangs.
func TestCloseAbortsDial(t *testing.T) {
	noLeaks(t)
	started := make(chan struct{})
	p, addr := startProxy(t, Config{
		Dial: func(ctx context.Context, _ net.Conn) (net.Conn, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		},
		DialTimeout: time.Hour,
	})
	c := dial(t, addr)
	<-started
	t0 := time.Now()
	p.Close()
	if d := time.Since(t0); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read %v", err)
	}
}

// TestStatsLive: bytes of a connection that is still open show in Stats.
func TestStatsLive(t *testing.T) {
	noLeaks(t)
	be := newBackend(t, true, echo)
	p, addr := startProxy(t, Config{Dial: dialTo(be.addr())})
	c := dial(t, addr)
	r := bufio.NewReader(c)
	line, _ := r.ReadString('\n')
	c.Write(make([]byte, 1000))
	io.ReadFull(r, make([]byte, 1000))
	s := p.Stats()
	if s.Active != 1 || s.BytesIn != 1000 || s.BytesOut != uint64(1000+len(line)) {
		t.Errorf("live stats %+v, want 1 active, 1000 in, %d out", s, 1000+len(line))
	}
	c.CloseWrite()
	io.ReadAll(r)
	waitFor(t, "the connection to end", func() bool { return p.Stats().Active == 0 })
	if s2 := p.Stats(); s2.BytesIn != s.BytesIn || s2.BytesOut != s.BytesOut {
		t.Errorf("final stats %+v differ from live %+v", s2, s)
	}
}
