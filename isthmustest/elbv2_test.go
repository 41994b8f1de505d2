package isthmustest_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/isthmustest"
)

// elbNet is a VPC with one /24 subnet in each of three zones and a
// security group.
type elbNet struct {
	vpc     string
	subnets []string // us-east-1a, b, c
	sg      string
}

func newELBNet(t *testing.T, ctx context.Context, c *isthmustest.Client, cidr16 string) elbNet {
	t.Helper()
	v, err := c.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr16 + ".0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	n := elbNet{vpc: aws.ToString(v.Vpc.VpcId)}
	for i, z := range []string{"a", "b", "c"} {
		s, err := c.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId:            aws.String(n.vpc),
			CidrBlock:        aws.String(fmt.Sprintf("%s.%d.0/24", cidr16, i+1)),
			AvailabilityZone: aws.String("us-east-1" + z),
		})
		if err != nil {
			t.Fatal(err)
		}
		n.subnets = append(n.subnets, aws.ToString(s.Subnet.SubnetId))
	}
	g, err := c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("lb"), Description: aws.String("load balancer"), VpcId: aws.String(n.vpc),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.sg = aws.ToString(g.GroupId)
	return n
}

func availableIPs(t *testing.T, ctx context.Context, c *isthmustest.Client, subnets ...string) []int32 {
	t.Helper()
	out, err := c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: subnets})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int32{}
	for _, s := range out.Subnets {
		by[aws.ToString(s.SubnetId)] = aws.ToInt32(s.AvailableIpAddressCount)
	}
	counts := make([]int32, len(subnets))
	for i, s := range subnets {
		counts[i] = by[s]
	}
	return counts
}

func createNLB(t *testing.T, ctx context.Context, c *isthmustest.Client, name string, in *elb.CreateLoadBalancerInput) elbtypes.LoadBalancer {
	t.Helper()
	in.Name = aws.String(name)
	if in.Type == "" {
		in.Type = elbtypes.LoadBalancerTypeEnumNetwork
	}
	out, err := c.ELBv2.CreateLoadBalancer(ctx, in)
	if err != nil {
		t.Fatalf("CreateLoadBalancer %s: %v", name, err)
	}
	if len(out.LoadBalancers) != 1 {
		t.Fatalf("CreateLoadBalancer answered %d load balancers", len(out.LoadBalancers))
	}
	return out.LoadBalancers[0]
}

func createTG(t *testing.T, ctx context.Context, c *isthmustest.Client, in *elb.CreateTargetGroupInput) elbtypes.TargetGroup {
	t.Helper()
	out, err := c.ELBv2.CreateTargetGroup(ctx, in)
	if err != nil {
		t.Fatalf("CreateTargetGroup %s: %v", aws.ToString(in.Name), err)
	}
	return out.TargetGroups[0]
}

func forward(tgARN string) []elbtypes.Action {
	return []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := errorCode(err); got != code {
		t.Errorf("%s: got %v (code %q), want %s", what, err, got, code)
	}
}

func health(t *testing.T, ctx context.Context, c *isthmustest.Client, tgARN string) map[string]elbtypes.TargetHealthDescription {
	t.Helper()
	out, err := c.ELBv2.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]elbtypes.TargetHealthDescription{}
	for _, d := range out.TargetHealthDescriptions {
		m[fmt.Sprintf("%s:%d", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port))] = d
	}
	return m
}

var (
	nlbARNRE      = regexp.MustCompile(`^arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/web/([0-9a-f]{16})$`)
	tgARNRE       = regexp.MustCompile(`^arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/web-tg/[0-9a-f]{16}$`)
	listenerARNRE = regexp.MustCompile(`^arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/net/web/([0-9a-f]{16})/[0-9a-f]{16}$`)
)

