package dataplane

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/netns"
	"github.com/isthmusnet/isthmus/proxy"
)

// Proxies is the Follower that serves the TCP listeners whose target group
// enables proxy protocol v2 (proxy_protocol_v2.enabled) when the kernel
// does not write the headers. With the fast path it does, at interface
// endpoints and for clients in a load balancer's own VPC (PPv2Entry: the
// NAT program writes the header into each flow and moves its sequence
// numbers, so those flows are kernel NAT like any other), and Proxies
// serve nothing (ProxyOptions.Kernel). Without the fast path, the
// endpoint's NAT table has no DNAT for those listener ports (plan_pl.go)
// and connections reach the endpoint namespace's own stack, where a
// proxy.Proxy listens on <endpoint IP>:<port>:
//
//	client ─▶ eth0 E-ip:port ─ Proxy (endpoint ns) ─ tr… ══ /31 ══ tr… ─DNAT (jhash)─▶ eth0 ─▶ target:port
//	          accepted here    dials from the endpoint's          SNAT to the NLB's private IP
//	                           transit address, writes the header
//
// For every accepted connection the proxy dials the load balancer node's
// transit address at the listener port from the endpoint's own transit
// address (a socket made in the endpoint namespace) and writes a PROXY v2
// header before any byte of the client's: source the consumer's address
// and port as accepted, destination the endpoint's address and the
// listener port, and AWS's PP2_TYPE_AWS (0xEA) TLV with subtype
// PP2_SUBTYPE_AWS_VPCE_ID (0x01) holding the endpoint id. The node side
// stays kernel NAT, so the target sees the load balancer's private IP as
// the TCP peer and the consumer's address in the header, as on AWS. Bytes
// then move by splice(2).
//
// The endpoint's security groups still apply to the client: the
// connection passes the input chain of its inet isthmus table (sg-in)
// instead of the forward chain. The proxy's own connection to the node
// leaves through the output chain, which accepts what goes to the nodes'
// transit addresses before sg-out (plan_sg.go): as on AWS, the endpoint's
// egress rules do not govern the PrivateLink hop, and a group without any
// still carries the proxied listeners (while eth0 stays closed to what
// sg-out does not allow). The kernel counts these connections for package
// metrics as it counts the NAT flows (nat.go, "Named counters").
//
// A proxy runs per endpoint interface and listener port, once the
// interface's kernel state is ready; a listener whose transit link
// changes is restarted (its connections are reset), one that goes away is
// closed (likewise). A restarted daemon listens again; the connections the
// old proxies held are gone with them (they were userspace connections).
//
// Clients in the provider VPC that use the load balancer directly reach
// a proxy in the load balancer node's namespace: for such listener ports
// the node's prerouting chain accepts what comes in on eth0 before its
// DNAT (nat.go, ruleLBLocal), and a proxy listening on <NLB IP>:<port>
// picks a routable target of the node (as the kernel would: healthy, of
// its zone unless cross-zone, fail-open; by a hash of the client's
// address and port), dials it from the NLB's private IP and writes a
// header with the client's address and port as the source and the NLB's
// address and listener port as the destination (no AWS TLV: the
// connection did not come through an endpoint). The node's targets change
// with health without restarting the proxy.
type Proxies struct {
	prefix string
	log    *slog.Logger
	kernel bool // ProxyOptions.Kernel

	mu      sync.Mutex
	closed  bool
	running map[ProxyKey]*runningProxy
}

// ProxyKey names one proxied listener of an endpoint interface.
type ProxyKey struct {
	ENI  string
	Port int32
}

// proxySpec is what a proxied listener is.
type proxySpec struct {
	ns       string
	listen   netip.AddrPort // the endpoint's (the NLB's) address and the listener port
	to       netip.AddrPort // the node's transit address and the listener port; zero at a node
	from     netip.Addr     // the endpoint's transit address (the NLB's private IP)
	endpoint string         // the endpoint id, for the TLV; "" at a node

	// backends are a node proxy's routable targets (not part of the
	// spec's identity: they change without a restart).
	backends []Backend
}

// key is what identifies a running proxy: a change restarts it.
type specKey struct {
	ns, endpoint string
	listen, to   netip.AddrPort
	from         netip.Addr
}

func (s proxySpec) key() specKey {
	return specKey{ns: s.ns, endpoint: s.endpoint, listen: s.listen, to: s.to, from: s.from}
}

type runningProxy struct {
	spec     proxySpec
	backends atomic.Pointer[[]Backend]
	p        *proxy.Proxy
	done     chan struct{}
}

// ProxyOptions tune Proxies.
type ProxyOptions struct {
	Prefix string // DefaultPrefix if ""
	Logger *slog.Logger
	// Kernel leaves every PPv2 listener to the fast path, whose NAT
	// program writes the headers (PPv2Entry): set it with
	// PlanOptions.FastPath. Proxies then serve nothing.
	Kernel bool
}

// NewProxies returns the PPv2 proxy follower; Close stops it.
func NewProxies(opts ProxyOptions) *Proxies {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proxies{prefix: opts.Prefix, log: log, kernel: opts.Kernel, running: map[ProxyKey]*runningProxy{}}
}

