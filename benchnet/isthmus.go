//go:build linux

package benchnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/daemon"
	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/netns"
)

// The accounts of the PrivateLink topology (open auth: a 12-digit access
// key id selects the account).
const (
	ProviderAccount = "111111111111"
	ConsumerAccount = "222222222222"
	isthmusRegion   = "us-east-1"
)

// Isthmus is an in-process Isthmus, run exactly as `isthmus serve
// --auth open` runs (daemon.Run: the embedded store in a temporary
// directory, the API on loopback, the Linux data plane under its own
// prefix), with the topology of the vpc, endpoint and ppv2 paths built
// through its API by aws-sdk-go-v2:
//
//	provider (111111111111)                 consumer (222222222222)
//	VPC 10.0.0.0/16, subnet 10.0.1.0/24     VPC 10.0.0.0/16, subnet 10.0.1.0/24
//	  target ENI 10.0.1.10 (servers)          client ENI 10.0.1.20
//	  client ENI 10.0.1.20 (vpc path)         interface endpoint → the service
//	  NLB: TCP 5201 → iperf3, 7001 → Go server, 7002 → Go server with PPv2
//	  endpoint service (no acceptance), consumer allowed
type Isthmus struct {
	Prefix string
	URL    string
	// Steps are the API calls made, as aws CLI commands with their results.
	Steps []string

	Target, VPCClient, ConsumerClient       string // interface ids
	TargetNS, VPCClientNS, ConsumerClientNS string // their namespaces
	TargetIP, VPCClientIP, EndpointIP       netip.Addr
	LoadBalancer, EndpointID, ServiceName   string
	TargetGroups                            map[uint16]string // listener port → target group ARN

	// What AcceptLatency builds on: the service, and the consumer's
	// subnet and security group.
	serviceID, consumerSubnet, consumerGroup, consumerVPC string

	dir     string
	cancel  context.CancelFunc
	done    chan error
	ec2P    *ec2.Client
	elbP    *elb.Client
	ec2C    *ec2.Client
	stopped bool
}

// StartIsthmus starts Isthmus with data-plane prefix and builds the
// topology. Close stops it and removes everything of prefix; on error
// StartIsthmus has done so already.
func StartIsthmus(ctx context.Context, prefix string, log *slog.Logger) (x *Isthmus, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := dataplane.CheckPrivileges(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "isthmus-bench-")
	if err != nil {
		return nil, err
	}
	x = &Isthmus{Prefix: prefix, dir: dir, done: make(chan error, 1), TargetGroups: map[uint16]string{}}
	defer func() {
		if err != nil {
			x.Close()
			x = nil
		}
	}()
	dctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	ready := make(chan string, 1)
	go func() {
		x.done <- daemon.Run(dctx, daemon.Config{
			Listen:          "127.0.0.1:0",
			DataDir:         dir,
			Regions:         []string{isthmusRegion},
			Auth:            api.AuthOpen,
			DefaultAccount:  ProviderAccount,
			Dataplane:       "linux",
			DataplanePrefix: prefix,
			Logger:          log,
			Out:             io.Discard,
			Ready:           func(addr string) { ready <- addr },
		})
	}()
	select {
	case addr := <-ready:
		x.URL = "http://" + addr
	case err := <-x.done:
		x.stopped = true
		return nil, fmt.Errorf("isthmus: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		return nil, errors.New("isthmus did not start within 30s")
	}
	x.ec2P, x.elbP = ec2.NewFromConfig(x.config(ProviderAccount)), elb.NewFromConfig(x.config(ProviderAccount))
	x.ec2C = ec2.NewFromConfig(x.config(ConsumerAccount))
	if err := x.build(ctx); err != nil {
		return nil, err
	}
	x.TargetNS = dataplane.ENINamespace(prefix, x.Target)
	x.VPCClientNS = dataplane.ENINamespace(prefix, x.VPCClient)
	x.ConsumerClientNS = dataplane.ENINamespace(prefix, x.ConsumerClient)
	// The data plane brings the interfaces up within a pass or two.
	deadline := time.Now().Add(30 * time.Second)
	for _, ns := range []string{x.TargetNS, x.VPCClientNS, x.ConsumerClientNS} {
		for !netns.Exists(ns) {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("isthmus: the data plane did not create namespace %s within 30s", ns)
			}
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				return nil, err
			}
		}
	}
	for _, ns := range []string{x.VPCClientNS, x.ConsumerClientNS} {
		if err := setSysctls(ns, ClientSysctls); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (x *Isthmus) config(account string) aws.Config {
	return aws.Config{
		Region:       isthmusRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(account, "secret", ""),
		BaseEndpoint: aws.String(x.URL),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.DisableKeepAlives = true
		}),
	}
}

