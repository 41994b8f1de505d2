package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// noLeaks fails the test if goroutines started during it still run once
// its cleanups have. Call it first, so that its cleanup runs last.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// script is a Prober whose results the test sets; it counts its calls and
// records the clock's time of each.
type script struct {
	mu     sync.Mutex
	result Result
	calls  []time.Time
	clock  Clock
}

func (s *script) set(r Result) {
	s.mu.Lock()
	s.result = r
	s.mu.Unlock()
}

func (s *script) Probe(context.Context) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, s.clock.Now())
	return s.result
}

func (s *script) at(i int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[i]
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// recorder collects the changes a Checker reports.
type recorder[K comparable] struct {
	ch chan Change[K]
}

func newRecorder[K comparable]() *recorder[K] { return &recorder[K]{ch: make(chan Change[K], 1000)} }

func (r *recorder[K]) on(c Change[K]) { r.ch <- c }

// next returns the next change, failing the test if none comes.
func (r *recorder[K]) next(t *testing.T) Change[K] {
	t.Helper()
	select {
	case c := <-r.ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported")
	}
	panic("unreachable")
}

func (r *recorder[K]) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-r.ch:
		t.Errorf("unexpected change %+v", c)
	default:
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// step advances clock by d once the checker's n targets wait on timers.
func step(t *testing.T, clock *ManualClock, n int, d time.Duration) {
	t.Helper()
	if !clock.WaitTimers(n, 5*time.Second) {
		t.Fatalf("%d timers waiting, want %d", clock.Timers(), n)
	}
	clock.Advance(d)
}

// TestCheckerLifecycle drives one target through initial, healthy and
// unhealthy with a manual clock and checks every reported change.
func TestCheckerLifecycle(t *testing.T) {
	noLeaks(t)
	clock := NewManualClock(t0)
	rec := newRecorder[string]()
	c := NewChecker(Options{Clock: clock, Jitter: -1, Rand: func() float64 { return 0.5 }}, rec.on)
	defer c.Close()
	pr := &script{clock: clock}
	cfg := Config{Interval: 10 * time.Second, Timeout: 5 * time.Second, HealthyThreshold: 3, UnhealthyThreshold: 2}
	if err := c.Set("a", Spec{Config: cfg, Prober: pr}); err != nil {
		t.Fatal(err)
	}
	if st, ok := c.Status("a"); !ok || st != Registered {
		t.Fatalf("status %v, %v", st, ok)
	}

	// The first check comes half an interval in (Rand 0.5).
	step(t, clock, 1, 4*time.Second)
	if pr.count() != 0 {
		t.Fatal("checked too early")
	}
	step(t, clock, 1, time.Second)
	ch := rec.next(t)
	if ch.Key != "a" || ch.From != Registered || ch.To.Reason != ReasonInitialHealthChecking || !ch.At.Equal(t0.Add(5*time.Second)) {
		t.Errorf("first change %+v", ch)
	}
	step(t, clock, 1, 10*time.Second)
	step(t, clock, 1, 10*time.Second)
	ch = rec.next(t)
	if ch.To != (Status{State: Healthy}) || ch.From.State != Initial || !ch.At.Equal(t0.Add(25*time.Second)) || ch.Result.Outcome != Pass {
		t.Errorf("healthy change %+v", ch)
	}
	if pr.count() != 3 {
		t.Errorf("%d checks, want 3", pr.count())
	}

	// A new prober (same config) takes over at the next check.
	pr2 := &script{clock: clock, result: Result{Outcome: Mismatch, Code: 503}}
	if err := c.Set("a", Spec{Config: cfg, Prober: pr2}); err != nil {
		t.Fatal(err)
	}
	step(t, clock, 1, 10*time.Second)
	rec.none(t)
	step(t, clock, 1, 10*time.Second)
	ch = rec.next(t)
	want := Status{Unhealthy, ReasonFailedHealthChecks, "Health checks failed with these codes: [503]"}
	if ch.To != want || ch.Result.Code != 503 || !ch.At.Equal(t0.Add(45*time.Second)) {
		t.Errorf("unhealthy change %+v", ch)
	}
	if pr.count() != 3 || pr2.count() != 2 {
		t.Errorf("checks: old prober %d, new %d", pr.count(), pr2.count())
	}
	if st, _ := c.Status("a"); st != want {
		t.Errorf("Status = %v", st)
	}
}

// TestCheckerConfigChange: a new interval reschedules the next check from
// the last one's start; the same Spec again changes nothing.
func TestCheckerConfigChange(t *testing.T) {
	noLeaks(t)
	clock := NewManualClock(t0)
	c := NewChecker[int](Options{Clock: clock, Jitter: -1, Rand: func() float64 { return 0 }}, nil)
	defer c.Close()
	pr := &script{clock: clock}
	slow := Config{Interval: time.Hour, Timeout: time.Minute, HealthyThreshold: 2, UnhealthyThreshold: 2}
	c.Set(1, Spec{Config: slow, Prober: pr})
	step(t, clock, 1, 0) // the first check is due at once
	if !clock.WaitTimers(1, 5*time.Second) || pr.count() != 1 {
		t.Fatalf("%d checks", pr.count())
	}
	c.Set(1, Spec{Config: slow, Prober: pr}) // nothing changes
	if d := clock.Deadlines(); len(d) != 1 || !d[0].Equal(t0.Add(time.Hour)) {
		t.Fatalf("timers %v after the same Spec again", d)
	}
	fast := slow
	fast.Interval, fast.Timeout = 10*time.Second, 5*time.Second
	c.Set(1, Spec{Config: fast, Prober: pr})
	waitFor(t, "the check to be rescheduled", func() bool {
		d := clock.Deadlines()
		return len(d) == 1 && d[0].Equal(t0.Add(10*time.Second))
	})
	clock.Advance(9 * time.Second)
	clock.Advance(time.Second)
	waitFor(t, "the second check", func() bool {
		d := clock.Deadlines()
		return pr.count() == 2 && len(d) == 1 && d[0].Equal(t0.Add(20*time.Second))
	})
	if at := pr.at(1); !at.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("second check at %v, want +10s", at)
	}
	if st, _ := c.Status(1); st.State != Healthy {
		t.Errorf("status %v", st)
	}
}

