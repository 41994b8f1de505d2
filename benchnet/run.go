//go:build linux

package benchnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/netns"
)

// The ports the servers listen on in every server namespace (and the
// load balancer's listeners).
const (
	IperfPort uint16 = 5201 // iperf3 -s
	GoPort    uint16 = 7001 // Server
	PPv2Port  uint16 = 7002 // Server stripping PROXY v2 headers
)

// The paths, in the order of the table.
const (
	PathDirect   = "direct"
	PathHAProxy  = "haproxy"
	PathVPC      = "vpc"
	PathEndpoint = "endpoint"
	PathPPv2     = "ppv2"
)

// AllPaths are every path, in the order of the table.
var AllPaths = []string{PathDirect, PathHAProxy, PathVPC, PathEndpoint, PathPPv2}

var pathDesc = map[string]string{
	PathDirect:   "client ns → router ns → server ns: veths, one routed hop, no NAT (the baseline)",
	PathHAProxy:  "the same namespaces, HAProxy in TCP mode (a thread per CPU, `option splice-auto`) in the router ns: client → HAProxy → server",
	PathVPC:      "Isthmus VPC data plane only: client ENI → VPC router → target ENI in one subnet",
	PathEndpoint: "PrivateLink through Isthmus: consumer client ENI → interface endpoint → NLB → target ENI (overlapping VPC CIDRs)",
	PathPPv2:     "the endpoint path with proxy_protocol_v2.enabled on the target group; the server strips the header",
}

// Figure is one measured quantity.
type Figure int

// The figures, in the order of the table's columns.
const (
	Iperf1     Figure = iota // iperf3, one stream: bits/s received
	Iperf4                   // iperf3, four streams
	Bulk1                    // Go bulk tool, one stream: bits/s received
	Bulk4                    // Go bulk tool, four streams
	LatencyP50               // request/response round trip, median of a run: seconds
	LatencyP99               // 99th percentile of a run
	ConnRate                 // new connections (connect, one exchange, close) per second
	numFigures
)

var figureNames = [numFigures]string{"iperf3 1 stream", "iperf3 4 streams", "Go bulk 1 stream", "Go bulk 4 streams", "RR p50", "RR p99", "new conn/s"}

func (f Figure) String() string { return figureNames[f] }

// lowerIsBetter is true of latencies.
func (f Figure) lowerIsBetter() bool { return f == LatencyP50 || f == LatencyP99 }

// Config says what Run measures.
type Config struct {
	// Quick is a smoke run: one round, one-second runs, fewer iterations.
	Quick bool
	// Rounds: every figure of every path is measured once per round, the
	// paths alternating (default 5; 1 when Quick).
	Rounds int
	// Duration of each throughput and connection-rate run (default 3s; 1s
	// when Quick). iperf3 runs whole seconds and, unless Quick, omits one
	// more second of slow start.
	Duration time.Duration
	// RRCount request/response exchanges per latency run (default 20000;
	// 2000 when Quick), of RRSize bytes (64).
	RRCount, RRSize int
	// Workers run the connection-rate test in parallel (default 8).
	Workers int
	// Paths to measure (default AllPaths).
	Paths []string
	// Tools are the external programs (default FindTools()).
	Tools *Tools
	// Prefix starts every namespace the run makes (default "ib" and 6
	// random hex digits); Isthmus's data plane gets Prefix+"i".
	Prefix string
	// IsthmusWait bounds how long the Isthmus paths may take to carry a
	// first connection before they count as not available (default 20s;
	// 10s when Quick).
	IsthmusWait time.Duration
	// Progress receives a line per step and measurement (default discard).
	Progress io.Writer
	// Logger receives Isthmus's own logs (default discard).
	Logger *slog.Logger
	// Command is the command line to print with the results.
	Command string
}

