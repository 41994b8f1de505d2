package core

import (
	"context"
	"sort"
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
}

// topologyKinds are the kinds a Topology holds; a change to any other key
// cannot change the topology.
var topologyKinds = []*kind{kindVpc, kindSubnet, kindENI, kindRouteTable, kindSecurityGroup}

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
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	sortByID(top.Vpcs)
	sortByID(top.Subnets)
	sortByID(top.NetworkInterfaces)
	sortByID(top.RouteTables)
	sortByID(top.SecurityGroups)
	return top, rev, nil
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
