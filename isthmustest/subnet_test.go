package isthmustest_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/isthmusnet/isthmus/isthmustest"
)

// subnetTestVpc creates a VPC with cidr for c and returns its id.
func subnetTestVpc(t *testing.T, ctx context.Context, c *isthmustest.Client, cidr string) string {
	t.Helper()
	out, err := c.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Vpc.VpcId)
}

// subnetTestCreate creates a subnet and returns it.
func subnetTestCreate(t *testing.T, ctx context.Context, c *isthmustest.Client, vpc, cidr string) types.Subnet {
	t.Helper()
	out, err := c.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(cidr)})
	if err != nil {
		t.Fatal(err)
	}
	return *out.Subnet
}

func subnetFilter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

func TestSubnetLifecycleAcrossAccounts(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	b := env.Account("222222222222")
	vpc := subnetTestVpc(t, ctx, a, "10.0.0.0/16")

	out, err := a.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{
		VpcId:            aws.String(vpc),
		CidrBlock:        aws.String("10.0.1.7/24"),
		AvailabilityZone: aws.String("us-east-1b"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSubnet,
			Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("app")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := out.Subnet
	id := aws.ToString(s.SubnetId)
	for what, got := range map[string]any{
		"CidrBlock":               aws.ToString(s.CidrBlock) == "10.0.1.0/24",
		"VpcId":                   aws.ToString(s.VpcId) == vpc,
		"OwnerId":                 aws.ToString(s.OwnerId) == "111111111111",
		"AvailabilityZone":        aws.ToString(s.AvailabilityZone) == "us-east-1b",
		"AvailabilityZoneId":      aws.ToString(s.AvailabilityZoneId) == "use1-az2",
		"AvailableIpAddressCount": aws.ToInt32(s.AvailableIpAddressCount) == 251,
		"State":                   s.State == types.SubnetStateAvailable,
		"SubnetArn":               aws.ToString(s.SubnetArn) == "arn:aws:ec2:us-east-1:111111111111:subnet/"+id,
		"DefaultForAz":            s.DefaultForAz != nil && !*s.DefaultForAz,
		"MapPublicIpOnLaunch":     s.MapPublicIpOnLaunch != nil && !*s.MapPublicIpOnLaunch,
		"Tags":                    len(s.Tags) == 1 && aws.ToString(s.Tags[0].Value) == "app",
	} {
		if got != true {
			t.Errorf("CreateSubnet %s wrong: %+v", what, s)
		}
	}

	// B sees nothing, cannot touch A's subnet, nor create one in A's VPC.
	ds, err := b.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if err != nil || len(ds.Subnets) != 0 {
		t.Fatalf("B DescribeSubnets = %+v, %v; want none", ds, err)
	}
	if _, err := b.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{id}}); errorCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("B describing A's subnet: %v", err)
	}
	if _, err := b.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(id)}); errorCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("B deleting A's subnet: %v", err)
	}
	if _, err := b.EC2.ModifySubnetAttribute(ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(id),
		MapPublicIpOnLaunch: &types.AttributeBooleanValue{Value: aws.Bool(true)}}); errorCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("B modifying A's subnet: %v", err)
	}
	if _, err := b.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String("10.0.2.0/24")}); errorCode(err) != "InvalidVpcID.NotFound" {
		t.Fatalf("B creating a subnet in A's VPC: %v", err)
	}
	if _, err := b.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}}); errorCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("B tagging A's subnet: %v", err)
	}

	// A second subnet, so that every filter has something to leave out.
	other := subnetTestCreate(t, ctx, a, vpc, "10.0.2.0/28")
	if got := aws.ToInt32(other.AvailableIpAddressCount); got != 11 {
		t.Errorf("/28 AvailableIpAddressCount = %d, want 11", got)
	}

	if _, err := a.EC2.ModifySubnetAttribute(ctx, &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(id),
		MapPublicIpOnLaunch: &types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}

	for _, f := range []types.Filter{
		subnetFilter("subnet-id", id),
		subnetFilter("subnet-arn", "arn:aws:ec2:us-east-1:111111111111:subnet/"+id),
		subnetFilter("cidr-block", "10.0.1.0/24"),
		subnetFilter("cidr", "10.0.1.0/24"),
		subnetFilter("cidrBlock", "10.0.1.*"),
		subnetFilter("availability-zone", "us-east-1b"),
		subnetFilter("availability-zone-id", "use1-az2"),
		subnetFilter("available-ip-address-count", "251"),
		subnetFilter("map-public-ip-on-launch", "true"),
		subnetFilter("tag:Name", "app"),
		subnetFilter("tag-key", "Name"),
	} {
		ds, err := a.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{f}})
		if err != nil || len(ds.Subnets) != 1 || aws.ToString(ds.Subnets[0].SubnetId) != id {
			t.Errorf("filter %s=%v: %+v, %v; want only %s", *f.Name, f.Values, ds, err, id)
		}
	}
	for _, f := range []types.Filter{
		subnetFilter("vpc-id", vpc),
		subnetFilter("state", "available"),
		subnetFilter("default-for-az", "false"),
		subnetFilter("owner-id", "111111111111"),
	} {
		ds, err := a.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{f}})
		if err != nil || len(ds.Subnets) != 2 {
			t.Errorf("filter %s=%v: %+v, %v; want both subnets", *f.Name, f.Values, ds, err)
		}
	}
	ds, err = a.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{subnetFilter("vpc-id", "vpc-0123456789abcdef0")}})
	if err != nil || len(ds.Subnets) != 0 {
		t.Errorf("filter on another VPC: %+v, %v", ds, err)
	}
	if _, err := a.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{subnetFilter("bogus", "x")}}); errorCode(err) != "InvalidParameterValue" {
		t.Errorf("unknown filter: %v", err)
	}

	// The VPC cannot go while it has subnets.
	if _, err := a.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpc)}); errorCode(err) != "DependencyViolation" {
		t.Fatalf("DeleteVpc with subnets: %v", err)
	}
	for _, s := range []string{id, aws.ToString(other.SubnetId)} {
		if _, err := a.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(s)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{id}}); errorCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := a.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(id)}); errorCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := a.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpc)}); err != nil {
		t.Fatalf("DeleteVpc once empty: %v", err)
	}
}

