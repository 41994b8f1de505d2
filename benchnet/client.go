//go:build linux

package benchnet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/netns"
)

// DialIn connects to addr from inside the namespace called ns (the host's
// own namespace for ""). The connection works from any goroutine.
func DialIn(ns string, addr netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	var c net.Conn
	dial := func() error {
		var err error
		c, err = net.DialTimeout("tcp4", addr.String(), timeout)
		return err
	}
	var err error
	if ns == "" {
		err = dial()
	} else {
		err = netns.DoNamed(ns, dial)
	}
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// ListenIn opens a TCP listener on addr inside the namespace called ns
// (the host's own for ""). Accepted connections have no keep-alive
// probes (Go's default would set them up on every one).
func ListenIn(ns string, addr netip.AddrPort) (net.Listener, error) {
	var ln net.Listener
	listen := func() error {
		var err error
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err = lc.Listen(context.Background(), "tcp4", addr.String())
		return err
	}
	var err error
	if ns == "" {
		err = listen()
	} else {
		err = netns.DoNamed(ns, listen)
	}
	return ln, err
}

// closeOnDone closes every closer when ctx ends; call the returned stop
// when done with them.
func closeOnDone[C io.Closer](ctx context.Context, cs ...C) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		for _, c := range cs {
			c.Close()
		}
	})
}

