package isthmustest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/isthmusnet/isthmus/dns"
	"github.com/isthmusnet/isthmus/isthmustest"
)

// TestDataPath drives PrivateLink end to end through aws-sdk-go-v2 and
// real sockets: a provider's NLB and endpoint service in one VPC, a
// consumer's interface endpoint in another VPC of the same CIDR
// (10.0.0.0/16 both), with the Linux data plane running in-process.
func TestDataPath(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	dp := dpStart(t, env)
	prov, cons := env.Account("111111111111"), env.Account("222222222222")
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// --- Provider: targets, an NLB with TCP 80 and UDP 53, a service
	// requiring acceptance, open to the consumer.
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
		IpPermissions: []types.IpPermission{
			{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}}},
			{IpProtocol: aws.String("udp"), FromPort: aws.Int32(5353), ToPort: aws.Int32(5353), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}}},
		}})
	check("targets' group admits the VPC", err)
	eni := func(c *isthmustest.Client, subnet, ip string) string {
		t.Helper()
		out, err := c.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: &subnet, PrivateIpAddress: aws.String(ip)})
		check("interface "+ip, err)
		return aws.ToString(out.NetworkInterface.NetworkInterfaceId)
	}
	t1, t2 := eni(prov, psID, "10.0.1.10"), eni(prov, psID, "10.0.1.11")
	lbOut, err := prov.ELBv2.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("svc"), Type: elbtypes.LoadBalancerTypeEnumNetwork,
		Scheme: elbtypes.LoadBalancerSchemeEnumInternal, Subnets: []string{psID}})
	check("NLB", err)
	lbARN := aws.ToString(lbOut.LoadBalancers[0].LoadBalancerArn)
	nlbIP := aws.ToString(lbOut.LoadBalancers[0].AvailabilityZones[0].LoadBalancerAddresses[0].PrivateIPv4Address)
	tgOut, err := prov.ELBv2.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String("web"), Protocol: elbtypes.ProtocolEnumTcp,
		Port: aws.Int32(8080), VpcId: &pvID, HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2),
		HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2)})
	check("TCP target group", err)
	tgARN := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	_, err = prov.ELBv2.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: &tgARN, Targets: []elbtypes.TargetDescription{{Id: &t1}, {Id: &t2}}})
	check("register targets", err)
	_, err = prov.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: &lbARN, Port: aws.Int32(80), Protocol: elbtypes.ProtocolEnumTcp,
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &tgARN}}})
	check("TCP listener", err)
	utg, err := prov.ELBv2.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String("dns"), Protocol: elbtypes.ProtocolEnumUdp,
		Port: aws.Int32(5353), VpcId: &pvID, TargetType: elbtypes.TargetTypeEnumIp})
	check("UDP target group", err)
	utgARN := aws.ToString(utg.TargetGroups[0].TargetGroupArn)
	_, err = prov.ELBv2.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: &utgARN, Targets: []elbtypes.TargetDescription{{Id: aws.String("10.0.1.10")}}})
	check("register the UDP target", err)
	_, err = prov.ELBv2.CreateListener(ctx, &elb.CreateListenerInput{LoadBalancerArn: &lbARN, Port: aws.Int32(53), Protocol: elbtypes.ProtocolEnumUdp,
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &utgARN}}})
	check("UDP listener", err)
	svc, err := prov.EC2.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{
		NetworkLoadBalancerArns: []string{lbARN}, AcceptanceRequired: aws.Bool(true), PrivateDnsName: aws.String("api.example.test")})
	check("endpoint service", err)
	svcID, svcName := aws.ToString(svc.ServiceConfiguration.ServiceId), aws.ToString(svc.ServiceConfiguration.ServiceName)
	// The private DNS name's TXT record is found (as dnsverify would).
	pending, err := env.Cloud.PendingDNSVerifications()
	check("pending verifications", err)
	for _, p := range pending {
		if p.ServiceID == svcID {
			check("verify the private DNS name", env.Cloud.CompleteDNSVerification(p.Region, svcID, p.Value, true))
		}
	}
	_, err = prov.EC2.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: &svcID,
		AddAllowedPrincipals: []string{"arn:aws:iam::222222222222:root"}})
	check("allow the consumer", err)

	// --- Consumer: the same CIDR, an app subnet and another one, a
	// group that admits the app subnet only, the endpoint.
	cv, err := cons.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	check("consumer VPC", err)
	cvID := aws.ToString(cv.Vpc.VpcId)
	_, err = cons.EC2.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: &cvID, EnableDnsHostnames: &types.AttributeBooleanValue{Value: aws.Bool(true)}})
	check("DNS hostnames in the consumer VPC", err)
	subnet := func(cidr string) string {
		out, err := cons.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &cvID, CidrBlock: aws.String(cidr), AvailabilityZone: aws.String("us-east-1a")})
		check("consumer subnet "+cidr, err)
		return aws.ToString(out.Subnet.SubnetId)
	}
	app, other := subnet("10.0.1.0/24"), subnet("10.0.2.0/24")
	client, otherClient := eni(cons, app, "10.0.1.20"), eni(cons, other, "10.0.2.20")
	sg, err := cons.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: &cvID, GroupName: aws.String("endpoint"), Description: aws.String("app subnet only")})
	check("endpoint group", err)
	_, err = cons.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: []types.IpPermission{
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(0), ToPort: aws.Int32(65535), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.1.0/24")}}},
		{IpProtocol: aws.String("udp"), FromPort: aws.Int32(0), ToPort: aws.Int32(65535), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.1.0/24")}}},
	}})
	check("endpoint group rules", err)
	epOut, err := cons.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: &cvID, ServiceName: &svcName,
		VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: []string{app}, SecurityGroupIds: []string{aws.ToString(sg.GroupId)},
		PrivateDnsEnabled: aws.Bool(true)})
	check("endpoint", err)
	ep := epOut.VpcEndpoint
	epID := aws.ToString(ep.VpcEndpointId)
	if string(ep.State) != "pendingAcceptance" || len(ep.NetworkInterfaceIds) != 1 || len(ep.DnsEntries) < 2 {
		t.Fatalf("the new endpoint: %s, interfaces %v, names %d", ep.State, ep.NetworkInterfaceIds, len(ep.DnsEntries))
	}
	regional := aws.ToString(ep.DnsEntries[0].DnsName)
	nis, err := cons.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: ep.NetworkInterfaceIds})
	check("the endpoint's interface", err)
	epIP := aws.ToString(nis.NetworkInterfaces[0].PrivateIpAddress)
	epAddr := epIP + ":80"

	dp.settle()
	before := dp.census()
	s1 := dpServe(t, dp.ns(t1), "10.0.1.10:8080", "t1")
	s2 := dpServe(t, dp.ns(t2), "10.0.1.11:8080", "t2")
	dpServeUDP(t, dp.ns(t1), "10.0.1.10:5353", "u1")
	cl := dp.ns(client)

	// pendingAcceptance carries nothing: refused (a reset), not hung (a
	// hung connection fails with a timeout, not a refusal; how long the
	// refusal took is logged, not asserted).
	began := time.Now()
	if _, _, err := dpConnect(cl, epAddr, 3*time.Second); !dpRefused(err) {
		t.Fatalf("pendingAcceptance: %v, want connection refused", err)
	}
	t.Logf("pendingAcceptance: refused after %v", time.Since(began).Round(time.Millisecond))
	if c := dp.census(); c.transits != 0 || c.natTables != 1 {
		t.Fatalf("pendingAcceptance: %+v (want only the NLB's table)", c)
	}

	// Accepting makes traffic flow (the time is logged, not asserted).
	acc, err := prov.EC2.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: &svcID, VpcEndpointIds: []string{epID}})
	check("accept", err)
	if len(acc.Unsuccessful) != 0 {
		t.Fatalf("accept: %+v", acc.Unsuccessful)
	}
	accepted := time.Now()
	var line string
	took := dpWait(t, "traffic after acceptance", 10*time.Second, func() (bool, string) {
		l, c, err := dpConnect(cl, epAddr, 500*time.Millisecond)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		line = l
		return true, ""
	})
	t.Logf("traffic flowed %v after AcceptVpcEndpointConnections returned (%v after it was sent)", took.Round(time.Millisecond), time.Since(accepted).Round(time.Millisecond))
	if _, peer, _ := strings.Cut(line, " "); !strings.HasPrefix(peer, nlbIP+":") {
		t.Fatalf("the target answered %q: it must see the NLB's private IP %s", line, nlbIP)
	}

	// Through the regional DNS name, resolved by the consumer VPC's resolver.
	dp.settle()
	addrs, err := dns.LookupIn(cl, "10.0.0.2:53", regional)
	if err != nil || len(addrs) != 1 || addrs[0] != epIP {
		t.Fatalf("resolving %s in the consumer VPC: %v, %v (want %s)", regional, addrs, err, epIP)
	}
	line, conn, err := dpConnect(cl, addrs[0]+":80", 2*time.Second)
	check("connect through the regional name", err)
	defer conn.Close()
	if name, peer, _ := strings.Cut(line, " "); (name != "t1" && name != "t2") || !strings.HasPrefix(peer, nlbIP+":") {
		t.Fatalf("through the regional name: %q", line)
	}
	check("echo", dpEcho(conn, "hello through PrivateLink\n"))
	// The established flow's segments took the fast path, through the
	// endpoint's namespace and the load balancer node's.
	if dp.fast {
		before := dp.fastPackets(dp.ns(ep.NetworkInterfaceIds[0]))
		for i := range 10 {
			check("echo", dpEcho(conn, fmt.Sprintf("fast %d\n", i)))
		}
		if after := dp.fastPackets(dp.ns(ep.NetworkInterfaceIds[0])); after < before+10 {
			t.Fatalf("the fast path carried %d packets of 10 echoes into the endpoint", after-before)
		}
	}
	// The service's private DNS name: in the consumer VPC, not elsewhere.
	if addrs, err := dns.LookupIn(cl, "10.0.0.2:53", "api.example.test"); err != nil || len(addrs) != 1 || addrs[0] != epIP {
		t.Fatalf("the private DNS name in the consumer VPC: %v, %v", addrs, err)
	}
	if addrs, err := dns.LookupIn(dp.ns(t1), "10.0.0.2:53", "api.example.test"); err == nil {
		t.Fatalf("the private DNS name resolved in the provider VPC: %v", addrs)
	}
	if addrs, err := dns.LookupIn(dp.ns(t1), "10.0.0.2:53", regional); err != nil || len(addrs) != 1 || addrs[0] != epIP {
		t.Fatalf("the regional name in the provider VPC (it is public): %v, %v", addrs, err)
	}

	// UDP.
	if got, err := dpUDP(cl, epIP+":53"); err != nil || !strings.HasPrefix(got, "u1 "+nlbIP+":") {
		t.Fatalf("UDP through the endpoint: %q, %v", got, err)
	}
	// The endpoint's group: a client outside the app subnet is dropped.
	if _, _, err := dpConnect(dp.ns(otherClient), epAddr, time.Second); err == nil || dpRefused(err) {
		t.Fatalf("a client outside the app subnet: %v, want a timeout", err)
	}
	// A port the service does not listen on is refused.
	if _, _, err := dpConnect(cl, epIP+":81", time.Second); !dpRefused(err) {
		t.Fatalf("port 81: %v, want refused", err)
	}

	// The provider can open no connection into the consumer VPC: not to
	// the consumer's addresses, not to the transit addresses, even with a
	// route to them through the NLB.
	dpServe(t, cl, "10.0.1.20:7777", "consumer")
	if out, err := runIP("-n", dp.ns(t1), "route", "add", "100.64.0.0/10", "via", nlbIP); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, to := range []string{"100.64.0.0:7777", "100.64.0.1:7777", "10.0.1.20:7777", epIP + ":7777"} {
		if got, _, err := dpConnect(dp.ns(t1), to, 500*time.Millisecond); err == nil {
			t.Errorf("the provider reached %s: %q", to, got)
		}
	}

	// Health: both targets turn healthy; then one dies mid-flow: its flow
	// is reset, and after the unhealthy threshold new flows go to the other.
	targetStates := func() map[string]string {
		out, err := prov.ELBv2.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: &tgARN})
		check("DescribeTargetHealth", err)
		m := map[string]string{}
		for _, d := range out.TargetHealthDescriptions {
			m[aws.ToString(d.Target.Id)] = string(d.TargetHealth.State) + "/" + string(d.TargetHealth.Reason)
		}
		return m
	}
	dpWait(t, "both targets healthy", 30*time.Second, func() (bool, string) {
		s := targetStates()
		return s[t1] == "healthy/" && s[t2] == "healthy/", fmt.Sprint(s)
	})
	dp.settle()
	var toT2 = conn
	if !strings.HasPrefix(line, "t2 ") {
		toT2 = nil
		for i := 0; i < 50 && toT2 == nil; i++ {
			l, c, err := dpConnect(cl, epAddr, 2*time.Second)
			check("a flow", err)
			if strings.HasPrefix(l, "t2 ") {
				toT2 = c
			} else {
				c.Close()
			}
		}
		if toT2 == nil {
			t.Fatal("50 flows, none to t2")
		}
	}
	s2.kill()
	if err := dpEcho(toT2, "t2 is gone\n"); !dpReset(err) {
		t.Fatalf("the flow of a target that died: %v, want a reset", err)
	}
	died := time.Now()
	dpWait(t, "t2 unhealthy", 30*time.Second, func() (bool, string) {
		s := targetStates()
		return s[t2] == "unhealthy/Target.FailedHealthChecks" && s[t1] == "healthy/", fmt.Sprint(s)
	})
	t.Logf("DescribeTargetHealth showed t2 unhealthy %v after it died", time.Since(died).Round(100*time.Millisecond))
	dp.settle()
	for i := 0; i < 20; i++ {
		l, c, err := dpConnect(cl, epAddr, 2*time.Second)
		check("a flow after t2 turned unhealthy", err)
		c.Close()
		if !strings.HasPrefix(l, "t1 ") {
			t.Fatalf("a new flow went to %q", l)
		}
	}

	// A restarted data plane (a killed daemon's successor) takes over
	// without touching a live flow.
	line, live, err := dpConnect(cl, epAddr, 2*time.Second)
	check("a live flow", err)
	defer live.Close()
	check("echo before the restart", dpEcho(live, "before\n"))
	stopTraffic := make(chan struct{})
	trafficDone := make(chan error, 1)
	exchanges := 0
	go func() { // traffic all along the restart
		for {
			select {
			case <-stopTraffic:
				trafficDone <- nil
				return
			default:
			}
			if err := dpEcho(live, "during the restart\n"); err != nil {
				trafficDone <- err
				return
			}
			exchanges++
			time.Sleep(2 * time.Millisecond)
		}
	}()
	dp.restart()
	dp.settle()
	time.Sleep(50 * time.Millisecond)
	close(stopTraffic)
	check("traffic during the restart", <-trafficDone)
	if ops := dp.rec.Stats().Ops; ops != 0 {
		t.Fatalf("the restarted data plane did %d kernel operations", ops)
	}
	t.Logf("%d echoes on a live flow while the data plane restarted", exchanges)
	check("echo after the restart", dpEcho(live, "after the restart\n"))

	// Rejecting cuts the live connection and refuses new ones.
	_, err = prov.EC2.RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: &svcID, VpcEndpointIds: []string{epID}})
	check("reject", err)
	dp.settle()
	if err := dpEcho(live, "after rejection\n"); !dpReset(err) {
		t.Fatalf("the live connection after rejection: %v, want a reset", err)
	}
	if _, _, err := dpConnect(cl, epAddr, time.Second); !dpRefused(err) {
		t.Fatalf("a new connection after rejection: %v, want refused", err)
	}

	// A second endpoint, accepted, then deleted: the provider's side of its
	// live flow is reset on its next packet.
	ep2Out, err := cons.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: &cvID, ServiceName: &svcName,
		VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: []string{app}, SecurityGroupIds: []string{aws.ToString(sg.GroupId)}})
	check("second endpoint", err)
	ep2 := aws.ToString(ep2Out.VpcEndpoint.VpcEndpointId)
	_, err = prov.EC2.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: &svcID, VpcEndpointIds: []string{ep2}})
	check("accept the second endpoint", err)
	nis2, err := cons.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: ep2Out.VpcEndpoint.NetworkInterfaceIds})
	check("the second endpoint's interface", err)
	dp.settle()
	_, c2, err := dpConnect(cl, aws.ToString(nis2.NetworkInterfaces[0].PrivateIpAddress)+":80", 2*time.Second)
	check("a flow through the second endpoint", err)
	defer c2.Close()
	server := s1.lastConn()
	_, err = cons.EC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{ep2, epID}})
	check("delete the endpoints", err)
	dp.settle()
	server.Write([]byte("anyone there?\n"))
	server.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := server.Read(make([]byte, 100)); !dpReset(err) {
		t.Fatalf("the target's side of a deleted endpoint's flow: %v, want a reset", err)
	}

	// Deleting the service and the NLB cleans everything up: the same
	// namespaces as before the endpoint, less the NLB's, and no transit,
	// NAT table, chain or map left.
	del, err := prov.EC2.DeleteVpcEndpointServiceConfigurations(ctx, &ec2.DeleteVpcEndpointServiceConfigurationsInput{ServiceIds: []string{svcID}})
	check("delete the service", err)
	if len(del.Unsuccessful) != 0 {
		t.Fatalf("delete the service: %+v", del.Unsuccessful[0].Error)
	}
	_, err = prov.ELBv2.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: &lbARN})
	check("delete the NLB", err)
	dp.settle()
	after := dp.census()
	t.Logf("before the endpoint: %+v; after deleting everything: %+v", before, after)
	if want := (dpCensus{namespaces: before.namespaces - 2}); after != want {
		t.Fatalf("after deleting the endpoints, service and NLB: %+v, want %+v", after, want)
	}
}
