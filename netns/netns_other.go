//go:build !linux

package netns

import (
	"errors"
	"net"
	"time"

	vnetns "github.com/vishvananda/netns"
)

var errUnsupported = errors.New("netns: network namespaces exist only on Linux")

// Do is Linux-only; elsewhere it fails.
func Do(ns Handle, fn func() error) error { return errUnsupported }

// DoNamed is Linux-only; elsewhere it fails.
func DoNamed(name string, fn func() error) error { return errUnsupported }

// Open is Linux-only; elsewhere it fails.
func Open(name string) (Handle, error) { return vnetns.None(), errUnsupported }

// Exists is always false outside Linux.
func Exists(name string) bool { return false }

// Create is Linux-only; elsewhere it fails.
func Create(name string) error { return errUnsupported }

// Delete is Linux-only; elsewhere it fails.
func Delete(name string) error { return errUnsupported }

// List is empty outside Linux.
func List(prefix string) ([]string, error) { return nil, nil }

// Dial is Linux-only; elsewhere it fails.
func Dial(name, network, addr string, timeout time.Duration) (net.Conn, error) {
	return nil, errUnsupported
}

// Listen is Linux-only; elsewhere it fails.
func Listen(name, network, addr string) (net.Listener, error) { return nil, errUnsupported }

// ListenPacket is Linux-only; elsewhere it fails.
func ListenPacket(name, network, addr string) (net.PacketConn, error) { return nil, errUnsupported }

// EtcDir is where iproute2 keeps per-namespace files.
const EtcDir = "/etc/netns"

// ErrNotFound and ErrNotExecutable classify Exec's failures.
var (
	ErrNotFound      = errors.New("command not found")
	ErrNotExecutable = errors.New("command not executable")
)

// Exec is Linux-only; elsewhere it fails.
func Exec(name string, argv, env []string) error { return errUnsupported }
