//go:build !linux

package netns

import (
	"errors"

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
