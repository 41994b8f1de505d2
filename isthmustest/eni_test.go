package isthmustest_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/isthmustest"
)

// eniTestNet creates a VPC 10.0.0.0/16 with a subnet of cidr in
// us-east-1a, and returns the VPC, the subnet and the VPC's default group.
func eniTestNet(t *testing.T, ctx context.Context, env *isthmustest.Env, c *isthmustest.Client, account, cidr string) (vpc, subnet, defaultSG string) {
	t.Helper()
	vpc = subnetTestVpc(t, ctx, c, "10.0.0.0/16")
	out, err := c.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String(cidr), AvailabilityZone: aws.String("us-east-1a")})
	if err != nil {
		t.Fatal(err)
	}
	v, err := env.Cloud.DescribeVpc(callerOf(account), vpc)
	if err != nil {
		t.Fatal(err)
	}
	return vpc, aws.ToString(out.Subnet.SubnetId), v.DefaultGroupID
}

func eniTestAvailable(t *testing.T, ctx context.Context, c *isthmustest.Client, subnet string) int32 {
	t.Helper()
	ds, err := c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{subnet}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToInt32(ds.Subnets[0].AvailableIpAddressCount)
}

func eniTestCreate(t *testing.T, ctx context.Context, c *isthmustest.Client, in *ec2.CreateNetworkInterfaceInput) types.NetworkInterface {
	t.Helper()
	out, err := c.EC2.CreateNetworkInterface(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return *out.NetworkInterface
}

var eniMACRE = regexp.MustCompile(`^02(:[0-9a-f]{2}){5}$`)

func TestNetworkInterfaceLifecycleAcrossAccounts(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	b := env.Account("222222222222")
	vpc, subnet, defaultSG := eniTestNet(t, ctx, env, a, "111111111111", "10.0.1.0/24")

	n := eniTestCreate(t, ctx, a, &ec2.CreateNetworkInterfaceInput{
		SubnetId:    aws.String(subnet),
		Description: aws.String("web"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeNetworkInterface,
			Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}}}},
	})
	id := aws.ToString(n.NetworkInterfaceId)
	if n.Status != types.NetworkInterfaceStatus("pending") {
		t.Errorf("CreateNetworkInterface Status = %q, want pending as AWS answers", n.Status)
	}
	dn, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{id}})
	if err != nil || len(dn.NetworkInterfaces) != 1 {
		t.Fatalf("DescribeNetworkInterfaces: %+v, %v", dn, err)
	}
	n = dn.NetworkInterfaces[0]
	for what, ok := range map[string]bool{
		"Status":             n.Status == types.NetworkInterfaceStatusAvailable,
		"SubnetId":           aws.ToString(n.SubnetId) == subnet,
		"VpcId":              aws.ToString(n.VpcId) == vpc,
		"AvailabilityZone":   aws.ToString(n.AvailabilityZone) == "us-east-1a",
		"Description":        aws.ToString(n.Description) == "web",
		"OwnerId":            aws.ToString(n.OwnerId) == "111111111111",
		"InterfaceType":      n.InterfaceType == types.NetworkInterfaceTypeInterface,
		"MacAddress":         eniMACRE.MatchString(aws.ToString(n.MacAddress)),
		"PrivateIpAddress":   aws.ToString(n.PrivateIpAddress) == "10.0.1.4",
		"PrivateDnsName":     aws.ToString(n.PrivateDnsName) == "ip-10-0-1-4.ec2.internal",
		"PrivateIpAddresses": len(n.PrivateIpAddresses) == 1 && aws.ToString(n.PrivateIpAddresses[0].PrivateIpAddress) == "10.0.1.4" && aws.ToBool(n.PrivateIpAddresses[0].Primary),
		"Groups":             len(n.Groups) == 1 && aws.ToString(n.Groups[0].GroupId) == defaultSG && aws.ToString(n.Groups[0].GroupName) == "default",
		"RequesterManaged":   n.RequesterManaged != nil && !*n.RequesterManaged,
		"RequesterId":        n.RequesterId == nil,
		"SourceDestCheck":    aws.ToBool(n.SourceDestCheck),
		"TagSet":             len(n.TagSet) == 1 && aws.ToString(n.TagSet[0].Key) == "Name",
		"Attachment":         n.Attachment == nil,
	} {
		if !ok {
			t.Errorf("%s wrong: %+v", what, n)
		}
	}
	if got := eniTestAvailable(t, ctx, a, subnet); got != 250 {
		t.Errorf("AvailableIpAddressCount = %d after one interface, want 250", got)
	}

	// B sees nothing and can touch nothing.
	dn, err = b.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{})
	if err != nil || len(dn.NetworkInterfaces) != 0 {
		t.Fatalf("B DescribeNetworkInterfaces = %+v, %v; want none", dn, err)
	}
	if _, err := b.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{id}}); errorCode(err) != "InvalidNetworkInterfaceID.NotFound" {
		t.Fatalf("B describing A's interface: %v", err)
	}
	if _, err := b.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id)}); errorCode(err) != "InvalidNetworkInterfaceID.NotFound" {
		t.Fatalf("B deleting A's interface: %v", err)
	}
	if _, err := b.EC2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(id),
		Description: &types.AttributeValue{Value: aws.String("mine")}}); errorCode(err) != "InvalidNetworkInterfaceID.NotFound" {
		t.Fatalf("B modifying A's interface: %v", err)
	}
	if _, err := b.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)}); errorCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("B creating in A's subnet: %v", err)
	}
	_, bSubnet, _ := eniTestNet(t, ctx, env, b, "222222222222", "10.0.1.0/24")
	if _, err := b.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(bSubnet), Groups: []string{defaultSG}}); errorCode(err) != "InvalidGroup.NotFound" {
		t.Fatalf("B using A's security group: %v", err)
	}

	// A second interface at a chosen address, in a second group.
	web, err := env.Cloud.CreateSecurityGroup(callerOf("111111111111"), core.CreateSecurityGroupInput{GroupName: "web", Description: "web tier", VpcID: vpc})
	if err != nil {
		t.Fatal(err)
	}
	m := eniTestCreate(t, ctx, a, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet), PrivateIpAddress: aws.String("10.0.1.100"), Groups: []string{web.ID, web.ID}})
	mid := aws.ToString(m.NetworkInterfaceId)
	if aws.ToString(m.PrivateIpAddress) != "10.0.1.100" || len(m.Groups) != 1 || aws.ToString(m.Groups[0].GroupName) != "web" {
		t.Fatalf("second interface: %+v", m)
	}

	onlyFirst := []types.Filter{
		subnetFilter("network-interface-id", id),
		subnetFilter("private-ip-address", "10.0.1.4"),
		subnetFilter("addresses.private-ip-address", "10.0.1.4"),
		subnetFilter("group-id", defaultSG),
		subnetFilter("group-name", "default"),
		subnetFilter("description", "w*"),
		subnetFilter("mac-address", aws.ToString(n.MacAddress)),
		subnetFilter("tag:Name", "web"),
		subnetFilter("tag-key", "Name"),
	}
	for _, f := range onlyFirst {
		dn, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{f}})
		if err != nil || len(dn.NetworkInterfaces) != 1 || aws.ToString(dn.NetworkInterfaces[0].NetworkInterfaceId) != id {
			t.Errorf("filter %s=%v: %+v, %v; want only %s", *f.Name, f.Values, dn, err, id)
		}
	}
	for _, f := range []types.Filter{
		subnetFilter("subnet-id", subnet),
		subnetFilter("vpc-id", vpc),
		subnetFilter("availability-zone", "us-east-1a"),
		subnetFilter("status", "available"),
		subnetFilter("interface-type", "interface"),
		subnetFilter("requester-managed", "false"),
		subnetFilter("owner-id", "111111111111"),
		subnetFilter("source-dest-check", "true"),
	} {
		dn, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{f}})
		if err != nil || len(dn.NetworkInterfaces) != 2 {
			t.Errorf("filter %s=%v: %+v, %v; want both", *f.Name, f.Values, dn, err)
		}
	}
	for _, f := range []types.Filter{
		subnetFilter("status", "in-use"),
		subnetFilter("requester-managed", "true"),
		subnetFilter("requester-id", "*"),
		subnetFilter("private-ip-address", "10.0.1.5"),
	} {
		dn, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{f}})
		if err != nil || len(dn.NetworkInterfaces) != 0 {
			t.Errorf("filter %s=%v: %+v, %v; want none", *f.Name, f.Values, dn, err)
		}
	}
	if _, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{subnetFilter("bogus", "x")}}); errorCode(err) != "InvalidParameterValue" {
		t.Errorf("unknown filter: %v", err)
	}

	// Attributes, one at a time.
	if _, err := a.EC2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(id),
		Description: &types.AttributeValue{Value: aws.String("web, renamed")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(id),
		SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(id),
		Groups: []string{web.ID, defaultSG}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   ec2.ModifyNetworkInterfaceAttributeInput
		code string
	}{
		{"two attributes", ec2.ModifyNetworkInterfaceAttributeInput{Description: &types.AttributeValue{Value: aws.String("x")}, SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(true)}}, "InvalidParameterCombination"},
		{"missing group", ec2.ModifyNetworkInterfaceAttributeInput{Groups: []string{"sg-0123456789abcdef0"}}, "InvalidGroup.NotFound"},
		{"malformed group", ec2.ModifyNetworkInterfaceAttributeInput{Groups: []string{"bogus"}}, "InvalidGroupId.Malformed"},
		{"DryRun", ec2.ModifyNetworkInterfaceAttributeInput{Description: &types.AttributeValue{Value: aws.String("dry")}, DryRun: aws.Bool(true)}, "DryRunOperation"},
	} {
		in := tc.in
		in.NetworkInterfaceId = aws.String(id)
		if _, err := a.EC2.ModifyNetworkInterfaceAttribute(ctx, &in); errorCode(err) != tc.code {
			t.Errorf("modify, %s: %v, want %s", tc.name, err, tc.code)
		}
	}
	dn, err = a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	n = dn.NetworkInterfaces[0]
	if aws.ToString(n.Description) != "web, renamed" || aws.ToBool(n.SourceDestCheck) || len(n.Groups) != 2 ||
		aws.ToString(n.Groups[0].GroupId) != web.ID || aws.ToString(n.Groups[0].GroupName) != "web" || aws.ToString(n.Groups[1].GroupName) != "default" {
		t.Fatalf("after modifications: %+v", n)
	}
	dn, err = a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{subnetFilter("group-name", "web")}})
	if err != nil || len(dn.NetworkInterfaces) != 2 {
		t.Fatalf("group-name=web after the change: %+v, %v", dn, err)
	}

	// The subnet and the VPC cannot go while interfaces are in them.
	if _, err := a.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(subnet)}); errorCode(err) != "DependencyViolation" {
		t.Fatalf("DeleteSubnet with interfaces: %v", err)
	}
	if _, err := a.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id), DryRun: aws.Bool(true)}); errorCode(err) != "DryRunOperation" {
		t.Fatalf("DryRun delete: %v", err)
	}
	if got := eniTestAvailable(t, ctx, a, subnet); got != 249 {
		t.Fatalf("AvailableIpAddressCount = %d with two interfaces, want 249", got)
	}
	for _, e := range []string{id, mid} {
		if _, err := a.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(e)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(id)}); errorCode(err) != "InvalidNetworkInterfaceID.NotFound" {
		t.Fatalf("second delete: %v", err)
	}
	if got := eniTestAvailable(t, ctx, a, subnet); got != 251 {
		t.Fatalf("AvailableIpAddressCount = %d after deleting both, want 251", got)
	}
	if _, err := a.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(subnet)}); err != nil {
		t.Fatalf("DeleteSubnet once empty: %v", err)
	}
}

