//go:build linux

package daemon

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/netns"
	"github.com/isthmusnet/isthmus/testenv"
)

// TestHelperServeDataplane is not a test: TestKill9DataPath runs the test
// binary again with ISTHMUS_HELPER_DATAPLANE set (the data dir), to have a
// daemon with the Linux data plane, under ISTHMUS_HELPER_PREFIX, that it
// can kill.
func TestHelperServeDataplane(t *testing.T) {
	dir := os.Getenv("ISTHMUS_HELPER_DATAPLANE")
	if dir == "" {
		t.Skip("helper process")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	err := Run(ctx, Config{
		Listen:          os.Getenv("ISTHMUS_HELPER_LISTEN"),
		DataDir:         dir,
		Regions:         []string{"us-east-1"},
		Auth:            api.AuthOpen,
		Dataplane:       "linux",
		DataplanePrefix: os.Getenv("ISTHMUS_HELPER_PREFIX"),
		Logger:          log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestKill9DataPath kills a daemon running the Linux data plane with
// SIGKILL while a PrivateLink flow (consumer ENI → interface endpoint →
// NLB → target, in two VPCs of the same CIDR) carries data. The kernel
// holds the flow, so it keeps carrying data with no daemon; a daemon
// restarted on the same data dir takes the kernel state over (its
// reconciler's first pass and its followers) without resetting the flow,
// and new flows go through too.
func TestKill9DataPath(t *testing.T) {
	testenv.RequireRoot(t)
	if err := dataplane.CheckPrivileges(); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	rand.Read(b[:])
	prefix := "k9" + hex.EncodeToString(b[:])
	// Registered first, so it runs last: after the daemons are dead.
	t.Cleanup(func() { k9Teardown(t, prefix) })

	dir := t.TempDir()
	d := k9StartDaemon(t, dir, prefix)
	ctx := context.Background()
	const provider, consumer = "111111111111", "222222222222"
	pEC2, pELB := k9Clients(d.addr, provider)
	cEC2, _ := k9Clients(d.addr, consumer)
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// --- Provider: a VPC, a subnet, a target interface, an NLB with a TCP
	// listener on 80 forwarding to 8080, an endpoint service open to the
	// consumer without acceptance.
	pv, err := pEC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	check("provider VPC", err)
	pvID := aws.ToString(pv.Vpc.VpcId)
	ps, err := pEC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &pvID, CidrBlock: aws.String("10.0.1.0/24"), AvailabilityZone: aws.String("us-east-1a")})
	check("provider subnet", err)
	psID := aws.ToString(ps.Subnet.SubnetId)
	k9AllowDefault(t, pEC2, pvID, 8080)
	tgt, err := pEC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: &psID, PrivateIpAddress: aws.String("10.0.1.10")})
	check("target interface", err)
	target := aws.ToString(tgt.NetworkInterface.NetworkInterfaceId)
	lbOut, err := pELB.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("svc"), Type: elbtypes.LoadBalancerTypeEnumNetwork,
		Scheme: elbtypes.LoadBalancerSchemeEnumInternal, Subnets: []string{psID}})
	check("NLB", err)
	lbARN := aws.ToString(lbOut.LoadBalancers[0].LoadBalancerArn)
	nlbIP := aws.ToString(lbOut.LoadBalancers[0].AvailabilityZones[0].LoadBalancerAddresses[0].PrivateIPv4Address)
	tgOut, err := pELB.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String("web"), Protocol: elbtypes.ProtocolEnumTcp,
		Port: aws.Int32(8080), VpcId: &pvID})
	check("target group", err)
	tgARN := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	_, err = pELB.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: &tgARN, Targets: []elbtypes.TargetDescription{{Id: &target}}})
	check("register the target", err)
	_, err = pELB.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: &lbARN, Port: aws.Int32(80), Protocol: elbtypes.ProtocolEnumTcp,
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &tgARN}}})
	check("listener", err)
	svc, err := pEC2.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{
		NetworkLoadBalancerArns: []string{lbARN}, AcceptanceRequired: aws.Bool(false)})
	check("endpoint service", err)
	svcID, svcName := aws.ToString(svc.ServiceConfiguration.ServiceId), aws.ToString(svc.ServiceConfiguration.ServiceName)
	_, err = pEC2.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: &svcID,
		AddAllowedPrincipals: []string{"arn:aws:iam::" + consumer + ":root"}})
	check("allow the consumer", err)

	// --- Consumer: the same CIDR, a client interface and the endpoint in
	// one subnet.
	cv, err := cEC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	check("consumer VPC", err)
	cvID := aws.ToString(cv.Vpc.VpcId)
	cs, err := cEC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &cvID, CidrBlock: aws.String("10.0.1.0/24"), AvailabilityZone: aws.String("us-east-1a")})
	check("consumer subnet", err)
	csID := aws.ToString(cs.Subnet.SubnetId)
	k9AllowDefault(t, cEC2, cvID, 80)
	cl, err := cEC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: &csID, PrivateIpAddress: aws.String("10.0.1.20")})
	check("client interface", err)
	client := aws.ToString(cl.NetworkInterface.NetworkInterfaceId)
	epOut, err := cEC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: &cvID, ServiceName: &svcName,
		VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: []string{csID}})
	check("endpoint", err)
	epID := aws.ToString(epOut.VpcEndpoint.VpcEndpointId)
	var epENI string
	k9Wait(t, "the endpoint available", 30*time.Second, func() (bool, string) {
		out, err := cEC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{epID}})
		if err != nil {
			return false, err.Error()
		}
		e := out.VpcEndpoints[0]
		if len(e.NetworkInterfaceIds) == 1 {
			epENI = e.NetworkInterfaceIds[0]
		}
		return string(e.State) == "available" && epENI != "", string(e.State)
	})
	nis, err := cEC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{epENI}})
	check("the endpoint's interface", err)
	epAddr := aws.ToString(nis.NetworkInterfaces[0].PrivateIpAddress) + ":80"

	// The target serves from this process, in its namespace.
	targetNS, clientNS := dataplane.ENINamespace(prefix, target), dataplane.ENINamespace(prefix, client)
	var srv *k9Server
	k9Wait(t, "listening in the target's namespace", 30*time.Second, func() (bool, string) {
		ln, err := netns.Listen(targetNS, "tcp4", "10.0.1.10:8080")
		if err != nil {
			return false, err.Error()
		}
		srv = k9Serve(t, ln)
		return true, ""
	})
	k9Wait(t, "a flow through the endpoint", 60*time.Second, func() (bool, string) {
		c, _, err := k9Connect(clientNS, epAddr)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})

	// The flow that must survive.
	live, greeting, err := k9Connect(clientNS, epAddr)
	check("the live flow", err)
	defer live.Close()
	if !strings.HasPrefix(greeting, nlbIP+":") {
		t.Fatalf("the target saw %q, want the NLB's address %s", greeting, nlbIP)
	}
	check("echo before the kill", k9Echo(live, "before the kill\n"))
	// Its side at the target (health checks connect to the target too).
	liveAtTarget := srv.byPeer(greeting)
	if liveAtTarget == nil {
		t.Fatalf("the target holds no connection from %s", greeting)
	}

	// --- kill -9 while the flow carries data.
	traffic := k9Traffic(live)
	d.kill(t)
	traffic.waitMore(t, "traffic with the daemon dead")
	check("the live flow with the daemon dead", traffic.stop())
	check("echo with the daemon dead", k9Echo(live, "the daemon is dead\n"))
	c, _, err := k9Connect(clientNS, epAddr)
	check("a new flow with the daemon dead (the kernel holds the NAT)", err)
	c.Close()

	// --- A new daemon on the same data dir takes over, with traffic on
	// the live flow all along.
	traffic = k9Traffic(live)
	d = k9StartDaemon(t, dir, prefix)
	pEC2, pELB = k9Clients(d.addr, provider)
	cEC2, _ = k9Clients(d.addr, consumer)
	k9Wait(t, "the restarted API", 30*time.Second, func() (bool, string) {
		out, err := cEC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{epID}})
		if err != nil {
			return false, err.Error()
		}
		return string(out.VpcEndpoints[0].State) == "available", string(out.VpcEndpoints[0].State)
	})
	// The reconciler's first pass is done once it reports the interfaces'
	// state (the admin socket says "" before it).
	admin := &AdminClient{DataDir: dir}
	k9Wait(t, "the restarted reconciler's first pass", 30*time.Second, func() (bool, string) {
		for _, id := range []string{client, epENI, target} {
			info, err := admin.Interface(id)
			if err != nil {
				return false, err.Error()
			}
			if info.State != dataplane.StateReady {
				return false, id + ": " + info.State + " " + info.Error
			}
		}
		return true, ""
	})
	traffic.waitMore(t, "traffic after the restart")
	check("the live flow across the restart", traffic.stop())
	check("echo after the restart", k9Echo(live, "after the restart\n"))
	// The target's side of the same connection writes, the client reads.
	check("the target writes on the live flow", k9Push(liveAtTarget, live, "from the target\n"))
	c, _, err = k9Connect(clientNS, epAddr)
	check("a new flow after the restart", err)
	check("echo on the new flow", k9Echo(c, "new after the restart\n"))
	c.Close()

	// --- Clean up through the API: the daemon removes its namespaces.
	_, err = cEC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{epID}})
	check("delete the endpoint", err)
	k9Retry(t, "delete the endpoint service", func() error {
		out, err := pEC2.DeleteVpcEndpointServiceConfigurations(ctx, &ec2.DeleteVpcEndpointServiceConfigurationsInput{ServiceIds: []string{svcID}})
		if err == nil && len(out.Unsuccessful) > 0 {
			err = fmt.Errorf("%s", aws.ToString(out.Unsuccessful[0].Error.Message))
		}
		return err
	})
	k9Retry(t, "delete the NLB", func() error {
		_, err := pELB.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: &lbARN})
		return err
	})
	k9Retry(t, "delete the target group", func() error {
		_, err := pELB.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: &tgARN})
		return err
	})
	for _, del := range []struct {
		c   *ec2.Client
		eni string
	}{{pEC2, target}, {cEC2, client}} {
		k9Retry(t, "delete "+del.eni, func() error {
			_, err := del.c.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(del.eni)})
			return err
		})
	}
	for _, del := range []struct {
		c           *ec2.Client
		subnet, vpc string
	}{{pEC2, psID, pvID}, {cEC2, csID, cvID}} {
		k9Retry(t, "delete "+del.subnet, func() error {
			_, err := del.c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(del.subnet)})
			return err
		})
		k9Retry(t, "delete "+del.vpc, func() error {
			_, err := del.c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(del.vpc)})
			return err
		})
	}
	k9Wait(t, "the daemon removing its namespaces", 30*time.Second, func() (bool, string) {
		left, err := netns.List(prefix + "-")
		if err != nil {
			return false, err.Error()
		}
		return len(left) == 0, strings.Join(left, " ")
	})
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-d.done
	if d.err != nil {
		t.Fatalf("the daemon did not exit cleanly on SIGTERM: %v", d.err)
	}
}

