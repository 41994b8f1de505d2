package dns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/netns"
)

// Options tune a Manager.
type Options struct {
	// Prefix is the data plane's namespace prefix (dataplane.DefaultPrefix).
	Prefix string
	// Upstream, if set, is the resolver (host:port) that names no zone
	// holds are forwarded to; otherwise they are NXDOMAIN.
	Upstream string
	// UpstreamNetns names the network namespace the upstream is reached
	// from; "" is this process's own.
	UpstreamNetns string
	// Zones are added to EC2Hostnames.
	Zones []ZoneSource
	// Port is the port the resolvers listen on (53).
	Port   int
	Logger *slog.Logger
}

// Manager runs the resolver of every VPC; see the package documentation.
// It is a dataplane.Follower.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	servers map[string]*vpcServer // by VPC id
	closed  bool
}

type vpcServer struct {
	srv   *Server
	ns    string
	ino   uint64 // of the namespace the sockets are in
	addrs string
}

// NewManager returns a Manager with no server running.
func NewManager(opts Options) *Manager {
	if opts.Prefix == "" {
		opts.Prefix = dataplane.DefaultPrefix
	}
	if opts.Port == 0 {
		opts.Port = 53
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{opts: opts, log: log, servers: map[string]*vpcServer{}}
}

// ErrClosed is returned by Sync after Close.
var ErrClosed = errors.New("dns: manager closed")

// Sync makes the running servers those of top's VPCs, each answering as
// its VPC's attributes and the zones say. A VPC's server starts once
// ready(vpc id) says its namespace and addresses exist; a running one is
// reconfigured in place; one whose namespace was replaced restarts; the
// servers of VPCs no longer in top close. It returns the errors of the
// servers that could not start (Sync again to retry them).
func (m *Manager) Sync(top *core.Topology, ready func(id string) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	zones := m.zonesByVPC(top)
	var errs []error
	want := map[string]bool{}
	for _, v := range top.Vpcs {
		cidr, ok := core.ParseCIDR(v.CidrBlock)
		if !ok {
			continue
		}
		want[v.ID] = true
		h := m.chain(v, zones.of(v.ID))
		ns := dataplane.VpcNamespace(m.opts.Prefix, v.ID)
		addrs := []netip.Addr{dataplane.ResolverAddr(cidr), dataplane.LinkLocalResolver}
		key := addrsKey(addrs)
		cur := m.servers[v.ID]
		ino, err := nsInode(ns)
		if cur != nil && err == nil && cur.ino == ino && cur.addrs == key {
			cur.srv.SetHandler(h)
			continue
		}
		if !ready(v.ID) || err != nil {
			if cur != nil {
				cur.srv.SetHandler(h) // until the data plane settles
			}
			continue
		}
		if cur != nil {
			m.log.Info("dns: restarting a resolver whose namespace changed", "vpc", v.ID)
			cur.srv.Close()
			delete(m.servers, v.ID)
		}
		srv, err := Listen(ns, addrs, m.opts.Port, h, m.log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.servers[v.ID] = &vpcServer{srv: srv, ns: ns, ino: ino, addrs: key}
		m.log.Debug("dns: resolver started", "vpc", v.ID, "netns", ns, "addrs", key)
	}
	for id, cur := range m.servers {
		if !want[id] {
			cur.srv.Close()
			delete(m.servers, id)
			m.log.Debug("dns: resolver stopped", "vpc", id)
		}
	}
	return errors.Join(errs...)
}

// chain is the handler chain of one VPC's resolver.
func (m *Manager) chain(v *core.Vpc, zones []Zone) Handler {
	if !v.EnableDNSSupport {
		return Refuse{}
	}
	var tail Handler = NXDomain{}
	if m.opts.Upstream != "" {
		f := &Forward{Upstream: m.opts.Upstream}
		if ns := m.opts.UpstreamNetns; ns != "" {
			f.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				timeout := 2 * time.Second
				if dl, ok := ctx.Deadline(); ok {
					timeout = time.Until(dl)
				}
				return netns.Dial(ns, network, addr, timeout)
			}
		}
		tail = f
	}
	return NewZones(zones, tail)
}

// vpcZones are the zones of one Sync: those every VPC sees, and those of
// each VPC.
type vpcZones struct {
	global []Zone
	vpc    map[string][]Zone
}

func (z vpcZones) of(id string) []Zone {
	return append(append([]Zone(nil), z.global...), z.vpc[id]...)
}

func (m *Manager) zonesByVPC(top *core.Topology) vpcZones {
	out := vpcZones{vpc: map[string][]Zone{}}
	for _, src := range append([]ZoneSource{EC2Hostnames}, m.opts.Zones...) {
		for _, z := range src(top) {
			if z.VPCs == nil {
				out.global = append(out.global, z)
				continue
			}
			for _, id := range z.VPCs {
				out.vpc[id] = append(out.vpc[id], z)
			}
		}
	}
	return out
}

func addrsKey(addrs []netip.Addr) string {
	s := ""
	for _, a := range addrs {
		s += a.String() + " "
	}
	return s
}

// nsInode identifies the namespace mounted on a name.
func nsInode(name string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(netns.Path(name), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// ServerInfo describes a running resolver.
type ServerInfo struct {
	VpcID     string
	Namespace string
	Addrs     []netip.Addr
	Port      int
}

// Servers lists the running resolvers, by VPC id.
func (m *Manager) Servers() []ServerInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ServerInfo, 0, len(m.servers))
	for id, s := range m.servers {
		out = append(out, ServerInfo{VpcID: id, Namespace: s.ns, Addrs: s.srv.addrs, Port: s.srv.port})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VpcID < out[j].VpcID })
	return out
}

// Close stops every server. The Manager cannot be used afterwards.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var errs []error
	for id, s := range m.servers {
		errs = append(errs, s.srv.Close())
		delete(m.servers, id)
	}
	return errors.Join(errs...)
}
