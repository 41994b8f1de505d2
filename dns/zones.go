package dns

import (
	"context"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/isthmusnet/isthmus/core"
)

// A Zone is a set of records a VPC resolver answers with authority: a
// name under Origin that no record has is NXDOMAIN, not forwarded.
type Zone struct {
	// Origin is the zone's apex, e.g. "ec2.internal." (case does not
	// matter; a missing final dot is added).
	Origin string
	// VPCs lists the VPCs whose resolver sees the zone; nil means every
	// VPC of the host.
	VPCs []string
	// Records are the zone's records; their names must be at or under
	// Origin (others are ignored). A name may start with "*." (a wildcard,
	// RFC 4592).
	Records []dns.RR
	// SOA, if set, is the zone's SOA (in negative answers); otherwise one
	// is made up with a minimum TTL of 60 seconds.
	SOA *dns.SOA
}

// A ZoneSource computes zones from the topology. It must be a pure
// function: the same topology gives the same zones.
type ZoneSource func(top *core.Topology) []Zone

// zone is a Zone ready for lookups; zones of one origin are merged.
type zone struct {
	origin string
	soa    *dns.SOA
	names  map[string][]dns.RR // lower-case owner name → records
	// parents holds every name strictly between a record and the origin,
	// so that such empty non-terminals answer NODATA, not NXDOMAIN.
	parents map[string]bool
}

func newZone(origin string) *zone {
	return &zone{origin: origin, names: map[string][]dns.RR{}, parents: map[string]bool{}}
}

func (z *zone) add(rr dns.RR) {
	if rr == nil {
		return
	}
	name := strings.ToLower(dns.Fqdn(rr.Header().Name))
	if !dns.IsSubDomain(z.origin, name) {
		return
	}
	rr = dns.Copy(rr)
	rr.Header().Name = name
	for _, have := range z.names[name] {
		if dns.IsDuplicate(have, rr) {
			return
		}
	}
	z.names[name] = append(z.names[name], rr)
	for n := name; n != z.origin; {
		i := strings.IndexByte(n, '.')
		if i < 0 || i+1 >= len(n) {
			break
		}
		n = n[i+1:]
		if n != z.origin {
			z.parents[n] = true
		}
	}
}

func defaultSOA(origin string) *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns:      "ns0." + origin,
		Mbox:    "hostmaster." + origin,
		Serial:  1,
		Refresh: 7200,
		Retry:   900,
		Expire:  1209600,
		Minttl:  60,
	}
}

// zoneSet is the zones one resolver sees, by origin.
type zoneSet struct {
	zones   map[string]*zone
	origins []string // longest first
}

// newZoneSet merges zones into a set.
func newZoneSet(zones []Zone) *zoneSet {
	s := &zoneSet{zones: map[string]*zone{}}
	for _, z := range zones {
		origin := strings.ToLower(dns.Fqdn(z.Origin))
		zz := s.zones[origin]
		if zz == nil {
			zz = newZone(origin)
			s.zones[origin] = zz
			s.origins = append(s.origins, origin)
		}
		if z.SOA != nil && zz.soa == nil {
			soa := *z.SOA
			soa.Hdr.Name = origin
			zz.soa = &soa
		}
		for _, rr := range z.Records {
			zz.add(rr)
		}
	}
	for _, zz := range s.zones {
		if zz.soa == nil {
			zz.soa = defaultSOA(zz.origin)
		}
	}
	sort.Slice(s.origins, func(i, j int) bool {
		if len(s.origins[i]) != len(s.origins[j]) {
			return len(s.origins[i]) > len(s.origins[j])
		}
		return s.origins[i] < s.origins[j]
	})
	return s
}

// find returns the most specific zone holding name (lower case, FQDN).
func (s *zoneSet) find(name string) *zone {
	for _, o := range s.origins {
		if dns.IsSubDomain(o, name) {
			return s.zones[o]
		}
	}
	return nil
}

// Zones answers with authority for the names of its zones, and passes
// every other query to Next.
type Zones struct {
	set  *zoneSet
	Next Handler
}

// NewZones returns a Zones handler for zones (merged by origin).
func NewZones(zones []Zone, next Handler) *Zones {
	return &Zones{set: newZoneSet(zones), Next: next}
}

// Name implements Handler.
func (z *Zones) Name() string { return "zones" }

// maxChase bounds how many CNAMEs an answer follows within the zones.
const maxChase = 8

// ServeDNS implements Handler.
func (z *Zones) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	q := r.Question[0]
	qname := strings.ToLower(q.Name)
	zn := z.set.find(qname)
	if zn == nil || q.Qclass != dns.ClassINET {
		return NextOrFailure(ctx, z.Next, w, r)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true

	name, owner := qname, q.Name
	for hops := 0; ; hops++ {
		rrs, exists := zn.lookup(name)
		if !exists {
			if hops == 0 {
				m.Rcode = dns.RcodeNameError
			}
			m.Ns = []dns.RR{zn.soa}
			break
		}
		var cname dns.RR
		answered := false
		for _, rr := range rrs {
			t := rr.Header().Rrtype
			if t == q.Qtype || q.Qtype == dns.TypeANY {
				m.Answer = append(m.Answer, withName(rr, owner))
				answered = true
			} else if t == dns.TypeCNAME {
				cname = rr
			}
		}
		if answered || cname == nil {
			if !answered && hops == 0 {
				m.Ns = []dns.RR{zn.soa} // NODATA
			}
			break
		}
		m.Answer = append(m.Answer, withName(cname, owner))
		target := strings.ToLower(cname.(*dns.CNAME).Target)
		next := z.set.find(target)
		if next == nil || hops >= maxChase {
			break // the client resolves the rest
		}
		zn, name, owner = next, target, cname.(*dns.CNAME).Target
	}
	return m.Rcode, w.WriteMsg(m)
}

// lookup returns the records at name (or the wildcard that covers it) and
// whether the name exists at all (an empty non-terminal exists with no
// records).
func (zn *zone) lookup(name string) ([]dns.RR, bool) {
	if rrs, ok := zn.names[name]; ok {
		return rrs, true
	}
	if zn.parents[name] {
		return nil, true
	}
	if name == zn.origin {
		return nil, true
	}
	// A wildcard at the closest existing ancestor covers the name.
	for n := name; n != zn.origin; {
		i := strings.IndexByte(n, '.')
		n = n[i+1:]
		if rrs, ok := zn.names["*."+n]; ok {
			return rrs, true
		}
		if zn.names[n] != nil || zn.parents[n] || n == zn.origin {
			break
		}
	}
	return nil, false
}

// withName returns a copy of rr owned by name (the question's spelling,
// so that 0x20 case randomisation survives).
func withName(rr dns.RR, name string) dns.RR {
	rr = dns.Copy(rr)
	rr.Header().Name = name
	return rr
}
