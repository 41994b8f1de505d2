package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/health"
	"github.com/isthmusnet/isthmus/netns"
)

// HealthChecks is the Follower that runs the health checks of the
// network load balancers' targets, from the load balancers' own
// namespaces, and writes what they find to the store (core's
// SetTargetHealth), which DescribeTargetHealth answers from and the plan
// routes by.
//
// Each registered target of a target group that a listener of a network
// load balancer forwards to, in a zone the load balancer has, is checked
// once: from the load balancer node in the target's zone (or, for a
// target in a zone the load balancer lacks, none: it is unused), with a
// socket created in that node's namespace and bound to its private IP, so
// the target sees the check come from the load balancer's address as AWS
// shows it. (AWS checks from every node; one node's view is enough for a
// single host.) The target group's HealthCheck settings give the protocol
// (TCP; HTTP and HTTPS with path and matcher), port, interval, timeout
// and thresholds; proxy_protocol_v2.enabled makes the checks send a PROXY
// v2 LOCAL header first. A check starts from the state the store holds,
// so a restarted daemon does not flap targets. Targets whose group has
// health checks disabled are not checked.
//
// When a target turns unhealthy and its group has
// target_health_state.unhealthy.connection_termination.enabled (the
// default for TCP), its flows are ended in the load balancer's namespaces
// (conntrack entries deleted: the next packet is reset), as AWS does.
type HealthChecks struct {
	prefix string
	report HealthReporter
	flush  ConntrackFlusher
	log    *slog.Logger

	checker *health.Checker[HealthKey]

	mu      sync.Mutex
	targets map[HealthKey]*checkedTarget
}

// HealthKey names one checked target.
type HealthKey struct {
	Region string
	TG     string // the target group's ARN
	Target string // its id (an address or an interface id)
	Port   int32
}

// checkedTarget is what a change of a target's health needs to know.
type checkedTarget struct {
	addr      netip.Addr
	proto     uint8 // of its listener, for conntrack; 0 for any
	nodes     []string
	terminate bool
}

// HealthReporter records a target's health: (*core.Cloud).SetTargetHealth.
type HealthReporter func(region, tgARN string, target core.TargetRef, state, reason, description string) error

// ConntrackFlusher deletes the conntrack entries of the flows NATed to a
// target in a namespace: *LinuxKernel is one.
type ConntrackFlusher interface {
	FlushConntrackTo(ns string, proto uint8, dst netip.AddrPort) (uint, error)
}

// HealthOptions tune HealthChecks.
type HealthOptions struct {
	Prefix string // DefaultPrefix if ""
	// Flusher ends the flows of targets that turn unhealthy; nil leaves
	// them.
	Flusher ConntrackFlusher
	// Checker tunes the health.Checker (clock, jitter); its Logger is
	// set from Logger.
	Checker health.Options
	Logger  *slog.Logger
}

// NewHealthChecks returns the health-check follower; Close stops it.
func NewHealthChecks(report HealthReporter, opts HealthOptions) *HealthChecks {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &HealthChecks{prefix: opts.Prefix, report: report, flush: opts.Flusher, log: log, targets: map[HealthKey]*checkedTarget{}}
	co := opts.Checker
	co.Logger = log
	h.checker = health.NewChecker(co, h.changed)
	return h
}

