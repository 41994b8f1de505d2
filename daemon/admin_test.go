package daemon

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/store/bolt"
)

// TestAdminExecWithoutDataplane: without a data plane, what isthmus exec
// asks for is refused with a clear conflict, not a server error.
func TestAdminExecWithoutDataplane(t *testing.T) {
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, DBFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cloud := core.New(st, core.Options{Regions: []core.Region{core.NewRegion("us-east-1", 2)}})
	srv, err := serveAdmin(filepath.Join(dir, AdminSocket), &adminDeps{cloud: cloud, log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := &AdminClient{DataDir: dir}
	var ae *AdminError
	if _, err := c.Interface("eni-0123456789abcdef0"); !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("Interface: %v", err)
	}
	if _, err := c.CreateExecInterface(ExecRequest{SubnetID: "subnet-0123456789abcdef0"}); !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("CreateExecInterface: %v", err)
	}
	if err := c.DeleteExecInterface("eni-0123456789abcdef0"); !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("DeleteExecInterface: %v", err)
	}
}
