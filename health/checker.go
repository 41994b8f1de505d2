package health

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// DefaultJitter is how far, as a fraction of the interval, each check
// moves from its rhythm by default, so that targets registered together
// drift apart.
const DefaultJitter = 0.05

// ErrClosed is returned by Set after Close.
var ErrClosed = errors.New("health: checker closed")

// Options configure a Checker.
type Options struct {
	Clock Clock // nil: RealClock
	// Jitter moves each check by up to ±Jitter of the interval. Zero
	// means DefaultJitter; a negative value means none.
	Jitter float64
	// Rand returns numbers uniform in [0, 1), for the jitter and for the
	// first check of a new target, which comes at a random point of its
	// first interval. nil: math/rand/v2.
	Rand   func() float64
	Logger *slog.Logger // nil discards
}

// Spec is what a Checker needs to check one target.
type Spec struct {
	Config Config
	Prober Prober
	// Initial is the status to resume from when the Checker starts
	// checking the target (the status the store holds after a restart);
	// the zero Status means just registered. See Resume. It is ignored
	// when Set updates a target already checked.
	Initial Status
}

// Change is a change of one target's status.
type Change[K comparable] struct {
	Key      K
	From, To Status
	At       time.Time
	// Result is the check that caused the change; the zero Result when
	// the change is the start of the first check (Elb.InitialHealthChecking).
	Result Result
}

// Checker checks many targets, each on its own goroutine and schedule, and
// reports every change of their status to a callback. Its methods are safe
// for concurrent use.
type Checker[K comparable] struct {
	clock    Clock
	jitter   float64
	rand     func() float64
	log      *slog.Logger
	onChange func(Change[K])

	mu      sync.Mutex
	closed  bool
	targets map[K]*target[K]
}

// NewChecker returns a Checker that calls onChange for every change of a
// target's status. onChange runs on the target's goroutine: calls for one
// target come in order, calls for different targets concurrently. While
// it runs, that target's checks wait. It must not call Remove or Close.
func NewChecker[K comparable](opts Options, onChange func(Change[K])) *Checker[K] {
	c := &Checker[K]{
		clock: opts.Clock, jitter: opts.Jitter, rand: opts.Rand, log: opts.Logger,
		onChange: onChange, targets: map[K]*target[K]{},
	}
	if c.clock == nil {
		c.clock = RealClock{}
	}
	switch {
	case c.jitter == 0:
		c.jitter = DefaultJitter
	case c.jitter < 0:
		c.jitter = 0
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.onChange == nil {
		c.onChange = func(Change[K]) {}
	}
	return c
}

// Set starts checking key, or updates how it is checked: a new Config
// keeps the target's status and counts (see Machine.SetConfig), a new
// Prober applies from the next check. Calling it again with the same Spec
// changes nothing.
func (c *Checker[K]) Set(key K, spec Spec) error {
	if spec.Prober == nil {
		return errors.New("health: Spec.Prober is nil")
	}
	if err := spec.Config.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if t, ok := c.targets[key]; ok {
		t.mu.Lock()
		t.spec = spec
		changed := t.m.Config() != spec.Config
		if changed {
			t.m.SetConfig(spec.Config)
		}
		t.mu.Unlock()
		if changed {
			select {
			case t.wake <- struct{}{}:
			default:
			}
		}
		return nil
	}
	first := time.Duration(c.rand() * float64(spec.Config.Interval))
	ctx, cancel := context.WithCancel(context.Background())
	t := &target[K]{
		key: key, c: c, spec: spec,
		m:    Resume(spec.Config, spec.Initial, c.clock.Now(), first),
		wake: make(chan struct{}, 1),
		ctx:  ctx, cancel: cancel, done: make(chan struct{}),
	}
	c.targets[key] = t
	go t.run()
	return nil
}

// Remove stops checking key. It returns once the target's goroutine has
// ended, so no Change for key comes after it; a check in flight is
// abandoned. It reports whether key was being checked.
func (c *Checker[K]) Remove(key K) bool {
	c.mu.Lock()
	t, ok := c.targets[key]
	delete(c.targets, key)
	c.mu.Unlock()
	if ok {
		t.cancel()
		<-t.done
	}
	return ok
}

// Status returns key's status, and whether key is being checked.
func (c *Checker[K]) Status(key K) (Status, bool) {
	c.mu.Lock()
	t, ok := c.targets[key]
	c.mu.Unlock()
	if !ok {
		return Status{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m.Status(), true
}

// Len returns the number of targets being checked.
func (c *Checker[K]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.targets)
}

// Close stops every check and waits for all of the Checker's goroutines.
// Set fails afterwards. It is idempotent.
func (c *Checker[K]) Close() error {
	c.mu.Lock()
	c.closed = true
	ts := c.targets
	c.targets = map[K]*target[K]{}
	c.mu.Unlock()
	for _, t := range ts {
		t.cancel()
	}
	for _, t := range ts {
		<-t.done
	}
	return nil
}

// target is one checked target.
type target[K comparable] struct {
	key  K
	c    *Checker[K]
	wake chan struct{} // the config changed: reschedule

	mu   sync.Mutex
	m    *Machine
	spec Spec

	ctx    context.Context // cancelled by Remove and Close
	cancel context.CancelFunc
	done   chan struct{}
}

func (t *target[K]) run() {
	defer close(t.done)
	clock := t.c.clock
	for {
		t.mu.Lock()
		next, _ := t.m.Next()
		t.mu.Unlock()
		timer := clock.NewTimer(next.Sub(clock.Now()))
		select {
		case <-t.ctx.Done():
			timer.Stop()
			return
		case <-t.wake:
			timer.Stop()
			continue
		case <-timer.C():
		}
		t.check()
		if t.ctx.Err() != nil {
			return
		}
	}
}

// check runs one health check and reports what it changed.
func (t *target[K]) check() {
	clock := t.c.clock
	now := clock.Now()
	t.mu.Lock()
	cfg := t.m.Config()
	from := t.m.Status()
	jitter := time.Duration((2*t.c.rand() - 1) * t.c.jitter * float64(cfg.Interval))
	changed := t.m.Start(now, jitter)
	to := t.m.Status()
	prober := t.spec.Prober
	t.mu.Unlock()
	if changed {
		t.c.onChange(Change[K]{Key: t.key, From: from, To: to, At: now})
	}

	ctx, cancel := context.WithTimeout(t.ctx, cfg.Timeout)
	r := prober.Probe(ctx)
	cancel()
	if t.ctx.Err() != nil {
		return // removed: the result no longer matters
	}
	now = clock.Now()
	t.mu.Lock()
	from = t.m.Status()
	changed = t.m.Finish(now, r)
	to = t.m.Status()
	t.mu.Unlock()
	if r.Outcome != Pass {
		t.c.log.Debug("health check failed", "target", t.key, "result", r.String())
	}
	if changed {
		t.c.onChange(Change[K]{Key: t.key, From: from, To: to, At: now, Result: r})
	}
}
