package health

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/proxy"
)

func probe(p Prober, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.Probe(ctx)
}

// listen returns a loopback listener closed at the end of the test.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// hangingDial never connects: it waits for the context.
func hangingDial(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// headerListener reads a PROXY header off every accepted connection and
// passes the connection on.
type headerListener struct {
	net.Listener
	headers chan proxy.Header
}

func (l headerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		h, err := proxy.Read(c)
		c.SetReadDeadline(time.Time{})
		if err != nil {
			c.Close()
			continue
		}
		l.headers <- h
		return c, nil
	}
}

func TestTCPProbe(t *testing.T) {
	ln := listen(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var dialed []string
	var mu sync.Mutex
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, network+" "+addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	if r := probe(TCPProbe{Dial: dial, Address: ln.Addr().String()}, time.Second); r.Outcome != Pass {
		t.Errorf("listening target: %v", r)
	}
	if len(dialed) != 1 || dialed[0] != "tcp "+ln.Addr().String() {
		t.Errorf("the dial function saw %v", dialed)
	}
	r := probe(TCPProbe{Address: closedAddr(t)}, time.Second)
	if r.Outcome != Fail || !errors.Is(r.Err, syscall.ECONNREFUSED) {
		t.Errorf("closed port: %v", r)
	}
	if r := probe(TCPProbe{Dial: hangingDial, Address: "192.0.2.1:80"}, 50*time.Millisecond); r.Outcome != Timeout {
		t.Errorf("no answer: %v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := (TCPProbe{Dial: hangingDial, Address: "192.0.2.1:80"}).Probe(ctx); r.Outcome != Fail {
		t.Errorf("cancelled: %v", r)
	}
}

// TestTCPProbeProxyProtocol: with proxy protocol the check sends a LOCAL
// header, as AWS's health checks do.
func TestTCPProbeProxyProtocol(t *testing.T) {
	hl := headerListener{listen(t), make(chan proxy.Header, 1)}
	go func() {
		for {
			c, err := hl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if r := probe(TCPProbe{Address: hl.Addr().String(), ProxyProtocol: true}, time.Second); r.Outcome != Pass {
		t.Fatalf("probe: %v", r)
	}
	select {
	case h := <-hl.headers:
		if h.Command != proxy.CommandLocal || h.Family != proxy.Unspec || h.Source.IsValid() || h.VPCEndpointID != "" {
			t.Errorf("header %s, want LOCAL UNSPEC", h.String())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the target got no PROXY header")
	}
}

// httpTarget serves paths that answer with various codes and records the
// requests it gets.
type httpTarget struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (h *httpTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.reqs = append(h.reqs, r)
	h.mu.Unlock()
	switch r.URL.Path {
	case "/ok":
		w.Write([]byte("ok"))
	case "/503":
		w.WriteHeader(503)
	case "/redirect":
		http.Redirect(w, r, "/ok", http.StatusFound)
	case "/slow":
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	default:
		http.NotFound(w, r)
	}
}

func (h *httpTarget) last() *http.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reqs[len(h.reqs)-1]
}

func TestHTTPProbe(t *testing.T) {
	target := &httpTarget{}
	srv := httptest.NewServer(target)
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	for _, c := range []struct {
		path, matcher string
		want          Outcome
		code          int
	}{
		{"/ok", "", Pass, 200},
		{"/redirect", "", Pass, 302},
		{"/503", "", Mismatch, 503},
		{"/503", "503", Pass, 503},
		{"/503", "200-299,500-502", Mismatch, 503},
		{"/missing", "", Mismatch, 404},
		{"/missing", "200,404", Pass, 404},
		{"/ok", "201-599", Mismatch, 200},
	} {
		p := HTTPProbe{Address: addr, Path: c.path, Matcher: MustParseMatcher(c.matcher)}
		r := probe(p, time.Second)
		if r.Outcome != c.want || r.Code != c.code {
			t.Errorf("GET %s matching %q: %v, want %v %d", c.path, c.matcher, r, c.want, c.code)
		}
	}

	// The request as AWS sends it.
	r := probe(HTTPProbe{Address: addr, Host: "10.1.2.10:80", Path: "/ok?x=1"}, time.Second)
	if r.Outcome != Pass {
		t.Fatal(r)
	}
	req := target.last()
	if req.Method != "GET" || req.URL.RequestURI() != "/ok?x=1" || req.Host != "10.1.2.10:80" ||
		req.UserAgent() != "ELB-HealthChecker/2.0" || !req.Close {
		t.Errorf("request %s %s Host %q UA %q Close %v", req.Method, req.URL, req.Host, req.UserAgent(), req.Close)
	}
	probe(HTTPProbe{Address: addr}, time.Second)
	if req := target.last(); req.URL.Path != "/" || req.Host != addr {
		t.Errorf("defaults: path %q, Host %q", req.URL.Path, req.Host)
	}

	if r := probe(HTTPProbe{Address: addr, Path: "/slow"}, 100*time.Millisecond); r.Outcome != Timeout {
		t.Errorf("slow target: %v", r)
	}
	if r := probe(HTTPProbe{Address: closedAddr(t)}, time.Second); r.Outcome != Fail {
		t.Errorf("closed port: %v", r)
	}
	if r := probe(HTTPProbe{Dial: hangingDial, Address: "192.0.2.1:80"}, 50*time.Millisecond); r.Outcome != Timeout {
		t.Errorf("no connection: %v", r)
	}
}

// TestHTTPProbeMalformed: answers that are not HTTP fail the check.
func TestHTTPProbeMalformed(t *testing.T) {
	for _, answer := range []string{"garbage\r\n\r\n", "", "HTTP/1.1 abc OK\r\n\r\n"} {
		ln := listen(t)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			c.Read(buf)
			c.Write([]byte(answer))
			c.Close()
		}()
		if r := probe(HTTPProbe{Address: ln.Addr().String()}, time.Second); r.Outcome != Fail {
			t.Errorf("answer %q: %v", answer, r)
		}
	}
}

// TestHTTPProbeProxyProtocol: the LOCAL header comes before the request.
func TestHTTPProbeProxyProtocol(t *testing.T) {
	hl := headerListener{listen(t), make(chan proxy.Header, 1)}
	srv := &http.Server{Handler: &httpTarget{}}
	go srv.Serve(hl)
	defer srv.Close()
	r := probe(HTTPProbe{Address: hl.Addr().String(), Path: "/ok", ProxyProtocol: true}, time.Second)
	if r.Outcome != Pass {
		t.Fatalf("probe: %v", r)
	}
	if h := <-hl.headers; h.Command != proxy.CommandLocal || h.Family != proxy.Unspec {
		t.Errorf("header %s", h.String())
	}
	// A target that does not expect the header answers 400.
	plain := httptest.NewServer(&httpTarget{})
	defer plain.Close()
	r = probe(HTTPProbe{Address: plain.Listener.Addr().String(), Path: "/ok", ProxyProtocol: true}, time.Second)
	if r.Outcome != Mismatch || r.Code != 400 {
		t.Errorf("target without PROXY support: %v", r)
	}
}

// TestHTTPSProbe: HTTPS checks do not verify the certificate and offer at
// most TLS 1.2, so a TLS 1.3-only target fails them, as on AWS.
func TestHTTPSProbe(t *testing.T) {
	srv := httptest.NewTLSServer(&httpTarget{})
	defer srv.Close()
	if r := probe(HTTPProbe{Address: srv.Listener.Addr().String(), Path: "/ok", TLS: true}, 2*time.Second); r.Outcome != Pass {
		t.Errorf("HTTPS target with a self-signed certificate: %v", r)
	}
	only13 := httptest.NewUnstartedServer(&httpTarget{})
	only13.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	only13.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	only13.StartTLS()
	defer only13.Close()
	r := probe(HTTPProbe{Address: only13.Listener.Addr().String(), Path: "/ok", TLS: true}, 2*time.Second)
	if r.Outcome != Fail || !strings.Contains(r.Err.Error(), "TLS handshake") {
		t.Errorf("TLS 1.3-only target: %v", r)
	}
	// HTTPS with proxy protocol: the header precedes the handshake.
	hl := headerListener{listen(t), make(chan proxy.Header, 1)}
	tsrv := httptest.NewUnstartedServer(&httpTarget{})
	tsrv.Listener.Close()
	tsrv.Listener = hl
	tsrv.StartTLS()
	defer tsrv.Close()
	if r := probe(HTTPProbe{Address: hl.Addr().String(), Path: "/ok", TLS: true, ProxyProtocol: true}, 2*time.Second); r.Outcome != Pass {
		t.Errorf("HTTPS with a PROXY header: %v", r)
	}
}
