package dns

import (
	"context"
	"net"

	"github.com/miekg/dns"
)

// Handler is one link of a resolver's chain, as CoreDNS's plugin.Handler:
// it answers r on w and returns the rcode, or leaves the reply to the
// server by returning a failure rcode that ClientWrite says was not
// written.
type Handler interface {
	ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error)
	Name() string
}

// ClientWrite reports whether a handler that returned rcode has written
// the reply itself: it has for every rcode but SERVFAIL, REFUSED, FORMERR
// and NOTIMP, which the server answers for it.
func ClientWrite(rcode int) bool {
	switch rcode {
	case dns.RcodeServerFailure, dns.RcodeRefused, dns.RcodeFormatError, dns.RcodeNotImplemented:
		return false
	}
	return true
}

// NextOrFailure runs next, or answers SERVFAIL when there is none.
func NextOrFailure(ctx context.Context, next Handler, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if next == nil {
		return dns.RcodeServerFailure, nil
	}
	return next.ServeDNS(ctx, w, r)
}

// Refuse answers REFUSED to every query: the resolver of a VPC whose
// enableDnsSupport is off.
type Refuse struct{}

// Name implements Handler.
func (Refuse) Name() string { return "refuse" }

// ServeDNS implements Handler.
func (Refuse) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return dns.RcodeRefused, nil
}

// NXDomain answers NXDOMAIN to every query: the end of a chain without an
// upstream, for names no zone holds.
type NXDomain struct{}

// Name implements Handler.
func (NXDomain) Name() string { return "nxdomain" }

// ServeDNS implements Handler.
func (NXDomain) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeNameError)
	m.RecursionAvailable = true
	return dns.RcodeNameError, w.WriteMsg(m)
}

// serve answers r through h as the server does: a query must be a
// standard query with one question (else FORMERR or NOTIMP), UDP replies
// are truncated to what the client can take, and a failure rcode the
// chain did not write is answered here.
func serve(ctx context.Context, h Handler, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	switch {
	case r.Opcode != dns.OpcodeQuery:
		return reply(w, r, dns.RcodeNotImplemented), nil
	case len(r.Question) != 1 || r.Response:
		return reply(w, r, dns.RcodeFormatError), nil
	}
	rcode, err := h.ServeDNS(ctx, &truncating{ResponseWriter: w, req: r}, r)
	if !ClientWrite(rcode) {
		reply(w, r, rcode)
	}
	return rcode, err
}

func reply(w dns.ResponseWriter, r *dns.Msg, rcode int) int {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.RecursionAvailable = true
	w.WriteMsg(m)
	return rcode
}

// truncating cuts UDP replies to the size the query allows (512 bytes,
// or its EDNS0 buffer size), setting TC so that the client retries over
// TCP; and echoes EDNS0.
type truncating struct {
	dns.ResponseWriter
	req *dns.Msg
}

func (t *truncating) WriteMsg(m *dns.Msg) error {
	size := dns.MinMsgSize
	if opt := t.req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		if m.IsEdns0() == nil {
			m.SetEdns0(uint16(min(size, 4096)), false)
		}
	}
	if _, udp := t.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(size)
	}
	return t.ResponseWriter.WriteMsg(m)
}