func TestELBLifecycleAcrossAccounts(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	b := env.Account("222222222222")
	net := newELBNet(t, ctx, a, "10.0")
	before := availableIPs(t, ctx, a, net.subnets...)

	lb := createNLB(t, ctx, a, "web", &elb.CreateLoadBalancerInput{
		Scheme: elbtypes.LoadBalancerSchemeEnumInternal,
		SubnetMappings: []elbtypes.SubnetMapping{
			{SubnetId: aws.String(net.subnets[0])},
			{SubnetId: aws.String(net.subnets[1]), PrivateIPv4Address: aws.String("10.0.2.100")},
		},
		SecurityGroups: []string{net.sg},
		Tags:           []elbtypes.Tag{{Key: aws.String("env"), Value: aws.String("prod")}},
	})
	lbARN := aws.ToString(lb.LoadBalancerArn)
	m := nlbARNRE.FindStringSubmatch(lbARN)
	if m == nil {
		t.Fatalf("LoadBalancerArn = %q", lbARN)
	}
	hexID := m[1]
	if got, want := aws.ToString(lb.DNSName), "web-"+hexID+".elb.us-east-1.amazonaws.com"; got != want {
		t.Errorf("DNSName = %q, want %q", got, want)
	}
	if got := aws.ToString(lb.CanonicalHostedZoneId); got != "Z26RNL4JYFTOTI" {
		t.Errorf("CanonicalHostedZoneId = %q", got)
	}
	if lb.State == nil || lb.State.Code != elbtypes.LoadBalancerStateEnumProvisioning {
		t.Errorf("create State = %+v, want provisioning", lb.State)
	}
	if lb.Type != elbtypes.LoadBalancerTypeEnumNetwork || lb.Scheme != elbtypes.LoadBalancerSchemeEnumInternal ||
		lb.IpAddressType != elbtypes.IpAddressTypeIpv4 || aws.ToString(lb.VpcId) != net.vpc || lb.CreatedTime == nil || lb.CreatedTime.IsZero() {
		t.Errorf("load balancer = %+v", lb)
	}
	if len(lb.SecurityGroups) != 1 || lb.SecurityGroups[0] != net.sg {
		t.Errorf("SecurityGroups = %v", lb.SecurityGroups)
	}
	if len(lb.AvailabilityZones) != 2 {
		t.Fatalf("AvailabilityZones = %+v", lb.AvailabilityZones)
	}
	lbIPs := map[string]string{} // subnet → address
	for i, z := range lb.AvailabilityZones {
		if want := "us-east-1" + string(rune('a'+i)); aws.ToString(z.ZoneName) != want || aws.ToString(z.SubnetId) != net.subnets[i] {
			t.Errorf("zone %d = %s/%s", i, aws.ToString(z.ZoneName), aws.ToString(z.SubnetId))
		}
		if len(z.LoadBalancerAddresses) != 1 {
			t.Fatalf("zone %d addresses = %+v", i, z.LoadBalancerAddresses)
		}
		lbIPs[aws.ToString(z.SubnetId)] = aws.ToString(z.LoadBalancerAddresses[0].PrivateIPv4Address)
	}
	if lbIPs[net.subnets[1]] != "10.0.2.100" || lbIPs[net.subnets[0]] != "10.0.1.4" {
		t.Errorf("addresses = %v, want 10.0.1.4 (lowest free) and 10.0.2.100 (asked for)", lbIPs)
	}

	// Describe shows it active.
	d, err := a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{lbARN}})
	if err != nil || len(d.LoadBalancers) != 1 || d.LoadBalancers[0].State.Code != elbtypes.LoadBalancerStateEnumActive {
		t.Fatalf("DescribeLoadBalancers = %+v, %v", d, err)
	}
	d, err = a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Names: []string{"web"}})
	if err != nil || len(d.LoadBalancers) != 1 || aws.ToString(d.LoadBalancers[0].LoadBalancerArn) != lbARN {
		t.Fatalf("DescribeLoadBalancers by name = %+v, %v", d, err)
	}

	// Its interfaces are requester-managed, described as AWS does, in use,
	// and cannot be deleted.
	enis, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{
		Filters: []ec2types.Filter{{Name: aws.String("description"), Values: []string{"ELB net/web/" + hexID}}},
	})
	if err != nil || len(enis.NetworkInterfaces) != 2 {
		t.Fatalf("ELB interfaces = %+v, %v", enis, err)
	}
	for _, n := range enis.NetworkInterfaces {
		if !aws.ToBool(n.RequesterManaged) || aws.ToString(n.RequesterId) != "amazon-elb" ||
			n.InterfaceType != ec2types.NetworkInterfaceTypeNetworkLoadBalancer || n.Status != ec2types.NetworkInterfaceStatusInUse {
			t.Errorf("interface %s = %+v", aws.ToString(n.NetworkInterfaceId), n)
		}
		if got := aws.ToString(n.PrivateIpAddress); got != lbIPs[aws.ToString(n.SubnetId)] {
			t.Errorf("interface %s address %s, load balancer says %s", aws.ToString(n.NetworkInterfaceId), got, lbIPs[aws.ToString(n.SubnetId)])
		}
		if len(n.Groups) != 1 || aws.ToString(n.Groups[0].GroupId) != net.sg {
			t.Errorf("interface groups = %+v", n.Groups)
		}
		if _, err := a.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: n.NetworkInterfaceId}); err == nil {
			t.Errorf("DeleteNetworkInterface of the load balancer's %s succeeded", aws.ToString(n.NetworkInterfaceId))
		}
	}
	if got := availableIPs(t, ctx, a, net.subnets...); got[0] != before[0]-1 || got[1] != before[1]-1 || got[2] != before[2] {
		t.Errorf("available addresses %v, before %v", got, before)
	}

	// A target group with AWS's defaults for TCP.
	tg := createTG(t, ctx, a, &elb.CreateTargetGroupInput{
		Name: aws.String("web-tg"), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80),
		VpcId: aws.String(net.vpc), TargetType: elbtypes.TargetTypeEnumIp,
	})
	tgARN := aws.ToString(tg.TargetGroupArn)
	if !tgARNRE.MatchString(tgARN) {
		t.Errorf("TargetGroupArn = %q", tgARN)
	}
	if tg.HealthCheckProtocol != elbtypes.ProtocolEnumTcp || aws.ToString(tg.HealthCheckPort) != "traffic-port" ||
		aws.ToInt32(tg.HealthCheckIntervalSeconds) != 30 || aws.ToInt32(tg.HealthCheckTimeoutSeconds) != 10 ||
		aws.ToInt32(tg.HealthyThresholdCount) != 5 || aws.ToInt32(tg.UnhealthyThresholdCount) != 2 ||
		!aws.ToBool(tg.HealthCheckEnabled) || tg.HealthCheckPath != nil || tg.Matcher != nil ||
		tg.TargetType != elbtypes.TargetTypeEnumIp || len(tg.LoadBalancerArns) != 0 {
		t.Errorf("target group = %+v", tg)
	}
	if _, err := a.ELBv2.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: []elbtypes.TargetDescription{
		{Id: aws.String("10.0.1.50")}, {Id: aws.String("10.0.2.60"), Port: aws.Int32(8080)},
	}}); err != nil {
		t.Fatal(err)
	}
	h := health(t, ctx, a, tgARN)
	if len(h) != 2 || h["10.0.1.50:80"].TargetHealth.State != elbtypes.TargetHealthStateEnumUnused ||
		h["10.0.1.50:80"].TargetHealth.Reason != elbtypes.TargetHealthReasonEnumNotInUse {
		t.Errorf("health without a load balancer = %+v", h)
	}
	if got := aws.ToString(h["10.0.1.50:80"].Target.AvailabilityZone); got != "us-east-1a" {
		t.Errorf("ip target zone = %q", got)
	}

	// A listener makes the group used.
	lo, err := a.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{
		LoadBalancerArn: aws.String(lbARN), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80), DefaultActions: forward(tgARN),
	})
	if err != nil {
		t.Fatal(err)
	}
	l := lo.Listeners[0]
	listenerARN := aws.ToString(l.ListenerArn)
	if m := listenerARNRE.FindStringSubmatch(listenerARN); m == nil || m[1] != hexID {
		t.Errorf("ListenerArn = %q", listenerARN)
	}
	if aws.ToInt32(l.Port) != 80 || l.Protocol != elbtypes.ProtocolEnumTcp || aws.ToString(l.LoadBalancerArn) != lbARN ||
		len(l.DefaultActions) != 1 || l.DefaultActions[0].Type != elbtypes.ActionTypeEnumForward || aws.ToString(l.DefaultActions[0].TargetGroupArn) != tgARN {
		t.Errorf("listener = %+v", l)
	}
	// Repeating the same CreateListener answers the same listener.
	lo2, err := a.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{
		LoadBalancerArn: aws.String(lbARN), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80), DefaultActions: forward(tgARN),
	})
	if err != nil || aws.ToString(lo2.Listeners[0].ListenerArn) != listenerARN {
		t.Errorf("idempotent CreateListener = %+v, %v", lo2, err)
	}
	tgs, err := a.ELBv2.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(lbARN)})
	if err != nil || len(tgs.TargetGroups) != 1 || len(tgs.TargetGroups[0].LoadBalancerArns) != 1 || tgs.TargetGroups[0].LoadBalancerArns[0] != lbARN {
		t.Fatalf("DescribeTargetGroups by load balancer = %+v, %v", tgs, err)
	}
	h = health(t, ctx, a, tgARN)
	for k, want := range map[string]string{"10.0.1.50:80": "80", "10.0.2.60:8080": "8080"} {
		d := h[k]
		if d.TargetHealth == nil || d.TargetHealth.State != elbtypes.TargetHealthStateEnumInitial ||
			d.TargetHealth.Reason != elbtypes.TargetHealthReasonEnumRegistrationInProgress || aws.ToString(d.HealthCheckPort) != want {
			t.Errorf("health of %s = %+v", k, d)
		}
	}
	// The data plane reports health.
	if err := env.Cloud.SetTargetHealth("us-east-1", tgARN, core.TargetRef{ID: "10.0.1.50", Port: 80}, "healthy", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := env.Cloud.SetTargetHealth("us-east-1", tgARN, core.TargetRef{ID: "10.0.9.9", Port: 80}, "healthy", "", ""); errorCodeOf(err) != "InvalidTarget" {
		t.Errorf("SetTargetHealth of an unregistered target: %v", err)
	}
	if err := env.Cloud.SetTargetHealth("us-east-1", tgARN, core.TargetRef{ID: "10.0.1.50", Port: 80}, "healthy", "Target.Timeout", ""); errorCodeOf(err) != "ValidationError" {
		t.Errorf("SetTargetHealth with a reason healthy has not: %v", err)
	}
	h = health(t, ctx, a, tgARN)
	if d := h["10.0.1.50:80"]; d.TargetHealth.State != elbtypes.TargetHealthStateEnumHealthy || d.TargetHealth.Reason != "" {
		t.Errorf("health after the data plane's report = %+v", d.TargetHealth)
	}
	lbing, err := env.Cloud.LoadBalancing()
	if err != nil || len(lbing.LoadBalancers) != 1 || len(lbing.TargetGroups) != 1 || len(lbing.Listeners) != 1 ||
		len(lbing.TargetGroups[0].Targets) != 2 || lbing.Health[tgARN][core.TargetRef{ID: "10.0.1.50", Port: 80}].State != "healthy" ||
		len(lbing.TargetGroups[0].LoadBalancerARNs) != 1 {
		t.Errorf("LoadBalancing() = %+v, %v", lbing, err)
	}

	// Another account sees none of it, and cannot touch it.
	if d, err := b.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{}); err != nil || len(d.LoadBalancers) != 0 {
		t.Errorf("B DescribeLoadBalancers = %+v, %v", d, err)
	}
	_, err = b.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{lbARN}})
	wantCode(t, "B describing A's load balancer", err, "LoadBalancerNotFound")
	_, err = b.ELBv2.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(lbARN)})
	wantCode(t, "B describing A's attributes", err, "LoadBalancerNotFound")
	_, err = b.ELBv2.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{tgARN}})
	wantCode(t, "B describing A's target group", err, "TargetGroupNotFound")
	_, err = b.ELBv2.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: []elbtypes.TargetDescription{{Id: aws.String("10.0.1.9")}}})
	wantCode(t, "B registering with A's target group", err, "TargetGroupNotFound")
	_, err = b.ELBv2.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{listenerARN}})
	wantCode(t, "B describing A's listener", err, "ListenerNotFound")
	_, err = b.ELBv2.AddTags(ctx, &elb.AddTagsInput{ResourceArns: []string{lbARN}, Tags: []elbtypes.Tag{{Key: aws.String("x")}}})
	wantCode(t, "B tagging A's load balancer", err, "LoadBalancerNotFound")
	if _, err := b.ELBv2.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(lbARN)}); err != nil {
		t.Errorf("B deleting A's load balancer: %v (AWS answers success for one it cannot see)", err)
	}
	if _, err := a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{lbARN}}); err != nil {
		t.Fatalf("A's load balancer after B's delete: %v", err)
	}
	// B may use the same names in its own account.
	bnet := newELBNet(t, ctx, b, "10.0")
	blb := createNLB(t, ctx, b, "web", &elb.CreateLoadBalancerInput{Subnets: []string{bnet.subnets[0]}})
	if strings.Contains(aws.ToString(blb.LoadBalancerArn), "111111111111") || blb.Scheme != elbtypes.LoadBalancerSchemeEnumInternal {
		t.Errorf("B's load balancer = %s %s", aws.ToString(blb.LoadBalancerArn), blb.Scheme)
	}

	// The same CreateLoadBalancer again answers the same load balancer;
	// other settings under the name are refused.
	again := createNLB(t, ctx, a, "web", &elb.CreateLoadBalancerInput{
		SubnetMappings: []elbtypes.SubnetMapping{
			{SubnetId: aws.String(net.subnets[0])},
			{SubnetId: aws.String(net.subnets[1]), PrivateIPv4Address: aws.String("10.0.2.100")},
		},
		SecurityGroups: []string{net.sg},
	})
	if aws.ToString(again.LoadBalancerArn) != lbARN {
		t.Errorf("repeated CreateLoadBalancer = %s, want %s", aws.ToString(again.LoadBalancerArn), lbARN)
	}
	_, err = a.ELBv2.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("web"), Type: elbtypes.LoadBalancerTypeEnumNetwork, Subnets: []string{net.subnets[2]}})
	wantCode(t, "same name, other subnets", err, "DuplicateLoadBalancerName")

	// What depends on the load balancer keeps it and its VPC alive.
	_, err = a.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(net.vpc)})
	wantCode(t, "DeleteVpc under a load balancer", err, "DependencyViolation")
	_, err = a.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(net.subnets[0])})
	wantCode(t, "DeleteSubnet under a load balancer", err, "DependencyViolation")
	_, err = a.ELBv2.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(tgARN)})
	wantCode(t, "DeleteTargetGroup in use", err, "ResourceInUse")
	if _, err := a.ELBv2.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(lbARN),
		Attributes: []elbtypes.LoadBalancerAttribute{{Key: aws.String("deletion_protection.enabled"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	_, err = a.ELBv2.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(lbARN)})
	wantCode(t, "DeleteLoadBalancer with deletion protection", err, "OperationNotPermitted")
	if _, err := a.ELBv2.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(lbARN),
		Attributes: []elbtypes.LoadBalancerAttribute{{Key: aws.String("deletion_protection.enabled"), Value: aws.String("false")}}}); err != nil {
		t.Fatal(err)
	}

	// Deleting it removes its listeners and interfaces and frees the addresses.
	if _, err := a.ELBv2.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(lbARN)}); err != nil {
		t.Fatal(err)
	}
	_, err = a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{lbARN}})
	wantCode(t, "describing the deleted load balancer", err, "LoadBalancerNotFound")
	_, err = a.ELBv2.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{listenerARN}})
	wantCode(t, "describing the deleted load balancer's listener", err, "ListenerNotFound")
	if _, err := a.ELBv2.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(lbARN)}); err != nil {
		t.Errorf("deleting it again: %v (AWS answers success)", err)
	}
	enis, err = a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{
		Filters: []ec2types.Filter{{Name: aws.String("requester-id"), Values: []string{"amazon-elb"}}},
	})
	if err != nil || len(enis.NetworkInterfaces) != 0 {
		t.Errorf("interfaces left = %+v, %v", enis, err)
	}
	if got := availableIPs(t, ctx, a, net.subnets...); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("available addresses %v after delete, %v before", got, before)
	}
	h = health(t, ctx, a, tgARN)
	if h["10.0.1.50:80"].TargetHealth.State != elbtypes.TargetHealthStateEnumUnused {
		t.Errorf("health after the load balancer is gone = %+v", h["10.0.1.50:80"].TargetHealth)
	}
	if _, err := a.ELBv2.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(tgARN)}); err != nil {
		t.Fatal(err)
	}
	_, err = a.ELBv2.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{tgARN}})
	wantCode(t, "describing the deleted target group", err, "TargetGroupNotFound")
	lbing, err = env.Cloud.LoadBalancing()
	if err != nil || len(lbing.LoadBalancers) != 1 || len(lbing.TargetGroups) != 0 || len(lbing.Listeners) != 0 || len(lbing.Health) != 0 {
		t.Errorf("LoadBalancing() after delete = %+v, %v (want only B's load balancer)", lbing, err)
	}

	// Nothing is left: the VPC can go.
	for _, s := range net.subnets {
		if _, err := a.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(s)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(net.sg)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(net.vpc)}); err != nil {
		t.Fatal(err)
	}
}

