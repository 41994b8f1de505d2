package proxy

import (
	"github.com/isthmusnet/isthmus/testenv"

	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestHAProxyInterop checks the codec against HAProxy, the reference
// implementation of the PROXY protocol, when it is installed: our Proxy
// sends its header to an HAProxy that accepts PROXY headers (accept-proxy)
// and forwards to a target with its own version 2 header (send-proxy-v2,
// with a CRC32C and a unique id). The target parses HAProxy's header with
// Read. Both directions of the codec meet an independent implementation:
// HAProxy must understand the addresses we sent, and we must parse and
// checksum what HAProxy sends.
func TestHAProxyInterop(t *testing.T) {
	bin := testenv.RequireProgram(t, "haproxy")
	noLeaks(t)
	be := newBackend(t, true, echo)
	front := freePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global
	nbthread 1
defaults
	mode tcp
	timeout connect 2s
	timeout client 10s
	timeout server 10s
frontend fe
	bind %s accept-proxy
	unique-id-format id-%%ci
	default_backend be
backend be
	server target %s send-proxy-v2 proxy-v2-options crc32c,unique-id
`, front, be.addr())
	if err := os.WriteFile(filepath.Join(dir, "haproxy.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-db", "-f", filepath.Join(dir, "haproxy.cfg"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy:\n%s", logs.String())
		}
	})
	waitFor(t, "haproxy to listen", func() bool {
		c, err := net.Dial("tcp", front)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// The probe connection above carried no header; HAProxy drops it.
	for len(be.headers) > 0 {
		<-be.headers
	}

	var local atomic.Bool
	_, addr := startProxy(t, Config{
		Dial: dialTo(front),
		Header: func(c net.Conn) (*Header, error) {
			if local.Load() {
				h := LocalHeader()
				return &h, nil
			}
			h := NewHeader(netip.MustParseAddrPort("10.0.0.25:40312"), netip.MustParseAddrPort("10.1.2.10:80"))
			h.VPCEndpointID = "vpce-0123456789abcdef0"
			h.TLVs = []TLV{{TypeCRC32C, make([]byte, 4)}, {TypeAuthority, []byte("svc.example.com")}}
			return &h, nil
		},
	})
	roundTrip := func() Header {
		c := dial(t, addr)
		c.Write([]byte("through haproxy"))
		c.CloseWrite()
		r := bufio.NewReader(c)
		r.ReadString('\n')
		if got, err := io.ReadAll(r); err != nil || string(got) != "through haproxy" {
			t.Fatalf("echo through haproxy: %q, %v", got, err)
		}
		select {
		case h := <-be.headers:
			return h
		case <-time.After(5 * time.Second):
			t.Fatal("the target got no header")
		}
		return Header{}
	}

	h := roundTrip()
	if h.Command != CommandProxy || h.Source.String() != "10.0.0.25:40312" || h.Destination.String() != "10.1.2.10:80" {
		t.Errorf("HAProxy passed on %s, want the addresses we sent", h.String())
	}
	if _, ok := h.TLV(TypeCRC32C); !ok {
		t.Errorf("HAProxy's header has no CRC32C (which Read checks): %s", h.String())
	}
	if id, _ := h.TLV(TypeUniqueID); string(id) != "id-10.0.0.25" {
		t.Errorf("HAProxy's unique id %q: it did not take the client address from our header", id)
	}

	// A LOCAL header: HAProxy uses the connection's real addresses.
	local.Store(true)
	h = roundTrip()
	if h.Source.Addr() != netip.MustParseAddr("127.0.0.1") || h.Destination.String() != front {
		t.Errorf("after a LOCAL header HAProxy sent %s, want 127.0.0.1 -> %s", h.String(), front)
	}
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
