package dns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/isthmusnet/isthmus/core"
)

// EndpointTTL is the TTL of interface endpoints' records, as AWS's.
const EndpointTTL = 60

// EndpointNames is the ZoneSource of interface endpoints' DNS names, as
// DescribeVpcEndpoints lists them in DnsEntries:
//
//   - the regional name (vpce-<id>-<8>.vpce-svc-<id>.<region>.vpce.amazonaws.com)
//     holds an A record of every one of the endpoint's interfaces, and
//     each zonal name (…-<zone>.vpce-svc-…) the interface in that zone.
//     These names are public on AWS, so every VPC of the host sees them,
//     in one zone per service domain (the regional name but its first
//     label): a name under it that no endpoint has is NXDOMAIN.
//   - the service's private DNS name (when the endpoint has private DNS
//     enabled and the name is verified) holds the same records as the
//     regional name, in a zone of its own visible only in the endpoint's
//     VPC, as AWS's private hosted zone. A wildcard name (*.example.com)
//     answers every name under the domain.
//
// Endpoints that are deleting, deleted, failed or expired have no names;
// a pendingAcceptance or rejected endpoint's names resolve (its interfaces
// exist and refuse connections).
func EndpointNames(top *core.Topology) []Zone {
	var out []Zone
	zoneOf := map[string]int{} // service domain → index in out
	for _, e := range top.VpcEndpoints {
		names, ok := top.EndpointNames[e.ID]
		if !ok || e.Type != core.EndpointTypeInterface {
			continue
		}
		switch e.State {
		case core.EndpointDeleting, core.EndpointDeleted, core.EndpointFailed, core.EndpointExpired:
			continue
		}
		var all []netip.Addr
		byZone := map[string]netip.Addr{}
		for _, s := range e.Subnets {
			a, err := netip.ParseAddr(s.IP)
			if err != nil || !a.Is4() {
				continue
			}
			all = append(all, a)
			byZone[s.Zone] = a
		}
		if len(all) == 0 {
			continue
		}
		origin := serviceDomain(names.Regional)
		i, ok := zoneOf[origin]
		if !ok {
			i = len(out)
			zoneOf[origin] = i
			out = append(out, Zone{Origin: origin})
		}
		out[i].Records = append(out[i].Records, aRecords(names.Regional, all...)...)
		for zone, name := range names.Zonal {
			if a, ok := byZone[zone]; ok {
				out[i].Records = append(out[i].Records, aRecords(name, a)...)
			}
		}
		if names.Private != "" {
			out = append(out, Zone{
				Origin:  strings.TrimPrefix(names.Private, "*.") + ".",
				VPCs:    []string{e.VpcID},
				Records: aRecords(names.Private, all...),
			})
		}
	}
	return out
}

// serviceDomain is the zone of an endpoint name: the name without its
// first label (and without a leading "*.").
func serviceDomain(name string) string {
	name = strings.TrimPrefix(name, "*.")
	if _, rest, ok := strings.Cut(name, "."); ok {
		return dns.Fqdn(rest)
	}
	return dns.Fqdn(name)
}

func aRecords(name string, addrs ...netip.Addr) []dns.RR {
	out := make([]dns.RR, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, &dns.A{
			Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: EndpointTTL},
			A:   a.AsSlice(),
		})
	}
	return out
}
