// Package dns is the VPC resolver, AmazonProvidedDNS: one DNS server per
// VPC, listening on UDP and TCP port 53 at the VPC CIDR's base + 2 and at
// 169.254.169.253, inside the VPC's router namespace (where the data plane
// puts both addresses on lo).
//
// It owns those sockets and nothing else: Manager.Sync starts a VPC's
// server once the data plane reports the VPC ready, reconfigures it in
// place when the VPC's attributes or the records change (no socket is
// reopened), restarts it when its namespace was replaced, and closes it
// when the VPC goes. Manager is a dataplane.Follower: the reconciler calls
// Sync after every pass.
//
// # Handlers
//
// As in CoreDNS, a server answers through a chain of handlers, each
// ServeDNS(ctx, w, r) (rcode, error) and each a feature:
//
//	Refuse    REFUSED to everything (enableDnsSupport off)
//	Zones     authoritative answers from the zones visible in the VPC
//	Forward   everything else, to --dns-upstream
//	NXDomain  everything else, when there is no upstream
//
// A handler that answers writes the reply and returns its rcode; one that
// returns a failure rcode without writing (SERVFAIL, REFUSED, FORMERR,
// NOTIMP, see ClientWrite) leaves the reply to the server.
//
// # Zones
//
// Records come from ZoneSources: pure functions of the topology that
// return Zones, each either visible from every VPC of the host (VPCs nil:
// for example an endpoint's public regional names) or only in the VPCs it
// lists (a VPC's own hostnames, a private hosted zone). EC2Hostnames is
// the built-in one: ip-10-0-1-5.ec2.internal (us-east-1) or
// ip-10-0-1-5.<region>.compute.internal, and its PTR, for every interface
// of a VPC with enableDnsSupport and enableDnsHostnames. Later parts of
// Isthmus add their names with Options.Zones.
package dns
