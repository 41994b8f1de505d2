package isthmustest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/isthmustest"
)

// plEnv is a test server (every service, SNS included) without a delivery
// worker: what connection notifications publish stays in the SNS outbox
// for the test to read.
type plEnv struct {
	*isthmustest.Env
}

func newPLEnv(t testing.TB) *plEnv {
	t.Helper()
	return &plEnv{Env: isthmustest.New(t)}
}

func (e *plEnv) sns(account string) *sns.Client {
	return sns.NewFromConfig(aws.Config{
		Region:       isthmustest.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(account, "secret", ""),
		BaseEndpoint: aws.String(e.URL),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

// events returns the connection events the outbox holds for topic, in
// publishing order.
func (e *plEnv) events(t *testing.T, topic string) []core.ConnectionEvent {
	t.Helper()
	_, msgs, err := e.Cloud.SNSOutbox()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].ID < msgs[j].ID })
	var out []core.ConnectionEvent
	for _, m := range msgs {
		if m.TopicARN != topic || m.Type != core.SNSNotification {
			continue
		}
		if m.Subject != core.ConnectionEventSubject {
			t.Errorf("notification subject %q", m.Subject)
		}
		var ev core.ConnectionEvent
		if err := json.Unmarshal([]byte(m.Message), &ev); err != nil {
			t.Fatalf("notification %q: %v", m.Message, err)
		}
		out = append(out, ev)
	}
	return out
}

// vpceNet is a VPC with one /24 subnet in each of us-east-1a, b and c.
type vpceNet struct {
	vpc     string
	subnets []string
}

func newVpceNet(t testing.TB, ctx context.Context, c *isthmustest.Client, cidr16 string) vpceNet {
	t.Helper()
	v, err := c.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr16 + ".0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	n := vpceNet{vpc: aws.ToString(v.Vpc.VpcId)}
	for i, z := range []string{"a", "b", "c"} {
		s, err := c.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId: aws.String(n.vpc), CidrBlock: aws.String(fmt.Sprintf("%s.%d.0/24", cidr16, i+1)),
			AvailabilityZone: aws.String("us-east-1" + z),
		})
		if err != nil {
			t.Fatal(err)
		}
		n.subnets = append(n.subnets, aws.ToString(s.Subnet.SubnetId))
	}
	return n
}

// provider is an NLB in zones a and b with a TCP listener: what an
// endpoint service fronts.
type provider struct {
	net              vpceNet
	lb, tg, listener string
}

func newProvider(t testing.TB, ctx context.Context, c *isthmustest.Client, name string, typ elbtypes.LoadBalancerTypeEnum) provider {
	t.Helper()
	p := provider{net: newVpceNet(t, ctx, c, "10.0")}
	lbIn := &elb.CreateLoadBalancerInput{Name: aws.String(name), Type: typ, Subnets: p.net.subnets[:2]}
	if typ == elbtypes.LoadBalancerTypeEnumNetwork {
		lbIn.Scheme = elbtypes.LoadBalancerSchemeEnumInternal
	}
	lb, err := c.ELBv2.CreateLoadBalancer(ctx, lbIn)
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	p.lb = aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	tgIn := &elb.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80),
		VpcId: aws.String(p.net.vpc), TargetType: elbtypes.TargetTypeEnumIp}
	lis := &elb.CreateListenerInput{LoadBalancerArn: aws.String(p.lb), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80)}
	if typ == elbtypes.LoadBalancerTypeEnumGateway {
		tgIn.Protocol, tgIn.Port = elbtypes.ProtocolEnumGeneve, aws.Int32(6081)
		lis.Protocol, lis.Port = "", nil
	}
	tg, err := c.ELBv2.CreateTargetGroup(ctx, tgIn)
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	p.tg = aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	lis.DefaultActions = []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(p.tg)}}
	lo, err := c.ELBv2.CreateListener(ctx, lis)
	if err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	p.listener = aws.ToString(lo.Listeners[0].ListenerArn)
	return p
}

