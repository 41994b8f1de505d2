package daemon

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// peerProcess is the process at the other end of an admin connection, as
// this daemon's pid namespace numbers it: its pid and its start time (in
// clock ticks since boot, which tells a reused pid apart).
type peerProcess struct {
	pid   int
	start string
}

type peerKey struct{}

// withPeer records the peer process of a Unix connection (SO_PEERCRED)
// in the connection's context.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil || cred == nil || cred.Pid <= 0 {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, peerProcess{pid: int(cred.Pid), start: processStart(int(cred.Pid))})
}

func peerOf(ctx context.Context) peerProcess {
	p, _ := ctx.Value(peerKey{}).(peerProcess)
	return p
}

// processStart returns a process's start time from /proc/<pid>/stat
// (field 22), or "" if there is no such process.
func processStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces and parentheses
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22 overall: fields 3.. follow the command
}

// processAlive reports whether the process pid that started at start
// still runs (a zombie has exited: it does not count).
func processAlive(pid int, start string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 0 && f[0] == "Z" {
			return false
		}
	}
	return start == "" || processStart(pid) == start
}
