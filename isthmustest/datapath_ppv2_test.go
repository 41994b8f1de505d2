package isthmustest_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/isthmustest"
	"github.com/isthmusnet/isthmus/netns"
	"github.com/isthmusnet/isthmus/proxy"
)

// ppServer is a target that expects a PROXY v2 header on every
// connection: it records each header (LOCAL ones from health checks
// included), answers a PROXY connection with "<peer> <header>\n" and then
// echoes; a connection without a valid header is counted and closed.
type ppServer struct {
	ln net.Listener

	mu       sync.Mutex
	conns    []net.Conn
	headers  []proxy.Header
	raw      [][]byte // the bytes of each of headers
	locals   int
	noHeader int
	byClient map[netip.AddrPort]net.Conn // by the client the header names
}

// client returns the connection whose header named client (nil if none).
func (s *ppServer) client(client netip.AddrPort) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byClient[client]
}

func ppServe(t *testing.T, ns, addr string) *ppServer {
	t.Helper()
	ln, err := netns.Listen(ns, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &ppServer{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go s.handle(c)
		}
	}()
	return s
}

func (s *ppServer) handle(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The raw bytes, kept for the test to check, then parsed.
	raw := make([]byte, 16)
	_, err := io.ReadFull(c, raw)
	if err == nil {
		raw = append(raw, make([]byte, binary.BigEndian.Uint16(raw[14:16]))...)
		_, err = io.ReadFull(c, raw[16:])
	}
	var h proxy.Header
	if err == nil {
		h, _, err = proxy.Parse(raw)
	}
	s.mu.Lock()
	switch {
	case err != nil:
		s.noHeader++
	case h.Command == proxy.CommandLocal:
		s.locals++
	default:
		s.headers = append(s.headers, h)
		s.raw = append(s.raw, raw)
		if s.byClient == nil {
			s.byClient = map[netip.AddrPort]net.Conn{}
		}
		s.byClient[h.Source] = c
	}
	s.mu.Unlock()
	if err != nil || h.Command == proxy.CommandLocal {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	fmt.Fprintf(c, "%s src=%s dst=%s vpce=%s\n", c.RemoteAddr(), h.Source, h.Destination, h.VPCEndpointID)
	io.Copy(c, c)
}

// dropSegments drops perMille of the segments with data that reach eth0
// in namespace ns, at random, with a tc program of its own (not every
// kernel has tc's gact or netem); stop removes it.
func dropSegments(t *testing.T, ns string, perMille uint32) (stop func()) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.SchedCLS,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // __sk_buff.len
			asm.JLT.Imm(asm.R2, 200, "pass"),         // handshakes and ACKs pass
			asm.FnGetPrandomU32.Call(),
			asm.JGE.Imm(asm.R0, int32(uint64(perMille)<<32/1000), "pass"),
			asm.Mov.Imm(asm.R0, 2), // TC_ACT_SHOT
			asm.Return(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("pass"), // TC_ACT_OK
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	link, err := nl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	qdisc := &netlink.GenericQdisc{QdiscType: "clsact", QdiscAttrs: netlink.QdiscAttrs{
		LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
	if err := nl.QdiscAdd(qdisc); err != nil {
		t.Fatal(err)
	}
	filter := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: link.Attrs().Index,
		Parent: netlink.HANDLE_MIN_INGRESS, Handle: 2, Protocol: unix.ETH_P_ALL, Priority: 2},
		Fd: prog.FD(), Name: "test_drop", DirectAction: true}
	if err := nl.FilterAdd(filter); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		if err := nl.QdiscDel(qdisc); err != nil {
			t.Errorf("removing the dropping filter: %v", err)
		}
		nl.Close()
		prog.Close()
	}
	t.Cleanup(stop)
	return stop
}

// retransmits is how many segments c's socket has sent again.
func retransmits(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || ierr != nil {
		t.Fatal(err, ierr)
	}
	return info.Total_retrans
}

