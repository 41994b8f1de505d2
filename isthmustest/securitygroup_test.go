package isthmustest_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/isthmusnet/isthmus/isthmustest"
)

// sgVpc creates a VPC and returns its id and default group id.
func sgVpc(t *testing.T, ctx context.Context, c *isthmustest.Client, cidr string) (string, string) {
	t.Helper()
	out, err := c.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(cidr)})
	if err != nil {
		t.Fatal(err)
	}
	vpc := aws.ToString(out.Vpc.VpcId)
	d, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil || len(d.SecurityGroups) != 1 {
		t.Fatalf("default group of %s: %+v, %v", vpc, d, err)
	}
	return vpc, aws.ToString(d.SecurityGroups[0].GroupId)
}

func sgCreate(t *testing.T, ctx context.Context, c *isthmustest.Client, vpc, name string) string {
	t.Helper()
	out, err := c.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name + " servers"), VpcId: aws.String(vpc)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.GroupId)
}

func sgDescribe(t *testing.T, ctx context.Context, c *isthmustest.Client, id string) types.SecurityGroup {
	t.Helper()
	out, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err != nil || len(out.SecurityGroups) != 1 {
		t.Fatalf("describe %s: %+v, %v", id, out, err)
	}
	return out.SecurityGroups[0]
}

func sgRules(t *testing.T, ctx context.Context, c *isthmustest.Client, group string) []types.SecurityGroupRule {
	t.Helper()
	out, err := c.EC2.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{group}}}})
	if err != nil {
		t.Fatal(err)
	}
	return out.SecurityGroupRules
}

func tcp(port int32, cidrs ...string) types.IpPermission {
	p := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port)}
	for _, c := range cidrs {
		p.IpRanges = append(p.IpRanges, types.IpRange{CidrIp: aws.String(c)})
	}
	return p
}

