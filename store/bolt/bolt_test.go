package bolt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/isthmusnet/isthmus/store"
	"github.com/isthmusnet/isthmus/store/storetest"
)

// open opens a store at path and closes it when the test ends.
func open(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "isthmus.db"), Options{})
	})
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "isthmus.db")
	s := open(t, path, Options{})
	for i := 1; i <= 5; i++ {
		if _, err := s.Update(func(tx store.Tx) error {
			return tx.Put("k/"+strconv.Itoa(i), []byte(strconv.Itoa(i)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Update(func(tx store.Tx) error { return tx.Delete("k/1") }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, Options{})
	if s.Rev() != 6 {
		t.Fatalf("Rev() after reopen = %d, want 6", s.Rev())
	}
	var keys []string
	s.View(func(tx store.Tx) error {
		if tx.Rev() != 6 {
			t.Errorf("tx.Rev() after reopen = %d, want 6", tx.Rev())
		}
		return tx.Scan("k/", "", func(k string, v []byte) bool {
			keys = append(keys, k+"="+string(v))
			return true
		})
	})
	if got, want := strings.Join(keys, " "), "k/2=2 k/3=3 k/4=4 k/5=5"; got != want {
		t.Errorf("after reopen: %s, want %s", got, want)
	}
	// The log survives too, and revisions continue from where they were.
	ch, err := s.Watch(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 6; want++ {
		if c := <-ch; c.Rev != want {
			t.Fatalf("replayed revision %d, want %d", c.Rev, want)
		}
	}
	if rev, err := s.Update(func(tx store.Tx) error { return tx.Put("k/6", nil) }); rev != 7 || err != nil {
		t.Errorf("Update after reopen = %d, %v; want 7", rev, err)
	}
}

// logBounds returns the first and last revision in the log bucket and
// how many it holds.
func logBounds(t *testing.T, s *Store) (first, last, n int64) {
	t.Helper()
	s.db.View(func(btx *bbolt.Tx) error {
		c := btx.Bucket(bucketLog).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if n == 0 {
				first = revOf(k)
			}
			last = revOf(k)
			n++
		}
		return nil
	})
	return first, last, n
}

func TestAutoCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "isthmus.db")
	s := open(t, path, Options{Retain: 16}) // compacts at 16+2 entries
	putN := func(s *Store, n int) {
		for range n {
			if _, err := s.Update(func(tx store.Tx) error { return tx.Put("k", []byte("v")) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	putN(s, 18)
	if first, last, n := logBounds(t, s); first != 1 || last != 18 || n != 18 {
		t.Fatalf("log %d..%d (%d) before compaction, want 1..18", first, last, n)
	}
	putN(s, 1)
	if first, last, n := logBounds(t, s); first != 4 || last != 19 || n != 16 {
		t.Fatalf("log %d..%d (%d) after compaction, want 4..19", first, last, n)
	}
	if _, err := s.Watch(t.Context(), 0); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("Watch(0) = %v, want ErrCompacted", err)
	}
	if _, err := s.Watch(t.Context(), 2); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("Watch(2) = %v, want ErrCompacted", err)
	}
	ch, err := s.Watch(t.Context(), 3)
	if err != nil {
		t.Fatalf("Watch(3) = %v, want the log from 4", err)
	}
	if c := <-ch; c.Rev != 4 {
		t.Errorf("first change = %d, want 4", c.Rev)
	}

	// Over many revisions the log stays within Retain plus slack.
	putN(s, 100)
	if _, _, n := logBounds(t, s); n < 16 || n > 18 {
		t.Errorf("log holds %d revisions, want 16..18", n)
	}

	// Compaction survives reopening, and a lower Retain takes effect in
	// batches of compactBatch on the next Updates.
	s.Close()
	s = open(t, path, Options{Retain: 4})
	if _, err := s.Watch(t.Context(), 0); !errors.Is(err, store.ErrCompacted) {
		t.Errorf("Watch(0) after reopen = %v, want ErrCompacted", err)
	}
	putN(s, 1)
	if first, last, n := logBounds(t, s); n != 4 || last != s.Rev() {
		t.Errorf("log %d..%d (%d) after lowering Retain, want the last 4", first, last, n)
	}
}

func TestCompact(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "isthmus.db"), Options{})
	for range 3 {
		s.Update(func(tx store.Tx) error { return tx.Put("k", nil) })
	}
	if err := s.Compact(4); err == nil {
		t.Error("Compact beyond Rev succeeded")
	}
	if err := s.Compact(3); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(2); err != nil {
		t.Errorf("Compact to an already compacted revision: %v", err)
	}
	if _, _, n := logBounds(t, s); n != 0 {
		t.Errorf("log holds %d after Compact(Rev), want 0", n)
	}
	// A fully compacted log reopens fine.
	path := s.db.Path()
	s.Close()
	s = open(t, path, Options{})
	if s.Rev() != 3 {
		t.Errorf("Rev() = %d, want 3", s.Rev())
	}
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "isthmus.db")
	open(t, path, Options{})
	// flock locks belong to the open file, so a second Open in this
	// process behaves like another process.
	start := time.Now()
	s, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a locked database succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want ErrLocked naming the path", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open waited %v for a 100ms timeout", d)
	}
}

