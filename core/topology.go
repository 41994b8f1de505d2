package core

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/isthmusnet/isthmus/store"
)

// Topology is every network object of every account in every region, as
// one consistent snapshot: what the data plane turns into kernel state.
// Each list is sorted by ID. The objects are copies; changing them changes
// nothing stored.
type Topology struct {
	Vpcs              []*Vpc
	Subnets           []*Subnet
	NetworkInterfaces []*NetworkInterface
	RouteTables       []*RouteTable
	SecurityGroups    []*SecurityGroup
	// PrefixLists holds the entries (CIDRs) of every prefix list that a
	// security group rule names, by id. A list the core does not know is
	// absent: rules naming it match nothing.
	PrefixLists map[string][]string

	// Load balancing: every load balancer, target group (with its
	// registered targets), listener, and the recorded health of each
	// target by target group ARN (a target without a record is initial).
	LoadBalancers []*LoadBalancer
	TargetGroups  []*TargetGroup
	Listeners     []*Listener
	TargetHealth  map[string]map[TargetRef]TargetHealth

	// PrivateLink: every endpoint service, every VPC endpoint with the
	// DNS names of the interface endpoints (EndpointNames, by endpoint
	// id), and the transit links allocated between available interface
	// endpoints and their services' load balancers (sorted by Index).
	EndpointServices []*EndpointService
	VpcEndpoints     []*VpcEndpoint
	EndpointNames    map[string]EndpointNames
	Transits         []*Transit
	// TransitsPending is true when the transit links stored are not the
	// ones the endpoints call for: call SyncTransits, then take a new
	// Topology.
	TransitsPending bool
}

// EndpointNames are an interface endpoint's DNS names, as
// DescribeVpcEndpoints lists them in DnsEntries.
type EndpointNames struct {
	// Regional resolves to every one of the endpoint's interfaces.
	Regional string
	// Zonal resolves, per zone, to the endpoint's interface there.
	Zonal map[string]string
	// Private is the service's private DNS name when the endpoint has
	// private DNS enabled and the name is verified; "" otherwise.
	Private string
}

// topologyKinds are the kinds a Topology holds; a change to any other key
// cannot change the topology.
var topologyKinds = []*kind{kindVpc, kindSubnet, kindENI, kindRouteTable, kindSecurityGroup,
	kindLoadBalancer, kindTargetGroup, kindListener, kindVpcEndpoint, kindEndpointService}

// targetHealthSegment is the key segment of target health records
// (r/<region>/elb-th/<tg id>/<target>/<port>), part of the topology too.
const targetHealthSegment = "elb-th"