// errorCodeOf is the AWS code of a core error.
func errorCodeOf(err error) string {
	if e, ok := awserr.As(err); ok {
		return e.Code
	}
	return ""
}

func TestELBRefusals(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	b := env.Account("222222222222")
	net := newELBNet(t, ctx, a, "10.0")
	other := newELBNet(t, ctx, a, "10.1")
	bnet := newELBNet(t, ctx, b, "10.2")
	before := availableIPs(t, ctx, a, net.subnets...)

	mk := func(name string, mod func(*elb.CreateLoadBalancerInput)) error {
		in := &elb.CreateLoadBalancerInput{Name: aws.String(name), Type: elbtypes.LoadBalancerTypeEnumNetwork, Subnets: []string{net.subnets[0]}}
		if mod != nil {
			mod(in)
		}
		_, err := a.ELBv2.CreateLoadBalancer(ctx, in)
		return err
	}
	for _, c := range []struct {
		what string
		name string
		mod  func(*elb.CreateLoadBalancerInput)
		code string
	}{
		{"name too long", strings.Repeat("x", 33), nil, "ValidationError"},
		{"name with an underscore", "a_b", nil, "ValidationError"},
		{"name ending with a hyphen", "ab-", nil, "ValidationError"},
		{"name beginning with internal-", "internal-x", nil, "ValidationError"},
		{"application load balancer", "x", func(in *elb.CreateLoadBalancerInput) { in.Type = elbtypes.LoadBalancerTypeEnumApplication }, "InvalidConfigurationRequest"},
		{"no type (application)", "x", func(in *elb.CreateLoadBalancerInput) { in.Type = "" }, "InvalidConfigurationRequest"},
		{"internet-facing", "x", func(in *elb.CreateLoadBalancerInput) { in.Scheme = elbtypes.LoadBalancerSchemeEnumInternetFacing }, "InvalidScheme"},
		{"dualstack", "x", func(in *elb.CreateLoadBalancerInput) { in.IpAddressType = elbtypes.IpAddressTypeDualstack }, "InvalidConfigurationRequest"},
		{"no subnets", "x", func(in *elb.CreateLoadBalancerInput) { in.Subnets = nil }, "ValidationError"},
		{"subnets and mappings", "x", func(in *elb.CreateLoadBalancerInput) {
			in.SubnetMappings = []elbtypes.SubnetMapping{{SubnetId: aws.String(net.subnets[1])}}
		}, "ValidationError"},
		{"two subnets in one zone", "x", func(in *elb.CreateLoadBalancerInput) { in.Subnets = []string{net.subnets[0], net.subnets[0]} }, "InvalidConfigurationRequest"},
		{"missing subnet", "x", func(in *elb.CreateLoadBalancerInput) { in.Subnets = []string{"subnet-0123456789abcdef0"} }, "SubnetNotFound"},
		{"malformed subnet", "x", func(in *elb.CreateLoadBalancerInput) { in.Subnets = []string{"bogus"} }, "SubnetNotFound"},
		{"another account's subnet", "x", func(in *elb.CreateLoadBalancerInput) { in.Subnets = []string{bnet.subnets[0]} }, "SubnetNotFound"},
		{"subnets of two VPCs", "x", func(in *elb.CreateLoadBalancerInput) { in.Subnets = []string{net.subnets[0], other.subnets[1]} }, "InvalidSubnet"},
		{"missing security group", "x", func(in *elb.CreateLoadBalancerInput) { in.SecurityGroups = []string{"sg-0123456789abcdef0"} }, "InvalidSecurityGroup"},
		{"security group of another VPC", "x", func(in *elb.CreateLoadBalancerInput) { in.SecurityGroups = []string{other.sg} }, "InvalidSecurityGroup"},
		{"address outside the subnet", "x", func(in *elb.CreateLoadBalancerInput) {
			in.Subnets = nil
			in.SubnetMappings = []elbtypes.SubnetMapping{{SubnetId: aws.String(net.subnets[0]), PrivateIPv4Address: aws.String("10.0.2.10")}}
		}, "InvalidConfigurationRequest"},
		{"reserved address", "x", func(in *elb.CreateLoadBalancerInput) {
			in.Subnets = nil
			in.SubnetMappings = []elbtypes.SubnetMapping{{SubnetId: aws.String(net.subnets[0]), PrivateIPv4Address: aws.String("10.0.1.1")}}
		}, "InvalidConfigurationRequest"},
		{"Elastic IP", "x", func(in *elb.CreateLoadBalancerInput) {
			in.Subnets = nil
			in.SubnetMappings = []elbtypes.SubnetMapping{{SubnetId: aws.String(net.subnets[0]), AllocationId: aws.String("eipalloc-1")}}
		}, "InvalidConfigurationRequest"},
		{"too many tags", "x", func(in *elb.CreateLoadBalancerInput) {
			for i := 0; i < 51; i++ {
				in.Tags = append(in.Tags, elbtypes.Tag{Key: aws.String(fmt.Sprint("k", i))})
			}
		}, "TooManyTags"},
		{"duplicate tag keys", "x", func(in *elb.CreateLoadBalancerInput) {
			in.Tags = []elbtypes.Tag{{Key: aws.String("k")}, {Key: aws.String("k"), Value: aws.String("v")}}
		}, "DuplicateTagKeys"},
		{"bad tag key", "x", func(in *elb.CreateLoadBalancerInput) { in.Tags = []elbtypes.Tag{{Key: aws.String("a*b")}} }, "ValidationError"},
	} {
		wantCode(t, c.what, mk(c.name, c.mod), c.code)
	}
	// An address in use by another interface is refused, and a failed
	// create leaves no interface behind in its other subnets.
	n, err := a.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(net.subnets[1]), PrivateIpAddress: aws.String("10.0.2.20")})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "address in use", mk("x", func(in *elb.CreateLoadBalancerInput) {
		in.Subnets = nil
		in.SubnetMappings = []elbtypes.SubnetMapping{{SubnetId: aws.String(net.subnets[0])}, {SubnetId: aws.String(net.subnets[1]), PrivateIPv4Address: aws.String("10.0.2.20")}}
	}), "InvalidConfigurationRequest")
	if _, err := a.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: n.NetworkInterface.NetworkInterfaceId}); err != nil {
		t.Fatal(err)
	}
	if got := availableIPs(t, ctx, a, net.subnets...); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("refused creates changed the subnets: %v, before %v", got, before)
	}
	if d, err := a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{}); err != nil || len(d.LoadBalancers) != 0 {
		t.Fatalf("after refusals: %+v, %v", d, err)
	}

	// Describe refusals.
	_, err = a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Names: []string{"nope", "nada"}})
	wantCode(t, "missing names", err, "LoadBalancerNotFound")
	if err != nil && !strings.Contains(err.Error(), "Load balancers '[nope, nada]' not found") {
		t.Errorf("missing names message: %v", err)
	}
	_, err = a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{"arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/x/0123456789abcdef"}})
	wantCode(t, "missing ARN", err, "LoadBalancerNotFound")
	_, err = a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{"not-an-arn"}})
	wantCode(t, "malformed ARN", err, "ValidationError")
	_, err = a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{PageSize: aws.Int32(401)})
	wantCode(t, "PageSize 401", err, "ValidationError")
	_, err = a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{PageSize: aws.Int32(0)})
	wantCode(t, "PageSize 0", err, "ValidationError")
	_, err = a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Marker: aws.String("!!")})
	wantCode(t, "bad marker", err, "ValidationError")
	_, err = a.ELBv2.DescribeListeners(ctx, &elb.DescribeListenersInput{})
	wantCode(t, "DescribeListeners without a load balancer or listeners", err, "ValidationError")
	_, err = a.ELBv2.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String("arn:aws:ec2:us-east-1:111111111111:vpc/vpc-1")})
	wantCode(t, "DeleteLoadBalancer with a malformed ARN", err, "ValidationError")

	// Target group refusals.
	tg := func(name string, mod func(*elb.CreateTargetGroupInput)) error {
		in := &elb.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String(net.vpc)}
		if mod != nil {
			mod(in)
		}
		_, err := a.ELBv2.CreateTargetGroup(ctx, in)
		return err
	}
	for _, c := range []struct {
		what string
		mod  func(*elb.CreateTargetGroupInput)
		code string
	}{
		{"HTTP target group", func(in *elb.CreateTargetGroupInput) { in.Protocol = elbtypes.ProtocolEnumHttp }, "InvalidConfigurationRequest"},
		{"TLS target group", func(in *elb.CreateTargetGroupInput) { in.Protocol = elbtypes.ProtocolEnumTls }, "InvalidConfigurationRequest"},
		{"lambda targets", func(in *elb.CreateTargetGroupInput) { in.TargetType = elbtypes.TargetTypeEnumLambda }, "InvalidConfigurationRequest"},
		{"no VPC", func(in *elb.CreateTargetGroupInput) { in.VpcId = nil }, "ValidationError"},
		{"missing VPC", func(in *elb.CreateTargetGroupInput) { in.VpcId = aws.String("vpc-0123456789abcdef0") }, "ValidationError"},
		{"another account's VPC", func(in *elb.CreateTargetGroupInput) { in.VpcId = aws.String(bnet.vpc) }, "ValidationError"},
		{"no port", func(in *elb.CreateTargetGroupInput) { in.Port = nil }, "ValidationError"},
		{"port 0", func(in *elb.CreateTargetGroupInput) { in.Port = aws.Int32(0) }, "ValidationError"},
		{"GENEVE on 6082", func(in *elb.CreateTargetGroupInput) {
			in.Protocol, in.Port = elbtypes.ProtocolEnumGeneve, aws.Int32(6082)
		}, "InvalidConfigurationRequest"},
		{"interval 4", func(in *elb.CreateTargetGroupInput) { in.HealthCheckIntervalSeconds = aws.Int32(4) }, "ValidationError"},
		{"interval 301", func(in *elb.CreateTargetGroupInput) { in.HealthCheckIntervalSeconds = aws.Int32(301) }, "ValidationError"},
		{"healthy threshold 11", func(in *elb.CreateTargetGroupInput) { in.HealthyThresholdCount = aws.Int32(11) }, "ValidationError"},
		{"unhealthy threshold 1", func(in *elb.CreateTargetGroupInput) { in.UnhealthyThresholdCount = aws.Int32(1) }, "ValidationError"},
		{"timeout not below interval", func(in *elb.CreateTargetGroupInput) {
			in.HealthCheckIntervalSeconds, in.HealthCheckTimeoutSeconds = aws.Int32(10), aws.Int32(10)
		}, "ValidationError"},
		{"UDP health check", func(in *elb.CreateTargetGroupInput) { in.HealthCheckProtocol = elbtypes.ProtocolEnumUdp }, "InvalidConfigurationRequest"},
		{"path on a TCP check", func(in *elb.CreateTargetGroupInput) { in.HealthCheckPath = aws.String("/") }, "InvalidConfigurationRequest"},
		{"matcher on a TCP check", func(in *elb.CreateTargetGroupInput) { in.Matcher = &elbtypes.Matcher{HttpCode: aws.String("200")} }, "InvalidConfigurationRequest"},
		{"matcher code 600", func(in *elb.CreateTargetGroupInput) {
			in.HealthCheckProtocol, in.Matcher = elbtypes.ProtocolEnumHttp, &elbtypes.Matcher{HttpCode: aws.String("200-600")}
		}, "ValidationError"},
		{"health check port 70000", func(in *elb.CreateTargetGroupInput) { in.HealthCheckPort = aws.String("70000") }, "ValidationError"},
		{"health checks disabled", func(in *elb.CreateTargetGroupInput) { in.HealthCheckEnabled = aws.Bool(false) }, "InvalidConfigurationRequest"},
	} {
		wantCode(t, c.what, tg("t", c.mod), c.code)
	}
	if err := tg("t", nil); err != nil {
		t.Fatal(err)
	}
	if err := tg("t", nil); err != nil {
		t.Errorf("repeating CreateTargetGroup: %v (AWS answers the same group)", err)
	}
	wantCode(t, "same name, other port", tg("t", func(in *elb.CreateTargetGroupInput) { in.Port = aws.Int32(81) }), "DuplicateTargetGroupName")
	_, err = a.ELBv2.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{"nope"}})
	wantCode(t, "missing target group name", err, "TargetGroupNotFound")
	_, err = a.ELBv2.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{"arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/t/0123456789abcdef"}})
	wantCode(t, "missing target group ARN", err, "TargetGroupNotFound")
	if d, err := a.ELBv2.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{}); err != nil || len(d.TargetGroups) != 1 {
		t.Errorf("after refusals: %+v, %v", d, err)
	}
}

