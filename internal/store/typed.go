package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// The typed helpers store a service's record type T as JSON, so records stay readable with bbolt's tools
// and a field added to T later decodes from old records as its zero value.

// mutateAttempts bounds Mutate's retries. Each conflict means another writer committed, so running out
// takes sustained contention on one record; the caller then gets the ErrConflict.
const mutateAttempts = 64

// Get reads the record under key and decodes its value into a T.
func Get[T any](ctx context.Context, s Store, key Key) (T, Record, error) {
	var v T
	rec, err := s.Get(ctx, key)
	if err != nil {
		return v, rec, err
	}
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		return v, rec, fmt.Errorf("store: decode %s: %w", key, err)
	}
	return v, rec, nil
}

// List reads the records under prefix, ordered by ID, and decodes each into a T. The i-th record is the
// i-th value's.
func List[T any](ctx context.Context, s Store, prefix Prefix) ([]T, []Record, error) {
	recs, err := s.List(ctx, prefix)
	if err != nil {
		return nil, nil, err
	}
	vs := make([]T, len(recs))
	for i := range recs {
		if err := json.Unmarshal(recs[i].Value, &vs[i]); err != nil {
			return nil, nil, fmt.Errorf("store: decode %s: %w", recs[i].Key, err)
		}
	}
	return vs, recs, nil
}

// Create writes v under key when no record is there, and returns the new revision. When one is, the error
// wraps ErrExists (which matches ErrConflict too).
func Create[T any](ctx context.Context, s Store, key Key, v T) (int64, error) {
	op, err := PutOp(key, v, Absent)
	if err != nil {
		return 0, err
	}
	return s.Txn(ctx, op)
}

// Update writes v under key when the record's ModRevision is still rev (or unconditionally with Any), and
// returns the new revision. A stale rev is ErrConflict: read again and redo the change, or use Mutate.
func Update[T any](ctx context.Context, s Store, key Key, rev int64, v T) (int64, error) {
	op, err := PutOp(key, v, rev)
	if err != nil {
		return 0, err
	}
	return s.Txn(ctx, op)
}

// Mutate reads the record under key, applies fn to its value and writes it back if nobody wrote it in
// between, retrying from a fresh read when somebody did; fn may therefore run more than once and must only
// change the value it is given. An error from fn aborts with nothing written and is returned as is; an
// absent record is ErrNotFound. It returns the value as written.
func Mutate[T any](ctx context.Context, s Store, key Key, fn func(*T) error) (T, error) {
	var zero T
	var err error
	for range mutateAttempts {
		var v T
		var rec Record
		if v, rec, err = Get[T](ctx, s, key); err != nil {
			return zero, err
		}
		if err = fn(&v); err != nil {
			return zero, err
		}
		if _, err = Update(ctx, s, key, rec.ModRevision, v); err == nil {
			return v, nil
		}
		if !errors.Is(err, ErrConflict) {
			return zero, err
		}
	}
	return zero, fmt.Errorf("store: mutate %s: gave up after %d attempts: %w", key, mutateAttempts, err)
}

// PutOp is the Op that writes v under key when its ModRevision is expect (Any, Absent or a revision), for
// transactions that write several records at once.
func PutOp[T any](key Key, v T, expect int64) (Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Op{}, fmt.Errorf("store: encode %s: %w", key, err)
	}
	return Op{Key: key, Value: b, Expect: expect}, nil
}

// DeleteOp is the Op that deletes the record under key when its ModRevision is expect (Any or a revision).
func DeleteOp(key Key, expect int64) Op {
	return Op{Key: key, Delete: true, Expect: expect}
}

// Delete deletes the record under key when its ModRevision is expect (Any or a revision), and returns the
// new revision. An absent record is ErrNotFound.
func Delete(ctx context.Context, s Store, key Key, expect int64) (int64, error) {
	return s.Txn(ctx, DeleteOp(key, expect))
}