func TestCreateNetworkInterfaceRefusals(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	_, subnet, _ := eniTestNet(t, ctx, env, a, "111111111111", "10.0.1.0/24")
	otherVpc := subnetTestVpc(t, ctx, a, "10.0.0.0/16")
	ov, err := env.Cloud.DescribeVpc(callerOf("111111111111"), otherVpc)
	if err != nil {
		t.Fatal(err)
	}
	taken := eniTestCreate(t, ctx, a, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet), PrivateIpAddress: aws.String("10.0.1.10")})

	for _, tc := range []struct {
		name string
		in   ec2.CreateNetworkInterfaceInput
		code string
	}{
		{"missing subnet", ec2.CreateNetworkInterfaceInput{SubnetId: aws.String("subnet-0123456789abcdef0")}, "InvalidSubnetID.NotFound"},
		{"malformed subnet", ec2.CreateNetworkInterfaceInput{SubnetId: aws.String("subnet_1")}, "InvalidSubnetID.Malformed"},
		{"malformed group", ec2.CreateNetworkInterfaceInput{Groups: []string{"default"}}, "InvalidGroupId.Malformed"},
		{"missing group", ec2.CreateNetworkInterfaceInput{Groups: []string{"sg-0123456789abcdef0"}}, "InvalidGroup.NotFound"},
		{"group of another VPC", ec2.CreateNetworkInterfaceInput{Groups: []string{ov.DefaultGroupID}}, "InvalidParameter"},
		{"address in use", ec2.CreateNetworkInterfaceInput{PrivateIpAddress: aws.String("10.0.1.10")}, "InvalidIPAddress.InUse"},
		{"address outside the subnet", ec2.CreateNetworkInterfaceInput{PrivateIpAddress: aws.String("10.0.2.10")}, "InvalidParameterValue"},
		{"network address", ec2.CreateNetworkInterfaceInput{PrivateIpAddress: aws.String("10.0.1.0")}, "InvalidParameterValue"},
		{"router address", ec2.CreateNetworkInterfaceInput{PrivateIpAddress: aws.String("10.0.1.1")}, "InvalidParameterValue"},
		{"reserved address", ec2.CreateNetworkInterfaceInput{PrivateIpAddress: aws.String("10.0.1.3")}, "InvalidParameterValue"},
		{"broadcast address", ec2.CreateNetworkInterfaceInput{PrivateIpAddress: aws.String("10.0.1.255")}, "InvalidParameterValue"},
		{"not an address", ec2.CreateNetworkInterfaceInput{PrivateIpAddress: aws.String("10.0.1")}, "InvalidParameterValue"},
		{"IPv6", ec2.CreateNetworkInterfaceInput{Ipv6AddressCount: aws.Int32(1)}, "UnsupportedOperation"},
		{"secondary addresses", ec2.CreateNetworkInterfaceInput{SecondaryPrivateIpAddressCount: aws.Int32(2)}, "UnsupportedOperation"},
		{"EFA", ec2.CreateNetworkInterfaceInput{InterfaceType: types.NetworkInterfaceCreationTypeEfa}, "UnsupportedOperation"},
		{"tags for another type", ec2.CreateNetworkInterfaceInput{TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSubnet, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}}, "InvalidParameterValue"},
		{"DryRun of a good call", ec2.CreateNetworkInterfaceInput{DryRun: aws.Bool(true)}, "DryRunOperation"},
		{"DryRun of an address in use", ec2.CreateNetworkInterfaceInput{PrivateIpAddress: aws.String("10.0.1.10"), DryRun: aws.Bool(true)}, "InvalidIPAddress.InUse"},
	} {
		in := tc.in
		if in.SubnetId == nil {
			in.SubnetId = aws.String(subnet)
		}
		if _, err := a.EC2.CreateNetworkInterface(ctx, &in); errorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	dn, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{})
	if err != nil || len(dn.NetworkInterfaces) != 1 || aws.ToString(dn.NetworkInterfaces[0].NetworkInterfaceId) != aws.ToString(taken.NetworkInterfaceId) {
		t.Fatalf("refused calls left interfaces behind: %+v, %v", dn, err)
	}
	if got := eniTestAvailable(t, ctx, a, subnet); got != 250 {
		t.Fatalf("refused calls changed AvailableIpAddressCount to %d, want 250", got)
	}

	// The one-address form of PrivateIpAddresses names the primary address.
	p := eniTestCreate(t, ctx, a, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet),
		PrivateIpAddresses: []types.PrivateIpAddressSpecification{{PrivateIpAddress: aws.String("10.0.1.77"), Primary: aws.Bool(true)}}})
	if aws.ToString(p.PrivateIpAddress) != "10.0.1.77" {
		t.Fatalf("PrivateIpAddresses primary: %+v", p)
	}

	// A retried ClientToken answers the same interface.
	in := &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet), ClientToken: aws.String("retry-1")}
	first := eniTestCreate(t, ctx, a, in)
	again := eniTestCreate(t, ctx, a, in)
	if aws.ToString(first.NetworkInterfaceId) != aws.ToString(again.NetworkInterfaceId) {
		t.Fatalf("ClientToken retry made %s and %s", *first.NetworkInterfaceId, *again.NetworkInterfaceId)
	}
}