func (x *Isthmus) step(format string, args ...any) {
	x.Steps = append(x.Steps, fmt.Sprintf(format, args...))
}

// build makes the topology through the API.
func (x *Isthmus) build(ctx context.Context) error {
	const cidr, subnetCIDR, az = "10.0.0.0/16", "10.0.1.0/24", "us-east-1a"
	var (
		targetIP = "10.0.1.10"
		clientIP = "10.0.1.20"
	)
	// Provider: VPC, subnet, a security group open to TCP, the target and
	// the in-VPC client.
	pv, err := x.ec2P.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
	if err != nil {
		return fmt.Errorf("provider CreateVpc: %w", err)
	}
	vpcP := aws.ToString(pv.Vpc.VpcId)
	x.step("[provider] aws ec2 create-vpc --cidr-block %s  → %s", cidr, vpcP)
	ps, err := x.ec2P.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpcP, CidrBlock: aws.String(subnetCIDR), AvailabilityZone: aws.String(az)})
	if err != nil {
		return fmt.Errorf("provider CreateSubnet: %w", err)
	}
	subP := aws.ToString(ps.Subnet.SubnetId)
	x.step("[provider] aws ec2 create-subnet --vpc-id %s --cidr-block %s --availability-zone %s  → %s", vpcP, subnetCIDR, az, subP)
	sgP, err := x.openGroup(ctx, x.ec2P, "provider", vpcP)
	if err != nil {
		return err
	}
	if x.Target, x.TargetIP, err = x.eni(ctx, x.ec2P, "provider", subP, sgP, targetIP, "isthmus-bench target"); err != nil {
		return err
	}
	if x.VPCClient, x.VPCClientIP, err = x.eni(ctx, x.ec2P, "provider", subP, sgP, clientIP, "isthmus-bench vpc client"); err != nil {
		return err
	}

	// The network load balancer: one listener per port, each to a target
	// group of the target's address; health checks every 5 s.
	lb, err := x.elbP.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		Name: aws.String("isthmus-bench"), Type: elbtypes.LoadBalancerTypeEnumNetwork,
		Scheme: elbtypes.LoadBalancerSchemeEnumInternal, Subnets: []string{subP},
	})
	if err != nil {
		return fmt.Errorf("CreateLoadBalancer: %w", err)
	}
	x.LoadBalancer = aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	x.step("[provider] aws elbv2 create-load-balancer --name isthmus-bench --type network --scheme internal --subnets %s  → %s", subP, x.LoadBalancer)
	for _, g := range []struct {
		name string
		port uint16
		hc   string
		ppv2 bool
	}{
		{"bench-iperf3", IperfPort, fmt.Sprint(GoPort), false}, // iperf3 -s cannot take health checks
		{"bench-go", GoPort, "traffic-port", false},
		{"bench-ppv2", PPv2Port, "traffic-port", true},
	} {
		tg, err := x.elbP.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{
			Name: aws.String(g.name), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(int32(g.port)),
			VpcId: &vpcP, TargetType: elbtypes.TargetTypeEnumIp, HealthCheckPort: aws.String(g.hc),
			HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
			HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
		})
		if err != nil {
			return fmt.Errorf("CreateTargetGroup %s: %w", g.name, err)
		}
		arn := aws.ToString(tg.TargetGroups[0].TargetGroupArn)
		x.TargetGroups[g.port] = arn
		x.step("[provider] aws elbv2 create-target-group --name %s --protocol TCP --port %d --vpc-id %s --target-type ip --health-check-port %s --health-check-interval-seconds 5 --health-check-timeout-seconds 2 --healthy-threshold-count 2 --unhealthy-threshold-count 2  → %s", g.name, g.port, vpcP, g.hc, arn)
		if g.ppv2 {
			if _, err := x.elbP.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{
				TargetGroupArn: &arn,
				Attributes:     []elbtypes.TargetGroupAttribute{{Key: aws.String("proxy_protocol_v2.enabled"), Value: aws.String("true")}},
			}); err != nil {
				return fmt.Errorf("ModifyTargetGroupAttributes: %w", err)
			}
			x.step("[provider] aws elbv2 modify-target-group-attributes --target-group-arn %s --attributes Key=proxy_protocol_v2.enabled,Value=true", arn)
		}
		if _, err := x.elbP.RegisterTargets(ctx, &elb.RegisterTargetsInput{
			TargetGroupArn: &arn, Targets: []elbtypes.TargetDescription{{Id: aws.String(x.TargetIP.String()), Port: aws.Int32(int32(g.port))}},
		}); err != nil {
			return fmt.Errorf("RegisterTargets: %w", err)
		}
		x.step("[provider] aws elbv2 register-targets --target-group-arn %s --targets Id=%s,Port=%d", arn, x.TargetIP, g.port)
		l, err := x.elbP.CreateListener(ctx, &elb.CreateListenerInput{
			LoadBalancerArn: &x.LoadBalancer, Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(int32(g.port)),
			DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &arn}},
		})
		if err != nil {
			return fmt.Errorf("CreateListener %d: %w", g.port, err)
		}
		x.step("[provider] aws elbv2 create-listener --load-balancer-arn %s --protocol TCP --port %d --default-actions Type=forward,TargetGroupArn=%s  → %s", x.LoadBalancer, g.port, arn, aws.ToString(l.Listeners[0].ListenerArn))
	}

	// The endpoint service, open to the consumer account.
	svc, err := x.ec2P.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{
		NetworkLoadBalancerArns: []string{x.LoadBalancer}, AcceptanceRequired: aws.Bool(false),
	})
	if err != nil {
		return fmt.Errorf("CreateVpcEndpointServiceConfiguration: %w", err)
	}
	svcID := aws.ToString(svc.ServiceConfiguration.ServiceId)
	x.serviceID = svcID
	x.ServiceName = aws.ToString(svc.ServiceConfiguration.ServiceName)
	x.step("[provider] aws ec2 create-vpc-endpoint-service-configuration --network-load-balancer-arns %s --no-acceptance-required  → %s (%s)", x.LoadBalancer, svcID, x.ServiceName)
	principal := "arn:aws:iam::" + ConsumerAccount + ":root"
	if _, err := x.ec2P.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: &svcID, AddAllowedPrincipals: []string{principal},
	}); err != nil {
		return fmt.Errorf("ModifyVpcEndpointServicePermissions: %w", err)
	}
	x.step("[provider] aws ec2 modify-vpc-endpoint-service-permissions --service-id %s --add-allowed-principals %s", svcID, principal)

	// Consumer: the same CIDR, a client, and the interface endpoint.
	cv, err := x.ec2C.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
	if err != nil {
		return fmt.Errorf("consumer CreateVpc: %w", err)
	}
	vpcC := aws.ToString(cv.Vpc.VpcId)
	x.step("[consumer] aws ec2 create-vpc --cidr-block %s  → %s", cidr, vpcC)
	cs, err := x.ec2C.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &vpcC, CidrBlock: aws.String(subnetCIDR), AvailabilityZone: aws.String(az)})
	if err != nil {
		return fmt.Errorf("consumer CreateSubnet: %w", err)
	}
	subC := aws.ToString(cs.Subnet.SubnetId)
	x.step("[consumer] aws ec2 create-subnet --vpc-id %s --cidr-block %s --availability-zone %s  → %s", vpcC, subnetCIDR, az, subC)
	sgC, err := x.openGroup(ctx, x.ec2C, "consumer", vpcC)
	if err != nil {
		return err
	}
	if x.ConsumerClient, _, err = x.eni(ctx, x.ec2C, "consumer", subC, sgC, clientIP, "isthmus-bench client"); err != nil {
		return err
	}
	x.consumerVPC, x.consumerSubnet, x.consumerGroup = vpcC, subC, sgC
	ep, err := x.ec2C.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{
		VpcId: &vpcC, ServiceName: &x.ServiceName, VpcEndpointType: ec2types.VpcEndpointTypeInterface,
		SubnetIds: []string{subC}, SecurityGroupIds: []string{sgC}, PrivateDnsEnabled: aws.Bool(false),
	})
	if err != nil {
		return fmt.Errorf("CreateVpcEndpoint: %w", err)
	}
	x.EndpointID = aws.ToString(ep.VpcEndpoint.VpcEndpointId)
	x.step("[consumer] aws ec2 create-vpc-endpoint --vpc-endpoint-type Interface --vpc-id %s --service-name %s --subnet-ids %s --security-group-ids %s --no-private-dns-enabled  → %s (%s)",
		vpcC, x.ServiceName, subC, sgC, x.EndpointID, ep.VpcEndpoint.State)
	if len(ep.VpcEndpoint.NetworkInterfaceIds) == 0 {
		return fmt.Errorf("endpoint %s has no network interface", x.EndpointID)
	}
	eni := ep.VpcEndpoint.NetworkInterfaceIds[0]
	d, err := x.ec2C.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}})
	if err != nil || len(d.NetworkInterfaces) != 1 {
		return fmt.Errorf("DescribeNetworkInterfaces %s: %v", eni, err)
	}
	if x.EndpointIP, err = netip.ParseAddr(aws.ToString(d.NetworkInterfaces[0].PrivateIpAddress)); err != nil {
		return fmt.Errorf("endpoint interface %s: %w", eni, err)
	}
	x.step("[consumer] aws ec2 describe-network-interfaces --network-interface-ids %s  → %s", eni, x.EndpointIP)
	return nil
}