func TestELBListenersAndTargets(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	net := newELBNet(t, ctx, a, "10.0")
	other := newELBNet(t, ctx, a, "10.1")

	lb1 := aws.ToString(createNLB(t, ctx, a, "one", &elb.CreateLoadBalancerInput{Subnets: net.subnets[:2]}).LoadBalancerArn)
	lb2 := aws.ToString(createNLB(t, ctx, a, "two", &elb.CreateLoadBalancerInput{Subnets: net.subnets[:1]}).LoadBalancerArn)
	mkTG := func(name string, p elbtypes.ProtocolEnum, tt elbtypes.TargetTypeEnum, vpc string) string {
		return aws.ToString(createTG(t, ctx, a, &elb.CreateTargetGroupInput{Name: aws.String(name), Protocol: p, Port: aws.Int32(80), VpcId: aws.String(vpc), TargetType: tt}).TargetGroupArn)
	}
	tcp := mkTG("tcp", elbtypes.ProtocolEnumTcp, elbtypes.TargetTypeEnumIp, net.vpc)
	udp := mkTG("udp", elbtypes.ProtocolEnumUdp, elbtypes.TargetTypeEnumIp, net.vpc)
	both := mkTG("both", elbtypes.ProtocolEnumTcpUdp, elbtypes.TargetTypeEnumInstance, net.vpc)
	tcp2 := mkTG("tcp2", elbtypes.ProtocolEnumTcp, elbtypes.TargetTypeEnumIp, net.vpc)
	elsewhere := mkTG("elsewhere", elbtypes.ProtocolEnumTcp, elbtypes.TargetTypeEnumIp, other.vpc)

	listen := func(lb string, p elbtypes.ProtocolEnum, port int32, actions []elbtypes.Action) (string, error) {
		out, err := a.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(lb), Protocol: p, Port: aws.Int32(port), DefaultActions: actions})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Listeners[0].ListenerArn), nil
	}
	l80, err := listen(lb1, elbtypes.ProtocolEnumTcp, 80, forward(tcp))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listen(lb1, elbtypes.ProtocolEnumUdp, 80, forward(udp)); err != nil {
		t.Errorf("UDP beside TCP on one port: %v", err)
	}
	_, err = listen(lb1, elbtypes.ProtocolEnumTcp, 80, forward(tcp2))
	wantCode(t, "second TCP listener on 80", err, "DuplicateListener")
	_, err = listen(lb1, elbtypes.ProtocolEnumTcpUdp, 80, forward(both))
	wantCode(t, "TCP_UDP beside TCP on 80", err, "DuplicateListener")
	_, err = listen(lb1, elbtypes.ProtocolEnumUdp, 53, forward(tcp))
	wantCode(t, "UDP listener to a TCP group", err, "IncompatibleProtocols")
	_, err = listen(lb1, elbtypes.ProtocolEnumTcpUdp, 53, forward(tcp))
	wantCode(t, "TCP_UDP listener to a TCP group", err, "IncompatibleProtocols")
	if _, err := listen(lb1, elbtypes.ProtocolEnumTcpUdp, 53, forward(both)); err != nil {
		t.Errorf("TCP_UDP listener to a TCP_UDP group: %v", err)
	}
	_, err = listen(lb2, elbtypes.ProtocolEnumTcp, 80, forward(tcp))
	wantCode(t, "a group of another load balancer", err, "TargetGroupAssociationLimit")
	_, err = listen(lb2, elbtypes.ProtocolEnumTcp, 80, forward(elsewhere))
	wantCode(t, "a group of another VPC", err, "InvalidConfigurationRequest")
	_, err = listen(lb2, elbtypes.ProtocolEnumTls, 443, forward(tcp2))
	wantCode(t, "TLS listener", err, "UnsupportedProtocol")
	_, err = listen(lb2, elbtypes.ProtocolEnumHttp, 80, forward(tcp2))
	wantCode(t, "HTTP listener", err, "UnsupportedProtocol")
	_, err = listen(lb2, elbtypes.ProtocolEnumTcp, 80, []elbtypes.Action{{Type: elbtypes.ActionTypeEnumRedirect,
		RedirectConfig: &elbtypes.RedirectActionConfig{StatusCode: elbtypes.RedirectActionStatusCodeEnumHttp301}}})
	wantCode(t, "redirect action", err, "InvalidLoadBalancerAction")
	_, err = listen(lb2, elbtypes.ProtocolEnumTcp, 80, append(forward(tcp2), forward(tcp2)...))
	wantCode(t, "two actions", err, "TooManyActions")
	_, err = listen(lb2, elbtypes.ProtocolEnumTcp, 80, forward("arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/x/0123456789abcdef"))
	wantCode(t, "missing target group", err, "TargetGroupNotFound")
	_, err = listen("arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/x/0123456789abcdef", elbtypes.ProtocolEnumTcp, 80, forward(tcp2))
	wantCode(t, "missing load balancer", err, "LoadBalancerNotFound")
	_, err = listen(lb2, elbtypes.ProtocolEnumTcp, 0, forward(tcp2))
	wantCode(t, "port 0", err, "ValidationError")

	// DescribeListeners by load balancer: by port and protocol.
	ls, err := a.ELBv2.DescribeListeners(ctx, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(lb1)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls.Listeners {
		got = append(got, fmt.Sprintf("%s/%d", l.Protocol, aws.ToInt32(l.Port)))
	}
	if strings.Join(got, " ") != "TCP_UDP/53 TCP/80 UDP/80" {
		t.Errorf("listeners = %v", got)
	}

	// ModifyListener: to another group, to a conflicting port, to an
	// incompatible protocol.
	mo, err := a.ELBv2.ModifyListener(ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(l80), DefaultActions: forward(tcp2), Port: aws.Int32(8080)})
	if err != nil || aws.ToInt32(mo.Listeners[0].Port) != 8080 || aws.ToString(mo.Listeners[0].DefaultActions[0].TargetGroupArn) != tcp2 {
		t.Fatalf("ModifyListener = %+v, %v", mo, err)
	}
	_, err = a.ELBv2.ModifyListener(ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(l80), Port: aws.Int32(53)})
	wantCode(t, "moving onto TCP_UDP/53", err, "DuplicateListener")
	_, err = a.ELBv2.ModifyListener(ctx, &elb.ModifyListenerInput{ListenerArn: aws.String(l80), Protocol: elbtypes.ProtocolEnumUdp})
	wantCode(t, "UDP to a TCP group", err, "IncompatibleProtocols")
	// The old group is free again: the other load balancer may use it.
	if _, err := listen(lb2, elbtypes.ProtocolEnumTcp, 80, forward(tcp)); err != nil {
		t.Errorf("listener to the freed group: %v", err)
	}
	if _, err := a.ELBv2.DeleteListener(ctx, &elb.DeleteListenerInput{ListenerArn: aws.String(l80)}); err != nil {
		t.Fatal(err)
	}
	_, err = a.ELBv2.DeleteListener(ctx, &elb.DeleteListenerInput{ListenerArn: aws.String(l80)})
	wantCode(t, "deleting a deleted listener", err, "ListenerNotFound")

	// Targets: ip targets inside the VPC; instance targets are the
	// caller's network interfaces in the VPC.
	reg := func(tg string, ts ...elbtypes.TargetDescription) error {
		_, err := a.ELBv2.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(tg), Targets: ts})
		return err
	}
	wantCode(t, "ip outside the VPC", reg(tcp, elbtypes.TargetDescription{Id: aws.String("192.168.0.1")}), "InvalidTarget")
	wantCode(t, "not an ip", reg(tcp, elbtypes.TargetDescription{Id: aws.String("eni-0123456789abcdef0")}), "InvalidTarget")
	wantCode(t, "instance id", reg(both, elbtypes.TargetDescription{Id: aws.String("i-0123456789abcdef0")}), "InvalidTarget")
	wantCode(t, "missing interface", reg(both, elbtypes.TargetDescription{Id: aws.String("eni-0123456789abcdef0")}), "InvalidTarget")
	host, err := a.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(net.subnets[0])})
	if err != nil {
		t.Fatal(err)
	}
	elsewhereHost, err := a.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(other.subnets[0])})
	if err != nil {
		t.Fatal(err)
	}
	hostID := aws.ToString(host.NetworkInterface.NetworkInterfaceId)
	wantCode(t, "interface of another VPC", reg(both, elbtypes.TargetDescription{Id: elsewhereHost.NetworkInterface.NetworkInterfaceId}), "InvalidTarget")
	lbENIs, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []ec2types.Filter{{Name: aws.String("requester-managed"), Values: []string{"true"}}}})
	if err != nil || len(lbENIs.NetworkInterfaces) == 0 {
		t.Fatalf("load balancer interfaces: %+v, %v", lbENIs, err)
	}
	wantCode(t, "a load balancer's interface", reg(both, elbtypes.TargetDescription{Id: lbENIs.NetworkInterfaces[0].NetworkInterfaceId}), "InvalidTarget")
	wantCode(t, "zone of an instance target", reg(both, elbtypes.TargetDescription{Id: aws.String(hostID), AvailabilityZone: aws.String("us-east-1a")}), "ValidationError")
	if err := reg(both, elbtypes.TargetDescription{Id: aws.String(hostID)}, elbtypes.TargetDescription{Id: aws.String(hostID), Port: aws.Int32(81)}); err != nil {
		t.Fatal(err)
	}
	if err := reg(both, elbtypes.TargetDescription{Id: aws.String(hostID)}); err != nil {
		t.Errorf("registering a target again: %v", err)
	}
	h := health(t, ctx, a, both)
	if len(h) != 2 || h[hostID+":80"].TargetHealth.State != elbtypes.TargetHealthStateEnumInitial || h[hostID+":81"].Target.AvailabilityZone != nil {
		t.Errorf("instance target health = %+v", h)
	}
	// An ip target in a zone the load balancer does not have is unused.
	if err := reg(udp, elbtypes.TargetDescription{Id: aws.String("10.0.3.10")}, elbtypes.TargetDescription{Id: aws.String("10.0.1.10")}); err != nil {
		t.Fatal(err)
	}
	h = health(t, ctx, a, udp)
	if d := h["10.0.3.10:80"]; d.TargetHealth.State != elbtypes.TargetHealthStateEnumUnused || d.TargetHealth.Reason != elbtypes.TargetHealthReasonEnumNotInUse {
		t.Errorf("target outside the load balancer's zones = %+v", d.TargetHealth)
	}
	if d := h["10.0.1.10:80"]; d.TargetHealth.State != elbtypes.TargetHealthStateEnumInitial {
		t.Errorf("target in the load balancer's zone = %+v", d.TargetHealth)
	}
	// Asking for an unregistered target answers Target.NotRegistered.
	th, err := a.ELBv2.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(udp), Targets: []elbtypes.TargetDescription{{Id: aws.String("10.0.1.99")}}})
	if err != nil || len(th.TargetHealthDescriptions) != 1 || th.TargetHealthDescriptions[0].TargetHealth.Reason != elbtypes.TargetHealthReasonEnumNotRegistered {
		t.Errorf("unregistered target health = %+v, %v", th, err)
	}
	// A deleted interface is an invalid target.
	if _, err := a.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(hostID)}); err != nil {
		t.Fatal(err)
	}
	if d := health(t, ctx, a, both)[hostID+":80"]; d.TargetHealth.State != elbtypes.TargetHealthStateEnumUnused || d.TargetHealth.Reason != elbtypes.TargetHealthReasonEnumInvalidState {
		t.Errorf("target whose interface is gone = %+v", d.TargetHealth)
	}
	// Deregistering: unregistered targets are not an error.
	if _, err := a.ELBv2.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(both), Targets: []elbtypes.TargetDescription{
		{Id: aws.String(hostID)}, {Id: aws.String(hostID), Port: aws.Int32(81)}, {Id: aws.String("eni-0123456789abcdef0")},
	}}); err != nil {
		t.Fatal(err)
	}
	if h := health(t, ctx, a, both); len(h) != 0 {
		t.Errorf("after deregistering: %+v", h)
	}
}

