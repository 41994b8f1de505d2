package dns

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/isthmusnet/isthmus/core"
)

// recorder is a dns.ResponseWriter that keeps what is written, as
// CoreDNS's dnstest.Recorder: handlers are tested without sockets.
type recorder struct {
	msg    *dns.Msg
	writes int
	tcp    bool
}

func (r *recorder) LocalAddr() net.Addr {
	if r.tcp {
		return &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 53}
	}
	return &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 53}
}
func (r *recorder) RemoteAddr() net.Addr {
	if r.tcp {
		return &net.TCPAddr{IP: net.IPv4(10, 0, 1, 10), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(10, 0, 1, 10), Port: 40000}
}
func (r *recorder) WriteMsg(m *dns.Msg) error   { r.msg = m; r.writes++; return nil }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

// ask runs one query through h as a server would and returns the reply.
func ask(t *testing.T, h Handler, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r := new(dns.Msg)
	r.SetQuestion(name, qtype)
	w := &recorder{}
	serve(context.Background(), h, w, r)
	if w.writes != 1 {
		t.Fatalf("%s %s: %d replies written, want 1", name, dns.TypeToString[qtype], w.writes)
	}
	if w.msg.Id != r.Id || !w.msg.Response {
		t.Fatalf("reply is not an answer to the query: %v", w.msg)
	}
	return w.msg
}

func answers(m *dns.Msg) string {
	var out []string
	for _, rr := range m.Answer {
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return strings.Join(out, "\n")
}

const (
	vpcA = "vpc-0a1a1a1a1a1a1a1a1"
	vpcB = "vpc-0b2b2b2b2b2b2b2b2"
)

// topology: two VPCs with the same CIDR in us-east-1, one in us-west-2
// with hostnames off, one with DNS support off.
func topology() *core.Topology {
	vpc := func(id, region, cidr string, support, hostnames bool) *core.Vpc {
		return &core.Vpc{Meta: core.Meta{ID: id, Region: region}, CidrBlock: cidr, EnableDNSSupport: support, EnableDNSHostnames: hostnames}
	}
	eni := func(id, vpcID, region, ip string) *core.NetworkInterface {
		return &core.NetworkInterface{Meta: core.Meta{ID: id, Region: region, VpcID: vpcID}, PrivateIP: ip}
	}
	return &core.Topology{
		Vpcs: []*core.Vpc{
			vpc(vpcA, "us-east-1", "10.0.0.0/16", true, true),
			vpc(vpcB, "us-east-1", "10.0.0.0/16", true, true),
			vpc("vpc-0c3c3c3c3c3c3c3c3", "eu-west-1", "10.1.128.0/20", true, true),
			vpc("vpc-0d4d4d4d4d4d4d4d4", "us-east-1", "10.2.0.0/16", true, false),
		},
		NetworkInterfaces: []*core.NetworkInterface{
			eni("eni-01", vpcA, "us-east-1", "10.0.1.5"),
			eni("eni-02", vpcA, "us-east-1", "10.0.2.9"),
			eni("eni-03", vpcB, "us-east-1", "10.0.1.7"),
			eni("eni-04", "vpc-0c3c3c3c3c3c3c3c3", "eu-west-1", "10.1.130.4"),
			eni("eni-05", "vpc-0d4d4d4d4d4d4d4d4", "us-east-1", "10.2.1.4"),
		},
	}
}

// resolverOf builds the chain a Manager gives a VPC, without sockets.
func resolverOf(t *testing.T, top *core.Topology, vpcID string, opts Options, extra ...ZoneSource) Handler {
	t.Helper()
	opts.Zones = append(opts.Zones, extra...)
	m := NewManager(opts)
	for _, v := range top.Vpcs {
		if v.ID == vpcID {
			return m.chain(v, m.zonesByVPC(top).of(vpcID))
		}
	}
	t.Fatalf("no VPC %s", vpcID)
	return nil
}

func TestHostnamesAndPTR(t *testing.T) {
	top := topology()
	h := resolverOf(t, top, vpcA, Options{})

	m := ask(t, h, "ip-10-0-1-5.ec2.internal.", dns.TypeA)
	if m.Rcode != dns.RcodeSuccess || !m.Authoritative || answers(m) != "ip-10-0-1-5.ec2.internal. 60 IN A 10.0.1.5" {
		t.Fatalf("A: rcode %s aa %v:\n%s", dns.RcodeToString[m.Rcode], m.Authoritative, answers(m))
	}
	// The question's spelling is kept (0x20 randomisation).
	m = ask(t, h, "IP-10-0-2-9.Ec2.Internal.", dns.TypeA)
	if answers(m) != "IP-10-0-2-9.Ec2.Internal. 60 IN A 10.0.2.9" {
		t.Fatalf("mixed case: %s", answers(m))
	}
	m = ask(t, h, "5.1.0.10.in-addr.arpa.", dns.TypePTR)
	if m.Rcode != dns.RcodeSuccess || answers(m) != "5.1.0.10.in-addr.arpa. 60 IN PTR ip-10-0-1-5.ec2.internal." {
		t.Fatalf("PTR: %s %s", dns.RcodeToString[m.Rcode], answers(m))
	}
	// Another VPC's interface with the same CIDR: not here.
	m = ask(t, h, "ip-10-0-1-7.ec2.internal.", dns.TypeA)
	if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("another VPC's name: %s, authority %v", dns.RcodeToString[m.Rcode], m.Ns)
	}
	m = ask(t, h, "7.1.0.10.in-addr.arpa.", dns.TypePTR)
	if m.Rcode != dns.RcodeNameError {
		t.Fatalf("another VPC's PTR: %s", dns.RcodeToString[m.Rcode])
	}
	// A name that exists with another type: NODATA.
	m = ask(t, h, "ip-10-0-1-5.ec2.internal.", dns.TypeAAAA)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 {
		t.Fatalf("AAAA: %s answers %d authority %d", dns.RcodeToString[m.Rcode], len(m.Answer), len(m.Ns))
	}
	// B sees its own.
	if m := ask(t, resolverOf(t, top, vpcB, Options{}), "ip-10-0-1-7.ec2.internal.", dns.TypeA); answers(m) != "ip-10-0-1-7.ec2.internal. 60 IN A 10.0.1.7" {
		t.Fatalf("B: %s", answers(m))
	}
	// Outside us-east-1: <region>.compute.internal, and a /20 reverse zone.
	c := resolverOf(t, top, "vpc-0c3c3c3c3c3c3c3c3", Options{})
	if m := ask(t, c, "ip-10-1-130-4.eu-west-1.compute.internal.", dns.TypeA); answers(m) != "ip-10-1-130-4.eu-west-1.compute.internal. 60 IN A 10.1.130.4" {
		t.Fatalf("eu-west-1: %s %s", dns.RcodeToString[m.Rcode], answers(m))
	}
	if m := ask(t, c, "4.130.1.10.in-addr.arpa.", dns.TypePTR); answers(m) != "4.130.1.10.in-addr.arpa. 60 IN PTR ip-10-1-130-4.eu-west-1.compute.internal." {
		t.Fatalf("eu-west-1 PTR: %s", answers(m))
	}
	if m := ask(t, c, "ip-10-1-130-4.ec2.internal.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Fatalf("the us-east-1 spelling in eu-west-1: %s", dns.RcodeToString[m.Rcode])
	}
}

func TestHostnamesOffAndSupportOff(t *testing.T) {
	top := topology()
	// enableDnsHostnames off: the name is not the resolver's; with no
	// upstream, NXDOMAIN without authority.
	h := resolverOf(t, top, "vpc-0d4d4d4d4d4d4d4d4", Options{})
	m := ask(t, h, "ip-10-2-1-4.ec2.internal.", dns.TypeA)
	if m.Rcode != dns.RcodeNameError || m.Authoritative || len(m.Answer) != 0 {
		t.Fatalf("hostnames off: %s aa %v %s", dns.RcodeToString[m.Rcode], m.Authoritative, answers(m))
	}
	// enableDnsSupport off: REFUSED, for every name.
	top.Vpcs[0].EnableDNSSupport = false
	h = resolverOf(t, top, vpcA, Options{Upstream: "192.0.2.1:53"})
	for _, name := range []string{"ip-10-0-1-5.ec2.internal.", "example.com."} {
		if m := ask(t, h, name, dns.TypeA); m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
			t.Fatalf("support off, %s: %s", name, dns.RcodeToString[m.Rcode])
		}
	}
}

