//go:build linux

package benchnet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The markers around the benchmark's section of docs/benchmarks.md.
const (
	BeginMarker = "<!-- isthmus-bench:begin -->"
	EndMarker   = "<!-- isthmus-bench:end -->"
)

// Check is one of issue 5's targets, checked against a run.
type Check struct {
	Target   string
	Measured string
	// Status is PASS, MISS or n/a (not measured: a path not available).
	Status string
}

type target struct {
	text       string
	path, base string
	fig        Figure
	ratio      float64 // path/base must be at least this (at most, for latencies)
}

// issue5 are the targets of issue 5 that a run can check.
var issue5 = []target{
	{text: "endpoint throughput ≥ 95% of direct (iperf3, 1 stream)", path: PathEndpoint, base: PathDirect, fig: Iperf1, ratio: 0.95},
	{text: "endpoint throughput ≥ 95% of direct (iperf3, 4 streams)", path: PathEndpoint, base: PathDirect, fig: Iperf4, ratio: 0.95},
	{text: "endpoint request/response latency p50 ≤ 1.25× direct", path: PathEndpoint, base: PathDirect, fig: LatencyP50, ratio: 1.25},
	{text: "endpoint new connections/s ≥ 80% of direct", path: PathEndpoint, base: PathDirect, fig: ConnRate, ratio: 0.80},
	{text: "endpoint throughput ≥ 2× HAProxy's (iperf3, 1 stream)", path: PathEndpoint, base: PathHAProxy, fig: Iperf1, ratio: 2},
	{text: "endpoint throughput ≥ 2× HAProxy's (iperf3, 4 streams)", path: PathEndpoint, base: PathHAProxy, fig: Iperf4, ratio: 2},
	{text: "PPv2 throughput ≥ 80% of direct (Go bulk, 1 stream)", path: PathPPv2, base: PathDirect, fig: Bulk1, ratio: 0.80},
	{text: "PPv2 throughput ≥ 80% of direct (Go bulk, 4 streams)", path: PathPPv2, base: PathDirect, fig: Bulk4, ratio: 0.80},
	{text: acceptTarget},
}

const acceptTarget = "an accepted endpoint carries traffic within 1 s of AcceptVpcEndpointConnections"

// Targets checks issue 5's targets against the run's medians.
func (r *Result) Targets() []Check {
	var out []Check
	for _, t := range issue5 {
		c := Check{Target: t.text, Status: "n/a"}
		p, base := r.Path(t.path), r.Path(t.base)
		switch {
		case t.text == acceptTarget:
			c = r.acceptCheck()
		case p == nil || base == nil:
			c.Measured = "not run (" + missingPath(r, t.path, t.base) + ")"
		case p.Unavailable != "":
			c.Measured = t.path + " not available"
		case base.Unavailable != "":
			c.Measured = t.base + " not available"
		default:
			v, bv := p.Median(t.fig), base.Median(t.fig)
			if math.IsNaN(v) || math.IsNaN(bv) || bv == 0 {
				c.Measured = "no successful run"
				break
			}
			ratio := v / bv
			c.Measured = fmt.Sprintf("%s (%s vs %s", fmtRatio(ratio), format(t.fig, v), format(t.fig, bv))
			if rs := RoundRatios(p, base, t.fig); len(rs) > 1 {
				c.Measured += fmt.Sprintf("; by round %.2f–%s", slices.Min(rs), fmtRatio(slices.Max(rs)))
			}
			c.Measured += ")"
			ok := ratio >= t.ratio
			if t.fig.lowerIsBetter() {
				ok = ratio <= t.ratio
			}
			c.Status = "MISS"
			if ok {
				c.Status = "PASS"
			}
		}
		out = append(out, c)
	}
	return out
}

