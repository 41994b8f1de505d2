package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source reports the current PrivateLink samples. Sample is called once
// per scrape, possibly from several goroutines at once; it must honour
// ctx. Counters (every field but ActiveConnections) are running totals
// that only grow while the object exists.
type Source interface {
	Sample(ctx context.Context) (*Snapshot, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (*Snapshot, error)

// Sample calls f.
func (f SourceFunc) Sample(ctx context.Context) (*Snapshot, error) { return f(ctx) }

// Snapshot is one scrape's samples.
type Snapshot struct {
	Endpoints []Endpoint
	Services  []Service
}

// Endpoint is the sample of one network interface of an interface
// endpoint (AWS/PrivateLinkEndpoints).
type Endpoint struct {
	// Dimensions.
	VpcID        string // VPC Id
	EndpointID   string // VPC Endpoint Id
	EndpointType string // Endpoint Type: Interface
	ServiceName  string // Service Name
	SubnetID     string // Subnet Id

	// ActiveConnections is the number of connections through the
	// interface that are opening (SYN_SENT) or established.
	ActiveConnections uint64
	// NewConnections counts the connections made through the interface.
	NewConnections uint64
	// BytesProcessed counts the bytes exchanged with the service, both
	// directions.
	BytesProcessed uint64
	// PacketsDropped counts the packets the interface dropped.
	PacketsDropped uint64
	// RstPacketsReceived counts the TCP resets the interface received
	// from the service.
	RstPacketsReceived uint64
}

// Service is the sample of one endpoint's traffic through one load
// balancer node (zone) of an endpoint service (AWS/PrivateLinkServices).
type Service struct {
	// Dimensions.
	ServiceID       string // Service Id
	Zone            string // Az
	LoadBalancerARN string // Load Balancer Arn
	EndpointID      string // VPC Endpoint Id

	ActiveConnections uint64
	NewConnections    uint64
	BytesProcessed    uint64
	// RstPacketsSent counts the TCP resets the service sent to the
	// endpoint.
	RstPacketsSent uint64
}

// Label names: AWS's dimension names with underscores for spaces.
const (
	LabelVpcID           = "VPC_Id"
	LabelEndpointID      = "VPC_Endpoint_Id"
	LabelEndpointType    = "Endpoint_Type"
	LabelServiceName     = "Service_Name"
	LabelSubnetID        = "Subnet_Id"
	LabelServiceID       = "Service_Id"
	LabelZone            = "Az"
	LabelLoadBalancerARN = "Load_Balancer_Arn"
)

const namespace = "isthmus_privatelink"

var (
	endpointLabels = []string{LabelVpcID, LabelEndpointID, LabelEndpointType, LabelServiceName, LabelSubnetID}
	serviceLabels  = []string{LabelServiceID, LabelZone, LabelLoadBalancerARN, LabelEndpointID}
	countLabels    = []string{LabelServiceID, LabelZone, LabelLoadBalancerARN}
)

func desc(sub, name, cw, help string, labels []string) *prometheus.Desc {
	ns := "AWS/PrivateLinkEndpoints"
	if sub == "service" {
		ns = "AWS/PrivateLinkServices"
	}
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, sub, name),
		"CloudWatch "+ns+" "+cw+": "+help, labels, nil)
}

var (
	epActive = desc("endpoint", "active_connections", "ActiveConnections",
		"connections through the endpoint interface that are opening (SYN_SENT) or established.", endpointLabels)
	epNew = desc("endpoint", "new_connections_total", "NewConnections",
		"connections established through the endpoint interface.", endpointLabels)
	epBytes = desc("endpoint", "bytes_processed_total", "BytesProcessed",
		"bytes exchanged between the endpoint interface and the endpoint service, both directions.", endpointLabels)
	epDropped = desc("endpoint", "packets_dropped_total", "PacketsDropped",
		"packets dropped by the endpoint interface.", endpointLabels)
	epRst = desc("endpoint", "rst_packets_received_total", "RstPacketsReceived",
		"TCP RST packets the endpoint interface received from the endpoint service.", endpointLabels)

	svcActive = desc("service", "active_connections", "ActiveConnections",
		"connections from the endpoint through the load balancer node that are opening or established.", serviceLabels)
	svcNew = desc("service", "new_connections_total", "NewConnections",
		"connections established from the endpoint through the load balancer node.", serviceLabels)
	svcBytes = desc("service", "bytes_processed_total", "BytesProcessed",
		"bytes exchanged between the endpoint and the service through the load balancer node, both directions.", serviceLabels)
	svcCount = desc("service", "endpoints", "EndpointsCount",
		"endpoints connected to the service through the load balancer node.", countLabels)
	svcRst = desc("service", "rst_packets_sent_total", "RstPacketsSent",
		"TCP RST packets the service sent to the endpoint through the load balancer node.", serviceLabels)

	scrapeOK = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "scrape_success"),
		"1 if the last scrape read the PrivateLink samples, 0 if that failed.", nil, nil)
)

