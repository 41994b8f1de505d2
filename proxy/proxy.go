package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultIdleTimeout is a network load balancer's default TCP idle timeout.
const DefaultIdleTimeout = 350 * time.Second

// DefaultDialTimeout bounds connecting to a target and writing the header
// when Config.DialTimeout is zero.
const DefaultDialTimeout = 10 * time.Second

// ErrClosed is returned by Serve after Close or Shutdown.
var ErrClosed = errors.New("proxy: closed")

// Config configures a Proxy.
type Config struct {
	// Dial connects to the target for an accepted client connection. It
	// decides the target (for example by flow hash of the client's
	// address), the source address and the namespace of the socket. ctx
	// ends after DialTimeout or when the Proxy closes. When it returns a
	// *net.TCPConn the bytes move by splice(2); any other net.Conn works,
	// through a userspace buffer. Required.
	Dial func(ctx context.Context, client net.Conn) (net.Conn, error)

	// Header returns the header to write to the target before any byte of
	// the client's. nil means HeaderFor(client): the client's remote
	// address as the source and the address it connected to as the
	// destination. The data plane sets it to give the consumer's original
	// address (which NAT in front of the proxy hides) and the
	// VPCEndpointID. A nil *Header sends no header. An error, or a header
	// that cannot be encoded, resets the client connection without
	// dialing (Stats.Rejected).
	Header func(client net.Conn) (*Header, error)

	// IdleTimeout closes a connection, with a reset to both sides, once no
	// data has moved in either direction for this long. Zero means
	// DefaultIdleTimeout, a negative value never. On Linux the kernel's
	// own per-socket timestamps (TCP_INFO) tell when data last moved, so
	// the copy path stays splice(2); elsewhere no idle timeout applies.
	IdleTimeout time.Duration

	// DialTimeout bounds Dial and writing the header. Zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration

	// Logger receives one debug line per failed connection; nil
	// discards.
	Logger *slog.Logger
}

// Stats are a Proxy's counters since it was made. They map onto the
// CloudWatch metrics of a load balancer and an endpoint.
type Stats struct {
	Active     int64  // open client connections (ActiveConnections)
	New        uint64 // accepted client connections (NewConnections)
	BytesIn    uint64 // bytes received from clients
	BytesOut   uint64 // bytes received from targets
	Resets     uint64 // connections that ended by a reset from either side (RstPacketsReceived)
	DialErrors uint64 // connections reset because the target could not be reached
	Rejected   uint64 // connections reset because Config.Header failed
	IdleClosed uint64 // connections reset by the idle timeout
}

// Proxy forwards TCP connections to targets, each preceded by a PROXY
// protocol v2 header. Make one with New; it is safe for concurrent use.
//
// Each direction of a connection is copied until its source ends; a clean
// end (FIN) is passed on as a half-close (CloseWrite) so that the other
// direction goes on. The connection closes when both directions have
// ended. A reset or error on either side, the idle timeout, or Close,
// resets both sides (SO_LINGER 0), as a load balancer does.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // cancelled by Close: aborts dials
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	idle      chan struct{} // closed when conns becomes empty while closing

	wg sync.WaitGroup // Serve loops and connections

	// Counters of connections that are over; Stats adds the live ones.
	active                                           atomic.Int64
	nnew, in, out, resets, dialErr, rejected, idleCl atomic.Uint64
}

// New returns a Proxy. It panics if cfg.Dial is nil.
func New(cfg Config) *Proxy {
	if cfg.Dial == nil {
		panic("proxy: Config.Dial is nil")
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Proxy{
		cfg: cfg, log: log, ctx: ctx, cancel: cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
}

// Serve accepts connections on ln and proxies each until the Proxy closes;
// it then returns ErrClosed. The Proxy owns ln from then on and closes it.
// Serve may be called for several listeners at once, each on its own
// goroutine; ln may have been made in another network namespace.
func (p *Proxy) Serve(ln net.Listener) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	p.listeners[ln] = struct{}{}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, ln)
		p.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			p.mu.Lock()
			closing := p.closing
			p.mu.Unlock()
			if closing {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) ||
				errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				// Out of descriptors or a transient error: wait and retry.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				p.log.Warn("proxy: accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-p.ctx.Done():
				}
				continue
			}
			return err
		}
		backoff = 0
		p.nnew.Add(1)
		cc := &conn{p: p, client: c}
		p.mu.Lock()
		if p.closing {
			p.mu.Unlock()
			reset(c)
			continue
		}
		p.conns[cc] = struct{}{}
		p.active.Add(1)
		p.wg.Add(1)
		p.mu.Unlock()
		go cc.run()
	}
}

