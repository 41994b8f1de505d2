//go:build linux

package benchnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/netns"
	"github.com/isthmusnet/isthmus/testenv"
)

// The privileged smoke tests run Run for a second per figure and check
// that every figure is a positive number and that nothing is left behind.
// No timing is asserted.

func privileged(t *testing.T) *Tools {
	t.Helper()
	testenv.RequireRoot(t)
	return &Tools{
		IP:      testenv.RequireProgram(t, "ip"),
		Iperf3:  testenv.RequireProgram(t, "iperf3"),
		HAProxy: testenv.RequireProgram(t, "haproxy"),
	}
}

func testPrefix(t *testing.T) string {
	b := make([]byte, 3)
	rand.Read(b)
	p := "ibt" + hex.EncodeToString(b)
	t.Cleanup(func() {
		// Whatever a failed test left.
		names, _ := netns.List(p)
		for _, n := range names {
			netns.Delete(n)
		}
	})
	return p
}

func smokeConfig(t *testing.T, paths ...string) Config {
	return Config{
		Quick: true, Rounds: 1, Duration: time.Second, RRCount: 500, Workers: 4,
		Paths: paths, Tools: privileged(t), Prefix: testPrefix(t), IsthmusWait: 3 * time.Second,
		Progress: testWriter{t}, Command: "go test ./benchnet/",
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// checkFigures fails t unless every figure p supports has one positive
// run.
func checkFigures(t *testing.T, p *PathResult) {
	t.Helper()
	if p.Unavailable != "" {
		t.Errorf("%s: not available: %s", p.Name, p.Unavailable)
		return
	}
	for f := range numFigures {
		if !p.supports(f) {
			if len(p.Runs[f]) != 0 {
				t.Errorf("%s: %s measured, though the path cannot carry it", p.Name, f)
			}
			continue
		}
		if v := p.Runs[f]; len(v) != 1 || !(v[0] > 0) || math.IsInf(v[0], 0) {
			t.Errorf("%s: %s runs %v (errors: %s)", p.Name, f, v, p.Errors[f])
		}
	}
}

// checkGone fails t if a namespace or a /etc/netns directory of prefix
// remains.
func checkGone(t *testing.T, prefix string) {
	t.Helper()
	if names, err := netns.List(prefix); err != nil || len(names) > 0 {
		t.Errorf("namespaces left behind: %v %v", names, err)
	}
	if dirs, _ := filepath.Glob(filepath.Join(netns.EtcDir, prefix+"*")); len(dirs) > 0 {
		t.Errorf("directories left behind: %v", dirs)
	}
}

func TestSmokeDirectHAProxy(t *testing.T) {
	cfg := smokeConfig(t, PathDirect, PathHAProxy)
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkGone(t, cfg.Prefix)
	for _, name := range []string{PathDirect, PathHAProxy} {
		p := res.Path(name)
		if p == nil {
			t.Fatalf("no %s path in the result", name)
		}
		checkFigures(t, p)
	}
	// The ratio column is there for haproxy (whatever its value).
	md := res.Markdown()
	if !strings.Contains(md, "| `haproxy` | ") || !strings.Contains(md, "×) |") {
		t.Errorf("table:\n%s", md)
	}
	if res.Machine.CPUs == 0 || res.Machine.Kernel == "" || !strings.HasPrefix(res.Machine.Iperf3, "iperf") {
		t.Errorf("machine: %+v", res.Machine)
	}
}

// TestSmokeIsthmus builds the PrivateLink topology through an in-process
// Isthmus. The vpc path must carry traffic; the endpoint and ppv2 paths
// either carry it or are reported as not available with a reason, until
// the data path exists.
func TestSmokeIsthmus(t *testing.T) {
	cfg := smokeConfig(t, PathVPC, PathEndpoint, PathPPv2)
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkGone(t, cfg.Prefix)
	checkFigures(t, res.Path(PathVPC))
	for _, name := range []string{PathEndpoint, PathPPv2} {
		p := res.Path(name)
		if p.Unavailable != "" {
			t.Logf("%s: not available: %s", name, p.Unavailable)
			continue
		}
		checkFigures(t, p)
	}
	if pp := res.Path(PathPPv2); pp.Unavailable == "" && (len(pp.Notes) == 0 || !strings.Contains(pp.Notes[0], "vpce-")) {
		t.Errorf("ppv2 carried traffic but the target saw no endpoint id: %v", pp.Notes)
	}
	if len(res.Setup) < 20 || !strings.Contains(strings.Join(res.Setup, "\n"), "create-vpc-endpoint ") {
		t.Errorf("setup steps: %v", res.Setup)
	}
}

// TestRunInterrupted: a run whose context ends while measuring removes
// everything and says so.
func TestRunInterrupted(t *testing.T) {
	cfg := smokeConfig(t, PathDirect)
	cfg.Rounds, cfg.Duration = 100, 2*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, cfg)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("Run returned %v before its context ended", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Run took %s to stop", d)
	}
	checkGone(t, cfg.Prefix)
}
