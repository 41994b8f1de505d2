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
// rules) that realises it. An Applier diffs a desired HostConfig against
// what the kernel holds and runs only the difference through a Kernel
// (LinuxKernel over rtnetlink, or FakeKernel in memory). The Reconciler
// follows the store's change feed, plans after each burst of changes and
// applies; see its documentation for restarts, retries and resyncs.
//
// # Names
//
// Every name is derived from an API object id, so any of it can be
// inspected with iproute2:
//
//	<prefix>-vpc-<17 hex>   a VPC's router namespace
//	    lo                  up; holds the VPC resolver address, CIDR base + 2 /32
//	    br-<8 hex>          a subnet's bridge (first 8 hex digits of the subnet
//	                        id), holding the gateway (.1 of the subnet) with the
//	                        subnet's prefix length; MAC 0e:<10 hex of the id>
//	    v<12 hex>           an interface's veth end (first 12 hex digits of the
//	                        eni id), a port of its subnet's bridge
//	    tables 0x1xxxxxxx   one per route table: 0x10000000 + the first 7 hex
//	                        digits of the rtb id; `blackhole default` plus one
//	                        route per subnet for the `local` route
//	    rules pref 1000     `iif br-<subnet> lookup <table of its association>`
//	<prefix>-eni-<17 hex>   a network interface's namespace
//	    lo                  up
//	    eth0                its private IP with the subnet's prefix length and
//	                        its MAC; default via the subnet gateway
//
// Routes and rules that Isthmus installs carry `proto 73`. For example:
//
//	ip netns list | grep '^isth-'
//	ip netns exec isth-eni-0123456789abcdef0 ping 10.0.1.1
//	ip -n isth-vpc-0123456789abcdef0 rule
//	ip -n isth-vpc-0123456789abcdef0 route show table all proto 73
//
// # What a VPC can reach
//
// Nothing leaves a VPC: the router namespace has no link but its bridges
// and every route table ends in `blackhole default`, so two VPCs with the
// same CIDR coexist and never meet. IPv6 is disabled in every namespace.
package dataplane
