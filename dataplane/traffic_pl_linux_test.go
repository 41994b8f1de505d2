package dataplane

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/fastpath"
	"github.com/isthmusnet/isthmus/health"
	"github.com/isthmusnet/isthmus/netns"
	"github.com/isthmusnet/isthmus/testenv"
)

// PrivateLink through the real kernel, driven through the core: a
// provider's NLB and endpoint service, a consumer's interface endpoint,
// both VPCs 10.0.0.0/16.

var consumer = core.Caller{Account: "222222222222", ARN: core.RootARN("222222222222"), Region: "us-east-1"}

// servePeer answers every connection with "<name> <peer address>\n", then
// echoes.
func servePeer(ln net.Listener, name string) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr())
				io.Copy(c, c)
			}()
		}
	}()
}

// serveUDPPeer answers every datagram with "<name> <peer address>".
func serveUDPPeer(t testing.TB, ns, addr, name string) {
	pc, err := netns.ListenPacket(ns, "udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(name+" "+from.String()), from)
		}
	}()
}

// peerLine connects and reads the server's first line.
func peerLine(ns, addr string) (string, net.Conn, error) {
	c, err := dialFrom(ns, addr, 2*time.Second)
	if err != nil {
		return "", nil, err
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return "", nil, err
	}
	c.SetDeadline(time.Time{})
	return strings.TrimSpace(line), c, nil
}

type plWorld struct {
	*world
	pVpc, cVpc          *core.Vpc
	pSub, cApp, cOther  *core.Subnet
	target1, target2    *core.NetworkInterface
	client, otherClient *core.NetworkInterface
	lb                  *core.LoadBalancer
	svc                 *core.EndpointService
	ep                  *core.EndpointView
	lbIP, epIP          string
	tg                  *core.TargetGroup // the TCP listener's
	epGroup             string            // the endpoint's security group
}

