package isthmustest_test

import (
	"context"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/isthmusnet/isthmus/isthmustest"
)

// rtbNet is a VPC 10.0.0.0/16 with two subnets and a network interface in
// each.
type rtbNet struct {
	vpc, mainRtb string
	sub1, sub2   string
	eni1, eni2   string
}

func rtbNewNet(t *testing.T, ctx context.Context, c *ec2.Client, cidr string) rtbNet {
	t.Helper()
	var n rtbNet
	v, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
	if err != nil {
		t.Fatal(err)
	}
	n.vpc = aws.ToString(v.Vpc.VpcId)
	for i, p := range []*string{&n.sub1, &n.sub2} {
		s, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(n.vpc), CidrBlock: aws.String([]string{"10.0.1.0/24", "10.0.2.0/24"}[i])})
		if err != nil {
			t.Fatal(err)
		}
		*p = aws.ToString(s.Subnet.SubnetId)
	}
	for _, x := range []struct{ sub, eni *string }{{&n.sub1, &n.eni1}, {&n.sub2, &n.eni2}} {
		e, err := c.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: x.sub})
		if err != nil {
			t.Fatal(err)
		}
		*x.eni = aws.ToString(e.NetworkInterface.NetworkInterfaceId)
	}
	out, err := c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{n.vpc}},
		{Name: aws.String("association.main"), Values: []string{"true"}},
	}})
	if err != nil || len(out.RouteTables) != 1 {
		t.Fatalf("main table of %s: %+v, %v", n.vpc, out, err)
	}
	n.mainRtb = aws.ToString(out.RouteTables[0].RouteTableId)
	return n
}

func rtbDescribe(t *testing.T, ctx context.Context, c *ec2.Client, id string) types.RouteTable {
	t.Helper()
	out, err := c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{id}})
	if err != nil || len(out.RouteTables) != 1 {
		t.Fatalf("DescribeRouteTables %s: %+v, %v", id, out, err)
	}
	return out.RouteTables[0]
}

func rtbCreate(t *testing.T, ctx context.Context, c *ec2.Client, vpc string) string {
	t.Helper()
	out, err := c.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(vpc)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.RouteTable.RouteTableId)
}

func rtbIDs(tables []types.RouteTable) []string {
	var out []string
	for _, rt := range tables {
		out = append(out, aws.ToString(rt.RouteTableId))
	}
	sort.Strings(out)
	return out
}

// rtbRoute is a route's wire fields, for comparing.
type rtbRoute struct {
	Dst, Pl, Gw, Eni string
	Origin           types.RouteOrigin
	State            types.RouteState
}

func rtbRoutes(rt types.RouteTable) []rtbRoute {
	var out []rtbRoute
	for _, r := range rt.Routes {
		out = append(out, rtbRoute{aws.ToString(r.DestinationCidrBlock), aws.ToString(r.DestinationPrefixListId),
			aws.ToString(r.GatewayId), aws.ToString(r.NetworkInterfaceId), r.Origin, r.State})
	}
	return out
}

func rtbEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRouteTableLifecycleAcrossAccounts(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111").EC2
	b := env.Account("222222222222").EC2
	n := rtbNewNet(t, ctx, a, "10.0.0.0/16")

	out, err := a.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{
		VpcId:       aws.String(n.vpc),
		ClientToken: aws.String("rtb-token-1"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeRouteTable,
			Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("private")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rt := out.RouteTable
	id := aws.ToString(rt.RouteTableId)
	local := rtbRoute{Dst: "10.0.0.0/16", Gw: "local", Origin: types.RouteOriginCreateRouteTable, State: types.RouteStateActive}
	switch {
	case aws.ToString(rt.VpcId) != n.vpc, aws.ToString(rt.OwnerId) != "111111111111", len(rt.Associations) != 0,
		!rtbEqual(rtbRoutes(*rt), []rtbRoute{local}), len(rt.Tags) != 1 || aws.ToString(rt.Tags[0].Value) != "private",
		aws.ToString(out.ClientToken) != "rtb-token-1":
		t.Fatalf("CreateRouteTable = %+v (token %v)", rt, aws.ToString(out.ClientToken))
	}
	again, err := a.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{
		VpcId:       aws.String(n.vpc),
		ClientToken: aws.String("rtb-token-1"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeRouteTable,
			Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("private")}}}},
	})
	if err != nil || aws.ToString(again.RouteTable.RouteTableId) != id {
		t.Fatalf("retry with the same ClientToken: %v, %v; want %s", again, err, id)
	}

	// The main table: the local route and the main association.
	main := rtbDescribe(t, ctx, a, n.mainRtb)
	if len(main.Associations) != 1 || !aws.ToBool(main.Associations[0].Main) || main.Associations[0].SubnetId != nil ||
		aws.ToString(main.Associations[0].RouteTableId) != n.mainRtb ||
		main.Associations[0].AssociationState == nil || main.Associations[0].AssociationState.State != types.RouteTableAssociationStateCodeAssociated ||
		!rtbEqual(rtbRoutes(main), []rtbRoute{local}) {
		t.Fatalf("main table = %+v", main)
	}
	if _, err := a.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(n.mainRtb)}); errorCode(err) != "DependencyViolation" {
		t.Fatalf("deleting the main table: %v", err)
	}

	// B sees none of A's tables and can touch none of them.
	all, err := b.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{})
	if err != nil || len(all.RouteTables) != 0 {
		t.Fatalf("B DescribeRouteTables = %+v, %v", all, err)
	}
	if _, err := b.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{id}}); errorCode(err) != "InvalidRouteTableID.NotFound" {
		t.Fatalf("B describing A's table: %v", err)
	}
	if _, err := b.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(id)}); errorCode(err) != "InvalidRouteTableID.NotFound" {
		t.Fatalf("B deleting A's table: %v", err)
	}
	if _, err := b.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(n.vpc)}); errorCode(err) != "InvalidVpcID.NotFound" {
		t.Fatalf("B creating a table in A's VPC: %v", err)
	}
	if _, err := b.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(id), DestinationCidrBlock: aws.String("192.168.0.0/16"), NetworkInterfaceId: aws.String(n.eni1)}); errorCode(err) != "InvalidRouteTableID.NotFound" {
		t.Fatalf("B adding a route to A's table: %v", err)
	}
	if _, err := b.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: aws.String(id), SubnetId: aws.String(n.sub1)}); errorCode(err) != "InvalidRouteTableID.NotFound" {
		t.Fatalf("B associating A's table: %v", err)
	}
	bv, err := b.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	brt := rtbCreate(t, ctx, b, aws.ToString(bv.Vpc.VpcId))
	if _, err := b.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: aws.String(brt), SubnetId: aws.String(n.sub1)}); errorCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("B associating A's subnet: %v", err)
	}
	if _, err := b.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(brt), DestinationCidrBlock: aws.String("192.168.0.0/16"), NetworkInterfaceId: aws.String(n.eni1)}); errorCode(err) != "InvalidNetworkInterfaceID.NotFound" {
		t.Fatalf("B routing to A's interface: %v", err)
	}

	// DryRun deletes nothing; then A deletes its table for real.
	if _, err := a.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(id), DryRun: aws.Bool(true)}); errorCode(err) != "DryRunOperation" {
		t.Fatalf("DryRun delete: %v", err)
	}
	rtbDescribe(t, ctx, a, id)
	if _, err := a.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{id}}); errorCode(err) != "InvalidRouteTableID.NotFound" {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := a.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String("rtb-nothex")}); errorCode(err) != "InvalidRouteTableID.Malformed" {
		t.Fatalf("malformed id: %v", err)
	}
}

