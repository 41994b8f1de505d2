// Package metrics is Isthmus's Prometheus exporter for PrivateLink: on each
// scrape a Collector asks a Source for the current samples of every
// interface endpoint and every endpoint service and writes them out with
// CloudWatch's metric names and AWS's dimensions as labels. It owns no
// kernel state; FromKernel reads what the data plane counts (see
// kernel_linux.go for the names it reads).
//
// # Metric names
//
// AWS publishes the same metric name (ActiveConnections, NewConnections,
// BytesProcessed) in two CloudWatch namespaces, AWS/PrivateLinkEndpoints and
// AWS/PrivateLinkServices, with different dimensions; Prometheus needs one
// set of label names per metric name. So each metric is named
// isthmus_privatelink_<endpoint|service>_<CloudWatch name in snake case>,
// with _total on counters, and its HELP text starts with the CloudWatch
// namespace and name it stands for:
//
//	CloudWatch (AWS/PrivateLinkEndpoints)   Prometheus                                            type
//	ActiveConnections                       isthmus_privatelink_endpoint_active_connections       gauge
//	NewConnections                          isthmus_privatelink_endpoint_new_connections_total    counter
//	BytesProcessed                          isthmus_privatelink_endpoint_bytes_processed_total    counter
//	PacketsDropped                          isthmus_privatelink_endpoint_packets_dropped_total    counter
//	RstPacketsReceived                      isthmus_privatelink_endpoint_rst_packets_received_total counter
//
//	CloudWatch (AWS/PrivateLinkServices)    Prometheus                                            type
//	ActiveConnections                       isthmus_privatelink_service_active_connections        gauge
//	NewConnections                          isthmus_privatelink_service_new_connections_total     counter
//	BytesProcessed                          isthmus_privatelink_service_bytes_processed_total     counter
//	EndpointsCount                          isthmus_privatelink_service_endpoints                 gauge
//	RstPacketsSent                          isthmus_privatelink_service_rst_packets_sent_total    counter
//
// CloudWatch reports a Sum per minute; a Prometheus counter is the running
// total, so CloudWatch's one-minute Sum is increase(x_total[1m]).
// (EndpointsCount is ..._service_endpoints, without _count: Prometheus
// keeps that suffix for histograms and summaries.)
// ActiveConnections and EndpointsCount are levels (gauges), as CloudWatch's
// Average/Maximum of them are.
//
// # Labels
//
// AWS's dimension names hold spaces, which Prometheus label names cannot;
// each space becomes an underscore and the case is kept:
//
//	AWS dimension       label
//	VPC Id              VPC_Id
//	VPC Endpoint Id     VPC_Endpoint_Id
//	Endpoint Type       Endpoint_Type       (Interface)
//	Service Name        Service_Name
//	Subnet Id           Subnet_Id
//	Service Id          Service_Id
//	Az                  Az
//	Load Balancer Arn   Load_Balancer_Arn
//
// Endpoint metrics carry VPC_Id, VPC_Endpoint_Id, Endpoint_Type,
// Service_Name and Subnet_Id: one series per endpoint network interface
// (CloudWatch's finest dimension set; its set without Subnet Id is
// sum by (VPC_Id, VPC_Endpoint_Id, Endpoint_Type, Service_Name)). Service
// metrics carry Service_Id, Az, Load_Balancer_Arn and VPC_Endpoint_Id: one
// series per endpoint connected through a load balancer node. EndpointsCount
// counts endpoints, so it has no VPC_Endpoint_Id: its labels are
// Service_Id, Az and Load_Balancer_Arn.
//
// isthmus_privatelink_scrape_success is 1 when the Source answered and 0
// when it failed (the error is then logged and the other metrics are
// absent from that scrape).
package metrics