func TestSubnetAddressesRunOut(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	_, subnet, _ := eniTestNet(t, ctx, env, a, "111111111111", "10.0.0.16/28") // .20 to .30
	var ids []string
	for i := 0; i < 11; i++ {
		n := eniTestCreate(t, ctx, a, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)})
		if want := "10.0.0." + strconv.Itoa(20+i); aws.ToString(n.PrivateIpAddress) != want {
			t.Fatalf("interface %d got %s, want %s", i, aws.ToString(n.PrivateIpAddress), want)
		}
		ids = append(ids, aws.ToString(n.NetworkInterfaceId))
		if got := eniTestAvailable(t, ctx, a, subnet); got != int32(10-i) {
			t.Fatalf("after %d interfaces AvailableIpAddressCount = %d", i+1, got)
		}
	}
	if _, err := a.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)}); errorCode(err) != "InsufficientFreeAddressesInSubnet" {
		t.Fatalf("full subnet: %v", err)
	}
	ds, err := a.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{subnetFilter("available-ip-address-count", "0")}})
	if err != nil || len(ds.Subnets) != 1 {
		t.Fatalf("available-ip-address-count=0: %+v, %v", ds, err)
	}
	// Freeing .25 gives it to the next interface.
	if _, err := a.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(ids[5])}); err != nil {
		t.Fatal(err)
	}
	if got := eniTestAvailable(t, ctx, a, subnet); got != 1 {
		t.Fatalf("after a delete AvailableIpAddressCount = %d, want 1", got)
	}
	n := eniTestCreate(t, ctx, a, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)})
	if aws.ToString(n.PrivateIpAddress) != "10.0.0.25" {
		t.Fatalf("reused address %s, want 10.0.0.25", aws.ToString(n.PrivateIpAddress))
	}
}