func TestUnknownNamesAreNXDomain(t *testing.T) {
	h := resolverOf(t, topology(), vpcA, Options{})
	for _, name := range []string{"example.com.", "ip-10-0-9-9.ec2.internal.", "9.9.9.9.in-addr.arpa."} {
		m := ask(t, h, name, dns.TypeA)
		if m.Rcode != dns.RcodeNameError || !m.RecursionAvailable {
			t.Errorf("%s: %s", name, dns.RcodeToString[m.Rcode])
		}
	}
}

// TestPluggableZones: zones for every VPC and zones for some, wildcards,
// CNAMEs followed within the zones, and the most specific zone winning.
func TestPluggableZones(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	endpoints := func(top *core.Topology) []Zone {
		return []Zone{
			{Origin: "vpce.amazonaws.com", Records: []dns.RR{ // every VPC
				rr("vpce-01-abcdefgh.vpce-svc-01.us-east-1.vpce.amazonaws.com. 60 IN A 10.0.1.50"),
				rr("*.vpce-02-abcdefgh.s3.us-east-1.vpce.amazonaws.com. 60 IN A 10.0.1.60"),
				rr("alias.vpce.amazonaws.com. 60 IN CNAME vpce-01-abcdefgh.vpce-svc-01.us-east-1.vpce.amazonaws.com."),
				rr("outside.example.org. 60 IN A 192.0.2.1"), // not under the origin: ignored
			}},
			{Origin: "ec2.us-east-1.amazonaws.com.", VPCs: []string{vpcA}, Records: []dns.RR{ // private DNS, VPC A only
				rr("ec2.us-east-1.amazonaws.com. 60 IN A 10.0.1.70"),
			}},
		}
	}
	a := resolverOf(t, topology(), vpcA, Options{}, endpoints)
	b := resolverOf(t, topology(), vpcB, Options{}, endpoints)
	for _, h := range []Handler{a, b} {
		if m := ask(t, h, "vpce-01-abcdefgh.vpce-svc-01.us-east-1.vpce.amazonaws.com.", dns.TypeA); answers(m) != "vpce-01-abcdefgh.vpce-svc-01.us-east-1.vpce.amazonaws.com. 60 IN A 10.0.1.50" {
			t.Fatalf("a zone for every VPC: %s", answers(m))
		}
		if m := ask(t, h, "bucket.vpce-02-abcdefgh.s3.us-east-1.vpce.amazonaws.com.", dns.TypeA); answers(m) != "bucket.vpce-02-abcdefgh.s3.us-east-1.vpce.amazonaws.com. 60 IN A 10.0.1.60" {
			t.Fatalf("wildcard: %s", answers(m))
		}
		// An empty non-terminal exists: NODATA, not NXDOMAIN.
		if m := ask(t, h, "s3.us-east-1.vpce.amazonaws.com.", dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
			t.Fatalf("empty non-terminal: %s %s", dns.RcodeToString[m.Rcode], answers(m))
		}
		m := ask(t, h, "alias.vpce.amazonaws.com.", dns.TypeA)
		if got := answers(m); !strings.Contains(got, "CNAME") || !strings.HasSuffix(got, "IN A 10.0.1.50") {
			t.Fatalf("CNAME chase: %s", got)
		}
	}
	if m := ask(t, a, "ec2.us-east-1.amazonaws.com.", dns.TypeA); answers(m) != "ec2.us-east-1.amazonaws.com. 60 IN A 10.0.1.70" {
		t.Fatalf("private zone in its VPC: %s", answers(m))
	}
	if m := ask(t, b, "ec2.us-east-1.amazonaws.com.", dns.TypeA); m.Rcode != dns.RcodeNameError || m.Authoritative {
		t.Fatalf("private zone of another VPC answered: %s %s", dns.RcodeToString[m.Rcode], answers(m))
	}
	if m := ask(t, a, "outside.example.org.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Fatalf("a record outside its zone was served: %s", answers(m))
	}
}

