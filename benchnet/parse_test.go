//go:build linux

package benchnet

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	us := func(xs ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range xs {
			ds = append(ds, time.Duration(x)*time.Microsecond)
		}
		return ds
	}
	var hundred []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		hundred = append(hundred, time.Duration(i)*time.Microsecond)
	}
	orig := slices.Clone(hundred)
	for _, c := range []struct {
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{hundred, 50, 50 * time.Microsecond},
		{hundred, 99, 99 * time.Microsecond},
		{hundred, 99.5, 100 * time.Microsecond},
		{hundred, 100, 100 * time.Microsecond},
		{hundred, 1, 1 * time.Microsecond},
		{hundred, 0.1, 1 * time.Microsecond},
		{us(7), 50, 7 * time.Microsecond},
		{us(7), 99, 7 * time.Microsecond},
		{us(30, 10, 20), 50, 20 * time.Microsecond},
		{us(10, 20, 30, 40), 50, 20 * time.Microsecond}, // nearest rank: ceil(0.5*4) = 2nd
		{us(10, 20, 30, 40), 51, 30 * time.Microsecond},
		{us(1, 2, 3, 4, 5, 6, 7, 8, 9, 1000), 99, 1000 * time.Microsecond},
		{us(1, 2, 3, 4, 5, 6, 7, 8, 9, 1000), 90, 9 * time.Microsecond},
		{nil, 50, 0},
	} {
		if got := Percentile(c.ds, c.p); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.ds, c.p, got, c.want)
		}
	}
	if !slices.Equal(hundred, orig) {
		t.Error("Percentile modified its input")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{9.5, 9.1, 100, 9.3, 0.1}, 9.3},
	} {
		in := slices.Clone(c.xs)
		if got := Median(c.xs); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.xs, got, c.want)
		}
		if !slices.Equal(in, c.xs) {
			t.Errorf("Median modified its input %v", in)
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}