func TestCreateSubnetRefusals(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	vpc := subnetTestVpc(t, ctx, a, "10.0.0.0/16")
	subnetTestCreate(t, ctx, a, vpc, "10.0.1.0/24")

	for _, tc := range []struct {
		name string
		in   ec2.CreateSubnetInput
		code string
	}{
		{"outside the VPC", ec2.CreateSubnetInput{CidrBlock: aws.String("10.1.0.0/24")}, "InvalidSubnet.Range"},
		{"larger than the VPC", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.0.0/15")}, "InvalidSubnet.Range"},
		{"smaller than /28", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.9.0/29")}, "InvalidSubnet.Range"},
		{"overlapping a sibling", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.0.0/20")}, "InvalidSubnet.Conflict"},
		{"same as a sibling", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.1.0/24")}, "InvalidSubnet.Conflict"},
		{"not a CIDR", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.300.0/24")}, "InvalidParameterValue"},
		{"no CIDR", ec2.CreateSubnetInput{}, "MissingParameter"},
		{"unknown zone", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.2.0/24"), AvailabilityZone: aws.String("us-east-1z")}, "InvalidParameterValue"},
		{"zone of another region", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.2.0/24"), AvailabilityZone: aws.String("us-west-2a")}, "InvalidParameterValue"},
		{"zone name and id disagree", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.2.0/24"), AvailabilityZone: aws.String("us-east-1a"), AvailabilityZoneId: aws.String("use1-az2")}, "InvalidParameterValue"},
		{"IPv6", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.2.0/24"), Ipv6CidrBlock: aws.String("2600:1f18::/64")}, "UnsupportedOperation"},
		{"IPAM", ec2.CreateSubnetInput{Ipv4IpamPoolId: aws.String("ipam-pool-0123456789abcdef0")}, "UnsupportedOperation"},
		{"Outpost", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.2.0/24"), OutpostArn: aws.String("arn:aws:outposts:us-east-1:111111111111:outpost/op-0123456789abcdef0")}, "UnsupportedOperation"},
		{"tags for another type", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.2.0/24"), TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}}, "InvalidParameterValue"},
		{"missing VPC", ec2.CreateSubnetInput{VpcId: aws.String("vpc-0123456789abcdef0"), CidrBlock: aws.String("10.0.2.0/24")}, "InvalidVpcID.NotFound"},
		{"malformed VPC id", ec2.CreateSubnetInput{VpcId: aws.String("vpx-1"), CidrBlock: aws.String("10.0.2.0/24")}, "InvalidVpcID.Malformed"},
		{"DryRun of a good call", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.2.0/24"), DryRun: aws.Bool(true)}, "DryRunOperation"},
		{"DryRun of a bad call", ec2.CreateSubnetInput{CidrBlock: aws.String("10.0.1.0/25"), DryRun: aws.Bool(true)}, "InvalidSubnet.Conflict"},
	} {
		in := tc.in
		if in.VpcId == nil {
			in.VpcId = aws.String(vpc)
		}
		if _, err := a.EC2.CreateSubnet(ctx, &in); errorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	ds, err := a.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if err != nil || len(ds.Subnets) != 1 {
		t.Fatalf("refused calls left %d subnets (%v), want 1", len(ds.Subnets), err)
	}

	// By zone id; and the subnet may be as large as the VPC itself.
	other := subnetTestVpc(t, ctx, a, "172.16.0.0/16")
	out, err := a.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(other), CidrBlock: aws.String("172.16.0.0/16"), AvailabilityZoneId: aws.String("use1-az3")})
	if err != nil || aws.ToString(out.Subnet.AvailabilityZone) != "us-east-1c" || aws.ToInt32(out.Subnet.AvailableIpAddressCount) != 65531 {
		t.Fatalf("whole-VPC subnet by zone id: %+v, %v", out, err)
	}
}

func TestSubnetZonesSpreadWhenUnspecified(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	vpc := subnetTestVpc(t, ctx, a, "10.0.0.0/16")
	var zones []string
	for _, cidr := range []string{"10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"} {
		zones = append(zones, aws.ToString(subnetTestCreate(t, ctx, a, vpc, cidr).AvailabilityZone))
	}
	want := []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1a"}
	for i := range want {
		if zones[i] != want[i] {
			t.Fatalf("zones %v, want %v", zones, want)
		}
	}
}

func TestModifySubnetAttribute(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	vpc := subnetTestVpc(t, ctx, a, "10.0.0.0/16")
	id := subnetTestCreate(t, ctx, a, vpc, "10.0.0.0/24").SubnetId
	on := &types.AttributeBooleanValue{Value: aws.Bool(true)}
	off := &types.AttributeBooleanValue{Value: aws.Bool(false)}

	for _, tc := range []struct {
		name string
		in   ec2.ModifySubnetAttributeInput
		code string
	}{
		{"two attributes", ec2.ModifySubnetAttributeInput{MapPublicIpOnLaunch: on, EnableDns64: off}, "InvalidRequest"},
		{"none", ec2.ModifySubnetAttributeInput{}, "MissingParameter"},
		{"IPv6 on", ec2.ModifySubnetAttributeInput{AssignIpv6AddressOnCreation: on}, "UnsupportedOperation"},
		{"DNS64 on", ec2.ModifySubnetAttributeInput{EnableDns64: on}, "UnsupportedOperation"},
		{"resource-name hostnames", ec2.ModifySubnetAttributeInput{PrivateDnsHostnameTypeOnLaunch: types.HostnameTypeResourceName}, "UnsupportedOperation"},
		{"DNS64 off is a no-op", ec2.ModifySubnetAttributeInput{EnableDns64: off}, ""},
		{"malformed id", ec2.ModifySubnetAttributeInput{SubnetId: aws.String("subnet-xyz"), MapPublicIpOnLaunch: on}, "InvalidSubnetID.Malformed"},
		{"missing subnet, no-op attribute", ec2.ModifySubnetAttributeInput{SubnetId: aws.String("subnet-0123456789abcdef0"), EnableDns64: off}, "InvalidSubnetID.NotFound"},
	} {
		in := tc.in
		if in.SubnetId == nil {
			in.SubnetId = id
		}
		if _, err := a.EC2.ModifySubnetAttribute(ctx, &in); errorCode(err) != tc.code {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.code)
		}
	}
	ds, err := a.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{*id}})
	if err != nil || aws.ToBool(ds.Subnets[0].MapPublicIpOnLaunch) {
		t.Fatalf("refused calls changed the subnet: %+v, %v", ds, err)
	}
	if _, err := a.EC2.ModifySubnetAttribute(ctx, &ec2.ModifySubnetAttributeInput{SubnetId: id, MapPublicIpOnLaunch: on}); err != nil {
		t.Fatal(err)
	}
	ds, err = a.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{*id}})
	if err != nil || !aws.ToBool(ds.Subnets[0].MapPublicIpOnLaunch) {
		t.Fatalf("MapPublicIpOnLaunch not set: %+v, %v", ds, err)
	}
}

func TestDescribeSubnetsPaginates(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	vpc := subnetTestVpc(t, ctx, a, "10.0.0.0/16")
	for i := 0; i < 7; i++ {
		subnetTestCreate(t, ctx, a, vpc, "10.0."+string(rune('0'+i))+".0/24")
	}
	seen := map[string]bool{}
	pages := 0
	p := ec2.NewDescribeSubnetsPaginator(a.EC2, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range out.Subnets {
			if seen[*s.SubnetId] {
				t.Errorf("%s twice", *s.SubnetId)
			}
			seen[*s.SubnetId] = true
		}
	}
	if pages != 2 || len(seen) != 7 {
		t.Fatalf("%d pages, %d subnets; want 2 and 7", pages, len(seen))
	}
	if _, err := a.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(1001)}); errorCode(err) != "InvalidParameterValue" {
		t.Fatalf("MaxResults 1001: %v", err)
	}
}

// Deleting a subnet drops its explicit route table association, as AWS
// does; the table can then be deleted.
func TestDeleteSubnetDropsRouteTableAssociation(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	vpc := subnetTestVpc(t, ctx, a, "10.0.0.0/16")
	subnet := aws.ToString(subnetTestCreate(t, ctx, a, vpc, "10.0.0.0/24").SubnetId)
	rt, err := a.EC2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: aws.String(vpc)})
	if err != nil {
		t.Fatal(err)
	}
	rtb := rt.RouteTable.RouteTableId
	if _, err := a.EC2.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: rtb, SubnetId: aws.String(subnet)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(subnet)}); err != nil {
		t.Fatal(err)
	}
	dr, err := a.EC2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{subnetFilter("association.subnet-id", subnet)}})
	if err != nil || len(dr.RouteTables) != 0 {
		t.Fatalf("association of the deleted subnet survived: %+v, %v", dr, err)
	}
	if _, err := a.EC2.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: rtb}); err != nil {
		t.Fatalf("DeleteRouteTable after its subnet went: %v", err)
	}
}
