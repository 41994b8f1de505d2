package isthmustest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/isthmustest"
)

const (
	s3Service = "com.amazonaws.us-east-1.s3"
	s3List    = "pl-63a5400a"
	ddbList   = "pl-02cd2c6b"
)

func TestPrefixListsOfTheCatalog(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")

	pl, err := a.EC2.DescribePrefixLists(ctx, &ec2.DescribePrefixListsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pl.PrefixLists {
		got = append(got, aws.ToString(p.PrefixListId)+"="+aws.ToString(p.PrefixListName)+strings.Join(p.Cidrs, ","))
	}
	if want := "[" + ddbList + "=com.amazonaws.us-east-1.dynamodb203.0.113.0/24 " + s3List + "=com.amazonaws.us-east-1.s3198.51.100.0/24]"; fmt.Sprint(got) != want {
		t.Errorf("DescribePrefixLists = %v, want %s", got, want)
	}
	pl, err = a.EC2.DescribePrefixLists(ctx, &ec2.DescribePrefixListsInput{Filters: []types.Filter{{Name: aws.String("prefix-list-name"), Values: []string{"*.s3"}}}})
	if err != nil || len(pl.PrefixLists) != 1 || aws.ToString(pl.PrefixLists[0].PrefixListId) != s3List {
		t.Errorf("filter prefix-list-name: %+v, %v", pl, err)
	}
	_, err = a.EC2.DescribePrefixLists(ctx, &ec2.DescribePrefixListsInput{PrefixListIds: []string{"pl-00000000"}})
	wantCode(t, "unknown prefix list", err, "InvalidPrefixListID.NotFound")
	_, err = a.EC2.DescribePrefixLists(ctx, &ec2.DescribePrefixListsInput{Filters: []types.Filter{{Name: aws.String("owner-id"), Values: []string{"AWS"}}}})
	wantCode(t, "DescribePrefixLists owner-id filter", err, "InvalidParameterValue")

	mp, err := a.EC2.DescribeManagedPrefixLists(ctx, &ec2.DescribeManagedPrefixListsInput{PrefixListIds: []string{s3List}})
	if err != nil || len(mp.PrefixLists) != 1 {
		t.Fatalf("DescribeManagedPrefixLists: %+v, %v", mp, err)
	}
	if m := mp.PrefixLists[0]; aws.ToString(m.OwnerId) != "AWS" || m.AddressFamily == nil || aws.ToString(m.AddressFamily) != "IPv4" ||
		m.State != types.PrefixListStateCreateComplete || aws.ToString(m.PrefixListArn) != "arn:aws:ec2:us-east-1:aws:prefix-list/"+s3List ||
		aws.ToString(m.PrefixListName) != s3Service {
		t.Errorf("managed prefix list: %+v", m)
	}
	mp, err = a.EC2.DescribeManagedPrefixLists(ctx, &ec2.DescribeManagedPrefixListsInput{Filters: []types.Filter{{Name: aws.String("owner-id"), Values: []string{"111111111111"}}}})
	if err != nil || len(mp.PrefixLists) != 0 {
		t.Errorf("owner-id=self: %+v, %v", mp, err)
	}
	en, err := a.EC2.GetManagedPrefixListEntries(ctx, &ec2.GetManagedPrefixListEntriesInput{PrefixListId: aws.String(ddbList)})
	if err != nil || len(en.Entries) != 1 || aws.ToString(en.Entries[0].Cidr) != "203.0.113.0/24" {
		t.Errorf("GetManagedPrefixListEntries: %+v, %v", en, err)
	}
	_, err = a.EC2.GetManagedPrefixListEntries(ctx, &ec2.GetManagedPrefixListEntriesInput{PrefixListId: aws.String("pl-zz")})
	wantCode(t, "malformed prefix list", err, "InvalidPrefixListId.Malformed")

	// Security group rules may name them, and no unknown list.
	v, err := a.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("x"), Description: aws.String("x"), VpcId: v.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	rule := func(pl string) error {
		_, err := a.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: g.GroupId, IpPermissions: []types.IpPermission{{
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443), PrefixListIds: []types.PrefixListId{{PrefixListId: aws.String(pl)}}}}})
		return err
	}
	if err := rule(s3List); err != nil {
		t.Errorf("egress to the S3 prefix list: %v", err)
	}
	wantCode(t, "egress to an unknown prefix list", rule("pl-00000000"), "InvalidPrefixListID.NotFound")
}