func (c *Config) defaults() error {
	if c.Rounds <= 0 {
		c.Rounds = 5
		if c.Quick {
			c.Rounds = 1
		}
	}
	if c.Duration <= 0 {
		c.Duration = 3 * time.Second
		if c.Quick {
			c.Duration = time.Second
		}
	}
	if c.RRCount <= 0 {
		c.RRCount = 20000
		if c.Quick {
			c.RRCount = 2000
		}
	}
	if c.RRSize <= 0 {
		c.RRSize = 64
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if len(c.Paths) == 0 {
		c.Paths = AllPaths
	}
	for _, p := range c.Paths {
		if !slices.Contains(AllPaths, p) {
			return fmt.Errorf("unknown path %q (paths: %s)", p, strings.Join(AllPaths, ", "))
		}
	}
	if c.IsthmusWait <= 0 {
		c.IsthmusWait = 20 * time.Second
		if c.Quick {
			c.IsthmusWait = 10 * time.Second
		}
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Prefix == "" {
		b := make([]byte, 3)
		rand.Read(b)
		c.Prefix = "ib" + hex.EncodeToString(b)
	}
	if c.Tools == nil {
		t, err := FindTools()
		if err != nil {
			return err
		}
		c.Tools = t
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	Date     time.Time
	Command  string
	Machine  Machine
	Rounds   int
	Duration time.Duration
	RRCount  int
	RRSize   int
	Workers  int
	Prefix   string
	Paths    []*PathResult
	// Setup are the Isthmus API calls that built the vpc, endpoint and
	// ppv2 paths, as aws CLI commands.
	Setup []string
	// Accept are the times from AcceptVpcEndpointConnections to the first
	// connection through the endpoint (Isthmus.AcceptLatency), one per
	// round, when the endpoint path ran; AcceptError says why they are
	// missing.
	Accept      []time.Duration
	AcceptError string
}

// PathResult is one path's runs.
type PathResult struct {
	Name, Desc string
	// Unavailable says why the path carried no traffic ("" if it did).
	Unavailable string
	// Runs are the figure's value of each run; Round, the round of each
	// (nil: the i-th value is of round i).
	Runs  map[Figure][]float64
	Round map[Figure][]int
	// Failed counts runs that failed; Errors keeps the first error of each
	// figure.
	Failed map[Figure]int
	Errors map[Figure]string
	// Notes say what the server saw (source address, PROXY header).
	Notes []string

	clientNS string
	addr     netip.Addr
	goPort   uint16
	iperf    bool
	ppv2     *Server
}

// Path returns the result of the named path, or nil.
func (r *Result) Path(name string) *PathResult {
	for _, p := range r.Paths {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Median is the median of a figure's runs (NaN for none).
func (p *PathResult) Median(f Figure) float64 {
	if p == nil || p.Unavailable != "" {
		return nanValue()
	}
	return Median(p.Runs[f])
}

// RoundRatios returns, for each round in which both p and base measured
// f, p's value over base's: the paths of a round run one after the other,
// so these show how much of a difference between medians is the
// machine's noise.
func RoundRatios(p, base *PathResult, f Figure) []float64 {
	if p == nil || base == nil {
		return nil
	}
	round := func(q *PathResult, i int) int {
		if r := q.Round[f]; i < len(r) {
			return r[i]
		}
		return i
	}
	of := map[int]float64{}
	for i, v := range base.Runs[f] {
		of[round(base, i)] = v
	}
	var out []float64
	for i, v := range p.Runs[f] {
		if bv, ok := of[round(p, i)]; ok && bv > 0 {
			out = append(out, v/bv)
		}
	}
	return out
}

// supports reports whether the figure can be measured on the path.
func (p *PathResult) supports(f Figure) bool {
	switch f {
	case Iperf1, Iperf4:
		return p.iperf
	}
	return true
}

// Machine describes where a run happened.
type Machine struct {
	CPUs    int
	CPU     string
	Kernel  string
	Go      string
	Iperf3  string
	HAProxy string
}

type bench struct {
	cfg     Config
	res     *Result
	routed  *Routed
	isthmus *Isthmus
	procs   []*Proc
	servers []*Server
	dir     string
}

// Run builds the paths, measures them and removes everything it made,
// also when ctx ends early (then it returns ctx's error). A path that
// carries no traffic is reported as not available rather than failing the
// run.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg}
	b.res = &Result{
		Date: time.Now().UTC(), Command: cfg.Command, Machine: machine(cfg.Tools),
		Rounds: cfg.Rounds, Duration: cfg.Duration, RRCount: cfg.RRCount, RRSize: cfg.RRSize, Workers: cfg.Workers,
		Prefix: cfg.Prefix,
	}
	defer func() {
		if cerr := b.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up: %w", cerr))
		}
	}()
	if b.dir, err = os.MkdirTemp("", "isthmus-bench-"); err != nil {
		return nil, err
	}
	for _, name := range AllPaths {
		if slices.Contains(cfg.Paths, name) {
			b.res.Paths = append(b.res.Paths, &PathResult{
				Name: name, Desc: pathDesc[name],
				Runs: map[Figure][]float64{}, Round: map[Figure][]int{}, Failed: map[Figure]int{}, Errors: map[Figure]string{},
			})
		}
	}
	if err := b.setupRouted(); err != nil {
		return nil, err
	}
	b.setupIsthmus(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.probeAll(ctx)
	if err := b.measure(ctx); err != nil {
		return nil, err
	}
	if err := b.measureAccept(ctx); err != nil {
		return nil, err
	}
	b.notes()
	return b.res, nil
}

// measureAccept times acceptance (Isthmus.AcceptLatency), once per round,
// when the endpoint path carried traffic; only ctx's end is an error.
func (b *bench) measureAccept(ctx context.Context) error {
	p := b.res.Path(PathEndpoint)
	if p == nil || p.Unavailable != "" || b.isthmus == nil {
		return nil
	}
	lat, err := b.isthmus.AcceptLatency(ctx, b.cfg.Rounds)
	for i, d := range lat {
		b.logf("accept %d/%d  traffic %v after AcceptVpcEndpointConnections", i+1, b.cfg.Rounds, d.Round(time.Millisecond))
	}
	b.res.Accept = lat
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.res.AcceptError = err.Error()
		b.logf("acceptance: %v", err)
	}
	return nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.cfg.Progress, format+"\n", args...)
}

// setupRouted builds the direct and haproxy paths.
func (b *bench) setupRouted() error {
	direct, haproxy := b.res.Path(PathDirect), b.res.Path(PathHAProxy)
	if direct == nil && haproxy == nil {
		return nil
	}
	r, err := NewRouted(b.cfg.Prefix)
	if err != nil {
		return err
	}
	b.routed = r
	b.logf("namespaces %s, %s, %s", r.Client, r.Router, r.Server)
	if _, err := b.serve(r.Server, false); err != nil {
		return err
	}
	if direct != nil {
		direct.clientNS, direct.addr, direct.goPort, direct.iperf = r.Client, r.ServerIP, GoPort, true
	}
	if haproxy != nil {
		cfg := HAProxyConfig(r.RouterIP, r.ServerIP, []uint16{IperfPort, GoPort})
		p, err := StartHAProxy(b.cfg.Tools, r.Router, b.dir, cfg, []uint16{IperfPort, GoPort})
		if err != nil {
			return err
		}
		b.procs = append(b.procs, p)
		haproxy.clientNS, haproxy.addr, haproxy.goPort, haproxy.iperf = r.Client, r.RouterIP, GoPort, true
	}
	return nil
}

// serve starts the servers of a server namespace: iperf3 -s and the Go
// server and, with ppv2, the Go server that strips PROXY v2 headers on
// PPv2Port, which it returns.
func (b *bench) serve(ns string, ppv2 bool) (*Server, error) {
	p, err := StartIperf3Server(b.cfg.Tools, ns, IperfPort)
	if err != nil {
		return nil, err
	}
	b.procs = append(b.procs, p)
	ports := []uint16{GoPort}
	if ppv2 {
		ports = append(ports, PPv2Port)
	}
	var s *Server
	for _, port := range ports {
		ln, err := ListenIn(ns, netip.AddrPortFrom(netip.IPv4Unspecified(), port))
		if err != nil {
			return nil, err
		}
		s = Serve(ln, port == PPv2Port)
		b.servers = append(b.servers, s)
	}
	if !ppv2 {
		s = nil
	}
	return s, nil
}

// setupIsthmus starts Isthmus and builds the vpc, endpoint and ppv2 paths;
// if that fails, they are not available (the others still run).
func (b *bench) setupIsthmus(ctx context.Context) {
	var ps []*PathResult
	for _, name := range []string{PathVPC, PathEndpoint, PathPPv2} {
		if p := b.res.Path(name); p != nil {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return
	}
	b.logf("starting Isthmus (data plane prefix %s) and building the PrivateLink topology", b.cfg.Prefix+"i")
	x, err := StartIsthmus(ctx, b.cfg.Prefix+"i", b.cfg.Logger)
	var ppv2 *Server
	if err == nil {
		b.isthmus = x
		b.res.Setup = x.Steps
		ppv2, err = b.serve(x.TargetNS, true)
	}
	if err != nil {
		for _, p := range ps {
			p.Unavailable = "setting up Isthmus failed: " + err.Error()
		}
		b.logf("Isthmus: %v", err)
		return
	}
	for _, p := range ps {
		switch p.Name {
		case PathVPC:
			p.clientNS, p.addr, p.goPort, p.iperf = x.VPCClientNS, x.TargetIP, GoPort, true
		case PathEndpoint:
			p.clientNS, p.addr, p.goPort, p.iperf = x.ConsumerClientNS, x.EndpointIP, GoPort, true
		case PathPPv2:
			p.clientNS, p.addr, p.goPort = x.ConsumerClientNS, x.EndpointIP, PPv2Port
			p.ppv2 = ppv2
		}
	}
}

// probeAll finds out which paths carry a connection: each gets one echo
// exchange through its Go server port, retried for a while (the Isthmus
// paths wait for the data plane and the first health checks).
func (b *bench) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range b.res.Paths {
		if p.Unavailable != "" {
			continue
		}
		wait := 3 * time.Second
		var health func() string
		if p.Name == PathVPC || p.Name == PathEndpoint || p.Name == PathPPv2 {
			wait = b.cfg.IsthmusWait
			port, endpoint := p.goPort, p.Name != PathVPC
			health = func() string { return b.isthmus.State(ctx, port, endpoint) }
		}
		wg.Go(func() {
			p.Unavailable = probe(ctx, p, wait, health)
			if p.Unavailable != "" {
				b.logf("%-8s not available: %s", p.Name, p.Unavailable)
			} else {
				b.logf("%-8s carries traffic to %s", p.Name, netip.AddrPortFrom(p.addr, p.goPort))
			}
		})
	}
	wg.Wait()
}

// probe returns "" once an echo exchange over p works, or why not after
// wait.
func probe(ctx context.Context, p *PathResult, wait time.Duration, health func() string) string {
	deadline := time.Now().Add(wait)
	addr := netip.AddrPortFrom(p.addr, p.goPort)
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := RequestResponse(pctx, p.clientNS, addr, 64, 0, 1)
		cancel()
		if err == nil {
			if p.ppv2 != nil {
				if n, _, _ := p.ppv2.PPv2(); n == 0 {
					return "the server saw no PROXY v2 header"
				}
			}
			return ""
		}
		if ctx.Err() != nil {
			return ctx.Err().Error()
		}
		if time.Now().After(deadline) {
			why := describe(err)
			if health != nil {
				why += fmt.Sprintf(" within %s; %s", wait, health())
			}
			return why
		}
		if sleepCtx(ctx, 250*time.Millisecond) != nil {
			return ctx.Err().Error()
		}
	}
}

// describe turns a connection failure into a short reason.
func describe(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "connection to " + addrOf(err) + " timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection to " + addrOf(err) + " refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route: " + err.Error()
	}
	return err.Error()
}

