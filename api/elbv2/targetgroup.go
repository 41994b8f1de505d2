package elbv2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) targetGroupActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateTargetGroup":             awsquery.Op(h.createTargetGroup),
		"DescribeTargetGroups":          awsquery.Op(h.describeTargetGroups),
		"ModifyTargetGroup":             awsquery.Op(h.modifyTargetGroup),
		"DeleteTargetGroup":             awsquery.Op(h.deleteTargetGroup),
		"DescribeTargetGroupAttributes": awsquery.Op(h.describeTargetGroupAttributes),
		"ModifyTargetGroupAttributes":   awsquery.Op(h.modifyTargetGroupAttributes),
		"RegisterTargets":               awsquery.Op(h.registerTargets),
		"DeregisterTargets":             awsquery.Op(h.deregisterTargets),
		"DescribeTargetHealth":          awsquery.Op(h.describeTargetHealth),
	}
}

func healthCheckInput(enabled *bool, protocol, port, path *string, interval, timeout, healthy, unhealthy *int32, m *Matcher) core.HealthCheckInput {
	in := core.HealthCheckInput{
		Enabled: enabled, Protocol: protocol, Port: port, Path: path,
		Interval: interval, Timeout: timeout, Healthy: healthy, Unhealthy: unhealthy,
	}
	if m != nil {
		in.HTTPCode, in.GrpcCode = m.HttpCode, m.GrpcCode
	}
	return in
}

func (h *Handler) createTargetGroup(r *awsquery.Request, in *CreateTargetGroupInput) (*CreateTargetGroupOutput, error) {
	tg, err := h.cloud.CreateTargetGroup(caller(r), core.CreateTargetGroupInput{
		Name:              str(in.Name),
		Protocol:          str(in.Protocol),
		ProtocolVersion:   str(in.ProtocolVersion),
		Port:              in.Port,
		VpcID:             str(in.VpcId),
		TargetType:        str(in.TargetType),
		IPAddressType:     str(in.IpAddressType),
		TargetControlPort: in.TargetControlPort,
		HealthCheck: healthCheckInput(in.HealthCheckEnabled, in.HealthCheckProtocol, in.HealthCheckPort, in.HealthCheckPath,
			in.HealthCheckIntervalSeconds, in.HealthCheckTimeoutSeconds, in.HealthyThresholdCount, in.UnhealthyThresholdCount, in.Matcher),
		Tags: coreTags(in.Tags),
	})
	if err != nil {
		return nil, err
	}
	return &CreateTargetGroupOutput{TargetGroups: []TargetGroup{wireTargetGroup(tg)}}, nil
}

func wireTargetGroup(tg *core.TargetGroup) TargetGroup {
	hc := tg.HealthCheck
	out := TargetGroup{
		TargetGroupArn:             ptr(tg.ARN()),
		TargetGroupName:            ptr(tg.Name),
		Protocol:                   ptr(tg.Protocol),
		Port:                       ptr(tg.Port),
		VpcId:                      ptr(tg.VpcID),
		HealthCheckEnabled:         ptr(hc.Enabled),
		HealthCheckProtocol:        ptr(hc.Protocol),
		HealthCheckPort:            ptr(hc.Port),
		HealthCheckPath:            strp(hc.Path),
		HealthCheckIntervalSeconds: ptr(hc.Interval),
		HealthCheckTimeoutSeconds:  ptr(hc.Timeout),
		HealthyThresholdCount:      ptr(hc.Healthy),
		UnhealthyThresholdCount:    ptr(hc.Unhealthy),
		LoadBalancerArns:           tg.LoadBalancerARNs,
		TargetType:                 ptr(tg.TargetType),
		IpAddressType:              ptr(tg.IPAddressType),
	}
	if hc.Matcher != "" {
		out.Matcher = &Matcher{HttpCode: ptr(hc.Matcher)}
	}
	return out
}

func (h *Handler) describeTargetGroups(r *awsquery.Request, in *DescribeTargetGroupsInput) (*DescribeTargetGroupsOutput, error) {
	tgs, next, err := h.cloud.DescribeTargetGroups(caller(r), in.TargetGroupArns, in.Names, str(in.LoadBalancerArn), page(in.PageSize, in.Marker))
	if err != nil {
		return nil, err
	}
	out := &DescribeTargetGroupsOutput{NextMarker: strp(next)}
	for _, tg := range tgs {
		out.TargetGroups = append(out.TargetGroups, wireTargetGroup(tg))
	}
	return out, nil
}

func (h *Handler) modifyTargetGroup(r *awsquery.Request, in *ModifyTargetGroupInput) (*ModifyTargetGroupOutput, error) {
	tg, err := h.cloud.ModifyTargetGroup(caller(r), str(in.TargetGroupArn), healthCheckInput(in.HealthCheckEnabled, in.HealthCheckProtocol,
		in.HealthCheckPort, in.HealthCheckPath, in.HealthCheckIntervalSeconds, in.HealthCheckTimeoutSeconds, in.HealthyThresholdCount,
		in.UnhealthyThresholdCount, in.Matcher))
	if err != nil {
		return nil, err
	}
	return &ModifyTargetGroupOutput{TargetGroups: []TargetGroup{wireTargetGroup(tg)}}, nil
}

