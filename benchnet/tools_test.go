//go:build linux

package benchnet

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The Go tools against a Server on loopback, in the test's own namespace:
// no privileges needed.

func serveLoopback(t *testing.T, ppv2 bool) (*Server, netip.AddrPort) {
	t.Helper()
	ln, err := ListenIn("", netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	s := Serve(ln, ppv2)
	t.Cleanup(func() { s.Close() })
	return s, netip.MustParseAddrPort(ln.Addr().String())
}

func TestBulk(t *testing.T) {
	_, addr := serveLoopback(t, false)
	for _, streams := range []int{1, 4} {
		bps, err := Bulk(context.Background(), "", addr, streams, 200*time.Millisecond)
		if err != nil {
			t.Fatalf("%d streams: %v", streams, err)
		}
		if bps < 1e6 {
			t.Errorf("%d streams: %.0f bit/s on loopback", streams, bps)
		}
	}
}

func TestUploadCount(t *testing.T) {
	// The server answers exactly the number of bytes after the mode byte.
	_, addr := serveLoopback(t, false)
	c, err := DialIn("", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte{ModeUpload})
	c.Write(make([]byte, 123456))
	c.CloseWrite()
	var n [8]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint64(n[:]); got != 123456 {
		t.Errorf("server counted %d bytes, want 123456", got)
	}
}

func TestRequestResponse(t *testing.T) {
	_, addr := serveLoopback(t, false)
	lat, err := RequestResponse(context.Background(), "", addr, 64, 10, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 500 {
		t.Fatalf("%d round trips, want 500 (warm-up not counted)", len(lat))
	}
	p50, p99 := Percentile(lat, 50), Percentile(lat, 99)
	if p50 <= 0 || p99 < p50 || p99 > 5*time.Second {
		t.Errorf("p50 %v p99 %v", p50, p99)
	}
}

func TestConnectRate(t *testing.T) {
	_, addr := serveLoopback(t, false)
	rate, failed, err := ConnectRate(context.Background(), "", addr, 4, 64, 300*time.Millisecond)
	if err != nil || failed != 0 {
		t.Fatalf("rate %.0f, %d failed: %v", rate, failed, err)
	}
	if rate < 10 {
		t.Errorf("%.0f connections/s on loopback", rate)
	}

	// Nothing listening: every connection fails, and the first error says why.
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	closed := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	rate, failed, err = ConnectRate(context.Background(), "", closed, 2, 64, 200*time.Millisecond)
	if rate != 0 || failed == 0 || err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("to a closed port: rate %.0f, %d failed, %v; want 0, failures, connection refused", rate, failed, err)
	}
}

func TestServerPPv2(t *testing.T) {
	s, addr := serveLoopback(t, true)
	src, dst := netip.MustParseAddrPort("10.0.1.20:40000"), netip.MustParseAddrPort("10.0.1.5:7002")

	// With a header: stripped, recorded, and the protocol works after it.
	c, err := DialIn("", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := append(appendPPv2(nil, src, dst, "vpce-0123456789abcdef0"), ModeEcho)
	msg = append(msg, "hello"...)
	c.Write(msg)
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "hello" {
		t.Fatalf("echo after the header: %q, %v", got, err)
	}
	c.Close()
	n, missing, last := s.PPv2()
	if n != 1 || missing != 0 || last.Src != src || last.VPCEndpointID != "vpce-0123456789abcdef0" {
		t.Errorf("PPv2() = %d, %d, %+v", n, missing, last)
	}

	// A LOCAL header (a health check) is not counted as a client's.
	c, _ = DialIn("", addr, time.Second)
	local := append([]byte(nil), ppv2Signature...)
	c.Write(append(local, 0x20, 0x00, 0x00, 0x00))
	c.Close()

	// Without a header: the client learns why.
	_, err = RequestResponse(context.Background(), "", addr, 64, 0, 1)
	if err == nil || !strings.Contains(err.Error(), "no PROXY v2 header") {
		t.Errorf("RequestResponse without a header: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		n, missing, _ = s.PPv2()
		if missing == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n != 1 || missing != 1 {
		t.Errorf("after a LOCAL header and a headerless connection: %d headers, %d missing; want 1, 1", n, missing)
	}
}

func TestDescribe(t *testing.T) {
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err := net.DialTimeout("tcp4", addr, time.Second)
	if got := describe(err); got != "connection to "+addr+" refused" {
		t.Errorf("describe(%v) = %q", err, got)
	}
}
