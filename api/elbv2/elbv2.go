// Package elbv2 serves Elastic Load Balancing's v2 Query API (version
// 2015-12-01) for network and gateway load balancers.
package elbv2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/core"
)

// New returns the ELBv2 service over cloud.
func New(cloud *core.Cloud) *awsquery.Service {
	return &awsquery.Service{
		SigningName: "elasticloadbalancing",
		APIVersion:  APIVersion,
		Namespace:   XMLNamespace,
		Flavor:      awsquery.Query,
		Actions:     map[string]awsquery.Action{},
	}
}
