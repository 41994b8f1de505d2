package dataplane

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/netns"
)

// The traffic tests run the real reconciler over a real store and the
// Linux kernel, under a prefix of their own. Every address they use lives
// in namespaces they created.

// listenIn opens a TCP listener inside an interface's namespace. The
// socket belongs to that namespace for good; accepting and serving run on
// ordinary goroutines.
func listenIn(t testing.TB, ns, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := netns.DoNamed(ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialFrom connects from inside an interface's namespace.
func dialFrom(ns, addr string, timeout time.Duration) (net.Conn, error) {
	return dialFromPort(ns, addr, 0, timeout)
}

// dialFromPort is dialFrom from the local port port (any, for 0).
func dialFromPort(ns, addr string, port int, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{Port: port}}
	var c net.Conn
	err := netns.DoNamed(ns, func() (err error) {
		c, err = d.Dial("tcp4", addr)
		return err
	})
	return c, err
}

// serveName answers every connection with name and a newline.
func serveName(ln net.Listener, name string) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, name+"\n")
			c.Close()
		}
	}()
}

// serveEcho echoes every connection until it closes.
func serveEcho(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
}

// ask connects and reads one line.
func ask(ns, addr string) (string, error) {
	c, err := dialFrom(ns, addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

type world struct {
	t      testing.TB
	c      *core.Cloud
	k      *LinuxKernel
	prefix string
	r      *Reconciler
	fast   bool // the reconciler plans the fast path
}

// newWorld starts a reconciler on a fresh prefix, with the fast path as
// the daemon runs it.
func newWorld(t testing.TB) *world { return newWorldFast(t, true) }

// newWorldFast starts a reconciler on a fresh prefix, with the fast path
// or without it.
func newWorldFast(t testing.TB, fast bool) *world {
	k, prefix := privileged(t)
	c := newCloud(t)
	w := &world{t: t, c: c, k: k, prefix: prefix}
	w.fast = fast && fastPath(t, k)
	w.r = start(t, c, k, Options{Prefix: prefix, FastPath: w.fast})
	return w
}

func (w *world) settle() {
	w.t.Helper()
	settle(w.t, w.r, w.c)
	for id, st := range w.r.Statuses() {
		if st.State != StateReady {
			w.t.Fatalf("object %s is %s: %s", id, st.State, st.Error)
		}
	}
}

func (w *world) vpc(cidr string) *core.Vpc {
	w.t.Helper()
	return must[*core.Vpc](w.t)(w.c.CreateVpc(owner, core.CreateVpcInput{CidrBlock: cidr}))
}

func (w *world) subnet(vpc *core.Vpc, cidr string) *core.Subnet {
	w.t.Helper()
	return must[*core.Subnet](w.t)(w.c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: vpc.ID, CidrBlock: cidr}))
}

func (w *world) eni(s *core.Subnet, ip string) *core.NetworkInterface {
	w.t.Helper()
	return must[*core.NetworkInterface](w.t)(w.c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: s.ID, PrivateIP: ip}))
}

func (w *world) ns(n *core.NetworkInterface) string { return ENINamespace(w.prefix, n.ID) }

func TestTwoVPCsWithTheSameCIDRAreIsolated(t *testing.T) {
	w := newWorld(t)
	type side struct {
		vpc            *core.Vpc
		subnet         *core.Subnet
		server, client *core.NetworkInterface
	}
	var sides [2]side
	for i := range sides {
		v := w.vpc("10.0.0.0/16")
		s := w.subnet(v, "10.0.1.0/24")
		sides[i] = side{vpc: v, subnet: s, server: w.eni(s, "10.0.1.10"), client: w.eni(s, "10.0.1.20")}
	}
	// Only VPC B has 10.0.1.30.
	onlyB := w.eni(sides[1].subnet, "10.0.1.30")
	w.settle()

	for _, s := range sides {
		serveName(listenIn(t, w.ns(s.server), "10.0.1.10:8080"), s.vpc.ID)
	}
	serveName(listenIn(t, w.ns(onlyB), "10.0.1.30:8080"), "only-b")

	for _, s := range sides {
		got, err := ask(w.ns(s.client), "10.0.1.10:8080")
		if err != nil {
			t.Fatalf("client in %s: %v", s.vpc.ID, err)
		}
		if got != s.vpc.ID {
			t.Fatalf("client in %s reached the server of %q", s.vpc.ID, got)
		}
	}
	// From VPC A, VPC B's only address does not answer.
	if got, err := ask(w.ns(sides[0].client), "10.0.1.30:8080"); err == nil {
		t.Fatalf("a client in VPC A reached %q at an address only VPC B has", got)
	}
	if got, err := ask(w.ns(sides[1].client), "10.0.1.30:8080"); err != nil || got != "only-b" {
		t.Fatalf("VPC B's own client: %q, %v", got, err)
	}
	// Nothing routes out of a VPC, not even to the router's other side.
	if _, err := dialFrom(w.ns(sides[0].client), "10.99.0.1:8080", time.Second); err == nil {
		t.Fatal("a connection left the VPC")
	}
}

