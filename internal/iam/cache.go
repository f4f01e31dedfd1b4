package iam

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/overcast-cloud/overcast/internal/store"
)

// maxCachedRecords bounds the record cache; past it the cache starts over.
const maxCachedRecords = 8192

// recordCache keeps decoded records by key and the revision they were decoded at. The gateway reads the same
// few records (a key's index, its user, the user's groups and policies) on every request; decoding them each
// time was half of the directory's cost. A record's revision changes with every write, so a hit is never
// stale. Values are shared: the directory only reads them and never hands them out.
type recordCache struct {
	mu sync.RWMutex
	m  map[store.Key]cachedRecord
}

type cachedRecord struct {
	rev int64
	v   any
}

// cached reads the record under key like store.Get, decoding it only when its revision is new to the cache.
// It relies on the typed helpers' encoding, JSON.
func cached[T any](ctx context.Context, d *Directory, key store.Key) (T, store.Record, error) {
	var zero T
	rec, err := d.st.Get(ctx, key)
	if err != nil {
		return zero, rec, err
	}
	d.records.mu.RLock()
	c, ok := d.records.m[key]
	d.records.mu.RUnlock()
	if ok && c.rev == rec.ModRevision {
		if v, ok := c.v.(T); ok {
			return v, rec, nil
		}
	}
	var v T
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		return zero, rec, fmt.Errorf("iam: decode %s: %w", key, err)
	}
	d.records.mu.Lock()
	if d.records.m == nil || len(d.records.m) >= maxCachedRecords {
		d.records.m = make(map[store.Key]cachedRecord)
	}
	d.records.m[key] = cachedRecord{rec.ModRevision, v}
	d.records.mu.Unlock()
	return v, rec, nil
}