// TestCheckerResume: a target resumed as healthy reports nothing until it
// really changes.
func TestCheckerResume(t *testing.T) {
	noLeaks(t)
	clock := NewManualClock(t0)
	rec := newRecorder[string]()
	c := NewChecker(Options{Clock: clock, Jitter: -1, Rand: func() float64 { return 0 }}, rec.on)
	defer c.Close()
	pr := &script{clock: clock}
	cfg := Config{Interval: 10 * time.Second, Timeout: 5 * time.Second, HealthyThreshold: 3, UnhealthyThreshold: 2}
	c.Set("a", Spec{Config: cfg, Prober: pr, Initial: Status{State: Healthy}})
	step(t, clock, 1, 0)
	step(t, clock, 1, 10*time.Second)
	clock.WaitTimers(1, 5*time.Second)
	rec.none(t)
	if st, _ := c.Status("a"); st.State != Healthy || pr.count() != 2 {
		t.Errorf("status %v after %d checks", st, pr.count())
	}
}

// TestCheckerRemoveAndClose: Remove stops one target at once, even with a
// check in flight, and reports nothing after; Close stops the rest.
func TestCheckerRemoveAndClose(t *testing.T) {
	noLeaks(t)
	rec := newRecorder[string]()
	c := NewChecker(Options{Rand: func() float64 { return 0 }}, rec.on)
	cfg := Config{Interval: time.Hour, Timeout: time.Hour, HealthyThreshold: 2, UnhealthyThreshold: 2}
	inFlight := make(chan string, 10)
	hang := proberFunc(func(ctx context.Context) Result {
		inFlight <- "x"
		<-ctx.Done()
		return Result{Outcome: Fail, Err: ctx.Err()}
	})
	for _, k := range []string{"a", "b", "c"} {
		if err := c.Set(k, Spec{Config: cfg, Prober: hang}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		<-inFlight
		rec.next(t) // Elb.InitialHealthChecking
	}
	start := time.Now()
	if !c.Remove("a") || c.Remove("a") {
		t.Error("Remove reported wrongly")
	}
	if _, ok := c.Status("a"); ok || c.Len() != 2 {
		t.Errorf("after Remove: Status ok %v, Len %d", ok, c.Len())
	}
	c.Close()
	c.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Remove and Close took %v with checks in flight", d)
	}
	rec.none(t)
	if err := c.Set("d", Spec{Config: cfg, Prober: hang}); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close: %v", err)
	}
}

type proberFunc func(ctx context.Context) Result

func (f proberFunc) Probe(ctx context.Context) Result { return f(ctx) }

func TestCheckerSetErrors(t *testing.T) {
	c := NewChecker[string](Options{}, nil)
	defer c.Close()
	if err := c.Set("a", Spec{Config: DefaultTCPConfig}); err == nil {
		t.Error("a nil Prober was accepted")
	}
	if err := c.Set("a", Spec{Config: Config{Interval: time.Second, Timeout: 2 * time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1}, Prober: TCPProbe{}}); err == nil {
		t.Error("a timeout longer than the interval was accepted")
	}
	if c.Len() != 0 {
		t.Error("a refused Spec was kept")
	}
}

// TestCheckerSpread: targets added together start their first checks
// spread over the first interval, each exactly once.
func TestCheckerSpread(t *testing.T) {
	noLeaks(t)
	clock := NewManualClock(t0)
	c := NewChecker[int](Options{Clock: clock}, nil)
	defer c.Close()
	const n = 200
	cfg := Config{Interval: 10 * time.Second, Timeout: 5 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2}
	probers := make([]*script, n)
	for i := range n {
		probers[i] = &script{clock: clock}
		c.Set(i, Spec{Config: cfg, Prober: probers[i]})
	}
	for range 10 {
		step(t, clock, n, time.Second)
	}
	clock.WaitTimers(n, 5*time.Second)
	seconds := map[time.Duration]int{}
	for i, p := range probers {
		if p.count() != 1 {
			t.Fatalf("target %d checked %d times in its first interval", i, p.count())
		}
		seconds[p.at(0).Sub(t0)]++
	}
	if len(seconds) < 8 {
		t.Errorf("first checks fell on only %d distinct seconds: %v", len(seconds), seconds)
	}
}

// TestCheckerTCP runs real TCP checks on the real clock against a loopback
// target that goes away: initial, healthy, unhealthy.
func TestCheckerTCP(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	rec := newRecorder[string]()
	c := NewChecker(Options{}, rec.on)
	defer c.Close()
	cfg := Config{Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2}
	c.Set("t", Spec{Config: cfg, Prober: TCPProbe{Address: ln.Addr().String()}})
	var got []string
	for len(got) < 2 {
		got = append(got, rec.next(t).To.String())
	}
	ln.Close()
	ch := rec.next(t)
	got = append(got, ch.To.String())
	want := []string{
		"initial/Elb.InitialHealthChecking: Initial health checks in progress",
		"healthy",
		"unhealthy/Target.FailedHealthChecks: Health checks failed",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("changes %q, want %q", got, want)
	}
	if ch.Result.Outcome != Fail || ch.Result.Err == nil {
		t.Errorf("the unhealthy change's result: %v", ch.Result)
	}
}
