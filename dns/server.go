package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/isthmusnet/isthmus/netns"
)

// Server is one resolver: UDP and TCP listeners on some addresses of one
// network namespace, answering through a chain that can be swapped while
// it runs.
type Server struct {
	ns    string
	addrs []netip.Addr
	port  int
	log   *slog.Logger

	chain   atomic.Pointer[chainBox]
	servers []*dns.Server
	closeMu sync.Mutex
	closed  bool
}

type chainBox struct{ h Handler }

// Listen opens the server's sockets inside the namespace ns (by name)
// and starts answering through h. The sockets belong to that namespace
// for good; serving runs on ordinary goroutines.
func Listen(ns string, addrs []netip.Addr, port int, h Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{ns: ns, addrs: addrs, port: port, log: log}
	s.chain.Store(&chainBox{h})
	var pcs []net.PacketConn
	var lns []net.Listener
	err := netns.DoNamed(ns, func() error {
		for _, a := range addrs {
			addr := net.JoinHostPort(a.String(), strconv.Itoa(port))
			pc, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return err
			}
			pcs = append(pcs, pc)
			ln, err := net.Listen("tcp4", addr)
			if err != nil {
				return err
			}
			lns = append(lns, ln)
		}
		return nil
	})
	if err != nil {
		for _, pc := range pcs {
			pc.Close()
		}
		for _, ln := range lns {
			ln.Close()
		}
		return nil, fmt.Errorf("dns: listening in %s: %w", ns, err)
	}
	for _, pc := range pcs {
		s.servers = append(s.servers, &dns.Server{PacketConn: pc, Handler: s})
	}
	for _, ln := range lns {
		s.servers = append(s.servers, &dns.Server{Listener: ln, Handler: s, ReadTimeout: 5 * time.Second})
	}
	var wg sync.WaitGroup
	for _, srv := range s.servers {
		wg.Add(1)
		var once sync.Once
		srv.NotifyStartedFunc = func() { once.Do(wg.Done) }
		go func() {
			err := srv.ActivateAndServe()
			once.Do(wg.Done)
			if err != nil && !s.isClosed() {
				log.Error("dns: server stopped", "netns", ns, "error", err)
			}
		}()
	}
	wg.Wait() // started, so that Close can shut every one down
	return s, nil
}

// SetHandler swaps the chain new queries go through.
func (s *Server) SetHandler(h Handler) { s.chain.Store(&chainBox{h}) }

// Handler returns the current chain.
func (s *Server) Handler() Handler { return s.chain.Load().h }

// ServeDNS implements miekg/dns's Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := serve(ctx, s.chain.Load().h, w, r); err != nil {
		s.log.Debug("dns: query failed", "netns", s.ns, "name", qname(r), "error", err)
	}
}

func qname(r *dns.Msg) string {
	if len(r.Question) == 0 {
		return ""
	}
	return r.Question[0].Name
}

func (s *Server) isClosed() bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	return s.closed
}

// Close stops the server and closes its sockets. It is idempotent.
func (s *Server) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.ShutdownContext(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, err)
		}
		// Whatever Shutdown did, the sockets go.
		if srv.PacketConn != nil {
			srv.PacketConn.Close()
		}
		if srv.Listener != nil {
			srv.Listener.Close()
		}
	}
	return errors.Join(errs...)
}
