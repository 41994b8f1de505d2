package proxy

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// sink is a target for the throughput benchmark: it reads the PROXY
// header (if header), then in rounds reads size bytes and answers one
// byte, so that a round's time covers the bytes arriving.
func sink(b *testing.B, header bool, size int) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if header {
					if _, err := Read(c); err != nil {
						return
					}
				}
				buf := make([]byte, 256<<10)
				for {
					for left := size; left > 0; {
						n, err := c.Read(buf[:min(left, len(buf))])
						if err != nil {
							return
						}
						left -= n
					}
					if _, err := c.Write([]byte{1}); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln
}

// round sends data over c and waits for the target's answer.
func round(b *testing.B, c net.Conn, data []byte) time.Duration {
	t0 := time.Now()
	if _, err := c.Write(data); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// BenchmarkThroughput sends the same bytes over a direct loopback
// connection and through the proxy, alternating, and reports both rates
// and their ratio (proxy/direct): the PPv2 path's cost in one number.
// "splice" is the proxy as it runs (io.Copy between *net.TCPConn);
// "userspace" hides the target's *net.TCPConn from io.Copy, so that the
// bytes go through a buffer, for comparison.
func BenchmarkThroughput(b *testing.B) {
	for _, mode := range []string{"splice", "userspace"} {
		b.Run(mode, func(b *testing.B) { benchThroughput(b, mode == "userspace") })
	}
}

func benchThroughput(b *testing.B, userspace bool) {
	const size = 8 << 20
	direct := sink(b, false, size)
	defer direct.Close()
	target := sink(b, true, size)
	defer target.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := New(Config{Dial: func(ctx context.Context, _ net.Conn) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", target.Addr().String())
		if err != nil || !userspace {
			return c, err
		}
		return struct{ net.Conn }{c}, nil
	}})
	go p.Serve(ln)
	defer p.Close()

	dc, err := net.Dial("tcp", direct.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer dc.Close()
	pc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()

	data := make([]byte, size)
	round(b, dc, data) // warm up both paths
	round(b, pc, data)
	b.SetBytes(2 * size)
	b.ResetTimer()
	var td, tp time.Duration
	for range b.N {
		td += round(b, dc, data)
		tp += round(b, pc, data)
	}
	b.StopTimer()
	mb := float64(size) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/td.Seconds(), "direct-MiB/s")
	b.ReportMetric(mb/tp.Seconds(), "proxy-MiB/s")
	b.ReportMetric(td.Seconds()/tp.Seconds(), "proxy/direct")
}

// BenchmarkHeaderEncode is the per-connection cost of the header: no
// allocation into a reused buffer.
func BenchmarkHeaderEncode(b *testing.B) {
	h := NewHeader(netip.MustParseAddrPort("10.0.0.25:40312"), netip.MustParseAddrPort("10.1.2.10:80"))
	h.VPCEndpointID = "vpce-0123456789abcdef0"
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for range b.N {
		var err error
		if buf, err = h.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	h := NewHeader(netip.MustParseAddrPort("10.0.0.25:40312"), netip.MustParseAddrPort("10.1.2.10:80"))
	h.VPCEndpointID = "vpce-0123456789abcdef0"
	enc, _ := h.MarshalBinary()
	b.ReportAllocs()
	for range b.N {
		if _, _, err := Parse(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEncodeAllocs holds the encoder to zero allocations.
func TestEncodeAllocs(t *testing.T) {
	h := NewHeader(netip.MustParseAddrPort("[2001:db8::25]:40312"), netip.MustParseAddrPort("[2001:db8::10]:80"))
	h.VPCEndpointID = "vpce-0123456789abcdef0"
	h.TLVs = []TLV{{TypeCRC32C, make([]byte, 4)}}
	buf := make([]byte, 0, 128)
	if n := testing.AllocsPerRun(100, func() { buf, _ = h.AppendBinary(buf[:0]) }); n != 0 {
		t.Errorf("AppendBinary allocates %v times", n)
	}
}