func TestSubnetsReachEachOtherThroughTheRouter(t *testing.T) {
	w := newWorld(t)
	v := w.vpc("10.2.0.0/16")
	s1 := w.subnet(v, "10.2.1.0/24")
	s2 := w.subnet(v, "10.2.2.0/24")
	server := w.eni(s1, "10.2.1.10")
	client := w.eni(s2, "10.2.2.10")
	w.settle()
	serveName(listenIn(t, w.ns(server), "10.2.1.10:8080"), "server")

	c, err := dialFrom(w.ns(client), "10.2.1.10:8080", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.TCPAddr).IP.String(); got != "10.2.2.10" {
		t.Fatalf("the client spoke from %s", got)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "server\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	// The route went through the router's policy: the client subnet's
	// rule selects its table, which holds the route to the server subnet.
	vpcNS := VpcNamespace(w.prefix, v.ID)
	h := mustConn(t, w.k, vpcNS)
	rules, err := h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var table int
	for _, r := range rules {
		if r.IifName == BridgeName(s2.ID) && r.Priority == SubnetRulePref {
			table = r.Table
		}
	}
	if table == 0 {
		t.Fatalf("no rule for %s: %v", BridgeName(s2.ID), rules)
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var toServer, blackhole bool
	for _, r := range routes {
		toServer = toServer || (r.Dst != nil && r.Dst.String() == "10.2.1.0/24")
		blackhole = blackhole || r.Type == unix.RTN_BLACKHOLE
	}
	if !toServer || !blackhole {
		t.Fatalf("table %d holds %v", table, routes)
	}
	// The resolver's address answers ARP and routing from every subnet:
	// nothing listens yet, so the connection is refused (not unreachable).
	_, err = dialFrom(w.ns(client), "10.2.0.2:53", 2*time.Second)
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("dialing the resolver address: %v, want connection refused", err)
	}

	// A frame that skips the router, sent from the client's subnet
	// straight to the server's MAC, goes nowhere: a subnet's bridge
	// carries only its own frames, and the fast path's shortcut stays
	// within a bridge. (Between subnets the route tables decide.)
	sl, err := mustConn(t, w.k, w.ns(server)).LinkByName(ENIDevice)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"route", "add", "10.2.1.10/32", "dev", ENIDevice},
		{"neigh", "replace", "10.2.1.10", "lladdr", sl.Attrs().HardwareAddr.String(), "dev", ENIDevice, "nud", "permanent"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", w.ns(client)}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	if c, err := dialFrom(w.ns(client), "10.2.1.10:8080", time.Second); err == nil {
		c.Close()
		t.Fatal("a frame from another subnet reached the server without the router")
	}
}

// TestReusedAddressIsAnnounced: an interface deleted and another created
// with its address at once. A client that spoke to the first one holds its
// MAC in its ARP cache; the new interface announces itself (gratuitous
// ARP), so the client reaches it now rather than when its entry goes stale.
func TestReusedAddressIsAnnounced(t *testing.T) {
	w := newWorld(t)
	v := w.vpc("10.6.0.0/16")
	s := w.subnet(v, "10.6.1.0/24")
	first := w.eni(s, "10.6.1.10")
	client := w.eni(s, "10.6.1.20")
	w.settle()
	serveName(listenIn(t, w.ns(first), "10.6.1.10:8080"), "first")
	line, c, err := peerLine(w.ns(client), "10.6.1.10:8080")
	if err != nil || line != "first" {
		t.Fatalf("the first interface: %q, %v", line, err)
	}
	c.Close()

	if err := w.c.DeleteNetworkInterface(owner, first.ID); err != nil {
		t.Fatal(err)
	}
	second := w.eni(s, "10.6.1.10")
	w.settle()
	serveName(listenIn(t, w.ns(second), "10.6.1.10:8080"), "second")
	line, c, err = peerLine(w.ns(client), "10.6.1.10:8080")
	if err != nil || line != "second" {
		t.Fatalf("the address after it changed hands: %q, %v (want the second interface)", line, err)
	}
	c.Close()
}

