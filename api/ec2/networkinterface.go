package ec2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) networkInterfaceActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateNetworkInterface":          awsquery.Op(h.createNetworkInterface),
		"DescribeNetworkInterfaces":       awsquery.Op(h.describeNetworkInterfaces),
		"DeleteNetworkInterface":          awsquery.Op(h.deleteNetworkInterface),
		"ModifyNetworkInterfaceAttribute": awsquery.Op(h.modifyNetworkInterfaceAttribute),
	}
}

func (h *Handler) createNetworkInterface(r *awsquery.Request, in *CreateNetworkInterfaceRequest) (*CreateNetworkInterfaceResult, error) {
	switch {
	case in.Ipv6AddressCount != nil || len(in.Ipv6Addresses) > 0 || in.Ipv6PrefixCount != nil || len(in.Ipv6Prefixes) > 0 || boolv(in.EnablePrimaryIpv6):
		return nil, awserr.New("UnsupportedOperation", "IPv6 addresses are not supported by this endpoint.")
	case in.Ipv4PrefixCount != nil || len(in.Ipv4Prefixes) > 0:
		return nil, awserr.New("UnsupportedOperation", "IPv4 prefixes are not supported by this endpoint.")
	case int32v(in.SecondaryPrivateIpAddressCount) > 0 || len(in.PrivateIpAddresses) > 1:
		return nil, awserr.New("UnsupportedOperation", "Secondary private IP addresses are not supported by this endpoint.")
	case in.ConnectionTrackingSpecification != nil || in.Operator != nil:
		return nil, awserr.New("UnsupportedOperation", "Connection tracking and operator settings are not supported by this endpoint.")
	}
	ip := str(in.PrivateIpAddress)
	if len(in.PrivateIpAddresses) == 1 {
		// The one-address form of PrivateIpAddresses names the primary.
		p := in.PrivateIpAddresses[0]
		if p.Primary != nil && !*p.Primary {
			return nil, awserr.InvalidParameterValue("One of the private IP addresses must be primary.")
		}
		if ip != "" && str(p.PrivateIpAddress) != ip {
			return nil, awserr.InvalidParameterCombination("The primary private IP address given in privateIpAddress and privateIpAddresses differs.")
		}
		ip = str(p.PrivateIpAddress)
	}
	n, err := h.cloud.CreateNetworkInterface(caller(r, in.DryRun), core.CreateNetworkInterfaceInput{
		SubnetID:      str(in.SubnetId),
		PrivateIP:     ip,
		Groups:        in.Groups,
		Description:   str(in.Description),
		InterfaceType: str(in.InterfaceType),
		TagSpecs:      tagSpecs(in.TagSpecifications),
	})
	if err != nil {
		return nil, err
	}
	out := wireNetworkInterface(n)
	if !n.RequesterManaged {
		out.Status = ptr("pending") // as AWS answers CreateNetworkInterface; Describe shows available
	}
	return &CreateNetworkInterfaceResult{NetworkInterface: out, ClientToken: in.ClientToken}, nil
}

func wireNetworkInterface(n *core.NetworkInterface) *NetworkInterface {
	out := &NetworkInterface{
		NetworkInterfaceId: ptr(n.ID),
		SubnetId:           ptr(n.SubnetID),
		VpcId:              ptr(n.VpcID),
		AvailabilityZone:   ptr(n.AvailabilityZone),
		AvailabilityZoneId: strp(n.AvailabilityZoneID),
		Description:        ptr(n.Description),
		OwnerId:            ptr(n.Owner),
		InterfaceType:      ptr(n.InterfaceType),
		MacAddress:         ptr(n.MAC),
		PrivateIpAddress:   ptr(n.PrivateIP),
		PrivateDnsName:     ptr(n.PrivateDNSName()),
		PrivateIpAddresses: []NetworkInterfacePrivateIpAddress{{
			PrivateIpAddress: ptr(n.PrivateIP),
			PrivateDnsName:   ptr(n.PrivateDNSName()),
			Primary:          ptr(true),
		}},
		RequesterManaged: ptr(n.RequesterManaged),
		RequesterId:      strp(n.RequesterID),
		SourceDestCheck:  ptr(n.SourceDestCheck),
		Status:           ptr(n.Status),
		TagSet:           wireTags(n.Tags),
	}
	for i, id := range n.Groups {
		g := GroupIdentifier{GroupId: ptr(id)}
		if i < len(n.GroupNames) {
			g.GroupName = ptr(n.GroupNames[i])
		}
		out.Groups = append(out.Groups, g)
	}
	if n.AttachmentID != "" {
		out.Attachment = &NetworkInterfaceAttachment{
			AttachmentId:        ptr(n.AttachmentID),
			AttachTime:          ptr(n.Created),
			DeleteOnTermination: ptr(false),
			DeviceIndex:         ptr(int32(1)),
			InstanceOwnerId:     strp(n.RequesterID),
			NetworkCardIndex:    ptr(int32(0)),
			Status:              ptr("attached"),
		}
	}
	return out
}

func (h *Handler) describeNetworkInterfaces(r *awsquery.Request, in *DescribeNetworkInterfacesRequest) (*DescribeNetworkInterfacesResult, error) {
	enis, next, err := h.cloud.DescribeNetworkInterfaces(caller(r, in.DryRun), in.NetworkInterfaceIds, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeNetworkInterfacesResult{NextToken: strp(next)}
	for _, n := range enis {
		out.NetworkInterfaces = append(out.NetworkInterfaces, *wireNetworkInterface(n))
	}
	return out, nil
}

func (h *Handler) deleteNetworkInterface(r *awsquery.Request, in *DeleteNetworkInterfaceRequest) (*struct{}, error) {
	return nil, h.cloud.DeleteNetworkInterface(caller(r, in.DryRun), str(in.NetworkInterfaceId))
}

func (h *Handler) modifyNetworkInterfaceAttribute(r *awsquery.Request, in *ModifyNetworkInterfaceAttributeRequest) (*struct{}, error) {
	switch {
	case in.Attachment != nil:
		return nil, awserr.New("UnsupportedOperation", "Network interface attachments are not supported by this endpoint.")
	case in.AssociatePublicIpAddress != nil || in.AssociatedSubnetIds != nil || in.ConnectionTrackingSpecification != nil ||
		in.EnaSrdSpecification != nil || in.EnablePrimaryIpv6 != nil:
		return nil, awserr.New("UnsupportedOperation", "Only description, sourceDestCheck and security groups can be modified on this endpoint.")
	}
	var m core.InterfaceModification
	if in.Description != nil {
		m.Description = ptr(str(in.Description.Value))
	}
	if in.SourceDestCheck != nil {
		if in.SourceDestCheck.Value == nil {
			return nil, awserr.MissingParameter("SourceDestCheck.Value")
		}
		m.SourceDestCheck = in.SourceDestCheck.Value
	}
	if in.Groups != nil {
		m.Groups = in.Groups
	}
	return nil, h.cloud.ModifyNetworkInterfaceAttribute(caller(r, in.DryRun), str(in.NetworkInterfaceId), m)
}
