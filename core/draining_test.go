package core

import (
	"testing"
	"time"
)

func TestDeregisteredTargetsDrain(t *testing.T) {
	f := newPLFixture(t, Options{})
	c, who := f.c, plProvider
	lbs, _, err := c.DescribeLoadBalancers(who, nil, nil, MarkerPage{})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbs[0]
	port := int32(8080)
	tg, err := c.CreateTargetGroup(who, CreateTargetGroupInput{Name: "web", Protocol: ProtocolTCP, Port: &port, VpcID: lb.VpcID, TargetType: TargetTypeIP})
	if err != nil {
		t.Fatal(err)
	}
	states := func() map[string]string {
		t.Helper()
		ds, err := c.DescribeTargetHealth(who, tg.ARN(), nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, d := range ds {
			out[d.Target.ID] = d.Health.State + "/" + d.Health.Reason
		}
		return out
	}
	reg := func(ids ...string) {
		t.Helper()
		var in []TargetInput
		for _, id := range ids {
			in = append(in, TargetInput{ID: id})
		}
		if err := c.RegisterTargets(who, tg.ARN(), in); err != nil {
			t.Fatal(err)
		}
	}
	dereg := func(id string) {
		t.Helper()
		if err := c.DeregisterTargets(who, tg.ARN(), []TargetInput{{ID: id}}); err != nil {
			t.Fatal(err)
		}
	}
	// No load balancer uses the group: deregistration completes at once.
	reg("10.0.1.10", "10.0.1.11")
	dereg("10.0.1.10")
	if s := states(); s["10.0.1.10"] != "" {
		t.Fatalf("unused group: %v", s)
	}
	p80 := int32(80)
	if _, err := c.CreateListener(who, CreateListenerInput{LoadBalancerARN: lb.ARN(), Port: &p80, Protocol: ProtocolTCP,
		DefaultActions: []ActionInput{{Type: "forward", TargetGroupARN: tg.ARN()}}}); err != nil {
		t.Fatal(err)
	}
	dereg("10.0.1.11")
	if s := states(); s["10.0.1.11"] != "draining/Target.DeregistrationInProgress" {
		t.Fatalf("after deregistering: %v", s)
	}
	ds, err := c.DescribeTargetHealth(who, tg.ARN(), []TargetInput{{ID: "10.0.1.11"}})
	if err != nil || len(ds) != 1 || ds[0].Health.State != TargetDraining {
		t.Fatalf("asked by id: %+v, %v", ds, err)
	}
	top, _, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	rec := top.TargetHealth[tg.ARN()][TargetRef{ID: "10.0.1.11", Port: 8080}]
	if want := f.clock.now().Add(300 * time.Second); !rec.Until.Equal(want) {
		t.Fatalf("draining until %v, want %v (the default delay)", rec.Until, want)
	}
	// Registering again ends the draining.
	reg("10.0.1.11")
	if s := states(); s["10.0.1.11"] != "initial/Elb.RegistrationInProgress" {
		t.Fatalf("registered again: %v", s)
	}
	// The delay passes: no longer listed, and EndDraining removes the record.
	dereg("10.0.1.11")
	f.clock.advance(301 * time.Second)
	if s := states(); s["10.0.1.11"] != "" {
		t.Fatalf("after the delay: %v", s)
	}
	if err := c.EndDraining("us-east-1", tg.ARN(), TargetRef{ID: "10.0.1.11", Port: 8080}); err != nil {
		t.Fatal(err)
	}
	if top, _, _ := c.Topology(); len(top.TargetHealth[tg.ARN()]) != 0 {
		t.Fatalf("records left: %v", top.TargetHealth[tg.ARN()])
	}
	// A delay of 0 completes at once.
	if _, err := c.ModifyTargetGroupAttributes(who, tg.ARN(), []Attribute{{Key: "deregistration_delay.timeout_seconds", Value: "0"}}); err != nil {
		t.Fatal(err)
	}
	reg("10.0.1.12")
	dereg("10.0.1.12")
	if s := states(); s["10.0.1.12"] != "" {
		t.Fatalf("delay 0: %v", s)
	}
}