// k9Daemon is a daemon process with the Linux data plane.
type k9Daemon struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed once the process has exited
	err  error         // its Wait error, once done
}

// k9StartDaemon starts TestHelperServeDataplane on dir and prefix and
// returns once its API port accepts connections.
func k9StartDaemon(t *testing.T, dir, prefix string) *k9Daemon {
	t.Helper()
	d := &k9Daemon{addr: freeAddr(t), done: make(chan struct{})}
	d.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperServeDataplane$")
	d.cmd.Env = append(os.Environ(), "ISTHMUS_HELPER_DATAPLANE="+dir, "ISTHMUS_HELPER_LISTEN="+d.addr, "ISTHMUS_HELPER_PREFIX="+prefix)
	d.cmd.Stdout, d.cmd.Stderr = os.Stderr, os.Stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.cmd.Process.Kill(); <-d.done })
	k9Wait(t, "the daemon's API port", 30*time.Second, func() (bool, string) {
		select {
		case <-d.done:
			t.Fatalf("the daemon exited: %v", d.err)
		default:
		}
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
	return d
}

// kill sends SIGKILL and waits until the process is gone.
func (d *k9Daemon) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	<-d.done
	if ws, ok := d.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the daemon ended with %v, not by SIGKILL", d.err)
	}
}

