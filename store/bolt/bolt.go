// Package bolt is the embedded, single-node backend of store.Store, built on
// go.etcd.io/bbolt. It owns one database file: the current key-value state,
// the revision counter and a bounded change log that Watch reads from.
//
// Every Update is one bbolt read-write transaction that writes the data, the
// new revision and the log record together and is fsynced before Update
// returns, so the file is consistent after a crash or kill -9 at any point:
// a revision is either fully there (data, counter and log) or not at all.
//
// # On-disk layout (format version 1)
//
//	bucket "kv"    key       -> value            the current state
//	bucket "meta"  "version" -> 1                format version
//	               "rev"     -> last revision
//	               "compact" -> highest revision discarded from the log (0: none)
//	bucket "log"   revision  -> record           revisions compact+1 .. rev
//
// Numbers in "meta" and the keys of "log" are 8-byte big-endian uint64, so
// the log iterates in revision order. A log record is
//
//	0x01                                  record format
//	uvarint(number of events)
//	then, per event, sorted by key:
//	  byte kind                           0 put, 1 delete
//	  uvarint(len(key)) key
//	  uvarint(len(value)) value           puts only
//
// The log is compacted inside Update: once it holds more than Retain
// revisions (plus 1/8 slack, so deletes happen in batches rather than on
// every commit), the oldest are deleted, at most 1024 per Update.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/isthmusnet/isthmus/store"
)

const (
	// DefaultRetain is the number of revisions of change log kept when
	// Options.Retain is not set.
	DefaultRetain = 10000

	// DefaultTimeout is how long Open waits for the file lock when
	// Options.Timeout is not set.
	DefaultTimeout = time.Second

	formatVersion = 1    // meta "version"
	recordFormat  = 0x01 // first byte of every log record

	eventPut    = 0
	eventDelete = 1

	// compactBatch bounds how many log entries one Update deletes, so that
	// lowering Retain on a large log does not produce one huge transaction.
	compactBatch = 1024

	// A watcher reads at most this many changes, or about this many bytes
	// of log, per read transaction. This is all it ever holds in memory.
	watchBatchChanges = 128
	watchBatchBytes   = 1 << 20
)

var (
	bucketKV   = []byte("kv")
	bucketMeta = []byte("meta")
	bucketLog  = []byte("log")

	metaVersion = []byte("version")
	metaRev     = []byte("rev")
	metaCompact = []byte("compact")
)

// ErrLocked is returned (wrapped) by Open when another process holds the
// database file and the lock was not released within Options.Timeout.
var ErrLocked = errors.New("store/bolt: database is locked by another process")

var (
	errEmptyKey        = errors.New("store/bolt: empty key")
	errReadOnly        = errors.New("store/bolt: write in a read-only transaction")
	errWriteDuringScan = errors.New("store/bolt: write inside a Scan callback")

	// errNoChange rolls back an Update whose fn wrote nothing, so that it
	// costs no fsync and uses no revision. fn cannot return it.
	errNoChange = errors.New("store/bolt: no change")
)

// Options configures Open. The zero value is usable.
type Options struct {
	// Logger receives open, compaction and watcher diagnostics.
	// Nil discards them.
	Logger *slog.Logger

	// Retain is how many revisions of change log to keep at least (the log
	// may hold up to 1/8 more between compactions). Zero or negative means
	// DefaultRetain. It can be changed between runs.
	Retain int64

	// Timeout is how long Open waits for another process to release the
	// file lock before it fails with ErrLocked. Zero or negative means
	// DefaultTimeout.
	Timeout time.Duration
}