func (p provider) delete(t testing.TB, ctx context.Context, c *isthmustest.Client) {
	t.Helper()
	if _, err := c.ELBv2.DeleteListener(ctx, &elb.DeleteListenerInput{ListenerArn: aws.String(p.listener)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ELBv2.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(p.lb)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ELBv2.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(p.tg)}); err != nil {
		t.Fatal(err)
	}
}

// unsuccessful renders per-id failures as "id:code" strings.
func unsuccessfulCodes(items []types.UnsuccessfulItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, aws.ToString(it.ResourceId)+":"+aws.ToString(it.Error.Code))
	}
	return out
}

func describeEndpoint(t *testing.T, ctx context.Context, c *isthmustest.Client, id string) types.VpcEndpoint {
	t.Helper()
	out, err := c.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
	if err != nil || len(out.VpcEndpoints) != 1 {
		t.Fatalf("DescribeVpcEndpoints %s: %+v, %v", id, out, err)
	}
	return out.VpcEndpoints[0]
}

// TestPrivateLinkLifecycleAcrossAccounts is issue 3's "done when": a
// provider publishes an NLB as a service requiring acceptance; the
// consumer cannot see it until allowed; its interface endpoint waits,
// is accepted, later rejected; each event reaches the SNS outbox; and
// deleting everything leaves nothing behind.
func TestPrivateLinkLifecycleAcrossAccounts(t *testing.T) {
	env := newPLEnv(t)
	ctx := isthmustest.Ctx(t)
	const acctA, acctB = "111111111111", "222222222222"
	a, b := env.Account(acctA), env.Account(acctB)

	prov := newProvider(t, ctx, a, "svc-nlb", elbtypes.LoadBalancerTypeEnumNetwork)
	cons := newVpceNet(t, ctx, b, "10.0") // the same CIDR as the provider's: PrivateLink does not care
	freeB := availableIPs(t, ctx, b, cons.subnets...)

	topic, err := env.sns(acctA).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("vpce-events")})
	if err != nil {
		t.Fatal(err)
	}
	topicARN := aws.ToString(topic.TopicArn)

	// The provider creates a service requiring acceptance.
	_, err = a.EC2.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{
		NetworkLoadBalancerArns: []string{prov.lb}, DryRun: aws.Bool(true)})
	wantCode(t, "DryRun create service", err, "DryRunOperation")
	cs, err := a.EC2.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{
		NetworkLoadBalancerArns: []string{prov.lb},
		AcceptanceRequired:      aws.Bool(true),
		PrivateDnsName:          aws.String("api.example.test"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpcEndpointService,
			Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("api")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := cs.ServiceConfiguration
	svcID := aws.ToString(sc.ServiceId)
	svcName := aws.ToString(sc.ServiceName)
	if !regexp.MustCompile(`^vpce-svc-[0-9a-f]{17}$`).MatchString(svcID) || svcName != "com.amazonaws.vpce.us-east-1."+svcID {
		t.Fatalf("service id %q name %q", svcID, svcName)
	}
	if sc.ServiceState != types.ServiceStateAvailable || len(sc.ServiceType) != 1 || sc.ServiceType[0].ServiceType != types.ServiceTypeInterface ||
		!aws.ToBool(sc.AcceptanceRequired) || strings.Join(sc.AvailabilityZones, ",") != "us-east-1a,us-east-1b" ||
		strings.Join(sc.BaseEndpointDnsNames, ",") != svcID+".us-east-1.vpce.amazonaws.com" ||
		strings.Join(sc.NetworkLoadBalancerArns, ",") != prov.lb || fmt.Sprint(sc.SupportedIpAddressTypes) != "[ipv4]" ||
		aws.ToString(sc.PrivateDnsName) != "api.example.test" || len(sc.Tags) != 1 {
		t.Errorf("service configuration: %+v", sc)
	}
	if c := sc.PrivateDnsNameConfiguration; c == nil || c.State != types.DnsNameStatePendingVerification || aws.ToString(c.Type) != "TXT" ||
		!strings.HasPrefix(aws.ToString(c.Name), "_") || !strings.HasPrefix(aws.ToString(c.Value), "vpce:") {
		t.Errorf("PrivateDnsNameConfiguration: %+v", c)
	}
	if _, err := a.ELBv2.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(prov.lb)}); errorCode(err) != "ResourceInUse" {
		t.Errorf("DeleteLoadBalancer of a service's NLB: %v, want ResourceInUse", err)
	}
	_, err = a.EC2.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{NetworkLoadBalancerArns: []string{prov.lb}})
	wantCode(t, "second service on the same NLB", err, "InvalidParameter")
	_, err = b.EC2.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{NetworkLoadBalancerArns: []string{prov.lb}})
	wantCode(t, "B publishing A's NLB", err, "InvalidParameter")
	_, err = b.EC2.DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{svcID}})
	wantCode(t, "B describing A's configuration", err, "InvalidVpcEndpointServiceId.NotFound")

	if _, err := a.EC2.CreateVpcEndpointConnectionNotification(ctx, &ec2.CreateVpcEndpointConnectionNotificationInput{
		ServiceId: aws.String(svcID), ConnectionNotificationArn: aws.String(topicARN),
		ConnectionEvents: []string{"Connect", "Accept", "Reject", "Delete"},
	}); err != nil {
		t.Fatal(err)
	}

	// The consumer cannot see it.
	_, err = b.EC2.DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{ServiceNames: []string{svcName}})
	wantCode(t, "B describing the service before it is allowed", err, "InvalidServiceName")
	createEP := func(subnets ...string) (*ec2.CreateVpcEndpointOutput, error) {
		return b.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{
			VpcId: aws.String(cons.vpc), ServiceName: aws.String(svcName), VpcEndpointType: types.VpcEndpointTypeInterface,
			SubnetIds: subnets,
		})
	}
	_, err = createEP(cons.subnets[0])
	wantCode(t, "B connecting before it is allowed", err, "InvalidServiceName")

	// The provider allows the consumer's account.
	_, err = a.EC2.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: aws.String(svcID), AddAllowedPrincipals: []string{"not-an-arn"}})
	wantCode(t, "bad principal", err, "InvalidParameterValue")
	mp, err := a.EC2.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: aws.String(svcID), AddAllowedPrincipals: []string{core.RootARN(acctB)}})
	if err != nil || !aws.ToBool(mp.ReturnValue) || len(mp.AddedPrincipals) != 1 || mp.AddedPrincipals[0].PrincipalType != types.PrincipalTypeAccount {
		t.Fatalf("ModifyVpcEndpointServicePermissions: %+v, %v", mp, err)
	}
	dp, err := a.EC2.DescribeVpcEndpointServicePermissions(ctx, &ec2.DescribeVpcEndpointServicePermissionsInput{ServiceId: aws.String(svcID)})
	if err != nil || len(dp.AllowedPrincipals) != 1 || aws.ToString(dp.AllowedPrincipals[0].Principal) != core.RootARN(acctB) ||
		dp.AllowedPrincipals[0].PrincipalType != types.PrincipalTypeAccount {
		t.Fatalf("DescribeVpcEndpointServicePermissions: %+v, %v", dp, err)
	}
	ds, err := b.EC2.DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{ServiceNames: []string{svcName}})
	if err != nil || len(ds.ServiceDetails) != 1 || strings.Join(ds.ServiceNames, ",") != svcName {
		t.Fatalf("B DescribeVpcEndpointServices: %+v, %v", ds, err)
	}
	if d := ds.ServiceDetails[0]; aws.ToString(d.Owner) != acctA || !aws.ToBool(d.AcceptanceRequired) ||
		strings.Join(d.AvailabilityZones, ",") != "us-east-1a,us-east-1b" || d.PrivateDnsName != nil ||
		d.PrivateDnsNameVerificationState != types.DnsNameStatePendingVerification || aws.ToBool(d.VpcEndpointPolicySupported) ||
		len(d.ServiceType) != 1 || d.ServiceType[0].ServiceType != types.ServiceTypeInterface {
		t.Errorf("B's service detail: %+v", d)
	}

	// The consumer creates an interface endpoint: it waits for acceptance.
	_, err = createEP(cons.subnets[0], cons.subnets[2])
	wantCode(t, "endpoint in a zone the service lacks", err, "InvalidParameter")
	if got := availableIPs(t, ctx, b, cons.subnets...); fmt.Sprint(got) != fmt.Sprint(freeB) {
		t.Fatalf("a refused CreateVpcEndpoint changed the subnets: %v, want %v", got, freeB)
	}
	_, err = b.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(cons.vpc), ServiceName: aws.String(svcName),
		VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: cons.subnets[:1], PrivateDnsEnabled: aws.Bool(true)})
	wantCode(t, "private DNS before the name is verified", err, "InvalidParameter")
	ce, err := createEP(cons.subnets[0], cons.subnets[1])
	if err != nil {
		t.Fatal(err)
	}
	epID := aws.ToString(ce.VpcEndpoint.VpcEndpointId)
	ep := describeEndpoint(t, ctx, b, epID)
	if ep.State != "pendingAcceptance" || ep.VpcEndpointType != types.VpcEndpointTypeInterface ||
		len(ep.NetworkInterfaceIds) != 2 || len(ep.SubnetIds) != 2 || aws.ToString(ep.OwnerId) != acctB ||
		len(ep.Groups) != 1 || aws.ToString(ep.Groups[0].GroupName) != "default" || aws.ToBool(ep.PrivateDnsEnabled) ||
		ep.PolicyDocument != nil || ep.IpAddressType != types.IpAddressTypeIpv4 {
		t.Fatalf("endpoint: %+v owner %s group %s pdns %v", ep, aws.ToString(ep.OwnerId), aws.ToString(ep.Groups[0].GroupName), aws.ToBool(ep.PrivateDnsEnabled))
	}
	if len(ep.DnsEntries) != 3 {
		t.Fatalf("DNS entries: %+v", ep.DnsEntries)
	}
	regional := regexp.MustCompile(`^` + epID + `-[a-z0-9]{8}\.` + svcID + `\.us-east-1\.vpce\.amazonaws\.com$`)
	zonal := regexp.MustCompile(`^` + epID + `-[a-z0-9]{8}-us-east-1[ab]\.` + svcID + `\.us-east-1\.vpce\.amazonaws\.com$`)
	if !regional.MatchString(aws.ToString(ep.DnsEntries[0].DnsName)) || !zonal.MatchString(aws.ToString(ep.DnsEntries[1].DnsName)) ||
		!zonal.MatchString(aws.ToString(ep.DnsEntries[2].DnsName)) || aws.ToString(ep.DnsEntries[0].HostedZoneId) != "Z7HUB22UULQXV" {
		t.Errorf("DNS entries: %s %s %s", aws.ToString(ep.DnsEntries[0].DnsName), aws.ToString(ep.DnsEntries[1].DnsName), aws.ToString(ep.DnsEntries[2].DnsName))
	}
	enis, err := b.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: ep.NetworkInterfaceIds})
	if err != nil || len(enis.NetworkInterfaces) != 2 {
		t.Fatalf("endpoint ENIs: %+v, %v", enis, err)
	}
	for _, n := range enis.NetworkInterfaces {
		if n.InterfaceType != types.NetworkInterfaceTypeVpcEndpoint || !aws.ToBool(n.RequesterManaged) ||
			aws.ToString(n.RequesterId) != "727180483921" || aws.ToString(n.Description) != "VPC Endpoint Interface "+epID ||
			aws.ToString(n.VpcId) != cons.vpc || !strings.HasPrefix(aws.ToString(n.PrivateIpAddress), "10.0.") {
			t.Errorf("endpoint ENI: %+v", n)
		}
	}
	_, err = b.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(ep.NetworkInterfaceIds[0])})
	wantCode(t, "deleting an endpoint's ENI", err, "InvalidParameterValue")

	// The provider sees the connection and accepts it.
	dc, err := a.EC2.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{})
	if err != nil || len(dc.VpcEndpointConnections) != 1 {
		t.Fatalf("DescribeVpcEndpointConnections: %+v, %v", dc, err)
	}
	if c := dc.VpcEndpointConnections[0]; aws.ToString(c.VpcEndpointId) != epID || aws.ToString(c.VpcEndpointOwner) != acctB ||
		c.VpcEndpointState != "pendingAcceptance" || aws.ToString(c.ServiceId) != svcID ||
		strings.Join(c.NetworkLoadBalancerArns, ",") != prov.lb || len(c.DnsEntries) != 3 ||
		!strings.HasPrefix(aws.ToString(c.VpcEndpointConnectionId), "vpce-con-") {
		t.Errorf("connection: %+v", c)
	}
	if dc, _ := b.EC2.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{}); len(dc.VpcEndpointConnections) != 0 {
		t.Errorf("the consumer sees connections: %+v", dc.VpcEndpointConnections)
	}
	_, err = b.EC2.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(svcID), VpcEndpointIds: []string{epID}})
	wantCode(t, "the consumer accepting", err, "InvalidVpcEndpointServiceId.NotFound")
	ac, err := a.EC2.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{
		ServiceId: aws.String(svcID), VpcEndpointIds: []string{epID, "vpce-0123456789abcdef0"}})
	if err != nil || fmt.Sprint(unsuccessfulCodes(ac.Unsuccessful)) != "[vpce-0123456789abcdef0:InvalidVpcEndpointId.NotFound]" {
		t.Fatalf("AcceptVpcEndpointConnections: %v, %v", unsuccessfulCodes(ac.Unsuccessful), err)
	}
	if ep := describeEndpoint(t, ctx, b, epID); ep.State != "available" {
		t.Fatalf("after accept: %s", ep.State)
	}
	ac, err = a.EC2.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(svcID), VpcEndpointIds: []string{epID}})
	if err != nil || fmt.Sprint(unsuccessfulCodes(ac.Unsuccessful)) != "["+epID+":InvalidStateTransition]" {
		t.Errorf("accepting twice: %v, %v", unsuccessfulCodes(ac.Unsuccessful), err)
	}

	// A connected service cannot be deleted.
	del, err := a.EC2.DeleteVpcEndpointServiceConfigurations(ctx, &ec2.DeleteVpcEndpointServiceConfigurationsInput{ServiceIds: []string{svcID, "vpce-svc-0123456789abcdef0"}})
	if err != nil || fmt.Sprint(unsuccessfulCodes(del.Unsuccessful)) != "["+svcID+":ExistingVpcEndpointConnections vpce-svc-0123456789abcdef0:InvalidVpcEndpointService.NotFound]" {
		t.Errorf("DeleteVpcEndpointServiceConfigurations while connected: %v, %v", unsuccessfulCodes(del.Unsuccessful), err)
	}

	// Removing the consumer's permission hides the service but keeps the
	// connection.
	if _, err := a.EC2.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: aws.String(svcID), RemoveAllowedPrincipals: []string{core.RootARN(acctB)}}); err != nil {
		t.Fatal(err)
	}
	_, err = b.EC2.DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{ServiceNames: []string{svcName}})
	wantCode(t, "B describing the service after removal", err, "InvalidServiceName")
	if ep := describeEndpoint(t, ctx, b, epID); ep.State != "available" {
		t.Fatalf("after removing the permission: %s", ep.State)
	}

	// The provider rejects the available endpoint.
	rj, err := a.EC2.RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(svcID), VpcEndpointIds: []string{epID}})
	if err != nil || len(rj.Unsuccessful) != 0 {
		t.Fatalf("RejectVpcEndpointConnections: %+v, %v", rj, err)
	}
	if ep := describeEndpoint(t, ctx, b, epID); ep.State != "rejected" {
		t.Fatalf("after reject: %s", ep.State)
	}

	// The consumer deletes it; the provider's connection shows deleted.
	de, err := b.EC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{epID, "vpce-0123456789abcdef0", "bogus"}})
	if err != nil || fmt.Sprint(unsuccessfulCodes(de.Unsuccessful)) != "[vpce-0123456789abcdef0:InvalidVpcEndpoint.NotFound bogus:InvalidVpcEndpointId.Malformed]" {
		t.Fatalf("DeleteVpcEndpoints: %v, %v", unsuccessfulCodes(de.Unsuccessful), err)
	}
	_, err = b.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{epID}})
	wantCode(t, "describing the deleted endpoint", err, "InvalidVpcEndpointId.NotFound")
	dc, err = a.EC2.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{
		Filters: []types.Filter{{Name: aws.String("vpc-endpoint-state"), Values: []string{"deleted"}}}})
	if err != nil || len(dc.VpcEndpointConnections) != 1 {
		t.Errorf("deleted connection: %+v, %v", dc, err)
	}

	// Every event reached the topic, in order.
	var got []string
	for _, ev := range env.events(t, topicARN) {
		if ev.VpcEndpointID != epID || ev.ServiceID != svcID || ev.VpcEndpointOwner != acctB {
			t.Errorf("event %+v", ev)
		}
		got = append(got, ev.EventType+":"+ev.VpcEndpointState)
	}
	if want := "[Connect:pendingAcceptance Accept:available Reject:rejected Delete:deleted]"; fmt.Sprint(got) != want {
		t.Errorf("events %v, want %s", got, want)
	}

	// Delete everything: nothing is left.
	del, err = a.EC2.DeleteVpcEndpointServiceConfigurations(ctx, &ec2.DeleteVpcEndpointServiceConfigurationsInput{ServiceIds: []string{svcID}})
	if err != nil || len(del.Unsuccessful) != 0 {
		t.Fatalf("DeleteVpcEndpointServiceConfigurations: %v, %v", unsuccessfulCodes(del.Unsuccessful), err)
	}
	if dc, _ := a.EC2.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{}); len(dc.VpcEndpointConnections) != 0 {
		t.Errorf("connections after the service is gone: %+v", dc.VpcEndpointConnections)
	}
	if n, _ := a.EC2.DescribeVpcEndpointConnectionNotifications(ctx, &ec2.DescribeVpcEndpointConnectionNotificationsInput{}); len(n.ConnectionNotificationSet) != 0 {
		t.Errorf("notifications after the service is gone: %+v", n.ConnectionNotificationSet)
	}
	prov.delete(t, ctx, a)
	for _, c := range []*isthmustest.Client{a, b} {
		n, err := c.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{})
		if err != nil || len(n.NetworkInterfaces) != 0 {
			t.Errorf("network interfaces left: %+v, %v", n, err)
		}
	}
	if got := availableIPs(t, ctx, b, cons.subnets...); fmt.Sprint(got) != fmt.Sprint(freeB) {
		t.Errorf("consumer addresses after cleanup: %v, want %v", got, freeB)
	}
	for _, x := range []struct {
		c   *isthmustest.Client
		vpc string
	}{{a, prov.net.vpc}, {b, cons.vpc}} {
		rts, err := x.c.EC2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rt := range rts.RouteTables {
			if len(rt.Routes) != 1 {
				t.Errorf("routes left in %s: %+v", aws.ToString(rt.RouteTableId), rt.Routes)
			}
		}
		n, _ := x.c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
		for _, s := range n.Subnets {
			if _, err := x.c.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: s.SubnetId}); err != nil {
				t.Errorf("DeleteSubnet: %v", err)
			}
		}
		if _, err := x.c.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(x.vpc)}); err != nil {
			t.Errorf("DeleteVpc: %v", err)
		}
	}
}
