package dataplane

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/netns"
	"github.com/isthmusnet/isthmus/testenv"
)

// Security groups in the kernel: the tests below change groups through
// the core while a reconciler runs, and watch real TCP, UDP and ICMP
// between two subnets of one VPC. Timings are measured and logged, never
// asserted.

func (w *world) group(v *core.Vpc, name string) *core.SecurityGroup {
	w.t.Helper()
	return must[*core.SecurityGroup](w.t)(w.c.CreateSecurityGroup(owner, core.CreateSecurityGroupInput{GroupName: name, Description: name, VpcID: v.ID}))
}

func (w *world) eniIn(s *core.Subnet, ip string, groups ...string) *core.NetworkInterface {
	w.t.Helper()
	return must[*core.NetworkInterface](w.t)(w.c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: s.ID, PrivateIP: ip, Groups: groups}))
}

func i32(v int32) *int32 { return &v }

// perm is one permission: protocol, ports and a peer (a CIDR or a group id).
func perm(proto string, from, to int32, peer string) core.Permission {
	p := core.Permission{Protocol: proto, FromPort: i32(from), ToPort: i32(to)}
	if strings.HasPrefix(peer, "sg-") {
		p.Peers = []core.Peer{{GroupID: peer}}
	} else {
		p.Peers = []core.Peer{{CidrIPv4: peer}}
	}
	return p
}

func (w *world) authorize(g *core.SecurityGroup, egress bool, p core.Permission) time.Time {
	w.t.Helper()
	if _, _, err := w.c.AuthorizeSecurityGroupRules(owner, core.AuthorizeInput{GroupID: g.ID, Egress: egress, Permissions: []core.Permission{p}}); err != nil {
		w.t.Fatal(err)
	}
	return time.Now()
}

func (w *world) revoke(g *core.SecurityGroup, egress bool, p core.Permission) {
	w.t.Helper()
	if _, _, err := w.c.RevokeSecurityGroupRules(owner, core.RevokeInput{GroupID: g.ID, Egress: egress, Permissions: []core.Permission{p}}); err != nil {
		w.t.Fatal(err)
	}
}

