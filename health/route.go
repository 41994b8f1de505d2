package health

// Route returns the targets new flows may go to, given each target's state:
// the healthy ones; or, when none is healthy, every target that is still
// registered (fail-open: "If all targets fail health checks at the same
// time in all enabled Availability Zones, the load balancer fails open"),
// in which case failOpen is true. Draining targets (deregistering) and
// unused ones (not registered, or in a zone the load balancer does not
// have) never get new flows. An empty result means nothing to route to.
//
// The order of targets is kept. Which targets the data plane passes in
// (one zone's, or every zone's with cross-zone load balancing) is its
// choice; the rule is the same.
func Route[T any](targets []T, state func(T) State) (route []T, failOpen bool) {
	var eligible []T
	for _, t := range targets {
		switch state(t) {
		case Healthy:
			route = append(route, t)
		case Draining, Unused:
			continue
		}
		eligible = append(eligible, t)
	}
	if len(route) > 0 {
		return route, false
	}
	return eligible, len(eligible) > 0
}