// AcceptLatency measures how soon an accepted interface endpoint carries
// traffic. The service starts requiring acceptance; each of n new
// endpoints in the consumer's subnet is created, shown to refuse
// connections while pendingAcceptance (so its interface is in place), and
// accepted, while the consumer's client tries to connect to it every
// 5 ms; its time is from just before AcceptVpcEndpointConnections to the
// first connection through it. The endpoints are deleted at the end (not
// one by one: a new endpoint could get a deleted one's address while the
// data plane still serves the old one, and the client's ARP cache still
// knows it), and the service no longer requires acceptance when
// AcceptLatency returns.
func (x *Isthmus) AcceptLatency(ctx context.Context, n int) ([]time.Duration, error) {
	setAcceptance := func(required bool) error {
		_, err := x.ec2P.ModifyVpcEndpointServiceConfiguration(ctx, &ec2.ModifyVpcEndpointServiceConfigurationInput{
			ServiceId: &x.serviceID, AcceptanceRequired: aws.Bool(required)})
		return err
	}
	if err := setAcceptance(true); err != nil {
		return nil, fmt.Errorf("ModifyVpcEndpointServiceConfiguration: %w", err)
	}
	defer setAcceptance(false)
	var ids []string
	defer func() {
		if len(ids) > 0 {
			x.ec2C.DeleteVpcEndpoints(context.WithoutCancel(ctx), &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: ids})
		}
	}()
	var out []time.Duration
	for range n {
		d, err := x.acceptOne(ctx, &ids)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

// acceptOne creates, checks and accepts one endpoint (its id goes to
// ids) and times it.
func (x *Isthmus) acceptOne(ctx context.Context, ids *[]string) (time.Duration, error) {
	ep, err := x.ec2C.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{
		VpcId: &x.consumerVPC, ServiceName: &x.ServiceName, VpcEndpointType: ec2types.VpcEndpointTypeInterface,
		SubnetIds: []string{x.consumerSubnet}, SecurityGroupIds: []string{x.consumerGroup}, PrivateDnsEnabled: aws.Bool(false),
	})
	if err != nil {
		return 0, fmt.Errorf("CreateVpcEndpoint: %w", err)
	}
	id := aws.ToString(ep.VpcEndpoint.VpcEndpointId)
	*ids = append(*ids, id)
	if !strings.EqualFold(string(ep.VpcEndpoint.State), "pendingAcceptance") || len(ep.VpcEndpoint.NetworkInterfaceIds) == 0 {
		return 0, fmt.Errorf("endpoint %s: %s, interfaces %v", id, ep.VpcEndpoint.State, ep.VpcEndpoint.NetworkInterfaceIds)
	}
	d, err := x.ec2C.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: ep.VpcEndpoint.NetworkInterfaceIds[:1]})
	if err != nil || len(d.NetworkInterfaces) != 1 {
		return 0, fmt.Errorf("DescribeNetworkInterfaces: %v", err)
	}
	ip, err := netip.ParseAddr(aws.ToString(d.NetworkInterfaces[0].PrivateIpAddress))
	if err != nil {
		return 0, err
	}
	addr := netip.AddrPortFrom(ip, GoPort)
	connect := func() error {
		c, err := DialIn(x.ConsumerClientNS, addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}
	// Pending: refused, once the data plane has the interface.
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := connect()
		if err == nil {
			return 0, fmt.Errorf("endpoint %s carried traffic before it was accepted", id)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("endpoint %s at %s: not refusing while pending: %w", id, ip, err)
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return 0, err
		}
	}
	began := time.Now()
	if _, err := x.ec2P.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{
		ServiceId: &x.serviceID, VpcEndpointIds: []string{id}}); err != nil {
		return 0, fmt.Errorf("AcceptVpcEndpointConnections: %w", err)
	}
	for {
		err := connect()
		if err == nil {
			return time.Since(began), nil
		}
		if time.Since(began) > 10*time.Second {
			return 0, fmt.Errorf("endpoint %s: no traffic 10 s after acceptance: %w", id, err)
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// openGroup creates a security group that admits TCP from anywhere: the
// benchmark measures the data path, not the rules (the VPCs have no other
// way in).
func (x *Isthmus) openGroup(ctx context.Context, c *ec2.Client, who, vpc string) (string, error) {
	g, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		VpcId: &vpc, GroupName: aws.String("isthmus-bench"), Description: aws.String("isthmus-bench: TCP from anywhere"),
	})
	if err != nil {
		return "", fmt.Errorf("%s CreateSecurityGroup: %w", who, err)
	}
	id := aws.ToString(g.GroupId)
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: &id,
		IpPermissions: []ec2types.IpPermission{{
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(0), ToPort: aws.Int32(65535),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}},
		}},
	}); err != nil {
		return "", fmt.Errorf("%s AuthorizeSecurityGroupIngress: %w", who, err)
	}
	x.step("[%s] aws ec2 create-security-group --vpc-id %s --group-name isthmus-bench --description ...  → %s", who, vpc, id)
	x.step("[%s] aws ec2 authorize-security-group-ingress --group-id %s --protocol tcp --port 0-65535 --cidr 0.0.0.0/0", who, id)
	return id, nil
}