// Sync implements Follower: it checks the targets of top and stops
// checking the others. A target starts being checked once its load
// balancer node's namespace is ready.
func (h *HealthChecks) Sync(top *core.Topology, ready func(id string) bool) error {
	want := map[HealthKey]health.Spec{}
	info := map[HealthKey]*checkedTarget{}
	byARN := map[string]*core.TargetGroup{}
	for _, tg := range top.TargetGroups {
		byARN[tg.ARN()] = tg
	}
	ifaces := map[string]*core.NetworkInterface{}
	for _, n := range top.NetworkInterfaces {
		ifaces[n.ID] = n
	}
	lbs := map[string]*core.LoadBalancer{}
	for _, lb := range top.LoadBalancers {
		lbs[lb.ARN()] = lb
	}
	pl := newPLPlanner(top, nil, nil, PlanOptions{})
	var errs []error
	for _, l := range top.Listeners {
		lb, tg := lbs[l.LoadBalancerARN], byARN[l.TargetGroupARN]
		if lb == nil || tg == nil || lb.Type != core.LoadBalancerNetwork || !tg.HealthCheck.Enabled {
			continue
		}
		var proto uint8
		if l.Protocol == core.ProtocolTCP {
			proto = 6
		} else if l.Protocol == core.ProtocolUDP {
			proto = 17
		}
		var nodes []string
		for _, z := range lb.Zones {
			nodes = append(nodes, ENINamespace(h.prefix, z.NetworkInterfaceID))
		}
		for _, t := range tg.Targets {
			key := HealthKey{Region: tg.Region, TG: tg.ARN(), Target: t.ID, Port: t.Port}
			if _, done := want[key]; done {
				continue
			}
			var node *core.LoadBalancerZone
			for i := range lb.Zones {
				if lb.Zones[i].ZoneName == t.AvailabilityZone {
					node = &lb.Zones[i]
				}
			}
			addr, ok := pl.targetAddr(tg, t)
			if node == nil || !ok || !ready(node.NetworkInterfaceID) {
				continue
			}
			src, err := netip.ParseAddr(node.PrivateIP)
			if err != nil {
				continue
			}
			spec, err := h.spec(lb, l, tg, t, addr, ENINamespace(h.prefix, node.NetworkInterfaceID), src)
			if err != nil {
				errs = append(errs, fmt.Errorf("health check of %s in %s: %w", t.ID, tg.ARN(), err))
				continue
			}
			if rec, ok := top.TargetHealth[tg.ARN()][core.TargetRef{ID: t.ID, Port: t.Port}]; ok {
				spec.Initial = health.Status{State: health.State(rec.State), Reason: health.Reason(rec.Reason), Description: rec.Description}
			}
			want[key] = spec
			terminate := tg.Attributes["target_health_state.unhealthy.connection_termination.enabled"]
			info[key] = &checkedTarget{addr: addr, proto: proto, nodes: nodes,
				terminate: terminate == "true" || (terminate == "" && tg.Protocol == core.ProtocolTCP)}
		}
	}
	h.mu.Lock()
	for key := range h.targets {
		if _, ok := want[key]; !ok {
			delete(h.targets, key)
			h.mu.Unlock()
			h.checker.Remove(key)
			h.mu.Lock()
		}
	}
	for key, t := range info {
		h.targets[key] = t
	}
	h.mu.Unlock()
	keys := make([]HealthKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	for _, key := range keys {
		if err := h.checker.Set(key, want[key]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// spec is how one target is checked.
func (h *HealthChecks) spec(lb *core.LoadBalancer, l *core.Listener, tg *core.TargetGroup, t core.Target, addr netip.Addr, ns string, src netip.Addr) (health.Spec, error) {
	hc := tg.HealthCheck
	cfg := health.Config{
		Interval:           time.Duration(hc.Interval) * time.Second,
		Timeout:            time.Duration(hc.Timeout) * time.Second,
		HealthyThreshold:   int(hc.Healthy),
		UnhealthyThreshold: int(hc.Unhealthy),
	}
	if err := cfg.Validate(); err != nil {
		return health.Spec{}, err
	}
	port := int(t.Port)
	if hc.Port != "" && hc.Port != "traffic-port" {
		p, err := strconv.Atoi(hc.Port)
		if err != nil {
			return health.Spec{}, fmt.Errorf("health check port %q", hc.Port)
		}
		port = p
	}
	target := net.JoinHostPort(addr.String(), strconv.Itoa(port))
	dial := DialFrom(ns, src)
	ppv2 := tg.Attributes["proxy_protocol_v2.enabled"] == "true"
	var p health.Prober
	switch hc.Protocol {
	case "HTTP", "HTTPS":
		m, err := health.ParseMatcher(hc.Matcher)
		if hc.Matcher == "" {
			m, err = health.ParseMatcher("200-399")
		}
		if err != nil {
			return health.Spec{}, err
		}
		p = health.HTTPProbe{Dial: dial, Address: target, Host: net.JoinHostPort(src.String(), strconv.Itoa(int(l.Port))),
			Path: hc.Path, Matcher: m, ProxyProtocol: ppv2, TLS: hc.Protocol == "HTTPS"}
	default:
		p = health.TCPProbe{Dial: dial, Address: target, ProxyProtocol: ppv2}
	}
	return health.Spec{Config: cfg, Prober: p}, nil
}

// DialFrom returns a dialer whose sockets are made in namespace ns and
// bound to src: connections from a load balancer's own address.
func DialFrom(ns string, src netip.Addr) health.DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		var c net.Conn
		err := netns.DoNamed(ns, func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
			var err error
			c, err = d.DialContext(ctx, network, address)
			return err
		})
		return c, err
	}
}

// changed writes a change to the store and, for a target turning
// unhealthy whose group terminates its connections, ends its flows.
func (h *HealthChecks) changed(ch health.Change[HealthKey]) {
	k := ch.Key
	err := h.report(k.Region, k.TG, core.TargetRef{ID: k.Target, Port: k.Port}, string(ch.To.State), string(ch.To.Reason), ch.To.Description)
	if err != nil {
		// A target deregistered meanwhile is no longer ours to judge.
		h.log.Debug("health: recording a target's health failed", "target", k.Target, "port", k.Port, "error", err)
	} else {
		h.log.Info("health: target health changed", "target_group", k.TG, "target", k.Target, "port", k.Port,
			"from", ch.From.String(), "to", ch.To.String(), "check", ch.Result.String())
	}
	if ch.To.State != health.Unhealthy || ch.From.State == health.Unhealthy || h.flush == nil {
		return
	}
	h.mu.Lock()
	t := h.targets[k]
	h.mu.Unlock()
	if t == nil || !t.terminate {
		return
	}
	for _, ns := range t.nodes {
		if n, err := h.flush.FlushConntrackTo(ns, t.proto, netip.AddrPortFrom(t.addr, uint16(k.Port))); err != nil {
			h.log.Warn("health: ending an unhealthy target's flows failed", "netns", ns, "error", err)
		} else if n > 0 {
			h.log.Info("health: ended the flows of an unhealthy target", "target", k.Target, "netns", ns, "flows", n)
		}
	}
}

// Status returns a checked target's current status.
func (h *HealthChecks) Status(k HealthKey) (health.Status, bool) { return h.checker.Status(k) }

// Close stops every check.
func (h *HealthChecks) Close() error { return h.checker.Close() }
