package isthmustest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/metrics"
)

// TestDataPathMetrics drives connections through an interface endpoint's
// kernel path, then through its PPv2 listener (a userspace proxy in the
// endpoint's namespace), and reads the data plane's named counters back
// through package metrics (FromKernel, as the daemon's /metrics serves
// them): NewConnections, BytesProcessed and ActiveConnections move, for
// the endpoint and for the service, on both paths.
func TestDataPathMetrics(t *testing.T) {
	x := ppTopology(t)
	dp := x.dp
	dpServe(t, dp.ns(x.target), "10.0.1.10:8081", "plain")
	ppServe(t, dp.ns(x.target), "10.0.1.10:8080")
	dp.settle()
	src := metrics.FromKernel(dp.prefix, x.env.Cloud, dp.k.FastPath())
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
	// connect makes n connections to port, each echoing msg, and returns
	// the last, still open.
	connect := func(port, want string) net.Conn {
		t.Helper()
		var last net.Conn
		for i := 0; i < n; i++ {
			line, c, err := dpConnect(cl, x.epIP+":"+port, 2*time.Second)
			if err != nil {
				t.Fatalf("connection %d through the endpoint's port %s: %v", i, port, err)
			}
			if !strings.Contains(line, want) {
				c.Close()
				t.Fatalf("connection %d to port %s: the target answered %q", i, port, line)
			}
			if err := dpEcho(c, msg); err != nil {
				c.Close()
				t.Fatalf("connection %d to port %s: %v", i, port, err)
			}
			if i < n-1 {
				c.Close()
			} else {
				last = c
			}
		}
		return last
	}
	plain := connect("81", "plain ")
	defer plain.Close()
	ep1, sv1 := sample()
	checkMoved(t, "", ep0, ep1, sv0, sv1, n, uint64(2*n*len(msg)))

	// The PPv2 listener: no DNAT at the endpoint, a proxy in its
	// namespace; the endpoint's figures move as much as the service's.
	// With the kernel path's connections closed, what stays active is the
	// proxied one.
	plain.Close()
	dpWait(t, "the kernel path's connections over at the endpoint", 10*time.Second, func() (bool, string) {
		ep, sv := sample()
		return ep.ActiveConnections == 0 && sv.ActiveConnections == 0,
			fmt.Sprintf("active: endpoint %d, service %d", ep.ActiveConnections, sv.ActiveConnections)
	})
	ep2, sv2 := sample()
	proxied := connect("80", "vpce="+x.epID)
	defer proxied.Close()
	ep3, sv3 := sample()
	checkMoved(t, "PPv2: ", ep2, ep3, sv2, sv3, n, uint64(2*n*len(msg)))

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
	for _, op := range dataplane.Diff(a.Have(), dataplane.Plan(top, dataplane.PlanOptions{Prefix: dp.prefix, FastPath: dp.fast})) {
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

// checkMoved checks what n new connections carrying at least bytes (both
// ways) did to an endpoint's and its service's figures, one of which stays
// open.
func checkMoved(t *testing.T, label string, ep0, ep1 metrics.Endpoint, sv0, sv1 metrics.Service, n, bytes uint64) {
	t.Helper()
	if d := ep1.NewConnections - ep0.NewConnections; d != n {
		t.Errorf("%sendpoint NewConnections moved by %d, want %d", label, d, n)
	}
	if d := sv1.NewConnections - sv0.NewConnections; d != n {
		t.Errorf("%sservice NewConnections moved by %d, want %d", label, d, n)
	}
	if d := ep1.BytesProcessed - ep0.BytesProcessed; d < bytes {
		t.Errorf("%sendpoint BytesProcessed moved by %d, want at least %d (the echoes both ways)", label, d, bytes)
	}
	if d := sv1.BytesProcessed - sv0.BytesProcessed; d < bytes {
		t.Errorf("%sservice BytesProcessed moved by %d, want at least %d", label, d, bytes)
	}
	if ep1.ActiveConnections < 1 || sv1.ActiveConnections < 1 {
		t.Errorf("%sActiveConnections with a connection open: endpoint %d, service %d", label, ep1.ActiveConnections, sv1.ActiveConnections)
	}
}
