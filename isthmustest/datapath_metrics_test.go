package isthmustest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/metrics"
)

// TestDataPathMetrics drives connections through an interface endpoint's
// kernel path and reads the data plane's named counters back through
// package metrics (FromKernel, as the daemon's /metrics serves them):
// NewConnections, BytesProcessed and ActiveConnections move, for the
// endpoint and for the service.
func TestDataPathMetrics(t *testing.T) {
	x := ppTopology(t)
	dp := x.dp
	dpServe(t, dp.ns(x.target), "10.0.1.10:8081", "plain")
	dp.settle()
	src := metrics.FromKernel(dp.prefix, x.env.Cloud)
	sample := func() (metrics.Endpoint, metrics.Service) {
		t.Helper()
		snap, err := src.Sample(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var ep metrics.Endpoint
		var sv metrics.Service
		for _, e := range snap.Endpoints {
			if e.EndpointID == x.epID {
				ep = e
			}
		}
		for _, s := range snap.Services {
			if s.EndpointID == x.epID {
				sv = s
			}
		}
		if ep.EndpointID == "" || sv.ServiceID != x.svcID || sv.LoadBalancerARN != x.lbARN {
			t.Fatalf("no samples of the endpoint and its service: %+v", snap)
		}
		return ep, sv
	}
	ep0, sv0 := sample()

	// Three connections, each echoing a message; the last stays open.
	cl := dp.ns(x.client)
	msg := strings.Repeat("counted ", 1000) + "\n"
	const n = 3
	for i := 0; i < n; i++ {
		line, c, err := dpConnect(cl, x.epIP+":81", 2*time.Second)
		if err != nil {
			t.Fatalf("connection %d through the endpoint: %v", i, err)
		}
		if !strings.HasPrefix(line, "plain ") {
			t.Fatalf("connection %d: the target answered %q", i, line)
		}
		if err := dpEcho(c, msg); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i < n-1 {
			c.Close()
		} else {
			defer c.Close()
		}
	}
	ep1, sv1 := sample()
	if d := ep1.NewConnections - ep0.NewConnections; d != n {
		t.Errorf("endpoint NewConnections moved by %d, want %d", d, n)
	}
	if d := sv1.NewConnections - sv0.NewConnections; d != n {
		t.Errorf("service NewConnections moved by %d, want %d", d, n)
	}
	if d := ep1.BytesProcessed - ep0.BytesProcessed; d < uint64(2*n*len(msg)) {
		t.Errorf("endpoint BytesProcessed moved by %d, want at least %d (the echoes both ways)", d, 2*n*len(msg))
	}
	if d := sv1.BytesProcessed - sv0.BytesProcessed; d < uint64(2*n*len(msg)) {
		t.Errorf("service BytesProcessed moved by %d, want at least %d", d, 2*n*len(msg))
	}
	if ep1.ActiveConnections < 1 || sv1.ActiveConnections < 1 {
		t.Errorf("ActiveConnections with one connection open: endpoint %d, service %d", ep1.ActiveConnections, sv1.ActiveConnections)
	}

	// What the kernel holds reads back as the plan (counters and counting
	// chains included): a restarted data plane would change nothing.
	top, _, err := x.env.Cloud.Topology()
	if err != nil {
		t.Fatal(err)
	}
	a := dataplane.NewApplier(dp.k, dp.prefix)
	if _, err := a.Observe(); err != nil {
		t.Fatal(err)
	}
	for _, op := range dataplane.Diff(a.Have(), dataplane.Plan(top, dataplane.PlanOptions{Prefix: dp.prefix})) {
		t.Errorf("the kernel differs from the plan: %s", op)
	}

	// The Prometheus exposition carries them with CloudWatch's names and
	// AWS's dimensions.
	hs := httptest.NewServer(metrics.Handler(src, nil))
	defer hs.Close()
	resp, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		"isthmus_privatelink_scrape_success 1",
		"isthmus_privatelink_endpoint_new_connections_total{",
		`VPC_Endpoint_Id="` + x.epID + `"`,
		"isthmus_privatelink_service_bytes_processed_total{",
		`Service_Id="` + x.svcID + `"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, text)
		}
	}
}