func TestSecurityGroupLifecycleAcrossAccounts(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	b := env.Account("222222222222")
	vpc, _ := sgVpc(t, ctx, a, "10.0.0.0/16")

	out, err := a.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("web"), Description: aws.String("web servers"), VpcId: aws.String(vpc),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup,
			Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.GroupId)
	if !strings.HasPrefix(id, "sg-") || len(id) != 20 {
		t.Errorf("GroupId = %q", id)
	}
	if got, want := aws.ToString(out.SecurityGroupArn), "arn:aws:ec2:us-east-1:111111111111:security-group/"+id; got != want {
		t.Errorf("SecurityGroupArn = %q, want %q", got, want)
	}
	if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Value) != "web" {
		t.Errorf("Tags = %+v", out.Tags)
	}

	// A new group has no inbound rule and one outbound rule: all to 0.0.0.0/0.
	g := sgDescribe(t, ctx, a, id)
	if aws.ToString(g.GroupName) != "web" || aws.ToString(g.Description) != "web servers" ||
		aws.ToString(g.VpcId) != vpc || aws.ToString(g.OwnerId) != "111111111111" {
		t.Errorf("group = %+v", g)
	}
	if len(g.IpPermissions) != 0 {
		t.Errorf("IpPermissions = %+v, want none", g.IpPermissions)
	}
	if len(g.IpPermissionsEgress) != 1 {
		t.Fatalf("IpPermissionsEgress = %+v", g.IpPermissionsEgress)
	}
	e := g.IpPermissionsEgress[0]
	if aws.ToString(e.IpProtocol) != "-1" || e.FromPort != nil || e.ToPort != nil ||
		len(e.IpRanges) != 1 || aws.ToString(e.IpRanges[0].CidrIp) != "0.0.0.0/0" {
		t.Errorf("default egress = %+v", e)
	}

	// B sees nothing of A's, and A's group is NotFound to it.
	d, err := b.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil || len(d.SecurityGroups) != 0 {
		t.Fatalf("B DescribeSecurityGroups = %+v, %v", d, err)
	}
	_, err = b.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if errorCode(err) != "InvalidGroup.NotFound" {
		t.Fatalf("B describing A's group: %v", err)
	}
	_, err = b.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: []types.IpPermission{tcp(22, "0.0.0.0/0")}})
	if errorCode(err) != "InvalidGroup.NotFound" {
		t.Fatalf("B authorizing on A's group: %v", err)
	}
	if _, err := b.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)}); errorCode(err) != "InvalidGroup.NotFound" {
		t.Fatalf("B deleting A's group: %v", err)
	}
	if _, err := b.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("x"), Description: aws.String("x"), VpcId: aws.String(vpc)}); errorCode(err) != "InvalidVpcID.NotFound" {
		t.Fatalf("B creating in A's VPC: %v", err)
	}
	if _, err := b.EC2.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{}); err != nil {
		t.Fatal(err)
	}
	if got := sgRules(t, ctx, b, id); len(got) != 0 {
		t.Errorf("B sees A's rules: %+v", got)
	}

	// Names: unique per VPC (case-insensitive), "default" reserved, no sg- prefix.
	for _, c := range []struct{ name, desc, vpc, code string }{
		{"WEB", "again", vpc, "InvalidGroup.Duplicate"},
		{"default", "d", vpc, "InvalidParameterValue"},
		{"sg-web", "d", vpc, "InvalidParameterValue"},
		{"web2", "d", "", "VPCIdNotSpecified"},
		{"web2", "d", "vpc-0123456789abcdef0", "InvalidVpcID.NotFound"},
		{"web2", "d", "bogus", "InvalidVpcID.Malformed"},
		{strings.Repeat("n", 256), "d", vpc, "InvalidParameterValue"},
		{"web2", "caf\u00e9", vpc, "InvalidParameterValue"},
		{"web|2", "d", vpc, "InvalidParameterValue"},
	} {
		in := &ec2.CreateSecurityGroupInput{GroupName: aws.String(c.name), Description: aws.String(c.desc)}
		if c.vpc != "" {
			in.VpcId = aws.String(c.vpc)
		}
		if _, err := a.EC2.CreateSecurityGroup(ctx, in); errorCode(err) != c.code {
			t.Errorf("create %q in %q: %v, want %s", c.name, c.vpc, err, c.code)
		}
	}
	// The same name is fine in another VPC.
	vpc2, _ := sgVpc(t, ctx, a, "10.1.0.0/16")
	sgCreate(t, ctx, a, vpc2, "web")

	// GroupName is a default-VPC parameter; there is no default VPC.
	_, err = a.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"web"}})
	if errorCode(err) != "VPCIdNotSpecified" {
		t.Fatalf("GroupNames: %v", err)
	}
	if _, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupName: aws.String("web")}); errorCode(err) != "VPCIdNotSpecified" {
		t.Fatalf("delete by name: %v", err)
	}

	if _, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}}); errorCode(err) != "InvalidGroup.NotFound" {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String("sg-bogus")}); errorCode(err) != "InvalidGroupId.Malformed" {
		t.Fatalf("malformed id: %v", err)
	}
}

func TestDefaultSecurityGroup(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	_, def := sgVpc(t, ctx, a, "10.0.0.0/16")

	g := sgDescribe(t, ctx, a, def)
	if aws.ToString(g.Description) != "default VPC security group" {
		t.Errorf("Description = %q", aws.ToString(g.Description))
	}
	if len(g.IpPermissions) != 1 || aws.ToString(g.IpPermissions[0].IpProtocol) != "-1" ||
		len(g.IpPermissions[0].UserIdGroupPairs) != 1 ||
		aws.ToString(g.IpPermissions[0].UserIdGroupPairs[0].GroupId) != def ||
		aws.ToString(g.IpPermissions[0].UserIdGroupPairs[0].UserId) != "111111111111" {
		t.Errorf("default ingress = %+v", g.IpPermissions)
	}
	if len(g.IpPermissionsEgress) != 1 || aws.ToString(g.IpPermissionsEgress[0].IpRanges[0].CidrIp) != "0.0.0.0/0" {
		t.Errorf("default egress = %+v", g.IpPermissionsEgress)
	}

	rules := sgRules(t, ctx, a, def)
	if len(rules) != 2 {
		t.Fatalf("rules = %+v", rules)
	}
	for _, r := range rules {
		if aws.ToInt32(r.FromPort) != -1 || aws.ToInt32(r.ToPort) != -1 || aws.ToString(r.IpProtocol) != "-1" ||
			aws.ToString(r.GroupId) != def || aws.ToString(r.GroupOwnerId) != "111111111111" {
			t.Errorf("rule = %+v", r)
		}
		if aws.ToBool(r.IsEgress) {
			if aws.ToString(r.CidrIpv4) != "0.0.0.0/0" {
				t.Errorf("egress rule = %+v", r)
			}
		} else if r.ReferencedGroupInfo == nil || aws.ToString(r.ReferencedGroupInfo.GroupId) != def {
			t.Errorf("ingress rule = %+v", r)
		}
	}

	_, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(def)})
	if errorCode(err) != "CannotDelete" {
		t.Fatalf("deleting the default group: %v", err)
	}
	sgDescribe(t, ctx, a, def)
}

