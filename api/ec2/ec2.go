package ec2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/core"
)

// Handler serves EC2 actions against a cloud.
type Handler struct {
	cloud *core.Cloud
}

// New returns the EC2 service over cloud.
func New(cloud *core.Cloud) *awsquery.Service {
	h := &Handler{cloud: cloud}
	actions := map[string]awsquery.Action{}
	for _, table := range []map[string]awsquery.Action{
		h.vpcActions(),
		h.regionActions(),
		h.tagActions(),
		h.subnetActions(),
		h.routeTableActions(),
		h.securityGroupActions(),
		h.networkInterfaceActions(),
		h.endpointActions(),
		h.endpointServiceActions(),
		h.prefixListActions(),
	} {
		for name, a := range table {
			actions[name] = a
		}
	}
	return &awsquery.Service{
		SigningName: "ec2",
		APIVersion:  APIVersion,
		Namespace:   XMLNamespace,
		Flavor:      awsquery.EC2,
		Actions:     actions,
	}
}

// caller is who makes r, with the request's DryRun flag.
func caller(r *awsquery.Request, dryRun *bool) core.Caller {
	return core.Caller{Account: r.Account, ARN: r.Principal, Region: r.Region, DryRun: dryRun != nil && *dryRun}
}

// Conversions shared by every resource.

func ptr[T any](v T) *T { return &v }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func boolv(p *bool) bool { return p != nil && *p }

func int32v(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// strp returns nil for "", so that empty fields stay out of responses.
func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func filters(fs []Filter) []core.Filter {
	out := make([]core.Filter, len(fs))
	for i, f := range fs {
		out[i] = core.Filter{Name: str(f.Name), Values: f.Values}
	}
	return out
}

func page(max *int32, token *string) core.Page {
	return core.Page{MaxResults: int32v(max), NextToken: str(token)}
}

func tagSpecs(specs []TagSpecification) []core.TagSpec {
	out := make([]core.TagSpec, len(specs))
	for i, s := range specs {
		out[i] = core.TagSpec{ResourceType: str(s.ResourceType), Tags: coreTags(s.Tags)}
	}
	return out
}

func coreTags(ts []Tag) []core.Tag {
	out := make([]core.Tag, len(ts))
	for i, t := range ts {
		out[i] = core.Tag{Key: str(t.Key), Value: str(t.Value)}
	}
	return out
}

func wireTags(ts []core.Tag) []Tag {
	if len(ts) == 0 {
		return nil
	}
	out := make([]Tag, len(ts))
	for i, t := range ts {
		out[i] = Tag{Key: ptr(t.Key), Value: ptr(t.Value)}
	}
	return out
}
