package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/daemon"
	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/netns"
	"github.com/isthmusnet/isthmus/testenv"
)

// These tests run a real server (isthmus serve's daemon.Run, in this
// process, with the Linux data plane under a prefix of their own) and the
// real isthmus binary, built into a temporary directory, as a user would.

type host struct {
	t       *testing.T
	dataDir string
	prefix  string
	bin     string
	ec2     *ec2.Client
}

func buildIsthmus(t *testing.T) string {
	t.Helper()
	gobin := testenv.RequireProgram(t, "go")
	bin := filepath.Join(t.TempDir(), "isthmus")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func newHost(t *testing.T) *host {
	testenv.RequireRoot(t)
	var b [4]byte
	rand.Read(b[:])
	h := &host{t: t, dataDir: t.TempDir(), prefix: "t" + hex.EncodeToString(b[:]), bin: buildIsthmus(t)}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			Listen:          "127.0.0.1:0",
			DataDir:         h.dataDir,
			Regions:         []string{"us-east-1"},
			Auth:            api.AuthOpen,
			DefaultAccount:  "111111111111",
			Dataplane:       "linux",
			DataplanePrefix: h.prefix,
			Ready:           func(addr string) { addrc <- addr },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		k := dataplane.NewLinuxKernel(nil)
		defer k.Close()
		if err := dataplane.Teardown(k, h.prefix); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon did not start")
	}
	h.ec2 = ec2.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("111111111111", "x", ""),
		BaseEndpoint: aws.String("http://" + addr),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:   &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	})
	return h
}