func TestSecurityGroupRulesPeersAndWireShape(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	vpc, _ := sgVpc(t, ctx, a, "10.0.0.0/16")
	web := sgCreate(t, ctx, a, vpc, "web")
	lb := sgCreate(t, ctx, a, vpc, "lb")

	// One permission with every kind of peer, and an ICMP one.
	p := tcp(443, "10.1.2.3/16", "192.168.0.0/24")
	p.IpRanges[1].Description = aws.String("office")
	p.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: aws.String("2001:DB8::1/32")}}
	p.PrefixListIds = []types.PrefixListId{{PrefixListId: aws.String("pl-63a5400a")}}
	p.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(lb), Description: aws.String("from lb")}}
	icmp := types.IpPermission{IpProtocol: aws.String("icmp"), FromPort: aws.Int32(8), ToPort: aws.Int32(-1), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}
	out, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web), IpPermissions: []types.IpPermission{p, icmp}})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(out.Return) || len(out.SecurityGroupRules) != 6 {
		t.Fatalf("authorize = %+v", out)
	}
	peers := map[string]types.SecurityGroupRule{}
	for _, r := range out.SecurityGroupRules {
		if !strings.HasPrefix(aws.ToString(r.SecurityGroupRuleId), "sgr-") || aws.ToString(r.GroupId) != web || aws.ToBool(r.IsEgress) {
			t.Errorf("rule = %+v", r)
		}
		want := "arn:aws:ec2:us-east-1:111111111111:security-group-rule/" + aws.ToString(r.SecurityGroupRuleId)
		if aws.ToString(r.SecurityGroupRuleArn) != want {
			t.Errorf("SecurityGroupRuleArn = %q, want %q", aws.ToString(r.SecurityGroupRuleArn), want)
		}
		var peer string
		switch {
		case r.CidrIpv4 != nil:
			peer = *r.CidrIpv4
		case r.CidrIpv6 != nil:
			peer = *r.CidrIpv6
		case r.PrefixListId != nil:
			peer = *r.PrefixListId
		case r.ReferencedGroupInfo != nil:
			peer = aws.ToString(r.ReferencedGroupInfo.GroupId)
		}
		peers[peer] = r
	}
	// CIDRs are canonicalized.
	for _, want := range []string{"10.1.0.0/16", "192.168.0.0/24", "2001:db8::/32", "pl-63a5400a", lb} {
		if _, ok := peers[want]; !ok {
			t.Errorf("no rule for peer %s in %v", want, peers)
		}
	}
	if r := peers["192.168.0.0/24"]; aws.ToString(r.Description) != "office" || aws.ToInt32(r.FromPort) != 443 || aws.ToString(r.IpProtocol) != "tcp" {
		t.Errorf("office rule = %+v", r)
	}
	if r := peers[lb]; aws.ToString(r.ReferencedGroupInfo.UserId) != "111111111111" || aws.ToString(r.Description) != "from lb" {
		t.Errorf("group rule = %+v", r)
	}

	// Describe merges rules with the same protocol and ports.
	g := sgDescribe(t, ctx, a, web)
	if len(g.IpPermissions) != 2 {
		t.Fatalf("IpPermissions = %+v", g.IpPermissions)
	}
	m := g.IpPermissions[0]
	if aws.ToString(m.IpProtocol) != "tcp" || aws.ToInt32(m.FromPort) != 443 || aws.ToInt32(m.ToPort) != 443 ||
		len(m.IpRanges) != 2 || len(m.Ipv6Ranges) != 1 || len(m.PrefixListIds) != 1 || len(m.UserIdGroupPairs) != 1 {
		t.Errorf("merged permission = %+v", m)
	}
	if aws.ToString(m.IpRanges[1].Description) != "office" || aws.ToString(m.UserIdGroupPairs[0].GroupId) != lb ||
		aws.ToString(m.Ipv6Ranges[0].CidrIpv6) != "2001:db8::/32" || aws.ToString(m.PrefixListIds[0].PrefixListId) != "pl-63a5400a" {
		t.Errorf("merged peers = %+v", m)
	}
	if i := g.IpPermissions[1]; aws.ToString(i.IpProtocol) != "icmp" || aws.ToInt32(i.FromPort) != 8 || aws.ToInt32(i.ToPort) != -1 {
		t.Errorf("icmp permission = %+v", i)
	}

	// Duplicates, against the group or within the call, add nothing.
	_, err = a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{tcp(80, "0.0.0.0/0"), tcp(443, "10.1.0.0/16")}})
	if errorCode(err) != "InvalidPermission.Duplicate" || !strings.Contains(err.Error(), `"peer: 10.1.0.0/16, TCP, from port: 443, to port: 443, ALLOW"`) {
		t.Fatalf("duplicate: %v", err)
	}
	_, err = a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{tcp(80, "0.0.0.0/0", "0.0.0.0/0")}})
	if errorCode(err) != "InvalidPermission.Duplicate" {
		t.Fatalf("duplicate within the call: %v", err)
	}
	if n := len(sgRules(t, ctx, a, web)); n != 7 {
		t.Fatalf("%d rules after refused duplicates, want 7", n)
	}

	// Bad input: AWS's codes, nothing changes.
	for _, c := range []struct {
		p    types.IpPermission
		code string
	}{
		{types.IpPermission{IpProtocol: aws.String("tcp"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}, "InvalidParameterValue"},
		{types.IpPermission{IpProtocol: aws.String("tcp"), ToPort: aws.Int32(22), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}, "InvalidPermission.Malformed"},
		{types.IpPermission{IpProtocol: aws.String("udp"), FromPort: aws.Int32(1), ToPort: aws.Int32(70000), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}, "InvalidPermission.Malformed"},
		{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(90), ToPort: aws.Int32(80), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}, "InvalidParameterValue"},
		{types.IpPermission{IpProtocol: aws.String("icmp"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}, "InvalidParameterValue"},
		{types.IpPermission{IpProtocol: aws.String("bogus"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}, "InvalidParameterValue"},
		{tcp(22, "10.0.0.0/33"), "InvalidParameterValue"},
		{tcp(22, "2001:db8::/32"), "InvalidParameterValue"},
		{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), PrefixListIds: []types.PrefixListId{{PrefixListId: aws.String("pl-xyz")}}}, "InvalidPrefixListId.Malformed"},
		{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String("sg-0123456789abcdef0")}}}, "InvalidGroup.NotFound"},
		{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), UserIdGroupPairs: []types.UserIdGroupPair{{GroupName: aws.String("lb")}}}, "VPCIdNotSpecified"},
		{types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0"), Description: aws.String("bad|desc")}}}, "InvalidParameterValue"},
	} {
		_, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web), IpPermissions: []types.IpPermission{tcp(8080, "0.0.0.0/0"), c.p}})
		if errorCode(err) != c.code {
			t.Errorf("authorize %+v: %v, want %s", c.p, err, c.code)
		}
	}
	if n := len(sgRules(t, ctx, a, web)); n != 7 {
		t.Fatalf("%d rules after refused calls, want 7", n)
	}
	// A permission without any peer is accepted and adds nothing, as on AWS.
	nop, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web), IpPermissions: []types.IpPermission{tcp(9000)}})
	if err != nil || len(nop.SecurityGroupRules) != 0 {
		t.Fatalf("peerless permission: %+v, %v", nop, err)
	}

	// The legacy flat parameters make one CIDR rule; protocol numbers are named.
	flat, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web),
		IpProtocol: aws.String("6"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIp: aws.String("203.0.113.0/24")})
	if err != nil || len(flat.SecurityGroupRules) != 1 || aws.ToString(flat.SecurityGroupRules[0].IpProtocol) != "tcp" ||
		aws.ToString(flat.SecurityGroupRules[0].CidrIpv4) != "203.0.113.0/24" {
		t.Fatalf("flat authorize: %+v, %v", flat, err)
	}
	_, err = a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web),
		SourceSecurityGroupName: aws.String("lb")})
	if errorCode(err) != "VPCIdNotSpecified" {
		t.Fatalf("SourceSecurityGroupName: %v", err)
	}

	// Revoke each peer kind by its exact rule (descriptions do not matter).
	rp := tcp(443, "192.168.0.0/24")
	rp.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: aws.String("2001:db8::/32")}}
	rp.PrefixListIds = []types.PrefixListId{{PrefixListId: aws.String("pl-63a5400a")}}
	rp.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(lb)}}
	rv, err := a.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(web), IpPermissions: []types.IpPermission{rp}})
	if err != nil || !aws.ToBool(rv.Return) || len(rv.RevokedSecurityGroupRules) != 4 {
		t.Fatalf("revoke: %+v, %v", rv, err)
	}
	// A rule that does not exist fails the call; the existing one in the
	// same call stays.
	_, err = a.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{tcp(443, "10.1.0.0/16"), tcp(444, "10.1.0.0/16")}})
	if errorCode(err) != "InvalidPermission.NotFound" {
		t.Fatalf("revoke missing rule: %v", err)
	}
	rules := sgRules(t, ctx, a, web)
	if len(rules) != 4 {
		t.Fatalf("rules after revokes = %+v", rules)
	}
	// Revoke by id.
	id := aws.ToString(peers["10.1.0.0/16"].SecurityGroupRuleId)
	rv, err = a.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(web), SecurityGroupRuleIds: []string{id}})
	if err != nil || len(rv.RevokedSecurityGroupRules) != 1 || aws.ToString(rv.RevokedSecurityGroupRules[0].SecurityGroupRuleId) != id ||
		aws.ToString(rv.RevokedSecurityGroupRules[0].CidrIpv4) != "10.1.0.0/16" {
		t.Fatalf("revoke by id: %+v, %v", rv, err)
	}
	_, err = a.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(web), SecurityGroupRuleIds: []string{id}})
	if errorCode(err) != "InvalidSecurityGroupRuleId.NotFound" {
		t.Fatalf("revoke gone id: %v", err)
	}

	// Egress: authorize to the lb group, revoke the default allow-all.
	eg, err := a.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(lb)}}}}})
	if err != nil || len(eg.SecurityGroupRules) != 1 || !aws.ToBool(eg.SecurityGroupRules[0].IsEgress) {
		t.Fatalf("authorize egress: %+v, %v", eg, err)
	}
	_, err = a.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
	if errorCode(err) != "InvalidPermission.Duplicate" {
		t.Fatalf("duplicate default egress: %v", err)
	}
	if _, err := a.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}
	g = sgDescribe(t, ctx, a, web)
	if len(g.IpPermissionsEgress) != 1 || aws.ToInt32(g.IpPermissionsEgress[0].FromPort) != 8080 ||
		aws.ToString(g.IpPermissionsEgress[0].UserIdGroupPairs[0].GroupId) != lb {
		t.Fatalf("egress after changes = %+v", g.IpPermissionsEgress)
	}
	// An ingress rule id is not an egress rule.
	_, err = a.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(web),
		SecurityGroupRuleIds: []string{aws.ToString(flat.SecurityGroupRules[0].SecurityGroupRuleId)}})
	if errorCode(err) != "InvalidSecurityGroupRuleId.NotFound" {
		t.Fatalf("revoke ingress id as egress: %v", err)
	}

	// ModifySecurityGroupRules rewrites a rule in place.
	fid := aws.ToString(flat.SecurityGroupRules[0].SecurityGroupRuleId)
	if _, err := a.EC2.ModifySecurityGroupRules(ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: aws.String(web),
		SecurityGroupRules: []types.SecurityGroupRuleUpdate{{SecurityGroupRuleId: aws.String(fid), SecurityGroupRule: &types.SecurityGroupRuleRequest{
			IpProtocol: aws.String("tcp"), FromPort: aws.Int32(2222), ToPort: aws.Int32(2222), CidrIpv4: aws.String("203.0.113.0/24"), Description: aws.String("ssh"),
		}}}}); err != nil {
		t.Fatal(err)
	}
	mr, err := a.EC2.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{fid}})
	if err != nil || len(mr.SecurityGroupRules) != 1 || aws.ToInt32(mr.SecurityGroupRules[0].FromPort) != 2222 || aws.ToString(mr.SecurityGroupRules[0].Description) != "ssh" {
		t.Fatalf("modified rule: %+v, %v", mr, err)
	}
}