func TestServerChecks(t *testing.T) {
	h := resolverOf(t, topology(), vpcA, Options{})
	r := new(dns.Msg)
	r.SetQuestion("ip-10-0-1-5.ec2.internal.", dns.TypeA)
	r.Question = append(r.Question, r.Question[0])
	w := &recorder{}
	serve(context.Background(), h, w, r)
	if w.msg.Rcode != dns.RcodeFormatError {
		t.Fatalf("two questions: %s", dns.RcodeToString[w.msg.Rcode])
	}
	r = new(dns.Msg)
	r.SetNotify("ec2.internal.")
	w = &recorder{}
	serve(context.Background(), h, w, r)
	if w.msg.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("NOTIFY: %s", dns.RcodeToString[w.msg.Rcode])
	}
	// A UDP answer larger than 512 bytes is truncated; over TCP it is not.
	big := func(*core.Topology) []Zone {
		z := Zone{Origin: "big.test."}
		for i := 0; i < 60; i++ {
			a, err := dns.NewRR(fmt.Sprintf("many.big.test. 60 IN A 10.0.3.%d", i+1))
			if err != nil {
				t.Fatal(err)
			}
			z.Records = append(z.Records, a)
		}
		return []Zone{z}
	}
	h = resolverOf(t, topology(), vpcA, Options{}, big)
	r = new(dns.Msg)
	r.SetQuestion("many.big.test.", dns.TypeA)
	w = &recorder{}
	serve(context.Background(), h, w, r)
	if !w.msg.Truncated || len(w.msg.Answer) >= 60 {
		t.Fatalf("UDP: truncated %v with %d answers", w.msg.Truncated, len(w.msg.Answer))
	}
	w = &recorder{tcp: true}
	serve(context.Background(), h, w, r)
	if w.msg.Truncated || len(w.msg.Answer) != 60 {
		t.Fatalf("TCP: truncated %v with %d answers", w.msg.Truncated, len(w.msg.Answer))
	}
}

