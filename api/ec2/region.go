package ec2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) regionActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"DescribeRegions":           awsquery.Op(h.describeRegions),
		"DescribeAvailabilityZones": awsquery.Op(h.describeAvailabilityZones),
		"DescribeAccountAttributes": awsquery.Op(h.describeAccountAttributes),
	}
}

func (h *Handler) describeRegions(r *awsquery.Request, in *DescribeRegionsRequest) (*DescribeRegionsResult, error) {
	regions, err := h.cloud.DescribeRegions(caller(r, in.DryRun), in.RegionNames, filters(in.Filters))
	if err != nil {
		return nil, err
	}
	out := &DescribeRegionsResult{}
	for _, reg := range regions {
		out.Regions = append(out.Regions, Region{
			RegionName:  ptr(reg.Name),
			Endpoint:    ptr("ec2." + reg.Name + ".amazonaws.com"),
			OptInStatus: ptr("opt-in-not-required"),
		})
	}
	return out, nil
}

func (h *Handler) describeAvailabilityZones(r *awsquery.Request, in *DescribeAvailabilityZonesRequest) (*DescribeAvailabilityZonesResult, error) {
	zones, err := h.cloud.DescribeAvailabilityZones(caller(r, in.DryRun), in.ZoneNames, in.ZoneIds, filters(in.Filters))
	if err != nil {
		return nil, err
	}
	out := &DescribeAvailabilityZonesResult{}
	for _, z := range zones {
		out.AvailabilityZones = append(out.AvailabilityZones, AvailabilityZone{
			ZoneName:           ptr(z.Name),
			ZoneId:             ptr(z.ID),
			RegionName:         ptr(r.Region),
			State:              ptr("available"),
			ZoneType:           ptr("availability-zone"),
			OptInStatus:        ptr("opt-in-not-required"),
			GroupName:          ptr(r.Region),
			NetworkBorderGroup: ptr(r.Region),
			GroupLongName:      ptr(r.Region),
		})
	}
	return out, nil
}

func (h *Handler) describeAccountAttributes(r *awsquery.Request, in *DescribeAccountAttributesRequest) (*DescribeAccountAttributesResult, error) {
	if err := h.cloud.Check(caller(r, in.DryRun)); err != nil {
		return nil, err
	}
	attrs := []struct{ name, value string }{
		{"supported-platforms", "VPC"},
		{"default-vpc", "none"},
		{"max-instances", "0"},
		{"vpc-max-security-groups-per-interface", "5"},
		{"max-elastic-ips", "0"},
		{"vpc-max-elastic-ips", "0"},
	}
	out := &DescribeAccountAttributesResult{}
	for _, a := range attrs {
		if len(in.AttributeNames) > 0 && !contains(in.AttributeNames, a.name) {
			continue
		}
		out.AccountAttributes = append(out.AccountAttributes, AccountAttribute{
			AttributeName:   ptr(a.name),
			AttributeValues: []AccountAttributeValue{{AttributeValue: ptr(a.value)}},
		})
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var _ = core.Zone{}
