// Package store keeps Overcast's records: typed values under keys scoped by account and region, with a
// global revision for optimistic concurrency and watch streams for controllers. The embedded implementation
// (store/bolt) is one bbolt file under the data directory; store/memory is the fake unit tests use; both run
// the conformance suite in store/storetest. The interface follows etcd's model (revisions, compare-and-put
// transactions, watches from a revision) so etcd can back it when Overcast spans several hosts.
//
// The store knows nothing about AWS semantics. Services own their record types and use the typed helpers
// (Get, List, Create, Update, Mutate) rather than raw bytes.
package store

import (
	"context"
	"errors"
	"strings"
)

// Key names one record. Region is empty for global resources (IAM, and S3's bucket namespace); Account is
// empty only for records of the whole cloud that no account owns.
type Key struct {
	Account string
	Region  string
	Kind    string // the record type: "iam/user", "s3/bucket", "ec2/instance"
	ID      string // unique within account, region and kind
}

// String renders the key for errors and logs.
func (k Key) String() string {
	return k.Account + "/" + k.Region + "/" + k.Kind + "/" + k.ID
}

// Prefix selects records of one kind by account and region, and optionally by ID prefix.
type Prefix struct {
	Account  string
	Region   string
	Kind     string
	IDPrefix string
	// AllAccounts selects every record of Kind in every account and region; Account, Region and IDPrefix
	// are then ignored. It is for controllers, which reconcile the whole cloud. Services never set it, so
	// that one account never sees another's records.
	AllAccounts bool
}

// Match reports whether key falls under the prefix.
func (p Prefix) Match(k Key) bool {
	if k.Kind != p.Kind {
		return false
	}
	if p.AllAccounts {
		return true
	}
	return k.Account == p.Account && k.Region == p.Region && strings.HasPrefix(k.ID, p.IDPrefix)
}

// Record is a stored value with its revisions.
type Record struct {
	Key            Key
	Value          []byte
	CreateRevision int64 // the store revision that created the record
	ModRevision    int64 // the store revision that last wrote it
}

// Any as an expected revision skips the compare; Absent requires that the record does not exist.
const (
	Any    int64 = -1
	Absent int64 = 0
)

// Op is one write of a transaction.
type Op struct {
	Key    Key
	Value  []byte // ignored with Delete
	Delete bool
	// Expect is the ModRevision the record must have for the transaction to apply: Any, Absent or a revision.
	Expect int64
}

// EventType says what happened to a record.
type EventType int

const (
	EventPut EventType = iota
	EventDelete
)

func (t EventType) String() string {
	if t == EventDelete {
		return "delete"
	}
	return "put"
}

// Event is one change seen by a watch. Events share their Value with other watchers: do not modify it.
type Event struct {
	Type     EventType
	Record   Record // for a delete, the record as it was, with ModRevision set to the delete's revision
	Revision int64
}

// Errors the store returns. Match them with errors.Is.
var (
	ErrNotFound = errors.New("store: record not found")
	ErrConflict = errors.New("store: revision conflict")
	// ErrExists is the conflict of an Absent expectation on a record that exists. It matches ErrConflict too.
	ErrExists = &conflictError{"store: record already exists"}
	// ErrCompacted is returned by Watch when the changes after the requested revision are no longer kept;
	// the watcher must List again and watch from the revision it read before listing.
	ErrCompacted = errors.New("store: revision compacted")
	ErrClosed    = errors.New("store: closed")
)

// conflictError is a refinement of ErrConflict.
type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }
func (e *conflictError) Unwrap() error { return ErrConflict }

// Store is the record store. Implementations are safe for concurrent use.
type Store interface {
	// Get returns the record under key, or ErrNotFound. The caller owns the returned Value.
	Get(ctx context.Context, key Key) (Record, error)
	// List returns the records under prefix, ordered by ID (within each account and region when
	// prefix.AllAccounts). No match is an empty result, not an error.
	List(ctx context.Context, prefix Prefix) ([]Record, error)
	// Txn applies ops atomically when every Expect holds, and returns the new store revision: each Txn that
	// writes bumps the revision by exactly one, and an empty Txn returns the current one. When an Expect
	// does not hold, nothing is written and the error wraps ErrConflict (ErrExists for a failed Absent);
	// deleting an absent record is ErrNotFound. A key may appear only once in a Txn. When Txn returns
	// without error the write is durable.
	Txn(ctx context.Context, ops ...Op) (int64, error)
	// Watch sends every change under prefix with a revision greater than from (0: from now), in revision
	// order, until ctx ends or the store closes. Recent changes are kept so a watcher can resume from the
	// last revision it saw; older ones give ErrCompacted.
	//
	// The channel is buffered. A watcher that falls that far behind has its channel closed rather than
	// slowing writers, so a closed channel while ctx is still live means: List again, and Watch again from
	// the revision read (with Revision) before that List. Level-triggered controllers do this anyway.
	Watch(ctx context.Context, prefix Prefix, from int64) (<-chan Event, error)
	// Revision is the store's current revision: the revision of the last Txn that wrote, 0 for a new store.
	Revision(ctx context.Context) (int64, error)
	// Close releases the store and closes every watch channel. Later calls return ErrClosed; a second Close
	// returns nil.
	Close() error
}
