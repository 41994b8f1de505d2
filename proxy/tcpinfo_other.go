//go:build !linux

package proxy

import (
	"net"
	"time"
)

type tcpInfo struct {
	lastRecv, lastSent time.Duration
	bytesReceived      uint64
}

// tcpInfoOf is Linux only: elsewhere the proxy has no idle timeout and
// counts bytes when a connection ends.
func tcpInfoOf(net.Conn) (tcpInfo, bool) { return tcpInfo{}, false }
