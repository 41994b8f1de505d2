package core

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/store/bolt"
)

var (
	rtbCaller = Caller{Account: "111111111111", Region: "us-east-1"}
	rtbOther  = Caller{Account: "222222222222", Region: "us-east-1"}
)

func rtbOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newRtbTestCloud(t *testing.T) *Cloud {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "rtb.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, Options{Regions: []Region{NewRegion("us-east-1", 3)}})
}

func rtbCode(err error) string {
	if e, ok := awserr.As(err); ok {
		return e.Code
	}
	if err != nil {
		return "non-AWS error: " + err.Error()
	}
	return ""
}

func rtbMust[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// rtbFixture is a VPC 10.0.0.0/16 with two subnets and an interface in the
// first, plus a second VPC.
type rtbFixture struct {
	c          *Cloud
	vpc, vpc2  *Vpc
	sub1, sub2 *Subnet
	other      *Subnet // in vpc2
	eni        *NetworkInterface
	eni2       *NetworkInterface // in vpc2
}

func newRtbFixture(t *testing.T) *rtbFixture {
	t.Helper()
	c := newRtbTestCloud(t)
	f := &rtbFixture{c: c}
	f.vpc = rtbMust[*Vpc](t)(c.CreateVpc(rtbCaller, CreateVpcInput{CidrBlock: "10.0.0.0/16"}))
	f.vpc2 = rtbMust[*Vpc](t)(c.CreateVpc(rtbCaller, CreateVpcInput{CidrBlock: "10.0.0.0/16"}))
	f.sub1 = rtbMust[*Subnet](t)(c.CreateSubnet(rtbCaller, CreateSubnetInput{VpcID: f.vpc.ID, CidrBlock: "10.0.1.0/24"}))
	f.sub2 = rtbMust[*Subnet](t)(c.CreateSubnet(rtbCaller, CreateSubnetInput{VpcID: f.vpc.ID, CidrBlock: "10.0.2.0/24"}))
	f.other = rtbMust[*Subnet](t)(c.CreateSubnet(rtbCaller, CreateSubnetInput{VpcID: f.vpc2.ID, CidrBlock: "10.0.1.0/24"}))
	f.eni = rtbMust[*NetworkInterface](t)(c.CreateNetworkInterface(rtbCaller, CreateNetworkInterfaceInput{SubnetID: f.sub1.ID}))
	f.eni2 = rtbMust[*NetworkInterface](t)(c.CreateNetworkInterface(rtbCaller, CreateNetworkInterfaceInput{SubnetID: f.other.ID}))
	return f
}

func (f *rtbFixture) table(t *testing.T, id string) *RouteTable {
	t.Helper()
	out, _, err := f.c.DescribeRouteTables(rtbCaller, []string{id}, nil, Page{})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func TestCreateRouteTableHasLocalRoute(t *testing.T) {
	f := newRtbFixture(t)
	rt := rtbMust[*RouteTable](t)(f.c.CreateRouteTable(rtbCaller, CreateRouteTableInput{VpcID: f.vpc.ID,
		TagSpecs: []TagSpec{{ResourceType: "route-table", Tags: []Tag{{"Name", "a"}}}}}))
	want := []Route{{DestinationCidrBlock: "10.0.0.0/16", GatewayID: "local", Origin: OriginCreateRouteTable, State: RouteActive}}
	if !reflect.DeepEqual(rt.Routes, want) || len(rt.Associations) != 0 || rt.VpcID != f.vpc.ID || rt.Owner != rtbCaller.Account {
		t.Fatalf("new table = %+v", rt)
	}
	if got := f.table(t, rt.ID); !reflect.DeepEqual(got.Routes, want) || len(got.Tags) != 1 {
		t.Fatalf("described = %+v", got)
	}
	if _, err := f.c.CreateRouteTable(rtbOther, CreateRouteTableInput{VpcID: f.vpc.ID}); rtbCode(err) != "InvalidVpcID.NotFound" {
		t.Fatalf("other account's VPC: %v", err)
	}
	if _, err := f.c.CreateRouteTable(rtbCaller, CreateRouteTableInput{VpcID: f.vpc.ID,
		TagSpecs: []TagSpec{{ResourceType: "vpc", Tags: []Tag{{"k", "v"}}}}}); rtbCode(err) != "InvalidParameterValue" {
		t.Fatalf("tag spec for another type: %v", err)
	}
}

func TestEffectiveRouteTable(t *testing.T) {
	f := newRtbFixture(t)
	eff := func(s *Subnet) string {
		t.Helper()
		return rtbMust[*RouteTable](t)(f.c.EffectiveRouteTable(rtbCaller, s.ID)).ID
	}
	if got := eff(f.sub1); got != f.vpc.MainRouteTableID {
		t.Fatalf("implicit: %s, want main %s", got, f.vpc.MainRouteTableID)
	}
	rt := rtbMust[*RouteTable](t)(f.c.CreateRouteTable(rtbCaller, CreateRouteTableInput{VpcID: f.vpc.ID}))
	a := rtbMust[*TableAssociation](t)(f.c.AssociateRouteTable(rtbCaller, AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: f.sub1.ID}))
	if got := eff(f.sub1); got != rt.ID {
		t.Fatalf("explicit: %s, want %s", got, rt.ID)
	}
	if got := eff(f.sub2); got != f.vpc.MainRouteTableID {
		t.Fatalf("sibling: %s", got)
	}
	// Moving main to rt: sub2 follows, sub1 stays on its explicit table.
	main := f.table(t, f.vpc.MainRouteTableID)
	na := rtbMust[*TableAssociation](t)(f.c.ReplaceRouteTableAssociation(rtbCaller, main.Associations[0].ID, rt.ID))
	if !na.Main || na.RouteTableID != rt.ID || na.ID == main.Associations[0].ID {
		t.Fatalf("new main association = %+v", na)
	}
	if got := eff(f.sub2); got != rt.ID {
		t.Fatalf("after moving main: %s", got)
	}
	v := rtbMust[*Vpc](t)(f.c.DescribeVpc(rtbCaller, f.vpc.ID))
	if v.MainRouteTableID != rt.ID {
		t.Fatalf("Vpc.MainRouteTableID = %s, want %s", v.MainRouteTableID, rt.ID)
	}
	rtbOK(t, f.c.DisassociateRouteTable(rtbCaller, a.ID))
	if got := eff(f.sub1); got != rt.ID {
		t.Fatalf("after disassociating: %s, want the new main %s", got, rt.ID)
	}
	if _, err := f.c.EffectiveRouteTable(rtbOther, f.sub1.ID); rtbCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("other account: %v", err)
	}
	// The former main table is an ordinary table now, and DeleteVpc takes
	// the new main table with it once the rest is gone.
	rtbOK(t, f.c.DeleteRouteTable(rtbCaller, main.ID))
	rtbOK(t, f.c.DeleteNetworkInterface(rtbCaller, f.eni.ID))
	rtbOK(t, f.c.DeleteSubnet(rtbCaller, f.sub1.ID))
	rtbOK(t, f.c.DeleteSubnet(rtbCaller, f.sub2.ID))
	rtbOK(t, f.c.DeleteVpc(rtbCaller, f.vpc.ID))
	if _, _, err := f.c.DescribeRouteTables(rtbCaller, []string{rt.ID}, nil, Page{}); rtbCode(err) != "InvalidRouteTableID.NotFound" {
		t.Fatalf("main table after DeleteVpc: %v", err)
	}
}