func TestTxAfterReturn(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "isthmus.db"), Options{})
	var kept store.Tx
	s.View(func(tx store.Tx) error { kept = tx; return nil })
	defer func() {
		if recover() == nil {
			t.Error("Get on a finished Tx did not panic")
		}
	}()
	kept.Get("k")
}

func TestEncoding(t *testing.T) {
	evs := []store.Event{
		{Key: "a", Value: []byte("1")},
		{Key: "b", Deleted: true},
		{Key: "c", Value: []byte{}},
		{Key: strings.Repeat("k", 300), Value: bytes.Repeat([]byte{0}, 70000)},
	}
	b := encodeEvents(evs)
	got, err := decodeEvents(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("decoded %d events, want %d", len(got), len(evs))
	}
	for i := range evs {
		if got[i].Key != evs[i].Key || !bytes.Equal(got[i].Value, evs[i].Value) ||
			got[i].Deleted != evs[i].Deleted || (got[i].Value == nil) != (evs[i].Value == nil) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], evs[i])
		}
	}
	// Every truncation is an error, never a panic.
	for n := range len(b) - 1 {
		if _, err := decodeEvents(b[:n]); err == nil {
			t.Fatalf("decoding %d of %d bytes succeeded", n, len(b))
		}
	}
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add(encodeEvents([]store.Event{{Key: "a", Value: []byte("x")}, {Key: "b", Deleted: true}}))
	f.Add([]byte{recordFormat, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := decodeEvents(b)
		if err != nil {
			return
		}
		if again := encodeEvents(evs); !bytes.Equal(again, b) {
			t.Errorf("decode/encode changed the record")
		}
	})
}

// Kill -9 test.
//
// TestKill9 runs TestHelperWriter as a child process, lets it commit a burst
// of Updates, kills it with SIGKILL mid-stream, and checks the file. It does
// this for several rounds on the same file, so later rounds also test that
// a store recovered from a crash keeps working.
//
// Each Update n (n being the revision it commits) writes, atomically:
//
//	counter       = n
//	group/0..7    = n              (overwrites)
//	item/n/0..7   = n              (new keys)
//	item/n-1/0    deleted
//
// so after any crash the file must hold counter == Rev, every group/j ==
// counter, and for each k <= counter exactly the item keys k/1..7 (plus k/0
// for k == counter), and no item beyond counter. The log must hold every
// revision 1..Rev, each carrying its own counter.

const (
	helperEnv   = "ISTHMUS_STORE_KILL_DB"
	helperGroup = 8
	helperPad   = 400 // value padding, so a transaction spans several pages
)

func helperValue(n int64) []byte {
	return fmt.Appendf(nil, "%d:%s", n, strings.Repeat("p", helperPad))
}

func parseHelperValue(v []byte) int64 {
	s, _, _ := strings.Cut(string(v), ":")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// TestHelperWriter is not a test: it is the child process of TestKill9 and
// does nothing unless started by it.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestKill9")
	}
	s, err := Open(path, Options{Timeout: 10 * time.Second, Retain: 1 << 40})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// Never outlive a parent that died before killing us.
	time.AfterFunc(time.Minute, func() { os.Exit(3) })
	fmt.Println("ready")
	var wg sync.WaitGroup
	for range 2 { // two writers, so the crash can also hit a queued Update
		wg.Go(func() {
			for {
				_, err := s.Update(func(tx store.Tx) error {
					n := tx.Rev() + 1
					v := helperValue(n)
					if err := tx.Put("counter", v); err != nil {
						return err
					}
					for j := range helperGroup {
						if err := tx.Put(fmt.Sprintf("group/%d", j), v); err != nil {
							return err
						}
						if err := tx.Put(fmt.Sprintf("item/%08d/%d", n, j), v); err != nil {
							return err
						}
					}
					return tx.Delete(fmt.Sprintf("item/%08d/0", n-1))
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
			}
		})
	}
	wg.Wait() // forever, until killed
}

func TestKill9(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper process")
	}
	path := filepath.Join(t.TempDir(), "isthmus.db")
	var last int64
	for round := range 3 {
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: helper did not start: %q %v\n%s", round, line, err, stderr.Bytes())
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			t.Fatalf("round %d: helper exited on its own: %v\n%s", round, err, stderr.Bytes())
		case <-time.After(200 * time.Millisecond):
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited

		rev := checkKilledDB(t, path)
		t.Logf("round %d: %d revisions survived (%d new)", round, rev, rev-last)
		if rev <= last {
			t.Errorf("round %d: no progress (revision %d, was %d)", round, rev, last)
		}
		last = rev
	}
}

