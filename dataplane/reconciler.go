package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/store"
)

// Source is what the Reconciler follows: a topology snapshot with its store
// revision, and the store's change feed. *core.Cloud is one.
type Source interface {
	Topology() (*core.Topology, int64, error)
	Watch(ctx context.Context, from int64) (<-chan store.Change, error)
}

// A TransitAllocator allocates PrivateLink's transit links when a topology
// says they are due (core.Topology.TransitsPending); *core.Cloud is one. A
// Source that is one has it called before planning such a topology, and
// the pass then plans the topology read afterwards.
type TransitAllocator interface {
	SyncTransits() (changed bool, err error)
}

// Options tune a Reconciler. Zero values mean the defaults.
type Options struct {
	// Prefix starts every namespace the reconciler owns (DefaultPrefix).
	// On start it removes every namespace of "<Prefix>-" that the plan
	// does not want.
	Prefix string
	// Debounce is how long the reconciler waits after a change for more
	// (20ms); MaxDelay bounds the wait while changes keep coming (250ms).
	Debounce time.Duration
	MaxDelay time.Duration
	// ResyncInterval is how often the reconciler re-reads the kernel and
	// repairs drift (5m); negative disables it.
	ResyncInterval time.Duration
	// RetryMin and RetryMax bound the backoff of an object whose
	// operations failed (250ms doubling up to 1m).
	RetryMin time.Duration
	RetryMax time.Duration
	// Followers are brought up to date after every pass (the DNS
	// servers): see Follower.
	Followers []Follower
	// FastPath plans the fast path's programs (fast.go); the kernel must
	// have them loaded (LinuxKernel.EnableFastPath).
	FastPath bool
}

// A Follower keeps something that is not kernel state — sockets, servers
// — in step with the topology the reconciler applies. After every pass
// the reconciler calls Sync with the topology just applied and whether an
// object's kernel state is ready; Sync must be idempotent and should
// return quickly. If it fails, the reconciler calls it again after a
// backoff (with the topology of that time), and WaitApplied covers it: a
// revision counts as applied once the followers were synced with it.
type Follower interface {
	Sync(top *core.Topology, ready func(id string) bool) error
}

func (o *Options) defaults() {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Debounce == 0 {
		o.Debounce = 20 * time.Millisecond
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 250 * time.Millisecond
	}
	if o.ResyncInterval == 0 {
		o.ResyncInterval = 5 * time.Minute
	}
	if o.RetryMin == 0 {
		o.RetryMin = 250 * time.Millisecond
	}
	if o.RetryMax == 0 {
		o.RetryMax = time.Minute
	}
}

// Object states in ObjectStatus.
const (
	StateReady   = "ready"   // its kernel state is applied
	StateFailed  = "failed"  // an operation failed; it is retried with backoff
	StateInvalid = "invalid" // Plan cannot realise it (see Error); retried when it changes
)

// ObjectStatus is the data plane's view of one API object (a VPC, subnet,
// route table or network interface).
type ObjectStatus struct {
	State     string
	Error     string    // why, when not ready
	Failures  int       // consecutive failed attempts
	NextRetry time.Time // when failed

	wanted bool // whether the plan wanted the object when it failed
}

// Stats count what a Reconciler did since it started.
type Stats struct {
	Passes  int64 // reconcile passes
	Ops     int64 // kernel operations
	Failed  int64 // failed kernel operations
	Resyncs int64 // periodic kernel re-reads
	Drift   int64 // items found changed behind the reconciler's back
	Rev     int64 // store revision of the state last applied (-1 before the first pass)
}

// Reconciler keeps the kernel equal to Plan(topology): level-based, it
// reads the whole topology after every burst of changes, diffs the plan
// against what the kernel holds, and applies only the difference.
//
// On start it reads what the kernel holds of its prefix, so that a
// restarted daemon (cleanly or after kill -9) changes nothing that is
// already right (established connections keep flowing) and removes what
// the plan no longer wants. It then follows the store's change feed,
// resyncing from a fresh snapshot when the feed is compacted. An object
// whose operations fail is retried with exponential backoff without
// holding up the others; ObjectStatus says why. Every ResyncInterval it
// re-reads the kernel, counts drift and repairs it.
type Reconciler struct {
	src  Source
	k    Kernel
	log  *slog.Logger
	opts Options
	app  *Applier

	mu               sync.Mutex
	status           map[string]ObjectStatus
	stats            Stats
	appliedCh        chan struct{} // closed (and replaced) whenever stats.Rev advances
	followerFailures int
	cancel           context.CancelFunc
	started          bool
	closed           bool
	done             chan struct{}
}

// New returns a Reconciler that makes k follow src. Run starts it.
func New(src Source, k Kernel, log *slog.Logger, opts Options) (*Reconciler, error) {
	opts.defaults()
	if err := CheckPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{
		src: src, k: k, log: log, opts: opts,
		app:       NewApplier(k, opts.Prefix),
		status:    map[string]ObjectStatus{},
		stats:     Stats{Rev: -1},
		appliedCh: make(chan struct{}),
		done:      make(chan struct{}),
	}, nil
}