// k9Clients returns EC2 and ELBv2 clients of account (open mode).
func k9Clients(addr, account string) (*ec2.Client, *elb.Client) {
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(account, "x", ""),
		BaseEndpoint: aws.String("http://" + addr),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
	return ec2.NewFromConfig(cfg), elb.NewFromConfig(cfg)
}

// k9AllowDefault admits TCP port from the VPC's CIDR in its default group.
func k9AllowDefault(t *testing.T, c *ec2.Client, vpc string, port int32) {
	t.Helper()
	ctx := context.Background()
	sgs, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil || len(sgs.SecurityGroups) != 1 {
		t.Fatalf("default group of %s: %v", vpc, err)
	}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sgs.SecurityGroups[0].GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
			IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}}}}})
	if err != nil {
		t.Fatalf("admitting port %d in %s: %v", port, vpc, err)
	}
}

// k9Server answers each connection with its peer's address and a newline,
// then echoes.
type k9Server struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func k9Serve(t *testing.T, ln net.Listener) *k9Server {
	s := &k9Server{ln: ln}
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
			go func() {
				fmt.Fprintf(c, "%s\n", c.RemoteAddr())
				io.Copy(c, c)
			}()
		}
	}()
	return s
}

// byPeer returns the connection from peer (the address it greeted with),
// or nil.
func (s *k9Server) byPeer(peer string) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c.RemoteAddr().String() == peer {
			return c
		}
	}
	return nil
}

