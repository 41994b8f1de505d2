package core

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/isthmusnet/isthmus/store"
)

// Transit links: the hyperplane of PrivateLink. Each network interface of
// an available interface endpoint (the consumer's side, one per zone) is
// joined to every load balancer node of the endpoint service in the same
// zone — a network load balancer's interface in that zone — by a
// point-to-point link numbered from TransitPool. The data plane builds the
// link (a veth pair) and NATs across it; the control plane allocates the
// addresses and keeps them in the store, so that a restarted daemon finds
// the same numbers and established flows keep their conntrack entries.
//
// Allocation is level-based: SyncTransits computes the links the
// endpoints, services and load balancers call for and allocates or frees
// the difference in one transaction. The data plane's reconciler calls it
// when a Topology says it is needed (TransitsPending), so the API's own
// transactions know nothing of the data plane.
//
// The pool is 100.64.0.0/10 (RFC 6598 shared address space), in /31 pairs
// (RFC 3021): link n holds 100.64.0.0+2n on the endpoint's side and
// 100.64.0.0+2n+1 on the load balancer's. The addresses appear only inside
// the two interfaces' namespaces, so they must not overlap the two VPCs
// involved: AWS accepts VPC CIDRs inside 100.64.0.0/10 (its own CreateVpc
// example is 100.68.0.0/18), so rather than refusing such VPCs the
// allocator skips every number whose pair falls inside the consumer's or
// the provider's VPC CIDR. (A VPC's CIDR never changes in Isthmus, so a
// link that fits when allocated keeps fitting.)

// TransitPool is where transit links are numbered from.
var TransitPool = netip.MustParsePrefix("100.64.0.0/10")

// transitLinks is how many /31 links the pool holds.
const transitLinks = 1 << (32 - 10 - 1)

// Transit is one allocated transit link.
type Transit struct {
	// Index numbers the link's /31 in TransitPool.
	Index int `json:"index"`
	// Region is the endpoint's (and the service's) region.
	Region string `json:"region"`
	// EndpointID and EndpointENI are the interface endpoint and its
	// network interface; EndpointVpcID its VPC.
	EndpointID    string `json:"endpoint"`
	EndpointENI   string `json:"endpointEni"`
	EndpointVpcID string `json:"endpointVpc"`
	// ServiceID is the endpoint service the endpoint connects to.
	ServiceID string `json:"service"`
	// LoadBalancerARN and LoadBalancerENI are the network load balancer
	// and its interface (its node) in the endpoint interface's zone.
	LoadBalancerARN string    `json:"lb"`
	LoadBalancerENI string    `json:"lbEni"`
	Zone            string    `json:"az"`
	Created         time.Time `json:"created"`
}

// EndpointAddr is the address of the link's endpoint side.
func (t *Transit) EndpointAddr() netip.Addr { return transitAddr(t.Index, 0) }

// LoadBalancerAddr is the address of the link's load balancer side.
func (t *Transit) LoadBalancerAddr() netip.Addr { return transitAddr(t.Index, 1) }

// Prefix is the link's /31.
func (t *Transit) Prefix() netip.Prefix { return netip.PrefixFrom(t.EndpointAddr(), 31) }