// tfo sets net.ipv4.tcp_fastopen in namespace ns.
func tfo(t *testing.T, ns, v string) {
	t.Helper()
	err := netns.DoNamed(ns, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/tcp_fastopen", []byte(v), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tfoDial connects from namespace ns with TCP Fast Open, msg in the SYN.
func tfoDial(ns, addr, msg string) (net.Conn, error) {
	var c net.Conn
	err := netns.DoNamed(ns, func() error {
		d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, 1)
			})
			return errors.Join(err, serr)
		}}
		var err error
		c, err = d.Dial("tcp4", addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// ppBulk sends n bytes of a pattern through c, whose server echoes them,
// and checks that they all come back, in order.
func ppBulk(c net.Conn, n int64) error {
	const period = 251 // prime: a shifted stream does not line up again
	pat := make([]byte, 2*period*512)
	for i := range pat {
		pat[i] = byte(i % period)
	}
	chunk := pat[:period*512]
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	defer c.SetDeadline(time.Time{})
	sent := make(chan error, 1)
	go func() {
		var err error
		for left := n; left > 0 && err == nil; left -= int64(len(chunk)) {
			_, err = c.Write(chunk[:min(left, int64(len(chunk)))])
		}
		sent <- err
	}()
	buf := make([]byte, len(chunk))
	for got := int64(0); got < n; {
		k, err := c.Read(buf[:min(n-got, int64(len(buf)))])
		off := int(got % period)
		if !bytes.Equal(buf[:k], pat[off:off+k]) {
			return fmt.Errorf("the echo differs from what was sent at byte %d", got)
		}
		got += int64(k)
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", got, n, err)
		}
	}
	return <-sent
}

func (s *ppServer) counts() (proxied, locals, noHeader int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.headers), s.locals, s.noHeader
}

// ppTopo is a provider's NLB with TCP 80 to a target group with proxy
// protocol v2 (target 10.0.1.10:8080) and TCP 81 to a plain group (the
// same target, 8081), an endpoint service without acceptance, and a
// consumer VPC of the same CIDR with a client (10.0.2.20) and an
// available interface endpoint; the data plane running.
type ppTopo struct {
	env                *isthmustest.Env
	dp                 *dpPlane
	prov, cons         *isthmustest.Client
	target, client     string // interface ids
	ppTG, lbARN, svcID string
	epID, epIP, nlbIP  string
	epENI              string // the endpoint's interface
	provSubnet         string
}

func ppTopology(t *testing.T) *ppTopo {
	t.Helper()
	return ppTopologyMode(t, true)
}