func TestGatewayLoadBalancer(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	net := newELBNet(t, ctx, a, "10.0")

	_, err := a.ELBv2.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("gw"), Type: elbtypes.LoadBalancerTypeEnumGateway, Subnets: net.subnets[:1], SecurityGroups: []string{net.sg}})
	wantCode(t, "gateway with security groups", err, "ValidationError")
	_, err = a.ELBv2.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("gw"), Type: elbtypes.LoadBalancerTypeEnumGateway, Subnets: net.subnets[:1], Scheme: elbtypes.LoadBalancerSchemeEnumInternal})
	wantCode(t, "gateway with a scheme", err, "ValidationError")
	_, err = a.ELBv2.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("gw"), Type: elbtypes.LoadBalancerTypeEnumGateway,
		SubnetMappings: []elbtypes.SubnetMapping{{SubnetId: aws.String(net.subnets[0]), PrivateIPv4Address: aws.String("10.0.1.10")}}})
	wantCode(t, "gateway with a fixed address", err, "InvalidConfigurationRequest")

	lb := createNLB(t, ctx, a, "gw", &elb.CreateLoadBalancerInput{Type: elbtypes.LoadBalancerTypeEnumGateway, Subnets: net.subnets[:2]})
	arn := aws.ToString(lb.LoadBalancerArn)
	if !regexp.MustCompile(`^arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/gwy/gw/[0-9a-f]{16}$`).MatchString(arn) {
		t.Errorf("gateway ARN = %q", arn)
	}
	if lb.DNSName != nil || lb.Scheme != "" || len(lb.SecurityGroups) != 0 || lb.Type != elbtypes.LoadBalancerTypeEnumGateway {
		t.Errorf("gateway load balancer = %+v", lb)
	}
	hexID := arn[strings.LastIndexByte(arn, '/')+1:]
	enis, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []ec2types.Filter{{Name: aws.String("description"), Values: []string{"ELB gwy/gw/" + hexID}}}})
	if err != nil || len(enis.NetworkInterfaces) != 2 {
		t.Fatalf("gateway interfaces = %+v, %v", enis, err)
	}
	for _, n := range enis.NetworkInterfaces {
		if n.InterfaceType != ec2types.NetworkInterfaceTypeGatewayLoadBalancer || len(n.Groups) != 0 || !aws.ToBool(n.RequesterManaged) {
			t.Errorf("gateway interface = %+v", n)
		}
	}
	_, err = a.ELBv2.SetSecurityGroups(ctx, &elb.SetSecurityGroupsInput{LoadBalancerArn: aws.String(arn), SecurityGroups: []string{net.sg}})
	wantCode(t, "SetSecurityGroups on a gateway", err, "InvalidConfigurationRequest")
	_, err = a.ELBv2.SetSubnets(ctx, &elb.SetSubnetsInput{LoadBalancerArn: aws.String(arn), Subnets: net.subnets[:1]})
	wantCode(t, "removing a gateway's subnet", err, "InvalidConfigurationRequest")
	if out, err := a.ELBv2.SetSubnets(ctx, &elb.SetSubnetsInput{LoadBalancerArn: aws.String(arn), Subnets: net.subnets}); err != nil || len(out.AvailabilityZones) != 3 {
		t.Errorf("adding a subnet to a gateway: %+v, %v", out, err)
	}

	gtg := createTG(t, ctx, a, &elb.CreateTargetGroupInput{Name: aws.String("appliances"), Protocol: elbtypes.ProtocolEnumGeneve, Port: aws.Int32(6081), VpcId: aws.String(net.vpc), TargetType: elbtypes.TargetTypeEnumIp})
	if gtg.HealthCheckProtocol != elbtypes.ProtocolEnumTcp || aws.ToString(gtg.HealthCheckPort) != "80" ||
		aws.ToInt32(gtg.HealthCheckIntervalSeconds) != 10 || aws.ToInt32(gtg.HealthCheckTimeoutSeconds) != 5 {
		t.Errorf("GENEVE health check = %+v", gtg)
	}
	gtgARN := aws.ToString(gtg.TargetGroupArn)
	tcp := createTG(t, ctx, a, &elb.CreateTargetGroupInput{Name: aws.String("tcp"), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String(net.vpc), TargetType: elbtypes.TargetTypeEnumIp})

	_, err = a.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(arn), Port: aws.Int32(80), Protocol: elbtypes.ProtocolEnumTcp, DefaultActions: forward(gtgARN)})
	wantCode(t, "gateway listener with a port", err, "ValidationError")
	_, err = a.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(arn), DefaultActions: forward(aws.ToString(tcp.TargetGroupArn))})
	wantCode(t, "gateway listener to a TCP group", err, "IncompatibleProtocols")
	lo, err := a.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(arn), DefaultActions: forward(gtgARN)})
	if err != nil {
		t.Fatal(err)
	}
	if l := lo.Listeners[0]; l.Port != nil || l.Protocol != "" || !strings.Contains(aws.ToString(l.ListenerArn), ":listener/gwy/gw/"+hexID+"/") {
		t.Errorf("gateway listener = %+v", l)
	}
	gtg2 := createTG(t, ctx, a, &elb.CreateTargetGroupInput{Name: aws.String("appliances2"), Protocol: elbtypes.ProtocolEnumGeneve, Port: aws.Int32(6081), VpcId: aws.String(net.vpc)})
	_, err = a.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(arn), DefaultActions: forward(aws.ToString(gtg2.TargetGroupArn))})
	wantCode(t, "second gateway listener", err, "DuplicateListener")
	_, err = a.ELBv2.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(gtgARN), Targets: []elbtypes.TargetDescription{{Id: aws.String("10.0.1.9"), Port: aws.Int32(80)}}})
	wantCode(t, "GENEVE target on port 80", err, "InvalidTarget")

	// Attributes of gateway load balancers and GENEVE target groups.
	la, err := a.ELBv2.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn)})
	if err != nil || attrString(la.Attributes) != "deletion_protection.enabled=false load_balancing.cross_zone.enabled=false" {
		t.Errorf("gateway attributes = %v, %v", attrString(la.Attributes), err)
	}
	_, err = a.ELBv2.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn),
		Attributes: []elbtypes.LoadBalancerAttribute{{Key: aws.String("access_logs.s3.enabled"), Value: aws.String("false")}}})
	wantCode(t, "access logs on a gateway", err, "ValidationError")
	ta, err := a.ELBv2.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(gtgARN)})
	if want := "deregistration_delay.timeout_seconds=300 stickiness.enabled=false stickiness.type=source_ip_dest_ip_proto " +
		"target_failover.on_deregistration=no_rebalance target_failover.on_unhealthy=no_rebalance"; err != nil || tgAttrString(ta.Attributes) != want {
		t.Errorf("GENEVE attributes = %v, %v", tgAttrString(ta.Attributes), err)
	}
	modTG := func(kv ...string) error {
		var as []elbtypes.TargetGroupAttribute
		for i := 0; i < len(kv); i += 2 {
			as = append(as, elbtypes.TargetGroupAttribute{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		_, err := a.ELBv2.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(gtgARN), Attributes: as})
		return err
	}
	wantCode(t, "source_ip stickiness on GENEVE", modTG("stickiness.type", "source_ip"), "InvalidConfigurationRequest")
	wantCode(t, "only one failover attribute", modTG("target_failover.on_unhealthy", "rebalance"), "InvalidConfigurationRequest")
	if err := modTG("target_failover.on_unhealthy", "rebalance", "target_failover.on_deregistration", "rebalance", "stickiness.type", "source_ip_dest_ip"); err != nil {
		t.Errorf("GENEVE failover: %v", err)
	}
	wantCode(t, "proxy protocol on GENEVE", modTG("proxy_protocol_v2.enabled", "true"), "ValidationError")
}

