// Package bolt is the embedded store: every record of the cloud in one bbolt file under the data directory,
// locked against a second process. A Txn returns once the bbolt transaction holding it is fsynced, so a write
// acknowledged to a client survives the process being killed; Txns that arrive while a commit is syncing
// share the next one. The watch history lives in memory only: after Open, watchers can resume from the
// revision the file was opened at, and anything older is ErrCompacted.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/internal/core"
)

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("store: data file is in use by another process")

// lockTimeout is how long Open waits for the file lock: long enough to outlast a previous process that is
// exiting, short enough that starting a second server fails at once rather than hanging.
const lockTimeout = time.Second

// The file's layout. Records live in one bucket under core's key layout, each value being its create and
// mod revisions (big-endian) followed by the caller's bytes; the meta bucket holds the store revision.
var (
	recordsBucket = []byte("records")
	metaBucket    = []byte("meta")
	revisionKey   = []byte("revision")
	formatKey     = []byte("format")
)

const (
	format    = 1
	headerLen = 16
)

// Options bound what watches may hold. Zero fields take the defaults (10000 events, 1024 per watcher).
type Options struct {
	// History is how many recent events are kept so a watcher can resume (at least this, at most twice).
	History int
	// WatchBuffer is how many undelivered events a watcher may have before its channel is closed.
	WatchBuffer int
}

// Store is the bbolt-backed store.
type Store struct {
	db  *bbolt.DB
	hub *core.Hub
	rev atomic.Int64 // the committed revision; only the writer moves it
	// cache holds records already read or written: this process is the file's only user (the flock sees to
	// that), so what it committed last is what the file holds.
	cache readCache

	// Txns go to one writer goroutine, which commits and then publishes them, so watchers see revisions
	// in order.
	requests   chan *request
	quit       chan struct{} // closed by Close
	writerDone chan struct{}
	closed     atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store file at path, with default options.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith opens or creates the store file at path. It fails with ErrLocked when another process has it open.
func OpenWith(path string, o Options) (*Store, error) {
	if o.History <= 0 {
		o.History = core.DefaultHistory
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = core.DefaultBuffer
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, FreelistType: bbolt.FreelistMapType})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (lock not acquired within %s)", ErrLocked, path, lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	var rev int64
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(recordsBucket); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		switch f := meta.Get(formatKey); {
		case f == nil:
			if err := meta.Put(formatKey, []byte{format}); err != nil {
				return err
			}
		case len(f) != 1 || f[0] != format:
			return fmt.Errorf("unknown file format %v", f)
		}
		if v := meta.Get(revisionKey); v != nil {
			rev = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{
		db:         db,
		hub:        core.NewHub(rev, o.History, o.WatchBuffer),
		requests:   make(chan *request),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	s.rev.Store(rev)
	go s.write()
	return s, nil
}

func (s *Store) Get(ctx context.Context, key store.Key) (store.Record, error) {
	if err := s.ready(ctx); err != nil {
		return store.Record{}, err
	}
	k, err := core.EncodeKey(key)
	if err != nil {
		return store.Record{}, err
	}
	if rec, ok := s.cache.get(k); ok {
		return rec, nil
	}
	seen := s.rev.Load()
	var rec store.Record
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(recordsBucket).Get(k)
		if v == nil {
			return store.ErrNotFound
		}
		rec = decodeRecord(key, v)
		return nil
	})
	if err == nil {
		s.cache.fill(k, rec, seen, &s.rev)
	}
	return rec, fromBolt(err)
}

func (s *Store) List(ctx context.Context, prefix store.Prefix) ([]store.Record, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	p, err := core.EncodePrefix(prefix)
	if err != nil {
		return nil, err
	}
	out := []store.Record{}
	err = s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(recordsBucket).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			key, err := core.DecodeKey(k)
			if err != nil {
				return err
			}
			out = append(out, decodeRecord(key, v))
		}
		return nil
	})
	if err != nil {
		return nil, fromBolt(err)
	}
	return out, nil
}

func (s *Store) Txn(ctx context.Context, ops ...store.Op) (int64, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	keys, err := core.EncodeOps(ops)
	if err != nil {
		return 0, err
	}
	if len(ops) == 0 {
		return s.rev.Load(), nil
	}
	r := &request{ops: ops, keys: keys, done: make(chan struct{})}
	select {
	case s.requests <- r:
	case <-s.quit:
		return 0, store.ErrClosed
	}
	// Once queued, the Txn is waited for even if ctx ends: returning early would leave the caller not
	// knowing whether a write it abandoned was made.
	<-r.done
	return r.rev, r.err
}

