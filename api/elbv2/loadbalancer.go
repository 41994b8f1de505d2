package elbv2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) loadBalancerActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateLoadBalancer":             awsquery.Op(h.createLoadBalancer),
		"DescribeLoadBalancers":          awsquery.Op(h.describeLoadBalancers),
		"DeleteLoadBalancer":             awsquery.Op(h.deleteLoadBalancer),
		"DescribeLoadBalancerAttributes": awsquery.Op(h.describeLoadBalancerAttributes),
		"ModifyLoadBalancerAttributes":   awsquery.Op(h.modifyLoadBalancerAttributes),
		"SetSecurityGroups":              awsquery.Op(h.setSecurityGroups),
		"SetSubnets":                     awsquery.Op(h.setSubnets),
	}
}

// subnetMappings translates SubnetMappings, refusing what needs the
// internet or IPv6.
func subnetMappings(ms []SubnetMapping) ([]core.SubnetMapping, error) {
	out := make([]core.SubnetMapping, len(ms))
	for i, m := range ms {
		switch {
		case m.AllocationId != nil:
			return nil, awserr.New("InvalidConfigurationRequest", "Isthmus has no internet: Elastic IP addresses (AllocationId) cannot be given to load balancers")
		case m.IPv6Address != nil || m.SourceNatIpv6Prefix != nil:
			return nil, awserr.New("InvalidConfigurationRequest", "Isthmus has no IPv6: IPv6 addresses and prefixes cannot be given to load balancers")
		}
		out[i] = core.SubnetMapping{SubnetID: str(m.SubnetId), PrivateIPv4Address: str(m.PrivateIPv4Address)}
	}
	return out, nil
}

func (h *Handler) createLoadBalancer(r *awsquery.Request, in *CreateLoadBalancerInput) (*CreateLoadBalancerOutput, error) {
	switch {
	case in.CustomerOwnedIpv4Pool != nil:
		return nil, awserr.New("InvalidConfigurationRequest", "Customer-owned address pools are for Application Load Balancers on Outposts, which Isthmus does not serve")
	case in.IpamPools != nil:
		return nil, awserr.New("InvalidConfigurationRequest", "IPAM pools are for Application Load Balancers, which Isthmus does not serve")
	case str(in.EnablePrefixForIpv6SourceNat) == "on":
		return nil, awserr.New("InvalidConfigurationRequest", "Isthmus has no IPv6: EnablePrefixForIpv6SourceNat cannot be on")
	}
	maps, err := subnetMappings(in.SubnetMappings)
	if err != nil {
		return nil, err
	}
	lb, err := h.cloud.CreateLoadBalancer(caller(r), core.CreateLoadBalancerInput{
		Name:           str(in.Name),
		Type:           str(in.Type),
		Scheme:         str(in.Scheme),
		IPAddressType:  str(in.IpAddressType),
		Subnets:        in.Subnets,
		SubnetMappings: maps,
		SecurityGroups: in.SecurityGroups,
		Tags:           coreTags(in.Tags),
	})
	if err != nil {
		return nil, err
	}
	out := wireLoadBalancer(lb)
	out.State = &LoadBalancerState{Code: ptr("provisioning")} // as AWS answers CreateLoadBalancer; Describe shows active
	return &CreateLoadBalancerOutput{LoadBalancers: []LoadBalancer{out}}, nil
}

func wireZones(lb *core.LoadBalancer) []AvailabilityZone {
	out := make([]AvailabilityZone, len(lb.Zones))
	for i, z := range lb.Zones {
		out[i] = AvailabilityZone{
			ZoneName:              ptr(z.ZoneName),
			SubnetId:              ptr(z.SubnetID),
			LoadBalancerAddresses: []LoadBalancerAddress{{PrivateIPv4Address: ptr(z.PrivateIP)}},
		}
	}
	return out
}

func wireLoadBalancer(lb *core.LoadBalancer) LoadBalancer {
	out := LoadBalancer{
		LoadBalancerArn:       ptr(lb.ARN()),
		LoadBalancerName:      ptr(lb.Name),
		DNSName:               strp(lb.DNSName()),
		CanonicalHostedZoneId: strp(lb.CanonicalHostedZoneID()),
		CreatedTime:           ptr(lb.Created),
		Scheme:                strp(lb.Scheme),
		VpcId:                 ptr(lb.VpcID),
		State:                 &LoadBalancerState{Code: ptr(lb.State)},
		Type:                  ptr(lb.Type),
		AvailabilityZones:     wireZones(lb),
		SecurityGroups:        lb.SecurityGroups,
		IpAddressType:         ptr(lb.IPAddressType),
		EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: strp(lb.EnforcePrivateLinkInbound),
	}
	return out
}