func TestDescribeNetworkInterfacesPaginates(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	_, subnet, _ := eniTestNet(t, ctx, env, a, "111111111111", "10.0.1.0/24")
	want := map[string]bool{}
	for i := 0; i < 12; i++ {
		n := eniTestCreate(t, ctx, a, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnet)})
		want[aws.ToString(n.NetworkInterfaceId)] = true
	}
	got := map[string]bool{}
	pages := 0
	p := ec2.NewDescribeNetworkInterfacesPaginator(a.EC2, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.NetworkInterfaces) > 5 {
			t.Errorf("page of %d", len(out.NetworkInterfaces))
		}
		for _, n := range out.NetworkInterfaces {
			id := aws.ToString(n.NetworkInterfaceId)
			if got[id] || !want[id] {
				t.Errorf("%s unexpected or returned twice", id)
			}
			got[id] = true
		}
	}
	if pages != 3 || len(got) != 12 {
		t.Fatalf("%d pages, %d interfaces; want 3 pages, 12", pages, len(got))
	}
	if _, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(4)}); errorCode(err) != "InvalidParameterValue" {
		t.Fatalf("MaxResults 4: %v", err)
	}
	var one string
	for id := range want {
		one = id
		break
	}
	if _, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(5), NetworkInterfaceIds: []string{one}}); errorCode(err) != "InvalidParameterCombination" {
		t.Fatalf("ids with MaxResults: %v", err)
	}
	if _, err := a.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NextToken: aws.String("!!")}); errorCode(err) != "InvalidPaginationToken" {
		t.Fatalf("bad token: %v", err)
	}
}