func TestParseIperf3(t *testing.T) {
	for _, c := range []struct {
		file    string
		want    Iperf3Result
		wantErr string
	}{
		{file: "iperf3-1stream.json", want: Iperf3Result{Streams: 1, SentBps: 35479605579.10346, ReceivedBps: 35464640832.53458, Retransmits: 25}},
		{file: "iperf3-4streams.json", want: Iperf3Result{Streams: 4, SentBps: 31968109865.674667, ReceivedBps: 31966672912.991623, Retransmits: 0}},
		{file: "iperf3-busy.json", wantErr: "iperf3: the server is busy running a test. try again later"},
		{file: "iperf3-refused.json", wantErr: "iperf3: unable to connect to server: Connection refused"},
	} {
		b, err := os.ReadFile("testdata/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseIperf3(b)
		if c.wantErr != "" {
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("%s: error %v, want %q", c.file, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", c.file, got, c.want)
		}
	}
	for _, bad := range []string{"", "not json", `{"start":{},"end":{}}`, `{"end":{"sum_sent":{"bits_per_second":1}}}`} {
		if _, err := ParseIperf3([]byte(bad)); err == nil {
			t.Errorf("ParseIperf3(%q) succeeded", bad)
		}
	}
}

func TestIperf3Args(t *testing.T) {
	addr := netip.MustParseAddrPort("10.0.1.4:5201")
	got := strings.Join(Iperf3Args(addr, 4, 3, 1), " ")
	want := "-c 10.0.1.4 -p 5201 -t 3 -P 4 -l 1M -J --connect-timeout 3000 -O 1"
	if got != want {
		t.Errorf("Iperf3Args = %q, want %q", got, want)
	}
	if got := strings.Join(Iperf3Args(addr, 1, 1, 0), " "); strings.Contains(got, "-O") {
		t.Errorf("no omitted seconds, but %q", got)
	}
}

func TestReadPPv2(t *testing.T) {
	// A header written out by hand from the specification: PROXY, TCP over
	// IPv4, 10.0.1.20:40000 → 10.0.1.5:7002, AWS's TLV with the endpoint id,
	// then the payload.
	vpce := "vpce-0123456789abcdef0"
	tlv := append([]byte{0xEA, 0x00, byte(1 + len(vpce)), 0x01}, vpce...)
	var raw []byte
	raw = append(raw, "\r\n\r\n\x00\r\nQUIT\n"...)
	raw = append(raw, 0x21, 0x11, 0x00, byte(12+len(tlv)))
	raw = append(raw, 10, 0, 1, 20, 10, 0, 1, 5, 0x9c, 0x40, 0x1b, 0x5a)
	raw = append(raw, tlv...)
	src, dst := netip.MustParseAddrPort("10.0.1.20:40000"), netip.MustParseAddrPort("10.0.1.5:7002")
	if enc := appendPPv2(nil, src, dst, vpce); !bytes.Equal(enc, raw) {
		t.Fatalf("appendPPv2 = %x, want %x", enc, raw)
	}
	r := bytes.NewReader(append(slices.Clone(raw), "Epayload"...))
	h, err := ReadPPv2(r)
	if err != nil {
		t.Fatal(err)
	}
	want := PPv2Info{Src: src, Dst: dst, VPCEndpointID: vpce}
	if h != want {
		t.Errorf("ReadPPv2 = %+v, want %+v", h, want)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "Epayload" {
		t.Errorf("after the header the stream holds %q, want the payload untouched", rest)
	}
	if got := h.String(); got != "PROXY 10.0.1.20:40000 → 10.0.1.5:7002 vpce-0123456789abcdef0" {
		t.Errorf("String() = %q", got)
	}

	// Unknown TLVs are skipped; no AWS TLV, no endpoint id.
	other := append(slices.Clone(raw[:16]), raw[16:28]...)
	other = append(other, 0x04, 0x00, 0x02, 'x', 'y') // PP2_TYPE_NOOP
	other[15] = byte(len(other) - 16)
	if h, err := ReadPPv2(bytes.NewReader(other)); err != nil || h.VPCEndpointID != "" || h.Src != src {
		t.Errorf("header with a NOOP TLV: %+v, %v", h, err)
	}

	// A health check's LOCAL header: 16 bytes, no addresses.
	local := append(slices.Clone(raw[:12]), 0x20, 0x00, 0x00, 0x00)
	if h, err := ReadPPv2(bytes.NewReader(local)); err != nil || !h.Local {
		t.Errorf("LOCAL header: %+v, %v", h, err)
	}

	if _, err := ReadPPv2(strings.NewReader("E" + strings.Repeat("a", 64))); !errors.Is(err, ErrNoPPv2) {
		t.Errorf("no header: %v, want ErrNoPPv2", err)
	}
	for name, b := range map[string][]byte{
		"short fixed part":  raw[:10],
		"short body":        raw[:20],
		"version 1 command": append(append(slices.Clone(raw[:12]), 0x11), raw[13:]...),
		"UDP":               append(append(slices.Clone(raw[:13]), 0x12), raw[14:]...),
		"truncated TLV":     append(append(slices.Clone(raw[:15]), byte(12+2)), raw[16:30]...),
	} {
		if _, err := ReadPPv2(bytes.NewReader(b)); err == nil || errors.Is(err, ErrNoPPv2) {
			t.Errorf("%s: error %v, want a malformed-header error", name, err)
		}
	}
}

func TestListensOn(t *testing.T) {
	const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1B59 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40071 1 0000000000000000 100 0 0 10 0
   1: 0201C90A:1451 0101C90A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 40072 1 0000000000000000 20 4 30 10 -1
`
	const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1451 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 394686 1 00000000a7c9f96a 100 0 0 10 0
`
	for _, c := range []struct {
		table string
		port  uint16
		want  bool
	}{
		{tcp, 7001, true},  // 0x1B59, LISTEN
		{tcp, 5201, false}, // 0x1451 only as an established connection
		{tcp6, 5201, true},
		{tcp6, 7001, false},
		{"", 7001, false},
	} {
		if got := listensOn([]byte(c.table), c.port); got != c.want {
			t.Errorf("listensOn(port %d) = %v, want %v", c.port, got, c.want)
		}
	}
}

func TestHAProxyConfig(t *testing.T) {
	got := HAProxyConfig(netip.MustParseAddr("10.201.1.1"), netip.MustParseAddr("10.201.2.2"), []uint16{5201, 7001})
	for _, want := range []string{
		"    mode tcp\n",
		"frontend in5201\n    bind 10.201.1.1:5201\n    default_backend out5201\n",
		"backend out5201\n    server s1 10.201.2.2:5201\n",
		"frontend in7001\n    bind 10.201.1.1:7001\n    default_backend out7001\n",
		"backend out7001\n    server s1 10.201.2.2:7001\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the configuration lacks %q:\n%s", want, got)
		}
	}
}

func TestReplaceMarked(t *testing.T) {
	section := "## Data path\n\n| a | b |\n"
	wrapped := BeginMarker + "\n" + section + EndMarker + "\n"

	// Absent: appended after a blank line, whatever the document ends with.
	for doc, want := range map[string]string{
		"":                       wrapped,
		"# Benchmarks\n":         "# Benchmarks\n\n" + wrapped,
		"# Benchmarks\n\ntext":   "# Benchmarks\n\ntext\n\n" + wrapped,
		"# Benchmarks\n\ntext\n": "# Benchmarks\n\ntext\n\n" + wrapped,
	} {
		got, err := ReplaceMarked(doc, section)
		if err != nil || got != want {
			t.Errorf("ReplaceMarked(%q) = %q, %v; want %q", doc, got, err, want)
		}
	}

	// Present: only what is between the markers changes.
	doc := "# Benchmarks\n\nbefore\n\n" + BeginMarker + "\nold table\nold targets\n" + EndMarker + "\n\nafter\n"
	want := "# Benchmarks\n\nbefore\n\n" + wrapped + "\nafter\n"
	got, err := ReplaceMarked(doc, section)
	if err != nil || got != want {
		t.Fatalf("ReplaceMarked = %q, %v; want %q", got, err, want)
	}
	// Replacing again is stable, and a section without a final newline gets one.
	if again, err := ReplaceMarked(got, strings.TrimSuffix(section, "\n")); err != nil || again != want {
		t.Errorf("second replacement = %q, %v", again, err)
	}

	for name, bad := range map[string]string{
		"begin only":   "x\n" + BeginMarker + "\nold\n",
		"end only":     "x\n" + EndMarker + "\n",
		"out of order": EndMarker + "\n" + BeginMarker + "\n",
		"two sections": wrapped + wrapped,
	} {
		if _, err := ReplaceMarked(bad, section); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestWriteMarked(t *testing.T) {
	path := t.TempDir() + "/benchmarks.md"
	if err := os.WriteFile(path, []byte("# Benchmarks\n\nstore figures\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"first\n", "second\n"} {
		if err := WriteMarked(path, s); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	want := "# Benchmarks\n\nstore figures\n\n" + BeginMarker + "\nsecond\n" + EndMarker + "\n"
	if string(b) != want {
		t.Errorf("file:\n%s\nwant:\n%s", b, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the file's own 0640", st.Mode().Perm())
	}
	// A new file is created.
	fresh := t.TempDir() + "/new.md"
	if err := WriteMarked(fresh, "x\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fresh); string(b) != BeginMarker+"\nx\n"+EndMarker+"\n" {
		t.Errorf("new file: %q", b)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		f    Figure
		v    float64
		want string
	}{
		{Iperf1, 9.4123e9, "9.41 Gbit/s"},
		{Bulk4, 812.4e6, "812 Mbit/s"},
		{LatencyP50, 31.25e-6, "31.2 µs"},
		{LatencyP99, 1.5e-3, "1.50 ms"},
		{ConnRate, 12345.6, "12,346/s"},
		{ConnRate, 999, "999/s"},
		{ConnRate, 1000, "1,000/s"},
		{ConnRate, 1234567, "1,234,567/s"},
	} {
		if got := format(c.f, c.v); got != c.want {
			t.Errorf("format(%v, %v) = %q, want %q", c.f, c.v, got, c.want)
		}
	}
}
