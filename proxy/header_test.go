package proxy

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenHeaders are the headers of testdata/headers.golden.
var goldenHeaders = []struct {
	name string
	h    Header
}{
	{"health check (LOCAL, no addresses)", LocalHeader()},
	{"PrivateLink IPv4 with the AWS VPC endpoint TLV", withVPCE(NewHeader(
		netip.MustParseAddrPort("10.0.0.25:40312"), netip.MustParseAddrPort("10.1.2.10:80")), "vpce-0123456789abcdef0")},
	{"PrivateLink IPv6 with the AWS VPC endpoint TLV", withVPCE(NewHeader(
		netip.MustParseAddrPort("[2001:db8::25]:40312"), netip.MustParseAddrPort("[2001:db8:1::10]:443")), "vpce-0fedcba9876543210")},
	{"TCP over IPv4 without TLVs", NewHeader(
		netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("198.51.100.2:65535"))},
	{"mixed families become IPv6 with a mapped address", NewHeader(
		netip.MustParseAddrPort("[::ffff:192.0.2.1]:1234"), netip.MustParseAddrPort("[2001:db8::1]:80"))},
	{"UDP over IPv4", Header{Command: CommandProxy, Family: INET, Transport: Datagram,
		Source: netip.MustParseAddrPort("192.0.2.1:53"), Destination: netip.MustParseAddrPort("192.0.2.2:5353")}},
	{"PROXY with family UNSPEC", NewHeader(netip.AddrPort{}, netip.AddrPort{})},
	{"UNIX stream", Header{Command: CommandProxy, Family: UNIX, Transport: Stream,
		SourcePath: "/run/client.sock", DestinationPath: "\x00abstract"}},
	{"standard TLVs and a checksum", Header{Command: CommandProxy, Family: INET, Transport: Stream,
		Source: netip.MustParseAddrPort("10.0.0.1:1000"), Destination: netip.MustParseAddrPort("10.0.0.2:2000"),
		TLVs: []TLV{{TypeALPN, []byte("h2")}, {TypeAuthority, []byte("example.com")}, {TypeNoop, []byte{}},
			{TypeUniqueID, []byte("id-1")}, {TypeCRC32C, []byte{0, 0, 0, 0}}}}},
}

func withVPCE(h Header, id string) Header {
	h.VPCEndpointID = id
	return h
}

// dump renders bytes as hex, 16 to a line in groups of 4.
func dump(b []byte) string {
	var s strings.Builder
	for i := 0; i < len(b); i += 16 {
		line := b[i:min(i+16, len(b))]
		for j := 0; j < len(line); j += 4 {
			if j > 0 {
				s.WriteByte(' ')
			}
			s.WriteString(hex.EncodeToString(line[j:min(j+4, len(line))]))
		}
		s.WriteByte('\n')
	}
	return s.String()
}

func undump(s string) []byte {
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "").Replace(s))
	if err != nil {
		panic(err)
	}
	return b
}

// TestGolden encodes every golden header, compares the bytes with
// testdata/headers.golden (rewritten with -update), and parses the golden
// bytes back into the same header.
func TestGolden(t *testing.T) {
	const path = "testdata/headers.golden"
	var out strings.Builder
	for _, c := range goldenHeaders {
		b, err := c.h.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(b) != c.h.Len() {
			t.Errorf("%s: Len() = %d, encoded %d bytes", c.name, c.h.Len(), len(b))
		}
		fmt.Fprintf(&out, "# %s\n%s\n%s\n", c.name, c.h.String(), dump(b))
	}
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != out.String() {
		t.Errorf("encoding differs from %s (run with -update to accept):\n%s", path, out.String())
	}
	// Parse the file's bytes, not ours.
	blocks := strings.Split(strings.TrimSpace(string(want)), "\n\n")
	if len(blocks) != len(goldenHeaders) {
		t.Fatalf("%s has %d blocks, want %d", path, len(blocks), len(goldenHeaders))
	}
	for i, blk := range blocks {
		lines := strings.SplitN(blk, "\n", 3)
		b := undump(lines[2])
		h, n, err := Parse(b)
		if err != nil || n != len(b) {
			t.Errorf("%s: Parse = %d, %v", lines[0], n, err)
			continue
		}
		if !reflect.DeepEqual(h, normalize(goldenHeaders[i].h, b)) {
			t.Errorf("%s: parsed %s, want %s", lines[0], h.String(), goldenHeaders[i].h.String())
		}
	}
}

