package dataplane

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/store"
	"github.com/isthmusnet/isthmus/store/bolt"
)

var owner = core.Caller{Account: "111111111111", Region: "us-east-1"}

func newCloud(t testing.TB) *core.Cloud {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "isthmus.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return core.New(st, core.Options{Regions: []core.Region{core.NewRegion("us-east-1", 2)}})
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// start runs a reconciler over src and k until the test ends.
func start(t testing.TB, src Source, k Kernel, opts Options) *Reconciler {
	t.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = time.Millisecond
	}
	r, err := New(src, k, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background()) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// settle waits until r has applied everything the store holds.
func settle(t testing.TB, r *Reconciler, c *core.Cloud) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitApplied(ctx, c.Store().Rev()); err != nil {
		t.Fatal(err)
	}
}

func planOf(t testing.TB, c *core.Cloud, prefix string) *HostConfig {
	t.Helper()
	top, _, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	return Plan(top, PlanOptions{Prefix: prefix})
}

func TestReconcilerFollowsTheStore(t *testing.T) {
	c := newCloud(t)
	fk := NewFakeKernel()
	r := start(t, c, fk, Options{})
	vpc := must[*core.Vpc](t)(c.CreateVpc(owner, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"}))
	sub := must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: vpc.ID, CidrBlock: "10.0.1.0/24"}))
	a := must[*core.NetworkInterface](t)(c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: sub.ID, PrivateIP: "10.0.1.10"}))
	settle(t, r, c)
	if got, want := fk.State(), planOf(t, c, DefaultPrefix).String(); got != want {
		t.Fatalf("kernel:\n%s\nplan:\n%s", got, want)
	}
	if !strings.Contains(fk.State(), "addr add 10.0.1.10/24 dev eth0") {
		t.Fatalf("the interface's address is missing:\n%s", fk.State())
	}
	for _, id := range []string{vpc.ID, sub.ID, a.ID, vpc.MainRouteTableID} {
		if st, ok := r.Status(id); !ok || st.State != StateReady {
			t.Errorf("status of %s: %+v %v", id, st, ok)
		}
	}

	// One more interface: only its operations.
	fk.Log()
	b := must[*core.NetworkInterface](t)(c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: sub.ID}))
	settle(t, r, c)
	// (And, since both are in the VPC's default group, which allows
	// inbound traffic from its members, b's address joins that group's
	// set in a's namespace: one element, nothing else.)
	joined := "+ " + NftElem{NS: ENINamespace(DefaultPrefix, a.ID), Set: vpc.DefaultGroupID, Addr: netip.MustParseAddr(b.PrivateIP)}.String()
	var sawJoin bool
	for _, l := range fk.Log() {
		if l == joined {
			sawJoin = true
		} else if !strings.Contains(l, ENINamespace(DefaultPrefix, b.ID)) {
			t.Errorf("adding %s did %q", b.ID, l)
		}
	}
	if !sawJoin {
		t.Errorf("adding %s did not add it to the default group's set in %s's namespace", b.ID, a.ID)
	}
	if got, want := fk.State(), planOf(t, c, DefaultPrefix).String(); got != want {
		t.Fatalf("kernel:\n%s\nplan:\n%s", got, want)
	}

	// Deleting interfaces, subnet and VPC leaves nothing.
	for _, id := range []string{a.ID, b.ID} {
		if err := c.DeleteNetworkInterface(owner, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteSubnet(owner, sub.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteVpc(owner, vpc.ID); err != nil {
		t.Fatal(err)
	}
	settle(t, r, c)
	if s := fk.State(); s != "" {
		t.Fatalf("after deleting everything the kernel holds:\n%s", s)
	}
	if st := r.Statuses(); len(st) != 0 {
		t.Fatalf("statuses of deleted objects remain: %v", st)
	}
}

func TestReconcilerRestartTouchesNothing(t *testing.T) {
	c := newCloud(t)
	fk := NewFakeKernel()
	vpc := must[*core.Vpc](t)(c.CreateVpc(owner, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"}))
	sub := must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: vpc.ID, CidrBlock: "10.0.1.0/24"}))
	for i := 0; i < 3; i++ {
		must[*core.NetworkInterface](t)(c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: sub.ID}))
	}
	first, err := New(c, fk, nil, Options{Debounce: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go first.Run(context.Background())
	settle(t, first, c)
	first.Close()
	before := fk.State()
	fk.Log()

	second := start(t, c, fk, Options{})
	settle(t, second, c)
	if ops := fk.Log(); len(ops) != 0 {
		t.Fatalf("a restarted reconciler changed the kernel: %q", ops)
	}
	if fk.State() != before || second.Stats().Ops != 0 {
		t.Fatalf("state changed across the restart (%d ops)", second.Stats().Ops)
	}
}

func TestReconcilerPrunesOnStart(t *testing.T) {
	c := newCloud(t)
	vpc := must[*core.Vpc](t)(c.CreateVpc(owner, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"}))
	fk := NewFakeKernel()
	// Left over from an earlier run: an interface deleted while the daemon
	// was down, a stray bridge in a live VPC. And someone else's namespace.
	applyAll(t, NewApplier(fk, DefaultPrefix), Plan(planCases()["one-interface"], PlanOptions{}))
	mine := Plan(&core.Topology{Vpcs: []*core.Vpc{vpc}}, PlanOptions{})
	applyAll(t, NewApplier(fk, DefaultPrefix), mine)
	fk.Set(Link{NS: VpcNamespace(DefaultPrefix, vpc.ID), Name: "br-deadbeef", Kind: KindBridge, Up: true})
	applyAll(t, NewApplier(fk, "other"), Plan(planCases()["one-interface"], PlanOptions{Prefix: "other"}))
	others := Plan(planCases()["one-interface"], PlanOptions{Prefix: "other"}).String()

	r := start(t, c, fk, Options{})
	settle(t, r, c)
	if got, want := fk.State(), others+planOf(t, c, DefaultPrefix).String(); sortedLines(got) != sortedLines(want) {
		t.Fatalf("after start the kernel holds:\n%s\nwant:\n%s", got, want)
	}
}

func sortedLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && lines[j] < lines[j-1]; j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
	return strings.Join(lines, "\n")
}

func TestReconcilerRetriesAFailingObject(t *testing.T) {
	c := newCloud(t)
	vpc := must[*core.Vpc](t)(c.CreateVpc(owner, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"}))
	sub := must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: vpc.ID, CidrBlock: "10.0.1.0/24"}))
	bad := must[*core.NetworkInterface](t)(c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: sub.ID}))
	good := must[*core.NetworkInterface](t)(c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: sub.ID}))

	fk := NewFakeKernel()
	var mu sync.Mutex
	failures := 0
	fk.Fail = func(op Op) error {
		mu.Lock()
		defer mu.Unlock()
		if v, ok := op.Item.(Veth); ok && v.NS == ENINamespace(DefaultPrefix, bad.ID) && failures < 3 {
			failures++
			return errors.New("injected: no buffer space available")
		}
		return nil
	}
	r := start(t, c, fk, Options{RetryMin: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	settle(t, r, c)
	st, _ := r.Status(bad.ID)
	if st.State != StateFailed || !strings.Contains(st.Error, "no buffer space") || st.Failures != 1 {
		t.Fatalf("status of the failing interface: %+v", st)
	}
	if st, _ := r.Status(good.ID); st.State != StateReady {
		t.Fatalf("the healthy interface is %+v", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if st, _ := r.Status(bad.ID); st.State == StateReady {
			break
		}
		if time.Now().After(deadline) {
			st, _ := r.Status(bad.ID)
			t.Fatalf("never recovered: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, want := fk.State(), planOf(t, c, DefaultPrefix).String(); got != want {
		t.Fatalf("kernel:\n%s\nplan:\n%s", got, want)
	}
	if s := r.Stats(); s.Failed != 3 {
		t.Fatalf("Stats.Failed = %d, want 3", s.Failed)
	}
}

func TestReconcilerRepairsDrift(t *testing.T) {
	c := newCloud(t)
	vpc := must[*core.Vpc](t)(c.CreateVpc(owner, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"}))
	sub := must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: vpc.ID, CidrBlock: "10.0.1.0/24"}))
	eni := must[*core.NetworkInterface](t)(c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: sub.ID}))
	fk := NewFakeKernel()
	r := start(t, c, fk, Options{ResyncInterval: 20 * time.Millisecond})
	settle(t, r, c)
	want := fk.State()
	ns := ENINamespace(DefaultPrefix, eni.ID)
	// An admin deletes the default route and sets lo down.
	seen, _ := fk.Observe(DefaultPrefix)
	for _, it := range seen.Items {
		if rt, ok := it.(Route); ok && rt.NS == ns {
			fk.Delete(rt)
		}
	}
	fk.Set(Link{NS: ns, Name: "lo", Kind: KindLoopback})
	deadline := time.Now().Add(5 * time.Second)
	for fk.State() != want || r.Stats().Drift < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("drift not repaired (stats %+v):\n%s", r.Stats(), fk.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// compactingSource closes the first change feed after one change and then
// answers ErrCompacted once, as a store does to a watcher that fell behind.
type compactingSource struct {
	*core.Cloud
	mu        sync.Mutex
	compacted bool
	watches   int
}

func (s *compactingSource) Watch(ctx context.Context, from int64) (<-chan store.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watches++
	switch s.watches {
	case 1:
		in, err := s.Cloud.Watch(ctx, from)
		if err != nil {
			return nil, err
		}
		out := make(chan store.Change)
		go func() {
			defer close(out)
			select {
			case ch, ok := <-in:
				if ok {
					out <- ch
				}
			case <-ctx.Done():
			}
		}()
		return out, nil
	case 2:
		s.compacted = true
		return nil, store.ErrCompacted
	}
	return s.Cloud.Watch(ctx, from)
}

func TestReconcilerResyncsWhenTheFeedIsCompacted(t *testing.T) {
	c := newCloud(t)
	src := &compactingSource{Cloud: c}
	fk := NewFakeKernel()
	r := start(t, src, fk, Options{})
	settle(t, r, c)
	vpc := must[*core.Vpc](t)(c.CreateVpc(owner, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"}))
	sub := must[*core.Subnet](t)(c.CreateSubnet(owner, core.CreateSubnetInput{VpcID: vpc.ID, CidrBlock: "10.0.1.0/24"}))
	settle(t, r, c)
	must[*core.NetworkInterface](t)(c.CreateNetworkInterface(owner, core.CreateNetworkInterfaceInput{SubnetID: sub.ID}))
	settle(t, r, c)
	if got, want := fk.State(), planOf(t, c, DefaultPrefix).String(); got != want || !strings.Contains(got, "eth0") {
		t.Fatalf("kernel:\n%s\nplan:\n%s", got, want)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if !src.compacted || src.watches < 3 {
		t.Fatalf("the feed was not resubscribed after compaction (%d watches)", src.watches)
	}
}

func TestReconcilerReportsInvalidObjects(t *testing.T) {
	top := planCases()["problems"]
	src := staticSource{top}
	r := start(t, src, NewFakeKernel(), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitApplied(ctx, 1); err != nil {
		t.Fatal(err)
	}
	st, ok := r.Status(subB)
	if !ok || st.State != StateInvalid || !strings.Contains(st.Error, "has no router") {
		t.Fatalf("status of a subnet without VPC: %+v", st)
	}
}

// staticSource is a topology that never changes, at revision 1.
type staticSource struct{ top *core.Topology }

func (s staticSource) Topology() (*core.Topology, int64, error) { return s.top, 1, nil }
func (s staticSource) Watch(ctx context.Context, from int64) (<-chan store.Change, error) {
	ch := make(chan store.Change)
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

func TestNewRefusesBadPrefix(t *testing.T) {
	if _, err := New(staticSource{}, NewFakeKernel(), nil, Options{Prefix: "isth-1"}); err == nil {
		t.Fatal("a prefix with a dash was accepted")
	}
}

// recordingFollower records what the reconciler tells it and fails the
// first fails calls.
type recordingFollower struct {
	mu    sync.Mutex
	fails int
	calls int
	ready map[string]bool
	vpcs  int
}

func (f *recordingFollower) Sync(top *core.Topology, ready func(string) bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.vpcs = len(top.Vpcs)
	f.ready = map[string]bool{}
	for _, v := range top.Vpcs {
		f.ready[v.ID] = ready(v.ID)
	}
	if f.fails > 0 {
		f.fails--
		return errors.New("injected: address not available")
	}
	return nil
}

// TestFollowersSeeEachAppliedTopology: a follower is synced after the
// kernel state is applied (its objects ready), before WaitApplied
// returns, and again after a backoff when it fails.
func TestFollowersSeeEachAppliedTopology(t *testing.T) {
	c := newCloud(t)
	f := &recordingFollower{fails: 2}
	r := start(t, c, NewFakeKernel(), Options{Followers: []Follower{f}, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	vpc := must[*core.Vpc](t)(c.CreateVpc(owner, core.CreateVpcInput{CidrBlock: "10.0.0.0/16"}))
	settle(t, r, c)
	f.mu.Lock()
	if f.vpcs != 1 || !f.ready[vpc.ID] {
		t.Errorf("after WaitApplied the follower saw %d VPCs, ready %v", f.vpcs, f.ready)
	}
	f.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		calls, fails := f.calls, f.fails
		f.mu.Unlock()
		if fails == 0 && calls >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a failing follower was not retried: %d calls, %d failures left", calls, fails)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.DeleteVpc(owner, vpc.ID); err != nil {
		t.Fatal(err)
	}
	settle(t, r, c)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vpcs != 0 {
		t.Errorf("after deleting the VPC the follower saw %d VPCs", f.vpcs)
	}
}