// ErrClosed is returned by Run and WaitApplied once Close was called.
var ErrClosed = errors.New("dataplane: reconciler closed")

// Run reconciles until ctx is done or Close is called (then it returns
// nil), or the source fails for good (store closed). It may be called once.
func (r *Reconciler) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started || r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)
	r.mu.Unlock()
	defer close(r.done)

	// What the kernel holds of our prefix: the starting point, so that a
	// restart touches only what differs.
	for attempt := 0; ; attempt++ {
		drift, err := r.app.Observe()
		if err == nil {
			r.log.Info("dataplane: starting", "prefix", r.opts.Prefix, "items", drift)
			break
		}
		d := r.backoff(attempt + 1)
		r.log.Error("dataplane: cannot read the kernel state; retrying", "error", err, "retry_in", d)
		if !sleep(ctx, d) {
			return nil
		}
	}

	var (
		feed      <-chan store.Change
		lastRev   int64 // newest revision seen on the feed or in a snapshot
		resub     = true
		dirty     = true
		firstSeen = time.Now()
		debounce  = time.NewTimer(0)
		retry     = time.NewTimer(time.Hour)
		resyncC   <-chan time.Time
	)
	retry.Stop()
	defer debounce.Stop()
	defer retry.Stop()
	if r.opts.ResyncInterval > 0 {
		t := time.NewTicker(r.opts.ResyncInterval)
		defer t.Stop()
		resyncC = t.C
	}
	schedule := func() {
		now := time.Now()
		if !dirty {
			dirty, firstSeen = true, now
		}
		d := r.opts.Debounce
		if limit := firstSeen.Add(r.opts.MaxDelay).Sub(now); d > limit {
			d = max(limit, 0)
		}
		debounce.Reset(d)
	}
	pass := func() {
		rev, next, err := r.pass()
		if err != nil {
			d := r.backoff(1)
			r.log.Error("dataplane: cannot read the topology; retrying", "error", err, "retry_in", d)
			retry.Reset(d)
			return
		}
		dirty = false
		lastRev = max(lastRev, rev)
		if resub {
			// (Re)subscribe from the snapshot just applied.
			ch, err := r.src.Watch(ctx, rev)
			if err != nil {
				if ctx.Err() == nil {
					r.log.Error("dataplane: cannot follow the store; retrying", "error", err)
					retry.Reset(r.backoff(1))
				}
				return
			}
			feed, resub = ch, false
		}
		if !next.IsZero() {
			retry.Reset(max(time.Until(next), time.Millisecond))
		}
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case ch, ok := <-feed:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				c, err := r.src.Watch(ctx, lastRev)
				switch {
				case errors.Is(err, store.ErrCompacted):
					r.log.Warn("dataplane: change feed compacted; resyncing from a snapshot", "rev", lastRev)
					feed, resub = nil, true
					schedule()
				case errors.Is(err, store.ErrClosed):
					return err
				case err != nil:
					r.log.Error("dataplane: cannot follow the store; retrying", "error", err)
					feed, resub = nil, true
					schedule()
				default:
					feed = c
				}
				continue
			}
			if ch.Rev <= lastRev {
				continue // already in the snapshot applied
			}
			lastRev = ch.Rev
			if relevant(ch) {
				schedule()
			} else if !dirty {
				r.advance(ch.Rev) // nothing the data plane shows changed
			}
		case <-debounce.C:
			pass()
		case <-retry.C:
			pass()
		case <-resyncC:
			drift, err := r.app.Observe()
			if err != nil {
				r.log.Error("dataplane: cannot read the kernel state", "error", err)
				continue
			}
			r.mu.Lock()
			r.stats.Resyncs++
			r.stats.Drift += int64(drift)
			r.mu.Unlock()
			if drift > 0 {
				r.log.Warn("dataplane: kernel state drifted; repairing", "items", drift)
			}
			pass()
		}
	}
}

func relevant(ch store.Change) bool {
	for _, ev := range ch.Events {
		if core.IsTopologyKey(ev.Key) {
			return true
		}
	}
	return false
}