func (x *Isthmus) eni(ctx context.Context, c *ec2.Client, who, subnet, group, ip, desc string) (string, netip.Addr, error) {
	n, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{
		SubnetId: &subnet, Groups: []string{group}, PrivateIpAddress: &ip, Description: &desc,
	})
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("%s CreateNetworkInterface: %w", who, err)
	}
	id := aws.ToString(n.NetworkInterface.NetworkInterfaceId)
	x.step("[%s] aws ec2 create-network-interface --subnet-id %s --groups %s --private-ip-address %s --description %q  → %s", who, subnet, group, ip, desc, id)
	addr, err := netip.ParseAddr(aws.ToString(n.NetworkInterface.PrivateIpAddress))
	return id, addr, err
}

// State says what the API reports of a path that does not work: the
// health of the target behind a listener port and, with endpoint, the
// endpoint's state.
func (x *Isthmus) State(ctx context.Context, port uint16, endpoint bool) string {
	s := "target health: " + x.targetHealth(ctx, port)
	if endpoint {
		out, err := x.ec2C.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{x.EndpointID}})
		switch {
		case err != nil:
			s += "; DescribeVpcEndpoints: " + err.Error()
		case len(out.VpcEndpoints) == 1:
			s += "; endpoint state: " + string(out.VpcEndpoints[0].State)
		}
	}
	return s
}

