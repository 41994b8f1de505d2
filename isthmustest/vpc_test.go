package isthmustest_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/isthmusnet/isthmus/isthmustest"
)

// ErrorCode returns the AWS error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestVpcLifecycleAcrossAccounts(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	b := env.Account("222222222222")

	out, err := a.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{
		CidrBlock: aws.String("10.0.0.18/16"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc,
			Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("prod")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Vpc.VpcId)
	if got := aws.ToString(out.Vpc.CidrBlock); got != "10.0.0.0/16" {
		t.Errorf("CidrBlock = %q, want canonical 10.0.0.0/16", got)
	}
	if got := aws.ToString(out.Vpc.OwnerId); got != "111111111111" {
		t.Errorf("OwnerId = %q", got)
	}

	// B sees nothing, and A's VPC is NotFound to it.
	dv, err := b.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if err != nil || len(dv.Vpcs) != 0 {
		t.Fatalf("B DescribeVpcs = %v, %v; want none", dv, err)
	}
	_, err = b.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}})
	if code := errorCode(err); code != "InvalidVpcID.NotFound" {
		t.Fatalf("B describing A's VPC: %v, want InvalidVpcID.NotFound", err)
	}
	if _, err := b.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(id)}); errorCode(err) != "InvalidVpcID.NotFound" {
		t.Fatalf("B deleting A's VPC: %v", err)
	}

	// A finds it by tag filter, and not by a wrong one.
	dv, err = a.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"pr*"}}}})
	if err != nil || len(dv.Vpcs) != 1 || dv.Vpcs[0].State != types.VpcStateAvailable {
		t.Fatalf("filter tag:Name=pr*: %+v, %v", dv, err)
	}
	dv, err = a.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("cidr"), Values: []string{"10.1.0.0/16"}}}})
	if err != nil || len(dv.Vpcs) != 0 {
		t.Fatalf("filter cidr: %+v, %v", dv, err)
	}
	if _, err := a.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("bogus"), Values: []string{"x"}}}}); errorCode(err) != "InvalidParameterValue" {
		t.Fatalf("unknown filter: %v", err)
	}

	// DryRun validates and changes nothing.
	_, err = a.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16"), DryRun: aws.Bool(true)})
	if errorCode(err) != "DryRunOperation" {
		t.Fatalf("DryRun: %v", err)
	}
	_, err = a.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/8"), DryRun: aws.Bool(true)})
	if errorCode(err) != "InvalidVpc.Range" {
		t.Fatalf("DryRun with a bad range: %v", err)
	}
	dv, _ = a.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if len(dv.Vpcs) != 1 {
		t.Fatalf("after DryRun: %d VPCs", len(dv.Vpcs))
	}

	// Attributes.
	if _, err := a.EC2.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: aws.String(id), EnableDnsHostnames: &types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	attr, err := a.EC2.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: aws.String(id), Attribute: types.VpcAttributeNameEnableDnsHostnames})
	if err != nil || !aws.ToBool(attr.EnableDnsHostnames.Value) {
		t.Fatalf("enableDnsHostnames: %+v, %v", attr, err)
	}

	if _, err := a.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}}); errorCode(err) != "InvalidVpcID.NotFound" {
		t.Fatalf("after delete: %v", err)
	}
}

func TestDescribeVpcsPaginates(t *testing.T) {
	env := isthmustest.New(t)
	ctx := isthmustest.Ctx(t)
	a := env.Account("111111111111")
	want := map[string]bool{}
	for i := 0; i < 12; i++ {
		out, err := a.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
		if err != nil {
			t.Fatal(err)
		}
		want[aws.ToString(out.Vpc.VpcId)] = true
	}
	got := map[string]bool{}
	pages := 0
	p := ec2.NewDescribeVpcsPaginator(a.EC2, &ec2.DescribeVpcsInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range out.Vpcs {
			if got[*v.VpcId] {
				t.Errorf("%s returned twice", *v.VpcId)
			}
			got[*v.VpcId] = true
		}
	}
	if pages != 3 || len(got) != len(want) {
		t.Fatalf("%d pages, %d VPCs; want 3 pages, %d VPCs", pages, len(got), len(want))
	}
	if _, err := a.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{MaxResults: aws.Int32(4)}); errorCode(err) != "InvalidParameterValue" {
		t.Fatalf("MaxResults 4: %v", err)
	}
}