// Topology reads the whole topology in one store View and returns it with
// the store revision it reflects: a Watch from that revision sees exactly
// the changes that came after the snapshot.
func (c *Cloud) Topology() (*Topology, int64, error) {
	top := &Topology{}
	var rev int64
	err := c.st.View(func(stx store.Tx) error {
		rev = stx.Rev()
		for _, region := range c.order {
			tx := &Tx{Tx: stx, c: c, who: Caller{Region: region}}
			if err := appendAll(tx, kindVpc, &top.Vpcs); err != nil {
				return err
			}
			if err := appendAll(tx, kindSubnet, &top.Subnets); err != nil {
				return err
			}
			if err := appendAll(tx, kindENI, &top.NetworkInterfaces); err != nil {
				return err
			}
			if err := appendAll(tx, kindRouteTable, &top.RouteTables); err != nil {
				return err
			}
			n := len(top.SecurityGroups)
			if err := appendAll(tx, kindSecurityGroup, &top.SecurityGroups); err != nil {
				return err
			}
			if err := tx.appendPrivateLink(top); err != nil {
				return err
			}
			for _, g := range top.SecurityGroups[n:] {
				for _, r := range g.Rules {
					if r.PrefixList == "" {
						continue
					}
					if _, done := top.PrefixLists[r.PrefixList]; done {
						continue
					}
					if cidrs, ok := tx.prefixListEntries(r.PrefixList); ok {
						if top.PrefixLists == nil {
							top.PrefixLists = map[string][]string{}
						}
						top.PrefixLists[r.PrefixList] = cidrs
					}
				}
			}
		}
		want, have, err := c.transitPlan(stx)
		if err != nil {
			return err
		}
		top.TransitsPending = !transitsInSync(want, have)
		for pair, t := range have {
			if w, ok := want[pair]; ok && sameTransit(t, w) {
				top.Transits = append(top.Transits, t)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	sort.Slice(top.Transits, func(i, j int) bool { return top.Transits[i].Index < top.Transits[j].Index })
	sortByID(top.Vpcs)
	sortByID(top.Subnets)
	sortByID(top.NetworkInterfaces)
	sortByID(top.RouteTables)
	sortByID(top.SecurityGroups)
	sortByID(top.LoadBalancers)
	sortByID(top.TargetGroups)
	sortByID(top.Listeners)
	sortByID(top.EndpointServices)
	sortByID(top.VpcEndpoints)
	return top, rev, nil
}

// appendPrivateLink adds the region's load balancing and PrivateLink
// objects to top.
func (tx *Tx) appendPrivateLink(top *Topology) error {
	lb, err := tx.loadBalancing()
	if err != nil {
		return err
	}
	top.LoadBalancers = append(top.LoadBalancers, lb.LoadBalancers...)
	top.TargetGroups = append(top.TargetGroups, lb.TargetGroups...)
	top.Listeners = append(top.Listeners, lb.Listeners...)
	for arn, h := range lb.Health {
		if top.TargetHealth == nil {
			top.TargetHealth = map[string]map[TargetRef]TargetHealth{}
		}
		top.TargetHealth[arn] = h
	}
	if err := appendAll(tx, kindEndpointService, &top.EndpointServices); err != nil {
		return err
	}
	n := len(top.VpcEndpoints)
	if err := appendAll(tx, kindVpcEndpoint, &top.VpcEndpoints); err != nil {
		return err
	}
	for _, e := range top.VpcEndpoints[n:] {
		names, ok := tx.endpointNames(e)
		if !ok {
			continue
		}
		if top.EndpointNames == nil {
			top.EndpointNames = map[string]EndpointNames{}
		}
		top.EndpointNames[e.ID] = names
	}
	return nil
}

// endpointNames sorts an interface endpoint's DnsEntries into its names:
// dnsEntries lists the regional name first, then one zonal name per
// interface in the order of e.Subnets, then the private name if any.
func (tx *Tx) endpointNames(e *VpcEndpoint) (EndpointNames, bool) {
	entries := tx.dnsEntries(e)
	if len(entries) < 1+len(e.Subnets) {
		return EndpointNames{}, false
	}
	out := EndpointNames{Regional: entries[0].Name, Zonal: map[string]string{}}
	for i, s := range e.Subnets {
		out.Zonal[s.Zone] = entries[1+i].Name
	}
	if rest := entries[1+len(e.Subnets):]; len(rest) > 0 {
		out.Private = rest[0].Name
	}
	return out, true
}

func appendAll[T any, PT interface {
	*T
	Object
}](tx *Tx, k *kind, out *[]PT) error {
	objs, err := listAll[T, PT](tx, k, nil)
	*out = append(*out, objs...)
	return err
}

func sortByID[PT Object](objs []PT) {
	sort.Slice(objs, func(i, j int) bool { return objs[i].meta().ID < objs[j].meta().ID })
}

// IsTopologyKey reports whether a store key (as a Watch event names it)
// holds an object of the Topology, so that a follower of the change feed
// can ignore the rest (accounts, keys, tokens, address records, and kinds
// the topology does not include).
func IsTopologyKey(key string) bool {
	if strings.HasPrefix(key, transitPrefix) {
		return true
	}
	rest, ok := strings.CutPrefix(key, "r/")
	if !ok {
		return false
	}
	_, rest, ok = strings.Cut(rest, "/") // region
	if !ok {
		return false
	}
	name, _, ok := strings.Cut(rest, "/")
	if !ok {
		return false
	}
	if name == targetHealthSegment {
		return true
	}
	for _, k := range topologyKinds {
		if k.name == name {
			return true
		}
	}
	return false
}

// Watch follows the store's change feed from revision from, as
// store.Store.Watch does (including ErrCompacted when from is too old:
// take a new Topology and watch from its revision).
func (c *Cloud) Watch(ctx context.Context, from int64) (<-chan store.Change, error) {
	return c.st.Watch(ctx, from)
}

// loadBalancing reads the region's load balancers, target groups (with
// LoadBalancerARNs filled in), listeners and target health records, as
// Cloud.LoadBalancing does for every region.
func (tx *Tx) loadBalancing() (*LoadBalancing, error) {
	out := &LoadBalancing{Health: map[string]map[TargetRef]TargetHealth{}}
	region := tx.who.Region
	lbs, err := listAll[LoadBalancer](tx, kindLoadBalancer, nil)
	if err != nil {
		return nil, err
	}
	tgs, err := listAll[TargetGroup](tx, kindTargetGroup, nil)
	if err != nil {
		return nil, err
	}
	ls, err := listAll[Listener](tx, kindListener, nil)
	if err != nil {
		return nil, err
	}
	byID := map[string]*TargetGroup{}
	for _, tg := range tgs {
		byID[tg.ID] = tg
	}
	for _, l := range ls {
		if tg := byID[l.TargetGroupID]; tg != nil && !containsString(tg.LoadBalancerARNs, l.LoadBalancerARN) {
			tg.LoadBalancerARNs = append(tg.LoadBalancerARNs, l.LoadBalancerARN)
			sort.Strings(tg.LoadBalancerARNs)
		}
	}
	prefix := "r/" + region + "/" + targetHealthSegment + "/"
	var derr error
	err = tx.Scan(prefix, "", func(key string, b []byte) bool {
		// r/<region>/elb-th/<tg id>/<target id>/<port>
		parts := strings.Split(strings.TrimPrefix(key, prefix), "/")
		if len(parts) != 3 || byID[parts[0]] == nil {
			return true
		}
		port, err := strconv.Atoi(parts[2])
		if err != nil {
			return true
		}
		h, err := decodeJSON[TargetHealth](b)
		if err != nil {
			derr = fmt.Errorf("decode %s: %w", key, err)
			return false
		}
		arn := byID[parts[0]].ARN()
		if out.Health[arn] == nil {
			out.Health[arn] = map[TargetRef]TargetHealth{}
		}
		out.Health[arn][TargetRef{ID: parts[1], Port: int32(port)}] = *h
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	out.LoadBalancers, out.TargetGroups, out.Listeners = lbs, tgs, ls
	return out, nil
}
