package core

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/store/bolt"
)

var (
	plProvider = Caller{Account: "111111111111", ARN: RootARN("111111111111"), Region: "us-east-1"}
	plConsumer = Caller{Account: "222222222222", ARN: "arn:aws:iam::222222222222:role/app", Region: "us-east-1"}
)

// plClock is a settable clock.
type plClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *plClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *plClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// plFixture: the provider's NLB in zones a and b fronted by a service
// requiring acceptance, allowed to the consumer, whose VPC has subnets in
// zones a, b and c.
type plFixture struct {
	c       *Cloud
	clock   *plClock
	svc     *EndpointService
	vpc     *Vpc
	subnets []*Subnet
}

func newPLFixture(t *testing.T, opts Options) *plFixture {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "pl.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &plFixture{clock: &plClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	opts.Regions = []Region{NewRegion("us-east-1", 3)}
	opts.Now = f.clock.now
	f.c = New(st, opts)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	net := func(who Caller) (*Vpc, []*Subnet) {
		v, err := f.c.CreateVpc(who, CreateVpcInput{CidrBlock: "10.0.0.0/16"})
		must(err)
		var subs []*Subnet
		for i, z := range []string{"a", "b", "c"} {
			s, err := f.c.CreateSubnet(who, CreateSubnetInput{VpcID: v.ID, CidrBlock: "10.0." + string(rune('1'+i)) + ".0/24", AvailabilityZone: "us-east-1" + z})
			must(err)
			subs = append(subs, s)
		}
		return v, subs
	}
	_, psubs := net(plProvider)
	lb, err := f.c.CreateLoadBalancer(plProvider, CreateLoadBalancerInput{Name: "nlb", Type: LoadBalancerNetwork, Subnets: []string{psubs[0].ID, psubs[1].ID}})
	must(err)
	f.svc, err = f.c.CreateVpcEndpointServiceConfiguration(plProvider, CreateEndpointServiceInput{
		NetworkLoadBalancerARNs: []string{lb.ARN()}, AcceptanceRequired: true, PrivateDNSName: "*.api.example.test"})
	must(err)
	_, err = f.c.ModifyVpcEndpointServicePermissions(plProvider, f.svc.ID, []string{"arn:aws:iam::222222222222:role/app"}, nil)
	must(err)
	f.vpc, f.subnets = net(plConsumer)
	return f
}

