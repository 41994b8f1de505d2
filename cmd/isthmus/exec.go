package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isthmusnet/isthmus/daemon"
	"github.com/isthmusnet/isthmus/netns"
)

// isthmus exec runs a command inside a network interface's namespace, as
// `ip netns exec` does, with the namespace's /etc/resolv.conf (the VPC
// resolver). Exit codes: the command's (128+n when a signal n killed it);
// 127 when it does not exist, 126 when it cannot be run, 125 when isthmus
// itself failed.

const (
	exitFailed        = 125
	exitNotExecutable = 126
	exitNotFound      = 127
)

// nsexecCommand is the hidden subcommand `isthmus exec --subnet` runs its
// command through: isthmus __nsexec NAMESPACE -- CMD [ARGS...] enters the
// namespace and becomes CMD (package netns does the switching).
const nsexecCommand = "__nsexec"

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

const execUsage = `usage: isthmus exec [--data-dir DIR] --eni ENI-ID -- CMD [ARGS...]
       isthmus exec [--data-dir DIR] --subnet SUBNET-ID [--security-group SG-ID]... -- CMD [ARGS...]

Runs CMD inside a network interface's namespace with /etc/resolv.conf
naming the VPC resolver, and exits with CMD's exit code. With --subnet,
a new interface of the subnet (owned by the subnet's account, in the given
security groups or the VPC's default one) is created for CMD and deleted
when CMD ends, also when CMD or isthmus exec is interrupted. CMD sees
ISTHMUS_ENI_ID, ISTHMUS_PRIVATE_IP and ISTHMUS_PRIVATE_DNS_NAME.

The server (isthmus serve with the Linux data plane) must be running.
`

func execCmd(args []string) int {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	dataDir := fs.String("data-dir", env("DATA_DIR", daemon.DefaultDataDir()), "the server's data dir ($ISTHMUS_DATA_DIR)")
	eni := fs.String("eni", "", "run in the namespace of this network interface")
	subnet := fs.String("subnet", "", "run in a new network interface of this subnet")
	var groups stringList
	fs.Var(&groups, "security-group", "security group of the new interface (repeatable; with --subnet)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), execUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	argv := fs.Args()
	if len(argv) == 0 || (*eni == "") == (*subnet == "") || (*eni != "" && len(groups) > 0) {
		fs.Usage()
		return 2
	}
	c := &daemon.AdminClient{DataDir: *dataDir}
	if *eni != "" {
		return execENI(c, *eni, argv)
	}
	return execSubnet(c, *subnet, groups, argv)
}

func execFailed(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "isthmus exec: "+format+"\n", args...)
	return exitFailed
}

func adminFailed(c *daemon.AdminClient, err error) int {
	if daemon.ServerDown(err) {
		return execFailed("no server answers on %s/%s: start isthmus serve (with --dataplane linux)", c.DataDir, daemon.AdminSocket)
	}
	return execFailed("%v", err)
}

func interfaceEnv(info *daemon.InterfaceInfo) []string {
	return append(os.Environ(),
		"ISTHMUS_ENI_ID="+info.ID,
		"ISTHMUS_PRIVATE_IP="+info.PrivateIP,
		"ISTHMUS_PRIVATE_DNS_NAME="+info.DNSName)
}

// execENI becomes argv inside an existing interface's namespace.
func execENI(c *daemon.AdminClient, id string, argv []string) int {
	info, err := c.Interface(id)
	if err != nil {
		return adminFailed(c, err)
	}
	if info.State != "ready" {
		return execFailed("%s is not ready in the data plane (%s): %s", id, orNone(info.State), info.Error)
	}
	return execFailure(netns.Exec(info.Namespace, argv, interfaceEnv(info)))
}

func orNone(s string) string {
	if s == "" {
		return "not seen yet"
	}
	return s
}

// execFailure reports why netns.Exec returned and picks the exit code.
func execFailure(err error) int {
	fmt.Fprintf(os.Stderr, "isthmus exec: %v\n", err)
	switch {
	case errors.Is(err, netns.ErrNotFound):
		return exitNotFound
	case errors.Is(err, netns.ErrNotExecutable):
		return exitNotExecutable
	}
	return exitFailed
}

// execSubnet runs argv in a new interface of subnet and deletes the
// interface afterwards.
func execSubnet(c *daemon.AdminClient, subnet string, groups, argv []string) int {
	// Signals that arrive while the interface is being made must not kill
	// us half-way: they are held and handled once the command runs (or
	// end everything before it starts).
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)

	// The description names the command, not its arguments (which may
	// hold secrets, and which every user of the account would see).
	info, err := c.CreateExecInterface(daemon.ExecRequest{SubnetID: subnet, SecurityGroups: groups, Command: filepath.Base(argv[0])})
	if err != nil {
		return adminFailed(c, err)
	}
	cleanup := func() {
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if err = c.DeleteExecInterface(info.ID); err == nil {
				return
			}
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
		}
		fmt.Fprintf(os.Stderr, "isthmus exec: deleting %s: %v (the server deletes it once it sees this process gone)\n", info.ID, err)
	}
	select {
	case s := <-sigs:
		cleanup()
		return 128 + int(s.(syscall.Signal))
	default:
	}

	cmd := exec.Command("/proc/self/exe", append([]string{nsexecCommand, info.Namespace, "--"}, argv...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = interfaceEnv(info)
	if err := cmd.Start(); err != nil {
		cleanup()
		return execFailed("%v", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if !fromTerminal(s) {
					cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	cmd.Wait()
	close(done)
	cleanup()
	return exitCode(cmd.ProcessState)
}

// fromTerminal guesses whether a signal came from the terminal (Ctrl-C,
// Ctrl-\), which delivers it to the command as well, since both are in
// the terminal's foreground process group: such a signal is not sent a
// second time.
func fromTerminal(s os.Signal) bool {
	if s != syscall.SIGINT && s != syscall.SIGQUIT {
		return false
	}
	fg, err := unix.IoctlGetInt(int(os.Stdin.Fd()), unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}

// exitCode is the shell's $? for a finished process.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// nsexec is the hidden subcommand: NAMESPACE -- CMD [ARGS...].
func nsexec(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintf(os.Stderr, "usage: isthmus %s NAMESPACE -- CMD [ARGS...]\n", nsexecCommand)
		return 2
	}
	return execFailure(netns.Exec(args[0], args[2:], os.Environ()))
}
