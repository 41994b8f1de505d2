package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	svcName = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
	lbARN   = "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef"
)

func fakeSnapshot() *Snapshot {
	return &Snapshot{
		Endpoints: []Endpoint{
			{VpcID: "vpc-1", EndpointID: "vpce-1", EndpointType: "Interface", ServiceName: svcName, SubnetID: "subnet-a",
				ActiveConnections: 3, NewConnections: 10, BytesProcessed: 4096, PacketsDropped: 2, RstPacketsReceived: 1},
			{VpcID: "vpc-1", EndpointID: "vpce-1", EndpointType: "Interface", ServiceName: svcName, SubnetID: "subnet-b",
				ActiveConnections: 0, NewConnections: 5, BytesProcessed: 100},
		},
		Services: []Service{
			{ServiceID: "vpce-svc-1", Zone: "us-east-1a", LoadBalancerARN: lbARN, EndpointID: "vpce-1",
				ActiveConnections: 3, NewConnections: 10, BytesProcessed: 4096, RstPacketsSent: 1},
			{ServiceID: "vpce-svc-1", Zone: "us-east-1a", LoadBalancerARN: lbARN, EndpointID: "vpce-2",
				ActiveConnections: 1, NewConnections: 1, BytesProcessed: 50},
			// A second part of vpce-2's flows: summed into one series.
			{ServiceID: "vpce-svc-1", Zone: "us-east-1a", LoadBalancerARN: lbARN, EndpointID: "vpce-2",
				NewConnections: 2, BytesProcessed: 25},
			{ServiceID: "vpce-svc-1", Zone: "us-east-1b", LoadBalancerARN: lbARN, EndpointID: "vpce-1"},
		},
	}
}

func fixed(s *Snapshot) Source {
	return SourceFunc(func(context.Context) (*Snapshot, error) { return s, nil })
}

const wantExposition = `
# HELP isthmus_privatelink_endpoint_active_connections CloudWatch AWS/PrivateLinkEndpoints ActiveConnections: connections through the endpoint interface that are opening (SYN_SENT) or established.
# TYPE isthmus_privatelink_endpoint_active_connections gauge
isthmus_privatelink_endpoint_active_connections{Endpoint_Type="Interface",Service_Name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",Subnet_Id="subnet-a",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 3
isthmus_privatelink_endpoint_active_connections{Endpoint_Type="Interface",Service_Name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",Subnet_Id="subnet-b",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 0
# HELP isthmus_privatelink_endpoint_bytes_processed_total CloudWatch AWS/PrivateLinkEndpoints BytesProcessed: bytes exchanged between the endpoint interface and the endpoint service, both directions.
# TYPE isthmus_privatelink_endpoint_bytes_processed_total counter
isthmus_privatelink_endpoint_bytes_processed_total{Endpoint_Type="Interface",Service_Name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",Subnet_Id="subnet-a",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 4096
isthmus_privatelink_endpoint_bytes_processed_total{Endpoint_Type="Interface",Service_Name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",Subnet_Id="subnet-b",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 100
# HELP isthmus_privatelink_endpoint_new_connections_total CloudWatch AWS/PrivateLinkEndpoints NewConnections: connections established through the endpoint interface.
# TYPE isthmus_privatelink_endpoint_new_connections_total counter
isthmus_privatelink_endpoint_new_connections_total{Endpoint_Type="Interface",Service_Name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",Subnet_Id="subnet-a",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 10
isthmus_privatelink_endpoint_new_connections_total{Endpoint_Type="Interface",Service_Name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",Subnet_Id="subnet-b",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 5
# HELP isthmus_privatelink_endpoint_packets_dropped_total CloudWatch AWS/PrivateLinkEndpoints PacketsDropped: packets dropped by the endpoint interface.
# TYPE isthmus_privatelink_endpoint_packets_dropped_total counter
isthmus_privatelink_endpoint_packets_dropped_total{Endpoint_Type="Interface",Service_Name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",Subnet_Id="subnet-a",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 2
isthmus_privatelink_endpoint_packets_dropped_total{Endpoint_Type="Interface",Service_Name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",Subnet_Id="subnet-b",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 0
# HELP isthmus_privatelink_endpoint_rst_packets_received_total CloudWatch AWS/PrivateLinkEndpoints RstPacketsReceived: TCP RST packets the endpoint interface received from the endpoint service.
# TYPE isthmus_privatelink_endpoint_rst_packets_received_total counter
isthmus_privatelink_endpoint_rst_packets_received_total{Endpoint_Type="Interface",Service_Name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",Subnet_Id="subnet-a",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 1
isthmus_privatelink_endpoint_rst_packets_received_total{Endpoint_Type="Interface",Service_Name="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",Subnet_Id="subnet-b",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 0
# HELP isthmus_privatelink_scrape_success 1 if the last scrape read the PrivateLink samples, 0 if that failed.
# TYPE isthmus_privatelink_scrape_success gauge
isthmus_privatelink_scrape_success 1
# HELP isthmus_privatelink_service_active_connections CloudWatch AWS/PrivateLinkServices ActiveConnections: connections from the endpoint through the load balancer node that are opening or established.
# TYPE isthmus_privatelink_service_active_connections gauge
isthmus_privatelink_service_active_connections{Az="us-east-1a",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-1"} 3
isthmus_privatelink_service_active_connections{Az="us-east-1a",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-2"} 1
isthmus_privatelink_service_active_connections{Az="us-east-1b",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-1"} 0
# HELP isthmus_privatelink_service_bytes_processed_total CloudWatch AWS/PrivateLinkServices BytesProcessed: bytes exchanged between the endpoint and the service through the load balancer node, both directions.
# TYPE isthmus_privatelink_service_bytes_processed_total counter
isthmus_privatelink_service_bytes_processed_total{Az="us-east-1a",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-1"} 4096
isthmus_privatelink_service_bytes_processed_total{Az="us-east-1a",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-2"} 75
isthmus_privatelink_service_bytes_processed_total{Az="us-east-1b",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-1"} 0
# HELP isthmus_privatelink_service_endpoints CloudWatch AWS/PrivateLinkServices EndpointsCount: endpoints connected to the service through the load balancer node.
# TYPE isthmus_privatelink_service_endpoints gauge
isthmus_privatelink_service_endpoints{Az="us-east-1a",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1"} 2
isthmus_privatelink_service_endpoints{Az="us-east-1b",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1"} 1
# HELP isthmus_privatelink_service_new_connections_total CloudWatch AWS/PrivateLinkServices NewConnections: connections established from the endpoint through the load balancer node.
# TYPE isthmus_privatelink_service_new_connections_total counter
isthmus_privatelink_service_new_connections_total{Az="us-east-1a",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-1"} 10
isthmus_privatelink_service_new_connections_total{Az="us-east-1a",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-2"} 3
isthmus_privatelink_service_new_connections_total{Az="us-east-1b",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-1"} 0
# HELP isthmus_privatelink_service_rst_packets_sent_total CloudWatch AWS/PrivateLinkServices RstPacketsSent: TCP RST packets the service sent to the endpoint through the load balancer node.
# TYPE isthmus_privatelink_service_rst_packets_sent_total counter
isthmus_privatelink_service_rst_packets_sent_total{Az="us-east-1a",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-1"} 1
isthmus_privatelink_service_rst_packets_sent_total{Az="us-east-1a",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-2"} 0
isthmus_privatelink_service_rst_packets_sent_total{Az="us-east-1b",Load_Balancer_Arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/demo/0123456789abcdef",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-1"} 0
`

