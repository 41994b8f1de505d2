package ec2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) endpointServiceActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateVpcEndpointServiceConfiguration":         awsquery.Op(h.createVpcEndpointServiceConfiguration),
		"DescribeVpcEndpointServiceConfigurations":      awsquery.Op(h.describeVpcEndpointServiceConfigurations),
		"ModifyVpcEndpointServiceConfiguration":         awsquery.Op(h.modifyVpcEndpointServiceConfiguration),
		"DeleteVpcEndpointServiceConfigurations":        awsquery.Op(h.deleteVpcEndpointServiceConfigurations),
		"ModifyVpcEndpointServicePermissions":           awsquery.Op(h.modifyVpcEndpointServicePermissions),
		"DescribeVpcEndpointServicePermissions":         awsquery.Op(h.describeVpcEndpointServicePermissions),
		"AcceptVpcEndpointConnections":                  awsquery.Op(h.acceptVpcEndpointConnections),
		"RejectVpcEndpointConnections":                  awsquery.Op(h.rejectVpcEndpointConnections),
		"DescribeVpcEndpointConnections":                awsquery.Op(h.describeVpcEndpointConnections),
		"StartVpcEndpointServicePrivateDnsVerification": awsquery.Op(h.startVpcEndpointServicePrivateDnsVerification),
		"ModifyVpcEndpointServicePayerResponsibility":   awsquery.Op(h.modifyVpcEndpointServicePayerResponsibility),
		"DescribeVpcEndpointServices":                   awsquery.Op(h.describeVpcEndpointServices),
		"CreateVpcEndpointConnectionNotification":       awsquery.Op(h.createVpcEndpointConnectionNotification),
		"DescribeVpcEndpointConnectionNotifications":    awsquery.Op(h.describeVpcEndpointConnectionNotifications),
		"ModifyVpcEndpointConnectionNotification":       awsquery.Op(h.modifyVpcEndpointConnectionNotification),
		"DeleteVpcEndpointConnectionNotifications":      awsquery.Op(h.deleteVpcEndpointConnectionNotifications),
	}
}

func (h *Handler) createVpcEndpointServiceConfiguration(r *awsquery.Request, in *CreateVpcEndpointServiceConfigurationRequest) (*CreateVpcEndpointServiceConfigurationResult, error) {
	s, err := h.cloud.CreateVpcEndpointServiceConfiguration(caller(r, in.DryRun), core.CreateEndpointServiceInput{
		NetworkLoadBalancerARNs: in.NetworkLoadBalancerArns,
		GatewayLoadBalancerARNs: in.GatewayLoadBalancerArns,
		AcceptanceRequired:      boolv(in.AcceptanceRequired),
		PrivateDNSName:          str(in.PrivateDnsName),
		SupportedIPAddressTypes: in.SupportedIpAddressTypes,
		SupportedRegions:        in.SupportedRegions,
		TagSpecs:                tagSpecs(in.TagSpecifications),
	})
	if err != nil {
		return nil, err
	}
	v, err := h.cloud.ServiceByID(caller(r, nil), s.ID)
	if err != nil {
		return nil, err
	}
	return &CreateVpcEndpointServiceConfigurationResult{ServiceConfiguration: wireServiceConfiguration(v), ClientToken: in.ClientToken}, nil
}

func zoneNamesAndIDs(zs []core.Zone) ([]string, []string) {
	var names, ids []string
	for _, z := range zs {
		names = append(names, z.Name)
		ids = append(ids, z.ID)
	}
	return names, ids
}

func wireServiceConfiguration(v *core.ServiceView) *ServiceConfiguration {
	names, ids := zoneNamesAndIDs(v.Zones)
	out := &ServiceConfiguration{
		ServiceId:               ptr(v.ID),
		ServiceName:             ptr(v.ServiceName()),
		ServiceState:            ptr(v.State),
		ServiceType:             []ServiceTypeDetail{{ServiceType: ptr(v.Type)}},
		AcceptanceRequired:      ptr(v.AcceptanceRequired),
		ManagesVpcEndpoints:     ptr(false),
		AvailabilityZones:       names,
		AvailabilityZoneIds:     ids,
		NetworkLoadBalancerArns: v.NLBs,
		GatewayLoadBalancerArns: v.GWLBs,
		SupportedIpAddressTypes: v.IPAddressTypes,
		PayerResponsibility:     strp(v.PayerResponsibility),
		PrivateDnsName:          strp(v.PrivateDNSName),
		RemoteAccessEnabled:     ptr(false),
		Tags:                    wireTags(v.Tags),
	}
	if v.Type != core.EndpointTypeGatewayLoadBalancer {
		out.BaseEndpointDnsNames = []string{v.BaseEndpointDNSName()}
	}
	if v.DNS != nil {
		out.PrivateDnsNameConfiguration = &PrivateDnsNameConfiguration{
			Name: ptr(v.DNS.Name), Value: ptr(v.DNS.Value), Type: ptr("TXT"), State: ptr(v.DNS.State),
		}
	}
	return out
}

