// Package storetest is the conformance suite for store.Store backends.
//
// A backend's tests call Run with a function that opens a fresh, empty
// store; every backend (store/bolt today, etcd later) must pass it
// unchanged. Behaviour that only one backend can show, such as reopening a
// file or surviving kill -9, is tested beside that backend.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/store"
)

// Compacter is implemented by backends that can discard their change log
// on demand, as store/bolt's Compact and etcd's Compact do. Run uses it to
// test ErrCompacted. For a backend without it, Run writes revisions until
// Watch reports compaction, and skips that test if it never does; open
// such a backend with a small retention.
type Compacter interface {
	Compact(rev int64) error
}

// wait bounds every wait for a watch event, generously for -race on a
// small machine. Tests that pass never wait this long.
const wait = 10 * time.Second

// Run runs the conformance suite. open must return a new, empty store for
// each call, and should close it with t.Cleanup (the suite closes some
// stores itself, so Close must tolerate being called twice).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Empty", testEmpty},
		{"PutGetDelete", testPutGetDelete},
		{"Copies", testCopies},
		{"EmptyValue", testEmptyValue},
		{"InvalidWrites", testInvalidWrites},
		{"Scan", testScan},
		{"ScanPagination", testScanPagination},
		{"UpdateSeesOwnWrites", testUpdateSeesOwnWrites},
		{"Rollback", testRollback},
		{"Revisions", testRevisions},
		{"Collapse", testCollapse},
		{"LargeUpdate", testLargeUpdate},
		{"WatchFromZero", testWatchFromZero},
		{"WatchFromMiddle", testWatchFromMiddle},
		{"WatchLive", testWatchLive},
		{"WatchFuture", testWatchFuture},
		{"WatchCompacted", testWatchCompacted},
		{"WatchSlowReceiver", testWatchSlowReceiver},
		{"WatchCancel", testWatchCancel},
		{"Close", testClose},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

func testEmpty(t *testing.T, s store.Store) {
	if got := s.Rev(); got != 0 {
		t.Errorf("Rev() = %d, want 0", got)
	}
	err := s.View(func(tx store.Tx) error {
		if got := tx.Rev(); got != 0 {
			t.Errorf("tx.Rev() = %d, want 0", got)
		}
		if v, ok := tx.Get("missing"); ok || v != nil {
			t.Errorf("Get(missing) = %q, %v; want nil, false", v, ok)
		}
		return tx.Scan("", "", func(k string, _ []byte) bool {
			t.Errorf("Scan found %q in an empty store", k)
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := watch(t, s, 0)
	expectNone(t, ch)
}

func testPutGetDelete(t *testing.T, s store.Store) {
	put(t, s, "a", "1", "b", "2")
	expectKV(t, s, "a", "1")
	expectKV(t, s, "b", "2")

	put(t, s, "a", "one")
	expectKV(t, s, "a", "one")

	update(t, s, func(tx store.Tx) error { return tx.Delete("a") })
	expectKV(t, s, "a", "")
	expectKV(t, s, "b", "2")
}

// testCopies checks that neither a value given to Put nor one returned by
// Get aliases the store's memory.
func testCopies(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		v := []byte("orig")
		if err := tx.Put("k", v); err != nil {
			return err
		}
		copy(v, "XXXX") // the caller reuses its buffer
		if got, _ := tx.Get("k"); string(got) != "orig" {
			t.Errorf("Get after caller reused Put's buffer = %q, want orig", got)
		}
		return nil
	})
	expectKV(t, s, "k", "orig")
	s.View(func(tx store.Tx) error {
		v, _ := tx.Get("k")
		copy(v, "XXXX")
		return nil
	})
	expectKV(t, s, "k", "orig")
}

func testEmptyValue(t *testing.T, s store.Store) {
	ch := watch(t, s, 0)
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put("empty", []byte{}); err != nil {
			return err
		}
		return tx.Put("nil", nil)
	})
	s.View(func(tx store.Tx) error {
		for _, k := range []string{"empty", "nil"} {
			if v, ok := tx.Get(k); !ok || len(v) != 0 {
				t.Errorf("Get(%q) = %q, %v; want empty, true", k, v, ok)
			}
		}
		return nil
	})
	c := recv(t, ch)
	for _, e := range c.Events {
		if e.Deleted || e.Value == nil || len(e.Value) != 0 {
			t.Errorf("event for empty put = %+v, want non-nil empty Value", e)
		}
	}
}

