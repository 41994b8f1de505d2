package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/isthmusnet/isthmus/proxy"
)

// Prober runs one health check. Probe returns when the check is over or
// ctx is done, whichever comes first: the caller puts the check's timeout
// in ctx's deadline. It must be safe to call from several goroutines.
type Prober interface {
	Probe(ctx context.Context) Result
}

// DialFunc opens a connection, as net.Dialer.DialContext does. The data
// plane's dials from the load balancer's private IP inside its namespace.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// UserAgent is the User-Agent of HTTP health checks, as AWS sends it.
const UserAgent = "ELB-HealthChecker/2.0"

// TCPProbe passes when a TCP connection to Address opens before the
// deadline. With ProxyProtocol it then writes a PROXY protocol v2 LOCAL
// header, which must be accepted too. The connection is closed at once.
type TCPProbe struct {
	Dial          DialFunc // nil: net.Dialer
	Address       string   // the target's IP and health check port
	ProxyProtocol bool
}

// Probe implements Prober.
func (p TCPProbe) Probe(ctx context.Context) Result {
	c, r := connect(ctx, p.Dial, p.Address, p.ProxyProtocol)
	if c != nil {
		c.Close()
	}
	return r
}

// HTTPProbe passes when GET Path on Address answers, before the deadline,
// with a status code Matcher accepts. The request carries Host (AWS puts
// the load balancer's address and the listener port there), User-Agent
// ELB-HealthChecker/2.0 and Connection: close; the body is not read. With
// ProxyProtocol a PROXY protocol v2 LOCAL header precedes the request (and
// the TLS handshake). With TLS the check is HTTPS as AWS makes it: the
// target's certificate is not verified, and TLS 1.2 is the newest version
// offered, so targets that only speak TLS 1.3 fail.
type HTTPProbe struct {
	Dial          DialFunc // nil: net.Dialer
	Address       string   // the target's IP and health check port
	Host          string   // the Host header; empty means Address
	Path          string   // empty means "/"
	Matcher       Matcher  // the zero Matcher is 200-399
	ProxyProtocol bool
	TLS           bool
}

// Probe implements Prober.
func (p HTTPProbe) Probe(ctx context.Context) Result {
	c, r := connect(ctx, p.Dial, p.Address, p.ProxyProtocol)
	if c == nil {
		return r
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) }) // cancellation, not only the deadline
	defer stop()
	if p.TLS {
		tc := tls.Client(c, &tls.Config{
			InsecureSkipVerify: true, // AWS does not verify targets' certificates
			MaxVersion:         tls.VersionTLS12,
			MinVersion:         tls.VersionTLS10,
		})
		if err := tc.HandshakeContext(ctx); err != nil {
			return failure(ctx, fmt.Errorf("TLS handshake: %w", err))
		}
		c = tc
	}
	path, host := p.Path, p.Host
	if path == "" {
		path = "/"
	}
	if host == "" {
		host = p.Address
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: " + UserAgent +
		"\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		return failure(ctx, fmt.Errorf("sending the request: %w", err))
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodGet})
	if err != nil {
		return failure(ctx, fmt.Errorf("reading the response: %w", err))
	}
	resp.Body.Close()
	if !p.Matcher.Match(resp.StatusCode) {
		return Result{Outcome: Mismatch, Code: resp.StatusCode,
			Err: fmt.Errorf("status %d does not match %s", resp.StatusCode, p.Matcher)}
	}
	return Result{Outcome: Pass, Code: resp.StatusCode}
}

// connect dials address and writes the LOCAL header if asked. On success
// it returns the connection with ctx's deadline set on it; otherwise a nil
// connection and the failed Result.
func connect(ctx context.Context, dial DialFunc, address string, ppv2 bool) (net.Conn, Result) {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	c, err := dial(ctx, "tcp", address)
	if err != nil {
		return nil, failure(ctx, fmt.Errorf("connecting: %w", err))
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if ppv2 {
		h := proxy.LocalHeader()
		b, _ := h.MarshalBinary()
		if _, err := c.Write(b); err != nil {
			c.Close()
			return nil, failure(ctx, fmt.Errorf("sending the PROXY header: %w", err))
		}
	}
	return c, Result{Outcome: Pass}
}

// failure classifies err: a timeout (the deadline passed) or a failure.
func failure(ctx context.Context, err error) Result {
	if errors.Is(ctx.Err(), context.Canceled) {
		return Result{Outcome: Fail, Err: err}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, os.ErrDeadlineExceeded) {
		return Result{Outcome: Timeout, Err: err}
	}
	return Result{Outcome: Fail, Err: err}
}
