//go:build linux

package benchnet

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of the tests")

// sampleResult is a run with every kind of row: the baseline, measured
// paths (one with a failed run), a path without iperf3 figures and one
// that carried nothing.
func sampleResult() *Result {
	path := func(name string, iperf bool, runs map[Figure][]float64) *PathResult {
		return &PathResult{Name: name, Desc: pathDesc[name], Runs: runs, Failed: map[Figure]int{}, Errors: map[Figure]string{}, iperf: iperf}
	}
	r := &Result{
		Date:    time.Date(2026, 11, 26, 7, 30, 0, 0, time.UTC),
		Command: "go run ./cmd/isthmus-bench -write docs/benchmarks.md",
		Machine: Machine{CPUs: 2, CPU: "AMD EPYC", Kernel: "6.18.44", Go: "go1.26.8", Iperf3: "iperf 3.12", HAProxy: "HAProxy version 2.6.12"},
		Rounds:  3, Duration: 3 * time.Second, RRCount: 20000, RRSize: 64, Workers: 8,
		Paths: []*PathResult{
			path(PathDirect, true, map[Figure][]float64{
				Iperf1: {10e9, 9e9, 11e9}, Iperf4: {12e9, 10e9, 11e9}, Bulk1: {20e9, 20e9, 20e9}, Bulk4: {18e9, 18e9, 18e9},
				LatencyP50: {20e-6, 10e-6, 14e-6}, LatencyP99: {40e-6, 40e-6, 40e-6}, ConnRate: {10000, 10000, 10000},
			}),
			path(PathHAProxy, true, map[Figure][]float64{
				Iperf1: {4e9, 4e9, 4e9}, Iperf4: {8e9, 8e9, 8e9}, Bulk1: {6e9, 6e9, 6e9}, Bulk4: {7e9, 7e9, 7e9},
				LatencyP50: {40e-6, 40e-6, 40e-6}, LatencyP99: {90e-6, 90e-6, 90e-6}, ConnRate: {5000, 5000, 5000},
			}),
			path(PathEndpoint, true, map[Figure][]float64{
				Iperf1: {9.7e9, 9.7e9, 9.7e9}, Iperf4: {11e9, 11e9}, Bulk1: {19e9, 19e9, 19e9}, Bulk4: {17e9, 17e9, 17e9},
				LatencyP50: {18.2e-6, 18.2e-6, 18.2e-6}, LatencyP99: {50e-6, 50e-6, 50e-6}, ConnRate: {9000, 9000, 9000},
			}),
			path(PathPPv2, false, map[Figure][]float64{
				Bulk1: {15e9, 15e9, 15e9}, Bulk4: {15e9, 15e9, 15e9},
				LatencyP50: {30e-6, 30e-6, 30e-6}, LatencyP99: {70e-6, 70e-6, 70e-6}, ConnRate: {4000, 4000, 4000},
			}),
			path(PathVPC, true, nil),
		},
	}
	ep := r.Path(PathEndpoint)
	ep.Round = map[Figure][]int{Iperf4: {0, 2}} // round 1 failed
	ep.Failed[Iperf4] = 1
	ep.Errors[Iperf4] = "iperf3: the server is busy running a test. try again later"
	ep.Notes = []string{"Endpoint vpce-0123456789abcdef0 at 10.0.1.4"}
	r.Path(PathPPv2).Notes = []string{"The target stripped 12 PROXY v2 headers (0 connections without one)"}
	ep.Failed[ConnRate] = 3
	ep.Errors[ConnRate] = "3 connections failed, first: connect: connection reset by peer"
	r.Path(PathVPC).Unavailable = "connection to 10.0.1.10:7001 timed out within 20s; target health: initial"
	return r
}