// normalize returns h as Parse returns it from its encoding b: the
// checksum TLV holds the checksum.
func normalize(h Header, b []byte) Header {
	if len(h.TLVs) == 0 {
		return h
	}
	tlvs := make([]TLV, len(h.TLVs))
	copy(tlvs, h.TLVs)
	for i, t := range tlvs {
		if t.Type == TypeCRC32C {
			tlvs[i].Value = b[len(b)-4:]
		}
	}
	h.TLVs = tlvs
	return h
}

// TestAWSLayout builds the header a network load balancer sends for
// PrivateLink traffic byte by byte from the specification and AWS's TLV
// table, independently of the encoder.
func TestAWSLayout(t *testing.T) {
	id := "vpce-0123456789abcdef0"
	var want []byte
	want = append(want, 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A)
	want = append(want, 0x21)                             // version 2, PROXY
	want = append(want, 0x11)                             // AF_INET, STREAM
	want = append(want, 0x00, byte(12+3+1+len(id)))       // length
	want = append(want, 10, 0, 0, 25, 10, 1, 2, 10)       // source, destination address
	want = append(want, 40312>>8, 40312&0xFF, 0x00, 0x50) // source port, destination port 80
	want = append(want, 0xEA, 0x00, byte(1+len(id)), 0x01)
	want = append(want, id...)

	got, err := goldenHeaders[1].h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%s\nwant\n%s", dump(got), dump(want))
	}
	h, err := Read(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if h.VPCEndpointID != id || h.Source.String() != "10.0.0.25:40312" || h.Destination.String() != "10.1.2.10:80" || h.TLVs != nil {
		t.Errorf("parsed %s", h.String())
	}

	lh := LocalHeader()
	local, _ := lh.MarshalBinary()
	if want := "0d0a0d0a000d0a515549540a20000000"; hex.EncodeToString(local) != want {
		t.Errorf("LOCAL header %x, want %s", local, want)
	}
}