// checkKilledDB opens the database left by a killed helper, checks the
// invariants described above TestKill9 and returns its revision.
func checkKilledDB(t *testing.T, path string) int64 {
	t.Helper()
	s, err := Open(path, Options{Retain: 1 << 40})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()

	// bbolt's own consistency check: page structure, freelist.
	s.db.View(func(btx *bbolt.Tx) error {
		for err := range btx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return nil
	})

	rev := s.Rev()
	s.View(func(tx store.Tx) error {
		if tx.Rev() != rev {
			t.Errorf("tx.Rev() = %d, Rev() = %d", tx.Rev(), rev)
		}
		c, _ := tx.Get("counter")
		counter := parseHelperValue(c)
		if rev > 0 && counter != rev {
			t.Errorf("counter = %d at revision %d", counter, rev)
		}
		for j := range helperGroup {
			if v, _ := tx.Get(fmt.Sprintf("group/%d", j)); parseHelperValue(v) != counter {
				t.Errorf("group/%d = %d, counter = %d: a torn transaction", j, parseHelperValue(v), counter)
			}
		}
		items := 0
		tx.Scan("item/", "", func(k string, v []byte) bool {
			items++
			var n int64
			var j int
			if _, err := fmt.Sscanf(k, "item/%08d/%d", &n, &j); err != nil || parseHelperValue(v) != n {
				t.Errorf("bad item %q = %.20q", k, v)
			}
			if n > counter || (j == 0 && n != counter) {
				t.Errorf("item %q should not exist at counter %d", k, counter)
			}
			return true
		})
		if want := int(counter) * (helperGroup - 1); counter > 0 && items != want+1 {
			t.Errorf("%d items at counter %d, want %d", items, counter, want+1)
		}
		return nil
	})

	// The log holds exactly revisions 1..rev, each the helper's Update.
	ch, err := s.Watch(t.Context(), 0)
	if err != nil {
		t.Fatalf("Watch(0): %v", err)
	}
	for want := int64(1); want <= rev; want++ {
		var c store.Change
		select {
		case c = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("log replay stopped at %d of %d", want, rev)
		}
		if c.Rev != want {
			t.Fatalf("log revision %d, want %d", c.Rev, want)
		}
		wantEvents := 1 + 2*helperGroup // counter, group/*, item/n/*
		if want > 1 {
			wantEvents++ // the delete of item/n-1/0
		}
		if len(c.Events) != wantEvents {
			t.Fatalf("revision %d has %d events, want %d", want, len(c.Events), wantEvents)
		}
		for _, e := range c.Events {
			if !e.Deleted && parseHelperValue(e.Value) != want {
				t.Fatalf("revision %d writes %s = %d", want, e.Key, parseHelperValue(e.Value))
			}
		}
	}
	return rev
}

func BenchmarkUpdate(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "isthmus.db"), Options{})
	val := bytes.Repeat([]byte("v"), 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := "bench/" + strconv.Itoa(i%1000)
		i++
		if _, err := s.Update(func(tx store.Tx) error { return tx.Put(key, val) }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkView(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "isthmus.db"), Options{})
	const n = 1000
	val := bytes.Repeat([]byte("v"), 256)
	if _, err := s.Update(func(tx store.Tx) error {
		for i := range n {
			if err := tx.Put("bench/"+strconv.Itoa(i), val); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			key := "bench/" + strconv.Itoa(i%n)
			i += 7
			s.View(func(tx store.Tx) error {
				if _, ok := tx.Get(key); !ok {
					b.Errorf("missing %s", key)
				}
				return nil
			})
		}
	})
}