// routesTo returns the table's routes as "destination>target:state".
func routesTo(t *testing.T, c *isthmustest.Client, rt string) []string {
	t.Helper()
	out, err := c.EC2.DescribeRouteTables(isthmustest.Ctx(t), &ec2.DescribeRouteTablesInput{RouteTableIds: []string{rt}})
	if err != nil {
		t.Fatal(err)
	}
	var rs []string
	for _, r := range out.RouteTables[0].Routes {
		rs = append(rs, aws.ToString(r.DestinationCidrBlock)+aws.ToString(r.DestinationPrefixListId)+">"+aws.ToString(r.GatewayId)+":"+string(r.State))
	}
	return rs
}

func TestGatewayEndpoints(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	net := newVpceNet(t, ctx, a, "10.0")
	var rts []string
	for i := 0; i < 2; i++ {
		rt, err := a.EC2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(net.vpc)})
		if err != nil {
			t.Fatal(err)
		}
		rts = append(rts, aws.ToString(rt.RouteTable.RouteTableId))
	}

	// The gateway services are offered; interface services not yet.
	ds, err := a.EC2.DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var offered []string
	for _, d := range ds.ServiceDetails {
		offered = append(offered, aws.ToString(d.ServiceName)+"/"+string(d.ServiceType[0].ServiceType))
		if aws.ToString(d.Owner) != "amazon" || !aws.ToBool(d.VpcEndpointPolicySupported) || len(d.AvailabilityZones) != 3 {
			t.Errorf("service detail %+v", d)
		}
	}
	if want := "[com.amazonaws.us-east-1.dynamodb/Gateway com.amazonaws.us-east-1.s3/Gateway]"; fmt.Sprint(offered) != want {
		t.Errorf("offered %v, want %s", offered, want)
	}

	create := func(rt ...string) (*ec2.CreateVpcEndpointOutput, error) {
		return a.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(net.vpc), ServiceName: aws.String(s3Service), RouteTableIds: rt})
	}
	_, err = a.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(net.vpc), ServiceName: aws.String("com.amazonaws.us-east-1.nope")})
	wantCode(t, "unknown AWS service", err, "InvalidServiceName")
	_, err = a.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(net.vpc), ServiceName: aws.String(s3Service),
		VpcEndpointType: types.VpcEndpointTypeInterface})
	wantCode(t, "S3 interface endpoint before it is servable", err, "InvalidParameter")
	_, err = a.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(net.vpc), ServiceName: aws.String(s3Service),
		RouteTableIds: rts[:1], PolicyDocument: aws.String(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Bogus":1}]}`)})
	wantCode(t, "unknown statement element", err, "InvalidPolicyDocument")
	_, err = a.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(net.vpc), ServiceName: aws.String(s3Service),
		SubnetIds: net.subnets[:1]})
	wantCode(t, "subnets for a gateway endpoint", err, "InvalidParameter")

	ce, err := create(rts...)
	if err != nil {
		t.Fatal(err)
	}
	ep := ce.VpcEndpoint
	id := aws.ToString(ep.VpcEndpointId)
	if string(ep.State) != "available" || ep.VpcEndpointType != types.VpcEndpointTypeGateway || aws.ToString(ep.PolicyDocument) != core.DefaultEndpointPolicy ||
		strings.Join(ep.RouteTableIds, ",") != strings.Join(rts, ",") || len(ep.NetworkInterfaceIds) != 0 || len(ep.DnsEntries) != 0 {
		t.Fatalf("gateway endpoint: %+v", ep)
	}
	for _, rt := range rts {
		if got := routesTo(t, a, rt); fmt.Sprint(got) != "[10.0.0.0/16>local:active "+s3List+">"+id+":active]" {
			t.Errorf("routes of %s: %v", rt, got)
		}
	}
	// One route per service per table; a second S3 endpoint on another
	// table is fine.
	_, err = create(rts[0])
	wantCode(t, "second S3 endpoint on the same table", err, "RouteAlreadyExists")
	// Endpoint routes are managed through the endpoint only.
	_, err = a.EC2.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: aws.String(rts[0]), DestinationPrefixListId: aws.String(s3List)})
	wantCode(t, "DeleteRoute of an endpoint route", err, "InvalidParameterValue")
	_, err = a.EC2.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(rts[0]), DestinationPrefixListId: aws.String(s3List), GatewayId: aws.String("local")})
	wantCode(t, "ReplaceRoute of an endpoint route", err, "InvalidParameterValue")
	_, err = a.EC2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rts[0]), DestinationCidrBlock: aws.String("0.0.0.0/0"), VpcEndpointId: aws.String(id)})
	wantCode(t, "CreateRoute to a gateway endpoint", err, "RouteNotSupported")

	if _, err := a.EC2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), RemoveRouteTableIds: rts[:1]}); err != nil {
		t.Fatal(err)
	}
	if got := routesTo(t, a, rts[0]); len(got) != 1 {
		t.Errorf("routes after RemoveRouteTableIds: %v", got)
	}
	if got := describeEndpoint(t, ctx, a, id).RouteTableIds; strings.Join(got, ",") != rts[1] {
		t.Errorf("RouteTableIds after remove: %v", got)
	}
	second, err := create(rts[0])
	if err != nil {
		t.Fatalf("second S3 endpoint on the freed table: %v", err)
	}

	// Policies: validated; ResetPolicy restores full access.
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"ro","Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::bucket/*"}]}`
	for _, bad := range []string{`{"Statement":`, `{"Statement":[{"Effect":"Allow","Action":"*"}],"Extra":1}`, `{"Statement":[{"Effect":"Maybe","Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"` + strings.Repeat("x", core.MaxPolicyLength) + `"}]}`} {
		_, err := a.EC2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), PolicyDocument: aws.String(bad)})
		wantCode(t, "bad policy "+bad[:min(len(bad), 40)], err, "InvalidPolicyDocument")
	}
	if _, err := a.EC2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), PolicyDocument: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(describeEndpoint(t, ctx, a, id).PolicyDocument); got != policy {
		t.Errorf("policy = %s", got)
	}
	if _, err := a.EC2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), ResetPolicy: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(describeEndpoint(t, ctx, a, id).PolicyDocument); got != core.DefaultEndpointPolicy {
		t.Errorf("policy after ResetPolicy = %s", got)
	}

	// Filters.
	for _, f := range []struct {
		name, value string
		want        int
	}{{"vpc-endpoint-type", "Gateway", 2}, {"vpc-endpoint-type", "Interface", 0}, {"service-name", s3Service, 2},
		{"vpc-endpoint-id", id, 1}, {"vpc-endpoint-state", "available", 2}, {"vpc-id", net.vpc, 2}, {"service-region", "us-east-1", 2}} {
		out, err := a.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{{Name: aws.String(f.name), Values: []string{f.value}}}})
		if err != nil || len(out.VpcEndpoints) != f.want {
			t.Errorf("filter %s=%s: %d endpoints, %v; want %d", f.name, f.value, len(out.VpcEndpoints), err, f.want)
		}
	}
	_, err = a.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{{Name: aws.String("bogus"), Values: []string{"x"}}}})
	wantCode(t, "unknown filter", err, "InvalidParameterValue")

	// The VPC cannot go while endpoints are in it; deleting them removes
	// their routes.
	_, err = a.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(net.vpc)})
	wantCode(t, "DeleteVpc with endpoints", err, "DependencyViolation")
	de, err := a.EC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id, aws.ToString(second.VpcEndpoint.VpcEndpointId)}})
	if err != nil || len(de.Unsuccessful) != 0 {
		t.Fatalf("DeleteVpcEndpoints: %v, %v", unsuccessfulCodes(de.Unsuccessful), err)
	}
	for _, rt := range rts {
		if got := routesTo(t, a, rt); len(got) != 1 {
			t.Errorf("routes of %s after delete: %v", rt, got)
		}
	}
}