// targetHealth is what DescribeTargetHealth says of the target in the
// target group of a listener port: "healthy", or the state and reason.
func (x *Isthmus) targetHealth(ctx context.Context, port uint16) string {
	out, err := x.elbP.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(x.TargetGroups[port])})
	if err != nil {
		return "DescribeTargetHealth: " + err.Error()
	}
	if len(out.TargetHealthDescriptions) == 0 || out.TargetHealthDescriptions[0].TargetHealth == nil {
		return "no target"
	}
	h := out.TargetHealthDescriptions[0].TargetHealth
	if h.Reason == "" {
		return string(h.State)
	}
	return fmt.Sprintf("%s (%s)", h.State, h.Reason)
}

// Close stops Isthmus, removes every namespace of its prefix and its
// temporary directory.
func (x *Isthmus) Close() error {
	var errs []error
	if x.cancel != nil {
		x.cancel()
	}
	if !x.stopped && x.cancel != nil {
		select {
		case err := <-x.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("isthmus: %w", err))
			}
		case <-time.After(20 * time.Second):
			errs = append(errs, errors.New("isthmus did not stop within 20s"))
		}
		x.stopped = true
	}
	k := dataplane.NewLinuxKernel(nil)
	if err := dataplane.Teardown(k, x.Prefix); err != nil {
		errs = append(errs, fmt.Errorf("tearing down %s: %w", x.Prefix, err))
	}
	k.Close()
	if x.dir != "" {
		if err := os.RemoveAll(x.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
