package dns

import (
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/isthmusnet/isthmus/netns"
)

// LookupIn asks the resolver at server (host:port) for the A records of
// name over UDP from a socket inside the network namespace ns: what a
// program in that namespace would get. An answer other than NOERROR is an
// error naming its rcode.
func LookupIn(ns, server, name string) ([]string, error) {
	c, err := netns.Dial(ns, "udp4", server, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	dc := &dns.Conn{Conn: c}
	if err := dc.WriteMsg(q); err != nil {
		return nil, err
	}
	r, err := dc.ReadMsg()
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("%s: %s", name, dns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, nil
}
