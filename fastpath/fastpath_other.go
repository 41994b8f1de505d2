//go:build !linux

package fastpath

import "errors"

var errNotLinux = errors.New("fastpath: the fast path runs only on Linux")

// Programs exists only on Linux; elsewhere Load fails.
type Programs struct{}

// Stats are what the fast path carried in through one link.
type Stats struct {
	Packets, Bytes uint64
}

// Load fails outside Linux.
func Load() (*Programs, error) { return nil, errNotLinux }

// Close does nothing outside Linux.
func (p *Programs) Close() error { return nil }

// Stats fails outside Linux.
func (p *Programs) Stats(netns uint64, in, out int) (Stats, error) { return Stats{}, errNotLinux }

// Carried fails outside Linux.
func (p *Programs) Carried(netns uint64) (Stats, error) { return Stats{}, errNotLinux }

// Cookie fails outside Linux.
func Cookie() (uint64, error) { return 0, errNotLinux }
