package dataplane

import (
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/netns"
)

// Draining is the Follower that completes the deregistration of draining
// targets (core/draining.go): a deregistered target gets no new flows at
// once (the plan routes to registered targets only), its flows go on, and
// when the target group's deregistration_delay.timeout_seconds is over,
// Draining ends them if deregistration_delay.connection_termination.enabled
// is true (conntrack entries deleted in the load balancer's namespaces:
// the next packet is reset) and completes the deregistration (core's
// EndDraining: DescribeTargetHealth stops listing it). A target with no
// flow left completes at once, as AWS does. The deadline is in the store,
// so a restarted daemon keeps it.
type Draining struct {
	end EndDraining
	ct  Conntrack
	log *slog.Logger
	// Poll is how often flows are counted while targets drain (1s).
	Poll time.Duration

	prefixNS string

	mu      sync.Mutex
	entries map[HealthKey]*drainEntry
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// EndDraining completes a target's deregistration: (*core.Cloud).EndDraining.
type EndDraining func(region, tgARN string, target core.TargetRef) error

// Conntrack is what Draining needs of the kernel's flows: *LinuxKernel.
type Conntrack interface {
	ConntrackFlusher
	// CountFlowsTo counts, in namespace ns, the flows NATed to dst.
	CountFlowsTo(ns string, dst netip.AddrPort) (int, error)
}

type drainEntry struct {
	until     time.Time
	dst       netip.AddrPort // invalid when the target's address is unknown
	nodes     []string
	terminate bool
}

// NewDraining starts the draining follower; Close stops it.
func NewDraining(end EndDraining, ct Conntrack, prefix string, log *slog.Logger) *Draining {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	d := &Draining{end: end, ct: ct, log: log, Poll: time.Second, entries: map[HealthKey]*drainEntry{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	d.prefixNS = prefix
	go d.run()
	return d
}

// Sync implements Follower.
func (d *Draining) Sync(top *core.Topology, ready func(id string) bool) error {
	pl := newPLPlanner(top, nil, nil, PlanOptions{})
	lbs := map[string]*core.LoadBalancer{}
	for _, lb := range top.LoadBalancers {
		lbs[lb.ARN()] = lb
	}
	entries := map[HealthKey]*drainEntry{}
	for _, tg := range top.TargetGroups {
		recs := top.TargetHealth[tg.ARN()]
		var nodes []string
		for _, arn := range tg.LoadBalancerARNs {
			if lb := lbs[arn]; lb != nil {
				for _, z := range lb.Zones {
					nodes = append(nodes, ENINamespace(d.prefixNS, z.NetworkInterfaceID))
				}
			}
		}
		for ref, h := range recs {
			if h.State != core.TargetDraining || h.Until.IsZero() {
				continue
			}
			e := &drainEntry{until: h.Until, nodes: nodes,
				terminate: tg.Attributes["deregistration_delay.connection_termination.enabled"] == "true"}
			if a, ok := pl.targetAddr(tg, core.Target{ID: ref.ID, Port: ref.Port}); ok {
				e.dst = netip.AddrPortFrom(a, uint16(ref.Port))
			}
			entries[HealthKey{Region: tg.Region, TG: tg.ARN(), Target: ref.ID, Port: ref.Port}] = e
		}
	}
	d.mu.Lock()
	d.entries = entries
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return nil
}

func (d *Draining) run() {
	defer close(d.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next := d.pass(time.Now())
		t.Reset(next)
		select {
		case <-d.stop:
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

// pass completes what is due and returns how long to wait.
func (d *Draining) pass(now time.Time) time.Duration {
	d.mu.Lock()
	due := map[HealthKey]*drainEntry{}
	for k, e := range d.entries {
		due[k] = e
	}
	d.mu.Unlock()
	wait := time.Hour
	for k, e := range due {
		over := !now.Before(e.until)
		if !over && !d.idle(e) {
			wait = min(wait, e.until.Sub(now), d.Poll)
			continue
		}
		if over && e.terminate && e.dst.IsValid() {
			for _, ns := range e.nodes {
				if n, err := d.ct.FlushConntrackTo(ns, 0, e.dst); err != nil && !errors.Is(err, netns.ErrNotExist) {
					d.log.Warn("draining: ending a deregistered target's flows failed", "netns", ns, "error", err)
				} else if n > 0 {
					d.log.Info("draining: ended the flows of a deregistered target", "target", k.Target, "netns", ns, "flows", n)
				}
			}
		}
		if err := d.end(k.Region, k.TG, core.TargetRef{ID: k.Target, Port: k.Port}); err != nil {
			d.log.Warn("draining: completing a deregistration failed", "target", k.Target, "error", err)
			wait = min(wait, d.Poll)
			continue
		}
		d.mu.Lock()
		if d.entries[k] == e {
			delete(d.entries, k)
		}
		d.mu.Unlock()
	}
	return max(wait, time.Millisecond)
}

// idle reports whether a draining target has no flow left in any node.
func (d *Draining) idle(e *drainEntry) bool {
	if !e.dst.IsValid() {
		return false
	}
	for _, ns := range e.nodes {
		n, err := d.ct.CountFlowsTo(ns, e.dst)
		if err != nil && !errors.Is(err, netns.ErrNotExist) {
			return false
		}
		if n > 0 {
			return false
		}
	}
	return true
}

// Close stops the follower.
func (d *Draining) Close() error {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	<-d.done
	return nil
}
