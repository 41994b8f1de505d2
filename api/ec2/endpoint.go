package ec2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) endpointActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateVpcEndpoint":    awsquery.Op(h.createVpcEndpoint),
		"DescribeVpcEndpoints": awsquery.Op(h.describeVpcEndpoints),
		"ModifyVpcEndpoint":    awsquery.Op(h.modifyVpcEndpoint),
		"DeleteVpcEndpoints":   awsquery.Op(h.deleteVpcEndpoints),
	}
}

func subnetConfigs(cs []SubnetConfiguration) []core.SubnetConfig {
	var out []core.SubnetConfig
	for _, c := range cs {
		out = append(out, core.SubnetConfig{SubnetID: str(c.SubnetId), IPv4: str(c.Ipv4), IPv6: str(c.Ipv6)})
	}
	return out
}

// dnsOptions returns DnsRecordIpType, refusing the options Isthmus does
// not model.
func dnsOptions(o *DnsOptionsSpecification) (string, error) {
	if o == nil {
		return "", nil
	}
	if o.PrivateDnsOnlyForInboundResolverEndpoint != nil || o.PrivateDnsPreference != nil || len(o.PrivateDnsSpecifiedDomains) > 0 {
		return "", awserr.New("UnsupportedOperation", "Only DnsOptions.DnsRecordIpType is supported by this endpoint.")
	}
	return str(o.DnsRecordIpType), nil
}

func (h *Handler) createVpcEndpoint(r *awsquery.Request, in *CreateVpcEndpointRequest) (*CreateVpcEndpointResult, error) {
	if in.ResourceConfigurationArn != nil || in.ServiceNetworkArn != nil {
		return nil, awserr.New("UnsupportedOperation", "Resource and service network VPC endpoints are not supported by this endpoint.")
	}
	dnsType, err := dnsOptions(in.DnsOptions)
	if err != nil {
		return nil, err
	}
	v, err := h.cloud.CreateVpcEndpoint(caller(r, in.DryRun), core.CreateVpcEndpointInput{
		VpcID:             str(in.VpcId),
		ServiceName:       str(in.ServiceName),
		ServiceRegion:     str(in.ServiceRegion),
		Type:              str(in.VpcEndpointType),
		SubnetIDs:         in.SubnetIds,
		SubnetConfigs:     subnetConfigs(in.SubnetConfigurations),
		SecurityGroupIDs:  in.SecurityGroupIds,
		RouteTableIDs:     in.RouteTableIds,
		PolicyDocument:    in.PolicyDocument,
		PrivateDNSEnabled: in.PrivateDnsEnabled,
		IPAddressType:     str(in.IpAddressType),
		DNSRecordIPType:   dnsType,
		TagSpecs:          tagSpecs(in.TagSpecifications),
	})
	if err != nil {
		return nil, err
	}
	out := wireVpcEndpoint(v)
	if v.State == core.EndpointAvailable && v.Type != core.EndpointTypeGateway {
		// As AWS answers CreateVpcEndpoint; Describe shows available.
		out.State = ptr(core.EndpointPending)
	}
	return &CreateVpcEndpointResult{VpcEndpoint: out, ClientToken: in.ClientToken}, nil
}

func wireVpcEndpoint(v *core.EndpointView) *VpcEndpoint {
	out := &VpcEndpoint{
		VpcEndpointId:       ptr(v.ID),
		VpcEndpointType:     ptr(v.Type),
		VpcId:               ptr(v.VpcID),
		OwnerId:             ptr(v.Owner),
		ServiceName:         ptr(v.ServiceName),
		ServiceRegion:       ptr(v.Region),
		State:               ptr(v.State),
		CreationTimestamp:   ptr(v.Created),
		RequesterManaged:    ptr(false),
		PrivateDnsEnabled:   ptr(v.PrivateDNSEnabled),
		PolicyDocument:      strp(v.Policy),
		RouteTableIds:       v.RouteTableIDs,
		SubnetIds:           v.SubnetIDs(),
		NetworkInterfaceIds: v.NetworkInterfaceIDs(),
		DnsEntries:          wireDNSEntries(v.DNSEntries),
		Tags:                wireTags(v.Tags),
	}
	for i, g := range v.Groups {
		out.Groups = append(out.Groups, SecurityGroupIdentifier{GroupId: ptr(g), GroupName: ptr(v.GroupNames[i])})
	}
	if v.Type != core.EndpointTypeGateway {
		out.IpAddressType = strp(v.IPAddressType)
		out.DnsOptions = &DnsOptions{DnsRecordIpType: strp(v.DNSRecordIPType)}
	}
	return out
}

func (h *Handler) describeVpcEndpoints(r *awsquery.Request, in *DescribeVpcEndpointsRequest) (*DescribeVpcEndpointsResult, error) {
	eps, next, err := h.cloud.DescribeVpcEndpoints(caller(r, in.DryRun), in.VpcEndpointIds, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeVpcEndpointsResult{NextToken: strp(next)}
	for _, v := range eps {
		out.VpcEndpoints = append(out.VpcEndpoints, *wireVpcEndpoint(v))
	}
	return out, nil
}

func (h *Handler) modifyVpcEndpoint(r *awsquery.Request, in *ModifyVpcEndpointRequest) (*ModifyVpcEndpointResult, error) {
	dnsType, err := dnsOptions(in.DnsOptions)
	if err != nil {
		return nil, err
	}
	err = h.cloud.ModifyVpcEndpoint(caller(r, in.DryRun), core.ModifyVpcEndpointInput{
		VpcEndpointID:          str(in.VpcEndpointId),
		AddSubnetIDs:           in.AddSubnetIds,
		RemoveSubnetIDs:        in.RemoveSubnetIds,
		SubnetConfigs:          subnetConfigs(in.SubnetConfigurations),
		AddSecurityGroupIDs:    in.AddSecurityGroupIds,
		RemoveSecurityGroupIDs: in.RemoveSecurityGroupIds,
		AddRouteTableIDs:       in.AddRouteTableIds,
		RemoveRouteTableIDs:    in.RemoveRouteTableIds,
		PolicyDocument:         in.PolicyDocument,
		ResetPolicy:            boolv(in.ResetPolicy),
		PrivateDNSEnabled:      in.PrivateDnsEnabled,
		IPAddressType:          str(in.IpAddressType),
		DNSRecordIPType:        dnsType,
	})
	if err != nil {
		return nil, err
	}
	return &ModifyVpcEndpointResult{Return: ptr(true)}, nil
}

func (h *Handler) deleteVpcEndpoints(r *awsquery.Request, in *DeleteVpcEndpointsRequest) (*DeleteVpcEndpointsResult, error) {
	items, err := h.cloud.DeleteVpcEndpoints(caller(r, in.DryRun), in.VpcEndpointIds)
	if err != nil {
		return nil, err
	}
	return &DeleteVpcEndpointsResult{Unsuccessful: wireUnsuccessful(items)}, nil
}