func TestRouteTableAssociations(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111").EC2
	n := rtbNewNet(t, ctx, a, "10.0.0.0/16")
	other := rtbNewNet(t, ctx, a, "10.0.0.0/16")
	rt := rtbCreate(t, ctx, a, n.vpc)

	// DryRun validates and associates nothing.
	if _, err := a.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: aws.String(rt), SubnetId: aws.String(n.sub1), DryRun: aws.Bool(true)}); errorCode(err) != "DryRunOperation" {
		t.Fatalf("DryRun associate: %v", err)
	}
	if got := rtbDescribe(t, ctx, a, rt); len(got.Associations) != 0 {
		t.Fatalf("DryRun left %+v", got.Associations)
	}

	as, err := a.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: aws.String(rt), SubnetId: aws.String(n.sub1)})
	if err != nil {
		t.Fatal(err)
	}
	assoc := aws.ToString(as.AssociationId)
	if as.AssociationState == nil || as.AssociationState.State != types.RouteTableAssociationStateCodeAssociated || len(assoc) < len("rtbassoc-") || assoc[:9] != "rtbassoc-" {
		t.Fatalf("AssociateRouteTable = %+v", as)
	}
	got := rtbDescribe(t, ctx, a, rt)
	if len(got.Associations) != 1 || aws.ToString(got.Associations[0].RouteTableAssociationId) != assoc ||
		aws.ToString(got.Associations[0].SubnetId) != n.sub1 || aws.ToBool(got.Associations[0].Main) ||
		aws.ToString(got.Associations[0].RouteTableId) != rt || got.Associations[0].AssociationState.State != types.RouteTableAssociationStateCodeAssociated {
		t.Fatalf("associations = %+v", got.Associations)
	}

	for _, tc := range []struct {
		name       string
		table, sub string
		want       string
	}{
		{"again", rt, n.sub1, "Resource.AlreadyAssociated"},
		{"second explicit table", n.mainRtb, n.sub1, "Resource.AlreadyAssociated"},
		{"subnet of another VPC", rt, other.sub1, "InvalidParameterValue"},
		{"missing subnet", rt, "subnet-0123456789abcdef0", "InvalidSubnetID.NotFound"},
		{"malformed subnet", rt, "sub-1", "InvalidSubnetID.Malformed"},
		{"missing table", "rtb-0123456789abcdef0", n.sub2, "InvalidRouteTableID.NotFound"},
	} {
		if _, err := a.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: aws.String(tc.table), SubnetId: aws.String(tc.sub)}); errorCode(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if _, err := a.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: aws.String(rt)}); errorCode(err) != "MissingParameter" {
		t.Errorf("no subnet: %v", err)
	}
	if _, err := a.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: aws.String(rt), GatewayId: aws.String("igw-0123456789abcdef0")}); errorCode(err) != "InvalidParameterValue" {
		t.Errorf("gateway association: %v", err)
	}
	if _, err := a.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(rt)}); errorCode(err) != "DependencyViolation" {
		t.Fatalf("deleting an associated table: %v", err)
	}

	// The main association can be moved, never removed.
	main := rtbDescribe(t, ctx, a, n.mainRtb)
	mainAssoc := aws.ToString(main.Associations[0].RouteTableAssociationId)
	if _, err := a.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: aws.String(mainAssoc)}); errorCode(err) != "InvalidParameterValue" {
		t.Fatalf("disassociating main: %v", err)
	}
	if _, err := a.ReplaceRouteTableAssociation(ctx, &ec2.ReplaceRouteTableAssociationInput{AssociationId: aws.String(mainAssoc), RouteTableId: aws.String(other.mainRtb)}); errorCode(err) != "InvalidParameterValue" {
		t.Fatalf("moving main to another VPC's table: %v", err)
	}
	if _, err := a.ReplaceRouteTableAssociation(ctx, &ec2.ReplaceRouteTableAssociationInput{AssociationId: aws.String(mainAssoc), RouteTableId: aws.String(rt), DryRun: aws.Bool(true)}); errorCode(err) != "DryRunOperation" {
		t.Fatalf("DryRun replace: %v", err)
	}
	rep, err := a.ReplaceRouteTableAssociation(ctx, &ec2.ReplaceRouteTableAssociationInput{AssociationId: aws.String(mainAssoc), RouteTableId: aws.String(rt)})
	if err != nil {
		t.Fatal(err)
	}
	newMain := aws.ToString(rep.NewAssociationId)
	if newMain == "" || newMain == mainAssoc || rep.AssociationState == nil || rep.AssociationState.State != types.RouteTableAssociationStateCodeAssociated {
		t.Fatalf("ReplaceRouteTableAssociation(main) = %+v", rep)
	}
	mains, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{n.vpc}},
		{Name: aws.String("association.main"), Values: []string{"true"}},
	}})
	if err != nil || !rtbEqual(rtbIDs(mains.RouteTables), []string{rt}) {
		t.Fatalf("main table after the move: %v, %v", rtbIDs(mains.RouteTables), err)
	}
	if got := rtbDescribe(t, ctx, a, n.mainRtb); len(got.Associations) != 0 {
		t.Fatalf("former main keeps %+v", got.Associations)
	}
	// The former main table is an ordinary table now; the new one is main.
	if _, err := a.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(rt)}); errorCode(err) != "DependencyViolation" {
		t.Fatalf("deleting the new main table: %v", err)
	}

	// Move sub1's explicit association to the former main table.
	rep, err = a.ReplaceRouteTableAssociation(ctx, &ec2.ReplaceRouteTableAssociationInput{AssociationId: aws.String(assoc), RouteTableId: aws.String(n.mainRtb)})
	if err != nil {
		t.Fatal(err)
	}
	moved := aws.ToString(rep.NewAssociationId)
	bySub, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("association.subnet-id"), Values: []string{n.sub1}}}})
	if err != nil || !rtbEqual(rtbIDs(bySub.RouteTables), []string{n.mainRtb}) {
		t.Fatalf("table of sub1 after replace: %v, %v", rtbIDs(bySub.RouteTables), err)
	}
	if _, err := a.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: aws.String(assoc)}); errorCode(err) != "InvalidAssociationID.NotFound" {
		t.Fatalf("the replaced association id: %v", err)
	}
	if _, err := a.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: aws.String(moved)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(n.mainRtb)}); err != nil {
		t.Fatalf("deleting the former main table: %v", err)
	}
	// The VPC goes with its new main table once the rest is gone.
	for _, e := range []string{n.eni1, n.eni2} {
		if _, err := a.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(e)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{n.sub1, n.sub2} {
		if _, err := a.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(s)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(n.vpc)}); err != nil {
		t.Fatalf("DeleteVpc after moving main: %v", err)
	}
	if _, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{rt}}); errorCode(err) != "InvalidRouteTableID.NotFound" {
		t.Fatalf("main table after DeleteVpc: %v", err)
	}
}