func attrString(as []elbtypes.LoadBalancerAttribute) string {
	var out []string
	for _, a := range as {
		out = append(out, aws.ToString(a.Key)+"="+aws.ToString(a.Value))
	}
	return strings.Join(out, " ")
}

func tgAttrString(as []elbtypes.TargetGroupAttribute) string {
	var out []string
	for _, a := range as {
		out = append(out, aws.ToString(a.Key)+"="+aws.ToString(a.Value))
	}
	return strings.Join(out, " ")
}

func TestELBAttributesRoundTrip(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	net := newELBNet(t, ctx, a, "10.0")
	arn := aws.ToString(createNLB(t, ctx, a, "nlb", &elb.CreateLoadBalancerInput{Subnets: net.subnets[:1]}).LoadBalancerArn)

	la, err := a.ELBv2.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn)})
	want := "access_logs.s3.enabled=false access_logs.s3.bucket= access_logs.s3.prefix= deletion_protection.enabled=false " +
		"ipv6.deny_all_igw_traffic=true load_balancing.cross_zone.enabled=false dns_record.client_routing_policy=any_availability_zone " +
		"zonal_shift.config.enabled=false secondary_ips.auto_assigned.per_subnet=0"
	if err != nil || attrString(la.Attributes) != want {
		t.Fatalf("NLB attributes =\n%s, %v\nwant\n%s", attrString(la.Attributes), err, want)
	}
	mod := func(kv ...string) (*elb.ModifyLoadBalancerAttributesOutput, error) {
		var as []elbtypes.LoadBalancerAttribute
		for i := 0; i < len(kv); i += 2 {
			as = append(as, elbtypes.LoadBalancerAttribute{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		return a.ELBv2.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn), Attributes: as})
	}
	out, err := mod("load_balancing.cross_zone.enabled", "true", "dns_record.client_routing_policy", "availability_zone_affinity", "secondary_ips.auto_assigned.per_subnet", "2")
	if err != nil || !strings.Contains(attrString(out.Attributes), "load_balancing.cross_zone.enabled=true") {
		t.Fatalf("ModifyLoadBalancerAttributes = %v, %v", out, err)
	}
	for _, c := range []struct {
		what string
		kv   []string
		code string
	}{
		{"unknown key", []string{"idle_timeout.timeout_seconds", "60"}, "ValidationError"},
		{"not a boolean", []string{"deletion_protection.enabled", "yes"}, "ValidationError"},
		{"bad routing policy", []string{"dns_record.client_routing_policy", "nearest"}, "ValidationError"},
		{"secondary IPs 8", []string{"secondary_ips.auto_assigned.per_subnet", "8"}, "ValidationError"},
		{"secondary IPs decreased", []string{"secondary_ips.auto_assigned.per_subnet", "1"}, "InvalidConfigurationRequest"},
		{"access logs", []string{"access_logs.s3.enabled", "true"}, "InvalidConfigurationRequest"},
		{"one good, one bad", []string{"deletion_protection.enabled", "true", "bogus", "1"}, "ValidationError"},
	} {
		_, err := mod(c.kv...)
		wantCode(t, c.what, err, c.code)
	}
	la, _ = a.ELBv2.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn)})
	if s := attrString(la.Attributes); !strings.Contains(s, "deletion_protection.enabled=false") || !strings.Contains(s, "dns_record.client_routing_policy=availability_zone_affinity") ||
		!strings.Contains(s, "secondary_ips.auto_assigned.per_subnet=2") {
		t.Errorf("after refused changes: %s", s)
	}

	// Target group attributes: defaults depend on protocol and target type.
	mk := func(name string, p elbtypes.ProtocolEnum, tt elbtypes.TargetTypeEnum) string {
		return aws.ToString(createTG(t, ctx, a, &elb.CreateTargetGroupInput{Name: aws.String(name), Protocol: p, Port: aws.Int32(53), VpcId: aws.String(net.vpc), TargetType: tt}).TargetGroupArn)
	}
	tcpIP := mk("tcp-ip", elbtypes.ProtocolEnumTcp, elbtypes.TargetTypeEnumIp)
	udpInst := mk("udp-instance", elbtypes.ProtocolEnumUdp, elbtypes.TargetTypeEnumInstance)
	tga := func(arn string) string {
		out, err := a.ELBv2.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		return tgAttrString(out.Attributes)
	}
	wantTCP := "proxy_protocol_v2.enabled=false preserve_client_ip.enabled=false stickiness.enabled=false deregistration_delay.timeout_seconds=300 " +
		"stickiness.type=source_ip deregistration_delay.connection_termination.enabled=false load_balancing.cross_zone.enabled=use_load_balancer_configuration " +
		"target_health_state.unhealthy.connection_termination.enabled=true target_health_state.unhealthy.draining_interval_seconds=0 " +
		"target_group_health.dns_failover.minimum_healthy_targets.count=1 target_group_health.dns_failover.minimum_healthy_targets.percentage=off " +
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count=1 target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage=off"
	if got := tga(tcpIP); got != wantTCP {
		t.Errorf("TCP/ip attributes =\n%s\nwant\n%s", got, wantTCP)
	}
	if got := tga(udpInst); !strings.Contains(got, "preserve_client_ip.enabled=true") || !strings.Contains(got, "deregistration_delay.connection_termination.enabled=true") ||
		!strings.Contains(got, "target_health_state.unhealthy.connection_termination.enabled=false") {
		t.Errorf("UDP/instance attributes = %s", got)
	}
	modTG := func(arn string, kv ...string) (*elb.ModifyTargetGroupAttributesOutput, error) {
		var as []elbtypes.TargetGroupAttribute
		for i := 0; i < len(kv); i += 2 {
			as = append(as, elbtypes.TargetGroupAttribute{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		return a.ELBv2.ModifyTargetGroupAttributes(ctx, &elb.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn), Attributes: as})
	}
	mo, err := modTG(tcpIP, "proxy_protocol_v2.enabled", "true", "deregistration_delay.timeout_seconds", "30", "stickiness.enabled", "true",
		"load_balancing.cross_zone.enabled", "false", "target_group_health.dns_failover.minimum_healthy_targets.percentage", "50")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range []string{"proxy_protocol_v2.enabled=true", "deregistration_delay.timeout_seconds=30", "stickiness.enabled=true",
		"load_balancing.cross_zone.enabled=false", "target_group_health.dns_failover.minimum_healthy_targets.percentage=50"} {
		if !strings.Contains(tgAttrString(mo.Attributes), kv) || !strings.Contains(tga(tcpIP), kv) {
			t.Errorf("%s missing after modify: %s", kv, tga(tcpIP))
		}
	}
	for _, c := range []struct {
		what string
		arn  string
		kv   []string
		code string
	}{
		{"unknown key", tcpIP, []string{"slow_start.duration_seconds", "30"}, "ValidationError"},
		{"delay 3601", tcpIP, []string{"deregistration_delay.timeout_seconds", "3601"}, "ValidationError"},
		{"delay -1", tcpIP, []string{"deregistration_delay.timeout_seconds", "-1"}, "ValidationError"},
		{"cookie stickiness", tcpIP, []string{"stickiness.type", "lb_cookie"}, "InvalidConfigurationRequest"},
		{"cross zone maybe", tcpIP, []string{"load_balancing.cross_zone.enabled", "maybe"}, "ValidationError"},
		{"percentage 101", tcpIP, []string{"target_group_health.dns_failover.minimum_healthy_targets.percentage", "101"}, "ValidationError"},
		{"draining with termination", tcpIP, []string{"target_health_state.unhealthy.draining_interval_seconds", "10"}, "InvalidConfigurationRequest"},
		{"proxy protocol on UDP", udpInst, []string{"proxy_protocol_v2.enabled", "true"}, "InvalidConfigurationRequest"},
		{"client IP off on UDP", udpInst, []string{"preserve_client_ip.enabled", "false"}, "InvalidConfigurationRequest"},
	} {
		_, err := modTG(c.arn, c.kv...)
		wantCode(t, c.what, err, c.code)
	}
	if _, err := modTG(tcpIP, "target_health_state.unhealthy.connection_termination.enabled", "false", "target_health_state.unhealthy.draining_interval_seconds", "10"); err != nil {
		t.Errorf("draining interval without termination: %v", err)
	}

	// ModifyTargetGroup: switching the health check to HTTP brings a path
	// and a matcher; back to TCP drops them.
	mt, err := a.ELBv2.ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: aws.String(tcpIP), HealthCheckProtocol: elbtypes.ProtocolEnumHttp,
		HealthCheckPath: aws.String("/healthz"), HealthCheckIntervalSeconds: aws.Int32(15)})
	if err != nil {
		t.Fatal(err)
	}
	g := mt.TargetGroups[0]
	if g.HealthCheckProtocol != elbtypes.ProtocolEnumHttp || aws.ToString(g.HealthCheckPath) != "/healthz" || g.Matcher == nil ||
		aws.ToString(g.Matcher.HttpCode) != "200-399" || aws.ToInt32(g.HealthCheckIntervalSeconds) != 15 {
		t.Errorf("HTTP health check = %+v", g)
	}
	_, err = a.ELBv2.ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: aws.String(tcpIP), HealthCheckTimeoutSeconds: aws.Int32(20)})
	wantCode(t, "timeout above the interval", err, "ValidationError")
	mt, err = a.ELBv2.ModifyTargetGroup(ctx, &elb.ModifyTargetGroupInput{TargetGroupArn: aws.String(tcpIP), HealthCheckProtocol: elbtypes.ProtocolEnumTcp})
	if err != nil || mt.TargetGroups[0].HealthCheckPath != nil || mt.TargetGroups[0].Matcher != nil {
		t.Errorf("back to TCP = %+v, %v", mt, err)
	}
}

