package ec2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) vpcActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateVpc":            awsquery.Op(h.createVpc),
		"DescribeVpcs":         awsquery.Op(h.describeVpcs),
		"DeleteVpc":            awsquery.Op(h.deleteVpc),
		"ModifyVpcAttribute":   awsquery.Op(h.modifyVpcAttribute),
		"DescribeVpcAttribute": awsquery.Op(h.describeVpcAttribute),
		"DescribeNetworkAcls":  awsquery.Op(h.describeNetworkAcls),
	}
}

func (h *Handler) createVpc(r *awsquery.Request, in *CreateVpcRequest) (*CreateVpcResult, error) {
	if in.Ipv4IpamPoolId != nil || in.Ipv6IpamPoolId != nil || in.Ipv6Pool != nil || boolv(in.AmazonProvidedIpv6CidrBlock) {
		return nil, awserr.New("UnsupportedOperation", "IPv6 and IPAM pools are not supported by this endpoint.")
	}
	v, err := h.cloud.CreateVpc(caller(r, in.DryRun), core.CreateVpcInput{
		CidrBlock:       str(in.CidrBlock),
		InstanceTenancy: str(in.InstanceTenancy),
		TagSpecs:        tagSpecs(in.TagSpecifications),
	})
	if err != nil {
		return nil, err
	}
	out := wireVpc(v)
	out.State = ptr("pending") // as AWS answers CreateVpc; Describe shows available
	return &CreateVpcResult{Vpc: out}, nil
}

func wireVpc(v *core.Vpc) *Vpc {
	return &Vpc{
		VpcId:           ptr(v.ID),
		OwnerId:         ptr(v.Owner),
		CidrBlock:       ptr(v.CidrBlock),
		State:           ptr(v.State),
		DhcpOptionsId:   ptr(v.DhcpOptionsID),
		InstanceTenancy: ptr(v.InstanceTenancy),
		IsDefault:       ptr(false),
		CidrBlockAssociationSet: []VpcCidrBlockAssociation{{
			AssociationId:  ptr(v.CidrAssociationID),
			CidrBlock:      ptr(v.CidrBlock),
			CidrBlockState: &VpcCidrBlockState{State: ptr("associated")},
		}},
		Tags: wireTags(v.Tags),
	}
}

func (h *Handler) describeVpcs(r *awsquery.Request, in *DescribeVpcsRequest) (*DescribeVpcsResult, error) {
	vpcs, next, err := h.cloud.DescribeVpcs(caller(r, in.DryRun), in.VpcIds, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeVpcsResult{NextToken: strp(next)}
	for _, v := range vpcs {
		out.Vpcs = append(out.Vpcs, *wireVpc(v))
	}
	return out, nil
}

func (h *Handler) deleteVpc(r *awsquery.Request, in *DeleteVpcRequest) (*struct{}, error) {
	return nil, h.cloud.DeleteVpc(caller(r, in.DryRun), str(in.VpcId))
}

func (h *Handler) modifyVpcAttribute(r *awsquery.Request, in *ModifyVpcAttributeRequest) (*struct{}, error) {
	var set []struct {
		attr core.VpcAttribute
		v    *AttributeBooleanValue
	}
	if in.EnableDnsSupport != nil {
		set = append(set, struct {
			attr core.VpcAttribute
			v    *AttributeBooleanValue
		}{core.AttrEnableDNSSupport, in.EnableDnsSupport})
	}
	if in.EnableDnsHostnames != nil {
		set = append(set, struct {
			attr core.VpcAttribute
			v    *AttributeBooleanValue
		}{core.AttrEnableDNSHostnames, in.EnableDnsHostnames})
	}
	if in.EnableNetworkAddressUsageMetrics != nil {
		return nil, awserr.New("UnsupportedOperation", "enableNetworkAddressUsageMetrics is not supported by this endpoint.")
	}
	switch {
	case len(set) == 0:
		return nil, awserr.MissingParameter("EnableDnsSupport, EnableDnsHostnames")
	case len(set) > 1:
		return nil, awserr.InvalidParameterCombination("Fields for multiple attribute types specified: enableDnsSupport, enableDnsHostnames")
	case set[0].v.Value == nil:
		return nil, awserr.MissingParameter(string(set[0].attr) + ".Value")
	}
	return nil, h.cloud.ModifyVpcAttribute(caller(r, nil), str(in.VpcId), set[0].attr, *set[0].v.Value)
}

func (h *Handler) describeVpcAttribute(r *awsquery.Request, in *DescribeVpcAttributeRequest) (*DescribeVpcAttributeResult, error) {
	v, err := h.cloud.DescribeVpc(caller(r, in.DryRun), str(in.VpcId))
	if err != nil {
		return nil, err
	}
	out := &DescribeVpcAttributeResult{VpcId: ptr(v.ID)}
	switch core.VpcAttribute(str(in.Attribute)) {
	case core.AttrEnableDNSSupport:
		out.EnableDnsSupport = &AttributeBooleanValue{Value: ptr(v.EnableDNSSupport)}
	case core.AttrEnableDNSHostnames:
		out.EnableDnsHostnames = &AttributeBooleanValue{Value: ptr(v.EnableDNSHostnames)}
	case "enableNetworkAddressUsageMetrics":
		out.EnableNetworkAddressUsageMetrics = &AttributeBooleanValue{Value: ptr(false)}
	default:
		return nil, awserr.InvalidParameterValue("Value (%s) for parameter attribute is invalid. Unknown attribute.", str(in.Attribute))
	}
	return out, nil
}

func (h *Handler) describeNetworkAcls(r *awsquery.Request, in *DescribeNetworkAclsRequest) (*DescribeNetworkAclsResult, error) {
	acls, next, err := h.cloud.DescribeNetworkACLs(caller(r, in.DryRun), in.NetworkAclIds, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeNetworkAclsResult{NextToken: strp(next)}
	for _, a := range acls {
		out.NetworkAcls = append(out.NetworkAcls, NetworkAcl{
			NetworkAclId: ptr(a.ID),
			VpcId:        ptr(a.VpcID),
			OwnerId:      ptr(a.Owner),
			IsDefault:    ptr(a.Default),
			Entries: []NetworkAclEntry{
				{RuleNumber: ptr(int32(32767)), Protocol: ptr("-1"), RuleAction: ptr("deny"), Egress: ptr(false), CidrBlock: ptr("0.0.0.0/0")},
				{RuleNumber: ptr(int32(100)), Protocol: ptr("-1"), RuleAction: ptr("allow"), Egress: ptr(false), CidrBlock: ptr("0.0.0.0/0")},
				{RuleNumber: ptr(int32(32767)), Protocol: ptr("-1"), RuleAction: ptr("deny"), Egress: ptr(true), CidrBlock: ptr("0.0.0.0/0")},
				{RuleNumber: ptr(int32(100)), Protocol: ptr("-1"), RuleAction: ptr("allow"), Egress: ptr(true), CidrBlock: ptr("0.0.0.0/0")},
			},
			Tags: wireTags(a.Tags),
		})
	}
	return out, nil
}