// ppTopologyMode is ppTopology with or without the fast path (which
// writes the endpoints' headers in the kernel; without it userspace
// proxies do).
func ppTopologyMode(t *testing.T, fast bool) *ppTopo {
	t.Helper()
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	dp := dpStartMode(t, env, fast)
	prov, cons := env.Account("111111111111"), env.Account("222222222222")
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Provider: one target, an NLB with TCP 80 to a PPv2 group (8080) and
	// TCP 81 to a plain group on the same target (8081).
	pv, err := prov.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	check("provider VPC", err)
	pvID := aws.ToString(pv.Vpc.VpcId)
	ps, err := prov.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &pvID, CidrBlock: aws.String("10.0.1.0/24"), AvailabilityZone: aws.String("us-east-1a")})
	check("provider subnet", err)
	psID := aws.ToString(ps.Subnet.SubnetId)
	sgs, err := prov.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{pvID}}, {Name: aws.String("group-name"), Values: []string{"default"}}}})
	check("provider default group", err)
	_, err = prov.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sgs.SecurityGroups[0].GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8081),
			IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}}}}})
	check("the target's group admits the VPC", err)
	tOut, err := prov.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: &psID, PrivateIpAddress: aws.String("10.0.1.10")})
	check("target interface", err)
	target := aws.ToString(tOut.NetworkInterface.NetworkInterfaceId)
	lbOut, err := prov.ELBv2.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("pp"), Type: elbtypes.LoadBalancerTypeEnumNetwork,
		Scheme: elbtypes.LoadBalancerSchemeEnumInternal, Subnets: []string{psID}})
	check("NLB", err)
	lbARN := aws.ToString(lbOut.LoadBalancers[0].LoadBalancerArn)
	nlbIP := aws.ToString(lbOut.LoadBalancers[0].AvailabilityZones[0].LoadBalancerAddresses[0].PrivateIPv4Address)
	group := func(name string, port int32, ppv2 bool) string {
		out, err := prov.ELBv2.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumTcp,
			Port: aws.Int32(port), VpcId: &pvID, HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
			HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2)})
		check("target group "+name, err)
		arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
		if ppv2 {
			_, err = prov.ELBv2.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: &arn,
				Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("proxy_protocol_v2.enabled"), Value: aws.String("true")}}})
			check("enable proxy protocol v2", err)
		}
		_, err = prov.ELBv2.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: &arn, Targets: []elbtypes.TargetDescription{{Id: &target}}})
		check("register the target in "+name, err)
		return arn
	}
	ppTG, plainTG := group("pp", 8080, true), group("plain", 8081, false)
	for port, tg := range map[int32]string{80: ppTG, 81: plainTG} {
		_, err = prov.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: &lbARN, Port: aws.Int32(port), Protocol: elbtypes.ProtocolEnumTcp,
			DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &tg}}})
		check(fmt.Sprintf("listener %d", port), err)
	}
	svc, err := prov.EC2.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{
		NetworkLoadBalancerArns: []string{lbARN}, AcceptanceRequired: aws.Bool(false)})
	check("endpoint service", err)
	svcName := aws.ToString(svc.ServiceConfiguration.ServiceName)
	_, err = prov.EC2.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: svc.ServiceConfiguration.ServiceId, AddAllowedPrincipals: []string{"arn:aws:iam::222222222222:root"}})
	check("allow the consumer", err)

	// Consumer: the same CIDR, a client and the endpoint.
	cv, err := cons.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	check("consumer VPC", err)
	cvID := aws.ToString(cv.Vpc.VpcId)
	cs, err := cons.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &cvID, CidrBlock: aws.String("10.0.2.0/24"), AvailabilityZone: aws.String("us-east-1a")})
	check("consumer subnet", err)
	csID := aws.ToString(cs.Subnet.SubnetId)
	cOut, err := cons.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: &csID, PrivateIpAddress: aws.String("10.0.2.20")})
	check("client interface", err)
	client := aws.ToString(cOut.NetworkInterface.NetworkInterfaceId)
	epOut, err := cons.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: &cvID, ServiceName: &svcName,
		VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: []string{csID}})
	check("endpoint", err)
	epID := aws.ToString(epOut.VpcEndpoint.VpcEndpointId)
	dpWait(t, "the endpoint available (no acceptance required)", 10*time.Second, func() (bool, string) {
		out, err := cons.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{epID}})
		if err != nil {
			return false, err.Error()
		}
		s := string(out.VpcEndpoints[0].State)
		return s == "available", s
	})
	nis, err := cons.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: epOut.VpcEndpoint.NetworkInterfaceIds})
	check("the endpoint's interface", err)
	epIP := aws.ToString(nis.NetworkInterfaces[0].PrivateIpAddress)
	// The kernel holds all of it (the target's address too, which the
	// tests listen on next).
	dp.settle()

	return &ppTopo{env: env, dp: dp, prov: prov, cons: cons, target: target, client: client,
		ppTG: ppTG, lbARN: lbARN, svcID: aws.ToString(svc.ServiceConfiguration.ServiceId), epID: epID, epIP: epIP, nlbIP: nlbIP,
		epENI: epOut.VpcEndpoint.NetworkInterfaceIds[0], provSubnet: psID}
}

// TestDataPathPPv2 drives a target group with proxy_protocol_v2.enabled
// through an interface endpoint: the target parses the header of every
// connection, whose source is the consumer's address and port, whose
// destination is the endpoint's address and listener port, and whose AWS
// TLV (0xEA/0x01) is the endpoint id, while the TCP peer is the load
// balancer's private IP; a client in the provider VPC using the NLB
// directly gets a header with its own address and no TLV; the health
// checks send LOCAL headers and keep the target healthy; a restarted data
// plane listens again; deleting the endpoint stops its proxy.
func TestDataPathPPv2(t *testing.T) {
	// With the fast path the endpoint's NAT program writes the header;
	// without it a userspace proxy in the endpoint's namespace does.
	t.Run("kernel", func(t *testing.T) { testDataPathPPv2(t, true) })
	t.Run("proxy", func(t *testing.T) { testDataPathPPv2(t, false) })
}

