package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/testenv"
)

// TestMetricsEndpoint: with the Linux data plane the API port serves
// Prometheus metrics at /metrics (package metrics over the kernel's
// counters); without a data plane it does not.
func TestMetricsEndpoint(t *testing.T) {
	testenv.RequireRoot(t)
	if err := dataplane.CheckPrivileges(); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	rand.Read(b[:])
	prefix := "m" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		k := dataplane.NewLinuxKernel(nil)
		defer k.Close()
		if err := dataplane.Teardown(k, prefix); err != nil {
			t.Error(err)
		}
	})
	for _, dp := range []string{"linux", "none"} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		ready := make(chan string, 1)
		go func() {
			done <- Run(ctx, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Regions: []string{"us-east-1"},
				Auth: api.AuthOpen, DefaultAccount: "111111111111", Dataplane: dp, DataplanePrefix: prefix,
				Out: io.Discard, Ready: func(addr string) { ready <- addr }})
		}()
		var addr string
		select {
		case addr = <-ready:
		case err := <-done:
			cancel()
			t.Fatalf("%s: the daemon stopped: %v", dp, err)
		case <-time.After(30 * time.Second):
			cancel()
			t.Fatalf("%s: the daemon did not start", dp)
		}
		resp, err := http.Get("http://" + addr + MetricsPath)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: the daemon: %v", dp, err)
		}
		served := resp.StatusCode == 200 && strings.Contains(string(body), "isthmus_privatelink_scrape_success 1")
		if served != (dp == "linux") {
			t.Errorf("%s: GET %s: %d\n%s", dp, MetricsPath, resp.StatusCode, body)
		}
	}
}
