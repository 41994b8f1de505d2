package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/store"
	"github.com/isthmusnet/isthmus/store/bolt"
)

// TestHelperServe is not a test: TestKill9DuringCreates runs the test
// binary again with ISTHMUS_HELPER_SERVE set, to have a server process it
// can kill.
func TestHelperServe(t *testing.T) {
	dir := os.Getenv("ISTHMUS_HELPER_SERVE")
	if dir == "" {
		t.Skip("helper process")
	}
	auth := os.Getenv("ISTHMUS_HELPER_AUTH")
	if auth == "" {
		auth = api.AuthOpen
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	err := Run(ctx, Config{
		Listen:  os.Getenv("ISTHMUS_HELPER_LISTEN"),
		DataDir: dir,
		Regions: []string{"us-east-1"},
		Auth:    auth,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startServer(t *testing.T, dir string, env ...string) (*exec.Cmd, *ec2.Client) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$")
	cmd.Env = append(append(os.Environ(), "ISTHMUS_HELPER_SERVE="+dir, "ISTHMUS_HELPER_LISTEN="+addr), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	client := ec2.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("111111111111", "x", ""),
		BaseEndpoint: aws.String("http://" + addr),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return cmd, client
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKill9DuringCreates kills the server in the middle of a burst of
// CreateVpc calls (each one transaction writing a VPC, its main route table,
// default security group and network ACL), then checks that the store
// opens, that every VPC whose creation was acknowledged survived, and that
// no VPC is half-written; and that a restarted server serves them.
func TestKill9DuringCreates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	cmd, client := startServer(t, dir)
	ctx := context.Background()

	var mu sync.Mutex
	acked := map[string]bool{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				out, err := client.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[aws.ToString(out.Vpc.VpcId)] = true
				mu.Unlock()
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	stop.Store(true)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no CreateVpc succeeded before the kill")
	}

	st, err := bolt.Open(filepath.Join(dir, DBFile), bolt.Options{})
	if err != nil {
		t.Fatalf("store does not open after kill -9: %v", err)
	}
	cloud := core.New(st, core.Options{Regions: []core.Region{core.NewRegion("us-east-1", 3)}})
	who := core.Caller{Account: "111111111111", Region: "us-east-1"}
	vpcs, _, err := cloud.DescribeVpcs(who, nil, nil, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, v := range vpcs {
		have[v.ID] = true
		// Each VPC is whole: its main route table, default group and ACL
		// were written in the same transaction.
		st.View(func(tx store.Tx) error {
			for _, key := range []string{"r/us-east-1/rtb/" + v.MainRouteTableID, "r/us-east-1/sg/" + v.DefaultGroupID, "r/us-east-1/acl/" + v.DefaultNetworkACL} {
				if _, ok := tx.Get(key); !ok {
					t.Errorf("VPC %s is half-written: %s missing", v.ID, key)
				}
			}
			return nil
		})
	}
	for id := range acked {
		if !have[id] {
			t.Errorf("acknowledged VPC %s was lost", id)
		}
	}
	t.Logf("%d VPCs acknowledged, %d in the store after kill -9", len(acked), len(vpcs))
	st.Close()

	// A restarted server serves the same state.
	_, client = startServer(t, dir)
	out, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Vpcs) != len(vpcs) {
		t.Fatalf("restarted server lists %d VPCs, the store had %d", len(out.Vpcs), len(vpcs))
	}
}

// TestGracefulRestartAndAccounts stops a SigV4 server with SIGTERM, checks
// it exits cleanly and that a restarted one keeps its state, and manages
// accounts through the admin socket while it runs and from the store when
// it does not.
func TestGracefulRestartAndAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	cmd, _ := startServer(t, dir, "ISTHMUS_HELPER_AUTH=sigv4")
	admin := &AdminClient{DataDir: dir}
	info, err := admin.CreateAccount("tenant")
	if err != nil {
		t.Fatal(err)
	}
	if !core.IsAccountID(info.ID) || info.AccessKeyID == "" || info.Secret == "" {
		t.Fatalf("CreateAccount = %+v", info)
	}
	if _, err := admin.CreateAccount("tenant"); err == nil {
		t.Fatal("a second account of the same name was created")
	}
	if _, err := os.Stat(filepath.Join(dir, CredentialsFile)); err != nil {
		t.Fatalf("no admin credentials file: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("server did not exit cleanly on SIGTERM: %v", err)
	}

	// Offline: the admin client opens the store itself.
	infos, err := admin.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, a := range infos {
		names[a.Name] = true
	}
	if !names["admin"] || !names["tenant"] || len(infos) != 2 {
		t.Fatalf("accounts after restart: %+v", infos)
	}

	// Restarted, the tenant's key signs requests.
	addr := freeAddr(t)
	cmd = exec.Command(os.Args[0], "-test.run=^TestHelperServe$")
	cmd.Env = append(os.Environ(), "ISTHMUS_HELPER_SERVE="+dir, "ISTHMUS_HELPER_LISTEN="+addr, "ISTHMUS_HELPER_AUTH=sigv4")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	client := ec2.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(info.AccessKeyID, info.Secret, ""),
		BaseEndpoint: aws.String("http://" + addr),
	})
	var out *ec2.CreateVpcOutput
	for i := 0; i < 200; i++ {
		if out, err = client.CreateVpc(context.Background(), &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")}); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Vpc.OwnerId); got != info.ID {
		t.Fatalf("VPC owner %s, want %s", got, info.ID)
	}
}