// wantProxies returns the proxied listeners of top whose endpoint
// interface is ready.
func (x *Proxies) wantProxies(top *core.Topology, ready func(id string) bool) map[ProxyKey]proxySpec {
	if x.kernel {
		return map[ProxyKey]proxySpec{} // the fast path writes every header
	}
	ips := map[string]netip.Addr{}
	for _, n := range top.NetworkInterfaces {
		if a, err := netip.ParseAddr(n.PrivateIP); err == nil && a.Is4() {
			ips[n.ID] = a
		}
	}
	want := map[ProxyKey]proxySpec{}
	for eni, ls := range EndpointListeners(top) {
		ip, ok := ips[eni]
		if !ok || !ready(eni) {
			continue
		}
		for _, l := range ls {
			if !l.PPv2 || !ready(l.Transit.LoadBalancerENI) {
				continue
			}
			want[ProxyKey{ENI: eni, Port: l.Port}] = proxySpec{
				ns:       ENINamespace(x.prefix, eni),
				listen:   netip.AddrPortFrom(ip, uint16(l.Port)),
				to:       netip.AddrPortFrom(l.Transit.LoadBalancerAddr(), uint16(l.Port)),
				from:     l.Transit.EndpointAddr(),
				endpoint: l.Transit.EndpointID,
			}
		}
	}
	// Load balancer nodes: their PPv2 listeners, for clients in their VPC.
	pl := newPLPlanner(top, nil, nil, PlanOptions{})
	for _, lb := range top.LoadBalancers {
		if lb.Type != core.LoadBalancerNetwork {
			continue
		}
		for _, z := range lb.Zones {
			ip, ok := ips[z.NetworkInterfaceID]
			if !ok || !ready(z.NetworkInterfaceID) {
				continue
			}
			for _, l := range pl.listeners[lb.ARN()] {
				tg := pl.tgByARN[l.TargetGroupARN]
				protos := listenerProtos(l.Protocol)
				if tg == nil || len(protos) == 0 || protos[0] != 6 || tg.Attributes["proxy_protocol_v2.enabled"] != "true" {
					continue
				}
				bs, _ := pl.routable(lb, tg, z.ZoneName)
				want[ProxyKey{ENI: z.NetworkInterfaceID, Port: l.Port}] = proxySpec{
					ns:       ENINamespace(x.prefix, z.NetworkInterfaceID),
					listen:   netip.AddrPortFrom(ip, uint16(l.Port)),
					from:     ip,
					backends: bs,
				}
			}
		}
	}
	return want
}

// Sync implements Follower: it starts the proxies top wants and stops the
// others.
func (x *Proxies) Sync(top *core.Topology, ready func(id string) bool) error {
	want := x.wantProxies(top, ready)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	for k, r := range x.running {
		if s, ok := want[k]; !ok || s.key() != r.spec.key() {
			r.stop()
			delete(x.running, k)
			x.log.Info("ppv2: stopped a proxied listener", "eni", k.ENI, "port", k.Port)
		}
	}
	keys := make([]ProxyKey, 0, len(want))
	for k := range want {
		if x.running[k] == nil {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].ENI != keys[j].ENI {
			return keys[i].ENI < keys[j].ENI
		}
		return keys[i].Port < keys[j].Port
	})
	for k, r := range x.running {
		bs := want[k].backends
		r.backends.Store(&bs)
	}
	var errs []error
	for _, k := range keys {
		r, err := x.start(want[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("ppv2 proxy of %s port %d: %w", k.ENI, k.Port, err))
			continue
		}
		x.running[k] = r
		x.log.Info("ppv2: serving a proxied listener", "eni", k.ENI, "listen", r.spec.listen, "to", r.spec.to, "endpoint", r.spec.endpoint)
	}
	return errors.Join(errs...)
}

// start listens in the endpoint's namespace and serves.
func (x *Proxies) start(s proxySpec) (*runningProxy, error) {
	ln, err := netns.Listen(s.ns, "tcp4", s.listen.String())
	if err != nil {
		return nil, err
	}
	dial := DialFrom(s.ns, s.from)
	to, endpoint := s.to.String(), s.endpoint
	r := &runningProxy{spec: s, done: make(chan struct{})}
	bs := s.backends
	r.backends.Store(&bs)
	r.p = proxy.New(proxy.Config{
		Dial: func(ctx context.Context, c net.Conn) (net.Conn, error) {
			if endpoint != "" {
				return dial(ctx, "tcp4", to)
			}
			// A node: one of its routable targets, by the client's
			// address and port.
			bs := *r.backends.Load()
			if len(bs) == 0 {
				return nil, errors.New("no routable target")
			}
			h := fnv.New32a()
			h.Write([]byte(c.RemoteAddr().String()))
			b := bs[h.Sum32()%uint32(len(bs))]
			return dial(ctx, "tcp4", netip.AddrPortFrom(b.Addr, uint16(b.Port)).String())
		},
		Header: func(c net.Conn) (*proxy.Header, error) {
			h := proxy.HeaderFor(c)
			h.VPCEndpointID = endpoint
			return &h, nil
		},
		Logger: x.log,
	})
	p := r.p
	go func() {
		defer close(r.done)
		if err := p.Serve(ln); err != nil && !errors.Is(err, proxy.ErrClosed) {
			x.log.Warn("ppv2: a proxied listener failed", "listen", s.listen, "netns", s.ns, "error", err)
		}
	}()
	return r, nil
}

func (r *runningProxy) stop() {
	r.p.Close()
	<-r.done
}

// Running returns the proxied listeners being served.
func (x *Proxies) Running() []ProxyKey {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]ProxyKey, 0, len(x.running))
	for k := range x.running {
		out = append(out, k)
	}
	return out
}

// Stats returns the counters of one proxied listener.
func (x *Proxies) Stats(k ProxyKey) (proxy.Stats, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	r := x.running[k]
	if r == nil {
		return proxy.Stats{}, false
	}
	return r.p.Stats(), true
}

// Close stops every proxy (resetting their connections); Sync does
// nothing afterwards.
func (x *Proxies) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	for k, r := range x.running {
		r.stop()
		delete(x.running, k)
	}
	return nil
}
