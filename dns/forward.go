package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// Forward sends every query it gets to an upstream resolver and relays
// the answer: over UDP, then over TCP if the answer was truncated. When
// the upstream fails it answers SERVFAIL.
type Forward struct {
	// Upstream is host:port (port 53 if none is given).
	Upstream string
	// Dial opens connections to the upstream; nil dials from this
	// process's own network namespace.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds one exchange (2s).
	Timeout time.Duration
}

// Name implements Handler.
func (f *Forward) Name() string { return "forward" }

// ServeDNS implements Handler.
func (f *Forward) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	resp, err := f.exchange(ctx, "udp", r)
	if err == nil && resp.Truncated {
		resp, err = f.exchange(ctx, "tcp", r)
	}
	if err != nil {
		return dns.RcodeServerFailure, fmt.Errorf("forward to %s: %w", f.Upstream, err)
	}
	resp.Id = r.Id
	return resp.Rcode, w.WriteMsg(resp)
}

func (f *Forward) exchange(ctx context.Context, network string, r *dns.Msg) (*dns.Msg, error) {
	timeout := f.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := f.Upstream
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "53")
	}
	dial := f.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c := &dns.Client{Net: network, Timeout: timeout}
	q := r.Copy()
	q.Id = dns.Id()
	resp, _, err := c.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: conn, UDPSize: 4096})
	if err != nil {
		return nil, err
	}
	if resp.Id != q.Id {
		return nil, errors.New("reply id mismatch")
	}
	return resp, nil
}
