package core

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/store/bolt"
)

func TestTopologySnapshotsAllAccountsAndRegions(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "top.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := New(st, Options{Regions: []Region{NewRegion("us-east-1", 2), NewRegion("eu-west-1", 2)}})

	a := Caller{Account: "111111111111", Region: "us-east-1"}
	b := Caller{Account: "222222222222", Region: "eu-west-1"}
	va, err := c.CreateVpc(a, CreateVpcInput{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	vb, err := c.CreateVpc(b, CreateVpcInput{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := c.CreateSubnet(a, CreateSubnetInput{VpcID: va.ID, CidrBlock: "10.0.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := c.CreateSubnet(b, CreateSubnetInput{VpcID: vb.ID, CidrBlock: "10.0.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	ea, err := c.CreateNetworkInterface(a, CreateNetworkInterfaceInput{SubnetID: sa.ID, PrivateIP: "10.0.1.10"})
	if err != nil {
		t.Fatal(err)
	}
	eb, err := c.CreateNetworkInterface(b, CreateNetworkInterfaceInput{SubnetID: sb.ID, PrivateIP: "10.0.1.10"})
	if err != nil {
		t.Fatal(err)
	}

	top, rev, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	if rev != st.Rev() || rev == 0 {
		t.Fatalf("rev %d, store at %d", rev, st.Rev())
	}
	topoWantIDs(t, "vpcs", topoIDs(top.Vpcs), va.ID, vb.ID)
	topoWantIDs(t, "subnets", topoIDs(top.Subnets), sa.ID, sb.ID)
	topoWantIDs(t, "interfaces", topoIDs(top.NetworkInterfaces), ea.ID, eb.ID)
	topoWantIDs(t, "route tables", topoIDs(top.RouteTables), va.MainRouteTableID, vb.MainRouteTableID)
	topoWantIDs(t, "security groups", topoIDs(top.SecurityGroups), va.DefaultGroupID, vb.DefaultGroupID)
	for _, n := range top.NetworkInterfaces {
		if n.PrivateIP != "10.0.1.10" || n.VpcID == "" {
			t.Errorf("interface %s: ip %q vpc %q", n.ID, n.PrivateIP, n.VpcID)
		}
	}
	for _, v := range top.Vpcs {
		if v.Region == "" || v.Owner == "" || v.CidrBlock != "10.0.0.0/16" {
			t.Errorf("vpc %+v", v)
		}
	}

	// The snapshot's revision is where the change feed continues.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := c.Watch(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNetworkInterface(a, ea.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case ch := <-ch:
		if ch.Rev != rev+1 {
			t.Fatalf("first change after the snapshot is rev %d, want %d", ch.Rev, rev+1)
		}
		var relevant bool
		for _, ev := range ch.Events {
			relevant = relevant || IsTopologyKey(ev.Key)
		}
		if !relevant {
			t.Fatalf("deleting an interface changed no topology key: %+v", ch.Events)
		}
	case <-ctx.Done():
		t.Fatal("no change delivered")
	}
	top, _, err = c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	topoWantIDs(t, "interfaces after delete", topoIDs(top.NetworkInterfaces), eb.ID)
}

func TestIsTopologyKey(t *testing.T) {
	for key, want := range map[string]bool{
		"r/us-east-1/vpc/vpc-0123":          true,
		"r/us-east-1/subnet/subnet-1":       true,
		"r/eu-west-1/eni/eni-1":             true,
		"r/us-east-1/rtb/rtb-1":             true,
		"r/us-east-1/sg/sg-1":               true,
		"r/us-east-1/acl/acl-1":             false,
		"r/us-east-1/ip/subnet-1/10.0.1.10": false,
		"accounts/111111111111":             false,
		"keys/AKIA":                         false,
		"r/us-east-1":                       false,
		"vpc/vpc-1":                         false,
	} {
		if got := IsTopologyKey(key); got != want {
			t.Errorf("IsTopologyKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func topoIDs[PT Object](objs []PT) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.meta().ID)
	}
	return out
}

func topoWantIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}