func TestSecurityGroupReferencesAcrossVpcsAndAccounts(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	b := env.Account("222222222222")
	vpcA, _ := sgVpc(t, ctx, a, "10.0.0.0/16")
	vpcA2, defA2 := sgVpc(t, ctx, a, "10.1.0.0/16")
	_ = vpcA2
	vpcB, _ := sgVpc(t, ctx, b, "10.0.0.0/16")
	web := sgCreate(t, ctx, a, vpcA, "web")
	other := sgCreate(t, ctx, b, vpcB, "other")

	ref := func(group, user string) error {
		pair := types.UserIdGroupPair{GroupId: aws.String(group)}
		if user != "" {
			pair.UserId = aws.String(user)
		}
		_, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web),
			IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), UserIdGroupPairs: []types.UserIdGroupPair{pair}}}})
		return err
	}
	// Another account's group is unknown without its owner, and in another
	// VPC it cannot be referenced at all.
	if err := ref(other, ""); errorCode(err) != "InvalidGroup.NotFound" {
		t.Errorf("B's group without UserId: %v", err)
	}
	if err := ref(other, "222222222222"); errorCode(err) != "InvalidGroup.NotFound" || !strings.Contains(err.Error(), "different networks") {
		t.Errorf("B's group in another VPC: %v", err)
	}
	if err := ref(defA2, ""); errorCode(err) != "InvalidGroup.NotFound" {
		t.Errorf("A's group in another VPC: %v", err)
	}
	// A group may reference itself.
	if err := ref(web, "111111111111"); err != nil {
		t.Fatal(err)
	}
	if g := sgDescribe(t, ctx, a, web); len(g.IpPermissions) != 1 {
		t.Errorf("self reference: %+v", g.IpPermissions)
	}
}

