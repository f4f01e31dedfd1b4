package core

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/overcast-cloud/overcast/internal/store"
)

// Defaults for the watch hub: how many recent events are kept for resuming watchers, and how many
// undelivered events a watcher may have before it is dropped.
const (
	DefaultHistory = 10000
	DefaultBuffer  = 1024
)

// Hub fans committed changes out to watchers and keeps a bounded history of recent events so a watcher can
// resume from a revision it has seen. Its owner publishes each transaction's events once, in revision order.
type Hub struct {
	mu        sync.Mutex
	rev       int64 // the last published revision
	compacted int64 // history holds every event with a revision greater than this
	history   []store.Event
	limit     int
	buffer    int
	watchers  map[*watcher]struct{}
	closed    bool
}

type watcher struct {
	prefix store.Prefix
	from   int64 // a watch may start ahead of the store: nothing at or before from is sent
	ch     chan store.Event
	stop   func() bool // detaches the context callback
}

// NewHub makes a hub for a store at revision rev, with no history before it. It keeps at least limit and
// at most twice limit recent events; each watcher may lag buffer events behind.
func NewHub(rev int64, limit, buffer int) *Hub {
	return &Hub{rev: rev, compacted: rev, limit: limit, buffer: buffer, watchers: map[*watcher]struct{}{}}
}

// Publish hands the events of the transaction committed at rev to matching watchers, never blocking: a
// watcher whose buffer is full is dropped and its channel closed.
func (h *Hub) Publish(rev int64, events []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.rev = rev
	h.history = append(h.history, events...)
	h.trim()
next:
	for w := range h.watchers {
		for _, e := range events {
			if e.Revision <= w.from || !w.prefix.Match(e.Record.Key) {
				continue
			}
			select {
			case w.ch <- e:
			default:
				h.drop(w)
				continue next
			}
		}
	}
}

// trim lets the history grow to twice its limit before cutting it back, so the copy is amortised, and cuts
// only between revisions, so a resumed watcher never sees half a transaction.
func (h *Hub) trim() {
	if len(h.history) <= 2*h.limit {
		return
	}
	cut := len(h.history) - h.limit
	for cut < len(h.history) && h.history[cut].Revision == h.history[cut-1].Revision {
		cut++
	}
	h.compacted = h.history[cut-1].Revision
	kept := make([]store.Event, len(h.history)-cut, 2*h.limit+1)
	copy(kept, h.history[cut:])
	h.history = kept
}

// Watch registers a watcher for changes under p after revision from (0: after the last published one).
func (h *Hub) Watch(ctx context.Context, p store.Prefix, from int64) (<-chan store.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if from < 0 {
		return nil, fmt.Errorf("store: watch from revision %d: negative", from)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, store.ErrClosed
	}
	if from == 0 {
		from = h.rev
	}
	if from < h.compacted {
		return nil, fmt.Errorf("store: watch from revision %d: only changes after %d are kept: %w", from, h.compacted, store.ErrCompacted)
	}
	i := sort.Search(len(h.history), func(i int) bool { return h.history[i].Revision > from })
	var backlog []store.Event
	for _, e := range h.history[i:] {
		if p.Match(e.Record.Key) {
			backlog = append(backlog, e)
		}
	}
	// The backlog gets room of its own so that resuming never counts as falling behind.
	w := &watcher{prefix: p, from: from, ch: make(chan store.Event, h.buffer+len(backlog))}
	for _, e := range backlog {
		w.ch <- e
	}
	h.watchers[w] = struct{}{}
	w.stop = context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.watchers[w]; ok {
			h.drop(w)
		}
	})
	return w.ch, nil
}

// drop unregisters w and closes its channel; h.mu is held.
func (h *Hub) drop(w *watcher) {
	delete(h.watchers, w)
	w.stop()
	close(w.ch)
}

// Close drops every watcher and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for w := range h.watchers {
		h.drop(w)
	}
	h.history = nil
}