// Close stops accepting, resets every open connection and waits until all
// of the Proxy's goroutines have ended. It is idempotent.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Shutdown(ctx)
	return nil
}

// Shutdown stops accepting and waits for open connections to end by
// themselves until ctx is done; it then resets those that remain. It
// returns once every goroutine of the Proxy has ended, with ctx.Err() if
// it had to reset connections.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	for ln := range p.listeners {
		ln.Close()
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
		if len(p.conns) == 0 {
			close(p.idle)
		}
	}
	idle := p.idle
	p.mu.Unlock()

	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.cancel()
	p.mu.Lock()
	for c := range p.conns {
		c.abort()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// Stats returns the counters. Byte counts include the bytes of open
// connections, as far as the kernel has received them (Linux); they never
// decrease.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	s := Stats{
		Active:     p.active.Load(),
		New:        p.nnew.Load(),
		BytesIn:    p.in.Load(),
		BytesOut:   p.out.Load(),
		Resets:     p.resets.Load(),
		DialErrors: p.dialErr.Load(),
		Rejected:   p.rejected.Load(),
		IdleClosed: p.idleCl.Load(),
	}
	for c := range p.conns {
		in, out := c.liveBytes()
		s.BytesIn += in
		s.BytesOut += out
	}
	p.mu.Unlock()
	return s
}

// conn is one proxied connection.
type conn struct {
	p      *Proxy
	client net.Conn

	mu      sync.Mutex
	target  net.Conn
	aborted bool
	idle    *time.Timer

	// The highest byte counts reported so far, so that they only grow.
	seenIn, seenOut atomic.Uint64
}

func (c *conn) run() {
	p := c.p
	var in, out int64
	var rst bool
	defer func() {
		c.mu.Lock()
		c.aborted = true // nothing is to reset or rearm from now on
		if c.idle != nil {
			c.idle.Stop()
		}
		target := c.target
		c.mu.Unlock()
		c.client.Close()
		if target != nil {
			target.Close()
		}
		p.mu.Lock()
		delete(p.conns, c)
		// Final byte counts: what was copied, but never less than Stats
		// reported while the connection was open (which, after a reset,
		// may include bytes that never made it across). Stats no longer
		// sees c, so these cannot grow any more.
		fin, fout := max(c.seenIn.Load(), uint64(in)), max(c.seenOut.Load(), uint64(out))
		p.in.Add(fin)
		p.out.Add(fout)
		if rst {
			p.resets.Add(1)
		}
		p.active.Add(-1)
		if p.closing && len(p.conns) == 0 && p.idle != nil {
			select {
			case <-p.idle:
			default:
				close(p.idle)
			}
		}
		p.mu.Unlock()
		p.wg.Done()
	}()

	// The header is encoded before dialing: a hook that gives an
	// impossible header rejects the client like one that fails.
	var hdr []byte
	h, err := c.header()
	if err == nil && h != nil {
		var buf [FixedLen + 36 + 64]byte
		hdr, err = h.AppendBinary(buf[:0])
	}
	if err != nil {
		p.rejected.Add(1)
		p.log.Debug("proxy: header", "client", c.client.RemoteAddr(), "err", err)
		reset(c.client)
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.DialTimeout)
	target, err := p.cfg.Dial(ctx, c.client)
	cancel()
	if err != nil {
		p.dialErr.Add(1)
		p.log.Debug("proxy: dial", "client", c.client.RemoteAddr(), "err", err)
		reset(c.client)
		return
	}
	c.mu.Lock()
	c.target = target
	aborted := c.aborted
	c.mu.Unlock()
	if aborted {
		reset(c.client)
		reset(target)
		return
	}
	if hdr != nil {
		target.SetWriteDeadline(time.Now().Add(p.cfg.DialTimeout))
		_, err := target.Write(hdr)
		target.SetWriteDeadline(time.Time{})
		if err != nil {
			p.log.Debug("proxy: writing header", "client", c.client.RemoteAddr(), "err", err)
			rst = isReset(err)
			c.abort()
			return
		}
	}
	c.startIdle()

	done := make(chan struct{})
	var upErr error
	go func() {
		in, upErr = c.pipe(target, c.client)
		close(done)
	}()
	var downErr error
	out, downErr = c.pipe(c.client, target)
	<-done
	rst = isReset(upErr) || isReset(downErr)
}

