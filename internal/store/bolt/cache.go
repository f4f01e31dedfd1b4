package bolt

import (
	"sync"
	"sync/atomic"

	"github.com/overcast-cloud/overcast/internal/store"
)

// cacheLimit bounds the read cache; past it the cache starts over, which costs only re-reads.
const cacheLimit = 1 << 16

// readCache keeps recent records in memory so that hot reads (access keys and policies on every request)
// skip a bbolt transaction and a decode. Fills race with commits; a fill only lands when no commit moved the
// revision since the read began, and commits update the cache and the revision under the same lock, so a
// stale read can never overwrite a newer write.
type readCache struct {
	mu      sync.RWMutex
	records map[string]store.Record
}

func (c *readCache) get(key []byte) (store.Record, bool) {
	c.mu.RLock()
	rec, ok := c.records[string(key)]
	c.mu.RUnlock()
	if !ok {
		return store.Record{}, false
	}
	rec.Value = append([]byte(nil), rec.Value...) // callers own what they get
	return rec, true
}

// fill caches a record read at revision seen, unless a commit has happened since.
func (c *readCache) fill(key []byte, rec store.Record, seen int64, rev *atomic.Int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev.Load() != seen {
		return
	}
	c.put(string(key), rec)
}

// commit applies a committed batch to the cache and publishes the new revision.
func (c *readCache) commit(batch []*request, newRev int64, rev *atomic.Int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range batch {
		if r.err != nil {
			continue
		}
		for i, ev := range r.events {
			if ev.Type == store.EventDelete {
				delete(c.records, string(r.keys[i]))
				continue
			}
			c.put(string(r.keys[i]), ev.Record)
		}
	}
	rev.Store(newRev)
}

func (c *readCache) put(key string, rec store.Record) {
	if c.records == nil || len(c.records) >= cacheLimit {
		c.records = make(map[string]store.Record, 1024)
	}
	c.records[key] = rec
}
