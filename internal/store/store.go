// Package store keeps Overcast's records: typed values under keys scoped by account and region, with a
// global revision for optimistic concurrency and watch streams for controllers. The embedded implementation
// is one bbolt file under the data directory; the interface follows etcd's model (revisions, compare-and-put
// transactions, watches from a revision) so etcd can back it when Overcast spans several hosts.
//
// The store knows nothing about AWS semantics. Services own their record types.
package store

import (
	"context"
	"errors"
)

// Key names one record. Region is empty for global resources (IAM, and S3's bucket namespace).
type Key struct {
	Account string
	Region  string
	Kind    string // the record type: "iam/user", "s3/bucket", "ec2/instance"
	ID      string // unique within account, region and kind
}

// Prefix selects records by account, region and kind, and optionally by ID prefix.
type Prefix struct {
	Account  string
	Region   string
	Kind     string
	IDPrefix string
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
	Value  []byte // nil with Delete
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

// Event is one change seen by a watch.
type Event struct {
	Type     EventType
	Record   Record // for a delete, the record as it was, with ModRevision set to the delete's revision
	Revision int64
}

// Errors the store returns.
var (
	ErrNotFound = errors.New("store: record not found")
	ErrConflict = errors.New("store: revision conflict")
	ErrClosed   = errors.New("store: closed")
)

// Store is the record store.
type Store interface {
	// Get returns the record under key, or ErrNotFound.
	Get(ctx context.Context, key Key) (Record, error)
	// List returns the records under prefix, ordered by ID.
	List(ctx context.Context, prefix Prefix) ([]Record, error)
	// Txn applies ops atomically when every Expect holds, and returns the new store revision. When one does
	// not hold, nothing is written and the error wraps ErrConflict; deleting an absent record is ErrNotFound.
	Txn(ctx context.Context, ops ...Op) (int64, error)
	// Watch sends every change under prefix after revision from (0: from now) until ctx ends.
	Watch(ctx context.Context, prefix Prefix, from int64) (<-chan Event, error)
	// Revision is the store's current revision.
	Revision(ctx context.Context) (int64, error)
	Close() error
}
