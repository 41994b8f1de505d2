// Package netns is the one place in Isthmus that switches network
// namespaces, and the one that creates, lists and deletes the named
// namespaces the data plane lives in.
//
// Named namespaces are made exactly as `ip netns add` makes them: a file
// /run/netns/NAME on which the namespace is bind-mounted, with /run/netns
// itself a shared mount, so `ip netns exec NAME …` and `ip -n NAME …` work
// on every namespace Isthmus creates.
//
// Everything else in Isthmus works on a namespace without entering it:
// netlink handles opened for a namespace (see Do for how the data plane
// opens them) and sockets created inside one with Do keep working from any
// goroutine afterwards, because a socket belongs to the namespace it was
// created in.
//
// Dial, Listen and ListenPacket are the common cases of that: a socket
// made inside a namespace with Do. Exec is the other way in: it replaces
// the process with a command running inside a namespace, as `ip netns
// exec` does (isthmus exec uses it).
//
// Handles are github.com/vishvananda/netns handles. That package is the
// de-facto standard type for "an open namespace file" and is what
// github.com/vishvananda/netlink takes, so using it avoids conversions; its
// own switching helpers (Set, NewNamed) change the calling thread's
// namespace and leave it there, which is why Isthmus does not use them and
// switches only through Do.
package netns

import (
	"errors"
	"fmt"
	"strings"

	vnetns "github.com/vishvananda/netns"
)

// RunDir is where named namespaces are bind-mounted, as iproute2 does.
const RunDir = "/run/netns"

// Handle is an open network namespace (a file descriptor). Close it when
// done; it keeps the namespace alive while open.
type Handle = vnetns.NsHandle

// ErrNotExist is wrapped by the errors of Open and Do for a name that has no
// namespace.
var ErrNotExist = errors.New("network namespace does not exist")

// ErrExist is wrapped by the error of Create for a name that already has a
// namespace.
var ErrExist = errors.New("network namespace already exists")

// Path returns the file a named namespace is mounted on.
func Path(name string) string { return RunDir + "/" + name }

// CheckName refuses a name that cannot be a file in RunDir.
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("netns: invalid namespace name %q", name)
	}
	return nil
}
