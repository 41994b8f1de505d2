// Package dataplane turns the control plane's VPCs, subnets, route tables
// and network interfaces into Linux networking, and keeps it so.
//
// It owns every network namespace whose name starts with "<prefix>-"
// (prefix "isth" by default; tests use their own) and everything inside
// them. It never touches the host's own namespace or any other namespace.
//
// # How it works
//
// Plan is a pure function from a core.Topology to a HostConfig: the set of
// kernel items (namespaces, sysctls, links, veth pairs, addresses, routes,
// rules, nftables tables, sets, elements, chains and rules, resolv.conf
// files) that realises it. An Applier diffs a desired HostConfig against
// what the kernel holds and runs only the difference through a Kernel
// (LinuxKernel over rtnetlink, or FakeKernel in memory). The Reconciler
// follows the store's change feed, plans after each burst of changes and
// applies; see its documentation for restarts, retries and resyncs. After
// each pass it syncs its Followers: what is not kernel state but must
// follow the topology, such as the VPC resolvers of package dns.
//
// # Names
//
// Every name is derived from an API object id, so any of it can be
// inspected with iproute2:
//
//	<prefix>-vpc-<17 hex>   a VPC's router namespace
//	    lo                  up; holds the VPC resolver's addresses, CIDR
//	                        base + 2 /32 and 169.254.169.253/32 (package dns
//	                        listens on both, UDP and TCP port 53)
//	    br-<8 hex>          a subnet's bridge (first 8 hex digits of the subnet
//	                        id), holding the gateway (.1 of the subnet) with the
//	                        subnet's prefix length; MAC 0e:<10 hex of the id>
//	    v<12 hex>           an interface's veth end (first 12 hex digits of the
//	                        eni id), a port of its subnet's bridge
//	    tables 0x1xxxxxxx   one per route table: 0x10000000 + the first 7 hex
//	                        digits of the rtb id; `blackhole default` plus one
//	                        route per subnet for the `local` route
//	    rules pref 1000     `iif br-<subnet> lookup <table of its association>`
//	    tc ingress on v…    the fast path's isthmus_port (fast.go)
//	<prefix>-eni-<17 hex>   a network interface's namespace
//	    lo                  up
//	    eth0                its private IP with the subnet's prefix length and
//	                        its MAC; default via the subnet gateway; announced
//	                        by a gratuitous ARP when it gets the address
//	    table inet isthmus  its security groups (below)
//	    tr<12 hex>          a PrivateLink transit link to the interface of
//	                        that id (endpoint ⇄ load balancer node), /31 of
//	                        100.64.0.0/10 (plan_pl.go)
//	    table ip isthmus-pl an available endpoint interface's NAT
//	    table ip isthmus-lb a network load balancer node's NAT
//	    tc ingress on eth0, tr…  the fast path's isthmus_nat, in those two
//	/etc/netns/<prefix>-eni-<17 hex>/resolv.conf
//	                        nameserver <VPC CIDR base + 2>, search ec2.internal
//	                        (us-east-1) or <region>.compute.internal; bound over
//	                        /etc/resolv.conf by `ip netns exec` and `isthmus exec`
//
// Routes and rules that Isthmus installs carry `proto 73`. For example:
//
//	ip netns list | grep '^isth-'
//	ip netns exec isth-eni-0123456789abcdef0 ping 10.0.1.1
//	ip -n isth-vpc-0123456789abcdef0 rule
//	ip -n isth-vpc-0123456789abcdef0 route show table all proto 73
//	ip netns exec isth-eni-0123456789abcdef0 nft list table inet isthmus
//
// # What a VPC can reach
//
// Nothing leaves a VPC: the router namespace has no link but its bridges
// and every route table ends in `blackhole default`, so two VPCs with the
// same CIDR coexist and never meet. IPv6 is disabled in every namespace.
//
// # PrivateLink
//
// Interface endpoints and network load balancers are NAT in the kernel
// across transit links: see plan_pl.go for the tables, health.go for the
// health checks that write target health, drain.go for deregistration.
// The NAT tables count what they carry in named counters that package
// metrics reads (nat.go lists them). Established TCP flows skip the
// namespaces in the middle through the fast path's tc programs where the
// kernel takes them (fast.go, package fastpath). TCP listeners whose
// target group enables proxy protocol v2 are kernel NAT too when the fast
// path runs, whose NAT program writes the PROXY v2 header (PPv2Entry);
// without it they are the one exception: the endpoint's namespace does
// not DNAT them and a userspace proxy there writes the header (ppv2.go,
// the Proxies follower).
//
// # Security groups
//
// Each interface with at least one security group has its own nftables
// table, inet isthmus, in its namespace (nft.go draws it): base chains on
// the input and output hooks with policy drop, which accept loopback,
// conntrack's established and related packets, and what AWS never filters
// (link-local addresses, the subnet's four reserved addresses, the VPC
// resolver), drop invalid packets, and jump to sg-in and sg-out, which
// hold one accepting rule per permission of the interface's groups. A
// rule naming a group matches a set, sg-<id>, of that group's current
// members; a rule naming a prefix list becomes one rule per entry. An
// interface without groups (a Gateway Load Balancer endpoint's) is not
// filtered. Rules, sets and set elements are separate items, so
// authorizing a rule adds one rule to each member's table and an interface
// joining a group adds one element to each set that names the group;
// nothing else is rewritten.
//
// As on AWS, filtering is stateful: revoking a rule stops new flows, while
// flows conntrack already tracks go on until they end or time out (AWS
// behaves so for tracked connections; it interrupts only untracked ones,
// which Isthmus does not have). Every rule carries its own text as its
// comment, which is how the kernel's rules are read back and found.
package dataplane
