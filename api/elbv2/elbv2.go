// Package elbv2 serves Elastic Load Balancing's v2 Query API (version
// 2015-12-01) for network and gateway load balancers: load balancers,
// target groups and their targets, listeners, attributes and tags.
//
// Handlers only translate between the wire shapes generated in zz_wire.go
// (by tools/awsgen from AWS's model; see operations.txt) and the core,
// which holds the rules and answers with ELB's error codes.
package elbv2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/core"
)

// Handler serves ELBv2 actions against a cloud.
type Handler struct {
	cloud *core.Cloud
}

// New returns the ELBv2 service over cloud.
func New(cloud *core.Cloud) *awsquery.Service {
	h := &Handler{cloud: cloud}
	actions := map[string]awsquery.Action{}
	for _, table := range []map[string]awsquery.Action{
		h.loadBalancerActions(),
		h.targetGroupActions(),
		h.listenerActions(),
		h.tagActions(),
	} {
		for name, a := range table {
			actions[name] = a
		}
	}
	return &awsquery.Service{
		SigningName: "elasticloadbalancing",
		APIVersion:  APIVersion,
		Namespace:   XMLNamespace,
		Flavor:      awsquery.Query,
		Actions:     actions,
	}
}

// caller is who makes r. ELB has no DryRun.
func caller(r *awsquery.Request) core.Caller {
	return core.Caller{Account: r.Account, ARN: r.Principal, Region: r.Region}
}

// Conversions shared by every resource.

func ptr[T any](v T) *T { return &v }

func str(p *string) string {
	if p == nil {
		return ""
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

func page(size *int32, marker *string) core.MarkerPage {
	return core.MarkerPage{PageSize: size, Marker: str(marker)}
}

func coreTags(ts []Tag) []core.Tag {
	out := make([]core.Tag, len(ts))
	for i, t := range ts {
		out[i] = core.Tag{Key: str(t.Key), Value: str(t.Value)}
	}
	return out
}

func wireTags(ts []core.Tag) []Tag {
	out := make([]Tag, len(ts))
	for i, t := range ts {
		out[i] = Tag{Key: ptr(t.Key), Value: ptr(t.Value)}
	}
	return out
}
