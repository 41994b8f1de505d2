// Package dnsverify is the worker that verifies endpoint services'
// private DNS names: it looks each pending name's TXT record up through a
// configured resolver and tells the core whether the record holds the
// value the core asked for. All the I/O of private DNS verification is
// here; the core only keeps the states (pendingVerification → verified or
// failed).
package dnsverify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/isthmusnet/isthmus/core"
)

// Cloud is what the worker needs of the core.
type Cloud interface {
	PendingDNSVerifications() ([]core.PendingVerification, error)
	CompleteDNSVerification(region, serviceID, value string, verified bool) error
}

// Options configure a Worker.
type Options struct {
	// Resolver is the DNS server asked, host:port (e.g. 127.0.0.1:53).
	Resolver string
	// Interval is the time between passes over the pending names
	// (default 30s).
	Interval time.Duration
	// Timeout is how long a name may stay unverifiable — its TXT record
	// missing or wrong — before verification fails (default 1h).
	Timeout time.Duration
	// QueryTimeout bounds one DNS exchange (default 5s).
	QueryTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Worker verifies private DNS names. Run it with Run; Close stops it.
type Worker struct {
	cloud Cloud
	log   *slog.Logger
	opts  Options

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a worker over cloud.
func New(cloud Cloud, log *slog.Logger, opts Options) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Hour
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Worker{cloud: cloud, log: log, opts: opts}
}

// Run verifies pending names every Interval until ctx ends or Close is
// called. It returns nil when stopped.
func (w *Worker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	w.mu.Lock()
	w.cancel, w.done = cancel, make(chan struct{})
	done := w.done
	w.mu.Unlock()
	defer close(done)
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		if err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("dnsverify: pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Close stops Run and waits for it to return.
func (w *Worker) Close() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// RunOnce makes one pass: every pending name whose record holds its value
// is verified; one still without it after Timeout has failed; the others
// stay pending for the next pass.
func (w *Worker) RunOnce(ctx context.Context) error {
	pending, err := w.cloud.PendingDNSVerifications()
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pending {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		txts, err := w.lookup(ctx, p.Record)
		found := false
		for _, t := range txts {
			found = found || t == p.Value
		}
		switch {
		case found:
			w.log.Info("dnsverify: verified", "service", p.ServiceID, "record", p.Record)
			errs = append(errs, w.cloud.CompleteDNSVerification(p.Region, p.ServiceID, p.Value, true))
		case w.opts.Now().Sub(p.Started) >= w.opts.Timeout:
			w.log.Info("dnsverify: failed", "service", p.ServiceID, "record", p.Record, "lookup_err", err)
			errs = append(errs, w.cloud.CompleteDNSVerification(p.Region, p.ServiceID, p.Value, false))
		}
	}
	return errors.Join(errs...)
}

func (w *Worker) lookup(ctx context.Context, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.QueryTimeout)
	defer cancel()
	return LookupTXT(ctx, w.opts.Resolver, name)
}

// LookupTXT asks resolver (host:port) for the TXT records of name and
// returns their texts, each record's strings joined as RFC 7208 joins
// them. A name without TXT records answers no texts and no error. A
// truncated UDP answer is asked again over TCP.
func LookupTXT(ctx context.Context, resolver, name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	m.RecursionDesired = true
	c := &dns.Client{Net: "udp"}
	r, _, err := c.ExchangeContext(ctx, m, resolver)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, resolver)
	}
	if err != nil {
		return nil, fmt.Errorf("dnsverify: TXT %s via %s: %w", name, resolver, err)
	}
	switch r.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return nil, fmt.Errorf("dnsverify: TXT %s via %s: %s", name, resolver, dns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}