func TestParseErrors(t *testing.T) {
	valid, _ := goldenHeaders[1].h.MarshalBinary()
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"signature prefix", []byte(Signature[:5]), ErrShort},
		{"fixed part only", valid[:FixedLen], ErrShort},
		{"one byte short", valid[:len(valid)-1], ErrShort},
		{"PROXY v1 text", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), ErrNotProxy},
		{"HTTP", []byte("GET / HTTP/1.1\r\n"), ErrNotProxy},
		{"wrong signature byte", mod(func(b []byte) []byte { b[11] = 'x'; return b }), ErrNotProxy},
		{"version 1", mod(func(b []byte) []byte { b[12] = 0x11; return b }), ErrInvalid},
		{"version 3", mod(func(b []byte) []byte { b[12] = 0x31; return b }), ErrInvalid},
		{"command 2", mod(func(b []byte) []byte { b[12] = 0x22; return b }), ErrInvalid},
		{"family 4", mod(func(b []byte) []byte { b[13] = 0x41; return b }), ErrInvalid},
		{"transport 3", mod(func(b []byte) []byte { b[13] = 0x13; return b }), ErrInvalid},
		{"INET with transport UNSPEC", mod(func(b []byte) []byte { b[13] = 0x10; return b }), ErrInvalid},
		{"UNSPEC with transport STREAM", mod(func(b []byte) []byte { b[13] = 0x01; return b }), ErrInvalid},
		{"length shorter than the addresses", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[14:], 11)
			return b[:FixedLen+11]
		}), ErrInvalid},
		{"INET6 length with INET addresses", mod(func(b []byte) []byte { b[13] = 0x21; return b }), ErrInvalid},
		{"TLV overruns", mod(func(b []byte) []byte { b[FixedLen+12+2]++; return b }), ErrInvalid},
		{"TLV header cut", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[14:], 12+2)
			return b[:FixedLen+12+2]
		}), ErrInvalid},
		{"CRC32C of 3 bytes", append(bytes.Clone(valid[:FixedLen+12]), 0x03, 0, 3, 1, 2, 3), ErrInvalid},
		{"CRC32C mismatch", func() []byte {
			h := goldenHeaders[len(goldenHeaders)-1].h
			b, _ := h.MarshalBinary()
			b[20] ^= 1 // the source address
			return b
		}(), ErrChecksum},
	} {
		b := c.b
		if c.name == "CRC32C of 3 bytes" {
			binary.BigEndian.PutUint16(b[14:], uint16(len(b)-FixedLen))
		}
		_, _, err := Parse(b)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Parse error %v, want %v", c.name, err, c.want)
		}
		// Read agrees, with io.ErrUnexpectedEOF or io.EOF for short input.
		_, rerr := Read(bytes.NewReader(b))
		switch {
		case c.want == ErrShort && len(b) == 0:
			if rerr != io.EOF {
				t.Errorf("%s: Read error %v, want EOF", c.name, rerr)
			}
		case c.want == ErrShort:
			if rerr != io.ErrUnexpectedEOF {
				t.Errorf("%s: Read error %v, want ErrUnexpectedEOF", c.name, rerr)
			}
		case !errors.Is(rerr, c.want):
			t.Errorf("%s: Read error %v, want %v", c.name, rerr, c.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	v4 := netip.MustParseAddrPort("10.0.0.1:1")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:1")
	for _, c := range []struct {
		name string
		h    Header
	}{
		{"command 2", Header{Command: 2}},
		{"family 5", Header{Family: 5, Transport: Stream}},
		{"UNSPEC with a transport", Header{Transport: Stream}},
		{"INET without a transport", Header{Family: INET, Source: v4, Destination: v4}},
		{"INET with IPv6", Header{Family: INET, Transport: Stream, Source: v6, Destination: v4}},
		{"INET without addresses", Header{Family: INET, Transport: Stream}},
		{"INET6 with IPv4", Header{Family: INET6, Transport: Stream, Source: v6, Destination: v4}},
		{"UNSPEC with addresses", Header{Source: v4, Destination: v4}},
		{"UNIX path too long", Header{Family: UNIX, Transport: Stream, SourcePath: strings.Repeat("a", 109)}},
		{"INET with a path", Header{Family: INET, Transport: Stream, Source: v4, Destination: v4, SourcePath: "/x"}},
		{"CRC32C of 2 bytes", Header{TLVs: []TLV{{TypeCRC32C, []byte{1, 2}}}}},
		{"TLV value too long", Header{TLVs: []TLV{{0xE0, make([]byte, 0x10000)}}}},
		{"header too long", Header{TLVs: []TLV{{0xE0, make([]byte, 0xFFFF)}, {0xE1, nil}}}},
	} {
		if _, err := c.h.MarshalBinary(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", c.name, err)
		}
	}
	// The longest header there can be.
	h := Header{TLVs: []TLV{{0xE0, make([]byte, 0xFFFF-3)}}}
	b, err := h.MarshalBinary()
	if err != nil || len(b) != MaxLen {
		t.Fatalf("maximal header: %d bytes, %v", len(b), err)
	}
	if g, n, err := Parse(b); err != nil || n != MaxLen || len(g.TLVs[0].Value) != 0xFFFF-3 {
		t.Errorf("parsing the maximal header: %d, %v", n, err)
	}
}

// TestReadStopsAtHeader: Read consumes the header and not one byte more,
// whatever sizes the reader returns.
func TestReadStopsAtHeader(t *testing.T) {
	for _, c := range goldenHeaders {
		b, _ := c.h.MarshalBinary()
		r := bytes.NewReader(append(b, "payload"...))
		h, err := Read(iotest.OneByteReader(r))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(h, normalize(c.h, b)) {
			t.Errorf("%s: read %s", c.name, h.String())
		}
		rest, _ := io.ReadAll(r)
		if string(rest) != "payload" {
			t.Errorf("%s: left %q after the header", c.name, rest)
		}
	}
}

// TestHeaderFor: IPv4-mapped addresses of dual-stack sockets count as IPv4;
// zones are dropped.
func TestNewHeaderFamilies(t *testing.T) {
	for _, c := range []struct{ src, dst, want string }{
		{"[::ffff:10.0.0.1]:1", "[::ffff:10.0.0.2]:2", "PROXY TCP4 10.0.0.1:1 -> 10.0.0.2:2"},
		{"10.0.0.1:1", "[2001:db8::2]:2", "PROXY TCP6 [::ffff:10.0.0.1]:1 -> [2001:db8::2]:2"},
		{"[fe80::1%eth0]:1", "[fe80::2%eth0]:2", "PROXY TCP6 [fe80::1]:1 -> [fe80::2]:2"},
	} {
		h := NewHeader(netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst))
		if h.String() != c.want {
			t.Errorf("NewHeader(%s, %s) = %s, want %s", c.src, c.dst, h.String(), c.want)
		}
		if _, err := h.MarshalBinary(); err != nil {
			t.Errorf("%s: %v", h.String(), err)
		}
	}
}

