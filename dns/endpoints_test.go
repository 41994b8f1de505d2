package dns

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/isthmusnet/isthmus/core"
)

func endpointTopology() *core.Topology {
	top := topology()
	regional := "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0fedcba9876543210.us-east-1.vpce.amazonaws.com"
	ep := func(id, vpc, state string, private bool, subnets ...core.EndpointInterface) {
		top.VpcEndpoints = append(top.VpcEndpoints, &core.VpcEndpoint{Meta: core.Meta{ID: id, VpcID: vpc, Region: "us-east-1"},
			Type: core.EndpointTypeInterface, State: state, Subnets: subnets})
		if top.EndpointNames == nil {
			top.EndpointNames = map[string]core.EndpointNames{}
		}
		n := core.EndpointNames{Zonal: map[string]string{}}
		n.Regional = strings.Replace(regional, "0123456789abcdef0", id[5:], 1)
		for _, s := range subnets {
			n.Zonal[s.Zone] = strings.Replace(n.Regional, ".vpce-svc", "-"+s.Zone+".vpce-svc", 1)
		}
		if private {
			n.Private = "api.example.test"
		}
		top.EndpointNames[id] = n
	}
	ep("vpce-0123456789abcdef0", vpcA, core.EndpointAvailable, true,
		core.EndpointInterface{Zone: "us-east-1a", IP: "10.0.1.5"}, core.EndpointInterface{Zone: "us-east-1b", IP: "10.0.2.5"})
	ep("vpce-0999999999999999f", vpcA, core.EndpointDeleted, false, core.EndpointInterface{Zone: "us-east-1a", IP: "10.0.1.6"})
	return top
}

func TestEndpointNames(t *testing.T) {
	top := endpointTopology()
	regional := top.EndpointNames["vpce-0123456789abcdef0"].Regional
	zonalB := top.EndpointNames["vpce-0123456789abcdef0"].Zonal["us-east-1b"]
	for _, vpc := range []string{vpcA, vpcB} {
		h := resolverOf(t, top, vpc, Options{}, EndpointNames)
		if got := answers(ask(t, h, regional+".", dns.TypeA)); !strings.Contains(got, "60 IN A 10.0.1.5") || !strings.Contains(got, "60 IN A 10.0.2.5") {
			t.Errorf("%s: regional name: %q", vpc, got)
		}
		if got := answers(ask(t, h, strings.ToUpper(zonalB)+".", dns.TypeA)); !strings.HasSuffix(got, "IN A 10.0.2.5") || strings.Contains(got, "10.0.1.5") {
			t.Errorf("%s: zonal name: %q", vpc, got)
		}
		// A name of the service's domain that no endpoint has.
		if m := ask(t, h, "vpce-0999999999999999f-zzzzzzzz.vpce-svc-0fedcba9876543210.us-east-1.vpce.amazonaws.com.", dns.TypeA); m.Rcode != dns.RcodeNameError || !m.Authoritative {
			t.Errorf("%s: a deleted endpoint's name: %v", vpc, m)
		}
	}
	// The private name only in the endpoint's VPC.
	if got := answers(ask(t, resolverOf(t, top, vpcA, Options{}, EndpointNames), "api.example.test.", dns.TypeA)); !strings.Contains(got, "10.0.1.5") {
		t.Errorf("private name in the endpoint's VPC: %q", got)
	}
	if m := ask(t, resolverOf(t, top, vpcB, Options{}, EndpointNames), "api.example.test.", dns.TypeA); len(m.Answer) != 0 {
		t.Errorf("private name in another VPC: %v", m.Answer)
	}
}