func TestRoutes(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111").EC2
	n := rtbNewNet(t, ctx, a, "10.0.0.0/16")
	other := rtbNewNet(t, ctx, a, "10.0.0.0/16")
	rt := rtbCreate(t, ctx, a, n.vpc)
	local := rtbRoute{Dst: "10.0.0.0/16", Gw: "local", Origin: types.RouteOriginCreateRouteTable, State: types.RouteStateActive}

	cr, err := a.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rt), DestinationCidrBlock: aws.String("192.168.3.4/16"), NetworkInterfaceId: aws.String(n.eni1)})
	if err != nil || !aws.ToBool(cr.Return) {
		t.Fatalf("CreateRoute: %+v, %v", cr, err)
	}
	if _, err := a.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rt), DestinationPrefixListId: aws.String("pl-0123abcd"), NetworkInterfaceId: aws.String(n.eni2)}); err != nil {
		t.Fatal(err)
	}
	want := []rtbRoute{local,
		{Dst: "192.168.0.0/16", Eni: n.eni1, Origin: types.RouteOriginCreateRoute, State: types.RouteStateActive},
		{Pl: "pl-0123abcd", Eni: n.eni2, Origin: types.RouteOriginCreateRoute, State: types.RouteStateActive},
	}
	if got := rtbRoutes(rtbDescribe(t, ctx, a, rt)); !rtbEqual(got, want) {
		t.Fatalf("routes = %+v\nwant     %+v", got, want)
	}

	type call struct {
		name string
		do   func() error
		want string
	}
	cidr := func(s string) *string { return aws.String(s) }
	create := func(in ec2.CreateRouteInput) func() error {
		return func() error {
			if in.RouteTableId == nil {
				in.RouteTableId = aws.String(rt)
			}
			_, err := a.CreateRoute(ctx, &in)
			return err
		}
	}
	replace := func(in ec2.ReplaceRouteInput) func() error {
		return func() error {
			in.RouteTableId = aws.String(rt)
			_, err := a.ReplaceRoute(ctx, &in)
			return err
		}
	}
	del := func(in ec2.DeleteRouteInput) func() error {
		return func() error {
			in.RouteTableId = aws.String(rt)
			_, err := a.DeleteRoute(ctx, &in)
			return err
		}
	}
	eni1 := aws.String(n.eni1)
	for _, c := range []call{
		{"no target", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("172.16.0.0/12")}), "MissingParameter"},
		{"no destination", create(ec2.CreateRouteInput{NetworkInterfaceId: eni1}), "MissingParameter"},
		{"two targets", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("172.16.0.0/12"), NetworkInterfaceId: eni1, GatewayId: aws.String("local")}), "InvalidParameterCombination"},
		{"two destinations", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("172.16.0.0/12"), DestinationPrefixListId: aws.String("pl-0123abcd"), NetworkInterfaceId: eni1}), "InvalidParameterCombination"},
		{"invalid cidr", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("172.16.0.0/33"), NetworkInterfaceId: eni1}), "InvalidParameterValue"},
		{"not a cidr", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("anywhere"), NetworkInterfaceId: eni1}), "InvalidParameterValue"},
		{"ipv6", create(ec2.CreateRouteInput{DestinationIpv6CidrBlock: cidr("::/0"), NetworkInterfaceId: eni1}), "UnsupportedOperation"},
		{"internet gateway", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("0.0.0.0/0"), GatewayId: aws.String("igw-0123456789abcdef0")}), "InvalidParameterValue"},
		{"nat gateway", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("0.0.0.0/0"), NatGatewayId: aws.String("nat-0123456789abcdef0")}), "InvalidParameterValue"},
		{"transit gateway", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("0.0.0.0/0"), TransitGatewayId: aws.String("tgw-0123456789abcdef0")}), "InvalidParameterValue"},
		{"peering", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("172.16.0.0/12"), VpcPeeringConnectionId: aws.String("pcx-0123456789abcdef0")}), "InvalidParameterValue"},
		{"missing interface", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("172.16.0.0/12"), NetworkInterfaceId: aws.String("eni-0123456789abcdef0")}), "InvalidNetworkInterfaceID.NotFound"},
		{"interface of another VPC", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("172.16.0.0/12"), NetworkInterfaceId: aws.String(other.eni1)}), "InvalidParameterValue"},
		{"vpc endpoint", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("0.0.0.0/0"), VpcEndpointId: aws.String("vpce-0123456789abcdef0")}), "InvalidVpcEndpointId.NotFound"},
		{"missing table", create(ec2.CreateRouteInput{RouteTableId: aws.String("rtb-0123456789abcdef0"), DestinationCidrBlock: cidr("172.16.0.0/12"), NetworkInterfaceId: eni1}), "InvalidRouteTableID.NotFound"},
		{"the same route again", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("192.168.0.0/16"), NetworkInterfaceId: eni1}), "RouteAlreadyExists"},
		{"duplicate destination", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("192.168.0.0/16"), NetworkInterfaceId: aws.String(n.eni2)}), "RouteAlreadyExists"},
		{"duplicate prefix list", create(ec2.CreateRouteInput{DestinationPrefixListId: aws.String("pl-0123abcd"), NetworkInterfaceId: eni1}), "RouteAlreadyExists"},
		{"the VPC's cidr", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("10.0.0.0/16"), NetworkInterfaceId: eni1}), "RouteAlreadyExists"},
		{"inside the VPC", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("10.0.2.0/24"), NetworkInterfaceId: eni1}), "InvalidParameterValue"},
		{"replace a missing route", replace(ec2.ReplaceRouteInput{DestinationCidrBlock: cidr("172.16.0.0/12"), NetworkInterfaceId: eni1}), "InvalidParameterValue"},
		{"replace the local route", replace(ec2.ReplaceRouteInput{DestinationCidrBlock: cidr("10.0.0.0/16"), NetworkInterfaceId: eni1}), "InvalidParameterValue"},
		{"replace with a nat gateway", replace(ec2.ReplaceRouteInput{DestinationCidrBlock: cidr("192.168.0.0/16"), NatGatewayId: aws.String("nat-0123456789abcdef0")}), "InvalidParameterValue"},
		{"delete the local route", del(ec2.DeleteRouteInput{DestinationCidrBlock: cidr("10.0.0.0/16")}), "InvalidParameterValue"},
		{"delete a missing route", del(ec2.DeleteRouteInput{DestinationCidrBlock: cidr("172.16.0.0/12")}), "InvalidRoute.NotFound"},
		{"delete a missing prefix list route", del(ec2.DeleteRouteInput{DestinationPrefixListId: aws.String("pl-0000aaaa")}), "InvalidRoute.NotFound"},
		{"DryRun create", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("172.16.0.0/12"), NetworkInterfaceId: eni1, DryRun: aws.Bool(true)}), "DryRunOperation"},
		{"DryRun create, bad target", create(ec2.CreateRouteInput{DestinationCidrBlock: cidr("172.16.0.0/12"), NetworkInterfaceId: aws.String("eni-0123456789abcdef0"), DryRun: aws.Bool(true)}), "InvalidNetworkInterfaceID.NotFound"},
		{"DryRun replace", replace(ec2.ReplaceRouteInput{DestinationCidrBlock: cidr("192.168.0.0/16"), NetworkInterfaceId: aws.String(n.eni2), DryRun: aws.Bool(true)}), "DryRunOperation"},
		{"DryRun delete", del(ec2.DeleteRouteInput{DestinationCidrBlock: cidr("192.168.0.0/16"), DryRun: aws.Bool(true)}), "DryRunOperation"},
	} {
		if err := c.do(); errorCode(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	if got := rtbRoutes(rtbDescribe(t, ctx, a, rt)); !rtbEqual(got, want) {
		t.Fatalf("refused calls changed the routes: %+v", got)
	}

	// Restoring the local target of the local route is accepted.
	if _, err := a.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(rt), DestinationCidrBlock: aws.String("10.0.0.0/16"), LocalTarget: aws.Bool(true)}); err != nil {
		t.Fatalf("LocalTarget: %v", err)
	}
	if _, err := a.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(rt), DestinationCidrBlock: aws.String("192.168.0.0/16"), NetworkInterfaceId: aws.String(n.eni2)}); err != nil {
		t.Fatal(err)
	}
	want[1].Eni = n.eni2
	if got := rtbRoutes(rtbDescribe(t, ctx, a, rt)); !rtbEqual(got, want) {
		t.Fatalf("after ReplaceRoute = %+v", got)
	}

	// Route filters.
	for _, f := range []struct {
		name, value string
		want        []string
	}{
		{"route.destination-cidr-block", "192.168.0.0/16", []string{rt}},
		{"route.destination-prefix-list-id", "pl-0123abcd", []string{rt}},
		{"route.origin", "CreateRoute", []string{rt}},
		{"route.gateway-id", "local", rtbIDs([]types.RouteTable{{RouteTableId: aws.String(rt)}, {RouteTableId: aws.String(n.mainRtb)}})},
		{"route.state", "blackhole", nil},
		{"route.vpc-endpoint-id", "vpce-*", nil},
	} {
		out, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{
			{Name: aws.String(f.name), Values: []string{f.value}},
			{Name: aws.String("vpc-id"), Values: []string{n.vpc}},
		}})
		if err != nil || !rtbEqual(rtbIDs(out.RouteTables), f.want) {
			t.Errorf("filter %s=%s: %v, %v; want %v", f.name, f.value, rtbIDs(out.RouteTables), err, f.want)
		}
	}

	// A route whose interface is deleted becomes a blackhole.
	if _, err := a.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(n.eni2)}); err != nil {
		t.Fatal(err)
	}
	want[1].State, want[2].State = types.RouteStateBlackhole, types.RouteStateBlackhole
	if got := rtbRoutes(rtbDescribe(t, ctx, a, rt)); !rtbEqual(got, want) {
		t.Fatalf("after deleting the interface = %+v", got)
	}
	bh, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("route.state"), Values: []string{"blackhole"}}}})
	if err != nil || !rtbEqual(rtbIDs(bh.RouteTables), []string{rt}) {
		t.Fatalf("route.state=blackhole: %v, %v", rtbIDs(bh.RouteTables), err)
	}

	if _, err := a.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: aws.String(rt), DestinationCidrBlock: aws.String("192.168.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: aws.String(rt), DestinationPrefixListId: aws.String("pl-0123abcd")}); err != nil {
		t.Fatal(err)
	}
	if got := rtbRoutes(rtbDescribe(t, ctx, a, rt)); !rtbEqual(got, []rtbRoute{local}) {
		t.Fatalf("after DeleteRoute = %+v", got)
	}
}

