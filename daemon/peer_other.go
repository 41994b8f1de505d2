//go:build !linux

package daemon

import (
	"context"
	"net"
)

// peerProcess is the process at the other end of an admin connection;
// unknown outside Linux.
type peerProcess struct {
	pid   int
	start string
}

func withPeer(ctx context.Context, c net.Conn) context.Context { return ctx }

func peerOf(ctx context.Context) peerProcess { return peerProcess{} }

// processAlive is always true outside Linux (there is no data plane to
// collect for).
func processAlive(pid int, start string) bool { return true }
