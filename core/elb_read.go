package core

import (
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
			lb, err := tx.loadBalancing()
			if err != nil {
				return err
			}
			out.LoadBalancers = append(out.LoadBalancers, lb.LoadBalancers...)
			out.TargetGroups = append(out.TargetGroups, lb.TargetGroups...)
			out.Listeners = append(out.Listeners, lb.Listeners...)
			for arn, h := range lb.Health {
				out.Health[arn] = h
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