// DefaultTimeout bounds a scrape's Sample call when NewCollector gets 0.
const DefaultTimeout = 10 * time.Second

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	src     Source
	log     *slog.Logger
	timeout time.Duration
}

// NewCollector returns a Collector that asks src on each scrape, giving it
// at most timeout (DefaultTimeout if 0). Errors of src are logged to log
// (nil: discarded).
func NewCollector(src Source, log *slog.Logger, timeout time.Duration) *Collector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Collector{src: src, log: log, timeout: timeout}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{epActive, epNew, epBytes, epDropped, epRst,
		svcActive, svcNew, svcBytes, svcCount, svcRst, scrapeOK} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Samples with the same labels
// are summed, so a Source may report a flow's counters in parts.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	snap, err := c.src.Sample(ctx)
	if err != nil {
		c.log.Warn("metrics: reading PrivateLink samples", "err", err)
		ch <- prometheus.MustNewConstMetric(scrapeOK, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeOK, prometheus.GaugeValue, 1)
	if snap == nil {
		return
	}

	type epKey [5]string
	eps := map[epKey]*Endpoint{}
	var epOrder []epKey
	for _, e := range snap.Endpoints {
		k := epKey{e.VpcID, e.EndpointID, e.EndpointType, e.ServiceName, e.SubnetID}
		s := eps[k]
		if s == nil {
			s = &Endpoint{}
			eps[k] = s
			epOrder = append(epOrder, k)
		}
		s.ActiveConnections += e.ActiveConnections
		s.NewConnections += e.NewConnections
		s.BytesProcessed += e.BytesProcessed
		s.PacketsDropped += e.PacketsDropped
		s.RstPacketsReceived += e.RstPacketsReceived
	}
	for _, k := range epOrder {
		s, lv := eps[k], k[:]
		ch <- prometheus.MustNewConstMetric(epActive, prometheus.GaugeValue, float64(s.ActiveConnections), lv...)
		ch <- prometheus.MustNewConstMetric(epNew, prometheus.CounterValue, float64(s.NewConnections), lv...)
		ch <- prometheus.MustNewConstMetric(epBytes, prometheus.CounterValue, float64(s.BytesProcessed), lv...)
		ch <- prometheus.MustNewConstMetric(epDropped, prometheus.CounterValue, float64(s.PacketsDropped), lv...)
		ch <- prometheus.MustNewConstMetric(epRst, prometheus.CounterValue, float64(s.RstPacketsReceived), lv...)
	}

	type svcKey [4]string
	type nodeKey [3]string
	svcs := map[svcKey]*Service{}
	var svcOrder []svcKey
	counts := map[nodeKey]map[string]bool{}
	var nodeOrder []nodeKey
	for _, s := range snap.Services {
		k := svcKey{s.ServiceID, s.Zone, s.LoadBalancerARN, s.EndpointID}
		n := nodeKey{s.ServiceID, s.Zone, s.LoadBalancerARN}
		if counts[n] == nil {
			counts[n] = map[string]bool{}
			nodeOrder = append(nodeOrder, n)
		}
		if s.EndpointID != "" {
			counts[n][s.EndpointID] = true
		}
		t := svcs[k]
		if t == nil {
			t = &Service{}
			svcs[k] = t
			svcOrder = append(svcOrder, k)
		}
		t.ActiveConnections += s.ActiveConnections
		t.NewConnections += s.NewConnections
		t.BytesProcessed += s.BytesProcessed
		t.RstPacketsSent += s.RstPacketsSent
	}
	for _, k := range svcOrder {
		s, lv := svcs[k], k[:]
		ch <- prometheus.MustNewConstMetric(svcActive, prometheus.GaugeValue, float64(s.ActiveConnections), lv...)
		ch <- prometheus.MustNewConstMetric(svcNew, prometheus.CounterValue, float64(s.NewConnections), lv...)
		ch <- prometheus.MustNewConstMetric(svcBytes, prometheus.CounterValue, float64(s.BytesProcessed), lv...)
		ch <- prometheus.MustNewConstMetric(svcRst, prometheus.CounterValue, float64(s.RstPacketsSent), lv...)
	}
	for _, n := range nodeOrder {
		ch <- prometheus.MustNewConstMetric(svcCount, prometheus.GaugeValue, float64(len(counts[n])), n[:]...)
	}
}

// Handler serves the PrivateLink metrics of src in Prometheus's text
// format (mount it at /metrics). It has a registry of its own: nothing
// global is registered.
func Handler(src Source, log *slog.Logger) http.Handler {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(src, log, 0))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
