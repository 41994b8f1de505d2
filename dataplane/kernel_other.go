//go:build !linux

package dataplane

import (
	"errors"
	"log/slog"
	"net/netip"

	"github.com/isthmusnet/isthmus/fastpath"
)

var errNotLinux = errors.New("dataplane: the Linux data plane runs only on Linux; use --dataplane none")

// LinuxKernel exists only on Linux; elsewhere every call fails.
type LinuxKernel struct{}

// NewLinuxKernel returns a Kernel whose calls fail outside Linux.
func NewLinuxKernel(log *slog.Logger) *LinuxKernel { return &LinuxKernel{} }

func (k *LinuxKernel) Ensure(it Item) error                       { return errNotLinux }
func (k *LinuxKernel) Remove(it Item) error                       { return errNotLinux }
func (k *LinuxKernel) Observe(prefix string) (*HostConfig, error) { return nil, errNotLinux }
func (k *LinuxKernel) Close() error                               { return nil }

// EnableFastPath fails outside Linux.
func (k *LinuxKernel) EnableFastPath() error { return errNotLinux }

// NamespaceCookie fails outside Linux.
func (k *LinuxKernel) NamespaceCookie(ns string) (uint64, error) { return 0, errNotLinux }

// FastPath is nil outside Linux.
func (k *LinuxKernel) FastPath() *fastpath.Programs { return nil }

func (k *LinuxKernel) FlushConntrackTo(ns string, proto uint8, dst netip.AddrPort) (uint, error) {
	return 0, errNotLinux
}
func (k *LinuxKernel) CountFlowsTo(ns string, dst netip.AddrPort) (int, error) { return 0, errNotLinux }