func TestDeleteSubnetDropsAssociation(t *testing.T) {
	f := newRtbFixture(t)
	rt := rtbMust[*RouteTable](t)(f.c.CreateRouteTable(rtbCaller, CreateRouteTableInput{VpcID: f.vpc.ID}))
	rtbMust[*TableAssociation](t)(f.c.AssociateRouteTable(rtbCaller, AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: f.sub2.ID}))
	if err := f.c.DeleteRouteTable(rtbCaller, rt.ID); rtbCode(err) != "DependencyViolation" {
		t.Fatalf("delete with association: %v", err)
	}
	rtbOK(t, f.c.DeleteSubnet(rtbCaller, f.sub2.ID))
	if err := f.c.DeleteRouteTable(rtbCaller, rt.ID); err != nil {
		t.Fatalf("delete after the subnet went: %v", err)
	}
}

func TestRouteErrors(t *testing.T) {
	f := newRtbFixture(t)
	rt := rtbMust[*RouteTable](t)(f.c.CreateRouteTable(rtbCaller, CreateRouteTableInput{VpcID: f.vpc.ID}))
	rtbOK(t, f.c.CreateRoute(rtbCaller, RouteInput{RouteTableID: rt.ID, DestinationCidrBlock: "192.168.0.0/16", NetworkInterfaceID: f.eni.ID}))
	base := func(mod func(*RouteInput)) RouteInput {
		in := RouteInput{RouteTableID: rt.ID, DestinationCidrBlock: "172.16.0.0/12", NetworkInterfaceID: f.eni.ID}
		mod(&in)
		return in
	}
	for _, tc := range []struct {
		name    string
		replace bool
		who     Caller
		in      RouteInput
		want    string
	}{
		{"no destination", false, rtbCaller, base(func(in *RouteInput) { in.DestinationCidrBlock = "" }), "MissingParameter"},
		{"two destinations", false, rtbCaller, base(func(in *RouteInput) { in.DestinationPrefixListID = "pl-12345678" }), "InvalidParameterCombination"},
		{"bad cidr", false, rtbCaller, base(func(in *RouteInput) { in.DestinationCidrBlock = "10.0.0.0/33" }), "InvalidParameterValue"},
		{"ipv6 cidr", false, rtbCaller, base(func(in *RouteInput) { in.DestinationCidrBlock = "2001:db8::/32" }), "InvalidParameterValue"},
		{"bad prefix list", false, rtbCaller, base(func(in *RouteInput) { in.DestinationCidrBlock, in.DestinationPrefixListID = "", "pl-xyz" }), "InvalidPrefixListId.Malformed"},
		{"no target", false, rtbCaller, base(func(in *RouteInput) { in.NetworkInterfaceID = "" }), "MissingParameter"},
		{"two targets", false, rtbCaller, base(func(in *RouteInput) { in.GatewayID = "local" }), "InvalidParameterCombination"},
		{"nat gateway", false, rtbCaller, base(func(in *RouteInput) {
			in.NetworkInterfaceID, in.Unsupported = "", []RouteTargetParam{{"natGatewayId", "nat-0123456789abcdef0"}}
		}), "InvalidParameterValue"},
		{"internet gateway", false, rtbCaller, base(func(in *RouteInput) { in.NetworkInterfaceID, in.GatewayID = "", "igw-0123456789abcdef0" }), "InvalidParameterValue"},
		{"local for a foreign cidr", false, rtbCaller, base(func(in *RouteInput) { in.NetworkInterfaceID, in.GatewayID = "", "local" }), "InvalidParameterValue"},
		{"localTarget on create", false, rtbCaller, base(func(in *RouteInput) { in.NetworkInterfaceID, in.LocalTarget = "", true }), "InvalidParameterValue"},
		{"missing table", false, rtbCaller, base(func(in *RouteInput) { in.RouteTableID = "rtb-0123456789abcdef0" }), "InvalidRouteTableID.NotFound"},
		{"malformed table", false, rtbCaller, base(func(in *RouteInput) { in.RouteTableID = "vpc-1" }), "InvalidRouteTableID.Malformed"},
		{"other account", false, rtbOther, base(func(in *RouteInput) {}), "InvalidRouteTableID.NotFound"},
		{"missing eni", false, rtbCaller, base(func(in *RouteInput) { in.NetworkInterfaceID = "eni-0123456789abcdef0" }), "InvalidNetworkInterfaceID.NotFound"},
		{"eni of another vpc", false, rtbCaller, base(func(in *RouteInput) { in.NetworkInterfaceID = f.eni2.ID }), "InvalidParameterValue"},
		{"endpoint", false, rtbCaller, base(func(in *RouteInput) { in.NetworkInterfaceID, in.VpcEndpointID = "", "vpce-0123456789abcdef0" }), "InvalidVpcEndpointId.NotFound"},
		{"endpoint as gateway", false, rtbCaller, base(func(in *RouteInput) { in.NetworkInterfaceID, in.GatewayID = "", "vpce-0123456789abcdef0" }), "InvalidVpcEndpointId.NotFound"},
		{"malformed endpoint", false, rtbCaller, base(func(in *RouteInput) { in.NetworkInterfaceID, in.VpcEndpointID = "", "vpce-zz" }), "InvalidVpcEndpointId.Malformed"},
		{"malformed eni", false, rtbCaller, base(func(in *RouteInput) { in.DestinationCidrBlock, in.NetworkInterfaceID = "192.168.0.0/16", f.eni.ID+"x" }), "InvalidNetworkInterfaceID.Malformed"},
		{"vpc cidr", false, rtbCaller, base(func(in *RouteInput) { in.DestinationCidrBlock = "10.0.0.0/16" }), "RouteAlreadyExists"},
		{"inside vpc", false, rtbCaller, base(func(in *RouteInput) { in.DestinationCidrBlock = "10.0.1.0/24" }), "InvalidParameterValue"},
		{"replace missing", true, rtbCaller, base(func(in *RouteInput) {}), "InvalidParameterValue"},
		{"replace local", true, rtbCaller, base(func(in *RouteInput) { in.DestinationCidrBlock = "10.0.0.0/16" }), "InvalidParameterValue"},
		{"replace with nothing", true, rtbCaller, base(func(in *RouteInput) { in.DestinationCidrBlock, in.NetworkInterfaceID = "192.168.0.0/16", "" }), "MissingParameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := f.c.CreateRoute
			if tc.replace {
				call = f.c.ReplaceRoute
			}
			if err := call(tc.who, tc.in); rtbCode(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
	// None of that changed the table.
	want := []Route{
		{DestinationCidrBlock: "10.0.0.0/16", GatewayID: "local", Origin: OriginCreateRouteTable, State: RouteActive},
		{DestinationCidrBlock: "192.168.0.0/16", NetworkInterfaceID: f.eni.ID, Origin: OriginCreateRoute, State: RouteActive},
	}
	if got := f.table(t, rt.ID).Routes; !reflect.DeepEqual(got, want) {
		t.Fatalf("routes after refusals = %+v", got)
	}
}

func TestRouteLifecycleAndBlackhole(t *testing.T) {
	f := newRtbFixture(t)
	rt := rtbMust[*RouteTable](t)(f.c.CreateRouteTable(rtbCaller, CreateRouteTableInput{VpcID: f.vpc.ID}))
	eniB := rtbMust[*NetworkInterface](t)(f.c.CreateNetworkInterface(rtbCaller, CreateNetworkInterfaceInput{SubnetID: f.sub2.ID}))
	add := func(in RouteInput) {
		t.Helper()
		in.RouteTableID = rt.ID
		if err := f.c.CreateRoute(rtbCaller, in); err != nil {
			t.Fatal(err)
		}
	}
	add(RouteInput{DestinationCidrBlock: "192.168.7.9/16", NetworkInterfaceID: f.eni.ID}) // canonicalised
	add(RouteInput{DestinationPrefixListID: "pl-0123abcd", NetworkInterfaceID: eniB.ID})
	for _, dup := range []RouteInput{
		{DestinationCidrBlock: "192.168.0.0/16", NetworkInterfaceID: f.eni.ID}, // the same route again
		{DestinationCidrBlock: "192.168.0.0/16", NetworkInterfaceID: eniB.ID},  // another target
		{DestinationCidrBlock: "10.0.0.0/16", GatewayID: "local"},              // the local route itself
	} {
		dup.RouteTableID = rt.ID
		if err := f.c.CreateRoute(rtbCaller, dup); rtbCode(err) != "RouteAlreadyExists" {
			t.Fatalf("duplicate %+v: %v", dup, err)
		}
	}
	if err := f.c.ReplaceRoute(rtbCaller, RouteInput{RouteTableID: rt.ID, DestinationCidrBlock: "192.168.0.0/16", NetworkInterfaceID: eniB.ID}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.ReplaceRoute(rtbCaller, RouteInput{RouteTableID: rt.ID, DestinationCidrBlock: "10.0.0.0/16", LocalTarget: true}); err != nil {
		t.Fatalf("restoring the local target: %v", err)
	}
	// DryRun deletes nothing.
	dry := rtbCaller
	dry.DryRun = true
	if err := f.c.DeleteRoute(dry, rt.ID, "192.168.0.0/16", ""); rtbCode(err) != "DryRunOperation" {
		t.Fatalf("DryRun: %v", err)
	}
	rtbOK(t, f.c.DeleteNetworkInterface(rtbCaller, eniB.ID))
	got := f.table(t, rt.ID).Routes
	want := []Route{
		{DestinationCidrBlock: "10.0.0.0/16", GatewayID: "local", Origin: OriginCreateRouteTable, State: RouteActive},
		{DestinationCidrBlock: "192.168.0.0/16", NetworkInterfaceID: eniB.ID, Origin: OriginCreateRoute, State: RouteBlackhole},
		{DestinationPrefixListID: "pl-0123abcd", NetworkInterfaceID: eniB.ID, Origin: OriginCreateRoute, State: RouteBlackhole},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("routes = %+v\nwant    %+v", got, want)
	}
	blackholes, _, err := f.c.DescribeRouteTables(rtbCaller, nil, []Filter{{Name: "route.state", Values: []string{"blackhole"}}}, Page{})
	if err != nil || len(blackholes) != 1 || blackholes[0].ID != rt.ID {
		t.Fatalf("route.state=blackhole: %v, %v", blackholes, err)
	}
	if err := f.c.DeleteRoute(rtbCaller, rt.ID, "10.0.0.0/16", ""); rtbCode(err) != "InvalidParameterValue" {
		t.Fatalf("delete local: %v", err)
	}
	if err := f.c.DeleteRoute(rtbCaller, rt.ID, "172.16.0.0/12", ""); rtbCode(err) != "InvalidRoute.NotFound" {
		t.Fatalf("delete missing: %v", err)
	}
	if err := f.c.DeleteRoute(rtbCaller, rt.ID, "", "pl-0000aaaa"); rtbCode(err) != "InvalidRoute.NotFound" {
		t.Fatalf("delete missing prefix list: %v", err)
	}
	rtbOK(t, f.c.DeleteRoute(rtbCaller, rt.ID, "192.168.1.1/16", ""))
	rtbOK(t, f.c.DeleteRoute(rtbCaller, rt.ID, "", "pl-0123abcd"))
	if got := f.table(t, rt.ID).Routes; len(got) != 1 || !got[0].Local() {
		t.Fatalf("after deletes: %+v", got)
	}
}

func TestAssociationErrors(t *testing.T) {
	f := newRtbFixture(t)
	rt := rtbMust[*RouteTable](t)(f.c.CreateRouteTable(rtbCaller, CreateRouteTableInput{VpcID: f.vpc.ID}))
	rt2 := rtbMust[*RouteTable](t)(f.c.CreateRouteTable(rtbCaller, CreateRouteTableInput{VpcID: f.vpc2.ID}))
	a := rtbMust[*TableAssociation](t)(f.c.AssociateRouteTable(rtbCaller, AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: f.sub1.ID}))
	for _, tc := range []struct {
		name string
		in   AssociateRouteTableInput
		who  Caller
		want string
	}{
		{"again", AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: f.sub1.ID}, rtbCaller, "Resource.AlreadyAssociated"},
		{"to main too", AssociateRouteTableInput{RouteTableID: f.vpc.MainRouteTableID, SubnetID: f.sub1.ID}, rtbCaller, "Resource.AlreadyAssociated"},
		{"other vpc", AssociateRouteTableInput{RouteTableID: rt2.ID, SubnetID: f.sub2.ID}, rtbCaller, "InvalidParameterValue"},
		{"missing subnet", AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: "subnet-0123456789abcdef0"}, rtbCaller, "InvalidSubnetID.NotFound"},
		{"no subnet", AssociateRouteTableInput{RouteTableID: rt.ID}, rtbCaller, "MissingParameter"},
		{"gateway", AssociateRouteTableInput{RouteTableID: rt.ID, GatewayID: "igw-0123456789abcdef0"}, rtbCaller, "InvalidParameterValue"},
		{"both", AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: f.sub2.ID, GatewayID: "igw-0123456789abcdef0"}, rtbCaller, "InvalidParameterCombination"},
		{"other account", AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: f.sub2.ID}, rtbOther, "InvalidRouteTableID.NotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.c.AssociateRouteTable(tc.who, tc.in); rtbCode(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
	main := f.table(t, f.vpc.MainRouteTableID)
	if err := f.c.DisassociateRouteTable(rtbCaller, main.Associations[0].ID); rtbCode(err) != "InvalidParameterValue" {
		t.Fatalf("disassociate main: %v", err)
	}
	if err := f.c.DisassociateRouteTable(rtbOther, a.ID); rtbCode(err) != "InvalidAssociationID.NotFound" {
		t.Fatalf("other account disassociates: %v", err)
	}
	if _, err := f.c.ReplaceRouteTableAssociation(rtbCaller, a.ID, rt2.ID); rtbCode(err) != "InvalidParameterValue" {
		t.Fatalf("replace into another VPC: %v", err)
	}
	if _, err := f.c.ReplaceRouteTableAssociation(rtbCaller, "rtbassoc-0123456789abcdef0", rt.ID); rtbCode(err) != "InvalidAssociationID.NotFound" {
		t.Fatalf("replace missing: %v", err)
	}
	same := rtbMust[*TableAssociation](t)(f.c.ReplaceRouteTableAssociation(rtbCaller, a.ID, rt.ID))
	if same.ID != a.ID {
		t.Fatalf("replace onto the same table: %+v", same)
	}
	moved := rtbMust[*TableAssociation](t)(f.c.ReplaceRouteTableAssociation(rtbCaller, a.ID, main.ID))
	if moved.ID == a.ID || moved.SubnetID != f.sub1.ID || moved.Main {
		t.Fatalf("moved = %+v", moved)
	}
	if err := f.c.DisassociateRouteTable(rtbCaller, a.ID); rtbCode(err) != "InvalidAssociationID.NotFound" {
		t.Fatalf("old association id after replace: %v", err)
	}
	if got := f.table(t, rt.ID); len(got.Associations) != 0 {
		t.Fatalf("old table keeps %+v", got.Associations)
	}
}

func TestRouteTableFilters(t *testing.T) {
	f := newRtbFixture(t)
	rt := rtbMust[*RouteTable](t)(f.c.CreateRouteTable(rtbCaller, CreateRouteTableInput{VpcID: f.vpc.ID}))
	bare := rtbMust[*RouteTable](t)(f.c.CreateRouteTable(rtbCaller, CreateRouteTableInput{VpcID: f.vpc.ID}))
	main := f.vpc.MainRouteTableID
	rtbMust[*TableAssociation](t)(f.c.AssociateRouteTable(rtbCaller, AssociateRouteTableInput{RouteTableID: rt.ID, SubnetID: f.sub1.ID}))
	rtbMust[*TableAssociation](t)(f.c.AssociateRouteTable(rtbCaller, AssociateRouteTableInput{RouteTableID: main, SubnetID: f.sub2.ID}))
	ids := func(fs ...Filter) []string {
		t.Helper()
		out, _, err := f.c.DescribeRouteTables(rtbCaller, nil, fs, Page{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range out {
			got = append(got, r.ID)
		}
		return got
	}
	has := func(got []string, want ...string) bool {
		m := map[string]bool{}
		for _, g := range got {
			m[g] = true
		}
		if len(m) != len(want) {
			return false
		}
		for _, w := range want {
			if !m[w] {
				return false
			}
		}
		return true
	}
	if got := ids(Filter{"association.main", []string{"true"}}, Filter{"vpc-id", []string{f.vpc.ID}}); !has(got, main) {
		t.Errorf("main=true: %v", got)
	}
	// A main table with an explicit subnet association matches false too;
	// a table without associations matches neither.
	if got := ids(Filter{"association.main", []string{"false"}}, Filter{"vpc-id", []string{f.vpc.ID}}); !has(got, main, rt.ID) {
		t.Errorf("main=false: %v (bare %s must not match)", got, bare.ID)
	}
	if got := ids(Filter{"association.subnet-id", []string{f.sub1.ID}}); !has(got, rt.ID) {
		t.Errorf("association.subnet-id: %v", got)
	}
	if got := ids(Filter{"route.gateway-id", []string{"local"}}, Filter{"vpc-id", []string{f.vpc.ID}}); !has(got, main, rt.ID, bare.ID) {
		t.Errorf("route.gateway-id: %v", got)
	}
	if _, _, err := f.c.DescribeRouteTables(rtbCaller, nil, []Filter{{"route.bogus", []string{"x"}}}, Page{}); rtbCode(err) != "InvalidParameterValue" {
		t.Errorf("unknown filter: %v", err)
	}
	if _, _, err := f.c.DescribeRouteTables(rtbCaller, nil, nil, Page{MaxResults: 101}); rtbCode(err) != "InvalidParameterValue" {
		t.Errorf("MaxResults 101: %v", err)
	}
}
