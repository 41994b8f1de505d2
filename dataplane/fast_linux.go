package dataplane

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/isthmusnet/isthmus/fastpath"
	"github.com/isthmusnet/isthmus/netns"
)

// EnableFastPath loads the fast path's programs (package fastpath), so
// that the kernel can realise TCProgram and PortEntry items. It fails
// where the kernel lacks what they need; the data plane then works
// without them (plan without PlanOptions.FastPath).
func (k *LinuxKernel) EnableFastPath() error {
	p, err := fastpath.Load()
	if err != nil {
		return err
	}
	for _, kind := range []fastpath.Kind{fastpath.Port, fastpath.NAT} {
		if _, err := p.ID(kind); err != nil {
			p.Close()
			return err
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fast != nil {
		k.fast.Close()
	}
	k.fast = p
	return nil
}

// FastPath returns the loaded programs, nil without EnableFastPath.
func (k *LinuxKernel) FastPath() *fastpath.Programs {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fast
}

var errNoFastPath = errors.New("the fast path is not loaded")

// NamespaceCookie returns the cookie of namespace ns, as the fast path's
// programs and maps know it.
func (k *LinuxKernel) NamespaceCookie(ns string) (uint64, error) {
	c, err := k.conn(ns)
	if err != nil {
		return 0, err
	}
	return k.cookie(c)
}

// cookie returns the namespace cookie of c, as the programs see it.
func (k *LinuxKernel) cookie(c *nsConn) (uint64, error) {
	if c.cookie != 0 {
		return c.cookie, nil
	}
	var v uint64
	err := netns.Do(c.fd, func() error {
		var err error
		v, err = fastpath.Cookie()
		return err
	})
	if err != nil {
		return 0, err
	}
	c.cookie = v
	return v, nil
}

// forgetFlows drops the fast path's cached flows of c's namespace, after
// conntrack entries there were deleted (see fastpath.ForgetFlows).
func (k *LinuxKernel) forgetFlows(c *nsConn) error {
	p := k.FastPath()
	if p == nil {
		return nil
	}
	ck, err := k.cookie(c)
	if err != nil {
		return err
	}
	return p.ForgetFlows(ck)
}

func (k *LinuxKernel) ensureTC(x TCProgram) error {
	p := k.FastPath()
	if p == nil {
		return errNoFastPath
	}
	c, l, err := k.link(x.NS, x.Dev)
	if err != nil {
		return err
	}
	return p.Attach(c.fd, l.Attrs().Index, fastpath.Kind(x.Kind))
}

func (k *LinuxKernel) removeTC(x TCProgram) error {
	c, l, err := k.link(x.NS, x.Dev)
	if err != nil {
		return err
	}
	return fastpath.Detach(c.fd, l.Attrs().Index)
}

func (k *LinuxKernel) ensurePort(x PortEntry) error {
	p := k.FastPath()
	if p == nil {
		return errNoFastPath
	}
	mac, err := net.ParseMAC(x.MAC)
	if err != nil {
		return err
	}
	c, l, err := k.link(x.NS, x.Port)
	if err != nil {
		return err
	}
	br, err := c.nl.LinkByName(x.Bridge)
	if err != nil {
		return fmt.Errorf("netns %s: bridge %s: %w", x.NS, x.Bridge, err)
	}
	ck, err := k.cookie(c)
	if err != nil {
		return err
	}
	return p.SetPort(ck, mac, fastpath.FDBEntry{Port: l.Attrs().Index, Bridge: br.Attrs().Index})
}

func (k *LinuxKernel) removePort(x PortEntry) error {
	p := k.FastPath()
	if p == nil {
		return nil
	}
	mac, err := net.ParseMAC(x.MAC)
	if err != nil {
		return err
	}
	ck, err := k.NamespaceCookie(x.NS)
	if err != nil {
		return err // a namespace that is gone: Observe prunes its entries
	}
	return p.DeletePort(ck, mac)
}

// fastObservation is what Observe gathers for the fast path across
// namespaces: the cookies of those it saw (to their names), and each
// router's links by index, for its forwarding entries.
type fastObservation struct {
	live    map[uint64]string
	routers map[string]fastRouter
	links   map[uint64]map[int]string // every namespace's links, by cookie
}

type fastRouter struct {
	cookie  uint64
	byIndex map[int]string
}

// observeFast reports the programs on the veths of namespace name. A
// program of an earlier process is adopted when it is this process's own
// (so a restarted daemon changes nothing), and reported as FastStale when
// it is not.
func (k *LinuxKernel) observeFast(hc *HostConfig, name string, c *nsConn, links []netlink.Link, obs *fastObservation) error {
	p := k.FastPath()
	byIndex := map[int]string{}
	var veths []int
	for _, l := range links {
		a := l.Attrs()
		byIndex[a.Index] = a.Name
		if l.Type() == "veth" {
			veths = append(veths, a.Index)
		}
	}
	attached, err := fastpath.Attached(c.fd, veths)
	if err != nil {
		return fmt.Errorf("tc programs of %s: %w", name, err)
	}
	for _, dev := range veths {
		at, ok := attached[dev]
		if !ok {
			continue
		}
		it := TCProgram{NS: name, Dev: byIndex[dev], Kind: string(at.Kind)}
		if p == nil {
			it.Kind = FastStale
		} else if mine, err := p.ID(at.Kind); err != nil || mine != at.ID {
			adopted, err := p.Adopt(at.Kind, at.ID)
			if err != nil {
				k.log.Warn("fast path: cannot adopt an earlier program", "ns", name, "dev", byIndex[dev], "err", err)
			}
			if !adopted {
				it.Kind = FastStale
			}
		}
		if at.Legacy {
			// Adopted or not, it is not on tcx alone yet: Ensure moves it.
			it.Kind = FastStale
		}
		hc.Add("", it)
	}
	if p == nil {
		return nil
	}
	ck, err := k.cookie(c)
	if err != nil {
		return err
	}
	obs.live[ck] = name
	obs.links[ck] = byIndex
	if strings.Contains(name, "-vpc-") {
		obs.routers[name] = fastRouter{cookie: ck, byIndex: byIndex}
	}
	return nil
}

// finishFast reports the routers' forwarding entries and the endpoints'
// PPv2 listeners, once every program has been seen (and maybe adopted,
// with its maps), and forgets entries of namespaces that are gone.
func (k *LinuxKernel) finishFast(hc *HostConfig, obs *fastObservation) error {
	p := k.FastPath()
	if p == nil {
		return nil
	}
	for name, r := range obs.routers {
		ports, err := p.Ports(r.cookie)
		if err != nil {
			return err
		}
		for mac, e := range ports {
			hc.Add("", PortEntry{NS: name, MAC: mac, Port: r.byIndex[e.Port], Bridge: r.byIndex[e.Bridge]})
		}
	}
	pp, err := p.AllPPv2()
	if err != nil {
		return err
	}
	ls, err := p.Listeners()
	if err != nil {
		return err
	}
	bs, err := p.Backends()
	if err != nil {
		return err
	}
	live := map[uint64]bool{}
	for ck, name := range obs.live {
		live[ck] = true
		for listen, h := range pp[ck] {
			hc.Add("", PPv2Entry{NS: name, Listen: listen, Endpoint: ppv2Endpoint(h)})
		}
		for listen, l := range ls[ck] {
			it := FastListener{NS: name, Listen: listen, In: obs.links[ck][l.In], From: l.From, Buckets: l.Buckets}
			if l.Buckets == 0 {
				it.To, it.Allow = l.To, allowText(l.Allow)
			}
			hc.Add("", it)
		}
		for port, targets := range bs[ck] {
			ss := make([]string, len(targets))
			for i, t := range targets {
				ss[i] = t.String()
			}
			hc.Add("", FastBackends{NS: name, Port: port, Targets: strings.Join(ss, " ")})
		}
	}
	return p.Prune(live)
}

// fastMaps returns the loaded programs (nil without the fast path) and
// the cookie of namespace ns, for an item kept in the programs' maps.
func (k *LinuxKernel) fastMaps(ns string) (*fastpath.Programs, uint64, error) {
	p := k.FastPath()
	if p == nil {
		return nil, 0, nil
	}
	ck, err := k.NamespaceCookie(ns)
	return p, ck, err
}

func (k *LinuxKernel) ensureFastListener(x FastListener) error {
	p := k.FastPath()
	if p == nil {
		return errNoFastPath
	}
	allow, err := x.allow()
	if err != nil {
		return err
	}
	c, l, err := k.link(x.NS, x.In)
	if err != nil {
		return err
	}
	ck, err := k.cookie(c)
	if err != nil {
		return err
	}
	return p.SetListener(ck, x.Listen, fastpath.Listener{In: l.Attrs().Index, To: x.To, From: x.From,
		Buckets: x.Buckets, SG: x.Buckets == 0, Allow: allow})
}

// The removals leave a namespace that is gone to Observe, which prunes
// its entries.
func (k *LinuxKernel) removeFastListener(x FastListener) error {
	p, ck, err := k.fastMaps(x.NS)
	if p == nil || err != nil {
		return err
	}
	return p.DeleteListener(ck, x.Listen)
}

func (k *LinuxKernel) ensureFastBackends(x FastBackends) error {
	ts, err := x.targets()
	if err != nil {
		return err
	}
	p, ck, err := k.fastMaps(x.NS)
	if err != nil {
		return err
	}
	if p == nil {
		return errNoFastPath
	}
	return p.SetBackends(ck, x.Port, ts)
}

func (k *LinuxKernel) removeFastBackends(x FastBackends) error {
	p, ck, err := k.fastMaps(x.NS)
	if p == nil || err != nil {
		return err
	}
	return p.DeleteBackends(ck, x.Port)
}

func (k *LinuxKernel) ensurePPv2(x PPv2Entry) error {
	h, err := PPv2Header(x.Endpoint)
	if err != nil {
		return err
	}
	p, ck, err := k.fastMaps(x.NS)
	if err != nil {
		return err
	}
	if p == nil {
		return errNoFastPath
	}
	return p.SetPPv2(ck, x.Listen, h)
}

func (k *LinuxKernel) removePPv2(x PPv2Entry) error {
	p, ck, err := k.fastMaps(x.NS)
	if p == nil || err != nil {
		return err
	}
	return p.DeletePPv2(ck, x.Listen)
}