// acceptCheck checks the acceptance target: every endpoint of the run
// carried traffic within a second of being accepted.
func (r *Result) acceptCheck() Check {
	c := Check{Target: acceptTarget, Status: "n/a"}
	switch {
	case len(r.Accept) == 0 && r.AcceptError != "":
		c.Measured = "failed: " + r.AcceptError
		c.Status = "MISS"
	case len(r.Accept) == 0:
		c.Measured = "not measured (it needs the endpoint path)"
	default:
		ds := slices.Clone(r.Accept)
		slices.Sort(ds)
		c.Measured = fmt.Sprintf("median %v, slowest %v of %d endpoint", ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), len(ds))
		if len(ds) > 1 {
			c.Measured += "s"
		}
		c.Status = "PASS"
		if ds[len(ds)-1] > time.Second || r.AcceptError != "" {
			c.Status = "MISS"
		}
		if r.AcceptError != "" {
			c.Measured += "; then failed: " + r.AcceptError
		}
	}
	return c
}

func missingPath(r *Result, names ...string) string {
	var miss []string
	for _, n := range names {
		if r.Path(n) == nil {
			miss = append(miss, n)
		}
	}
	return strings.Join(miss, ", ") + " not selected"
}

// Markdown renders the run as the section of docs/benchmarks.md: how and
// where it ran, the table of medians with their ratio to direct, notes,
// and the targets.
func (r *Result) Markdown() string {
	var b strings.Builder
	b.WriteString("## Data path (`go run ./cmd/isthmus-bench`)\n\n")
	m := r.Machine
	fmt.Fprintf(&b, "Measured %s with `%s`, as root, on %d CPUs", r.Date.Format("2006-01-02 15:04 MST"), r.Command, m.CPUs)
	if m.CPU != "" {
		fmt.Fprintf(&b, " (%s)", m.CPU)
	}
	fmt.Fprintf(&b, ", Linux %s, %s", m.Kernel, m.Go)
	for _, v := range []string{m.Iperf3, m.HAProxy} {
		if v != "" {
			fmt.Fprintf(&b, ", %s", v)
		}
	}
	runs := "runs"
	if r.Rounds == 1 {
		runs = "run"
	}
	fmt.Fprintf(&b, ".\n\nEach figure is the median of %d %s, the paths taking turns: throughput runs last %s "+
		"(iperf3 in whole seconds, after one omitted second unless `-quick`, and `-l "+IperfBlock+"`: writes of 1 MiB; "+
		"the Go bulk client writes 128 KiB); a request/response run is %d exchanges of %d bytes "+
		"over one connection; a connection-rate run is %d workers each connecting, exchanging %d bytes and closing, for %s. "+
		"In brackets, the ratio to `direct` (for latencies, above 1× is slower); "+
		"the targets also give the range of the ratios of the rounds, whose paths ran one after the other, "+
		"which shows how much of a ratio is the machine's noise.\n\n",
		r.Rounds, runs, r.Duration, r.RRCount, r.RRSize, r.Workers, r.RRSize, r.Duration)

	b.WriteString("| path |")
	for f := range numFigures {
		fmt.Fprintf(&b, " %s |", f)
	}
	b.WriteString("\n| --- |")
	for range numFigures {
		b.WriteString(" ---: |")
	}
	b.WriteString("\n")
	direct := r.Path(PathDirect)
	for _, p := range r.Paths {
		fmt.Fprintf(&b, "| `%s` |", p.Name)
		if p.Unavailable != "" {
			b.WriteString(" not available |")
			for range numFigures - 1 {
				b.WriteString(" |")
			}
			b.WriteString("\n")
			continue
		}
		for f := range numFigures {
			fmt.Fprintf(&b, " %s |", r.cell(p, direct, f))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, p := range r.Paths {
		fmt.Fprintf(&b, "- `%s`: %s.", p.Name, p.Desc)
		if p.Unavailable != "" {
			fmt.Fprintf(&b, " **Not available**: %s.", strings.TrimSuffix(p.Unavailable, "."))
		}
		if !p.supports(Iperf1) && p.Unavailable == "" {
			b.WriteString(" No iperf3 figures: iperf3 cannot strip a PROXY header.")
		}
		for _, n := range p.Notes {
			fmt.Fprintf(&b, " %s.", strings.TrimSuffix(n, "."))
		}
		for f := range numFigures {
			switch e := strings.TrimSuffix(p.Errors[f], "."); {
			case e == "":
			case f == ConnRate: // counted in connections, and says so
				fmt.Fprintf(&b, " %s: %s.", f, e)
			default:
				fmt.Fprintf(&b, " %s: %d failed run(s), first: %s.", f, p.Failed[f], e)
			}
		}
		b.WriteString("\n")
	}
	if hap, ep := r.Path(PathHAProxy), r.Path(PathEndpoint); hap != nil && ep != nil && ep.Unavailable == "" && hap.Unavailable == "" {
		var parts []string
		for _, f := range []Figure{Iperf1, Iperf4, Bulk1, Bulk4, ConnRate} {
			if v, hv := ep.Median(f), hap.Median(f); !math.IsNaN(v) && !math.IsNaN(hv) && hv > 0 {
				parts = append(parts, fmt.Sprintf("%s %s", f, fmtRatio(v/hv)))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "\n`endpoint` against `haproxy`: %s.\n", strings.Join(parts, ", "))
		}
	}
	b.WriteString("\n### Targets (issue 5)\n\n| target | measured | |\n| --- | --- | --- |\n")
	for _, c := range r.Targets() {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Target, c.Measured, c.Status)
	}
	return b.String()
}

// cell is a figure of a path with its ratio to direct; "—" where the
// figure cannot be measured, "failed" where every run failed. A † marks a
// figure some of whose runs (for new conn/s: connections) failed.
func (r *Result) cell(p, direct *PathResult, f Figure) string {
	if !p.supports(f) {
		return "—"
	}
	v := p.Median(f)
	if math.IsNaN(v) {
		if p.Failed[f] > 0 || (f == LatencyP99 && p.Failed[LatencyP50] > 0) {
			return "failed"
		}
		return "—"
	}
	s := format(f, v)
	if direct != nil && p != direct {
		if bv := direct.Median(f); !math.IsNaN(bv) && bv > 0 {
			s += " (" + fmtRatio(v/bv) + ")"
		}
	}
	if p.Failed[f] > 0 {
		s += " †"
	}
	return s
}

func format(f Figure, v float64) string {
	switch f {
	case Iperf1, Iperf4, Bulk1, Bulk4:
		return fmtBps(v)
	case LatencyP50, LatencyP99:
		return fmtLatency(v)
	}
	return fmtCount(v) + "/s"
}

func fmtBps(bps float64) string {
	if bps >= 1e9 {
		return fmt.Sprintf("%.2f Gbit/s", bps/1e9)
	}
	return fmt.Sprintf("%.0f Mbit/s", bps/1e6)
}

func fmtLatency(sec float64) string {
	if sec < 1e-3 {
		return fmt.Sprintf("%.1f µs", sec*1e6)
	}
	return fmt.Sprintf("%.2f ms", sec*1e3)
}

// fmtCount rounds x and groups its digits by three: 12,345.
func fmtCount(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtRatio(r float64) string { return fmt.Sprintf("%.2f×", r) }

func nanValue() float64 { return math.NaN() }

func execOutput(ctx context.Context, prog string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, prog, args...).CombinedOutput()
}

// ReplaceMarked returns doc with everything between BeginMarker and
// EndMarker replaced by section. A doc without the markers gets them,
// around section, appended at its end. A doc with only one of them, or
// with them out of order, is an error: it is not clear what to replace.
func ReplaceMarked(doc, section string) (string, error) {
	if !strings.HasSuffix(section, "\n") {
		section += "\n"
	}
	bi, ei := strings.Index(doc, BeginMarker), strings.Index(doc, EndMarker)
	switch {
	case bi < 0 && ei < 0:
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		if doc != "" {
			doc += "\n"
		}
		return doc + BeginMarker + "\n" + section + EndMarker + "\n", nil
	case bi < 0 || ei < 0:
		return "", errors.New("the document has only one of the isthmus-bench markers")
	case ei < bi:
		return "", errors.New("the document's isthmus-bench end marker comes before its begin marker")
	case strings.Count(doc, BeginMarker) > 1 || strings.Count(doc, EndMarker) > 1:
		return "", errors.New("the document has more than one isthmus-bench section")
	}
	return doc[:bi] + BeginMarker + "\n" + section + doc[ei:], nil
}

// WriteMarked replaces the marked section of the file at path with
// section (see ReplaceMarked), creating the file if needed. The file is
// replaced atomically.
func WriteMarked(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	doc, err := ReplaceMarked(string(old), section)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".isthmus-bench-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(doc); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