func (f *plFixture) endpoint(t *testing.T) *EndpointView {
	t.Helper()
	v, err := f.c.CreateVpcEndpoint(plConsumer, CreateVpcEndpointInput{VpcID: f.vpc.ID, ServiceName: f.svc.ServiceName(),
		Type: EndpointTypeInterface, SubnetIDs: []string{f.subnets[0].ID}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *plFixture) state(t *testing.T, id string) string {
	t.Helper()
	eps, _, err := f.c.DescribeVpcEndpoints(plConsumer, []string{id}, nil, Page{})
	if err != nil {
		t.Fatal(err)
	}
	conns, _, err := f.c.DescribeVpcEndpointConnections(plProvider, []Filter{{Name: "vpc-endpoint-id", Values: []string{id}}}, Page{})
	if err != nil || len(conns) != 1 {
		t.Fatalf("connection of %s: %v, %v", id, conns, err)
	}
	if conns[0].State != eps[0].State {
		t.Errorf("endpoint %s is %s but its connection %s", id, eps[0].State, conns[0].State)
	}
	return eps[0].State
}

func TestPrincipalsByRoleARN(t *testing.T) {
	f := newPLFixture(t, Options{})
	other := plConsumer
	other.ARN = "arn:aws:iam::222222222222:role/other"
	if _, err := f.c.CreateVpcEndpoint(other, CreateVpcEndpointInput{VpcID: f.vpc.ID, ServiceName: f.svc.ServiceName(), Type: EndpointTypeInterface}); rtbCode(err) != "InvalidServiceName" {
		t.Errorf("another role of the allowed account: %v, want InvalidServiceName", err)
	}
	if ep := f.endpoint(t); ep.State != EndpointPendingAcceptance {
		t.Errorf("the allowed role: %s", ep.State)
	}
}

func TestExpireEndpoints(t *testing.T) {
	f := newPLFixture(t, Options{})
	old := f.endpoint(t)
	f.clock.advance(time.Hour)
	young := f.endpoint(t)
	accepted := f.endpoint(t)
	if items, err := f.c.AcceptVpcEndpointConnections(plProvider, f.svc.ID, []string{accepted.ID}); err != nil || len(items) != 0 {
		t.Fatalf("accept: %v, %v", items, err)
	}
	f.clock.advance(30 * time.Minute)
	n, err := f.c.ExpireEndpoints(80 * time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("ExpireEndpoints = %d, %v; want 1", n, err)
	}
	for id, want := range map[string]string{old.ID: EndpointExpired, young.ID: EndpointPendingAcceptance, accepted.ID: EndpointAvailable} {
		if got := f.state(t, id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	// An expired endpoint cannot be accepted; the service can go once no
	// endpoint is connected.
	items, err := f.c.AcceptVpcEndpointConnections(plProvider, f.svc.ID, []string{old.ID})
	if err != nil || len(items) != 1 || items[0].Code != "InvalidStateTransition" {
		t.Errorf("accepting an expired endpoint: %v, %v", items, err)
	}
	f.clock.advance(8 * 24 * time.Hour)
	if n, err := f.c.ExpireEndpoints(0); err != nil || n != 1 {
		t.Errorf("ExpireEndpoints with the default TTL = %d, %v", n, err)
	}
}

func TestPrivateDNSVerification(t *testing.T) {
	f := newPLFixture(t, Options{})
	pend, err := f.c.PendingDNSVerifications()
	if err != nil || len(pend) != 1 {
		t.Fatalf("PendingDNSVerifications = %v, %v", pend, err)
	}
	p := pend[0]
	if p.ServiceID != f.svc.ID || p.Region != "us-east-1" || !strings.HasSuffix(p.Record, ".api.example.test") ||
		!strings.HasPrefix(p.Record, "_") || !strings.HasPrefix(p.Value, "vpce:") {
		t.Errorf("pending verification %+v", p)
	}
	// Before verification consumers do not get the name.
	if _, err := f.c.CreateVpcEndpoint(plConsumer, CreateVpcEndpointInput{VpcID: f.vpc.ID, ServiceName: f.svc.ServiceName(), Type: EndpointTypeInterface,
		PrivateDNSEnabled: plPtr(true)}); rtbCode(err) != "InvalidParameter" {
		t.Errorf("private DNS before verification: %v", err)
	}
	// A stale answer (another value) changes nothing; the right one verifies.
	if err := f.c.CompleteDNSVerification("us-east-1", f.svc.ID, "vpce:stale", true); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.c.ServiceByID(plProvider, f.svc.ID); v.DNS.State != DNSPendingVerification {
		t.Errorf("after a stale answer: %s", v.DNS.State)
	}
	if err := f.c.CompleteDNSVerification("us-east-1", f.svc.ID, p.Value, true); err != nil {
		t.Fatal(err)
	}
	if pend, _ := f.c.PendingDNSVerifications(); len(pend) != 0 {
		t.Errorf("still pending: %v", pend)
	}
	details, _, err := f.c.DescribeVpcEndpointServices(plConsumer, []string{f.svc.ServiceName()}, nil, Page{})
	if err != nil || details[0].PrivateDNSName != "*.api.example.test" || details[0].VerificationState != DNSVerified {
		t.Fatalf("plConsumer's detail after verification: %+v, %v", details, err)
	}
	plMust(t, f.c.ModifyVpcAttribute(plConsumer, f.vpc.ID, AttrEnableDNSHostnames, true))
	ep, err := f.c.CreateVpcEndpoint(plConsumer, CreateVpcEndpointInput{VpcID: f.vpc.ID, ServiceName: f.svc.ServiceName(), Type: EndpointTypeInterface,
		SubnetIDs: []string{f.subnets[1].ID}, PrivateDNSEnabled: plPtr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if last := ep.DNSEntries[len(ep.DNSEntries)-1]; len(ep.DNSEntries) != 3 || last.Name != "*.api.example.test" {
		t.Errorf("DNS entries with private DNS: %+v", ep.DNSEntries)
	}
	// Verification again: refused while verified; a new name starts over.
	if err := f.c.StartVpcEndpointServicePrivateDnsVerification(plProvider, f.svc.ID); rtbCode(err) != "InvalidParameter" {
		t.Errorf("Start while verified: %v", err)
	}
	plMust(t, f.c.ModifyVpcEndpointServiceConfiguration(plProvider, ModifyEndpointServiceInput{ServiceID: f.svc.ID, PrivateDNSName: "api.example.org"}))
	pend, _ = f.c.PendingDNSVerifications()
	if len(pend) != 1 || pend[0].Value == p.Value || !strings.HasSuffix(pend[0].Record, ".api.example.org") {
		t.Fatalf("after a new name: %+v", pend)
	}
	plMust(t, f.c.CompleteDNSVerification("us-east-1", f.svc.ID, pend[0].Value, false))
	if v, _ := f.c.ServiceByID(plProvider, f.svc.ID); v.DNS.State != DNSFailed {
		t.Errorf("after a failed lookup: %s", v.DNS.State)
	}
	f.clock.advance(time.Minute)
	plMust(t, f.c.StartVpcEndpointServicePrivateDnsVerification(plProvider, f.svc.ID))
	if pend, _ := f.c.PendingDNSVerifications(); len(pend) != 1 || !pend[0].Started.Equal(f.clock.now()) {
		t.Errorf("Start again: %+v", pend)
	}
	// The endpoint loses its private name while the new one is unverified.
	eps, _, _ := f.c.DescribeVpcEndpoints(plConsumer, []string{ep.ID}, nil, Page{})
	if len(eps[0].DNSEntries) != 2 {
		t.Errorf("DNS entries while the new name is unverified: %+v", eps[0].DNSEntries)
	}
}

func TestNotificationsFollowTheirObjects(t *testing.T) {
	f := newPLFixture(t, Options{})
	ep := f.endpoint(t)
	// The topic must exist.
	if _, err := f.c.CreateVpcEndpointConnectionNotification(plProvider, CreateConnectionNotificationInput{ServiceID: f.svc.ID,
		TopicARN: "arn:aws:sns:us-east-1:111111111111:missing", Events: []string{"Connect"}}); rtbCode(err) != "InvalidParameter" {
		t.Errorf("missing topic: %v", err)
	}
	topic, err := f.c.CreateTopic(plConsumer, CreateTopicInput{Name: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who  Caller
		in   CreateConnectionNotificationInput
		code string
	}{
		{plConsumer, CreateConnectionNotificationInput{ServiceID: f.svc.ID, TopicARN: topic, Events: []string{"Connect"}}, "InvalidVpcEndpointServiceId.NotFound"},
		{plConsumer, CreateConnectionNotificationInput{VpcEndpointID: ep.ID, TopicARN: topic, Events: []string{"Boom"}}, "InvalidParameterValue"},
		{plConsumer, CreateConnectionNotificationInput{VpcEndpointID: ep.ID, ServiceID: f.svc.ID, TopicARN: topic, Events: []string{"Accept"}}, "InvalidParameterCombination"},
		{plConsumer, CreateConnectionNotificationInput{VpcEndpointID: ep.ID, TopicARN: "arn:aws:sns:us-west-2:222222222222:mine", Events: []string{"Accept"}}, "InvalidParameter"},
		{plConsumer, CreateConnectionNotificationInput{VpcEndpointID: ep.ID, TopicARN: topic}, "MissingParameter"},
	} {
		if _, err := f.c.CreateVpcEndpointConnectionNotification(c.who, c.in); rtbCode(err) != c.code {
			t.Errorf("%+v: %v, want %s", c.in, err, c.code)
		}
	}
	n, err := f.c.CreateVpcEndpointConnectionNotification(plConsumer, CreateConnectionNotificationInput{VpcEndpointID: ep.ID, TopicARN: topic, Events: []string{"Accept", "Reject", "Accept"}})
	if err != nil || strings.Join(n.Events, ",") != "Accept,Reject" || !wellFormedID("vpce-nfn", n.ID) {
		t.Fatalf("endpoint notification: %+v, %v", n, err)
	}
	plMust(t, f.c.ModifyVpcEndpointConnectionNotification(plConsumer, n.ID, "", []string{"Accept", "Delete"}))
	if _, err := f.c.AcceptVpcEndpointConnections(plProvider, f.svc.ID, []string{ep.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.DeleteVpcEndpoints(plConsumer, []string{ep.ID}); err != nil {
		t.Fatal(err)
	}
	_, msgs, err := f.c.SNSOutbox()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].ID < msgs[j].ID })
	var got []string
	for _, m := range msgs {
		var ev ConnectionEvent
		if json.Unmarshal([]byte(m.Message), &ev) == nil && m.TopicARN == topic {
			got = append(got, ev.EventType)
		}
	}
	if strings.Join(got, ",") != "Accept,Delete" {
		t.Errorf("events queued: %v", got)
	}
	ns, _, err := f.c.DescribeVpcEndpointConnectionNotifications(plConsumer, "", nil, Page{})
	if err != nil || len(ns) != 0 {
		t.Errorf("the endpoint's notification outlived it: %+v, %v", ns, err)
	}
}

func TestCatalogFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := LoadCatalog(write("extend.json", `{"services":[{"name":"s3","types":["Gateway"],"cidrs":["192.0.2.0/25"]},{"name":"example","types":["Interface"],"privateDnsName":"example.{region}.amazonaws.com"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := c.lookup("s3"); !ok || strings.Join(s.CIDRs, ",") != "192.0.2.0/25" || s.HasType(EndpointTypeInterface) {
		t.Errorf("s3 not replaced: %+v", s)
	}
	if _, ok := c.lookup("ec2"); !ok {
		t.Error("extending lost ec2")
	}
	if s, ok := c.lookup("example"); !ok || s.privateDNS("eu-west-1") != "example.eu-west-1.amazonaws.com" {
		t.Errorf("example: %+v", s)
	}
	c, err = LoadCatalog(write("replace.json", `{"replace":true,"services":[{"name":"example","types":["Interface"]}]}`))
	if err != nil || len(c.Services) != 1 {
		t.Fatalf("replace: %+v, %v", c, err)
	}
	for _, bad := range []string{
		`{"services":[{"name":"x","types":["Gateway"]}]}`,
		`{"services":[{"name":"x","types":["Bogus"]}]}`,
		`{"services":[{"name":"x","types":["Gateway"],"cidrs":["10.0.0.0/33"]}]}`,
		`{"services":[{"name":"x","types":["Interface"],"unknown":1}]}`,
		`{"services":[{"name":"x","types":["Gateway"],"cidrs":["192.0.2.0/24"],"prefixListIds":{"us-east-1":"pl-zz"}}]}`,
	} {
		if _, err := LoadCatalog(write("bad.json", bad)); err == nil {
			t.Errorf("LoadCatalog accepted %s", bad)
		}
	}
	// A cloud with a catalog of its own offers it.
	f := newPLFixture(t, Options{Catalog: c})
	if err := f.c.SetAWSServiceServable("us-east-1", "example", true); err != nil {
		t.Fatal(err)
	}
	if err := f.c.SetAWSServiceServable("us-east-1", "s3", true); err == nil {
		t.Error("SetAWSServiceServable accepted a service outside the catalog")
	}
	details, _, err := f.c.DescribeVpcEndpointServices(plConsumer, nil, []Filter{{Name: "owner", Values: []string{"amazon"}}}, Page{})
	if err != nil || len(details) != 1 || details[0].Name != "com.amazonaws.us-east-1.example" {
		t.Errorf("custom catalog: %+v, %v", details, err)
	}
	if pls, _, err := f.c.DescribePrefixLists(plConsumer, nil, nil, Page{}); err != nil || len(pls) != 0 {
		t.Errorf("prefix lists of a catalog without gateway services: %+v, %v", pls, err)
	}
}

func plPtr[T any](v T) *T { return &v }

func plMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