// canConnect reports whether a TCP connection from ns to addr opens
// within a short time (a dropped SYN times out; nothing answers with a
// reset, since the firewall drops). Between veths a connection opens in
// well under a millisecond, so 100ms is plenty, and short enough for the
// polls below to measure how fast a change takes effect.
func canConnect(ns, addr string) bool {
	c, err := dialFrom(ns, addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// effective measures a change made at the time since: how long until the
// reconciler has applied it to the kernel, and then until cond holds (at
// once, normally). Both are logged; neither is asserted.
func (w *world) effective(what string, since time.Time, cond func() bool) {
	w.t.Helper()
	settle(w.t, w.r, w.c)
	applied := time.Since(since)
	took := eventually(w.t, what, cond)
	w.t.Logf("%s: applied to the kernel %v after the call, effective %v later", what, applied.Round(time.Microsecond), took.Round(time.Microsecond))
}

// eventually polls cond until it holds (true) or the deadline passes,
// and returns how long it took.
func eventually(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("%s: still not so after %v", what, time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// udpEcho answers every datagram on addr inside ns with itself.
func udpEcho(t testing.TB, ns, addr string) {
	t.Helper()
	var pc net.PacketConn
	err := netns.DoNamed(ns, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
}

// udpAsk sends one datagram from ns and reports whether it came back.
func udpAsk(ns, addr string) bool {
	var c net.Conn
	if err := netns.DoNamed(ns, func() error {
		var err error
		c, err = net.Dial("udp4", addr)
		return err
	}); err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Write([]byte("ping")); err != nil {
		return false
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	return err == nil && string(buf[:n]) == "ping"
}

// ping sends one ICMP echo request from ns to ip (a raw socket created in
// ns) and reports whether the echo reply came back.
func ping(ns, ip string) bool {
	var c net.PacketConn
	if err := netns.DoNamed(ns, func() error {
		var err error
		c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		return false
	}
	defer c.Close()
	id := uint16(time.Now().UnixNano())
	msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), 0, 1, 'i', 's', 't', 'h'}
	binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: net.ParseIP(ip)}); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return false
		}
		if n >= 8 && buf[0] == 0 && from.String() == ip && binary.BigEndian.Uint16(buf[4:]) == id {
			return true
		}
	}
}

func icmpChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestSecurityGroupsFilterTrafficBetweenSubnets(t *testing.T) {
	w := newWorld(t)
	v := w.vpc("10.6.0.0/16")
	s1 := w.subnet(v, "10.6.1.0/24")
	s2 := w.subnet(v, "10.6.2.0/24")
	serverSG := w.group(v, "server")
	clientSG := w.group(v, "client")
	server := w.eniIn(s1, "10.6.1.10", serverSG.ID)
	client := w.eniIn(s2, "10.6.2.10", clientSG.ID)
	other := w.eniIn(s2, "10.6.2.20", v.DefaultGroupID) // not in the client's group
	w.settle()
	serveEcho(listenIn(t, w.ns(server), "10.6.1.10:8080"))
	udpEcho(t, w.ns(server), "10.6.1.10:8081")
	const addr = "10.6.1.10:8080"

	// A new group allows no inbound traffic: TCP, UDP and ICMP are dropped.
	if canConnect(w.ns(client), addr) {
		t.Fatal("a TCP connection opened to a group without inbound rules")
	}
	if udpAsk(w.ns(client), "10.6.1.10:8081") {
		t.Fatal("a UDP datagram reached a group without inbound rules")
	}
	if ping(w.ns(client), "10.6.1.10") {
		t.Fatal("a ping reached a group without inbound rules")
	}
	// The server's own traffic is not filtered on the way in by the
	// client's rules: the client's group allows all outbound, the server
	// answers nothing. And the router and the resolver are never filtered.
	if !ping(w.ns(server), "10.6.1.1") || !ping(w.ns(client), "10.6.2.1") {
		t.Fatal("the subnet's router does not answer a ping through the firewall")
	}

	// Authorizing a CIDR rule opens TCP without restarting anything.
	byCIDR := perm("tcp", 8080, 8080, "10.6.2.0/24")
	at := w.authorize(serverSG, false, byCIDR)
	w.effective("authorize tcp/8080 from a CIDR → connection opens", at, func() bool { return canConnect(w.ns(client), addr) })

	// An established connection survives the revoke; new ones are refused.
	conn, err := dialFrom(w.ns(client), addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo := func(msg string) error {
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(conn, msg); err != nil {
			return err
		}
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(conn, buf)
		if err == nil && string(buf) != msg {
			err = errors.New("echo mismatch")
		}
		return err
	}
	if err := echo("before the revoke\n"); err != nil {
		t.Fatal(err)
	}
	at = time.Now()
	w.revoke(serverSG, false, byCIDR)
	w.effective("revoke → new connections refused", at, func() bool { return !canConnect(w.ns(client), addr) })
	if err := echo("after the revoke\n"); err != nil {
		t.Fatalf("the established connection broke on revoke (AWS keeps tracked connections): %v", err)
	}

	// A rule naming the client's group: its members get in, others not.
	byGroup := perm("tcp", 8080, 8080, clientSG.ID)
	at = w.authorize(serverSG, false, byGroup)
	w.effective("authorize tcp/8080 from the client's group → connection opens", at, func() bool { return canConnect(w.ns(client), addr) })
	if canConnect(w.ns(other), addr) {
		t.Fatal("an interface outside the named group got in")
	}
	// ... until it joins the group: only the group's set changes.
	at = time.Now()
	if err := w.c.ModifyNetworkInterfaceAttribute(owner, other.ID, core.InterfaceModification{Groups: []string{v.DefaultGroupID, clientSG.ID}}); err != nil {
		t.Fatal(err)
	}
	w.effective("another interface joins the group → connection opens", at, func() bool { return canConnect(w.ns(other), addr) })
	if err := w.c.ModifyNetworkInterfaceAttribute(owner, other.ID, core.InterfaceModification{Groups: []string{v.DefaultGroupID}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no TCP after leaving the named group", func() bool { return !canConnect(w.ns(other), addr) })

	// UDP and ICMP rules.
	at = w.authorize(serverSG, false, perm("udp", 8081, 8081, clientSG.ID))
	w.effective("authorize udp/8081 → datagrams pass", at, func() bool { return udpAsk(w.ns(client), "10.6.1.10:8081") })
	icmp := perm("icmp", 8, -1, "10.6.0.0/16")
	at = w.authorize(serverSG, false, icmp)
	w.effective("authorize icmp echo → ping answers", at, func() bool { return ping(w.ns(client), "10.6.1.10") })
	w.revoke(serverSG, false, icmp)
	eventually(t, "no ping after revoking", func() bool { return !ping(w.ns(client), "10.6.1.10") })

	// Egress: without the client group's allow-all outbound rule, nothing
	// it starts leaves, whatever the server allows.
	all := core.Permission{Protocol: "-1", Peers: []core.Peer{{CidrIPv4: "0.0.0.0/0"}}}
	w.revoke(clientSG, true, all)
	eventually(t, "no TCP without an outbound rule", func() bool { return !canConnect(w.ns(client), addr) })
	w.authorize(clientSG, true, perm("tcp", 8080, 8080, serverSG.ID))
	eventually(t, "TCP with an outbound rule naming the server's group", func() bool { return canConnect(w.ns(client), addr) })
	if udpAsk(w.ns(client), "10.6.1.10:8081") {
		t.Fatal("UDP left although only TCP 8080 is allowed out")
	}
	// Nothing of this restarted the data plane: every interface's
	// namespace and veth are the ones it started with.
	if s := w.r.Stats(); s.Failed != 0 {
		t.Fatalf("kernel operations failed: %+v", s)
	}
}

// TestFirewallDriftIsRepaired: rules, sets and chains changed with the nft
// CLI behind the reconciler's back are found and put back.
func TestFirewallDriftIsRepaired(t *testing.T) {
	k, prefix := privileged(t)
	nft := testenv.RequireProgram(t, "nft")
	want := Plan(planCases()["security-groups"], PlanOptions{Prefix: prefix})
	a := NewApplier(k, prefix)
	if res := a.Apply(want, nil); len(res.Failed) > 0 {
		t.Fatal(res.Failed)
	}
	ns := ENINamespace(prefix, eniC)
	inNS := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns, nft}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	inNS("flush", "chain", "inet", NftTableName, ChainInput)
	inNS("add", "rule", "inet", NftTableName, ChainIngress, "tcp", "dport", "9999", "accept")
	inNS("delete", "element", "inet", NftTableName, sgApp, "{ 10.0.2.10 }")
	inNS("add", "element", "inet", NftTableName, sgApp, "{ 10.9.9.9 }")
	inNS("add", "set", "inet", NftTableName, "junk", "{ type ipv4_addr; }")
	drift, err := a.Observe()
	if err != nil {
		t.Fatal(err)
	}
	if drift < 5 {
		t.Fatalf("drift %d, want at least 5", drift)
	}
	if res := a.Apply(want, nil); len(res.Failed) > 0 {
		t.Fatal(res.Failed)
	}
	seen, err := k.Observe(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if seen.String() != want.String() {
		t.Fatalf("not repaired:\n%s\nwant:\n%s", seen, want)
	}
}