func addrOf(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil {
		return oe.Addr.String()
	}
	return "the service"
}

type measureKind int

const (
	kindIperf1 measureKind = iota
	kindIperf4
	kindBulk1
	kindBulk4
	kindRR
	kindConn
)

var kindFigure = map[measureKind]Figure{kindIperf1: Iperf1, kindIperf4: Iperf4, kindBulk1: Bulk1, kindBulk4: Bulk4, kindRR: LatencyP50, kindConn: ConnRate}

// measure runs the rounds: in each, every kind of measurement on every
// available path, the order of the paths rotating from round to round.
func (b *bench) measure(ctx context.Context) error {
	var paths []*PathResult
	for _, p := range b.res.Paths {
		if p.Unavailable == "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	for round := range b.cfg.Rounds {
		for kind := kindIperf1; kind <= kindConn; kind++ {
			var ps []*PathResult
			for _, p := range paths {
				if p.supports(kindFigure[kind]) {
					ps = append(ps, p)
				}
			}
			if len(ps) == 0 {
				continue
			}
			k := round % len(ps)
			ps = slices.Concat(ps[k:], ps[:k])
			for _, p := range ps {
				if err := b.measureOne(ctx, round, kind, p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// measureOne runs one measurement and records it; only ctx's end is an
// error (a failed run is recorded on the path).
func (b *bench) measureOne(ctx context.Context, round int, kind measureKind, p *PathResult) error {
	secs := max(1, int(b.cfg.Duration.Round(time.Second)/time.Second))
	omit := 1
	if b.cfg.Quick {
		omit = 0
	}
	goAddr := netip.AddrPortFrom(p.addr, p.goPort)
	record := func(f Figure, v float64) {
		p.Runs[f] = append(p.Runs[f], v)
		p.Round[f] = append(p.Round[f], round)
	}
	var (
		err  error
		text string
	)
	switch kind {
	case kindIperf1, kindIperf4:
		streams := 1
		if kind == kindIperf4 {
			streams = 4
		}
		var r Iperf3Result
		r, err = Iperf3(ctx, b.cfg.Tools, p.clientNS, netip.AddrPortFrom(p.addr, IperfPort), streams, secs, omit)
		if err == nil {
			record(kindFigure[kind], r.ReceivedBps)
			text = fmtBps(r.ReceivedBps) + fmt.Sprintf(" (%d retransmits)", r.Retransmits)
		}
	case kindBulk1, kindBulk4:
		streams := 1
		if kind == kindBulk4 {
			streams = 4
		}
		var bps float64
		bps, err = Bulk(ctx, p.clientNS, goAddr, streams, b.cfg.Duration)
		if err == nil {
			record(kindFigure[kind], bps)
			text = fmtBps(bps)
		}
	case kindRR:
		var lat []time.Duration
		lat, err = RequestResponse(ctx, p.clientNS, goAddr, b.cfg.RRSize, 200, b.cfg.RRCount)
		if err == nil {
			p50, p99 := Percentile(lat, 50), Percentile(lat, 99)
			record(LatencyP50, p50.Seconds())
			record(LatencyP99, p99.Seconds())
			text = fmt.Sprintf("p50 %s p99 %s", fmtLatency(p50.Seconds()), fmtLatency(p99.Seconds()))
		}
	case kindConn:
		var (
			rate   float64
			failed int
		)
		rate, failed, err = ConnectRate(ctx, p.clientNS, goAddr, b.cfg.Workers, b.cfg.RRSize, b.cfg.Duration)
		if failed > 0 {
			p.Failed[ConnRate] += failed
			if p.Errors[ConnRate] == "" && err != nil {
				p.Errors[ConnRate] = fmt.Sprintf("%d connections failed, first: %v", failed, err)
			}
		}
		if rate > 0 && ctx.Err() == nil {
			record(ConnRate, rate)
			text = fmt.Sprintf("%s/s (%d failed)", fmtCount(rate), failed)
			err = nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	f := kindFigure[kind]
	if err != nil {
		if kind != kindConn || p.Failed[f] == 0 {
			p.Failed[f]++ // (new conn/s counts failed connections, already added)
		}
		if p.Errors[f] == "" {
			p.Errors[f] = err.Error()
		}
		text = "failed: " + err.Error()
	}
	b.logf("round %d/%d  %-17s %-8s %s", round+1, b.cfg.Rounds, figureLabel(kind), p.Name, text)
	return sleepCtx(ctx, 100*time.Millisecond)
}

func figureLabel(k measureKind) string {
	if k == kindRR {
		return "request/response"
	}
	return kindFigure[k].String()
}

// notes records what the servers of the Isthmus paths saw.
func (b *bench) notes() {
	if b.isthmus == nil {
		return
	}
	for _, p := range b.res.Paths {
		if p.Unavailable != "" {
			continue
		}
		switch {
		case p.ppv2 != nil:
			n, missing, last := p.ppv2.PPv2()
			p.Notes = append(p.Notes, fmt.Sprintf("The target stripped %d PROXY v2 headers (%d connections without one); the last: %s", n, missing, last))
		case p.Name == PathEndpoint:
			p.Notes = append(p.Notes, fmt.Sprintf("Endpoint %s at %s, service %s", b.isthmus.EndpointID, b.isthmus.EndpointIP, b.isthmus.ServiceName))
		}
	}
}

// close stops every process and server and removes every namespace the
// run made.
func (b *bench) close() error {
	var errs []error
	for _, p := range b.procs {
		p.Stop()
	}
	for _, s := range b.servers {
		s.Close()
	}
	if b.isthmus != nil {
		if err := b.isthmus.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if b.routed != nil {
		if err := b.routed.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
	if left, _ := netns.List(b.cfg.Prefix); len(left) > 0 {
		errs = append(errs, fmt.Errorf("namespaces left behind: %s", strings.Join(left, " ")))
	}
	return errors.Join(errs...)
}

// machine describes this machine and the programs' versions.
func machine(t *Tools) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if t != nil {
		m.Iperf3 = firstLine(t.Iperf3, "--version")
		m.HAProxy = firstLine(t.HAProxy, "-v")
	}
	return m
}

func firstLine(prog string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := execOutput(ctx, prog, args...)
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	// "iperf 3.12 (cJSON 1.7.15)", "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/"
	line, _, _ = strings.Cut(line, " (")
	line, _, _ = strings.Cut(line, " - ")
	return strings.TrimSpace(line)
}
