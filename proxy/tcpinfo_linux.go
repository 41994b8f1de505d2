package proxy

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tcpInfo is what the proxy reads from the kernel about a socket.
type tcpInfo struct {
	lastRecv, lastSent time.Duration // since data was last received, sent
	bytesReceived      uint64
}

// tcpInfoOf reads TCP_INFO of c's socket; ok is false if c has none (it
// is not a TCP socket, or it is closed).
func tcpInfoOf(c net.Conn) (tcpInfo, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return tcpInfo{}, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return tcpInfo{}, false
	}
	var ti *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		ti, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || gerr != nil {
		return tcpInfo{}, false
	}
	received := ti.Bytes_received
	switch ti.State {
	case unix.BPF_TCP_CLOSE_WAIT, unix.BPF_TCP_LAST_ACK, unix.BPF_TCP_CLOSING, unix.BPF_TCP_TIME_WAIT, unix.BPF_TCP_CLOSE:
		// The peer's FIN may be in: it takes a sequence number, which
		// tcpi_bytes_received counts, but it is not a byte. (In CLOSE
		// the connection may have ended by a reset instead; the count
		// is then one low, which the copy's own count corrects.)
		if received > 0 {
			received--
		}
	}
	return tcpInfo{
		lastRecv:      time.Duration(ti.Last_data_recv) * time.Millisecond,
		lastSent:      time.Duration(ti.Last_data_sent) * time.Millisecond,
		bytesReceived: received,
	}, true
}