func (h *Handler) describeLoadBalancers(r *awsquery.Request, in *DescribeLoadBalancersInput) (*DescribeLoadBalancersOutput, error) {
	lbs, next, err := h.cloud.DescribeLoadBalancers(caller(r), in.LoadBalancerArns, in.Names, page(in.PageSize, in.Marker))
	if err != nil {
		return nil, err
	}
	out := &DescribeLoadBalancersOutput{NextMarker: strp(next)}
	for _, lb := range lbs {
		out.LoadBalancers = append(out.LoadBalancers, wireLoadBalancer(lb))
	}
	return out, nil
}

func (h *Handler) deleteLoadBalancer(r *awsquery.Request, in *DeleteLoadBalancerInput) (*DeleteLoadBalancerOutput, error) {
	if err := h.cloud.DeleteLoadBalancer(caller(r), str(in.LoadBalancerArn)); err != nil {
		return nil, err
	}
	return &DeleteLoadBalancerOutput{}, nil
}

func wireLBAttributes(as []core.Attribute) []LoadBalancerAttribute {
	out := make([]LoadBalancerAttribute, len(as))
	for i, a := range as {
		out[i] = LoadBalancerAttribute{Key: ptr(a.Key), Value: ptr(a.Value)}
	}
	return out
}

func (h *Handler) describeLoadBalancerAttributes(r *awsquery.Request, in *DescribeLoadBalancerAttributesInput) (*DescribeLoadBalancerAttributesOutput, error) {
	as, err := h.cloud.DescribeLoadBalancerAttributes(caller(r), str(in.LoadBalancerArn))
	if err != nil {
		return nil, err
	}
	return &DescribeLoadBalancerAttributesOutput{Attributes: wireLBAttributes(as)}, nil
}

func (h *Handler) modifyLoadBalancerAttributes(r *awsquery.Request, in *ModifyLoadBalancerAttributesInput) (*ModifyLoadBalancerAttributesOutput, error) {
	attrs := make([]core.Attribute, len(in.Attributes))
	for i, a := range in.Attributes {
		if a.Key == nil {
			return nil, awserr.New("ValidationError", "An attribute key must be specified")
		}
		attrs[i] = core.Attribute{Key: str(a.Key), Value: str(a.Value)}
	}
	as, err := h.cloud.ModifyLoadBalancerAttributes(caller(r), str(in.LoadBalancerArn), attrs)
	if err != nil {
		return nil, err
	}
	return &ModifyLoadBalancerAttributesOutput{Attributes: wireLBAttributes(as)}, nil
}

func (h *Handler) setSecurityGroups(r *awsquery.Request, in *SetSecurityGroupsInput) (*SetSecurityGroupsOutput, error) {
	groups, enforce, err := h.cloud.SetSecurityGroups(caller(r), str(in.LoadBalancerArn), in.SecurityGroups, str(in.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic))
	if err != nil {
		return nil, err
	}
	return &SetSecurityGroupsOutput{SecurityGroupIds: groups, EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: strp(enforce)}, nil
}

func (h *Handler) setSubnets(r *awsquery.Request, in *SetSubnetsInput) (*SetSubnetsOutput, error) {
	if str(in.EnablePrefixForIpv6SourceNat) == "on" {
		return nil, awserr.New("InvalidConfigurationRequest", "Isthmus has no IPv6: EnablePrefixForIpv6SourceNat cannot be on")
	}
	maps, err := subnetMappings(in.SubnetMappings)
	if err != nil {
		return nil, err
	}
	lb, err := h.cloud.SetSubnets(caller(r), str(in.LoadBalancerArn), in.Subnets, maps, str(in.IpAddressType))
	if err != nil {
		return nil, err
	}
	return &SetSubnetsOutput{AvailabilityZones: wireZones(lb), IpAddressType: ptr(lb.IPAddressType)}, nil
}
