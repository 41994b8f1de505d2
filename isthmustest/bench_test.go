package isthmustest_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/isthmustest"
)

// BenchmarkDescribeVpcsSigned measures signed DescribeVpcs round trips
// through the SDK (sign, HTTP, verify, decode, store read, XML, parse), with
// 10 VPCs in the account.
func BenchmarkDescribeVpcsSigned(b *testing.B) {
	env := isthmustest.New(b, isthmustest.Options{Auth: api.AuthSigV4})
	c, _ := env.NewAccount(b, "bench")
	ctx := isthmustest.Ctx(b)
	for i := 0; i < 10; i++ {
		if _, err := c.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			out, err := c.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
			if err != nil || len(out.Vpcs) != 10 {
				b.Fatalf("%v, %d VPCs", err, len(out.Vpcs))
			}
		}
	})
}

// BenchmarkCreateDeleteSubnetSigned measures signed CreateSubnet plus
// DeleteSubnet pairs (two write transactions, each fsynced).
func BenchmarkCreateDeleteSubnetSigned(b *testing.B) {
	env := isthmustest.New(b, isthmustest.Options{Auth: api.AuthSigV4})
	c, _ := env.NewAccount(b, "bench")
	ctx := isthmustest.Ctx(b)
	vpc, err := c.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// Each pair uses its own /24 so that parallel pairs do not conflict.
			i := n.Add(1) % 256
			out, err := c.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(fmt.Sprintf("10.0.%d.0/24", i))})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: out.Subnet.SubnetId}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
