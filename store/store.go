// Package store defines the durable state of the Isthmus control plane: a
// transactional key-value store with a revisioned change feed.
//
// The package owns the contract only. Backends live in subpackages
// (store/bolt for a single embedded node; an etcd backend can follow) and
// every backend must pass the conformance suite in store/storetest.
//
// The model is deliberately the same as etcd's v3 MVCC store, reduced to
// what a level-based control plane needs:
//
//   - Every committed Update that changes something gets the next revision
//     (1, 2, 3, ...). Revisions never repeat and have no gaps.
//   - Each revision is recorded as one Change listing the keys it wrote,
//     so a reconciler can Watch from the revision it last saw and get
//     every change since, in order, exactly once.
//   - The change log is bounded; a watcher that asks for a revision that
//     has been discarded gets ErrCompacted and resyncs from a snapshot.
//
// The resync pattern, which is also how a component starts up:
//
//	var rev int64
//	err := s.View(func(tx store.Tx) error {
//		rev = tx.Rev() // the revision of exactly this snapshot
//		return tx.Scan("vpc/", "", func(k string, v []byte) bool {
//			load(k, v)
//			return true
//		})
//	})
//	...
//	ch, err := s.Watch(ctx, rev) // every change after the snapshot
//
// Keys are strings ordered bytewise; callers build hierarchies with a "/"
// separator and use Scan with a prefix. Values are opaque bytes.
package store

import (
	"context"
	"errors"
)

var (
	// ErrCompacted is returned by Watch when the requested revision is older
	// than the oldest one retained in the change log. The caller must resync
	// with View (reading Tx.Rev in the same transaction) and watch from the
	// revision it read.
	ErrCompacted = errors.New("store: revision compacted")

	// ErrClosed is returned by every operation on a store after Close.
	ErrClosed = errors.New("store: closed")
)

// Store is a transactional key-value store with a change feed. Keys are
// strings ordered bytewise; values are opaque bytes.
//
// A Store is safe for concurrent use by many goroutines. The functions
// passed to View and Update must not call back into the same Store (a
// nested Update deadlocks) and must not retain the Tx after they return.
type Store interface {
	// View runs fn in a read-only transaction that sees a consistent
	// snapshot: the state as of Tx.Rev, unaffected by concurrent Updates.
	// View returns the error fn returns, unchanged.
	View(fn func(Tx) error) error

	// Update runs fn in a read-write transaction.
	//
	// If fn returns nil, the writes commit atomically and durably (they
	// survive a crash or kill -9 once Update has returned) and Update
	// returns the new revision. The revision increases by exactly 1 per
	// committed Update that wrote something; an Update that wrote nothing
	// (including one that only deleted missing keys, or created and then
	// deleted a key) returns the current revision and records no Change.
	//
	// If fn returns an error, nothing is written, no revision is used, no
	// Change is recorded, and Update returns 0 and that error unchanged, so
	// callers can errors.Is / errors.As it. The same holds if fn panics
	// (the panic propagates).
	//
	// Updates are serialised. fn should be short and must have no side
	// effects outside tx: backends built on optimistic concurrency (etcd)
	// may run fn more than once; store/bolt runs it exactly once.
	Update(fn func(Tx) error) (rev int64, err error)

	// Watch delivers every committed Change with Rev > from, in revision
	// order and exactly once each: first the ones already in the log, then
	// live ones as they commit. The channel is closed when ctx is done or
	// the store is closed.
	//
	// Watch(ctx, 0) replays the whole history; it returns ErrCompacted if
	// any of the log was ever compacted. Watch returns ErrCompacted if from
	// is older than the oldest retained revision. A from in the future is
	// allowed: delivery starts once the store passes it.
	//
	// The store never buffers on behalf of a slow receiver: changes are
	// read from the log on demand, so an unread channel costs nothing but
	// log retention. A receiver that falls so far behind that the
	// revisions it still needs are compacted has its channel closed; a new
	// Watch from the last revision it received then returns ErrCompacted.
	// So the usual pattern is: when the channel closes and ctx is not done,
	// Watch again from the last Rev received, and resync on ErrCompacted.
	//
	// The Events of a delivered Change are owned by the receiver.
	Watch(ctx context.Context, from int64) (<-chan Change, error)

	// Rev returns the revision of the last commit (0 for an empty store).
	// It may briefly lag a concurrent Update's commit; to pair a revision
	// with data, use Tx.Rev inside View.
	Rev() int64

	// Close waits for in-flight transactions, closes every Watch channel
	// and releases the store. Later calls on the store return ErrClosed;
	// calling Close again returns nil.
	Close() error
}

// Tx is a transaction passed to the function given to View or Update. It is
// valid only until that function returns and must not be used from another
// goroutine concurrently.
type Tx interface {
	// Get returns a copy of the value stored under key, or ok=false if
	// there is none. In Update it sees the transaction's own writes.
	Get(key string) (val []byte, ok bool)

	// Put stores a copy of val under key. An empty key is an error. Put in
	// a View transaction, or from inside a Scan callback, is an error.
	Put(key string, val []byte) error

	// Delete removes key. A missing key is not an error (and is not a
	// change). Like Put, it fails in View and inside a Scan callback.
	Delete(key string) error

	// Scan calls fn for each key with the given prefix, in key order,
	// starting strictly after `after` when it is non-empty (to resume a
	// paginated listing). fn returns false to stop. The value passed to fn
	// is valid only during that call; copy it to keep it. fn must not call
	// Put or Delete. In Update, Scan sees the transaction's own writes.
	Scan(prefix, after string, fn func(key string, val []byte) bool) error

	// Rev is the revision this transaction reads. In Update it is the
	// revision before this commit; the commit, if any, gets Rev()+1.
	Rev() int64
}

// Change is one committed revision as delivered by Watch.
type Change struct {
	Rev int64
	// Events has one entry per key the revision changed, sorted by key.
	// Multiple writes to one key within an Update collapse into the last.
	Events []Event
}

// Event is the final state of one key in a Change.
type Event struct {
	Key string
	// Value is the new value, or nil when Deleted. A put of an empty value
	// has a non-nil, empty Value.
	Value   []byte
	Deleted bool
}