func newPLWorld(t *testing.T, fast bool) *plWorld {
	w := &plWorld{world: newWorldFast(t, fast)}
	c := w.c
	w.pVpc = w.vpc("10.0.0.0/16")
	w.pSub = must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: w.pVpc.ID, CidrBlock: "10.0.1.0/24", AvailabilityZone: "us-east-1a"}))
	// The targets' group (the VPC's default) admits the VPC, as a target's
	// group must admit its load balancer.
	for _, p := range []core.Permission{
		{Protocol: "tcp", FromPort: ptr32(8080), ToPort: ptr32(8080), Peers: []core.Peer{{CidrIPv4: "10.0.0.0/16"}}},
		{Protocol: "udp", FromPort: ptr32(5353), ToPort: ptr32(5353), Peers: []core.Peer{{CidrIPv4: "10.0.0.0/16"}}},
	} {
		if _, _, err := c.AuthorizeSecurityGroupRules(owner, core.AuthorizeInput{GroupID: w.pVpc.DefaultGroupID, Permissions: []core.Permission{p}}); err != nil {
			t.Fatal(err)
		}
	}
	w.target1 = w.eni(w.pSub, "10.0.1.10")
	w.target2 = w.eni(w.pSub, "10.0.1.11")
	w.lb = must[*core.LoadBalancer](t)(c.CreateLoadBalancer(owner, core.CreateLoadBalancerInput{Name: "svc", Type: core.LoadBalancerNetwork, Subnets: []string{w.pSub.ID}}))
	w.lbIP = w.lb.Zones[0].PrivateIP
	port := int32(8080)
	tg := must[*core.TargetGroup](t)(c.CreateTargetGroup(owner, core.CreateTargetGroupInput{Name: "web", Protocol: core.ProtocolTCP, Port: &port, VpcID: w.pVpc.ID}))
	w.tg = tg
	if err := c.RegisterTargets(owner, tg.ARN(), []core.TargetInput{{ID: w.target1.ID}}); err != nil {
		t.Fatal(err)
	}
	p80 := int32(80)
	must[*core.Listener](t)(c.CreateListener(owner, core.CreateListenerInput{LoadBalancerARN: w.lb.ARN(), Port: &p80, Protocol: core.ProtocolTCP,
		DefaultActions: []core.ActionInput{{Type: "forward", TargetGroupARN: tg.ARN()}}}))
	p53 := int32(5353)
	utg := must[*core.TargetGroup](t)(c.CreateTargetGroup(owner, core.CreateTargetGroupInput{Name: "dns", Protocol: core.ProtocolUDP, Port: &p53, VpcID: w.pVpc.ID, TargetType: core.TargetTypeIP}))
	if err := c.RegisterTargets(owner, utg.ARN(), []core.TargetInput{{ID: "10.0.1.10"}}); err != nil {
		t.Fatal(err)
	}
	l53 := int32(53)
	must[*core.Listener](t)(c.CreateListener(owner, core.CreateListenerInput{LoadBalancerARN: w.lb.ARN(), Port: &l53, Protocol: core.ProtocolUDP,
		DefaultActions: []core.ActionInput{{Type: "forward", TargetGroupARN: utg.ARN()}}}))
	w.svc = must[*core.EndpointService](t)(c.CreateVpcEndpointServiceConfiguration(owner, core.CreateEndpointServiceInput{
		NetworkLoadBalancerARNs: []string{w.lb.ARN()}, AcceptanceRequired: true}))
	if _, err := c.ModifyVpcEndpointServicePermissions(owner, w.svc.ID, []string{core.RootARN(consumer.Account)}, nil); err != nil {
		t.Fatal(err)
	}

	w.cVpc = must[*core.Vpc](t)(c.CreateVpc(consumer, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"}))
	w.cApp = must[*core.Subnet](t)(c.CreateSubnet(consumer, core.CreateSubnetInput{VpcID: w.cVpc.ID, CidrBlock: "10.0.1.0/24", AvailabilityZone: "us-east-1a"}))
	w.cOther = must[*core.Subnet](t)(c.CreateSubnet(consumer, core.CreateSubnetInput{VpcID: w.cVpc.ID, CidrBlock: "10.0.2.0/24", AvailabilityZone: "us-east-1a"}))
	w.client = must[*core.NetworkInterface](t)(c.CreateNetworkInterface(consumer, core.CreateNetworkInterfaceInput{SubnetID: w.cApp.ID, PrivateIP: "10.0.1.20"}))
	w.otherClient = must[*core.NetworkInterface](t)(c.CreateNetworkInterface(consumer, core.CreateNetworkInterfaceInput{SubnetID: w.cOther.ID, PrivateIP: "10.0.2.20"}))
	// The endpoint's group admits the app subnet only.
	sg := must[*core.SecurityGroup](t)(c.CreateSecurityGroup(consumer, core.CreateSecurityGroupInput{VpcID: w.cVpc.ID, GroupName: "endpoint", Description: "endpoint"}))
	w.epGroup = sg.ID
	from, to := int32(0), int32(65535)
	for _, proto := range []string{"tcp", "udp"} {
		if _, _, err := c.AuthorizeSecurityGroupRules(consumer, core.AuthorizeInput{GroupID: sg.ID,
			Permissions: []core.Permission{{Protocol: proto, FromPort: &from, ToPort: &to, Peers: []core.Peer{{CidrIPv4: "10.0.1.0/24"}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	w.ep = must[*core.EndpointView](t)(c.CreateVpcEndpoint(consumer, core.CreateVpcEndpointInput{VpcID: w.cVpc.ID, ServiceName: w.svc.ServiceName(),
		Type: core.EndpointTypeInterface, SubnetIDs: []string{w.cApp.ID}, SecurityGroupIDs: []string{sg.ID}}))
	w.epIP = w.ep.Subnets[0].IP
	w.settle()
	servePeer(listenIn(t, w.ns(w.target1), "10.0.1.10:8080"), "t1")
	servePeer(listenIn(t, w.ns(w.target2), "10.0.1.11:8080"), "t2")
	serveUDPPeer(t, w.ns(w.target1), "10.0.1.10:5353", "u1")
	return w
}

func ptr32(v int32) *int32 { return &v }

// testWriter writes logs to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// TestPrivateLinkTraffic runs with the fast path, as the daemon does, and
// without it: established flows then take the namespaces' ordinary stacks.
func TestPrivateLinkTraffic(t *testing.T) {
	t.Run("fastpath", func(t *testing.T) { testPrivateLinkTraffic(t, true) })
	t.Run("ordinary", func(t *testing.T) { testPrivateLinkTraffic(t, false) })
}

func testPrivateLinkTraffic(t *testing.T, fast bool) {
	w := newPLWorld(t, fast)
	c := w.c
	client := w.ns(w.client)
	epAddr := w.epIP + ":80"

	// pendingAcceptance: refused, not hung (a hung connection fails with
	// a timeout; the time is logged, not asserted).
	began := time.Now()
	if _, _, err := peerLine(client, epAddr); !refused(err) {
		t.Fatalf("pendingAcceptance: %v, want connection refused", err)
	}
	t.Logf("pendingAcceptance: refused after %v", time.Since(began).Round(time.Millisecond))

	// Accept: traffic flows within a second (measured, not asserted).
	if _, err := c.AcceptVpcEndpointConnections(owner, w.svc.ID, []string{w.ep.ID}); err != nil {
		t.Fatal(err)
	}
	accepted := time.Now()
	var line string
	var conn net.Conn
	for {
		var err error
		if line, conn, err = peerLine(client, epAddr); err == nil {
			break
		}
		if time.Since(accepted) > 10*time.Second {
			t.Fatalf("no traffic 10s after accepting: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("traffic flowed %v after AcceptVpcEndpointConnections", time.Since(accepted).Round(time.Millisecond))
	defer conn.Close()
	if name, peer, _ := strings.Cut(line, " "); name != "t1" || !strings.HasPrefix(peer, w.lbIP+":") {
		t.Fatalf("the target answered %q; want t1 seeing the load balancer's address %s", line, w.lbIP)
	}
	// The client sees the endpoint's address.
	if got := conn.RemoteAddr().String(); got != epAddr {
		t.Fatalf("the client is connected to %s", got)
	}
	echo := func(c net.Conn, msg string) error { return testenv.Echo(c, msg, 2*time.Second) }
	if err := echo(conn, "hello\n"); err != nil {
		t.Fatal(err)
	}
	// With the fast path, the flow's segments skip the endpoint's and the
	// node's stacks: the NAT program counts them, in both namespaces.
	lbNS := ENINamespace(w.prefix, w.lb.Zones[0].NetworkInterfaceID)
	epNS := ENINamespace(w.prefix, w.ep.Subnets[0].ENI)
	before := []uint64{fastPackets(t, w.k, epNS), fastPackets(t, w.k, lbNS)}
	for i := range 10 {
		if err := echo(conn, fmt.Sprintf("echo %d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, ns := range []string{epNS, lbNS} {
		n := fastPackets(t, w.k, ns) - before[i]
		if w.fast && n < 20 {
			t.Errorf("%s: the fast path carried %d packets of 10 echoes, want at least 20 (both ways)", ns, n)
		}
		if !w.fast && n != 0 {
			t.Errorf("%s: without the fast path, %d packets took it", ns, n)
		}
		// Without the fast path, no flow is the NAT program's (with it,
		// establishedLives checks the flows it opens).
		opened, marked := fastOpened(t, w.k, ns), len(ownedFlows(t, ns))
		if !w.fast && (opened != 0 || marked != 0) {
			t.Errorf("%s: without the fast path, it opened %d flows (%d in conntrack)", ns, opened, marked)
		}
	}
	if w.fast {
		establishedLives(t, w.k, client, epAddr, []string{epNS, lbNS})
		reusedTupleRedecides(t, w, client, epAddr)
		fullChecksums(t, w, epAddr, []string{epNS, lbNS})
	}

	// UDP.
	uc, err := netns.Dial(client, "udp4", w.epIP+":53", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(2 * time.Second))
	uc.Write([]byte("q"))
	buf := make([]byte, 100)
	n, err := uc.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "u1 "+w.lbIP+":") {
		t.Fatalf("UDP answer %q, %v", buf[:n], err)
	}

	// The endpoint's group: the other subnet is dropped (a timeout).
	if _, _, err := peerLine(w.ns(w.otherClient), epAddr); err == nil || refused(err) {
		t.Fatalf("a client outside the app subnet: %v, want a timeout", err)
	}

	// A port the service does not listen on: refused.
	if _, _, err := peerLine(client, w.epIP+":81"); !refused(err) {
		t.Fatalf("port 81: %v, want refused", err)
	}

	// The provider can open nothing towards the consumer: not from a
	// target that routes the transit range through the load balancer,
	// not from the load balancer's own namespace.
	leak := listenIn(t, epNS, "0.0.0.0:7777")
	serveName(leak, "leak")
	serveName(listenIn(t, client, "0.0.0.0:7777"), "consumer-client")
	if out, err := exec.Command("ip", "-n", w.ns(w.target1), "route", "add", "100.64.0.0/10", "via", w.lbIP).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, from := range []string{w.ns(w.target1), lbNS} {
		for _, to := range []string{"100.64.0.0:7777", "100.64.0.1:7777", "10.0.1.20:7777", w.epIP + ":7777"} {
			if got, err := ask(from, to); err == nil {
				t.Errorf("from %s, %s answered %q", from, to, got)
			}
		}
	}

	// A restarted reconciler changes nothing and the flow goes on.
	w.r.Close()
	k2 := NewLinuxKernel(nil)
	defer k2.Close()
	r2 := start(t, c, k2, Options{Prefix: w.prefix, FastPath: w.fast && fastPath(t, k2)})
	settle(t, r2, c)
	if ops := r2.Stats().Ops; ops != 0 {
		t.Fatalf("the restarted reconciler did %d operations", ops)
	}
	if err := echo(conn, "after the restart\n"); err != nil {
		t.Fatal(err)
	}
	w.r = r2

	// Rejecting cuts the live connection and refuses new ones.
	if _, err := c.RejectVpcEndpointConnections(owner, w.svc.ID, []string{w.ep.ID}); err != nil {
		t.Fatal(err)
	}
	settle(t, r2, c)
	// The fast path forgot the endpoint's flows with their conntrack
	// entries: the next segment asks conntrack, which no longer knows it.
	if w.fast {
		for _, ns := range []string{epNS, lbNS} {
			if n := cachedFlows(t, w.k, ns); n != 0 {
				t.Errorf("%s: %d flows still cached after rejection", ns, n)
			}
		}
	}
	err = echo(conn, "after rejection\n")
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Fatalf("the live connection after rejection: %v, want a reset", err)
	}
	if _, _, err := peerLine(client, epAddr); !refused(err) {
		t.Fatalf("a new connection after rejection: %v, want refused", err)
	}
}

// TestLoadBalancerHealthAndFailover: a network load balancer used from
// inside its own VPC; health checks from its namespace make both targets
// healthy, a target that dies is reset at once and, after the unhealthy
// threshold, gets no new flows.
func TestLoadBalancerHealthAndFailover(t *testing.T) {
	k, prefix := privileged(t)
	c := newCloud(t)
	checks := NewHealthChecks(c.SetTargetHealth, HealthOptions{Prefix: prefix, Flusher: k,
		Checker: health.Options{Jitter: -1, Rand: func() float64 { return 0 }}})
	t.Cleanup(func() { checks.Close() })
	r := start(t, c, k, Options{Prefix: prefix, Followers: []Follower{checks}, FastPath: fastPath(t, k)})
	w := &world{t: t, c: c, k: k, prefix: prefix, r: r}

	v := w.vpc("10.0.0.0/16")
	sub := must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: v.ID, CidrBlock: "10.0.1.0/24", AvailabilityZone: "us-east-1a"}))
	if _, _, err := c.AuthorizeSecurityGroupRules(owner, core.AuthorizeInput{GroupID: v.DefaultGroupID, Permissions: []core.Permission{
		{Protocol: "tcp", FromPort: ptr32(8080), ToPort: ptr32(8080), Peers: []core.Peer{{CidrIPv4: "10.0.0.0/16"}}}}}); err != nil {
		t.Fatal(err)
	}
	t1, t2 := w.eni(sub, "10.0.1.10"), w.eni(sub, "10.0.1.11")
	client := w.eni(sub, "10.0.1.20")
	lb := must[*core.LoadBalancer](t)(c.CreateLoadBalancer(owner, core.CreateLoadBalancerInput{Name: "lb", Type: core.LoadBalancerNetwork, Subnets: []string{sub.ID}}))
	interval, timeout, two := int32(5), int32(2), int32(2)
	tg := must[*core.TargetGroup](t)(c.CreateTargetGroup(owner, core.CreateTargetGroupInput{Name: "web", Protocol: core.ProtocolTCP, Port: ptr32(8080), VpcID: v.ID,
		HealthCheck: core.HealthCheckInput{Interval: &interval, Timeout: &timeout, Healthy: &two, Unhealthy: &two}}))
	if err := c.RegisterTargets(owner, tg.ARN(), []core.TargetInput{{ID: t1.ID}, {ID: t2.ID}}); err != nil {
		t.Fatal(err)
	}
	must[*core.Listener](t)(c.CreateListener(owner, core.CreateListenerInput{LoadBalancerARN: lb.ARN(), Port: ptr32(80), Protocol: core.ProtocolTCP,
		DefaultActions: []core.ActionInput{{Type: "forward", TargetGroupARN: tg.ARN()}}}))
	w.settle()
	servePeer(listenIn(t, w.ns(t1), "10.0.1.10:8080"), "t1")
	ln2 := listenIn(t, w.ns(t2), "10.0.1.11:8080")
	var conns2 []net.Conn
	var mu2 sync.Mutex
	go func() {
		for {
			c, err := ln2.Accept()
			if err != nil {
				return
			}
			mu2.Lock()
			conns2 = append(conns2, c)
			mu2.Unlock()
			fmt.Fprintf(c, "t2 %s\n", c.RemoteAddr())
		}
	}()

	states := func() map[string]string {
		ds, err := c.DescribeTargetHealth(owner, tg.ARN(), nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, d := range ds {
			out[d.Target.ID] = d.Health.State + "/" + d.Health.Reason
		}
		return out
	}
	waitFor := func(what string, limit time.Duration, ok func(map[string]string) bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			s := states()
			if ok(s) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: target health is %v", what, s)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("both healthy", 20*time.Second, func(s map[string]string) bool {
		return s[t1.ID] == "healthy/" && s[t2.ID] == "healthy/"
	})

	// Flows from the VPC spread over both targets, seeing the NLB's address.
	seen := map[string]int{}
	var toT2 net.Conn
	for i := 0; i < 40; i++ {
		line, conn, err := peerLine(w.ns(client), lb.Zones[0].PrivateIP+":80")
		if err != nil {
			t.Fatal(err)
		}
		name, peer, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(peer, lb.Zones[0].PrivateIP+":") {
			t.Fatalf("the target saw %s", peer)
		}
		seen[name]++
		if name == "t2" && toT2 == nil {
			toT2 = conn
		} else {
			conn.Close()
		}
	}
	if seen["t1"] == 0 || seen["t2"] == 0 {
		t.Fatalf("40 flows went %v", seen)
	}
	defer toT2.Close()

	// t2 dies: its flow is reset, and after the unhealthy threshold new
	// flows go to t1 only.
	ln2.Close()
	mu2.Lock()
	for _, c := range conns2 {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	mu2.Unlock()
	toT2.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := toT2.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the flow of the dead target: %v, want a reset", err)
	}
	died := time.Now()
	waitFor("t2 unhealthy", 30*time.Second, func(s map[string]string) bool {
		return s[t2.ID] == "unhealthy/Target.FailedHealthChecks" && s[t1.ID] == "healthy/"
	})
	t.Logf("t2 reported unhealthy %v after it died", time.Since(died).Round(100*time.Millisecond))
	settle(t, r, c)
	for i := 0; i < 20; i++ {
		line, conn, err := peerLine(w.ns(client), lb.Zones[0].PrivateIP+":80")
		if err != nil {
			t.Fatalf("a new flow after t2 turned unhealthy: %v", err)
		}
		conn.Close()
		if !strings.HasPrefix(line, "t1 ") {
			t.Fatalf("a new flow went to %q", line)
		}
	}
}

// TestDeregistrationDrains: a deregistered target gets no new flow, its
// flow goes on for the deregistration delay and is then ended (connection
// termination on); a deregistered target with no flow completes at once.
func TestDeregistrationDrains(t *testing.T) {
	k, prefix := privileged(t)
	c := newCloud(t)
	drains := NewDraining(c.EndDraining, k, prefix, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	drains.Poll = 100 * time.Millisecond
	t.Cleanup(func() { drains.Close() })
	r := start(t, c, k, Options{Prefix: prefix, Followers: []Follower{drains}, FastPath: fastPath(t, k)})
	w := &world{t: t, c: c, k: k, prefix: prefix, r: r}

	v := w.vpc("10.0.0.0/16")
	sub := must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: v.ID, CidrBlock: "10.0.1.0/24", AvailabilityZone: "us-east-1a"}))
	if _, _, err := c.AuthorizeSecurityGroupRules(owner, core.AuthorizeInput{GroupID: v.DefaultGroupID, Permissions: []core.Permission{
		{Protocol: "tcp", FromPort: ptr32(8080), ToPort: ptr32(8080), Peers: []core.Peer{{CidrIPv4: "10.0.0.0/16"}}}}}); err != nil {
		t.Fatal(err)
	}
	t1, t2, t3 := w.eni(sub, "10.0.1.10"), w.eni(sub, "10.0.1.11"), w.eni(sub, "10.0.1.12")
	client := w.eni(sub, "10.0.1.20")
	lb := must[*core.LoadBalancer](t)(c.CreateLoadBalancer(owner, core.CreateLoadBalancerInput{Name: "lb", Type: core.LoadBalancerNetwork, Subnets: []string{sub.ID}}))
	tg := must[*core.TargetGroup](t)(c.CreateTargetGroup(owner, core.CreateTargetGroupInput{Name: "web", Protocol: core.ProtocolTCP, Port: ptr32(8080), VpcID: v.ID}))
	if _, err := c.ModifyTargetGroupAttributes(owner, tg.ARN(), []core.Attribute{
		{Key: "deregistration_delay.timeout_seconds", Value: "3"},
		{Key: "deregistration_delay.connection_termination.enabled", Value: "true"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterTargets(owner, tg.ARN(), []core.TargetInput{{ID: t1.ID}, {ID: t2.ID}, {ID: t3.ID}}); err != nil {
		t.Fatal(err)
	}
	must[*core.Listener](t)(c.CreateListener(owner, core.CreateListenerInput{LoadBalancerARN: lb.ARN(), Port: ptr32(80), Protocol: core.ProtocolTCP,
		DefaultActions: []core.ActionInput{{Type: "forward", TargetGroupARN: tg.ARN()}}}))
	w.settle()
	servePeer(listenIn(t, w.ns(t1), "10.0.1.10:8080"), "t1")
	servePeer(listenIn(t, w.ns(t2), "10.0.1.11:8080"), "t2")
	servePeer(listenIn(t, w.ns(t3), "10.0.1.12:8080"), "t3")
	nlb := lb.Zones[0].PrivateIP + ":80"
	health := func() map[string]string {
		ds, err := c.DescribeTargetHealth(owner, tg.ARN(), nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, d := range ds {
			out[d.Target.ID] = d.Health.State + "/" + d.Health.Reason
		}
		return out
	}

	// A flow to t2.
	var toT2 net.Conn
	for i := 0; i < 60 && toT2 == nil; i++ {
		line, conn, err := peerLine(w.ns(client), nlb)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "t2 ") {
			toT2 = conn
		} else {
			conn.Close()
		}
	}
	if toT2 == nil {
		t.Fatal("no flow went to t2")
	}
	defer toT2.Close()
	echo := func(msg string) error {
		toT2.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(toT2, msg); err != nil {
			return err
		}
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(toT2, buf)
		return err
	}
	if err := c.DeregisterTargets(owner, tg.ARN(), []core.TargetInput{{ID: t2.ID}, {ID: t3.ID}}); err != nil {
		t.Fatal(err)
	}
	deregistered := time.Now()
	if h := health(); h[t2.ID] != "draining/Target.DeregistrationInProgress" {
		t.Fatalf("after deregistering: %v", h)
	}
	settle(t, r, c)
	for i := 0; i < 20; i++ {
		line, conn, err := peerLine(w.ns(client), nlb)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if !strings.HasPrefix(line, "t1 ") {
			t.Fatalf("a new flow went to %q while t2 and t3 drain", line)
		}
	}
	// t3 has no flow: its deregistration completes at once.
	for h := health(); h[t3.ID] != ""; h = health() {
		if time.Since(deregistered) > 2*time.Second {
			t.Fatalf("t3 (no flows) still %s", h[t3.ID])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := echo("still draining\n"); err != nil {
		t.Fatalf("the draining target's flow: %v", err)
	}
	// After the delay, t2's flow is ended and t2 is gone.
	for time.Since(deregistered) < 3*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	// (DescribeTargetHealth stops listing t2 when the delay is over; the
	// data plane ends its flows within a poll.)
	deadline := time.Now().Add(5 * time.Second)
	nodeNS := ENINamespace(prefix, lb.Zones[0].NetworkInterfaceID)
	t2Addr := netip.MustParseAddrPort("10.0.1.11:8080")
	for {
		n, err := k.CountFlowsTo(nodeNS, t2Addr)
		if err != nil {
			t.Fatal(err)
		}
		if health()[t2.ID] == "" && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("t2 still listed (%v) or still has %d flows", health(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := echo("after the delay\n"); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Fatalf("the drained flow after the delay: %v, want a reset", err)
	}
}

// fastPackets is how many packets the fast path's NAT program carried
// through namespace ns, 0 without the fast path.
// fullChecksums turns checksum offload off on the client's link (its
// eth0 sends, and its router port takes, complete TCP checksums), so the
// NAT program must update the whole sum of the client's segments rather
// than the pseudo header's, and the target's stack checks it: a wrong sum
// drops the echoes (and counts in TcpInCsumErrors).
func fullChecksums(t *testing.T, w *plWorld, epAddr string, natNS []string) {
	t.Helper()
	ethtool := testenv.RequireProgram(t, "ethtool")
	client, router := w.ns(w.client), VpcNamespace(w.prefix, w.cVpc.ID)
	for _, c := range [][]string{
		{client, ethtool, "-K", ENIDevice, "tx", "off"},
		{router, ethtool, "-K", VethPeerName(w.client.ID), "rx", "off"},
	} {
		if out, err := exec.Command("ip", append([]string{"netns", "exec"}, c...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip netns exec %v: %v: %s", c, err, out)
		}
	}
	_, conn, err := peerLine(client, epAddr)
	if err != nil {
		t.Fatalf("with full checksums: %v", err)
	}
	defer conn.Close()
	var before []uint64
	for _, ns := range natNS {
		before = append(before, fastPackets(t, w.k, ns))
	}
	for i := range 10 {
		if err := testenv.Echo(conn, fmt.Sprintf("full checksum %d %s\n", i, strings.Repeat("x", 100*i)), 2*time.Second); err != nil {
			t.Fatalf("echo %d with full checksums: %v", i, err)
		}
	}
	for i, ns := range natNS {
		if n := fastPackets(t, w.k, ns) - before[i]; n < 20 {
			t.Errorf("%s: the fast path carried %d packets of 10 echoes with full checksums", ns, n)
		}
	}
	for _, target := range []*core.NetworkInterface{w.target1, w.target2} {
		if n := tcpInCsumErrors(t, w.ns(target)); n != 0 {
			t.Errorf("%s: %d TCP checksum errors", w.ns(target), n)
		}
	}
}

// tcpInCsumErrors reads TcpInCsumErrors in namespace ns.
func tcpInCsumErrors(t *testing.T, ns string) int {
	t.Helper()
	var snmp []byte
	err := netns.DoNamed(ns, func() error {
		var err error
		snmp, err = os.ReadFile("/proc/thread-self/net/snmp")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Two "Tcp:" lines: the names, then the values.
	var names []string
	for line := range strings.Lines(string(snmp)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "InCsumErrors" && i < len(f) {
				n, err := strconv.Atoi(f[i])
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
	}
	t.Fatalf("%s: no Tcp InCsumErrors in /proc/net/snmp", ns)
	return 0
}

// fastCarried is what the fast path's NAT program carried in namespace
// ns: packets, and flows it opened itself.
func fastCarried(t *testing.T, k *LinuxKernel, ns string) fastpath.Stats {
	t.Helper()
	p := k.FastPath()
	if p == nil {
		return fastpath.Stats{}
	}
	cookie, err := k.NamespaceCookie(ns)
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Carried(cookie)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fastPackets(t *testing.T, k *LinuxKernel, ns string) uint64 {
	return fastCarried(t, k, ns).Packets
}

// fastOpened is how many flows the fast path's NAT program opened itself
// in namespace ns.
func fastOpened(t *testing.T, k *LinuxKernel, ns string) uint64 { return fastCarried(t, k, ns).Flows }

// establishedLives opens a connection to addr from namespace client once
// the path is warm (neighbours resolved, so the NAT program caches what it
// opens) and checks that, in each of the namespaces natNS, the NAT
// program opened it itself (FastListener: the SYN took the shortcut, the
// program counted the flow and made its conntrack entry), and that the
// entry lives as long as an established flow's
// (days), not the 2 minutes of an unanswered SYN: a connection that then
// idles keeps its translation. It then resets the connection and opens
// another from the same port: the program opens a new flow in the ended
// one's place, which reads as open and long-lived as the first.
func establishedLives(t *testing.T, k *LinuxKernel, client, addr string, natNS []string) {
	t.Helper()
	var port uint16
	for round, what := range []string{"a new connection", "a connection on the tuple of a reset one"} {
		before := map[string]uint64{}
		for _, ns := range natNS {
			before[ns] = fastOpened(t, k, ns)
		}
		conn, err := dialFromPort(client, addr, int(port), 2*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil { // the target's name
			t.Fatalf("%s: %v", what, err)
		}
		conn.SetDeadline(time.Time{})
		if err := testenv.Echo(conn, "hi\n", 2*time.Second); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		port = uint16(conn.LocalAddr().(*net.TCPAddr).Port)
		for _, ns := range natNS {
			// A reset flow's tuple opens a new flow (its security
			// groups and backend decided afresh), counted as one.
			if n := fastOpened(t, k, ns) - before[ns]; n != 1 {
				t.Errorf("%s: %s: the fast path counted %d flows it opened", what, ns, n)
			}
			var found *netlink.ConntrackFlow
			for _, f := range ownedFlows(t, ns) {
				// The endpoint's entry has the client's port; the
				// node's the one the endpoint's NAT left (the same,
				// unless taken).
				if f.Forward.SrcPort == port {
					found = f
				}
			}
			if found == nil {
				t.Errorf("%s: %s: no conntrack entry the fast path opened for port %d", what, ns, port)
				continue
			}
			if open, _ := fastpath.OwnedOpen(found.Mark); !open || found.TimeOut < 24*3600 {
				t.Errorf("%s: %s: the established connection's conntrack entry (mark %#x) expires in %ds; want open, for days",
					what, ns, found.Mark, found.TimeOut)
			}
		}
		if round == 0 {
			conn.(*net.TCPConn).SetLinger(0) // a RST, and no TIME_WAIT to keep the port
		}
		conn.Close()
	}
}

// reusedTupleRedecides checks that a connection on the tuple of one that
// ended is a new flow whose security groups and backend are decided
// afresh, even though the NAT program takes over the ended flow's
// conntrack entry when the decisions are the same: with the endpoint's
// group no longer admitting the client, the SYN is dropped; once it
// does again, the connection reaches the service; with its target
// deregistered and another registered, it reaches the other. The
// world's target group is left with target2 registered and target1
// draining (its established flows go on).
func reusedTupleRedecides(t *testing.T, w *plWorld, client, addr string) {
	t.Helper()
	epNS := ENINamespace(w.prefix, w.ep.Subnets[0].ENI)
	lbNS := ENINamespace(w.prefix, w.lb.Zones[0].NetworkInterfaceID)
	var port int
	// dial connects from the port of the last connection (0 at first) and
	// reads the target's name; the connection ends with a RST, which
	// leaves no TIME_WAIT to hold the port, nor (once the RST went
	// through) entries in the NAT program's flow cache.
	dial := func(timeout time.Duration) (string, error) {
		cached := []int{cachedFlows(t, w.k, epNS), cachedFlows(t, w.k, lbNS)}
		conn, err := dialFromPort(client, addr, port, timeout)
		if err != nil {
			return "", err
		}
		conn.(*net.TCPConn).SetLinger(0)
		port = conn.LocalAddr().(*net.TCPAddr).Port
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		name, _, _ := strings.Cut(line, " ")
		conn.Close()
		for i, ns := range []string{epNS, lbNS} {
			for deadline := time.Now().Add(time.Second); cachedFlows(t, w.k, ns) > cached[i]; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: %d flows cached after a reset connection, %d before it", ns, cachedFlows(t, w.k, ns), cached[i])
				}
			}
		}
		return name, err
	}
	// The earlier connections' last segments (which drop their entries)
	// went through: the counts hold still.
	for _, ns := range []string{epNS, lbNS} {
		for n, deadline := -1, time.Now().Add(3*time.Second); n != cachedFlows(t, w.k, ns) && time.Now().Before(deadline); {
			n = cachedFlows(t, w.k, ns)
			time.Sleep(200 * time.Millisecond)
		}
	}
	if name, err := dial(2 * time.Second); err != nil || name != "t1" {
		t.Fatalf("a first connection: %q, %v", name, err)
	}

	rule := []core.Permission{{Protocol: "tcp", FromPort: ptr32(0), ToPort: ptr32(65535), Peers: []core.Peer{{CidrIPv4: "10.0.1.0/24"}}}}
	if _, _, err := w.c.RevokeSecurityGroupRules(consumer, core.RevokeInput{GroupID: w.epGroup, Permissions: rule}); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if name, err := dial(time.Second); err == nil || refused(err) {
		t.Fatalf("the same tuple once the endpoint's group no longer admits the client: %q, %v; want a timeout", name, err)
	}
	if _, _, err := w.c.AuthorizeSecurityGroupRules(consumer, core.AuthorizeInput{GroupID: w.epGroup, Permissions: rule}); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if name, err := dial(2 * time.Second); err != nil || name != "t1" {
		t.Fatalf("the same tuple once the group admits the client again: %q, %v", name, err)
	}

	if err := w.c.RegisterTargets(owner, w.tg.ARN(), []core.TargetInput{{ID: w.target2.ID}}); err != nil {
		t.Fatal(err)
	}
	if err := w.c.DeregisterTargets(owner, w.tg.ARN(), []core.TargetInput{{ID: w.target1.ID}}); err != nil {
		t.Fatal(err)
	}
	w.settle()
	// The endpoint's decisions are the same (its group, the node): it
	// takes the ended flow's entry over; the node's backend changed: it
	// makes a new entry, to target2.
	ep0, lb0 := ctInserts(t, epNS), ctInserts(t, lbNS)
	if name, err := dial(2 * time.Second); err != nil || name != "t2" {
		t.Fatalf("the same tuple with target1 draining: %q, %v; want t2", name, err)
	}
	if ep, lb := ctInserts(t, epNS)-ep0, ctInserts(t, lbNS)-lb0; ep != 0 || lb != 1 {
		t.Errorf("the same tuple with target1 draining: %d new conntrack entries at the endpoint, %d at the node; want 0 and 1", ep, lb)
	}
}

// ctInserts is how many entries were inserted into conntrack in
// namespace ns other than by conntrack's own hooks (the insert column of
// its statistics): the ones the NAT program made.
func ctInserts(t *testing.T, ns string) uint64 {
	t.Helper()
	var b []byte
	if err := netns.DoNamed(ns, func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/stat/nf_conntrack")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	col := slices.Index(strings.Fields(lines[0]), "insert")
	if col < 0 {
		t.Fatalf("no insert column in %q", lines[0])
	}
	var n uint64
	for _, l := range lines[1:] {
		v, err := strconv.ParseUint(strings.Fields(l)[col], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		n += v
	}
	return n
}

// ownedFlows returns the conntrack entries of namespace ns that the fast
// path's NAT program made.
func ownedFlows(t *testing.T, ns string) []*netlink.ConntrackFlow {
	t.Helper()
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var flows []*netlink.ConntrackFlow
	err = netns.Do(h, func() error {
		c, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
		if err != nil {
			return err
		}
		defer c.Close()
		flows, err = c.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
		return err
	})
	if err != nil {
		t.Fatalf("conntrack in %s: %v", ns, err)
	}
	var out []*netlink.ConntrackFlow
	for _, f := range flows {
		if _, owned := fastpath.OwnedOpen(f.Mark); owned {
			out = append(out, f)
		}
	}
	return out
}

// cachedFlows is how many flows the fast path's NAT program holds cached
// for namespace ns.
func cachedFlows(t *testing.T, k *LinuxKernel, ns string) int {
	t.Helper()
	cookie, err := k.NamespaceCookie(ns)
	if err != nil {
		t.Fatal(err)
	}
	n, err := k.FastPath().CachedFlows(cookie)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