func testDataPathPPv2(t *testing.T, fast bool) {
	x := ppTopologyMode(t, fast)
	ctx := isthmustest.Ctx(t)
	dp, prov, cons := x.dp, x.prov, x.cons
	target, client, ppTG := x.target, x.client, x.ppTG
	epID, epIP, nlbIP := x.epID, x.epIP, x.nlbIP
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if dp.fast {
		// The target takes data in a SYN without a cookie (TCP Fast
		// Open), and the client sends it so: the kernel path drops it
		// from the SYN, which the server would otherwise read before
		// the header. (Set before the server listens.)
		tfo(t, dp.ns(target), "0x602")
		tfo(t, dp.ns(client), "0x5")
	}
	srv := ppServe(t, dp.ns(target), "10.0.1.10:8080")
	dpServe(t, dp.ns(target), "10.0.1.10:8081", "plain")
	dp.settle()
	cl := dp.ns(client)

	// Health checks of the PPv2 group send LOCAL headers, and the target
	// that insists on a header turns healthy.
	dpWait(t, "the PPv2 target healthy", 30*time.Second, func() (bool, string) {
		out, err := prov.ELBv2.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: &ppTG})
		if err != nil {
			return false, err.Error()
		}
		st := out.TargetHealthDescriptions[0].TargetHealth.State
		return st == elbtypes.TargetHealthStateEnumHealthy, string(st)
	})
	if _, locals, noHeader := srv.counts(); locals == 0 || noHeader != 0 {
		t.Fatalf("the health checks sent %d LOCAL headers and %d connections without a header", locals, noHeader)
	}

	// A proxied connection: the header names the consumer and the endpoint.
	connect := func() (string, net.Conn) {
		t.Helper()
		var line string
		var conn net.Conn
		dpWait(t, "a connection through the PPv2 listener", 10*time.Second, func() (bool, string) {
			l, c, err := dpConnect(cl, epIP+":80", time.Second)
			if err != nil {
				return false, err.Error()
			}
			line, conn = l, c
			return true, ""
		})
		return line, conn
	}
	// A first connection warms the path (neighbours resolved), so that
	// the NAT program caches what it opens for the next.
	_, warm := connect()
	warm.Close()
	line, conn := connect()
	defer conn.Close()
	own := conn.LocalAddr().(*net.TCPAddr).AddrPort()
	want := fmt.Sprintf("src=%s dst=%s vpce=%s", own, netip.AddrPortFrom(netip.MustParseAddr(epIP), 80), epID)
	peer, hdr, _ := strings.Cut(line, " ")
	if hdr != want {
		t.Fatalf("the target saw the header %q, want %q", hdr, want)
	}
	if own.Addr().String() != "10.0.2.20" {
		t.Fatalf("the client's own address is %s", own)
	}
	if !strings.HasPrefix(peer, nlbIP+":") {
		t.Fatalf("the target's TCP peer is %s, want the NLB's private IP %s", peer, nlbIP)
	}
	check("echo through the proxy", dpEcho(conn, strings.Repeat("ppv2 ", 10000)+"\n"))
	if dp.fast {
		// The endpoint's NAT program opened the flow itself (its
		// handshake took the shortcut), and wrote its header.
		epNS := dataplane.ENINamespace(dp.prefix, x.epENI)
		ck, err := dp.k.NamespaceCookie(epNS)
		check("the endpoint's namespace", err)
		carried, err := dp.k.FastPath().Carried(ck)
		check("what the fast path carried", err)
		if carried.Flows == 0 {
			t.Fatalf("the fast path opened no flow in the endpoint's namespace: %+v", carried)
		}
		// Nothing was lost on the way, so the target sent nothing
		// again: its acknowledgments, moved down by the header's length
		// from its first segment on, never acknowledged what the client
		// had not sent (the client would drop such a segment, line and
		// all, and the target send it again).
		if n := retransmits(t, srv.client(own)); n != 0 {
			t.Fatalf("the target sent %d segments again on a lossless path", n)
		}
		// Past 4 GiB each way: the program's moved sequence numbers and
		// acknowledgments wrap around the 32-bit sequence space.
		check("4.5 GiB each way through the PPv2 listener", ppBulk(conn, 9<<29))
		// With segments lost on their way to the target, it asks for
		// them again with SACK blocks, which the program moves down, and
		// the client sends them again, moved up.
		before := retransmits(t, conn)
		stop := dropSegments(t, dp.ns(target), 20)
		check("64 MiB each way with 2% of the segments to the target lost", ppBulk(conn, 64<<20))
		stop()
		if n := retransmits(t, conn) - before; n == 0 {
			t.Fatal("no segment was sent again: nothing was lost")
		}
	}
	// The bytes: PROXY over TCP/IPv4, the addresses and ports, then the
	// TLV 0xEA, length, 0x01 and the endpoint id.
	srv.mu.Lock()
	raw := srv.raw[len(srv.raw)-1]
	srv.mu.Unlock()
	wantRaw := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11")
	wantRaw = binary.BigEndian.AppendUint16(wantRaw, uint16(12+3+1+len(epID)))
	wantRaw = append(wantRaw, 10, 0, 2, 20)
	wantRaw = append(wantRaw, netip.MustParseAddr(epIP).AsSlice()...)
	wantRaw = binary.BigEndian.AppendUint16(wantRaw, own.Port())
	wantRaw = binary.BigEndian.AppendUint16(wantRaw, 80)
	wantRaw = append(wantRaw, 0xEA)
	wantRaw = binary.BigEndian.AppendUint16(wantRaw, uint16(1+len(epID)))
	wantRaw = append(wantRaw, 0x01)
	wantRaw = append(wantRaw, epID...)
	if !bytes.Equal(raw, wantRaw) {
		t.Fatalf("the header's bytes:\n% x\nwant\n% x", raw, wantRaw)
	}

	if dp.fast {
		// TCP Fast Open: the first bytes go in the SYN.
		c, err := tfoDial(cl, epIP+":80", "fast open\n")
		check("a TCP Fast Open client", err)
		r := bufio.NewReader(c)
		line, err := r.ReadString('\n')
		check("the header line after a SYN with data", err)
		fown := c.LocalAddr().(*net.TCPAddr).AddrPort()
		if want := fmt.Sprintf("src=%s dst=%s:80 vpce=%s", fown, epIP, epID); !strings.HasSuffix(strings.TrimSpace(line), " "+want) {
			t.Fatalf("with data in the SYN the target saw %q, want the header %q first", line, want)
		}
		echo, err := r.ReadString('\n')
		if err != nil || echo != "fast open\n" {
			t.Fatalf("the SYN's data came back as %q, %v", echo, err)
		}
		c.Close()
	}

	if dp.fast {
		// A client that uses its port again (as clients that open many
		// connections do, within the minutes an ended flow's entry
		// lives): the program takes the ended flow's conntrack entries
		// over, and the new flow has its own header and its own moved
		// sequence numbers (the target sends nothing again).
		epNS := dataplane.ENINamespace(dp.prefix, x.epENI)
		ck, err := dp.k.NamespaceCookie(epNS)
		check("the endpoint's namespace", err)
		opened := func() uint64 {
			carried, err := dp.k.FastPath().Carried(ck)
			check("what the fast path carried", err)
			return carried.Flows
		}
		// The node's namespace (its interface holds the NLB's address):
		// the flow counts as live there until its first FIN.
		nis, err := prov.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{
			Filters: []types.Filter{{Name: aws.String("private-ip-address"), Values: []string{nlbIP}}}})
		check("the NLB's interface", err)
		if len(nis.NetworkInterfaces) != 1 {
			t.Fatalf("%d interfaces hold the NLB's address", len(nis.NetworkInterfaces))
		}
		nodeNS := dp.ns(aws.ToString(nis.NetworkInterfaces[0].NetworkInterfaceId))
		toTarget := netip.MustParseAddrPort("10.0.1.10:8080")
		live := func() int {
			n, err := dp.k.CountFlowsTo(nodeNS, toTarget)
			check("the node's live flows", err)
			return n
		}
		cached := func() int {
			n, err := dp.k.FastPath().CachedFlows(ck)
			check("the endpoint's cached flows", err)
			return n
		}
		before, wasLive := opened(), live()
		var port uint16
		for i := range 2 {
			wasCached := cached()
			line, c, err := dpConnectFrom(cl, epIP+":80", port, 2*time.Second)
			check(fmt.Sprintf("connection %d from one port", i+1), err)
			own := c.LocalAddr().(*net.TCPAddr).AddrPort()
			port = own.Port()
			if want := fmt.Sprintf("src=%s dst=%s:80 vpce=%s", own, epIP, epID); !strings.HasSuffix(line, " "+want) {
				t.Fatalf("connection %d from port %d: the target saw %q, want the header %q", i+1, port, line, want)
			}
			check(fmt.Sprintf("connection %d from one port", i+1), dpEcho(c, strings.Repeat("again ", 10000)+"\n"))
			if n := retransmits(t, srv.client(own)); n != 0 {
				t.Fatalf("connection %d from port %d: the target sent %d segments again", i+1, port, n)
			}
			if i == 0 {
				c.SetLinger(0) // a RST: no TIME_WAIT keeps the port
			}
			c.Close()
			srv.client(own).Close() // the target's FIN (after a RST: nothing)
			// Once the RST, or both FINs and the last acknowledgment,
			// went through, the flow cache holds none of its entries.
			dpWait(t, fmt.Sprintf("connection %d's flow cache entries gone", i+1), 5*time.Second, func() (bool, string) {
				n := cached()
				return n <= wasCached, fmt.Sprintf("%d flows cached, %d before", n, wasCached)
			})
		}
		if n := opened() - before; n != 2 {
			t.Fatalf("two connections from one port: the fast path opened %d flows", n)
		}
		// The second ended with FINs: its entry, the first's taken
		// over, learnt that it is closing (not open for days).
		dpWait(t, "the second connection's flow no longer live", 5*time.Second, func() (bool, string) {
			n := live()
			return n == wasLive, fmt.Sprintf("%d live flows to the target, %d before", n, wasLive)
		})
	}

	// The plain listener of the same endpoint stays kernel NAT: no header.
	pl, pc, err := dpConnect(cl, epIP+":81", 2*time.Second)
	check("the plain listener", err)
	pc.Close()
	if !strings.HasPrefix(pl, "plain "+nlbIP+":") {
		t.Fatalf("the plain listener answered %q", pl)
	}
	if _, _, noHeader := srv.counts(); noHeader != 0 {
		t.Fatalf("%d connections reached the PPv2 target without a header", noHeader)
	}

	// A client in the provider VPC using the NLB directly: the node's
	// proxy writes its address, the NLB's as the destination, no TLV.
	pcOut, err := prov.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: &x.provSubnet, PrivateIpAddress: aws.String("10.0.1.30")})
	check("provider client interface", err)
	dp.settle()
	pline, pconn, err := dpConnect(dp.ns(aws.ToString(pcOut.NetworkInterface.NetworkInterfaceId)), nlbIP+":80", 2*time.Second)
	check("the NLB from its own VPC", err)
	defer pconn.Close()
	pown := pconn.LocalAddr().(*net.TCPAddr).AddrPort()
	if want := fmt.Sprintf("src=%s dst=%s:80 vpce=", pown, nlbIP); !strings.HasPrefix(pline, nlbIP+":") || !strings.HasSuffix(pline, " "+want) {
		t.Fatalf("through the NLB directly the target saw %q, want the peer %s and the header %q", pline, nlbIP, want)
	}
	check("echo through the node's proxy", dpEcho(pconn, "direct\n"))
	srv.mu.Lock()
	raw = srv.raw[len(srv.raw)-1]
	srv.mu.Unlock()
	if len(raw) != 16+12 {
		t.Fatalf("the direct client's header is %d bytes (% x), want 28: no TLV", len(raw), raw)
	}

	// A restarted data plane listens again.
	dp.restart()
	dp.settle()
	line2, conn2 := connect()
	conn2.Close()
	if _, hdr, _ := strings.Cut(line2, " "); !strings.Contains(hdr, "vpce="+epID) || !strings.HasPrefix(hdr, "src=10.0.2.20:") {
		t.Fatalf("after a restart the target saw %q", line2)
	}
	// The endpoint's proxy and the node's, unless the kernel writes the
	// headers.
	wantProxies := 2
	if dp.fast {
		wantProxies = 0
	}
	if n := len(dp.proxies.Running()); n != wantProxies {
		t.Fatalf("%d proxied listeners after the restart, want %d (fast path: %v)", n, wantProxies, dp.fast)
	}

	// Deleting the endpoint stops the proxy: nothing listens any more.
	del, err := cons.EC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{epID}})
	check("delete the endpoint", err)
	if len(del.Unsuccessful) != 0 {
		t.Fatalf("delete: %+v", del.Unsuccessful)
	}
	dpWait(t, "the endpoint's proxy stopped", 10*time.Second, func() (bool, string) {
		run := dp.proxies.Running()
		for _, k := range run {
			if k.ENI == x.epENI {
				return false, fmt.Sprintf("running: %v", run)
			}
		}
		return len(run) == wantProxies/2, fmt.Sprintf("running: %v", run)
	})
}