// header returns the header Config.Header gives for the client.
func (c *conn) header() (*Header, error) {
	if c.p.cfg.Header == nil {
		h := HeaderFor(c.client)
		return &h, nil
	}
	return c.p.cfg.Header(c.client)
}

// pipe copies src to dst until src ends. A clean end is passed on as a
// half-close of dst; anything else aborts the whole connection.
func (c *conn) pipe(dst, src net.Conn) (int64, error) {
	n, err := io.Copy(dst, src)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			err = cw.CloseWrite()
			if errors.Is(err, syscall.ENOTCONN) {
				err = nil // the peer is gone already
			}
		}
		if err == nil {
			return n, nil
		}
	}
	c.abort()
	if errors.Is(err, net.ErrClosed) {
		err = nil // closed by abort from the other direction
	}
	return n, err
}

// abort resets both sides of the connection; it unblocks both copies. It
// may be called more than once and from any goroutine.
func (c *conn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		return
	}
	c.aborted = true
	reset(c.client)
	if c.target != nil {
		reset(c.target)
	}
}

// startIdle arms the idle timer: it fires after the timeout, asks the
// kernel how long ago data last moved, and either resets the connection or
// rearms for the rest of the timeout.
func (c *conn) startIdle() {
	limit := c.p.cfg.IdleTimeout
	if limit < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		return
	}
	var check func()
	check = func() {
		idle, ok := c.idleFor()
		if !ok {
			return // not supported, or the sockets are closed already
		}
		if idle < limit {
			c.mu.Lock()
			if !c.aborted {
				c.idle = time.AfterFunc(limit-idle, check)
			}
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		aborted := c.aborted
		c.mu.Unlock()
		if !aborted {
			c.p.idleCl.Add(1)
			c.abort()
		}
	}
	c.idle = time.AfterFunc(limit, check)
}

// idleFor is how long ago data last moved in either direction, from the
// kernel's timestamps of the client socket and, when it has one, the
// target socket.
func (c *conn) idleFor() (time.Duration, bool) {
	ci, ok := tcpInfoOf(c.client)
	if !ok {
		return 0, false
	}
	idle := min(ci.lastRecv, ci.lastSent)
	c.mu.Lock()
	target := c.target
	c.mu.Unlock()
	if ti, ok := tcpInfoOf(target); ok {
		idle = min(idle, ti.lastRecv, ti.lastSent)
	}
	return idle, true
}

// liveBytes returns the bytes received from the client and from the target
// so far, as the kernel counts them, never less than reported before.
func (c *conn) liveBytes() (in, out uint64) {
	if ci, ok := tcpInfoOf(c.client); ok {
		in = ci.bytesReceived
	}
	c.mu.Lock()
	target := c.target
	c.mu.Unlock()
	if ti, ok := tcpInfoOf(target); ok {
		out = ti.bytesReceived
	}
	return raise(&c.seenIn, in), raise(&c.seenOut, out)
}

// raise stores v in a if it is larger and returns the larger of the two.
func raise(a *atomic.Uint64, v uint64) uint64 {
	for {
		old := a.Load()
		if v <= old {
			return old
		}
		if a.CompareAndSwap(old, v) {
			return v
		}
	}
}

// reset closes c so that the peer gets a RST rather than a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