// request is one Txn queued for the writer.
type request struct {
	ops    []store.Op
	keys   [][]byte
	rev    int64
	events []store.Event
	err    error
	done   chan struct{}
}

// maxBatch bounds how many Txns share one bbolt commit.
const maxBatch = 256

// write is the only writer. It takes every Txn queued while the previous commit was syncing and commits
// them together, so concurrent writers share one fsync instead of queueing for one each; each Txn still
// gets its own revision and its compares hold or fail on their own.
func (s *Store) write() {
	defer close(s.writerDone)
	for {
		var batch []*request
		select {
		case r := <-s.requests:
			batch = append(batch, r)
		case <-s.quit:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.requests:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

// errNoWrite rolls back a batch in which every Txn failed its compares: there is nothing to sync.
var errNoWrite = errors.New("no write")

func (s *Store) commit(batch []*request) {
	rev := s.rev.Load()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		for _, r := range batch {
			if r.err = check(b, r); r.err != nil {
				continue
			}
			rev++
			if err := apply(b, r, rev); err != nil {
				return err
			}
		}
		if rev == s.rev.Load() {
			return errNoWrite
		}
		return tx.Bucket(metaBucket).Put(revisionKey, binary.BigEndian.AppendUint64(nil, uint64(rev)))
	})
	if err != nil && err != errNoWrite {
		// The bbolt transaction rolled back, and with it whatever the compares of later Txns had seen.
		for _, r := range batch {
			r.err, r.rev, r.events = fmt.Errorf("store: commit: %w", fromBolt(err)), 0, nil
		}
	} else {
		s.cache.commit(batch, rev, &s.rev)
		for _, r := range batch {
			if r.err == nil {
				s.hub.Publish(r.rev, r.events)
			}
		}
	}
	for _, r := range batch {
		close(r.done)
	}
}

// check applies every Expect of r before anything of r is written, so a failed Txn leaves no trace even
// though its batch commits.
func check(b *bbolt.Bucket, r *request) error {
	for i, op := range r.ops {
		var have int64
		if old := b.Get(r.keys[i]); old != nil {
			have = int64(binary.BigEndian.Uint64(old[8:headerLen]))
		}
		if err := core.Check(op, have); err != nil {
			return err
		}
	}
	return nil
}

// apply writes r's ops at rev and records their events.
func apply(b *bbolt.Bucket, r *request, rev int64) error {
	r.rev = rev
	r.events = make([]store.Event, len(r.ops))
	for i, op := range r.ops {
		old := b.Get(r.keys[i])
		if op.Delete {
			rec := decodeRecord(op.Key, old)
			rec.ModRevision = rev
			r.events[i] = store.Event{Type: store.EventDelete, Record: rec, Revision: rev}
			if err := b.Delete(r.keys[i]); err != nil {
				return err
			}
			continue
		}
		created := rev
		if old != nil {
			created = int64(binary.BigEndian.Uint64(old[:8]))
		}
		v := make([]byte, headerLen+len(op.Value))
		binary.BigEndian.PutUint64(v, uint64(created))
		binary.BigEndian.PutUint64(v[8:], uint64(rev))
		copy(v[headerLen:], op.Value)
		if err := b.Put(r.keys[i], v); err != nil {
			return err
		}
		// v is ours, not bbolt's memory map, so the event may keep it after the transaction.
		r.events[i] = store.Event{Type: store.EventPut, Revision: rev,
			Record: store.Record{Key: op.Key, Value: v[headerLen:], CreateRevision: created, ModRevision: rev}}
	}
	return nil
}

func (s *Store) Watch(ctx context.Context, prefix store.Prefix, from int64) (<-chan store.Event, error) {
	if _, err := core.EncodePrefix(prefix); err != nil {
		return nil, err
	}
	return s.hub.Watch(ctx, prefix, from)
}

func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	return s.rev.Load(), nil
}

// Close waits for the commit in progress, closes every watch and releases the file and its lock.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.quit)
	<-s.writerDone
	s.hub.Close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

func (s *Store) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// fromBolt maps bbolt's error for a read racing Close to ours.
func fromBolt(err error) error {
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// decodeRecord copies a record out of bbolt's memory map, which is only valid inside the transaction.
func decodeRecord(key store.Key, v []byte) store.Record {
	return store.Record{
		Key:            key,
		Value:          append([]byte{}, v[headerLen:]...),
		CreateRevision: int64(binary.BigEndian.Uint64(v[:8])),
		ModRevision:    int64(binary.BigEndian.Uint64(v[8:headerLen])),
	}
}