func TestDeleteSecurityGroupReferenced(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	vpc, def := sgVpc(t, ctx, a, "10.0.0.0/16")
	web := sgCreate(t, ctx, a, vpc, "web")
	db := sgCreate(t, ctx, a, vpc, "db")

	// db admits web; web may also admit itself.
	for _, c := range []struct{ group, peer string }{{db, web}, {web, web}} {
		if _, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(c.group),
			IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432),
				UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(c.peer)}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(web)}); errorCode(err) != "DependencyViolation" {
		t.Fatalf("delete referenced group: %v", err)
	}
	// The data plane sees the reference (no members yet: no addresses).
	rgs, err := env.Cloud.ResolvedSecurityGroups(isthmustest.Region)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range rgs {
		ids = append(ids, g.ID)
		if g.ID == db && (len(g.Ingress) != 1 || g.Ingress[0].GroupID != web || g.Ingress[0].Protocol != 6 || len(g.Ingress[0].Prefixes) != 0) {
			t.Errorf("resolved db = %+v", g)
		}
	}
	want := []string{def, web, db}
	sort.Strings(want)
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("resolved groups %v, want %v", ids, want)
	}

	// Once db no longer references it, web goes (its self reference does not count).
	if _, err := a.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(db),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432),
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(web)}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(web)}); err != nil {
		t.Fatalf("delete after revoke: %v", err)
	}
	// A VPC with a group of its own still has dependencies.
	if _, err := a.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpc)}); errorCode(err) != "DependencyViolation" {
		t.Fatalf("delete VPC with a group: %v", err)
	}
}