// randomHeader returns a valid header with random contents.
func randomHeader(r *rand.Rand) Header {
	h := Header{Command: Command(r.IntN(2))}
	addr := func(n int) netip.Addr {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		if n == 4 {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16(b)
	}
	port := func() uint16 { return uint16(r.IntN(65536)) }
	str := func(n int) string {
		b := make([]byte, r.IntN(n+1))
		for i := range b {
			b[i] = byte(1 + r.IntN(255))
		}
		return string(b)
	}
	h.Family = Family(r.IntN(4))
	if h.Family != Unspec {
		h.Transport = Transport(1 + r.IntN(2))
	}
	switch h.Family {
	case INET:
		h.Source, h.Destination = netip.AddrPortFrom(addr(4), port()), netip.AddrPortFrom(addr(4), port())
	case INET6:
		h.Source, h.Destination = netip.AddrPortFrom(addr(16), port()), netip.AddrPortFrom(addr(16), port())
	case UNIX:
		h.SourcePath, h.DestinationPath = str(UnixPathLen), str(UnixPathLen)
	}
	if r.IntN(2) == 0 {
		h.VPCEndpointID = "vpce-" + str(30)
	}
	for range r.IntN(5) {
		t := byte(r.IntN(256))
		if t == TypeCRC32C || t == TypeAWS {
			continue
		}
		h.TLVs = append(h.TLVs, TLV{Type: t, Value: []byte(str(300))})
	}
	return h
}

// TestRoundTrip: every valid header parses back to itself, from a buffer
// and from a reader, after encoding into a buffer that already holds bytes.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		h := randomHeader(r)
		prefix := []byte("xyz")
		b, err := h.AppendBinary(prefix)
		if err != nil {
			t.Fatalf("#%d %s: %v", i, h.String(), err)
		}
		if string(b[:3]) != "xyz" || len(b)-3 != h.Len() {
			t.Fatalf("#%d: AppendBinary broke the prefix or Len", i)
		}
		b = b[3:]
		got, n, err := Parse(append(b, 0xFF))
		if err != nil || n != len(b) {
			t.Fatalf("#%d %s: Parse = %d, %v", i, h.String(), n, err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("#%d: round trip\n got  %s\n want %s", i, got.String(), h.String())
		}
		var u Header
		if err := u.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(u, h) {
			t.Fatalf("#%d: UnmarshalBinary: %v", i, err)
		}
		// Every proper prefix is ErrShort.
		if cut := r.IntN(len(b)); true {
			if _, _, err := Parse(b[:cut]); err != ErrShort {
				t.Fatalf("#%d: Parse of %d of %d bytes: %v", i, cut, len(b), err)
			}
		}
	}
}

func TestChecksum(t *testing.T) {
	h := goldenHeaders[len(goldenHeaders)-1].h
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// A checksum computed independently: CRC32C over the header with the
	// checksum field zeroed.
	z := bytes.Clone(b)
	copy(z[len(z)-4:], []byte{0, 0, 0, 0})
	tab := crcTable()
	crc := ^uint32(0)
	for _, x := range z {
		crc = tab[byte(crc)^x] ^ crc>>8
	}
	if got := binary.BigEndian.Uint32(b[len(b)-4:]); got != ^crc {
		t.Errorf("checksum %#08x, want %#08x", got, ^crc)
	}
}

func crcTable() (t [256]uint32) {
	for i := range t {
		c := uint32(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x82F63B78
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}