func mustConn(t testing.TB, k *LinuxKernel, ns string) *netlink.Handle {
	t.Helper()
	c, err := k.conn(ns)
	if err != nil {
		t.Fatal(err)
	}
	return c.nl
}

// counts returns how many namespaces of the prefix exist, and how many
// links a namespace holds.
func countNamespaces(t testing.TB, prefix string) int {
	t.Helper()
	names, err := netns.List(prefix + "-")
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

func countLinks(t testing.TB, k *LinuxKernel, ns string) int {
	t.Helper()
	links, err := mustConn(t, k, ns).LinkList()
	if err != nil {
		t.Fatal(err)
	}
	return len(links)
}

// countEtc returns how many directories of the prefix EtcNetnsDir holds.
func countEtc(t testing.TB, prefix string) int {
	t.Helper()
	ents, err := os.ReadDir(EtcNetnsDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			n++
		}
	}
	return n
}

// countTables returns how many nftables tables of Isthmus's name the
// namespaces of the prefix hold.
func countTables(t testing.TB, k *LinuxKernel, prefix string) int {
	t.Helper()
	seen, err := k.Observe(prefix)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, it := range seen.Items {
		if _, ok := it.(NftTable); ok {
			n++
		}
	}
	return n
}

func TestDeletingObjectsRemovesEverythingTheyOwned(t *testing.T) {
	w := newWorld(t)
	if n := countNamespaces(t, w.prefix); n != 0 {
		t.Fatalf("%d namespaces before anything exists", n)
	}
	v := w.vpc("10.3.0.0/16")
	s1 := w.subnet(v, "10.3.1.0/24")
	s2 := w.subnet(v, "10.3.2.0/24")
	a := w.eni(s1, "10.3.1.10")
	b := w.eni(s1, "10.3.1.11")
	c := w.eni(s2, "10.3.2.10")
	w.settle()
	vpcNS := VpcNamespace(w.prefix, v.ID)
	if n := countNamespaces(t, w.prefix); n != 4 {
		t.Fatalf("%d namespaces, want 4 (a VPC, three interfaces)", n)
	}
	if n := countLinks(t, w.k, vpcNS); n != 6 {
		t.Fatalf("%d links in the VPC namespace, want 6 (lo, two bridges, three veth ports)", n)
	}
	if n, m := countEtc(t, w.prefix), countTables(t, w.k, w.prefix); n != 3 || m != 3 {
		t.Fatalf("%d resolv.conf directories and %d nft tables, want 3 of each (one per interface)", n, m)
	}
	// A socket keeps a's namespace alive after its deletion: its veth must
	// go anyway.
	listenIn(t, w.ns(a), "10.3.1.10:8080")

	if err := w.c.DeleteNetworkInterface(owner, a.ID); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if n := countNamespaces(t, w.prefix); n != 3 {
		t.Fatalf("%d namespaces after deleting an interface, want 3", n)
	}
	if n := countLinks(t, w.k, vpcNS); n != 5 {
		t.Fatalf("%d links in the VPC namespace after deleting an interface, want 5", n)
	}

	for _, id := range []string{b.ID, c.ID} {
		if err := w.c.DeleteNetworkInterface(owner, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.c.DeleteSubnet(owner, s2.ID); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if n := countLinks(t, w.k, vpcNS); n != 2 {
		t.Fatalf("%d links after deleting a subnet and the interfaces, want 2 (lo, one bridge)", n)
	}
	seen, err := w.k.Observe(w.prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range seen.Items {
		if r, ok := it.(Route); ok && r.Dev == BridgeName(s2.ID) {
			t.Fatalf("a route to the deleted subnet remains: %s", r)
		}
		if r, ok := it.(Rule); ok && r.Iif == BridgeName(s2.ID) {
			t.Fatalf("the deleted subnet's rule remains: %s", r)
		}
	}
	if err := w.c.DeleteSubnet(owner, s1.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.c.DeleteVpc(owner, v.ID); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if n := countNamespaces(t, w.prefix); n != 0 {
		t.Fatalf("%d namespaces after deleting the VPC, want 0", n)
	}
	if n := countEtc(t, w.prefix); n != 0 {
		t.Fatalf("%d resolv.conf directories left after deleting everything", n)
	}
}

func TestRestartKeepsEstablishedConnections(t *testing.T) {
	k, prefix := privileged(t)
	c := newCloud(t)
	v := must[*core.Vpc](t)(c.CreateVpc(owner, core.CreateVpcInput{CidrBlock: "10.4.0.0/16"}))
	s1 := must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: v.ID, CidrBlock: "10.4.1.0/24"}))
	s2 := must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: v.ID, CidrBlock: "10.4.2.0/24"}))
	server := must[*core.NetworkInterface](t)(c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: s1.ID, PrivateIP: "10.4.1.10"}))
	client := must[*core.NetworkInterface](t)(c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: s2.ID, PrivateIP: "10.4.2.10"}))

	first, err := New(c, k, nil, Options{Prefix: prefix, Debounce: time.Millisecond, FastPath: fastPath(t, k)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- first.Run(context.Background()) }()
	settle(t, first, c)
	serveEcho(listenIn(t, ENINamespace(prefix, server.ID), "10.4.1.10:7"))
	conn, err := dialFrom(ENINamespace(prefix, client.ID), "10.4.1.10:7", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo := func(msg string) {
		t.Helper()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo of %q: %q, %v", msg, buf, err)
		}
	}
	echo("before the restart\n")
	vethIndex := func() int {
		l, err := mustConn(t, k, VpcNamespace(prefix, v.ID)).LinkByName(VethPeerName(server.ID))
		if err != nil {
			t.Fatal(err)
		}
		return l.Attrs().Index
	}
	before := vethIndex()

	// A new reconciler and a new kernel handle, as after a daemon restart.
	first.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	k2 := NewLinuxKernel(nil)
	defer k2.Close()
	second := start(t, c, k2, Options{Prefix: prefix, FastPath: fastPath(t, k2)})
	settle(t, second, c)
	if ops := second.Stats().Ops; ops != 0 {
		t.Fatalf("the restarted reconciler did %d operations", ops)
	}
	if vethIndex() != before {
		t.Fatal("a veth was recreated across the restart")
	}
	echo("after the restart\n")
	for i := 0; i < 3; i++ { // and it keeps working while the new one follows changes
		must[*core.NetworkInterface](t)(c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: s1.ID}))
		settle(t, second, c)
		echo("after a change\n")
	}
}