func TestTargets(t *testing.T) {
	got := map[string]Check{}
	for _, c := range sampleResult().Targets() {
		got[c.Target] = c
	}
	for target, want := range map[string]Check{
		"endpoint throughput ≥ 95% of direct (iperf3, 1 stream)":                          {Measured: "0.97× (9.70 Gbit/s vs 10.00 Gbit/s; by round 0.88–1.08×)", Status: "PASS"},
		"endpoint throughput ≥ 95% of direct (iperf3, 4 streams)":                         {Measured: "1.00× (11.00 Gbit/s vs 11.00 Gbit/s; by round 0.92–1.00×)", Status: "PASS"},
		"endpoint request/response latency p50 ≤ 1.25× direct":                            {Measured: "1.30× (18.2 µs vs 14.0 µs; by round 0.91–1.82×)", Status: "MISS"},
		"endpoint new connections/s ≥ 80% of direct":                                      {Measured: "0.90× (9,000/s vs 10,000/s; by round 0.90–0.90×)", Status: "PASS"},
		"endpoint throughput ≥ 2× HAProxy's (iperf3, 1 stream)":                           {Measured: "2.42× (9.70 Gbit/s vs 4.00 Gbit/s; by round 2.42–2.42×)", Status: "PASS"},
		"endpoint throughput ≥ 2× HAProxy's (iperf3, 4 streams)":                          {Measured: "1.38× (11.00 Gbit/s vs 8.00 Gbit/s; by round 1.38–1.38×)", Status: "MISS"},
		"PPv2 throughput ≥ 80% of direct (Go bulk, 1 stream)":                             {Measured: "0.75× (15.00 Gbit/s vs 20.00 Gbit/s; by round 0.75–0.75×)", Status: "MISS"},
		"PPv2 throughput ≥ 80% of direct (Go bulk, 4 streams)":                            {Measured: "0.83× (15.00 Gbit/s vs 18.00 Gbit/s; by round 0.83–0.83×)", Status: "PASS"},
		"an accepted endpoint carries traffic within 1 s of AcceptVpcEndpointConnections": {Status: "n/a"},
	} {
		c, ok := got[target]
		if !ok {
			t.Errorf("no check of %q", target)
			continue
		}
		if c.Status != want.Status || (want.Measured != "" && c.Measured != want.Measured) {
			t.Errorf("%s: %s %q, want %s %q", target, c.Status, c.Measured, want.Status, want.Measured)
		}
	}
	if len(got) != len(issue5) {
		t.Errorf("%d checks, want %d", len(got), len(issue5))
	}

	// A path that carried nothing, or was not run, is n/a, never a MISS.
	r := sampleResult()
	r.Path(PathEndpoint).Unavailable = "connection refused"
	r.Paths = r.Paths[:3] // no ppv2
	for _, c := range r.Targets() {
		if c.Status != "n/a" {
			t.Errorf("%s: %s (%s), want n/a", c.Target, c.Status, c.Measured)
		}
	}
}

func TestMarkdown(t *testing.T) {
	got := sampleResult().Markdown()
	const golden = "testdata/report.golden.md"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("Markdown() differs from %s (go test -update to accept):\n%s", golden, got)
	}
	// The rows, checked without the golden file as well.
	for _, row := range []string{
		"| `direct` | 10.00 Gbit/s | 11.00 Gbit/s | 20.00 Gbit/s | 18.00 Gbit/s | 14.0 µs | 40.0 µs | 10,000/s |",
		"| `endpoint` | 9.70 Gbit/s (0.97×) | 11.00 Gbit/s (1.00×) † | 19.00 Gbit/s (0.95×) | 17.00 Gbit/s (0.94×) | 18.2 µs (1.30×) | 50.0 µs (1.25×) | 9,000/s (0.90×) † |",
		"| `ppv2` | — | — | 15.00 Gbit/s (0.75×) | 15.00 Gbit/s (0.83×) | 30.0 µs (2.14×) | 70.0 µs (1.75×) | 4,000/s (0.40×) |",
		"| `vpc` | not available | | | | | | |",
		"`endpoint` against `haproxy`: iperf3 1 stream 2.42×, iperf3 4 streams 1.38×, Go bulk 1 stream 3.17×, Go bulk 4 streams 2.43×, new conn/s 1.80×.",
		" iperf3 4 streams: 1 failed run(s), first: iperf3: the server is busy running a test. try again later. new conn/s: 3 connections failed, first: connect: connection reset by peer.",
		"| endpoint request/response latency p50 ≤ 1.25× direct | 1.30× (18.2 µs vs 14.0 µs; by round 0.91–1.82×) | MISS |",
	} {
		if !strings.Contains(got, row+"\n") {
			t.Errorf("the table lacks the line\n%s", row)
		}
	}
}

func TestAcceptTarget(t *testing.T) {
	for _, tc := range []struct {
		accept   []time.Duration
		err      string
		measured string
		status   string
	}{
		{nil, "", "not measured (it needs the endpoint path)", "n/a"},
		{[]time.Duration{20 * time.Millisecond, 12 * time.Millisecond, 15 * time.Millisecond}, "", "median 15ms, slowest 20ms of 3 endpoints", "PASS"},
		{[]time.Duration{20 * time.Millisecond, 1500 * time.Millisecond}, "", "median 1.5s, slowest 1.5s of 2 endpoints", "MISS"},
		{nil, "no traffic 10 s after acceptance", "failed: no traffic 10 s after acceptance", "MISS"},
	} {
		r := &Result{Accept: tc.accept, AcceptError: tc.err}
		c := r.acceptCheck()
		if c.Measured != tc.measured || c.Status != tc.status {
			t.Errorf("%v, %q: %s %q, want %s %q", tc.accept, tc.err, c.Status, c.Measured, tc.status, tc.measured)
		}
	}
}
