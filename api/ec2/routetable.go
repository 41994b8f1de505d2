package ec2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) routeTableActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateRouteTable":             awsquery.Op(h.createRouteTable),
		"DescribeRouteTables":          awsquery.Op(h.describeRouteTables),
		"DeleteRouteTable":             awsquery.Op(h.deleteRouteTable),
		"AssociateRouteTable":          awsquery.Op(h.associateRouteTable),
		"DisassociateRouteTable":       awsquery.Op(h.disassociateRouteTable),
		"ReplaceRouteTableAssociation": awsquery.Op(h.replaceRouteTableAssociation),
		"CreateRoute":                  awsquery.Op(h.createRoute),
		"ReplaceRoute":                 awsquery.Op(h.replaceRoute),
		"DeleteRoute":                  awsquery.Op(h.deleteRoute),
	}
}

func (h *Handler) createRouteTable(r *awsquery.Request, in *CreateRouteTableRequest) (*CreateRouteTableResult, error) {
	rt, err := h.cloud.CreateRouteTable(caller(r, in.DryRun), core.CreateRouteTableInput{
		VpcID:    str(in.VpcId),
		TagSpecs: tagSpecs(in.TagSpecifications),
	})
	if err != nil {
		return nil, err
	}
	return &CreateRouteTableResult{RouteTable: wireRouteTable(rt), ClientToken: in.ClientToken}, nil
}

func wireRouteTable(rt *core.RouteTable) *RouteTable {
	out := &RouteTable{
		RouteTableId: ptr(rt.ID),
		VpcId:        ptr(rt.VpcID),
		OwnerId:      ptr(rt.Owner),
		Tags:         wireTags(rt.Tags),
	}
	for _, a := range rt.Associations {
		out.Associations = append(out.Associations, *wireAssociation(a, rt.ID))
	}
	for i := range rt.Routes {
		r := &rt.Routes[i]
		out.Routes = append(out.Routes, Route{
			DestinationCidrBlock:    strp(r.DestinationCidrBlock),
			DestinationPrefixListId: strp(r.DestinationPrefixListID),
			GatewayId:               strp(r.WireGatewayID()),
			NetworkInterfaceId:      strp(r.NetworkInterfaceID),
			Origin:                  strp(r.Origin),
			State:                   strp(r.State),
		})
	}
	return out
}

func wireAssociation(a core.RouteAssociation, tableID string) *RouteTableAssociation {
	return &RouteTableAssociation{
		RouteTableAssociationId: ptr(a.ID),
		RouteTableId:            ptr(tableID),
		SubnetId:                strp(a.SubnetID),
		Main:                    ptr(a.Main),
		AssociationState:        &RouteTableAssociationState{State: ptr(core.AssociationState)},
	}
}