// Store is a store.Store kept in one bbolt file. It is safe for concurrent
// use. Only one process (and one Store) can have the file open at a time.
type Store struct {
	db     *bbolt.DB
	logger *slog.Logger
	retain int64

	closed  atomic.Bool   // set once, under mu, by Close
	closing chan struct{} // closed by Close to stop watchers
	wg      sync.WaitGroup

	// mu guards notify and orders writes of rev with it, so that a watcher
	// that reads both under mu cannot miss a wake-up.
	mu     sync.Mutex
	rev    atomic.Int64  // last committed revision; written under mu
	notify chan struct{} // closed and replaced on every commit
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the database at path. It fails with an error
// wrapping ErrLocked if another process has it open, and with a descriptive
// error if the file is not an Isthmus store or its revision counter and
// change log disagree.
func Open(path string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	retain := opts.Retain
	if retain <= 0 {
		retain = DefaultRetain
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}

	// Like etcd: fsync on every commit (never NoSync), but don't write the
	// freelist; bbolt rebuilds it on open. That is crash-safe and makes
	// each commit write less.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        timeout,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}

	var rev, compact int64
	err = db.Update(func(btx *bbolt.Tx) error {
		var err error
		rev, compact, err = initialize(btx)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store/bolt: open %s: %w", path, err)
	}

	s := &Store{
		db:      db,
		logger:  logger,
		retain:  retain,
		closing: make(chan struct{}),
		notify:  make(chan struct{}),
	}
	s.rev.Store(rev)
	logger.Info("store opened", "path", path, "rev", rev, "compacted", compact, "retain", retain)
	return s, nil
}

// initialize creates the buckets of a new database, or checks those of an
// existing one, and returns its revision and compaction point.
func initialize(btx *bbolt.Tx) (rev, compact int64, err error) {
	for _, name := range [][]byte{bucketKV, bucketMeta, bucketLog} {
		if _, err := btx.CreateBucketIfNotExists(name); err != nil {
			return 0, 0, err
		}
	}
	meta := btx.Bucket(bucketMeta)
	switch v := meta.Get(metaVersion); {
	case v == nil:
		if btx.Bucket(bucketKV).Stats().KeyN > 0 || meta.Get(metaRev) != nil {
			return 0, 0, errors.New("not an Isthmus store (no format version)")
		}
		if err := meta.Put(metaVersion, u64(formatVersion)); err != nil {
			return 0, 0, err
		}
	case len(v) != 8 || binary.BigEndian.Uint64(v) != formatVersion:
		return 0, 0, fmt.Errorf("unsupported format version %x", v)
	}

	rev, compact = getInt(meta, metaRev), getInt(meta, metaCompact)
	// The counter and the log are written in the same transaction, so they
	// must agree; if they don't, the file was damaged, not merely crashed.
	c := btx.Bucket(bucketLog).Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	switch {
	case compact > rev:
		return 0, 0, fmt.Errorf("corrupt: compacted revision %d beyond revision %d", compact, rev)
	case rev == compact && first != nil:
		return 0, 0, fmt.Errorf("corrupt: revision %d fully compacted but log holds %d..%d", rev, revOf(first), revOf(last))
	case rev > compact && (first == nil || revOf(first) != compact+1 || revOf(last) != rev):
		return 0, 0, fmt.Errorf("corrupt: revision %d compacted %d but log holds %s", rev, compact, logRange(first, last))
	}
	return rev, compact, nil
}

func logRange(first, last []byte) string {
	if first == nil {
		return "nothing"
	}
	return fmt.Sprintf("%d..%d", revOf(first), revOf(last))
}

// Close implements store.Store. It closes every Watch channel, waits for
// their goroutines and for in-flight transactions, and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	close(s.closing)
	s.mu.Unlock()

	s.wg.Wait()
	// bbolt's Close waits for open transactions to finish.
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store/bolt: close: %w", err)
	}
	return nil
}

// Rev implements store.Store.
func (s *Store) Rev() int64 { return s.rev.Load() }