func TestInterfaceEndpointToAWSService(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	net := newVpceNet(t, ctx, a, "10.0")
	const ec2Service = "com.amazonaws.us-east-1.ec2"
	in := &ec2.CreateVpcEndpointInput{VpcId: aws.String(net.vpc), ServiceName: aws.String(ec2Service),
		VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: net.subnets}
	_, err := a.EC2.CreateVpcEndpoint(ctx, in)
	wantCode(t, "interface service not yet servable", err, "InvalidServiceName")

	if err := env.Cloud.SetAWSServiceServable("us-east-1", "ec2", true); err != nil {
		t.Fatal(err)
	}
	ds, err := a.EC2.DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{ServiceNames: []string{ec2Service}})
	if err != nil || len(ds.ServiceDetails) != 1 || aws.ToString(ds.ServiceDetails[0].PrivateDnsName) != "ec2.us-east-1.amazonaws.com" ||
		ds.ServiceDetails[0].ServiceType[0].ServiceType != types.ServiceTypeInterface ||
		strings.Join(ds.ServiceDetails[0].BaseEndpointDnsNames, ",") != "ec2.us-east-1.vpce.amazonaws.com" {
		t.Fatalf("servable ec2: %+v, %v", ds, err)
	}
	// Private DNS is on by default and needs the VPC's DNS attributes.
	_, err = a.EC2.CreateVpcEndpoint(ctx, in)
	wantCode(t, "private DNS without enableDnsHostnames", err, "InvalidParameter")
	if _, err := a.EC2.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: aws.String(net.vpc), EnableDnsHostnames: &types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	in.SubnetIds = nil
	in.SubnetConfigurations = []types.SubnetConfiguration{{SubnetId: aws.String(net.subnets[1]), Ipv4: aws.String("10.0.2.50")}}
	g, err := a.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("ep"), Description: aws.String("ep"), VpcId: aws.String(net.vpc)})
	if err != nil {
		t.Fatal(err)
	}
	in.SecurityGroupIds = []string{aws.ToString(g.GroupId)}
	ce, err := a.EC2.CreateVpcEndpoint(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(ce.VpcEndpoint.VpcEndpointId)
	ep := describeEndpoint(t, ctx, a, id)
	if string(ep.State) != "available" || !aws.ToBool(ep.PrivateDnsEnabled) || aws.ToString(ep.PolicyDocument) != core.DefaultEndpointPolicy ||
		len(ep.DnsEntries) != 3 || aws.ToString(ep.DnsEntries[2].DnsName) != "ec2.us-east-1.amazonaws.com" ||
		!strings.HasSuffix(aws.ToString(ep.DnsEntries[0].DnsName), ".ec2.us-east-1.vpce.amazonaws.com") ||
		!strings.Contains(aws.ToString(ep.DnsEntries[1].DnsName), "-us-east-1b.ec2.") {
		t.Fatalf("ec2 endpoint: %+v %v", ep, ep.DnsEntries)
	}
	n, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: ep.NetworkInterfaceIds})
	if err != nil || aws.ToString(n.NetworkInterfaces[0].PrivateIpAddress) != "10.0.2.50" || aws.ToString(n.NetworkInterfaces[0].Groups[0].GroupId) != aws.ToString(g.GroupId) {
		t.Fatalf("fixed address ENI: %+v, %v", n, err)
	}

	// One subnet per zone; subnets and groups can be changed.
	_, err = a.EC2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), AddSubnetIds: net.subnets[:1],
		SubnetConfigurations: []types.SubnetConfiguration{{SubnetId: aws.String(net.subnets[0]), Ipv4: aws.String("10.0.9.9")}}})
	wantCode(t, "address outside the subnet", err, "InvalidParameterValue")
	if _, err := a.EC2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), AddSubnetIds: []string{net.subnets[0], net.subnets[2]},
		RemoveSecurityGroupIds: []string{aws.ToString(g.GroupId)}, AddSecurityGroupIds: []string{aws.ToString(g.GroupId)}}); err != nil {
		t.Fatal(err)
	}
	ep = describeEndpoint(t, ctx, a, id)
	if len(ep.NetworkInterfaceIds) != 3 || len(ep.DnsEntries) != 5 {
		t.Errorf("after adding subnets: %d ENIs, %d DNS entries", len(ep.NetworkInterfaceIds), len(ep.DnsEntries))
	}
	_, err = a.EC2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), RemoveSecurityGroupIds: []string{aws.ToString(g.GroupId)}})
	wantCode(t, "removing the last group", err, "InvalidParameter")
	_, err = a.EC2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), AddRouteTableIds: []string{"rtb-0123456789abcdef0"}})
	wantCode(t, "route tables on an interface endpoint", err, "InvalidParameter")
	if _, err := a.EC2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), RemoveSubnetIds: net.subnets[1:2], PrivateDnsEnabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	ep = describeEndpoint(t, ctx, a, id)
	if len(ep.NetworkInterfaceIds) != 2 || len(ep.DnsEntries) != 3 || aws.ToBool(ep.PrivateDnsEnabled) {
		t.Errorf("after removing a subnet and private DNS: %d ENIs, %d DNS entries", len(ep.NetworkInterfaceIds), len(ep.DnsEntries))
	}
	_, err = a.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(net.vpc), ServiceName: aws.String(ec2Service),
		VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: net.subnets[:1], PrivateDnsEnabled: aws.Bool(false),
		PolicyDocument: aws.String(strings.Repeat(" ", core.MaxPolicyLength+1))})
	wantCode(t, "policy over the limit", err, "InvalidPolicyDocument")

	if _, err := a.EC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{}); len(n.NetworkInterfaces) != 0 {
		t.Errorf("ENIs left: %d", len(n.NetworkInterfaces))
	}
}