func transitAddr(index, side int) netip.Addr {
	b := TransitPool.Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n += uint32(2*index + side)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// Store keys of transit links, one per link, by its two interfaces. They
// are global, not under a region: one host's pool is one pool.
//
//	transit/<endpoint eni>/<lb eni>   Transit
const transitPrefix = "transit/"

func transitPair(endpointENI, lbENI string) string { return endpointENI + "/" + lbENI }

// wantedTransit is a link the topology calls for, before it has a number.
type wantedTransit struct {
	Transit
	avoid []netip.Prefix // the two VPCs' CIDRs
}

// wantedTransits computes, in one region, the links that available
// interface endpoints to endpoint services call for, by pair.
func (tx *Tx) wantedTransits(out map[string]*wantedTransit) error {
	eps, err := listAll[VpcEndpoint](tx, kindVpcEndpoint, func(e *VpcEndpoint) bool {
		return e.Type == EndpointTypeInterface && e.ServiceID != "" && e.State == EndpointAvailable
	})
	if err != nil || len(eps) == 0 {
		return err
	}
	vpcCIDR := map[string]netip.Prefix{}
	cidrOf := func(id string) (netip.Prefix, error) {
		if p, ok := vpcCIDR[id]; ok {
			return p, nil
		}
		v, ok, err := loadAny[Vpc](tx, kindVpc, id)
		if err != nil {
			return netip.Prefix{}, err
		}
		var p netip.Prefix
		if ok {
			p, _ = ParseCIDR(v.CidrBlock)
		}
		vpcCIDR[id] = p
		return p, nil
	}
	for _, e := range eps {
		s, ok, err := loadAny[EndpointService](tx, kindEndpointService, e.ServiceID)
		if err != nil {
			return err
		}
		if !ok || s.Type != EndpointTypeInterface {
			continue
		}
		consumer, err := cidrOf(e.VpcID)
		if err != nil {
			return err
		}
		for _, arn := range s.NLBs {
			lb, err := tx.loadBalancerAnyOwner(arn)
			if err != nil {
				return err
			}
			if lb == nil || lb.Type != LoadBalancerNetwork {
				continue
			}
			provider, err := cidrOf(lb.VpcID)
			if err != nil {
				return err
			}
			for _, sub := range e.Subnets {
				for _, z := range lb.Zones {
					if z.ZoneName != sub.Zone || sub.ENI == "" || z.NetworkInterfaceID == "" {
						continue
					}
					w := &wantedTransit{Transit: Transit{
						Region: e.Region, EndpointID: e.ID, EndpointENI: sub.ENI, EndpointVpcID: e.VpcID,
						ServiceID: s.ID, LoadBalancerARN: arn, LoadBalancerENI: z.NetworkInterfaceID, Zone: z.ZoneName,
					}}
					for _, p := range []netip.Prefix{consumer, provider} {
						if p.IsValid() {
							w.avoid = append(w.avoid, p)
						}
					}
					out[transitPair(sub.ENI, z.NetworkInterfaceID)] = w
				}
			}
		}
	}
	return nil
}

// storedTransits reads every allocated link, by pair.
func storedTransits(stx store.Tx) (map[string]*Transit, error) {
	out := map[string]*Transit{}
	var derr error
	err := stx.Scan(transitPrefix, "", func(key string, b []byte) bool {
		t, err := decodeJSON[Transit](b)
		if err != nil {
			derr = fmt.Errorf("decode %s: %w", key, err)
			return false
		}
		out[strings.TrimPrefix(key, transitPrefix)] = t
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// transitFits reports whether link i's addresses stay clear of avoid.
func transitFits(i int, avoid []netip.Prefix) bool {
	p := netip.PrefixFrom(transitAddr(i, 0), 31)
	for _, a := range avoid {
		if a.Overlaps(p) {
			return false
		}
	}
	return true
}

// sameTransit reports whether a stored link is the one wanted (the same
// ends, service and zone); only then does it keep its number.
func sameTransit(have *Transit, want *wantedTransit) bool {
	return have.EndpointID == want.EndpointID && have.ServiceID == want.ServiceID &&
		have.LoadBalancerARN == want.LoadBalancerARN && have.Zone == want.Zone &&
		have.Region == want.Region && transitFits(have.Index, want.avoid)
}

// transitPlan compares the wanted links with the stored ones.
func (c *Cloud) transitPlan(stx store.Tx) (want map[string]*wantedTransit, have map[string]*Transit, err error) {
	want = map[string]*wantedTransit{}
	for _, region := range c.order {
		tx := &Tx{Tx: stx, c: c, who: Caller{Region: region}}
		if err := tx.wantedTransits(want); err != nil {
			return nil, nil, err
		}
	}
	have, err = storedTransits(stx)
	return want, have, err
}

func transitsInSync(want map[string]*wantedTransit, have map[string]*Transit) bool {
	if len(want) != len(have) {
		return false
	}
	for pair, w := range want {
		h, ok := have[pair]
		if !ok || !sameTransit(h, w) {
			return false
		}
	}
	return true
}

// SyncTransits allocates the transit links that available interface
// endpoints call for and frees those nothing calls for any more, in one
// transaction; it reports whether anything changed. A link that stays
// keeps its number. New links take the lowest free numbers that clear
// both VPCs' CIDRs. It is idempotent and safe to call at any time.
func (c *Cloud) SyncTransits() (changed bool, err error) {
	_, err = c.st.Update(func(stx store.Tx) error {
		changed = false
		want, have, err := c.transitPlan(stx)
		if err != nil {
			return err
		}
		// Free what is no longer wanted (or wanted differently).
		for pair, h := range have {
			if w, ok := want[pair]; ok && sameTransit(h, w) {
				continue
			}
			if err := stx.Delete(transitPrefix + pair); err != nil {
				return err
			}
			delete(have, pair)
			changed = true
		}
		var missing []string
		for pair := range want {
			if _, ok := have[pair]; !ok {
				missing = append(missing, pair)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		// In a stable order: by endpoint, zone, load balancer.
		sort.Slice(missing, func(i, j int) bool {
			a, b := want[missing[i]], want[missing[j]]
			if a.EndpointID != b.EndpointID {
				return a.EndpointID < b.EndpointID
			}
			if a.Zone != b.Zone {
				return a.Zone < b.Zone
			}
			return a.LoadBalancerARN < b.LoadBalancerARN
		})
		used := map[int]bool{}
		for _, h := range have {
			used[h.Index] = true
		}
		for _, pair := range missing {
			w := want[pair]
			i := 0
			for ; i < transitLinks && (used[i] || !transitFits(i, w.avoid)); i++ {
			}
			if i >= transitLinks {
				return fmt.Errorf("core: the transit pool %s is exhausted", TransitPool)
			}
			used[i] = true
			t := w.Transit
			t.Index, t.Created = i, c.Now()
			if err := putJSON(stx, transitPrefix+pair, t); err != nil {
				return err
			}
			changed = true
		}
		return nil
	})
	return changed, err
}
