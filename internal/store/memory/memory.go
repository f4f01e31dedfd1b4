// Package memory is an in-memory store.Store with the same semantics as the embedded bolt store: the fake
// that unit tests of services and controllers use. It runs the same conformance suite; nothing survives
// Close.
package memory

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/internal/core"
)

// Options bound what watches may hold. Zero fields take the defaults (10000 events, 1024 per watcher).
type Options struct {
	// History is how many recent events are kept so a watcher can resume (at least this, at most twice).
	History int
	// WatchBuffer is how many undelivered events a watcher may have before its channel is closed.
	WatchBuffer int
}

// Store is the in-memory store.
type Store struct {
	mu      sync.RWMutex
	records map[string]store.Record // by encoded key
	keys    []string                // encoded keys, sorted: List is a range of it as in bolt
	rev     int64
	hub     *core.Hub
	closed  bool
}

var _ store.Store = (*Store)(nil)

// New returns an empty store with default options.
func New() *Store { return NewWith(Options{}) }

// NewWith returns an empty store.
func NewWith(o Options) *Store {
	if o.History <= 0 {
		o.History = core.DefaultHistory
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = core.DefaultBuffer
	}
	return &Store{records: map[string]store.Record{}, hub: core.NewHub(0, o.History, o.WatchBuffer)}
}

func (s *Store) Get(ctx context.Context, key store.Key) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	k, err := core.EncodeKey(key)
	if err != nil {
		return store.Record{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.Record{}, store.ErrClosed
	}
	rec, ok := s.records[string(k)]
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return cloned(rec), nil
}

func (s *Store) List(ctx context.Context, prefix store.Prefix) ([]store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := core.EncodePrefix(prefix)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	out := []store.Record{}
	i, _ := slices.BinarySearch(s.keys, string(p))
	for ; i < len(s.keys) && strings.HasPrefix(s.keys[i], string(p)); i++ {
		out = append(out, cloned(s.records[s.keys[i]]))
	}
	return out, nil
}

func (s *Store) Txn(ctx context.Context, ops ...store.Op) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	keys, err := core.EncodeOps(ops)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	if len(ops) == 0 {
		return s.rev, nil
	}
	// Check every op before writing any, so a failed Txn leaves no trace.
	for i, op := range ops {
		if err := core.Check(op, s.records[string(keys[i])].ModRevision); err != nil {
			return 0, err
		}
	}
	rev := s.rev + 1
	events := make([]store.Event, len(ops))
	for i, op := range ops {
		k := string(keys[i])
		old, exists := s.records[k]
		if op.Delete {
			old.ModRevision = rev
			events[i] = store.Event{Type: store.EventDelete, Record: old, Revision: rev}
			delete(s.records, k)
			j, _ := slices.BinarySearch(s.keys, k)
			s.keys = slices.Delete(s.keys, j, j+1)
			continue
		}
		rec := store.Record{Key: op.Key, Value: bytes.Clone(op.Value), CreateRevision: rev, ModRevision: rev}
		if rec.Value == nil {
			rec.Value = []byte{}
		}
		if exists {
			rec.CreateRevision = old.CreateRevision
		} else {
			j, _ := slices.BinarySearch(s.keys, k)
			s.keys = slices.Insert(s.keys, j, k)
		}
		s.records[k] = rec
		events[i] = store.Event{Type: store.EventPut, Record: rec, Revision: rev}
	}
	s.rev = rev
	s.hub.Publish(rev, events)
	return rev, nil
}

func (s *Store) Watch(ctx context.Context, prefix store.Prefix, from int64) (<-chan store.Event, error) {
	if _, err := core.EncodePrefix(prefix); err != nil {
		return nil, err
	}
	return s.hub.Watch(ctx, prefix, from)
}

func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.rev, nil
}

func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.hub.Close()
	s.records, s.keys = nil, nil
	return nil
}

// cloned gives the caller a Value of its own, as bolt does by copying out of its map.
func cloned(r store.Record) store.Record {
	r.Value = bytes.Clone(r.Value)
	return r
}