func TestSecurityGroupFiltersAndPagination(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	vpc, def := sgVpc(t, ctx, a, "10.0.0.0/16")
	web := sgCreate(t, ctx, a, vpc, "web")
	db := sgCreate(t, ctx, a, vpc, "db")
	if _, err := a.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{db}, Tags: []types.Tag{{Key: aws.String("tier"), Value: aws.String("data")}}}); err != nil {
		t.Fatal(err)
	}
	p := tcp(5432, "10.0.1.0/24")
	p.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(web)}}
	if _, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(db), IpPermissions: []types.IpPermission{p},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroupRule, Tags: []types.Tag{{Key: aws.String("app"), Value: aws.String("pg")}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("udp"), FromPort: aws.Int32(53), ToPort: aws.Int32(53), Ipv6Ranges: []types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}}}}); err != nil {
		t.Fatal(err)
	}

	find := func(filters ...types.Filter) []string {
		t.Helper()
		out, err := a.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: filters})
		if err != nil {
			t.Fatalf("filters %+v: %v", filters, err)
		}
		var ids []string
		for _, g := range out.SecurityGroups {
			ids = append(ids, aws.ToString(g.GroupId))
		}
		sort.Strings(ids)
		return ids
	}
	f := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	sorted := func(ids ...string) []string { sort.Strings(ids); return ids }
	for _, c := range []struct {
		filters []types.Filter
		want    []string
	}{
		{[]types.Filter{f("vpc-id", vpc)}, sorted(def, web, db)},
		{[]types.Filter{f("group-name", "w*")}, []string{web}},
		{[]types.Filter{f("group-id", db, web)}, sorted(web, db)},
		{[]types.Filter{f("description", "db servers")}, []string{db}},
		{[]types.Filter{f("owner-id", "111111111111"), f("tag:tier", "data")}, []string{db}},
		{[]types.Filter{f("tag-key", "tier")}, []string{db}},
		{[]types.Filter{f("ip-permission.cidr", "10.0.1.0/24")}, []string{db}},
		{[]types.Filter{f("ip-permission.from-port", "5432"), f("ip-permission.to-port", "5432"), f("ip-permission.protocol", "tcp")}, []string{db}},
		{[]types.Filter{f("ip-permission.group-id", web)}, []string{db}},
		{[]types.Filter{f("ip-permission.group-name", "default")}, []string{def}},
		{[]types.Filter{f("ip-permission.user-id", "111111111111")}, sorted(def, db)},
		{[]types.Filter{f("egress.ip-permission.ipv6-cidr", "::/0")}, []string{web}},
		{[]types.Filter{f("egress.ip-permission.protocol", "udp")}, []string{web}},
		{[]types.Filter{f("egress.ip-permission.cidr", "0.0.0.0/0")}, sorted(def, web, db)},
		{[]types.Filter{f("ip-permission.cidr", "0.0.0.0/0")}, nil},
		{[]types.Filter{f("ip-permission.prefix-list-id", "pl-12345678")}, nil},
	} {
		if got := find(c.filters...); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("filters %v: %v, want %v", c.filters[0].Name, got, c.want)
		}
	}
	if _, err := a.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{f("bogus", "x")}}); errorCode(err) != "InvalidParameterValue" {
		t.Fatalf("unknown filter: %v", err)
	}

	// DescribeSecurityGroupRules: by id, by group, by rule tag.
	rules := sgRules(t, ctx, a, db)
	if len(rules) != 3 { // two ingress, default egress
		t.Fatalf("db rules = %+v", rules)
	}
	rr, err := a.EC2.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{f("tag:app", "pg")}})
	if err != nil || len(rr.SecurityGroupRules) != 2 {
		t.Fatalf("tag:app=pg: %+v, %v", rr, err)
	}
	for _, r := range rr.SecurityGroupRules {
		if aws.ToString(r.GroupId) != db || len(r.Tags) != 1 || aws.ToString(r.Tags[0].Value) != "pg" {
			t.Errorf("tagged rule = %+v", r)
		}
	}
	one := aws.ToString(rr.SecurityGroupRules[0].SecurityGroupRuleId)
	rr, err = a.EC2.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{f("security-group-rule-id", one)}})
	if err != nil || len(rr.SecurityGroupRules) != 1 {
		t.Fatalf("security-group-rule-id: %+v, %v", rr, err)
	}
	if _, err := a.EC2.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{"sgr-0123456789abcdef0"}}); errorCode(err) != "InvalidSecurityGroupRuleId.NotFound" {
		t.Fatalf("unknown rule id: %v", err)
	}
	if _, err := a.EC2.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{"sgr-nope"}}); errorCode(err) != "InvalidSecurityGroupRuleId.Malformed" {
		t.Fatalf("malformed rule id: %v", err)
	}
	if _, err := a.EC2.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{f("vpc-id", vpc)}}); errorCode(err) != "InvalidParameterValue" {
		t.Fatalf("unknown rule filter: %v", err)
	}

	// Pagination of both lists.
	for i := 0; i < 6; i++ {
		sgCreate(t, ctx, a, vpc, "g"+string(rune('a'+i)))
	}
	seen := map[string]bool{}
	pages := 0
	pg := ec2.NewDescribeSecurityGroupsPaginator(a.EC2, &ec2.DescribeSecurityGroupsInput{MaxResults: aws.Int32(5)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range out.SecurityGroups {
			if seen[*g.GroupId] {
				t.Errorf("%s twice", *g.GroupId)
			}
			seen[*g.GroupId] = true
		}
	}
	if pages != 2 || len(seen) != 9 {
		t.Errorf("%d pages, %d groups; want 2 pages, 9 groups", pages, len(seen))
	}
	seen = map[string]bool{}
	pages = 0
	rp := ec2.NewDescribeSecurityGroupRulesPaginator(a.EC2, &ec2.DescribeSecurityGroupRulesInput{MaxResults: aws.Int32(5)})
	for rp.HasMorePages() {
		out, err := rp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range out.SecurityGroupRules {
			seen[*r.SecurityGroupRuleId] = true
		}
	}
	// default: 2, web: 2, db: 3, six new groups: 1 each.
	if pages != 3 || len(seen) != 13 {
		t.Errorf("%d pages, %d rules; want 3 pages, 13 rules", pages, len(seen))
	}
	if _, err := a.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{MaxResults: aws.Int32(1001)}); errorCode(err) != "InvalidParameterValue" {
		t.Fatalf("MaxResults 1001: %v", err)
	}
}