// pipeUpstream is an upstream resolver in memory: Dial returns one end of
// a pipe whose other end answers with answer (and counts the queries).
type pipeUpstream struct {
	answer  func(r *dns.Msg) *dns.Msg
	queries chan string
}

func (u *pipeUpstream) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, s := net.Pipe()
	go func() {
		defer s.Close()
		co := &dns.Conn{Conn: s}
		if network == "tcp" {
			co = &dns.Conn{Conn: &streamConn{s}}
		}
		r, err := co.ReadMsg()
		if err != nil {
			return
		}
		u.queries <- network + " " + r.Question[0].Name
		co.WriteMsg(u.answer(r))
	}()
	if network == "tcp" {
		return &streamConn{c}, nil
	}
	return c, nil
}

// streamConn makes dns.Conn frame messages with a length, as over TCP.
type streamConn struct{ net.Conn }

func (streamConn) RemoteAddr() net.Addr { return &net.TCPAddr{} }
func (streamConn) LocalAddr() net.Addr  { return &net.TCPAddr{} }

func TestForward(t *testing.T) {
	up := &pipeUpstream{queries: make(chan string, 10), answer: func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if r.Question[0].Name == "nowhere.example." {
			m.Rcode = dns.RcodeNameError
			return m
		}
		a, _ := dns.NewRR(r.Question[0].Name + " 300 IN A 192.0.2.10")
		m.Answer = []dns.RR{a}
		return m
	}}
	h := NewZones(EC2Hostnames(topology()), &Forward{Upstream: "192.0.2.53", Dial: up.dial})
	m := ask(t, h, "example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeSuccess || answers(m) != "example.com. 300 IN A 192.0.2.10" {
		t.Fatalf("forwarded: %s %s", dns.RcodeToString[m.Rcode], answers(m))
	}
	if q := <-up.queries; q != "udp example.com." {
		t.Fatalf("upstream saw %q", q)
	}
	if m := ask(t, h, "nowhere.example.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Fatalf("upstream NXDOMAIN relayed as %s", dns.RcodeToString[m.Rcode])
	}
	<-up.queries
	// The VPC's own names never leave.
	if m := ask(t, h, "ip-10-0-9-9.ec2.internal.", dns.TypeA); m.Rcode != dns.RcodeNameError || !m.Authoritative {
		t.Fatalf("an unknown name of the VPC's zone: %s", dns.RcodeToString[m.Rcode])
	}
	select {
	case q := <-up.queries:
		t.Fatalf("a name of the VPC's own zone was forwarded: %s", q)
	default:
	}
	// A truncated answer is asked again over TCP.
	up.answer = func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Truncated = true
		return m
	}
	ask(t, h, "big.example.", dns.TypeA)
	if q1, q2 := <-up.queries, <-up.queries; q1 != "udp big.example." || q2 != "tcp big.example." {
		t.Fatalf("truncation: %q then %q", q1, q2)
	}
	// An upstream that cannot be reached: SERVFAIL.
	h = NewZones(nil, &Forward{Upstream: "192.0.2.53", Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Err: context.DeadlineExceeded}
	}})
	if m := ask(t, h, "example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("unreachable upstream: %s", dns.RcodeToString[m.Rcode])
	}
}

func TestReverseZone(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.0.0.0/16":   "0.10.in-addr.arpa.",
		"10.1.128.0/20": "1.10.in-addr.arpa.",
		"10.1.2.0/24":   "2.1.10.in-addr.arpa.",
		"172.16.0.0/12": "172.in-addr.arpa.",
	} {
		p, _ := core.ParseCIDR(cidr)
		if got := reverseZone(p); got != want {
			t.Errorf("reverseZone(%s) = %s, want %s", cidr, got, want)
		}
	}
}