// run runs the isthmus binary and returns its stdout, stderr and exit code.
func (h *host) run(args ...string) (string, string, int) {
	h.t.Helper()
	cmd := exec.Command(h.bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		h.t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func (h *host) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

// interfaces returns the ids of the account's network interfaces.
func (h *host) interfaces() []string {
	h.t.Helper()
	out, err := h.ec2.DescribeNetworkInterfaces(h.ctx(), &ec2.DescribeNetworkInterfacesInput{})
	if err != nil {
		h.t.Fatal(err)
	}
	var ids []string
	for _, n := range out.NetworkInterfaces {
		ids = append(ids, aws.ToString(n.NetworkInterfaceId))
	}
	return ids
}

func (h *host) namespaces() []string {
	h.t.Helper()
	names, err := netns.List(h.prefix + "-")
	if err != nil {
		h.t.Fatal(err)
	}
	return names
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// socketCount counts this process's open sockets (the server's).
func socketCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// children returns the pids of a process's children (of all its threads).
func children(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(w); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// childOf returns the pid of a process's only child.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	var child int
	waitFor(t, fmt.Sprintf("a child of %d", pid), func() bool {
		if c := children(pid); len(c) == 1 {
			child = c[0]
		}
		return child != 0
	})
	return child
}

func TestExec(t *testing.T) {
	h := newHost(t)
	dig := testenv.RequireProgram(t, "dig")
	ctx := h.ctx()
	baseline := socketCount(t)

	vpc, err := h.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	vpcID := vpc.Vpc.VpcId
	if _, err := h.ec2.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: vpcID, EnableDnsHostnames: &types.AttributeBooleanValue{Value: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	sub, err := h.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpcID, CidrBlock: aws.String("10.9.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	subnetID := aws.ToString(sub.Subnet.SubnetId)
	eni, err := h.ec2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(subnetID), PrivateIpAddress: aws.String("10.9.1.10")})
	if err != nil {
		t.Fatal(err)
	}
	eniID := aws.ToString(eni.NetworkInterface.NetworkInterfaceId)
	if got := aws.ToString(eni.NetworkInterface.PrivateDnsName); got != "ip-10-9-1-10.ec2.internal" {
		t.Fatalf("PrivateDnsName %q", got)
	}

	t.Run("eni", func(t *testing.T) {
		// dig, with no server named, asks what /etc/resolv.conf names: the
		// VPC resolver, which answers the interface's own hostname.
		var out, stderr string
		var code int
		waitFor(t, "the interface to be ready", func() bool {
			out, stderr, code = h.run("exec", "--data-dir", h.dataDir, "--eni", eniID, "--", dig, "+short", "+time=2", "+tries=1", "ip-10-9-1-10.ec2.internal")
			return code == 0 && strings.TrimSpace(out) == "10.9.1.10"
		})
		out, stderr, code = h.run("exec", "--data-dir", h.dataDir, "--eni", eniID, "--", dig, "+search", "+noall", "+answer", "+time=2", "+tries=1", "ip-10-9-1-10")
		if code != 0 || !strings.Contains(out, "ip-10-9-1-10.ec2.internal.") || !strings.Contains(out, "10.9.1.10") {
			t.Fatalf("dig +search: exit %d\n%s%s", code, out, stderr)
		}
		out, _, _ = h.run("exec", "--data-dir", h.dataDir, "--eni", eniID, "--", "cat", "/etc/resolv.conf")
		if !strings.Contains(out, "nameserver 10.9.0.2\n") || !strings.Contains(out, "search ec2.internal\n") {
			t.Fatalf("resolv.conf inside:\n%s", out)
		}
		// The command runs in the interface's namespace: eth0 holds its address.
		out, _, code = h.run("exec", "--data-dir", h.dataDir, "--eni", eniID, "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0")
		if code != 0 || !strings.Contains(out, "10.9.1.10/24") {
			t.Fatalf("ip addr inside: exit %d: %s", code, out)
		}
		// The exit code is the command's.
		if _, _, code := h.run("exec", "--data-dir", h.dataDir, "--eni", eniID, "--", "sh", "-c", "exit 3"); code != 3 {
			t.Fatalf("exit code %d, want 3", code)
		}
		if _, _, code := h.run("exec", "--data-dir", h.dataDir, "--eni", eniID, "--", "no-such-command-isthmus"); code != 127 {
			t.Fatalf("a missing command: exit %d, want 127", code)
		}
		if _, stderr, code := h.run("exec", "--data-dir", h.dataDir, "--eni", "eni-0123456789abcdef0", "--", "true"); code != 125 || !strings.Contains(stderr, "InvalidNetworkInterfaceID.NotFound") {
			t.Fatalf("an unknown interface: exit %d: %s", code, stderr)
		}
	})

	t.Run("subnet", func(t *testing.T) {
		before, nsBefore := h.interfaces(), h.namespaces()
		out, stderr, code := h.run("exec", "--data-dir", h.dataDir, "--subnet", subnetID, "--",
			"sh", "-c", `echo "$ISTHMUS_ENI_ID $ISTHMUS_PRIVATE_IP"; `+dig+` +short +time=2 +tries=1 ip-10-9-1-10.ec2.internal; exit 5`)
		if code != 5 {
			t.Fatalf("exit %d, want the command's 5\n%s%s", code, out, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "eni-") || lines[1] != "10.9.1.10" {
			t.Fatalf("output:\n%s%s", out, stderr)
		}
		id := strings.Fields(lines[0])[0]
		// It is gone, and so is its namespace.
		if after := h.interfaces(); len(after) != len(before) {
			t.Fatalf("interfaces before %v, after %v", before, after)
		}
		if nsAfter := h.namespaces(); len(nsAfter) != len(nsBefore) {
			t.Fatalf("namespaces before %v, after %v", nsBefore, nsAfter)
		}
		_, err := h.ec2.DescribeNetworkInterfaces(h.ctx(), &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{id}})
		if errorCode(err) != "InvalidNetworkInterfaceID.NotFound" {
			t.Fatalf("the exec interface %s after the command: %v", id, err)
		}
		// In the security group asked for.
		sg, err := h.ec2.CreateSecurityGroup(h.ctx(), &ec2.CreateSecurityGroupInput{VpcId: vpcID, GroupName: aws.String("exec"), Description: aws.String("exec")})
		if err != nil {
			t.Fatal(err)
		}
		// Its firewall is the group's: no inbound rule (the VPC's default
		// group would allow its own members in), all outbound.
		nft := testenv.RequireProgram(t, "nft")
		out, stderr, code = h.run("exec", "--data-dir", h.dataDir, "--subnet", subnetID, "--security-group", aws.ToString(sg.GroupId), "--",
			nft, "list", "table", "inet", "isthmus")
		if code != 0 || !strings.Contains(out, "chain sg-in {\n\t}") || !strings.Contains(out, `meta nfproto ipv4 accept comment "meta nfproto ipv4 accept"`) {
			t.Fatalf("the firewall of an interface in %s: exit %d\n%s%s", aws.ToString(sg.GroupId), code, out, stderr)
		}
		out, _, _ = h.run("exec", "--data-dir", h.dataDir, "--subnet", subnetID, "--", nft, "list", "chain", "inet", "isthmus", "sg-in")
		if !strings.Contains(out, "ip saddr @sg-") {
			t.Fatalf("without --security-group, the VPC's default group (its members may come in):\n%s", out)
		}
		// A subnet that does not exist: the AWS error, nothing created.
		_, stderr, code = h.run("exec", "--data-dir", h.dataDir, "--subnet", "subnet-0123456789abcdef0", "--", "true")
		if code != 125 || !strings.Contains(stderr, "InvalidSubnetID.NotFound") {
			t.Fatalf("an unknown subnet: exit %d: %s", code, stderr)
		}
		if after := h.interfaces(); len(after) != len(before) {
			t.Fatalf("interfaces before %v, after %v", before, after)
		}
	})

	// start runs isthmus exec --subnet -- sleep 60 and waits until its
	// interface exists.
	start := func(t *testing.T) (*exec.Cmd, string) {
		before := len(h.interfaces())
		cmd := exec.Command(h.bin, "exec", "--data-dir", h.dataDir, "--subnet", subnetID, "--", "sleep", "60")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		var id string
		waitFor(t, "the exec interface", func() bool {
			ids := h.interfaces()
			if len(ids) == before+1 {
				for _, x := range ids {
					if x != eniID {
						id = x
					}
				}
				return true
			}
			return false
		})
		// Wait until the command runs (the interface exists before).
		waitFor(t, "the command", func() bool {
			c := children(cmd.Process.Pid)
			if len(c) != 1 {
				return false
			}
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c[0]))
			return strings.TrimSpace(string(comm)) == "sleep"
		})
		return cmd, id
	}
	gone := func(t *testing.T, id string) {
		t.Helper()
		waitFor(t, id+" to be deleted", func() bool {
			_, err := h.ec2.DescribeNetworkInterfaces(h.ctx(), &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{id}})
			return errorCode(err) == "InvalidNetworkInterfaceID.NotFound"
		})
		waitFor(t, "its namespace to go", func() bool { return !netns.Exists(dataplane.ENINamespace(h.prefix, id)) })
	}

	t.Run("command killed", func(t *testing.T) {
		cmd, id := start(t)
		if err := syscall.Kill(childOf(t, cmd.Process.Pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 128+9 {
			t.Fatalf("exit %d, want 137 (killed by SIGKILL)", code)
		}
		gone(t, id)
	})

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			// isthmus exec forwards the signal, the command dies of it,
			// and the interface goes.
			cmd, id := start(t)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) {
				t.Fatalf("exit %d, want %d (the command got the %v)", code, 128+int(sig), sig)
			}
			gone(t, id)
		})
	}

	t.Run("isthmus exec killed", func(t *testing.T) {
		// kill -9 of isthmus exec itself: nobody is left to clean up but
		// the server, which sees the process gone.
		cmd, id := start(t)
		sleeper := childOf(t, cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		defer syscall.Kill(sleeper, syscall.SIGKILL)
		gone(t, id)
	})

	// Deleting everything leaves nothing of the prefix: no interface,
	// namespace, link, nft table, resolv.conf directory or socket.
	if _, err := h.ec2.DeleteNetworkInterface(h.ctx(), &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(eniID)}); err != nil {
		t.Fatal(err)
	}
	groups, err := h.ec2.DescribeSecurityGroups(h.ctx(), &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"exec"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.SecurityGroups {
		if _, err := h.ec2.DeleteSecurityGroup(h.ctx(), &ec2.DeleteSecurityGroupInput{GroupId: g.GroupId}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.ec2.DeleteSubnet(h.ctx(), &ec2.DeleteSubnetInput{SubnetId: aws.String(subnetID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ec2.DeleteVpc(h.ctx(), &ec2.DeleteVpcInput{VpcId: vpcID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every namespace to go", func() bool { return len(h.namespaces()) == 0 })
	etc, _ := filepath.Glob(filepath.Join(dataplane.EtcNetnsDir, h.prefix+"-*"))
	if len(etc) != 0 {
		t.Fatalf("resolv.conf directories left: %v", etc)
	}
	k := dataplane.NewLinuxKernel(nil)
	defer k.Close()
	seen, err := k.Observe(h.prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen.Items) != 0 {
		t.Fatalf("kernel state left:\n%s", seen)
	}
	waitFor(t, "the server's sockets to close", func() bool { return socketCount(t) == baseline })
}
