package dataplane

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Capability bits (linux/capability.h).
const (
	capNetAdmin = 12
	capSysAdmin = 21
)

// errPrivileges is the one line a user sees when the Linux data plane
// cannot run.
var errPrivileges = errors.New("the Linux data plane needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN, to create network namespaces and links): run isthmus as root, or start it with --dataplane none to serve the API without a data plane")

// CheckPrivileges reports, in one sentence that says how to fix it,
// whether this process lacks what the Linux data plane needs: Linux, and
// the CAP_NET_ADMIN and CAP_SYS_ADMIN capabilities (root has both).
func CheckPrivileges() error {
	if runtime.GOOS != "linux" {
		return errNotLinuxPlane
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return errPrivileges
	}
	if !hasCaps(string(b), capNetAdmin, capSysAdmin) {
		return errPrivileges
	}
	return nil
}

var errNotLinuxPlane = errors.New("the Linux data plane runs only on Linux: start isthmus with --dataplane none to serve the API without a data plane")

// hasCaps reports whether the effective capability set in a
// /proc/<pid>/status text holds every one of caps.
func hasCaps(status string, caps ...uint) bool {
	for _, line := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		eff, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false
		}
		for _, c := range caps {
			if eff&(1<<c) == 0 {
				return false
			}
		}
		return true
	}
	return false
}