func TestGatewayLoadBalancerEndpoint(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	prov := newProvider(t, ctx, a, "appliances", elbtypes.LoadBalancerTypeEnumGateway)
	cs, err := a.EC2.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{GatewayLoadBalancerArns: []string{prov.lb}})
	if err != nil {
		t.Fatal(err)
	}
	svc := aws.ToString(cs.ServiceConfiguration.ServiceName)
	if cs.ServiceConfiguration.ServiceType[0].ServiceType != types.ServiceTypeGatewayLoadBalancer || len(cs.ServiceConfiguration.BaseEndpointDnsNames) != 0 {
		t.Errorf("GWLB service: %+v", cs.ServiceConfiguration)
	}
	net := prov.net
	in := func(mod func(*ec2.CreateVpcEndpointInput)) *ec2.CreateVpcEndpointInput {
		i := &ec2.CreateVpcEndpointInput{VpcId: aws.String(net.vpc), ServiceName: aws.String(svc),
			VpcEndpointType: types.VpcEndpointTypeGatewayLoadBalancer, SubnetIds: net.subnets[:1]}
		mod(i)
		return i
	}
	for _, c := range []struct {
		name string
		mod  func(*ec2.CreateVpcEndpointInput)
		code string
	}{
		{"two subnets", func(i *ec2.CreateVpcEndpointInput) { i.SubnetIds = net.subnets[:2] }, "InvalidParameter"},
		{"security groups", func(i *ec2.CreateVpcEndpointInput) { i.SecurityGroupIds = []string{"sg-0123456789abcdef0"} }, "InvalidParameter"},
		{"a policy", func(i *ec2.CreateVpcEndpointInput) { i.PolicyDocument = aws.String(core.DefaultEndpointPolicy) }, "InvalidParameter"},
		{"interface type", func(i *ec2.CreateVpcEndpointInput) { i.VpcEndpointType = types.VpcEndpointTypeInterface }, "InvalidParameter"},
	} {
		_, err := a.EC2.CreateVpcEndpoint(ctx, in(c.mod))
		wantCode(t, "GWLB endpoint with "+c.name, err, c.code)
	}
	ce, err := a.EC2.CreateVpcEndpoint(ctx, in(func(*ec2.CreateVpcEndpointInput) {}))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(ce.VpcEndpoint.VpcEndpointId)
	ep := describeEndpoint(t, ctx, a, id)
	if string(ep.State) != "available" || len(ep.Groups) != 0 || ep.PolicyDocument != nil || len(ep.DnsEntries) != 0 || len(ep.NetworkInterfaceIds) != 1 {
		t.Errorf("GWLB endpoint: %+v", ep)
	}
	n, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: ep.NetworkInterfaceIds})
	if err != nil || n.NetworkInterfaces[0].InterfaceType != types.NetworkInterfaceTypeGatewayLoadBalancerEndpoint || len(n.NetworkInterfaces[0].Groups) != 0 {
		t.Errorf("GWLB endpoint ENI: %+v, %v", n, err)
	}
	// It is a route target.
	rt, err := a.EC2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(net.vpc)})
	if err != nil {
		t.Fatal(err)
	}
	rtb := aws.ToString(rt.RouteTable.RouteTableId)
	if _, err := a.EC2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtb), DestinationCidrBlock: aws.String("0.0.0.0/0"), VpcEndpointId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if got := routesTo(t, a, rtb); fmt.Sprint(got) != "[10.0.0.0/16>local:active 0.0.0.0/0>"+id+":active]" {
		t.Errorf("routes: %v", got)
	}
	other := env.Account("222222222222")
	_, err = other.EC2.CreateVpcEndpoint(ctx, in(func(*ec2.CreateVpcEndpointInput) {}))
	wantCode(t, "another account", err, "InvalidVpcID.NotFound")
	if _, err := a.EC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if got := routesTo(t, a, rtb); fmt.Sprint(got) != "[10.0.0.0/16>local:active 0.0.0.0/0>"+id+":blackhole]" {
		t.Errorf("routes after the endpoint is gone: %v", got)
	}
}