// TestDataPathPPv2NoEgress gives a PPv2 endpoint a security group of its
// own and revokes all its egress, as users often do with endpoint groups:
// the PrivateLink hop (the proxy's connection to the load balancer node
// over its transit link, or the forwarded flow with the fast path) is not
// the endpoint's egress, so PPv2 connections still carry traffic, while
// what the endpoint's namespace sends into the consumer VPC through eth0
// is blocked (it went through while the group's default egress rule was
// there).
func TestDataPathPPv2NoEgress(t *testing.T) {
	t.Run("kernel", func(t *testing.T) { testDataPathPPv2NoEgress(t, true) })
	t.Run("proxy", func(t *testing.T) { testDataPathPPv2NoEgress(t, false) })
}

func testDataPathPPv2NoEgress(t *testing.T, fast bool) {
	x := ppTopologyMode(t, fast)
	ctx := isthmustest.Ctx(t)
	dp, cons := x.dp, x.cons
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	dp.settle()
	ppServe(t, dp.ns(x.target), "10.0.1.10:8080")
	// A server in the consumer VPC, on the client, that the endpoint's
	// namespace can try to reach through eth0; the client's (default)
	// group admits the subnet on its port.
	dpServe(t, dp.ns(x.client), "10.0.2.20:9000", "consumer")
	eps, err := cons.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{x.epID}})
	check("describe the endpoint", err)
	vpcID := aws.ToString(eps.VpcEndpoints[0].VpcId)
	defaultGroup := aws.ToString(eps.VpcEndpoints[0].Groups[0].GroupId)
	_, err = cons.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &defaultGroup,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(9000), ToPort: aws.Int32(9000),
			IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.2.0/24")}}}}})
	check("the client's group admits the subnet on 9000", err)

	// The endpoint's own group: the listener port from the subnet in, and
	// (for now) the default egress rule.
	sg, err := cons.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: &vpcID, GroupName: aws.String("endpoint"), Description: aws.String("endpoint")})
	check("the endpoint's group", err)
	_, err = cons.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80),
			IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.2.0/24")}}}}})
	check("the endpoint's group admits the subnet on 80", err)
	_, err = cons.EC2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: &x.epID,
		AddSecurityGroupIds: []string{aws.ToString(sg.GroupId)}, RemoveSecurityGroupIds: []string{defaultGroup}})
	check("the endpoint in its own group", err)
	dp.settle()

	epNS := dp.ns(x.epENI)
	line, c, err := dpConnect(epNS, "10.0.2.20:9000", 2*time.Second)
	check("with egress, the endpoint's namespace reaches the consumer VPC (the probe works)", err)
	c.Close()
	if !strings.HasPrefix(line, "consumer ") {
		t.Fatalf("the consumer's server answered %q", line)
	}

	// No egress at all.
	_, err = cons.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: sg.GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
	check("revoke the endpoint group's egress", err)
	g, err := cons.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(sg.GroupId)}})
	check("describe the endpoint's group", err)
	if n := len(g.SecurityGroups[0].IpPermissionsEgress); n != 0 {
		t.Fatalf("the endpoint's group still has %d egress rules", n)
	}
	dp.settle()

	// Proxied connections go on, new ones included.
	for i := 0; i < 2; i++ {
		var line string
		var conn net.Conn
		dpWait(t, "a new connection through the PPv2 listener without egress", 10*time.Second, func() (bool, string) {
			l, c, err := dpConnect(dp.ns(x.client), x.epIP+":80", time.Second)
			if err != nil {
				return false, err.Error()
			}
			line, conn = l, c
			return true, ""
		})
		if _, hdr, _ := strings.Cut(line, " "); !strings.HasPrefix(hdr, "src=10.0.2.20:") || !strings.HasSuffix(hdr, " vpce="+x.epID) {
			conn.Close()
			t.Fatalf("connection %d: the target saw %q", i, line)
		}
		err := dpEcho(conn, strings.Repeat("no egress ", 1000)+"\n")
		conn.Close()
		check(fmt.Sprintf("echo %d through the proxy", i), err)
	}

	// Egress into the consumer VPC through eth0 stays closed.
	if _, c, err := dpConnect(epNS, "10.0.2.20:9000", time.Second); err == nil {
		c.Close()
		t.Fatal("without egress rules the endpoint's namespace still reaches the consumer VPC through eth0")
	}
}
