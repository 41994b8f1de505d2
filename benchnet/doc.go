// Package benchnet is the data-path benchmark of Isthmus: it builds the
// paths to compare, each between a client and a server network namespace,
// measures them side by side and renders the table of docs/benchmarks.md.
// cmd/isthmus-bench is its command line.
//
// # Paths
//
//	direct    client ns → router ns → server ns: veths, one forwarding hop,
//	          no NAT. The baseline of every ratio.
//	haproxy   the same namespaces with HAProxy (TCP mode) in the router
//	          namespace: client → HAProxy → server.
//	vpc       Isthmus's VPC data plane only: a client interface and the
//	          target interface in one subnet of the provider VPC.
//	endpoint  PrivateLink through Isthmus: a client interface in a consumer
//	          VPC (same CIDR as the provider's) connects to an interface
//	          endpoint's address; the endpoint service's network load
//	          balancer forwards to the target interface.
//	ppv2      the same through a target group with proxy_protocol_v2.enabled;
//	          the server strips (and checks) the PROXY v2 header.
//
// Every namespace, link and process the benchmark makes is named or owned
// under one prefix of its own ("ib" and 6 random hex digits; Isthmus's
// data plane gets that prefix and "i"), and Run removes them all when it
// ends, however it ends, short of SIGKILL (then `ip netns list` shows
// what to `ip netns delete`). The host's own namespace is never changed,
// and traffic only goes to addresses inside those namespaces.
//
// The package builds on Linux only.
//
// # Tools
//
// iperf3 (run in a namespace with `ip netns exec`) measures bulk TCP
// throughput where it can. The Go tools of this package measure what
// iperf3 cannot: Server speaks a one-byte protocol ('U' upload: the server
// counts what it received until the client half-closes and answers the
// count; 'E' echo: the server echoes until EOF), optionally after a PROXY
// v2 header that it strips. Bulk, RequestResponse and ConnectRate are its
// clients. Sockets are created inside a namespace with netns.Do and then
// used from any goroutine.
package benchnet