func testInvalidWrites(t *testing.T, s store.Store) {
	_, err := s.Update(func(tx store.Tx) error { return tx.Put("", []byte("x")) })
	if err == nil {
		t.Error("Put with an empty key succeeded")
	}
	err = s.View(func(tx store.Tx) error {
		if err := tx.Put("k", []byte("v")); err == nil {
			t.Error("Put in View succeeded")
		}
		if err := tx.Delete("k"); err == nil {
			t.Error("Delete in View succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "p/1", "x")
	update(t, s, func(tx store.Tx) error {
		return tx.Scan("p/", "", func(k string, _ []byte) bool {
			if err := tx.Put("p/2", nil); err == nil {
				t.Error("Put inside a Scan callback succeeded")
			}
			if err := tx.Delete(k); err == nil {
				t.Error("Delete inside a Scan callback succeeded")
			}
			return true
		})
	})
	if got := s.Rev(); got != 1 {
		t.Errorf("Rev() = %d after invalid writes, want 1", got)
	}
}

var scanKeys = []string{"a", "a/1", "a/2", "a/3", "a/\xff", "a0", "b/1", "b/2", "c"}

func testScan(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		// Insert out of order; Scan must return bytewise order.
		for _, i := range []int{8, 3, 0, 5, 1, 7, 4, 2, 6} {
			if err := tx.Put(scanKeys[i], []byte("v"+scanKeys[i])); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tc := range []struct {
		prefix, after string
		want          []string
	}{
		{"", "", scanKeys},
		{"a/", "", []string{"a/1", "a/2", "a/3", "a/\xff"}},
		{"a", "", []string{"a", "a/1", "a/2", "a/3", "a/\xff", "a0"}},
		{"a/", "a/1", []string{"a/2", "a/3", "a/\xff"}},
		{"a/", "a/15", []string{"a/2", "a/3", "a/\xff"}}, // after need not exist
		{"a/", "a/\xff", nil},
		{"a/", "a", []string{"a/1", "a/2", "a/3", "a/\xff"}}, // after before the prefix
		{"a/", "b", nil}, // after beyond the prefix
		{"", "a0", []string{"b/1", "b/2", "c"}},
		{"b/", "", []string{"b/1", "b/2"}},
		{"d", "", nil},
		{"c", "", []string{"c"}},
	} {
		var got []string
		err := s.View(func(tx store.Tx) error {
			return tx.Scan(tc.prefix, tc.after, func(k string, v []byte) bool {
				if string(v) != "v"+k {
					t.Errorf("Scan value for %q = %q", k, v)
				}
				got = append(got, k)
				return true
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Scan(%q, %q) = %q, want %q", tc.prefix, tc.after, got, tc.want)
		}
	}

	// fn returning false stops the scan.
	var got []string
	s.View(func(tx store.Tx) error {
		return tx.Scan("", "", func(k string, _ []byte) bool {
			got = append(got, k)
			return len(got) < 2
		})
	})
	if !slices.Equal(got, scanKeys[:2]) {
		t.Errorf("Scan stopped after 2 = %q, want %q", got, scanKeys[:2])
	}
}

func testScanPagination(t *testing.T, s store.Store) {
	const n = 25
	var want []string
	update(t, s, func(tx store.Tx) error {
		for i := range n {
			k := fmt.Sprintf("item/%03d", i)
			want = append(want, k)
			if err := tx.Put(k, []byte(k)); err != nil {
				return err
			}
		}
		return tx.Put("other", nil)
	})
	// Page through with a page size of 4, as a Describe* API would.
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("pagination does not terminate")
		}
		var page []string
		s.View(func(tx store.Tx) error {
			return tx.Scan("item/", after, func(k string, _ []byte) bool {
				page = append(page, k)
				return len(page) < 4
			})
		})
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(got, want) {
		t.Errorf("paginated scan = %q, want %q", got, want)
	}
}

func testUpdateSeesOwnWrites(t *testing.T, s store.Store) {
	put(t, s, "x/1", "old", "x/3", "gone")
	update(t, s, func(tx store.Tx) error {
		tx.Put("x/1", []byte("new"))
		tx.Put("x/2", []byte("two"))
		tx.Delete("x/3")
		if v, ok := tx.Get("x/1"); !ok || string(v) != "new" {
			t.Errorf("Get(x/1) in Update = %q, %v; want new", v, ok)
		}
		if _, ok := tx.Get("x/3"); ok {
			t.Error("Get(x/3) in Update finds a key deleted in the same Update")
		}
		var keys []string
		tx.Scan("x/", "", func(k string, v []byte) bool {
			keys = append(keys, k+"="+string(v))
			return true
		})
		if want := []string{"x/1=new", "x/2=two"}; !slices.Equal(keys, want) {
			t.Errorf("Scan in Update = %q, want %q", keys, want)
		}
		return nil
	})
}

type testError struct{ code string }

func (e *testError) Error() string { return "test error " + e.code }

func testRollback(t *testing.T, s store.Store) {
	put(t, s, "keep", "1", "del", "2")
	rev := s.Rev()
	ch := watch(t, s, rev)

	got, err := s.Update(func(tx store.Tx) error {
		tx.Put("keep", []byte("changed"))
		tx.Put("new", []byte("x"))
		tx.Delete("del")
		return fmt.Errorf("wrapped: %w", &testError{"InvalidVpcID.NotFound"})
	})
	var te *testError
	if !errors.As(err, &te) || te.code != "InvalidVpcID.NotFound" {
		t.Fatalf("Update error = %v, want the testError that fn returned", err)
	}
	if got != 0 {
		t.Errorf("failed Update returned revision %d, want 0", got)
	}
	if s.Rev() != rev {
		t.Errorf("Rev() = %d after rollback, want %d", s.Rev(), rev)
	}
	expectKV(t, s, "keep", "1")
	expectKV(t, s, "del", "2")
	expectKV(t, s, "new", "")

	// An error returned unwrapped comes back identical.
	sentinel := errors.New("sentinel")
	if _, err := s.Update(func(tx store.Tx) error { tx.Put("a", nil); return sentinel }); err != sentinel {
		t.Errorf("Update error = %v, want the sentinel itself", err)
	}

	// A panicking fn writes nothing either.
	func() {
		defer func() { recover() }()
		s.Update(func(tx store.Tx) error {
			tx.Put("panic", []byte("x"))
			panic("boom")
		})
	}()
	expectKV(t, s, "panic", "")

	// The watcher sees no change for any of it: the next thing it gets is
	// the next successful Update, with the next revision.
	r := put(t, s, "after", "1")
	if r != rev+1 {
		t.Errorf("revision after rollbacks = %d, want %d", r, rev+1)
	}
	c := recv(t, ch)
	expectChange(t, c, rev+1, "after=1")
}

func testRevisions(t *testing.T, s store.Store) {
	ch := watch(t, s, 0)
	for i := int64(1); i <= 5; i++ {
		var txRev int64
		rev := update(t, s, func(tx store.Tx) error {
			txRev = tx.Rev()
			return tx.Put("k", []byte(strconv.FormatInt(i, 10)))
		})
		if rev != i || txRev != i-1 || s.Rev() != i {
			t.Errorf("Update %d: rev %d, tx.Rev %d, Rev() %d", i, rev, txRev, s.Rev())
		}
	}
	s.View(func(tx store.Tx) error {
		if tx.Rev() != 5 {
			t.Errorf("View tx.Rev() = %d, want 5", tx.Rev())
		}
		return nil
	})

	// Updates that change nothing use no revision and record no change.
	noops := map[string]func(tx store.Tx) error{
		"no writes":             func(tx store.Tx) error { return nil },
		"only reads":            func(tx store.Tx) error { tx.Get("k"); return nil },
		"delete missing":        func(tx store.Tx) error { return tx.Delete("missing") },
		"put then delete a new": func(tx store.Tx) error { tx.Put("tmp", []byte("x")); return tx.Delete("tmp") },
	}
	for name, fn := range noops {
		if rev := update(t, s, fn); rev != 5 {
			t.Errorf("%s: Update returned %d, want current revision 5", name, rev)
		}
	}
	if s.Rev() != 5 {
		t.Errorf("Rev() = %d after no-op Updates, want 5", s.Rev())
	}
	expectKV(t, s, "tmp", "")

	put(t, s, "k", "6")
	for i := int64(1); i <= 6; i++ {
		expectChange(t, recv(t, ch), i, "k="+strconv.FormatInt(i, 10))
	}
	expectNone(t, ch)
}

func testCollapse(t *testing.T, s store.Store) {
	put(t, s, "j", "J", "k", "K", "r", "R")
	ch := watch(t, s, s.Rev())
	update(t, s, func(tx store.Tx) error {
		tx.Put("z", []byte("1"))
		tx.Put("k", []byte("1"))
		tx.Put("k", []byte("2"))
		tx.Delete("j")
		tx.Put("n", []byte("1")) // created and deleted: no event
		tx.Delete("n")
		tx.Delete("r") // deleted and re-created: a put
		tx.Put("r", []byte("R2"))
		tx.Put("j", []byte("back")) // deleted, re-created, deleted
		return tx.Delete("j")
	})
	expectChange(t, recv(t, ch), 2, "j deleted", "k=2", "r=R2", "z=1")
}

func testLargeUpdate(t *testing.T, s store.Store) {
	const n = 1000
	ch := watch(t, s, 0)
	update(t, s, func(tx store.Tx) error {
		for i := n - 1; i >= 0; i-- {
			if err := tx.Put(fmt.Sprintf("big/%04d", i), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	c := recv(t, ch)
	if c.Rev != 1 || len(c.Events) != n {
		t.Fatalf("got change %d with %d events, want 1 with %d", c.Rev, len(c.Events), n)
	}
	for i, e := range c.Events {
		if want := fmt.Sprintf("big/%04d", i); e.Key != want || !bytes.Equal(e.Value, bytes.Repeat([]byte{byte(i)}, 100)) {
			t.Fatalf("event %d = %q, want %q with its value", i, e.Key, want)
		}
	}
}

func testWatchFromZero(t *testing.T, s store.Store) {
	put(t, s, "a", "1")
	put(t, s, "b", "2")
	update(t, s, func(tx store.Tx) error { return tx.Delete("a") })

	ch := watch(t, s, 0)
	expectChange(t, recv(t, ch), 1, "a=1")
	expectChange(t, recv(t, ch), 2, "b=2")
	expectChange(t, recv(t, ch), 3, "a deleted")
	expectNone(t, ch)
	put(t, s, "c", "3")
	expectChange(t, recv(t, ch), 4, "c=3")
}

func testWatchFromMiddle(t *testing.T, s store.Store) {
	for i := 1; i <= 5; i++ {
		put(t, s, "k", strconv.Itoa(i))
	}
	ch := watch(t, s, 2)
	for i := int64(3); i <= 5; i++ {
		expectChange(t, recv(t, ch), i, "k="+strconv.FormatInt(i, 10))
	}
	expectNone(t, ch)

	// Watching from the current revision starts with the next change.
	ch = watch(t, s, 5)
	expectNone(t, ch)
}

func testWatchLive(t *testing.T, s store.Store) {
	put(t, s, "before", "x")
	ch := watch(t, s, s.Rev())
	ch2 := watch(t, s, s.Rev()) // watchers are independent
	for i := int64(2); i <= 4; i++ {
		put(t, s, "k", strconv.FormatInt(i, 10))
		for _, c := range []<-chan store.Change{ch, ch2} {
			expectChange(t, recv(t, c), i, "k="+strconv.FormatInt(i, 10))
		}
	}
}

func testWatchFuture(t *testing.T, s store.Store) {
	ch := watch(t, s, 2)
	put(t, s, "k", "1")
	put(t, s, "k", "2")
	expectNone(t, ch)
	put(t, s, "k", "3")
	expectChange(t, recv(t, ch), 3, "k=3")
}

func testWatchCompacted(t *testing.T, s store.Store) {
	for i := 1; i <= 10; i++ {
		put(t, s, "k", strconv.Itoa(i))
	}
	compacter, ok := s.(Compacter)
	if !ok {
		// Write until the backend compacts by itself.
		for i := 0; ; i++ {
			if i == 5000 {
				t.Skip("backend did not compact within 5000 revisions; open it with a small retention or implement Compacter")
			}
			put(t, s, "k", strconv.Itoa(11+i))
			if _, err := s.Watch(t.Context(), 0); errors.Is(err, store.ErrCompacted) {
				break
			}
		}
	} else {
		slow := watch(t, s, 0) // not read until after compaction
		live := watch(t, s, 10)
		if err := compacter.Compact(6); err != nil {
			t.Fatalf("Compact(6): %v", err)
		}
		for _, from := range []int64{1, 5} {
			if _, err := s.Watch(t.Context(), from); !errors.Is(err, store.ErrCompacted) {
				t.Errorf("Watch(%d) after Compact(6): err = %v, want ErrCompacted", from, err)
			}
		}
		// Watching from the compaction point itself still works.
		ch := watch(t, s, 6)
		for i := int64(7); i <= 10; i++ {
			expectChange(t, recv(t, ch), i, "k="+strconv.FormatInt(i, 10))
		}
		put(t, s, "k", "11")
		expectChange(t, recv(t, live), 11, "k=11")

		// A watcher that had not read the compacted revisions may still
		// deliver some it had already read from the log, but then its
		// channel closes rather than skip any.
		next := int64(1)
		for next <= 11 {
			c, ok := recvOrClosed(t, slow)
			if !ok {
				if next > 6 {
					t.Errorf("channel closed at revision %d, though nothing after 6 was compacted", next)
				}
				break
			}
			if c.Rev != next {
				t.Fatalf("slow watcher got revision %d, want %d", c.Rev, next)
			}
			next++
		}
	}

	if _, err := s.Watch(t.Context(), 0); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("Watch(0) after compaction: err = %v, want ErrCompacted", err)
	}

	// The resync pattern: snapshot, then watch from the snapshot's revision.
	var (
		rev int64
		val []byte
	)
	if err := s.View(func(tx store.Tx) error {
		rev = tx.Rev()
		val, _ = tx.Get("k")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := strconv.FormatInt(rev, 10); string(val) != want {
		t.Errorf("snapshot at revision %d has k=%q, want %q", rev, val, want)
	}
	ch := watch(t, s, rev)
	put(t, s, "k", "next")
	expectChange(t, recv(t, ch), rev+1, "k=next")
}

// testWatchSlowReceiver checks that a watcher nobody reads does not hold
// up writers, and that it still delivers everything afterwards.
func testWatchSlowReceiver(t *testing.T, s store.Store) {
	const n = 100
	ch := watch(t, s, 0)
	val := bytes.Repeat([]byte("x"), 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if _, err := s.Update(func(tx store.Tx) error { return tx.Put("k"+strconv.Itoa(i), val) }); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(4 * wait):
		t.Fatal("writers blocked by an unread watcher")
	}
	for i := int64(1); i <= n; i++ {
		if c := recv(t, ch); c.Rev != i {
			t.Fatalf("got revision %d, want %d", c.Rev, i)
		}
	}
}

func testWatchCancel(t *testing.T, s store.Store) {
	// Idle watcher.
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	expectClosed(t, ch)

	// Watcher with undelivered changes, blocked on its send.
	put(t, s, "a", "1")
	put(t, s, "a", "2")
	ctx, cancel = context.WithCancel(t.Context())
	ch, err = s.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	expectChange(t, recv(t, ch), 1, "a=1")
	cancel()
	expectClosed(t, ch)

	// An already cancelled context.
	if ch, err := s.Watch(ctx, 0); err == nil {
		expectClosed(t, ch)
	}
}

func testClose(t *testing.T, s store.Store) {
	put(t, s, "a", "1")
	idle := watch(t, s, s.Rev())
	busy := watch(t, s, 0)
	put(t, s, "a", "2")

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	expectClosed(t, idle)
	expectClosed(t, busy)

	if err := s.View(func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Update(func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Watch(t.Context(), 0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watch after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
}

// testConcurrent runs many writers, readers and a watcher at once. The
// watcher must see every revision exactly once and in order, each reader
// must see snapshots that match their revision, and the revisions that
// Update returned must be exactly the ones committed.
func testConcurrent(t *testing.T, s store.Store) {
	const (
		writers = 8
		each    = 25
		readers = 2
		total   = writers * each
	)
	ch := watch(t, s, 0)

	var (
		mu   sync.Mutex
		revs []int64
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				rev, err := s.Update(func(tx store.Tx) error {
					// Each revision records itself, so readers can check
					// that a snapshot's data matches its revision.
					next := strconv.FormatInt(tx.Rev()+1, 10)
					if err := tx.Put("rev", []byte(next)); err != nil {
						return err
					}
					return tx.Put(fmt.Sprintf("w/%d", w), []byte(strconv.Itoa(i)))
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				revs = append(revs, rev)
				mu.Unlock()
			}
		})
	}
	var rwg sync.WaitGroup
	for range readers {
		rwg.Go(func() {
			last := int64(-1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.View(func(tx store.Tx) error {
					r := tx.Rev()
					v, _ := tx.Get("rev")
					if r > 0 && string(v) != strconv.FormatInt(r, 10) {
						t.Errorf("snapshot at revision %d has rev=%q", r, v)
					}
					if r < last {
						t.Errorf("revision went back from %d to %d", last, r)
					}
					last = r
					return nil
				})
			}
		})
	}

	var got []int64
	for len(got) < total {
		c := recv(t, ch)
		if want := int64(len(got) + 1); c.Rev != want {
			t.Fatalf("watcher got revision %d, want %d", c.Rev, want)
		}
		if len(c.Events) != 2 || c.Events[0].Key != "rev" || string(c.Events[0].Value) != strconv.FormatInt(c.Rev, 10) {
			t.Fatalf("change %d = %+v", c.Rev, c.Events)
		}
		got = append(got, c.Rev)
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	expectNone(t, ch)

	slices.Sort(revs)
	if !slices.Equal(revs, got) {
		t.Errorf("Update returned revisions %v, want 1..%d once each", revs, total)
	}
	if s.Rev() != total {
		t.Errorf("Rev() = %d, want %d", s.Rev(), total)
	}
	for w := range writers {
		expectKV(t, s, fmt.Sprintf("w/%d", w), strconv.Itoa(each-1))
	}
}

// Helpers.

// update runs a successful Update.
func update(t *testing.T, s store.Store, fn func(store.Tx) error) int64 {
	t.Helper()
	rev, err := s.Update(fn)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	return rev
}

// put writes key/value pairs in one Update.
func put(t *testing.T, s store.Store, kv ...string) int64 {
	t.Helper()
	return update(t, s, func(tx store.Tx) error {
		for i := 0; i < len(kv); i += 2 {
			if err := tx.Put(kv[i], []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
}

// expectKV checks the value of key; want "" means the key is absent.
func expectKV(t *testing.T, s store.Store, key, want string) {
	t.Helper()
	var (
		v  []byte
		ok bool
	)
	if err := s.View(func(tx store.Tx) error { v, ok = tx.Get(key); return nil }); err != nil {
		t.Fatal(err)
	}
	switch {
	case want == "" && ok:
		t.Errorf("%q = %q, want absent", key, v)
	case want != "" && (!ok || string(v) != want):
		t.Errorf("%q = %q (present %v), want %q", key, v, ok, want)
	}
}

func watch(t *testing.T, s store.Store, from int64) <-chan store.Change {
	t.Helper()
	ch, err := s.Watch(t.Context(), from)
	if err != nil {
		t.Fatalf("Watch(%d): %v", from, err)
	}
	return ch
}

// recv returns the next change, failing if none comes or ch closes.
func recv(t *testing.T, ch <-chan store.Change) store.Change {
	t.Helper()
	c, ok := recvOrClosed(t, ch)
	if !ok {
		t.Fatal("watch channel closed unexpectedly")
	}
	return c
}

// recvOrClosed returns the next change, or ok=false if ch closes.
func recvOrClosed(t *testing.T, ch <-chan store.Change) (c store.Change, ok bool) {
	t.Helper()
	select {
	case c, ok = <-ch:
		return c, ok
	case <-time.After(wait):
		t.Fatal("timed out waiting for a change")
	}
	panic("unreachable")
}

// expectNone checks that nothing arrives for a short while.
func expectNone(t *testing.T, ch <-chan store.Change) {
	t.Helper()
	select {
	case c, ok := <-ch:
		if ok {
			t.Errorf("unexpected change %d: %+v", c.Rev, c.Events)
		} else {
			t.Error("watch channel closed unexpectedly")
		}
	case <-time.After(50 * time.Millisecond):
	}
}

// expectClosed drains ch and checks that it closes.
func expectClosed(t *testing.T, ch <-chan store.Change) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("watch channel not closed")
		}
	}
}

// expectChange checks a change against "key=value" and "key deleted".
func expectChange(t *testing.T, c store.Change, rev int64, events ...string) {
	t.Helper()
	var got []string
	for _, e := range c.Events {
		switch {
		case e.Deleted && e.Value != nil:
			got = append(got, e.Key+" deleted with a value")
		case e.Deleted:
			got = append(got, e.Key+" deleted")
		default:
			got = append(got, e.Key+"="+string(e.Value))
		}
	}
	if c.Rev != rev || !slices.Equal(got, events) {
		t.Errorf("change = %d %q, want %d %q", c.Rev, got, rev, events)
	}
}