func TestLinuxStartPrunesLeftovers(t *testing.T) {
	k, prefix := privileged(t)
	c := newCloud(t)
	v := must[*core.Vpc](t)(c.CreateVpc(owner, core.CreateVpcInput{CidrBlock: "10.5.0.0/16"}))
	s := must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: v.ID, CidrBlock: "10.5.1.0/24"}))
	// Left by an earlier run: the namespace of an interface deleted while
	// the daemon was down (with its veth on the VPC's bridge), a stale
	// namespace file, and a stray bridge and rule in the live VPC.
	gone := &core.NetworkInterface{Meta: core.Meta{ID: "eni-0dead0000000000001", VpcID: v.ID}, SubnetID: s.ID, PrivateIP: "10.5.1.99"}
	top, _, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	top.NetworkInterfaces = append(top.NetworkInterfaces, gone)
	old := NewApplier(k, prefix)
	if res := old.Apply(Plan(top, PlanOptions{Prefix: prefix}), nil); len(res.Failed) > 0 {
		t.Fatal(res.Failed)
	}
	vpcNS := VpcNamespace(prefix, v.ID)
	run(t, "ip", "-n", vpcNS, "link", "add", "br-stray", "type", "bridge")
	run(t, "ip", "-n", vpcNS, "rule", "add", "pref", "1000", "iif", "br-stray", "lookup", "1234", "proto", "73")
	if err := os.WriteFile(netns.Path(prefix+"-eni-0stale"), nil, 0); err != nil {
		t.Fatal(err)
	}
	// A resolv.conf directory whose namespace is long gone.
	orphan := filepath.Join(EtcNetnsDir, prefix+"-eni-0orphan")
	if err := os.MkdirAll(orphan, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(orphan, "resolv.conf"), []byte("nameserver 10.5.0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Someone else's namespace, which must survive.
	other := prefix + "x-keep"
	if err := netns.Create(other); err != nil {
		t.Fatal(err)
	}
	defer netns.Delete(other)

	r := start(t, c, k, Options{Prefix: prefix})
	settle(t, r, c)
	names, err := netns.List(prefix + "-")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != vpcNS {
		t.Fatalf("namespaces after start: %v, want only %s", names, vpcNS)
	}
	if n := countLinks(t, k, vpcNS); n != 2 {
		t.Fatalf("%d links in the VPC namespace, want 2 (lo and the subnet's bridge)", n)
	}
	seen, err := k.Observe(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if want := planOf(t, c, prefix); seen.String() != want.String() {
		t.Fatalf("kernel:\n%s\nplan:\n%s", seen, want)
	}
	if !netns.Exists(other) {
		t.Fatal("a namespace of another prefix was removed")
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("the orphaned resolv.conf directory survived the start: %v", err)
	}
}