func (h *Handler) describeRouteTables(r *awsquery.Request, in *DescribeRouteTablesRequest) (*DescribeRouteTablesResult, error) {
	tables, next, err := h.cloud.DescribeRouteTables(caller(r, in.DryRun), in.RouteTableIds, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeRouteTablesResult{NextToken: strp(next)}
	for _, rt := range tables {
		out.RouteTables = append(out.RouteTables, *wireRouteTable(rt))
	}
	return out, nil
}

func (h *Handler) deleteRouteTable(r *awsquery.Request, in *DeleteRouteTableRequest) (*struct{}, error) {
	return nil, h.cloud.DeleteRouteTable(caller(r, in.DryRun), str(in.RouteTableId))
}

func (h *Handler) associateRouteTable(r *awsquery.Request, in *AssociateRouteTableRequest) (*AssociateRouteTableResult, error) {
	if in.PublicIpv4Pool != nil {
		return nil, awserr.New("UnsupportedOperation", "Public IPv4 pools are not supported by this endpoint.")
	}
	a, err := h.cloud.AssociateRouteTable(caller(r, in.DryRun), core.AssociateRouteTableInput{
		RouteTableID: str(in.RouteTableId),
		SubnetID:     str(in.SubnetId),
		GatewayID:    str(in.GatewayId),
	})
	if err != nil {
		return nil, err
	}
	return &AssociateRouteTableResult{
		AssociationId:    ptr(a.ID),
		AssociationState: &RouteTableAssociationState{State: ptr(core.AssociationState)},
	}, nil
}

func (h *Handler) disassociateRouteTable(r *awsquery.Request, in *DisassociateRouteTableRequest) (*struct{}, error) {
	return nil, h.cloud.DisassociateRouteTable(caller(r, in.DryRun), str(in.AssociationId))
}

func (h *Handler) replaceRouteTableAssociation(r *awsquery.Request, in *ReplaceRouteTableAssociationRequest) (*ReplaceRouteTableAssociationResult, error) {
	a, err := h.cloud.ReplaceRouteTableAssociation(caller(r, in.DryRun), str(in.AssociationId), str(in.RouteTableId))
	if err != nil {
		return nil, err
	}
	return &ReplaceRouteTableAssociationResult{
		NewAssociationId: ptr(a.ID),
		AssociationState: &RouteTableAssociationState{State: ptr(core.AssociationState)},
	}, nil
}

// routeTargets are the target parameters CreateRoute and ReplaceRoute
// share, with the IPv6 destination that Isthmus does not model.
type routeTargets struct {
	DestinationIpv6CidrBlock                                                  *string
	GatewayId, NetworkInterfaceId, VpcEndpointId                              *string
	CarrierGatewayId, CoreNetworkArn, EgressOnlyInternetGatewayId, InstanceId *string
	LocalGatewayId, NatGatewayId, OdbNetworkArn, TransitGatewayId             *string
	VpcPeeringConnectionId                                                    *string
}

func (t routeTargets) input(tableID, cidr, prefixList *string) (core.RouteInput, error) {
	if t.DestinationIpv6CidrBlock != nil {
		return core.RouteInput{}, awserr.New("UnsupportedOperation", "IPv6 routes are not supported by this endpoint.")
	}
	in := core.RouteInput{
		RouteTableID:            str(tableID),
		DestinationCidrBlock:    str(cidr),
		DestinationPrefixListID: str(prefixList),
		GatewayID:               str(t.GatewayId),
		NetworkInterfaceID:      str(t.NetworkInterfaceId),
		VpcEndpointID:           str(t.VpcEndpointId),
	}
	for _, o := range []struct {
		param string
		v     *string
	}{
		{"carrierGatewayId", t.CarrierGatewayId},
		{"coreNetworkArn", t.CoreNetworkArn},
		{"egressOnlyInternetGatewayId", t.EgressOnlyInternetGatewayId},
		{"instanceId", t.InstanceId},
		{"localGatewayId", t.LocalGatewayId},
		{"natGatewayId", t.NatGatewayId},
		{"odbNetworkArn", t.OdbNetworkArn},
		{"transitGatewayId", t.TransitGatewayId},
		{"vpcPeeringConnectionId", t.VpcPeeringConnectionId},
	} {
		if o.v != nil {
			in.Unsupported = append(in.Unsupported, core.RouteTargetParam{Param: o.param, Value: *o.v})
		}
	}
	return in, nil
}

func (h *Handler) createRoute(r *awsquery.Request, in *CreateRouteRequest) (*CreateRouteResult, error) {
	ri, err := routeTargets{
		DestinationIpv6CidrBlock: in.DestinationIpv6CidrBlock,
		GatewayId:                in.GatewayId, NetworkInterfaceId: in.NetworkInterfaceId, VpcEndpointId: in.VpcEndpointId,
		CarrierGatewayId: in.CarrierGatewayId, CoreNetworkArn: in.CoreNetworkArn,
		EgressOnlyInternetGatewayId: in.EgressOnlyInternetGatewayId, InstanceId: in.InstanceId,
		LocalGatewayId: in.LocalGatewayId, NatGatewayId: in.NatGatewayId, OdbNetworkArn: in.OdbNetworkArn,
		TransitGatewayId: in.TransitGatewayId, VpcPeeringConnectionId: in.VpcPeeringConnectionId,
	}.input(in.RouteTableId, in.DestinationCidrBlock, in.DestinationPrefixListId)
	if err != nil {
		return nil, err
	}
	if err := h.cloud.CreateRoute(caller(r, in.DryRun), ri); err != nil {
		return nil, err
	}
	return &CreateRouteResult{Return: ptr(true)}, nil
}

func (h *Handler) replaceRoute(r *awsquery.Request, in *ReplaceRouteRequest) (*struct{}, error) {
	ri, err := routeTargets{
		DestinationIpv6CidrBlock: in.DestinationIpv6CidrBlock,
		GatewayId:                in.GatewayId, NetworkInterfaceId: in.NetworkInterfaceId, VpcEndpointId: in.VpcEndpointId,
		CarrierGatewayId: in.CarrierGatewayId, CoreNetworkArn: in.CoreNetworkArn,
		EgressOnlyInternetGatewayId: in.EgressOnlyInternetGatewayId, InstanceId: in.InstanceId,
		LocalGatewayId: in.LocalGatewayId, NatGatewayId: in.NatGatewayId, OdbNetworkArn: in.OdbNetworkArn,
		TransitGatewayId: in.TransitGatewayId, VpcPeeringConnectionId: in.VpcPeeringConnectionId,
	}.input(in.RouteTableId, in.DestinationCidrBlock, in.DestinationPrefixListId)
	if err != nil {
		return nil, err
	}
	ri.LocalTarget = boolv(in.LocalTarget)
	return nil, h.cloud.ReplaceRoute(caller(r, in.DryRun), ri)
}

func (h *Handler) deleteRoute(r *awsquery.Request, in *DeleteRouteRequest) (*struct{}, error) {
	if in.DestinationIpv6CidrBlock != nil {
		return nil, awserr.New("UnsupportedOperation", "IPv6 routes are not supported by this endpoint.")
	}
	return nil, h.cloud.DeleteRoute(caller(r, in.DryRun), str(in.RouteTableId), str(in.DestinationCidrBlock), str(in.DestinationPrefixListId))
}