// Bulk sends as much as it can over streams connections from namespace ns
// (the host's for "") to a Server at addr for d, and returns the
// throughput the server received, in bits per second: the bytes the server
// counted over the time from the first byte until the last count arrived.
func Bulk(ctx context.Context, ns string, addr netip.AddrPort, streams int, d time.Duration) (float64, error) {
	conns := make([]*net.TCPConn, 0, streams)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range streams {
		c, err := DialIn(ns, addr, 3*time.Second)
		if err != nil {
			return 0, err
		}
		conns = append(conns, c)
	}
	defer closeOnDone(ctx, conns...)()
	buf := make([]byte, 128<<10)
	start := time.Now()
	deadline := start.Add(d)
	var (
		mu    sync.Mutex
		total uint64
		end   time.Time
		errs  []error
		wg    sync.WaitGroup
	)
	for _, c := range conns {
		wg.Go(func() {
			n, err := upload(c, buf, deadline)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			total += n
			if now := time.Now(); now.After(end) {
				end = now
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(total) * 8 / end.Sub(start).Seconds(), nil
}

// upload writes until deadline, half-closes and reads the server's count.
func upload(c *net.TCPConn, buf []byte, deadline time.Time) (uint64, error) {
	if _, err := c.Write([]byte{ModeUpload}); err != nil {
		return 0, err
	}
	c.SetWriteDeadline(deadline)
	for {
		if _, err := c.Write(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return 0, err
		}
	}
	if err := c.CloseWrite(); err != nil {
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	var count [8]byte
	n, err := io.ReadFull(c, count[:])
	if err != nil {
		return 0, serverError(count[:n], err)
	}
	return binary.BigEndian.Uint64(count[:]), nil
}

// serverError explains a short answer: a server's "!" line, or err.
func serverError(got []byte, err error) error {
	if len(got) > 0 && got[0] == '!' {
		return fmt.Errorf("server: %s", bytes.TrimSpace(got[1:]))
	}
	return err
}

// RequestResponse sends size-byte requests over one connection from
// namespace ns (the host's for "") to a Server at addr, each after the
// previous echo has come back, and returns the round-trip time of each of
// n requests (after warmup ones that are not counted).
func RequestResponse(ctx context.Context, ns string, addr netip.AddrPort, size, warmup, n int) ([]time.Duration, error) {
	c, err := DialIn(ns, addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	defer closeOnDone(ctx, c)()
	c.SetDeadline(time.Now().Add(time.Minute))
	req := make([]byte, 1+size)
	req[0] = ModeEcho
	for i := 1; i < len(req); i++ {
		req[i] = byte('a' + i%26)
	}
	resp := make([]byte, size)
	lat := make([]time.Duration, 0, n)
	msg := req // the first request carries the mode byte
	for i := range warmup + n {
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return nil, err
		}
		m, err := io.ReadFull(c, resp)
		d := time.Since(t0)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, serverError(resp[:m], err)
		}
		if i == 0 && !bytes.Equal(resp, req[1:]) {
			return nil, fmt.Errorf("echo: got %q", resp)
		}
		if i >= warmup {
			lat = append(lat, d)
		}
		msg = req[1:]
	}
	return lat, nil
}

// ConnectRate runs workers that each, until d has passed, open a new
// connection from namespace ns (the host's for "") to a Server at addr,
// exchange one size-byte request and its echo, and close it (the client
// closes first, as a client of a service does). It returns the completed
// connections per second, the number of failed ones and the first
// failure.
//
// Sockets are created inside ns in batches by one goroutine (a namespace
// switch per connection would add its own cost to every connection) and
// connected, used and closed by the workers on ordinary goroutines.
func ConnectRate(ctx context.Context, ns string, addr netip.AddrPort, workers, size int, d time.Duration) (rate float64, failed int, err error) {
	inNS := func(fn func() error) error { return fn() } // the host's namespace, for ""
	if ns != "" {
		h, err := netns.Open(ns)
		if err != nil {
			return 0, 0, err
		}
		defer h.Close()
		inNS = func(fn func() error) error { return netns.Do(h, fn) }
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pool := make(chan int, 1024)
	var prod sync.WaitGroup
	var prodErr error
	prod.Go(func() {
		defer close(pool)
		batch := make([]int, 0, 128)
		for ctx.Err() == nil {
			batch = batch[:0]
			prodErr = inNS(func() error {
				for range cap(batch) {
					fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
					if err != nil {
						return fmt.Errorf("socket: %w", err)
					}
					batch = append(batch, fd)
				}
				return nil
			})
			for i, fd := range batch {
				select {
				case pool <- fd:
				case <-ctx.Done():
					for _, fd := range batch[i:] {
						unix.Close(fd)
					}
					return
				}
			}
			if prodErr != nil {
				return
			}
		}
	})
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		for fd := range pool {
			unix.Close(fd)
		}
		prod.Wait()
	}
	defer stop()

	req := make([]byte, 1+size)
	req[0] = ModeEcho
	for i := 1; i < len(req); i++ {
		req[i] = byte('a' + i%26)
	}
	var (
		mu       sync.Mutex
		done     int
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range workers {
		wg.Go(func() {
			// Each worker its own: a Sockaddr holds the buffer Connect fills.
			sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
			resp := make([]byte, size)
			var ok, bad, badRun int
			for time.Now().Before(deadline) && ctx.Err() == nil && badRun < 50 {
				fd, open := <-pool
				if !open {
					break
				}
				if err := exchangeOnce(fd, sa, req, resp); err != nil {
					bad++
					badRun++
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				ok++
				badRun = 0
			}
			mu.Lock()
			done += ok
			failed += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	interrupted := ctx.Err()
	stop()
	if interrupted != nil {
		return 0, failed, interrupted
	}
	if firstErr == nil && prodErr != nil {
		firstErr = prodErr
	}
	if done == 0 && firstErr == nil {
		firstErr = errors.New("no connection completed")
	}
	return float64(done) / elapsed.Seconds(), failed, firstErr
}

// exchangeOnce connects the non-blocking socket fd to sa, sends req,
// reads the echo of req[1:] into resp and closes fd, all within 5 seconds.
// It takes fd over.
func exchangeOnce(fd int, sa unix.Sockaddr, req, resp []byte) error {
	f := os.NewFile(uintptr(fd), "tcp") // non-blocking: served by the poller
	defer f.Close()
	f.SetDeadline(time.Now().Add(5 * time.Second))
	if err := connectFile(f, fd, sa); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if _, err := f.Write(req); err != nil {
		return err
	}
	if n, err := io.ReadFull(f, resp); err != nil {
		return serverError(resp[:n], err)
	}
	return nil
}

// connectFile connects a non-blocking socket as net does: connect, then
// wait for it to become writable and read SO_ERROR.
func connectFile(f *os.File, fd int, sa unix.Sockaddr) error {
	err := unix.Connect(fd, sa)
	switch {
	case err == nil || errors.Is(err, unix.EISCONN):
		return nil
	case !errors.Is(err, unix.EINPROGRESS) && !errors.Is(err, unix.EALREADY) && !errors.Is(err, unix.EINTR):
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	werr := rc.Write(func(s uintptr) bool {
		n, err := unix.GetsockoptInt(int(s), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			cerr = err
			return true
		}
		switch e := syscall.Errno(n); e {
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		case 0, unix.EISCONN:
			// Writable and no error may be a spurious wake-up: connected
			// only once the peer is known.
			_, err := unix.Getpeername(int(s))
			return err == nil
		default:
			cerr = e
			return true
		}
	})
	if werr != nil {
		return werr
	}
	return cerr
}
