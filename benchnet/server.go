//go:build linux

package benchnet

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The benchmark protocol: a client's first byte is its mode.
const (
	// ModeUpload: the client sends bytes until it half-closes; the server
	// answers how many it received (8 bytes, big endian) and closes.
	ModeUpload = 'U'
	// ModeEcho: the server echoes every byte until the client closes.
	ModeEcho = 'E'
)

// noPPv2Reply is what a server that expects a PROXY v2 header answers to
// a connection without one, before closing it.
const noPPv2Reply = "!no PROXY v2 header\n"

// Buffers are reused: the connection-rate test opens thousands of
// connections a second, and the server should cost as little as it can.
var (
	uploadBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}
	echoBufs   = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}
)

// Server serves the benchmark protocol on a listener until Close.
type Server struct {
	ln   net.Listener
	ppv2 bool

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	headers atomic.Int64 // PROXY (not LOCAL) headers stripped
	missing atomic.Int64 // connections that lacked one
	last    atomic.Pointer[PPv2Info]
}

// Serve starts serving ln on goroutines of its own. With ppv2, every
// connection must start with a PROXY v2 header, which the server strips
// (and records) before the protocol; a connection without one is answered
// with a line starting "!" and closed.
func Serve(ln net.Listener, ppv2 bool) *Server {
	s := &Server{ln: ln, ppv2: ppv2, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s
}

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// PPv2 reports how many PROXY headers (LOCAL ones not counted) the server
// stripped, how many connections lacked one, and the last header seen.
func (s *Server) PPv2() (headers, missing int64, last PPv2Info) {
	if p := s.last.Load(); p != nil {
		last = *p
	}
	return s.headers.Load(), s.missing.Load(), last
}

// Close stops the listener, closes every connection and waits for the
// server's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: let the clients back off.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	if s.ppv2 {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		h, err := ReadPPv2(c)
		if errors.Is(err, ErrNoPPv2) {
			s.missing.Add(1)
			io.WriteString(c, noPPv2Reply)
			return
		}
		if err != nil {
			return
		}
		if !h.Local {
			s.headers.Add(1)
			s.last.Store(&h)
		}
		c.SetReadDeadline(time.Time{})
	}
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return // a health check, or a client that gave up
	}
	switch mode[0] {
	case ModeUpload:
		bp := uploadBufs.Get().(*[]byte)
		defer uploadBufs.Put(bp)
		buf := *bp
		var n uint64
		for {
			m, err := c.Read(buf)
			n += uint64(m)
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
		c.Write(binary.BigEndian.AppendUint64(nil, n))
	case ModeEcho:
		bp := echoBufs.Get().(*[]byte)
		defer echoBufs.Put(bp)
		buf := *bp
		for {
			m, err := c.Read(buf)
			if m > 0 {
				if _, werr := c.Write(buf[:m]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
}