func (h *Handler) deleteTargetGroup(r *awsquery.Request, in *DeleteTargetGroupInput) (*DeleteTargetGroupOutput, error) {
	if err := h.cloud.DeleteTargetGroup(caller(r), str(in.TargetGroupArn)); err != nil {
		return nil, err
	}
	return &DeleteTargetGroupOutput{}, nil
}

func wireTGAttributes(as []core.Attribute) []TargetGroupAttribute {
	out := make([]TargetGroupAttribute, len(as))
	for i, a := range as {
		out[i] = TargetGroupAttribute{Key: ptr(a.Key), Value: ptr(a.Value)}
	}
	return out
}

func (h *Handler) describeTargetGroupAttributes(r *awsquery.Request, in *DescribeTargetGroupAttributesInput) (*DescribeTargetGroupAttributesOutput, error) {
	as, err := h.cloud.DescribeTargetGroupAttributes(caller(r), str(in.TargetGroupArn))
	if err != nil {
		return nil, err
	}
	return &DescribeTargetGroupAttributesOutput{Attributes: wireTGAttributes(as)}, nil
}

func (h *Handler) modifyTargetGroupAttributes(r *awsquery.Request, in *ModifyTargetGroupAttributesInput) (*ModifyTargetGroupAttributesOutput, error) {
	attrs := make([]core.Attribute, len(in.Attributes))
	for i, a := range in.Attributes {
		if a.Key == nil {
			return nil, awserr.New("ValidationError", "An attribute key must be specified")
		}
		attrs[i] = core.Attribute{Key: str(a.Key), Value: str(a.Value)}
	}
	as, err := h.cloud.ModifyTargetGroupAttributes(caller(r), str(in.TargetGroupArn), attrs)
	if err != nil {
		return nil, err
	}
	return &ModifyTargetGroupAttributesOutput{Attributes: wireTGAttributes(as)}, nil
}

func coreTargets(ts []TargetDescription) ([]core.TargetInput, error) {
	out := make([]core.TargetInput, len(ts))
	for i, t := range ts {
		if t.QuicServerId != nil {
			return nil, awserr.New("ValidationError", "A QUIC server ID can only be specified for QUIC and TCP_QUIC target groups")
		}
		out[i] = core.TargetInput{ID: str(t.Id), Port: t.Port, AvailabilityZone: str(t.AvailabilityZone)}
	}
	return out, nil
}

func (h *Handler) registerTargets(r *awsquery.Request, in *RegisterTargetsInput) (*RegisterTargetsOutput, error) {
	ts, err := coreTargets(in.Targets)
	if err != nil {
		return nil, err
	}
	if err := h.cloud.RegisterTargets(caller(r), str(in.TargetGroupArn), ts); err != nil {
		return nil, err
	}
	return &RegisterTargetsOutput{}, nil
}

func (h *Handler) deregisterTargets(r *awsquery.Request, in *DeregisterTargetsInput) (*DeregisterTargetsOutput, error) {
	ts, err := coreTargets(in.Targets)
	if err != nil {
		return nil, err
	}
	if err := h.cloud.DeregisterTargets(caller(r), str(in.TargetGroupArn), ts); err != nil {
		return nil, err
	}
	return &DeregisterTargetsOutput{}, nil
}

func (h *Handler) describeTargetHealth(r *awsquery.Request, in *DescribeTargetHealthInput) (*DescribeTargetHealthOutput, error) {
	for _, inc := range in.Include {
		if inc != "AnomalyDetection" && inc != "All" {
			return nil, awserr.New("ValidationError", "1 validation error detected: Value '%s' at 'include' failed to satisfy constraint: Member must satisfy enum value set: [AnomalyDetection, All]", inc)
		}
	}
	ts, err := coreTargets(in.Targets)
	if err != nil {
		return nil, err
	}
	res, err := h.cloud.DescribeTargetHealth(caller(r), str(in.TargetGroupArn), ts)
	if err != nil {
		return nil, err
	}
	out := &DescribeTargetHealthOutput{TargetHealthDescriptions: []TargetHealthDescription{}}
	for _, d := range res {
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, TargetHealthDescription{
			Target:          &TargetDescription{Id: ptr(d.Target.ID), Port: ptr(d.Target.Port), AvailabilityZone: strp(d.Target.AvailabilityZone)},
			HealthCheckPort: ptr(d.HealthCheckPort),
			TargetHealth:    &TargetHealth{State: ptr(d.Health.State), Reason: strp(d.Health.Reason), Description: strp(d.Health.Description)},
		})
	}
	return out, nil
}