// createGatewayEndpoints creates n S3 gateway endpoints (without route
// tables) in a new VPC and returns their ids.
func createGatewayEndpoints(t testing.TB, c *isthmustest.Client, n int) []string {
	t.Helper()
	ctx := isthmustest.Ctx(t)
	v, err := c.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		out, err := c.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: v.Vpc.VpcId, ServiceName: aws.String(s3Service)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = aws.ToString(out.VpcEndpoint.VpcEndpointId)
	}
	return ids
}

func TestDescribeVpcEndpointsPagesThousands(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	ids := createGatewayEndpoints(t, a, 1000)
	// Another account's endpoints never show.
	createGatewayEndpoints(t, env.Account("222222222222"), 3)

	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, size := range []int32{0, 7, 250, 1000, 5000} {
		seen := map[string]bool{}
		pages := 0
		var last string
		p := ec2.NewDescribeVpcEndpointsPaginator(a.EC2, &ec2.DescribeVpcEndpointsInput{MaxResults: aws.Int32(size)})
		if size == 0 {
			p = ec2.NewDescribeVpcEndpointsPaginator(a.EC2, &ec2.DescribeVpcEndpointsInput{})
		}
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("page size %d: %v", size, err)
			}
			pages++
			max := int(size)
			if max == 0 || max > 1000 {
				max = 1000
			}
			if len(out.VpcEndpoints) > max {
				t.Fatalf("page size %d: a page of %d", size, len(out.VpcEndpoints))
			}
			for _, e := range out.VpcEndpoints {
				id := aws.ToString(e.VpcEndpointId)
				if seen[id] || !want[id] || id <= last {
					t.Fatalf("page size %d: %s repeated, foreign or out of order", size, id)
				}
				seen[id], last = true, id
			}
		}
		last = ""
		if len(seen) != 1000 {
			t.Errorf("page size %d: %d endpoints in %d pages, want 1000", size, len(seen), pages)
		}
		if wantPages := map[int32]int{0: 1, 7: 143, 250: 4, 1000: 1, 5000: 1}[size]; pages != wantPages {
			t.Errorf("page size %d: %d pages, want %d", size, pages, wantPages)
		}
	}
	_, err := a.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{NextToken: aws.String("!!")})
	wantCode(t, "bad token", err, "InvalidPaginationToken")
}

// BenchmarkDescribeVpcEndpoints1000 measures DescribeVpcEndpoints through
// the SDK over 1,000 endpoints: one full page of 1,000 per operation.
func BenchmarkDescribeVpcEndpoints1000(b *testing.B) {
	env := isthmustest.New(b)
	a := env.Account("111111111111")
	createGatewayEndpoints(b, a, 1000)
	ctx := isthmustest.Ctx(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := a.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{})
		if err != nil || len(out.VpcEndpoints) != 1000 {
			b.Fatalf("%v, %d endpoints", err, len(out.VpcEndpoints))
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "endpoints/s")
}