func TestDescribeRouteTablesFiltersAndPages(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111").EC2
	v, err := a.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	vpc := aws.ToString(v.Vpc.VpcId)
	var tagged []string
	for i := 0; i < 7; i++ {
		in := &ec2.CreateRouteTableInput{VpcId: aws.String(vpc)}
		if i%2 == 0 {
			in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeRouteTable,
				Tags: []types.Tag{{Key: aws.String("tier"), Value: aws.String("private")}}}}
		}
		out, err := a.CreateRouteTable(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			tagged = append(tagged, aws.ToString(out.RouteTable.RouteTableId))
		}
	}
	sort.Strings(tagged)

	seen := map[string]bool{}
	pages := 0
	p := ec2.NewDescribeRouteTablesPaginator(a, &ec2.DescribeRouteTablesInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, rt := range out.RouteTables {
			if seen[*rt.RouteTableId] {
				t.Errorf("%s returned twice", *rt.RouteTableId)
			}
			seen[*rt.RouteTableId] = true
		}
	}
	if pages != 2 || len(seen) != 8 {
		t.Fatalf("%d pages, %d tables; want 2 pages, 8 tables (7 and the main one)", pages, len(seen))
	}
	for _, m := range []int32{4, 101} {
		if _, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{MaxResults: aws.Int32(m)}); errorCode(err) != "InvalidParameterValue" {
			t.Errorf("MaxResults %d: %v", m, err)
		}
	}

	for _, f := range []struct {
		filters []types.Filter
		want    []string
	}{
		{[]types.Filter{{Name: aws.String("tag:tier"), Values: []string{"priv*"}}}, tagged},
		{[]types.Filter{{Name: aws.String("tag-key"), Values: []string{"tier"}}}, tagged},
		{[]types.Filter{{Name: aws.String("tag:tier"), Values: []string{"public"}}}, nil},
		{[]types.Filter{{Name: aws.String("route-table-id"), Values: []string{tagged[0], tagged[1]}}}, tagged[:2]},
		{[]types.Filter{{Name: aws.String("owner-id"), Values: []string{"222222222222"}}}, nil},
		{[]types.Filter{{Name: aws.String("association.main"), Values: []string{"false"}}}, nil},
		{[]types.Filter{{Name: aws.String("association.route-table-id"), Values: tagged}}, nil},
	} {
		out, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: f.filters})
		if err != nil || !rtbEqual(rtbIDs(out.RouteTables), f.want) {
			t.Errorf("filters %s=%v: %v, %v; want %v", aws.ToString(f.filters[0].Name), f.filters[0].Values, rtbIDs(out.RouteTables), err, f.want)
		}
	}
	if n, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("owner-id"), Values: []string{"111111111111"}}}}); err != nil || len(n.RouteTables) != 8 {
		t.Errorf("owner-id: %d, %v", len(n.RouteTables), err)
	}
	if _, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("route.bogus"), Values: []string{"x"}}}}); errorCode(err) != "InvalidParameterValue" {
		t.Errorf("unknown filter: %v", err)
	}
	if _, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{DryRun: aws.Bool(true)}); errorCode(err) != "DryRunOperation" {
		t.Errorf("DryRun describe: %v", err)
	}
}

func TestDeleteVpcWithExtraRouteTable(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111").EC2
	v, err := a.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.7.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	vpc := aws.ToString(v.Vpc.VpcId)
	rt := rtbCreate(t, ctx, a, vpc)
	if _, err := a.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpc)}); errorCode(err) != "DependencyViolation" {
		t.Fatalf("DeleteVpc with an extra table: %v", err)
	}
	all, err := a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil || len(all.RouteTables) != 2 {
		t.Fatalf("tables after the refused DeleteVpc: %v, %v", rtbIDs(all.RouteTables), err)
	}
	if _, err := a.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: aws.String(rt)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpc)}); err != nil {
		t.Fatalf("DeleteVpc: %v", err)
	}
	all, err = a.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil || len(all.RouteTables) != 0 {
		t.Fatalf("tables after DeleteVpc: %v, %v", rtbIDs(all.RouteTables), err)
	}
}