func TestSecurityGroupDryRun(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	vpc, _ := sgVpc(t, ctx, a, "10.0.0.0/16")
	web := sgCreate(t, ctx, a, vpc, "web")
	dry := aws.Bool(true)

	if _, err := a.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("x"), Description: aws.String("x"), VpcId: aws.String(vpc), DryRun: dry}); errorCode(err) != "DryRunOperation" {
		t.Fatalf("create: %v", err)
	}
	if _, err := a.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("x"), VpcId: aws.String(vpc), DryRun: dry}); errorCode(err) != "InvalidGroup.Duplicate" {
		t.Fatalf("create duplicate: %v", err)
	}
	if _, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(web), IpPermissions: []types.IpPermission{tcp(22, "0.0.0.0/0")}, DryRun: dry}); errorCode(err) != "DryRunOperation" {
		t.Fatalf("authorize: %v", err)
	}
	if _, err := a.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(web),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}, DryRun: dry}); errorCode(err) != "DryRunOperation" {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(web), DryRun: dry}); errorCode(err) != "DryRunOperation" {
		t.Fatalf("delete: %v", err)
	}
	if _, err := a.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{DryRun: dry}); errorCode(err) != "DryRunOperation" {
		t.Fatalf("describe: %v", err)
	}

	d, err := a.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil || len(d.SecurityGroups) != 2 {
		t.Fatalf("groups after DryRuns: %+v, %v", d, err)
	}
	g := sgDescribe(t, ctx, a, web)
	if len(g.IpPermissions) != 0 || len(g.IpPermissionsEgress) != 1 {
		t.Fatalf("rules after DryRuns: %+v / %+v", g.IpPermissions, g.IpPermissionsEgress)
	}
}