// k9Connect connects from a namespace and reads the server's greeting.
func k9Connect(ns, addr string) (net.Conn, string, error) {
	c, err := netns.Dial(ns, "tcp4", addr, time.Second)
	if err != nil {
		return nil, "", err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", err
	}
	c.SetDeadline(time.Time{})
	return c, strings.TrimSpace(line), nil
}

// k9Echo sends msg and reads it back: bytes both ways.
func k9Echo(c net.Conn, msg string) error { return testenv.Echo(c, msg, 10*time.Second) }

// k9Push writes msg on the server's side of a connection and reads it on
// the client's.
func k9Push(server, client net.Conn, msg string) error {
	if _, err := io.WriteString(server, msg); err != nil {
		return err
	}
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer client.SetReadDeadline(time.Time{})
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(client, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("read %q, the target wrote %q", buf, msg)
	}
	return nil
}

// k9Flow echoes on a connection over and over until stopped or an echo
// fails.
type k9Flow struct {
	n    atomic.Int64
	quit chan struct{}
	done chan error
}

func k9Traffic(c net.Conn) *k9Flow {
	f := &k9Flow{quit: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for i := 0; ; i++ {
			select {
			case <-f.quit:
				f.done <- nil
				return
			default:
			}
			if err := k9Echo(c, fmt.Sprintf("exchange %d\n", i)); err != nil {
				f.done <- fmt.Errorf("exchange %d: %w", i, err)
				return
			}
			f.n.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return f
}

// waitMore waits until the flow has made a few more exchanges from now.
func (f *k9Flow) waitMore(t *testing.T, what string) {
	t.Helper()
	from := f.n.Load()
	k9Wait(t, what, 30*time.Second, func() (bool, string) {
		select {
		case err := <-f.done:
			f.done <- err
			t.Fatalf("%s: %v", what, err)
		default:
		}
		n := f.n.Load()
		return n >= from+10, fmt.Sprintf("%d exchanges", n-from)
	})
}

// stop ends the traffic and returns its first failure.
func (f *k9Flow) stop() error {
	close(f.quit)
	err := <-f.done
	return err
}

// k9Wait polls ok until it holds or limit passes.
func k9Wait(t *testing.T, what string, limit time.Duration, ok func() (bool, string)) {
	t.Helper()
	start := time.Now()
	for {
		done, state := ok()
		if done {
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v (%s)", what, limit, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// k9Retry runs a clean-up call until it succeeds (a dependency may take a
// moment to go).
func k9Retry(t *testing.T, what string, fn func() error) {
	t.Helper()
	var last error
	k9Wait(t, what, 30*time.Second, func() (bool, string) {
		last = fn()
		if last != nil {
			return false, last.Error()
		}
		return true, ""
	})
}

// k9Teardown removes whatever of prefix is left in the kernel: the data
// plane's own teardown, then any namespace under /run/netns (and its
// /etc/netns directory) with the prefix.
func k9Teardown(t *testing.T, prefix string) {
	k := dataplane.NewLinuxKernel(nil)
	defer k.Close()
	if err := dataplane.Teardown(k, prefix); err != nil {
		t.Errorf("teardown: %v", err)
	}
	left, err := netns.List(prefix + "-")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("listing namespaces: %v", err)
	}
	for _, ns := range left {
		if err := netns.Delete(ns); err != nil {
			t.Errorf("deleting namespace %s: %v", ns, err)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(dataplane.EtcNetnsDir, prefix+"-*"))
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	if left, _ := netns.List(prefix + "-"); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
}