func TestCollector(t *testing.T) {
	c := NewCollector(fixed(fakeSnapshot()), nil, 0)
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantExposition)); err != nil {
		t.Fatal(err)
	}
	// The registry's own consistency checks (types, label names, no
	// duplicate series) pass too.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(c, "isthmus_privatelink_service_endpoints"); n != 2 {
		t.Errorf("endpoints_count series = %d, want 2", n)
	}
}

func TestCollectorEmpty(t *testing.T) {
	c := NewCollector(fixed(&Snapshot{}), nil, 0)
	want := `
# HELP isthmus_privatelink_scrape_success 1 if the last scrape read the PrivateLink samples, 0 if that failed.
# TYPE isthmus_privatelink_scrape_success gauge
isthmus_privatelink_scrape_success 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorSourceError(t *testing.T) {
	c := NewCollector(SourceFunc(func(context.Context) (*Snapshot, error) {
		return nil, errors.New("netns gone")
	}), nil, 0)
	want := `
# HELP isthmus_privatelink_scrape_success 1 if the last scrape read the PrivateLink samples, 0 if that failed.
# TYPE isthmus_privatelink_scrape_success gauge
isthmus_privatelink_scrape_success 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// Counters grow between scrapes: each scrape asks the Source afresh.
func TestCollectorAsksEachScrape(t *testing.T) {
	var n atomic.Uint64
	src := SourceFunc(func(context.Context) (*Snapshot, error) {
		v := n.Add(1)
		return &Snapshot{Endpoints: []Endpoint{{VpcID: "vpc-1", EndpointID: "vpce-1", EndpointType: "Interface",
			ServiceName: svcName, SubnetID: "subnet-a", NewConnections: v * 7}}}, nil
	})
	c := NewCollector(src, nil, 0)
	for want := 7.0; want <= 21; want += 7 {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var got float64 = -1
		for _, mf := range mfs {
			if mf.GetName() == "isthmus_privatelink_endpoint_new_connections_total" {
				got = mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		if got != want {
			t.Errorf("new_connections_total = %v, want %v", got, want)
		}
	}
}

// The source gets a context with the collector's deadline.
func TestCollectorTimeout(t *testing.T) {
	src := SourceFunc(func(ctx context.Context) (*Snapshot, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("no deadline")
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	c := NewCollector(src, nil, 50_000_000) // 50ms
	if v := testutil.ToFloat64(onlyScrape{c}); v != 0 {
		t.Errorf("scrape_success = %v after a timeout, want 0", v)
	}
}

// onlyScrape is c, whose only metric on a failed scrape is scrape_success.
type onlyScrape struct{ *Collector }

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler(fixed(fakeSnapshot()), nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	for _, line := range []string{
		"# TYPE isthmus_privatelink_endpoint_new_connections_total counter",
		"# TYPE isthmus_privatelink_service_endpoints gauge",
		`isthmus_privatelink_endpoint_bytes_processed_total{Endpoint_Type="Interface",Service_Name="` + svcName + `",Subnet_Id="subnet-a",VPC_Endpoint_Id="vpce-1",VPC_Id="vpc-1"} 4096`,
		`isthmus_privatelink_service_rst_packets_sent_total{Az="us-east-1a",Load_Balancer_Arn="` + lbARN + `",Service_Id="vpce-svc-1",VPC_Endpoint_Id="vpce-1"} 1`,
		"isthmus_privatelink_scrape_success 1",
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("response lacks %q:\n%s", line, body)
		}
	}
	// Nothing global: no Go runtime metrics.
	if strings.Contains(string(body), "go_goroutines") {
		t.Errorf("handler exports the global registry's metrics")
	}
}
