package dnsverify

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/store/bolt"
)

// zone is a DNS server on 127.0.0.1 serving TXT records from a map.
type zone struct {
	mu   sync.Mutex
	txt  map[string][]string // fqdn → strings of one record
	addr string
}

func newZone(t *testing.T) *zone {
	z := &zone{txt: map[string][]string{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		z.mu.Lock()
		txt, ok := z.txt[strings.ToLower(q.Name)]
		z.mu.Unlock()
		if ok && q.Qtype == dns.TypeTXT {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: txt})
		} else if !ok {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	z.addr = pc.LocalAddr().String()
	return z
}

func (z *zone) set(name string, txt ...string) {
	z.mu.Lock()
	z.txt[dns.Fqdn(strings.ToLower(name))] = txt
	z.mu.Unlock()
}

func TestLookupTXT(t *testing.T) {
	z := newZone(t)
	z.set("_x.example.test", "vpce:", "abc")
	ctx := context.Background()
	got, err := LookupTXT(ctx, z.addr, "_x.example.test")
	if err != nil || len(got) != 1 || got[0] != "vpce:abc" {
		t.Errorf("LookupTXT = %q, %v", got, err)
	}
	if got, err := LookupTXT(ctx, z.addr, "missing.example.test"); err != nil || len(got) != 0 {
		t.Errorf("missing name = %q, %v", got, err)
	}
	// Nobody listening: an error, not an answer.
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	dead := pc.LocalAddr().String()
	pc.Close()
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := LookupTXT(cctx, dead, "x.example.test"); err == nil {
		t.Error("a lookup through a dead resolver succeeded")
	}
}

// services creates n endpoint services with private DNS names in a cloud.
func services(t *testing.T, now func() time.Time, names ...string) (*core.Cloud, []string) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := core.New(st, core.Options{Regions: []core.Region{core.NewRegion("us-east-1", 3)}, Now: now})
	who := core.Caller{Account: "111111111111", Region: "us-east-1"}
	v, err := c.CreateVpc(who, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.CreateSubnet(who, core.CreateSubnetInput{VpcID: v.ID, CidrBlock: "10.0.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, n := range names {
		lb, err := c.CreateLoadBalancer(who, core.CreateLoadBalancerInput{Name: "lb" + string(rune('a'+i)), Type: core.LoadBalancerNetwork, Subnets: []string{s.ID}})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := c.CreateVpcEndpointServiceConfiguration(who, core.CreateEndpointServiceInput{NetworkLoadBalancerARNs: []string{lb.ARN()}, PrivateDNSName: n})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, svc.ID)
	}
	return c, ids
}

func TestWorkerVerifiesAndFails(t *testing.T) {
	z := newZone(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c, ids := services(t, clock, "*.good.example.test", "wrong.example.test", "late.example.test")
	pending, err := c.PendingDNSVerifications()
	if err != nil || len(pending) != 3 {
		t.Fatalf("pending %v, %v", pending, err)
	}
	for _, p := range pending {
		switch p.ServiceID {
		case ids[0]:
			if !strings.HasSuffix(p.Record, ".good.example.test") {
				t.Errorf("record of a wildcard name: %s", p.Record)
			}
			z.set(p.Record, p.Value)
		case ids[1]:
			z.set(p.Record, "vpce:not-the-value")
		}
	}
	w := New(c, nil, Options{Resolver: z.addr, Timeout: time.Hour, Now: clock})
	if err := w.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	state := func(id string) string {
		who := core.Caller{Account: "111111111111", Region: "us-east-1"}
		v, err := c.ServiceByID(who, id)
		if err != nil {
			t.Fatal(err)
		}
		return v.DNS.State
	}
	if got := []string{state(ids[0]), state(ids[1]), state(ids[2])}; strings.Join(got, ",") != "verified,pendingVerification,pendingVerification" {
		t.Fatalf("after the first pass: %v", got)
	}
	// The late record appears, but as one record of two strings, whose
	// joined text is not the value: after the timeout both it and the
	// wrong one fail.
	for _, p := range pending {
		if p.ServiceID == ids[2] {
			z.set(p.Record, "other", p.Value)
		}
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if err := w.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := []string{state(ids[0]), state(ids[1]), state(ids[2])}; strings.Join(got, ",") != "verified,failed,failed" {
		t.Fatalf("after the timeout: %v", got)
	}
	// The provider fixes the record and starts verification again.
	for _, p := range pending {
		if p.ServiceID == ids[2] {
			z.set(p.Record, p.Value)
		}
	}
	if err := c.StartVpcEndpointServicePrivateDnsVerification(core.Caller{Account: "111111111111", Region: "us-east-1"}, ids[2]); err != nil {
		t.Fatal(err)
	}
	// Run picks it up on its own.
	w = New(c, nil, Options{Resolver: z.addr, Timeout: 24 * time.Hour, Interval: 10 * time.Millisecond, Now: clock})
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for state(ids[2]) != core.DNSVerified {
		if time.Now().After(deadline) {
			t.Fatal("Run never verified the late record")
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.Close()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