// View implements store.Store.
func (s *Store) View(fn func(store.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	var fnErr error
	err := s.db.View(func(btx *bbolt.Tx) error {
		t := newTx(btx, false)
		defer t.end()
		fnErr = fn(t)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return s.dbErr(err)
}

// Update implements store.Store.
func (s *Store) Update(fn func(store.Tx) error) (int64, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	var (
		fnErr error
		rev   int64
	)
	err := s.db.Update(func(btx *bbolt.Tx) error {
		t := newTx(btx, true)
		defer t.end()
		if fnErr = fn(t); fnErr != nil {
			return fnErr
		}
		evs := t.events()
		if len(evs) == 0 {
			rev = t.rev
			return errNoChange
		}
		rev = t.rev + 1
		return s.commit(btx, rev, evs)
	})
	switch {
	case fnErr != nil:
		return 0, fnErr
	case err == errNoChange:
		return rev, nil
	case err != nil:
		return 0, s.dbErr(err)
	}

	// Durable now. Publish the revision and wake the watchers.
	s.mu.Lock()
	if rev > s.rev.Load() { // concurrent Updates may get here out of order
		s.rev.Store(rev)
		close(s.notify)
		s.notify = make(chan struct{})
	}
	s.mu.Unlock()
	return rev, nil
}

// commit records revision rev, with events evs, in the transaction that
// made the writes, and compacts the log if it has grown past s.retain.
func (s *Store) commit(btx *bbolt.Tx, rev int64, evs []store.Event) error {
	meta := btx.Bucket(bucketMeta)
	if err := meta.Put(metaRev, u64(rev)); err != nil {
		return fmt.Errorf("store/bolt: write revision: %w", err)
	}
	if err := btx.Bucket(bucketLog).Put(u64(rev), encodeEvents(evs)); err != nil {
		return fmt.Errorf("store/bolt: write log: %w", err)
	}

	compact := getInt(meta, metaCompact)
	if rev-compact <= s.retain+s.retain/8 {
		return nil
	}
	target := min(rev-s.retain, compact+compactBatch)
	if err := compactLog(btx, compact, target); err != nil {
		return fmt.Errorf("store/bolt: compact log: %w", err)
	}
	s.logger.Debug("store log compacted", "rev", rev, "compacted", target)
	return nil
}

// Compact discards the change log up to and including rev, so that a
// Watch from before rev returns store.ErrCompacted. It is not needed in
// normal operation (Update compacts by Options.Retain); it exists for
// operators and for the conformance tests. Compacting to a revision
// already compacted is a no-op; a revision beyond Rev is an error.
func (s *Store) Compact(rev int64) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	err := s.db.Update(func(btx *bbolt.Tx) error {
		meta := btx.Bucket(bucketMeta)
		cur, compact := getInt(meta, metaRev), getInt(meta, metaCompact)
		if rev > cur {
			return fmt.Errorf("store/bolt: compact to %d: beyond current revision %d", rev, cur)
		}
		if rev <= compact {
			return nil
		}
		return compactLog(btx, compact, rev)
	})
	if err == nil {
		s.logger.Info("store log compacted", "compacted", rev)
	}
	return s.dbErr(err)
}

// compactLog deletes log entries from+1..to and records to as the
// compaction point. The log is contiguous, so it deletes by key.
func compactLog(btx *bbolt.Tx, from, to int64) error {
	lb := btx.Bucket(bucketLog)
	for r := from + 1; r <= to; r++ {
		if err := lb.Delete(u64(r)); err != nil {
			return err
		}
	}
	return btx.Bucket(bucketMeta).Put(metaCompact, u64(to))
}

// dbErr reports a bbolt error, saying ErrClosed when the database was
// closed under a call that had already passed its closed check.
func (s *Store) dbErr(err error) error {
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) && s.closed.Load() {
		return store.ErrClosed
	}
	return err
}

// Watch implements store.Store.
//
// Each watcher is one goroutine that reads the log from disk in batches of
// at most watchBatchChanges changes and sleeps on a broadcast channel while
// it is caught up, so the store never queues changes for a receiver.
func (s *Store) Watch(ctx context.Context, from int64) (<-chan store.Change, error) {
	if from < 0 {
		return nil, fmt.Errorf("store/bolt: watch from negative revision %d", from)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, store.ErrClosed
	}
	s.wg.Add(1) // before unlocking, so Close waits for us
	s.mu.Unlock()

	// Check compaction now, so that the caller gets ErrCompacted from this
	// call rather than a channel that closes at once.
	var compact int64
	err := s.db.View(func(btx *bbolt.Tx) error {
		compact = getInt(btx.Bucket(bucketMeta), metaCompact)
		return nil
	})
	switch {
	case err != nil:
		s.wg.Done()
		return nil, s.dbErr(err)
	case from < compact:
		s.wg.Done()
		return nil, store.ErrCompacted
	}

	ch := make(chan store.Change)
	go s.watch(ctx, from+1, ch)
	return ch, nil
}

// watch sends changes next, next+1, ... on ch until ctx is done, the store
// closes, or the changes it needs have been compacted.
func (s *Store) watch(ctx context.Context, next int64, ch chan<- store.Change) {
	defer s.wg.Done()
	defer close(ch)
	for {
		// Read the revision and the wake-up channel together: a commit
		// after this closes notify, so the wait below cannot miss it.
		s.mu.Lock()
		rev, notify := s.rev.Load(), s.notify
		s.mu.Unlock()

		if next > rev {
			select {
			case <-notify:
				continue
			case <-ctx.Done():
				return
			case <-s.closing:
				return
			}
		}

		batch, err := s.readLog(next)
		if err != nil {
			if errors.Is(err, store.ErrCompacted) {
				s.logger.Warn("store watcher fell behind compaction", "rev", next-1)
			} else {
				s.logger.Error("store watcher failed", "rev", next-1, "err", err)
			}
			return
		}
		for _, c := range batch {
			select {
			case ch <- c:
			case <-ctx.Done():
				return
			case <-s.closing:
				return
			}
		}
		next += int64(len(batch))
	}
}

// readLog returns the changes from revision next on, up to a batch limit.
// The caller knows that next has been committed. It returns
// store.ErrCompacted if next has been discarded.
func (s *Store) readLog(next int64) ([]store.Change, error) {
	var out []store.Change
	err := s.db.View(func(btx *bbolt.Tx) error {
		if next <= getInt(btx.Bucket(bucketMeta), metaCompact) {
			return store.ErrCompacted
		}
		c := btx.Bucket(bucketLog).Cursor()
		size := 0
		for k, v := c.Seek(u64(next)); k != nil; k, v = c.Next() {
			want := next + int64(len(out))
			if revOf(k) != want {
				return fmt.Errorf("store/bolt: log has %d where %d belongs", revOf(k), want)
			}
			evs, err := decodeEvents(v)
			if err != nil {
				return fmt.Errorf("store/bolt: log record %d: %w", want, err)
			}
			out = append(out, store.Change{Rev: want, Events: evs})
			if size += len(v); len(out) >= watchBatchChanges || size >= watchBatchBytes {
				break
			}
		}
		if len(out) == 0 {
			return fmt.Errorf("store/bolt: log record %d missing", next)
		}
		return nil
	})
	return out, err
}

// tx implements store.Tx on a bbolt transaction.
type tx struct {
	btx      *bbolt.Tx
	kv       *bbolt.Bucket
	rev      int64
	writable bool
	ended    bool
	scanning int // depth of Scan callbacks; writes are refused inside

	// writes holds the final state of every key written in an Update,
	// from which the Change is built; nil in View.
	writes map[string]*write
}

type write struct {
	val     []byte // the copy that was handed to bbolt; nil if deleted
	deleted bool
	existed bool // whether the key existed before this transaction
}

func newTx(btx *bbolt.Tx, writable bool) *tx {
	t := &tx{
		btx:      btx,
		kv:       btx.Bucket(bucketKV),
		rev:      getInt(btx.Bucket(bucketMeta), metaRev),
		writable: writable,
	}
	if writable {
		t.writes = make(map[string]*write)
	}
	return t
}

// end marks the transaction as finished; later use is a bug in the caller
// and panics rather than touching a closed bbolt transaction.
func (t *tx) end() { t.ended = true }

func (t *tx) check() {
	if t.ended {
		panic("store/bolt: Tx used after its View or Update returned")
	}
}

func (t *tx) checkWrite() error {
	t.check()
	switch {
	case !t.writable:
		return errReadOnly
	case t.scanning > 0:
		return errWriteDuringScan
	}
	return nil
}

func (t *tx) Rev() int64 {
	t.check()
	return t.rev
}

// lookup returns the stored value without copying. It tells an empty value
// from a missing key, which bbolt's Bucket.Get does not promise to do.
func (t *tx) lookup(key string) ([]byte, bool) {
	k, v := t.kv.Cursor().Seek([]byte(key))
	if k == nil || string(k) != key {
		return nil, false
	}
	return v, true
}

func (t *tx) Get(key string) ([]byte, bool) {
	t.check()
	v, ok := t.lookup(key)
	if !ok {
		return nil, false
	}
	return append([]byte{}, v...), true
}

func (t *tx) Put(key string, val []byte) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	if key == "" {
		return errEmptyKey
	}
	w, seen := t.writes[key]
	if !seen {
		_, existed := t.lookup(key)
		w = &write{existed: existed}
	}
	// bbolt needs the value to stay unchanged until commit; the caller may
	// reuse val. The same copy goes into the Change.
	v := append([]byte{}, val...)
	if err := t.kv.Put([]byte(key), v); err != nil {
		return fmt.Errorf("store/bolt: put %q: %w", key, err)
	}
	w.val, w.deleted = v, false
	t.writes[key] = w
	return nil
}