func (h *Handler) describeVpcEndpointServiceConfigurations(r *awsquery.Request, in *DescribeVpcEndpointServiceConfigurationsRequest) (*DescribeVpcEndpointServiceConfigurationsResult, error) {
	svcs, next, err := h.cloud.DescribeVpcEndpointServiceConfigurations(caller(r, in.DryRun), in.ServiceIds, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeVpcEndpointServiceConfigurationsResult{NextToken: strp(next)}
	for _, v := range svcs {
		out.ServiceConfigurations = append(out.ServiceConfigurations, *wireServiceConfiguration(v))
	}
	return out, nil
}

func (h *Handler) modifyVpcEndpointServiceConfiguration(r *awsquery.Request, in *ModifyVpcEndpointServiceConfigurationRequest) (*ModifyVpcEndpointServiceConfigurationResult, error) {
	err := h.cloud.ModifyVpcEndpointServiceConfiguration(caller(r, in.DryRun), core.ModifyEndpointServiceInput{
		ServiceID:                     str(in.ServiceId),
		AcceptanceRequired:            in.AcceptanceRequired,
		PrivateDNSName:                str(in.PrivateDnsName),
		RemovePrivateDNSName:          boolv(in.RemovePrivateDnsName),
		AddNetworkLoadBalancerARNs:    in.AddNetworkLoadBalancerArns,
		RemoveNetworkLoadBalancerARNs: in.RemoveNetworkLoadBalancerArns,
		AddGatewayLoadBalancerARNs:    in.AddGatewayLoadBalancerArns,
		RemoveGatewayLoadBalancerARNs: in.RemoveGatewayLoadBalancerArns,
		AddSupportedIPAddressTypes:    in.AddSupportedIpAddressTypes,
		RemoveSupportedIPAddressTypes: in.RemoveSupportedIpAddressTypes,
		AddSupportedRegions:           in.AddSupportedRegions,
		RemoveSupportedRegions:        in.RemoveSupportedRegions,
	})
	if err != nil {
		return nil, err
	}
	return &ModifyVpcEndpointServiceConfigurationResult{Return: ptr(true)}, nil
}

func wireUnsuccessful(items []core.UnsuccessfulItem) []UnsuccessfulItem {
	var out []UnsuccessfulItem
	for _, it := range items {
		out = append(out, UnsuccessfulItem{
			ResourceId: ptr(it.ResourceID),
			Error:      &UnsuccessfulItemError{Code: ptr(it.Code), Message: ptr(it.Message)},
		})
	}
	return out
}

func (h *Handler) deleteVpcEndpointServiceConfigurations(r *awsquery.Request, in *DeleteVpcEndpointServiceConfigurationsRequest) (*DeleteVpcEndpointServiceConfigurationsResult, error) {
	items, err := h.cloud.DeleteVpcEndpointServiceConfigurations(caller(r, in.DryRun), in.ServiceIds)
	if err != nil {
		return nil, err
	}
	return &DeleteVpcEndpointServiceConfigurationsResult{Unsuccessful: wireUnsuccessful(items)}, nil
}

func (h *Handler) modifyVpcEndpointServicePermissions(r *awsquery.Request, in *ModifyVpcEndpointServicePermissionsRequest) (*ModifyVpcEndpointServicePermissionsResult, error) {
	added, err := h.cloud.ModifyVpcEndpointServicePermissions(caller(r, in.DryRun), str(in.ServiceId), in.AddAllowedPrincipals, in.RemoveAllowedPrincipals)
	if err != nil {
		return nil, err
	}
	out := &ModifyVpcEndpointServicePermissionsResult{ReturnValue: ptr(true)}
	for _, p := range added {
		out.AddedPrincipals = append(out.AddedPrincipals, AddedPrincipal{
			Principal: ptr(p.Principal), PrincipalType: ptr(p.Type), ServicePermissionId: ptr(p.ID), ServiceId: in.ServiceId,
		})
	}
	return out, nil
}

func (h *Handler) describeVpcEndpointServicePermissions(r *awsquery.Request, in *DescribeVpcEndpointServicePermissionsRequest) (*DescribeVpcEndpointServicePermissionsResult, error) {
	ps, s, next, err := h.cloud.DescribeVpcEndpointServicePermissions(caller(r, in.DryRun), str(in.ServiceId), filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeVpcEndpointServicePermissionsResult{NextToken: strp(next)}
	for _, p := range ps {
		out.AllowedPrincipals = append(out.AllowedPrincipals, AllowedPrincipal{
			Principal: ptr(p.Principal), PrincipalType: ptr(p.Type), ServicePermissionId: ptr(p.ID), ServiceId: ptr(s.ID),
		})
	}
	return out, nil
}

func (h *Handler) acceptVpcEndpointConnections(r *awsquery.Request, in *AcceptVpcEndpointConnectionsRequest) (*AcceptVpcEndpointConnectionsResult, error) {
	items, err := h.cloud.AcceptVpcEndpointConnections(caller(r, in.DryRun), str(in.ServiceId), in.VpcEndpointIds)
	if err != nil {
		return nil, err
	}
	return &AcceptVpcEndpointConnectionsResult{Unsuccessful: wireUnsuccessful(items)}, nil
}

func (h *Handler) rejectVpcEndpointConnections(r *awsquery.Request, in *RejectVpcEndpointConnectionsRequest) (*RejectVpcEndpointConnectionsResult, error) {
	items, err := h.cloud.RejectVpcEndpointConnections(caller(r, in.DryRun), str(in.ServiceId), in.VpcEndpointIds)
	if err != nil {
		return nil, err
	}
	return &RejectVpcEndpointConnectionsResult{Unsuccessful: wireUnsuccessful(items)}, nil
}

func wireDNSEntries(es []core.DNSEntry) []DnsEntry {
	var out []DnsEntry
	for _, e := range es {
		out = append(out, DnsEntry{DnsName: ptr(e.Name), HostedZoneId: ptr(e.HostedZoneID)})
	}
	return out
}

func (h *Handler) describeVpcEndpointConnections(r *awsquery.Request, in *DescribeVpcEndpointConnectionsRequest) (*DescribeVpcEndpointConnectionsResult, error) {
	conns, next, err := h.cloud.DescribeVpcEndpointConnections(caller(r, in.DryRun), filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeVpcEndpointConnectionsResult{NextToken: strp(next)}
	for _, c := range conns {
		out.VpcEndpointConnections = append(out.VpcEndpointConnections, VpcEndpointConnection{
			ServiceId:               ptr(c.ServiceID),
			VpcEndpointId:           ptr(c.ID),
			VpcEndpointConnectionId: ptr(c.ConnectionID),
			VpcEndpointOwner:        ptr(c.Connection.EndpointOwner),
			VpcEndpointState:        ptr(c.State),
			VpcEndpointRegion:       ptr(c.Region),
			CreationTimestamp:       ptr(c.Created),
			DnsEntries:              wireDNSEntries(c.DNSEntries),
			NetworkLoadBalancerArns: c.NLBs,
			GatewayLoadBalancerArns: c.GWLBs,
			IpAddressType:           strp(c.IPAddressType),
		})
	}
	return out, nil
}

func (h *Handler) startVpcEndpointServicePrivateDnsVerification(r *awsquery.Request, in *StartVpcEndpointServicePrivateDnsVerificationRequest) (*StartVpcEndpointServicePrivateDnsVerificationResult, error) {
	if err := h.cloud.StartVpcEndpointServicePrivateDnsVerification(caller(r, in.DryRun), str(in.ServiceId)); err != nil {
		return nil, err
	}
	return &StartVpcEndpointServicePrivateDnsVerificationResult{ReturnValue: ptr(true)}, nil
}

func (h *Handler) modifyVpcEndpointServicePayerResponsibility(r *awsquery.Request, in *ModifyVpcEndpointServicePayerResponsibilityRequest) (*ModifyVpcEndpointServicePayerResponsibilityResult, error) {
	if err := h.cloud.ModifyVpcEndpointServicePayerResponsibility(caller(r, in.DryRun), str(in.ServiceId), str(in.PayerResponsibility)); err != nil {
		return nil, err
	}
	return &ModifyVpcEndpointServicePayerResponsibilityResult{ReturnValue: ptr(true)}, nil
}

func (h *Handler) describeVpcEndpointServices(r *awsquery.Request, in *DescribeVpcEndpointServicesRequest) (*DescribeVpcEndpointServicesResult, error) {
	details, next, err := h.cloud.DescribeVpcEndpointServices(caller(r, in.DryRun), in.ServiceNames, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeVpcEndpointServicesResult{NextToken: strp(next)}
	for _, d := range details {
		names, ids := zoneNamesAndIDs(d.Zones)
		sd := ServiceDetail{
			ServiceName:                     ptr(d.Name),
			ServiceId:                       ptr(d.ID),
			ServiceType:                     []ServiceTypeDetail{{ServiceType: ptr(d.Type)}},
			ServiceRegion:                   ptr(r.Region),
			Owner:                           ptr(d.Owner),
			AvailabilityZones:               names,
			AvailabilityZoneIds:             ids,
			BaseEndpointDnsNames:            d.BaseEndpointDNS,
			PrivateDnsName:                  strp(d.PrivateDNSName),
			PrivateDnsNameVerificationState: strp(d.VerificationState),
			AcceptanceRequired:              ptr(d.AcceptanceRequired),
			VpcEndpointPolicySupported:      ptr(d.PolicySupported),
			ManagesVpcEndpoints:             ptr(d.ManagesVpcEndpoints),
			PayerResponsibility:             strp(d.PayerResponsibility),
			SupportedIpAddressTypes:         d.IPAddressTypes,
			Tags:                            wireTags(d.Tags),
		}
		if d.PrivateDNSName != "" {
			sd.PrivateDnsNames = []PrivateDnsDetails{{PrivateDnsName: ptr(d.PrivateDNSName)}}
		}
		out.ServiceDetails = append(out.ServiceDetails, sd)
		if n := len(out.ServiceNames); n == 0 || out.ServiceNames[n-1] != d.Name {
			out.ServiceNames = append(out.ServiceNames, d.Name)
		}
	}
	return out, nil
}

func wireNotification(n *core.ConnectionNotification, region string) *ConnectionNotification {
	return &ConnectionNotification{
		ConnectionNotificationId:    ptr(n.ID),
		ConnectionNotificationArn:   ptr(n.TopicARN),
		ConnectionNotificationState: ptr(n.State),
		ConnectionNotificationType:  ptr("Topic"),
		ConnectionEvents:            n.Events,
		ServiceId:                   strp(n.ServiceID),
		VpcEndpointId:               strp(n.EndpointID),
		ServiceRegion:               ptr(region),
	}
}

func (h *Handler) createVpcEndpointConnectionNotification(r *awsquery.Request, in *CreateVpcEndpointConnectionNotificationRequest) (*CreateVpcEndpointConnectionNotificationResult, error) {
	n, err := h.cloud.CreateVpcEndpointConnectionNotification(caller(r, in.DryRun), core.CreateConnectionNotificationInput{
		ServiceID: str(in.ServiceId), VpcEndpointID: str(in.VpcEndpointId),
		TopicARN: str(in.ConnectionNotificationArn), Events: in.ConnectionEvents,
	})
	if err != nil {
		return nil, err
	}
	return &CreateVpcEndpointConnectionNotificationResult{ConnectionNotification: wireNotification(n, r.Region), ClientToken: in.ClientToken}, nil
}

func (h *Handler) describeVpcEndpointConnectionNotifications(r *awsquery.Request, in *DescribeVpcEndpointConnectionNotificationsRequest) (*DescribeVpcEndpointConnectionNotificationsResult, error) {
	ns, next, err := h.cloud.DescribeVpcEndpointConnectionNotifications(caller(r, in.DryRun), str(in.ConnectionNotificationId), filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeVpcEndpointConnectionNotificationsResult{NextToken: strp(next)}
	for _, n := range ns {
		out.ConnectionNotificationSet = append(out.ConnectionNotificationSet, *wireNotification(n, r.Region))
	}
	return out, nil
}

func (h *Handler) modifyVpcEndpointConnectionNotification(r *awsquery.Request, in *ModifyVpcEndpointConnectionNotificationRequest) (*ModifyVpcEndpointConnectionNotificationResult, error) {
	if err := h.cloud.ModifyVpcEndpointConnectionNotification(caller(r, in.DryRun), str(in.ConnectionNotificationId), str(in.ConnectionNotificationArn), in.ConnectionEvents); err != nil {
		return nil, err
	}
	return &ModifyVpcEndpointConnectionNotificationResult{ReturnValue: ptr(true)}, nil
}

func (h *Handler) deleteVpcEndpointConnectionNotifications(r *awsquery.Request, in *DeleteVpcEndpointConnectionNotificationsRequest) (*DeleteVpcEndpointConnectionNotificationsResult, error) {
	items, err := h.cloud.DeleteVpcEndpointConnectionNotifications(caller(r, in.DryRun), in.ConnectionNotificationIds)
	if err != nil {
		return nil, err
	}
	return &DeleteVpcEndpointConnectionNotificationsResult{Unsuccessful: wireUnsuccessful(items)}, nil
}
