package dns

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/dataplane"
)

// HostnameTTL is the TTL of the EC2 hostname records.
const HostnameTTL = 60

// EC2Hostnames is the ZoneSource of EC2's private DNS hostnames: for every
// VPC with enableDnsSupport and enableDnsHostnames, a zone visible only in
// that VPC holding, for each of its network interfaces, an A record
// ip-10-0-1-5.ec2.internal (us-east-1) or ip-10-0-1-5.<region>.compute.internal
// (elsewhere) — the interface's PrivateDnsName — and a reverse zone for the
// VPC CIDR (rounded out to whole octets) holding the PTR records.
func EC2Hostnames(top *core.Topology) []Zone {
	byVpc := map[string][]*core.NetworkInterface{}
	for _, n := range top.NetworkInterfaces {
		byVpc[n.VpcID] = append(byVpc[n.VpcID], n)
	}
	var out []Zone
	for _, v := range top.Vpcs {
		if !v.EnableDNSSupport || !v.EnableDNSHostnames {
			continue
		}
		cidr, ok := core.ParseCIDR(v.CidrBlock)
		if !ok {
			continue
		}
		fwd := Zone{Origin: dataplane.SearchDomain(v.Region) + ".", VPCs: []string{v.ID}}
		rev := Zone{Origin: reverseZone(cidr), VPCs: []string{v.ID}}
		for _, n := range byVpc[v.ID] {
			ip, err := netip.ParseAddr(n.PrivateIP)
			if err != nil || !ip.Is4() || !cidr.Contains(ip) {
				continue
			}
			name := dns.Fqdn(n.PrivateDNSName())
			fwd.Records = append(fwd.Records, &dns.A{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: HostnameTTL},
				A:   ip.AsSlice(),
			})
			arpa, _ := dns.ReverseAddr(ip.String())
			rev.Records = append(rev.Records, &dns.PTR{
				Hdr: dns.RR_Header{Name: arpa, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: HostnameTTL},
				Ptr: name,
			})
		}
		out = append(out, fwd, rev)
	}
	return out
}

// reverseZone is the in-addr.arpa zone of a prefix, rounded out to whole
// octets: 10.0.0.0/16 → 0.10.in-addr.arpa., 10.1.128.0/20 → 1.10.in-addr.arpa.
func reverseZone(p netip.Prefix) string {
	b := p.Masked().Addr().As4()
	octets := p.Bits() / 8
	labels := make([]string, 0, octets+1)
	for i := octets - 1; i >= 0; i-- {
		labels = append(labels, fmt.Sprint(b[i]))
	}
	labels = append(labels, "in-addr.arpa.")
	return strings.Join(labels, ".")
}