func TestELBTags(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	net := newELBNet(t, ctx, a, "10.0")
	lb := aws.ToString(createNLB(t, ctx, a, "nlb", &elb.CreateLoadBalancerInput{Subnets: net.subnets[:1],
		Tags: []elbtypes.Tag{{Key: aws.String("team"), Value: aws.String("net")}}}).LoadBalancerArn)
	tg := aws.ToString(createTG(t, ctx, a, &elb.CreateTargetGroupInput{Name: aws.String("tg"), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80),
		VpcId: aws.String(net.vpc), Tags: []elbtypes.Tag{{Key: aws.String("a"), Value: aws.String("1")}}}).TargetGroupArn)
	lo, err := a.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(lb), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80),
		DefaultActions: forward(tg), Tags: []elbtypes.Tag{{Key: aws.String("l"), Value: aws.String("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	l := aws.ToString(lo.Listeners[0].ListenerArn)

	tags := func() map[string]string {
		out, err := a.ELBv2.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{lb, tg, l}})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, d := range out.TagDescriptions {
			var kv []string
			for _, t := range d.Tags {
				kv = append(kv, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
			}
			sort.Strings(kv)
			m[aws.ToString(d.ResourceArn)] = strings.Join(kv, ",")
		}
		return m
	}
	if m := tags(); m[lb] != "team=net" || m[tg] != "a=1" || m[l] != "l=x" {
		t.Errorf("tags at create = %v", m)
	}
	if _, err := a.ELBv2.AddTags(ctx, &elb.AddTagsInput{ResourceArns: []string{lb, tg, l}, Tags: []elbtypes.Tag{
		{Key: aws.String("team"), Value: aws.String("ops")}, {Key: aws.String("empty")},
	}}); err != nil {
		t.Fatal(err)
	}
	if m := tags(); m[lb] != "empty=,team=ops" || m[tg] != "a=1,empty=,team=ops" || m[l] != "empty=,l=x,team=ops" {
		t.Errorf("tags after AddTags = %v", m)
	}
	if _, err := a.ELBv2.RemoveTags(ctx, &elb.RemoveTagsInput{ResourceArns: []string{lb, l}, TagKeys: []string{"team", "absent"}}); err != nil {
		t.Fatal(err)
	}
	if m := tags(); m[lb] != "empty=" || m[tg] != "a=1,empty=,team=ops" || m[l] != "empty=,l=x" {
		t.Errorf("tags after RemoveTags = %v", m)
	}
	var many []elbtypes.Tag
	for i := 0; i < 48; i++ {
		many = append(many, elbtypes.Tag{Key: aws.String(fmt.Sprint("k", i))})
	}
	_, err = a.ELBv2.AddTags(ctx, &elb.AddTagsInput{ResourceArns: []string{lb, tg}, Tags: many})
	wantCode(t, "51 tags on the target group", err, "TooManyTags")
	if m := tags(); m[lb] != "empty=" {
		t.Errorf("a refused AddTags changed the load balancer: %v", m[lb])
	}
	_, err = a.ELBv2.AddTags(ctx, &elb.AddTagsInput{ResourceArns: []string{lb}, Tags: []elbtypes.Tag{{Key: aws.String("aws:x")}}})
	wantCode(t, "aws: key", err, "ValidationError")
	_, err = a.ELBv2.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{strings.Replace(tg, "targetgroup/tg/", "targetgroup/xx/", 1)}})
	wantCode(t, "tags of a missing target group", err, "TargetGroupNotFound")
	_, err = a.ELBv2.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{"arn:aws:s3:::bucket"}})
	wantCode(t, "tags of a non-ELB ARN", err, "ValidationError")
	// ELB tags are not EC2 tags.
	et, err := a.EC2.DescribeTags(ctx, &ec2.DescribeTagsInput{})
	if err != nil || len(et.Tags) != 0 {
		t.Errorf("EC2 DescribeTags = %+v, %v", et, err)
	}
}