func TestDeleteSecurityGroupInUseByInterface(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	vpc, _ := sgVpc(t, ctx, a, "10.0.0.0/16")
	sub, err := a.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpc), CidrBlock: aws.String("10.0.1.0/24"), AvailabilityZone: aws.String("us-east-1a")})
	if err != nil {
		t.Fatal(err)
	}
	web := sgCreate(t, ctx, a, vpc, "web")
	db := sgCreate(t, ctx, a, vpc, "db")
	if _, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(db),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432),
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(web)}}}}}); err != nil {
		t.Fatal(err)
	}
	eni, err := a.EC2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sub.Subnet.SubnetId, Groups: []string{web}})
	if err != nil {
		t.Fatal(err)
	}
	ip := aws.ToString(eni.NetworkInterface.PrivateIpAddress)

	// The data plane sees db admitting the interface's address.
	rgs, err := env.Cloud.ResolvedSecurityGroups(isthmustest.Region)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range rgs {
		switch g.ID {
		case db:
			found = len(g.Ingress) == 1 && len(g.Ingress[0].Prefixes) == 1 && g.Ingress[0].Prefixes[0].String() == ip+"/32"
		case web:
			if len(g.Members) != 1 || g.Members[0].ENI != aws.ToString(eni.NetworkInterface.NetworkInterfaceId) || g.Members[0].IP.String() != ip {
				t.Errorf("web members = %+v", g.Members)
			}
		}
	}
	if !found {
		t.Errorf("db does not admit %s: %+v", ip, rgs)
	}

	// Revoking db's reference is not enough while the interface carries web.
	if _, err := a.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(db),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(5432), ToPort: aws.Int32(5432),
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(web)}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(web)}); errorCode(err) != "DependencyViolation" {
		t.Fatalf("delete group in use: %v", err)
	}
	if _, err := a.EC2.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: eni.NetworkInterface.NetworkInterfaceId}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(web)}); err != nil {
		t.Fatalf("delete after the interface went: %v", err)
	}
}