func (t *tx) Delete(key string) error {
	if err := t.checkWrite(); err != nil {
		return err
	}
	w, seen := t.writes[key]
	switch {
	case seen && w.deleted:
		return nil
	case !seen:
		if _, ok := t.lookup(key); !ok {
			return nil // missing: not an error, and not a change
		}
		w = &write{existed: true}
	}
	if err := t.kv.Delete([]byte(key)); err != nil {
		return fmt.Errorf("store/bolt: delete %q: %w", key, err)
	}
	w.val, w.deleted = nil, true
	t.writes[key] = w
	return nil
}

func (t *tx) Scan(prefix, after string, fn func(key string, val []byte) bool) error {
	t.check()
	t.scanning++
	defer func() { t.scanning-- }()

	start := prefix
	if after > prefix {
		start = after
	}
	c := t.kv.Cursor()
	k, v := c.Seek([]byte(start))
	if after != "" && k != nil && string(k) == after {
		k, v = c.Next()
	}
	p := []byte(prefix)
	for ; k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if !fn(string(k), v) {
			break
		}
	}
	return nil
}

// events returns the net effect of the transaction, sorted by key: one
// event per key, leaving out keys that were created and deleted again.
func (t *tx) events() []store.Event {
	keys := make([]string, 0, len(t.writes))
	for k, w := range t.writes {
		if w.deleted && !w.existed {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	evs := make([]store.Event, len(keys))
	for i, k := range keys {
		w := t.writes[k]
		evs[i] = store.Event{Key: k, Value: w.val, Deleted: w.deleted}
	}
	return evs
}

// encodeEvents encodes a log record; see the package doc for the format.
func encodeEvents(evs []store.Event) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, e := range evs {
		n += 1 + 2*binary.MaxVarintLen64 + len(e.Key) + len(e.Value)
	}
	b := make([]byte, 0, n)
	b = append(b, recordFormat)
	b = binary.AppendUvarint(b, uint64(len(evs)))
	for _, e := range evs {
		if e.Deleted {
			b = append(b, eventDelete)
		} else {
			b = append(b, eventPut)
		}
		b = binary.AppendUvarint(b, uint64(len(e.Key)))
		b = append(b, e.Key...)
		if !e.Deleted {
			b = binary.AppendUvarint(b, uint64(len(e.Value)))
			b = append(b, e.Value...)
		}
	}
	return b
}

// decodeEvents decodes a log record into freshly allocated events (the
// input is bbolt's memory map and must not be retained).
func decodeEvents(b []byte) ([]store.Event, error) {
	errCorrupt := errors.New("corrupt record")
	if len(b) == 0 || b[0] != recordFormat {
		return nil, errCorrupt
	}
	b = b[1:]
	// bytesOf reads a length-prefixed byte string.
	bytesOf := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, false
		}
		s := b[n : n+int(l)]
		b = b[n+int(l):]
		return s, true
	}
	count, n := binary.Uvarint(b)
	// Every event takes at least two bytes, which bounds count before we
	// allocate for it.
	if n <= 0 || count > uint64(len(b)-n)/2 {
		return nil, errCorrupt
	}
	b = b[n:]
	evs := make([]store.Event, count)
	for i := range evs {
		if len(b) == 0 || b[0] > eventDelete {
			return nil, errCorrupt
		}
		kind := b[0]
		b = b[1:]
		key, ok := bytesOf()
		if !ok {
			return nil, errCorrupt
		}
		evs[i].Key = string(key)
		if kind == eventDelete {
			evs[i].Deleted = true
			continue
		}
		val, ok := bytesOf()
		if !ok {
			return nil, errCorrupt
		}
		evs[i].Value = append([]byte{}, val...)
	}
	if len(b) != 0 {
		return nil, errCorrupt
	}
	return evs, nil
}

func u64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func revOf(k []byte) int64 {
	if len(k) != 8 {
		return -1
	}
	return int64(binary.BigEndian.Uint64(k))
}

func getInt(b *bbolt.Bucket, key []byte) int64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}