func TestELBPagination(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	net := newELBNet(t, ctx, a, "10.0")
	var lbs, tgs []string
	for i := 0; i < 7; i++ {
		lbs = append(lbs, aws.ToString(createNLB(t, ctx, a, fmt.Sprintf("lb-%d", i), &elb.CreateLoadBalancerInput{Subnets: net.subnets[i%3 : i%3+1]}).LoadBalancerName))
		tgs = append(tgs, aws.ToString(createTG(t, ctx, a, &elb.CreateTargetGroupInput{Name: aws.String(fmt.Sprintf("tg-%d", i)),
			Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String(net.vpc)}).TargetGroupName))
	}
	var got []string
	pages := 0
	p := elb.NewDescribeLoadBalancersPaginator(a.ELBv2, &elb.DescribeLoadBalancersInput{PageSize: aws.Int32(3)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, lb := range out.LoadBalancers {
			got = append(got, aws.ToString(lb.LoadBalancerName))
		}
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(lbs, ",") {
		t.Errorf("%d pages of load balancers: %v, want 3 pages of %v", pages, got, lbs)
	}
	got, pages = nil, 0
	tp := elb.NewDescribeTargetGroupsPaginator(a.ELBv2, &elb.DescribeTargetGroupsInput{PageSize: aws.Int32(2)})
	for tp.HasMorePages() {
		out, err := tp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tg := range out.TargetGroups {
			got = append(got, aws.ToString(tg.TargetGroupName))
		}
	}
	if pages != 4 || strings.Join(got, ",") != strings.Join(tgs, ",") {
		t.Errorf("%d pages of target groups: %v, want 4 pages of %v", pages, got, tgs)
	}
	// Listeners page too.
	lb0, err := a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{Names: []string{"lb-0"}})
	if err != nil {
		t.Fatal(err)
	}
	lbARN := aws.ToString(lb0.LoadBalancers[0].LoadBalancerArn)
	tgOut, err := a.ELBv2.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{"tg-0"}})
	if err != nil {
		t.Fatal(err)
	}
	for port := int32(1); port <= 5; port++ {
		if _, err := a.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: aws.String(lbARN), Protocol: elbtypes.ProtocolEnumTcp,
			Port: aws.Int32(port), DefaultActions: forward(aws.ToString(tgOut.TargetGroups[0].TargetGroupArn))}); err != nil {
			t.Fatal(err)
		}
	}
	var ports []int32
	pages = 0
	lp := elb.NewDescribeListenersPaginator(a.ELBv2, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN), PageSize: aws.Int32(2)})
	for lp.HasMorePages() {
		out, err := lp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, l := range out.Listeners {
			ports = append(ports, aws.ToInt32(l.Port))
		}
	}
	if pages != 3 || fmt.Sprint(ports) != "[1 2 3 4 5]" {
		t.Errorf("%d pages of listeners: %v", pages, ports)
	}
}

func TestELBSetSubnetsAndSecurityGroups(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	net := newELBNet(t, ctx, a, "10.0")
	other := newELBNet(t, ctx, a, "10.1")
	g2, err := a.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("second"), Description: aws.String("x"), VpcId: aws.String(net.vpc)})
	if err != nil {
		t.Fatal(err)
	}
	sg2 := aws.ToString(g2.GroupId)
	with := aws.ToString(createNLB(t, ctx, a, "with", &elb.CreateLoadBalancerInput{Subnets: net.subnets[:1], SecurityGroups: []string{net.sg}}).LoadBalancerArn)
	without := aws.ToString(createNLB(t, ctx, a, "without", &elb.CreateLoadBalancerInput{Subnets: net.subnets[:1]}).LoadBalancerArn)

	out, err := a.ELBv2.SetSecurityGroups(ctx, &elb.SetSecurityGroupsInput{LoadBalancerArn: aws.String(with), SecurityGroups: []string{sg2},
		EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: elbtypes.EnforceSecurityGroupInboundRulesOnPrivateLinkTrafficEnumOff})
	if err != nil || fmt.Sprint(out.SecurityGroupIds) != "["+sg2+"]" || out.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic != "off" {
		t.Fatalf("SetSecurityGroups = %+v, %v", out, err)
	}
	d, err := a.ELBv2.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{with}})
	if err != nil || fmt.Sprint(d.LoadBalancers[0].SecurityGroups) != "["+sg2+"]" || aws.ToString(d.LoadBalancers[0].EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic) != "off" {
		t.Errorf("after SetSecurityGroups: %+v, %v", d, err)
	}
	hexID := with[strings.LastIndexByte(with, '/')+1:]
	enis, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []ec2types.Filter{{Name: aws.String("description"), Values: []string{"ELB net/with/" + hexID}}}})
	if err != nil || len(enis.NetworkInterfaces) != 1 || len(enis.NetworkInterfaces[0].Groups) != 1 || aws.ToString(enis.NetworkInterfaces[0].Groups[0].GroupId) != sg2 {
		t.Errorf("interface groups after SetSecurityGroups: %+v, %v", enis, err)
	}
	_, err = a.ELBv2.SetSecurityGroups(ctx, &elb.SetSecurityGroupsInput{LoadBalancerArn: aws.String(without), SecurityGroups: []string{sg2}})
	wantCode(t, "groups on a load balancer created without", err, "InvalidConfigurationRequest")
	_, err = a.ELBv2.SetSecurityGroups(ctx, &elb.SetSecurityGroupsInput{LoadBalancerArn: aws.String(with), SecurityGroups: []string{other.sg}})
	wantCode(t, "group of another VPC", err, "InvalidSecurityGroup")

	before := availableIPs(t, ctx, a, net.subnets...)
	so, err := a.ELBv2.SetSubnets(ctx, &elb.SetSubnetsInput{LoadBalancerArn: aws.String(without), SubnetMappings: []elbtypes.SubnetMapping{
		{SubnetId: aws.String(net.subnets[1]), PrivateIPv4Address: aws.String("10.0.2.200")}, {SubnetId: aws.String(net.subnets[2])},
	}})
	if err != nil || len(so.AvailabilityZones) != 2 || aws.ToString(so.AvailabilityZones[0].LoadBalancerAddresses[0].PrivateIPv4Address) != "10.0.2.200" {
		t.Fatalf("SetSubnets = %+v, %v", so, err)
	}
	if got := availableIPs(t, ctx, a, net.subnets...); got[0] != before[0]+1 || got[1] != before[1]-1 || got[2] != before[2]-1 {
		t.Errorf("addresses after SetSubnets %v, before %v", got, before)
	}
	_, err = a.ELBv2.SetSubnets(ctx, &elb.SetSubnetsInput{LoadBalancerArn: aws.String(without), Subnets: []string{other.subnets[0]}})
	wantCode(t, "subnet of another VPC", err, "InvalidSubnet")
	_, err = a.ELBv2.SetSubnets(ctx, &elb.SetSubnetsInput{LoadBalancerArn: aws.String(without), SubnetMappings: []elbtypes.SubnetMapping{
		{SubnetId: aws.String(net.subnets[1]), PrivateIPv4Address: aws.String("10.0.2.201")},
	}})
	wantCode(t, "changing a fixed address", err, "InvalidConfigurationRequest")
}
