package core

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/isthmusnet/isthmus/store"
)

// LoadBalancing is every load balancer, target group (with its targets),
// listener and target health record of every account in every region: what
// the data plane needs to carry load-balanced traffic. It is one consistent
// snapshot, taken at store revision Rev.
type LoadBalancing struct {
	Rev           int64
	LoadBalancers []*LoadBalancer
	TargetGroups  []*TargetGroup
	Listeners     []*Listener
	// Health holds the recorded health of each registered target, by
	// target group ARN. (DescribeTargetHealth derives "unused" on top of
	// it for groups no load balancer uses.)
	Health map[string]map[TargetRef]TargetHealth
}

// LoadBalancing reads the whole load-balancing state. Objects are in store
// order (region, then id); target groups carry their LoadBalancerARNs.
func (c *Cloud) LoadBalancing() (*LoadBalancing, error) {
	out := &LoadBalancing{Health: map[string]map[TargetRef]TargetHealth{}}
	err := c.st.View(func(stx store.Tx) error {
		out.Rev = stx.Rev()
		for _, region := range c.order {
			tx := &Tx{Tx: stx, c: c, who: Caller{Region: region}}
			lbs, err := listAll[LoadBalancer](tx, kindLoadBalancer, nil)
			if err != nil {
				return err
			}
			tgs, err := listAll[TargetGroup](tx, kindTargetGroup, nil)
			if err != nil {
				return err
			}
			ls, err := listAll[Listener](tx, kindListener, nil)
			if err != nil {
				return err
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
			var derr error
			err = stx.Scan("r/"+region+"/elb-th/", "", func(key string, b []byte) bool {
				// r/<region>/elb-th/<tg id>/<target id>/<port>
				parts := strings.Split(strings.TrimPrefix(key, "r/"+region+"/elb-th/"), "/")
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
				return err
			}
			out.LoadBalancers = append(out.LoadBalancers, lbs...)
			out.TargetGroups = append(out.TargetGroups, tgs...)
			out.Listeners = append(out.Listeners, ls...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