// pass reads the topology, applies its plan and updates the statuses. It
// returns the snapshot's revision and when the next retry is due (zero if
// none is).
func (r *Reconciler) pass() (rev int64, nextRetry time.Time, err error) {
	top, rev, err := r.src.Topology()
	if err != nil {
		return 0, time.Time{}, err
	}
	if alloc, ok := r.src.(TransitAllocator); ok && top.TransitsPending {
		// Endpoints became available (or went): number their links first.
		changed, err := alloc.SyncTransits()
		if err != nil {
			r.log.Error("dataplane: cannot allocate transit links; planning without them", "error", err)
		} else if changed {
			if top, rev, err = r.src.Topology(); err != nil {
				return 0, time.Time{}, err
			}
		}
	}
	want := Plan(top, PlanOptions{Prefix: r.opts.Prefix, FastPath: r.opts.FastPath})
	now := time.Now()
	defer func() {
		// Followers see the topology once its kernel state is applied,
		// before the revision counts as applied.
		if f := r.syncFollowers(top); !f.IsZero() && (nextRetry.IsZero() || f.Before(nextRetry)) {
			nextRetry = f
		}
		r.advance(rev)
	}()

	wanted := map[string]bool{}
	for _, o := range want.Owners {
		wanted[o] = true
	}
	// A failed object waits for its retry, unless what is wanted of it
	// changed in kind (it was deleted, or came back).
	r.mu.Lock()
	held := map[string]bool{}
	for id, st := range r.status {
		if st.State == StateFailed && now.Before(st.NextRetry) && st.wanted == wanted[id] {
			held[id] = true
		}
	}
	r.mu.Unlock()

	res := r.app.Apply(want, func(owner string) bool { return held[owner] })

	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Passes++
	r.stats.Ops += int64(res.Ops)
	r.stats.Failed += int64(len(res.Failed))
	for id, err := range res.Failed {
		st := r.status[id]
		st.State, st.Error, st.wanted = StateFailed, err.Error(), wanted[id]
		st.Failures++
		d := r.backoff(st.Failures)
		st.NextRetry = now.Add(d)
		r.status[id] = st
		r.log.Warn("dataplane: applying an object failed; will retry", "object", id, "error", err, "attempt", st.Failures, "retry_in", d)
	}
	for id := range wanted {
		if res.Pending[id] > 0 {
			continue
		}
		if st, ok := r.status[id]; ok && st.State == StateFailed {
			r.log.Info("dataplane: object applied after failures", "object", id, "attempts", st.Failures+1)
		}
		r.status[id] = ObjectStatus{State: StateReady}
	}
	for id, p := range want.Problems {
		r.status[id] = ObjectStatus{State: StateInvalid, Error: p}
	}
	for id := range r.status {
		if !wanted[id] && want.Problems[id] == "" && res.Pending[id] == 0 {
			delete(r.status, id) // gone, and its kernel state with it
		}
	}
	for _, st := range r.status {
		if st.State == StateFailed && (nextRetry.IsZero() || st.NextRetry.Before(nextRetry)) {
			nextRetry = st.NextRetry
		}
	}
	if res.Ops > 0 || len(res.Failed) > 0 {
		r.log.Debug("dataplane: applied", "rev", rev, "ops", res.Ops, "failed", len(res.Failed))
	}
	return rev, nextRetry, nil
}

// syncFollowers brings the followers to top and returns when to retry
// (zero if they all succeeded).
func (r *Reconciler) syncFollowers(top *core.Topology) time.Time {
	if len(r.opts.Followers) == 0 {
		return time.Time{}
	}
	ready := func(id string) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		st, ok := r.status[id]
		return ok && st.State == StateReady
	}
	var errs []error
	for _, f := range r.opts.Followers {
		if err := f.Sync(top, ready); err != nil {
			errs = append(errs, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(errs) == 0 {
		r.followerFailures = 0
		return time.Time{}
	}
	r.followerFailures++
	d := r.backoff(r.followerFailures)
	r.log.Warn("dataplane: syncing a follower failed; will retry", "error", errors.Join(errs...), "attempt", r.followerFailures, "retry_in", d)
	return time.Now().Add(d)
}

// backoff is the wait before attempt n+1 after n consecutive failures.
func (r *Reconciler) backoff(failures int) time.Duration {
	d := r.opts.RetryMin
	for i := 1; i < failures && d < r.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, r.opts.RetryMax)
}

func (r *Reconciler) advance(rev int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advanceLocked(rev)
}

func (r *Reconciler) advanceLocked(rev int64) {
	if rev > r.stats.Rev {
		r.stats.Rev = rev
	}
	close(r.appliedCh)
	r.appliedCh = make(chan struct{})
}

// WaitApplied waits until the reconciler has applied (or tried to apply:
// see Status) the topology as of store revision rev or later.
func (r *Reconciler) WaitApplied(ctx context.Context, rev int64) error {
	for {
		r.mu.Lock()
		applied, ch := r.stats.Rev, r.appliedCh
		r.mu.Unlock()
		if applied >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("dataplane: waiting for revision %d (applied %d): %w", rev, applied, ctx.Err())
		case <-r.done:
			return ErrClosed
		}
	}
}

// Status returns the status of one object; ok is false for an object the
// data plane has nothing of (unknown, or deleted and cleaned up).
func (r *Reconciler) Status(id string) (ObjectStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.status[id]
	return st, ok
}

// Statuses returns the status of every object.
func (r *Reconciler) Statuses() map[string]ObjectStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]ObjectStatus, len(r.status))
	for id, st := range r.status {
		out[id] = st
	}
	return out
}

// Stats returns the counters.
func (r *Reconciler) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Close stops Run and waits for it to return. It leaves the kernel state
// as it is (a restarted reconciler takes over without disturbing traffic)
// and does not close the Kernel.
func (r *Reconciler) Close() error {
	r.mu.Lock()
	r.closed = true
	cancel, started := r.cancel, r.started
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if started {
		<-r.done
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
