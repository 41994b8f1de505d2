package ec2

import (
	"strings"

	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) subnetActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateSubnet":          awsquery.Op(h.createSubnet),
		"DescribeSubnets":       awsquery.Op(h.describeSubnets),
		"DeleteSubnet":          awsquery.Op(h.deleteSubnet),
		"ModifySubnetAttribute": awsquery.Op(h.modifySubnetAttribute),
	}
}

func (h *Handler) createSubnet(r *awsquery.Request, in *CreateSubnetRequest) (*CreateSubnetResult, error) {
	switch {
	case in.Ipv6CidrBlock != nil || in.Ipv6IpamPoolId != nil || in.Ipv6NetmaskLength != nil || boolv(in.Ipv6Native):
		return nil, awserr.New("UnsupportedOperation", "IPv6 subnets are not supported by this endpoint.")
	case in.Ipv4IpamPoolId != nil || in.Ipv4NetmaskLength != nil:
		return nil, awserr.New("UnsupportedOperation", "IPAM pools are not supported by this endpoint.")
	case in.OutpostArn != nil:
		return nil, awserr.New("UnsupportedOperation", "Outposts are not supported by this endpoint.")
	}
	s, err := h.cloud.CreateSubnet(caller(r, in.DryRun), core.CreateSubnetInput{
		VpcID:              str(in.VpcId),
		CidrBlock:          str(in.CidrBlock),
		AvailabilityZone:   str(in.AvailabilityZone),
		AvailabilityZoneID: str(in.AvailabilityZoneId),
		TagSpecs:           tagSpecs(in.TagSpecifications),
	})
	if err != nil {
		return nil, err
	}
	return &CreateSubnetResult{Subnet: wireSubnet(s)}, nil
}

func wireSubnet(s *core.Subnet) *Subnet {
	return &Subnet{
		SubnetId:                    ptr(s.ID),
		SubnetArn:                   ptr(s.ARN()),
		VpcId:                       ptr(s.VpcID),
		OwnerId:                     ptr(s.Owner),
		CidrBlock:                   ptr(s.CidrBlock),
		State:                       ptr(s.State),
		AvailabilityZone:            ptr(s.AvailabilityZone),
		AvailabilityZoneId:          ptr(s.AvailabilityZoneID),
		AvailableIpAddressCount:     ptr(int32(s.AvailableIPAddressCount())),
		DefaultForAz:                ptr(false),
		MapPublicIpOnLaunch:         ptr(s.MapPublicIPOnLaunch),
		MapCustomerOwnedIpOnLaunch:  ptr(false),
		AssignIpv6AddressOnCreation: ptr(false),
		Ipv6Native:                  ptr(false),
		EnableDns64:                 ptr(false),
		PrivateDnsNameOptionsOnLaunch: &PrivateDnsNameOptionsOnLaunch{
			HostnameType:                    ptr("ip-name"),
			EnableResourceNameDnsARecord:    ptr(false),
			EnableResourceNameDnsAAAARecord: ptr(false),
		},
		BlockPublicAccessStates: &BlockPublicAccessStates{InternetGatewayBlockMode: ptr("off")},
		Tags:                    wireTags(s.Tags),
	}
}

func (h *Handler) describeSubnets(r *awsquery.Request, in *DescribeSubnetsRequest) (*DescribeSubnetsResult, error) {
	subnets, next, err := h.cloud.DescribeSubnets(caller(r, in.DryRun), in.SubnetIds, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeSubnetsResult{NextToken: strp(next)}
	for _, s := range subnets {
		out.Subnets = append(out.Subnets, *wireSubnet(s))
	}
	return out, nil
}

func (h *Handler) deleteSubnet(r *awsquery.Request, in *DeleteSubnetRequest) (*struct{}, error) {
	return nil, h.cloud.DeleteSubnet(caller(r, in.DryRun), str(in.SubnetId))
}

// modifySubnetAttribute sets MapPublicIpOnLaunch, the one subnet attribute
// Isthmus models. The others are accepted only when they ask for the value
// every subnet here has (what AWS reports for them); anything else is
// refused rather than silently ignored.
func (h *Handler) modifySubnetAttribute(r *awsquery.Request, in *ModifySubnetAttributeRequest) (*struct{}, error) {
	var given []string
	var unsupported []string
	offBool := func(name string, v *AttributeBooleanValue) {
		if v != nil {
			given = append(given, name)
			if v.Value != nil && *v.Value {
				unsupported = append(unsupported, name)
			}
		}
	}
	if in.MapPublicIpOnLaunch != nil {
		given = append(given, "mapPublicIpOnLaunch")
	}
	offBool("assignIpv6AddressOnCreation", in.AssignIpv6AddressOnCreation)
	offBool("mapCustomerOwnedIpOnLaunch", in.MapCustomerOwnedIpOnLaunch)
	offBool("enableDns64", in.EnableDns64)
	offBool("enableResourceNameDnsARecordOnLaunch", in.EnableResourceNameDnsARecordOnLaunch)
	offBool("enableResourceNameDnsAAAARecordOnLaunch", in.EnableResourceNameDnsAAAARecordOnLaunch)
	offBool("disableLniAtDeviceIndex", in.DisableLniAtDeviceIndex)
	if in.PrivateDnsHostnameTypeOnLaunch != nil {
		given = append(given, "privateDnsHostnameTypeOnLaunch")
		if *in.PrivateDnsHostnameTypeOnLaunch != "ip-name" {
			unsupported = append(unsupported, "privateDnsHostnameTypeOnLaunch")
		}
	}
	if in.CustomerOwnedIpv4Pool != nil {
		given = append(given, "customerOwnedIpv4Pool")
		unsupported = append(unsupported, "customerOwnedIpv4Pool")
	}
	if in.EnableLniAtDeviceIndex != nil {
		given = append(given, "enableLniAtDeviceIndex")
		unsupported = append(unsupported, "enableLniAtDeviceIndex")
	}
	switch {
	case len(given) == 0:
		return nil, awserr.MissingParameter("MapPublicIpOnLaunch")
	case len(given) > 1:
		return nil, awserr.New("InvalidRequest", "Only one subnet attribute can be modified at a time.\nProvided attributes: [%s]", strings.Join(given, ", "))
	case len(unsupported) > 0:
		return nil, awserr.New("UnsupportedOperation", "The subnet attribute %s cannot be set to that value on this endpoint.", unsupported[0])
	}
	who := caller(r, nil)
	if in.MapPublicIpOnLaunch == nil {
		// A no-op for an attribute Isthmus does not model: the subnet
		// must still exist and be the caller's.
		_, _, err := h.cloud.DescribeSubnets(who, []string{str(in.SubnetId)}, nil, core.Page{})
		return nil, err
	}
	if in.MapPublicIpOnLaunch.Value == nil {
		return nil, awserr.MissingParameter("MapPublicIpOnLaunch.Value")
	}
	return nil, h.cloud.ModifySubnetAttribute(who, str(in.SubnetId), core.AttrMapPublicIPOnLaunch, *in.MapPublicIpOnLaunch.Value)
}
