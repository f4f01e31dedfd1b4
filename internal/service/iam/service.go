// Package iam serves the IAM API: users, groups, roles, instance profiles, managed and inline policies,
// access keys and login profiles, with AWS's validation and error codes. It writes the records of
// internal/iam, which the gateway's Directory reads on every request; it evaluates no policy and knows no
// wire protocol.
package iam

import (
	"context"
	"errors"
	"time"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Service implements iamapi.Service; operations it does not override answer NotImplemented.
type Service struct {
	iamapi.Unimplemented
	st  store.Store
	dir *ident.Directory
}

var _ iamapi.Service = (*Service)(nil)

// New returns the IAM service over the directory's store.
func New(dir *ident.Directory) *Service {
	return &Service{st: dir.Store(), dir: dir}
}

func account(ctx context.Context) string { return awsctx.From(ctx).Account }

// now is the creation time of a record; IAM shows whole seconds.
func (s *Service) now() time.Time { return s.dir.Now().UTC().Truncate(time.Second) }

// get reads a record, returning missing when it is absent.
func get[T any](ctx context.Context, st store.Store, key store.Key, missing error) (T, store.Record, error) {
	v, rec, err := store.Get[T](ctx, st, key)
	if errors.Is(err, store.ErrNotFound) {
		return v, rec, missing
	}
	return v, rec, err
}

// mutate applies fn to a record, returning missing when it is absent.
func mutate[T any](ctx context.Context, st store.Store, key store.Key, missing error, fn func(*T) error) (T, error) {
	v, err := store.Mutate(ctx, st, key, fn)
	if errors.Is(err, store.ErrNotFound) {
		return v, missing
	}
	return v, err
}

// create writes a new record, returning exists when one is there.
func create[T any](ctx context.Context, st store.Store, key store.Key, v T, exists error) error {
	_, err := store.Create(ctx, st, key, v)
	if errors.Is(err, store.ErrExists) {
		return exists
	}
	return err
}

// conflictAttempts bounds the retries of multi-record writes that lost a race.
const conflictAttempts = 16

// retry runs a read-check-write attempt again while it loses races to other writers.
func retry(fn func() error) error {
	var err error
	for range conflictAttempts {
		err = fn()
		if !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
			return err
		}
	}
	return err
}

// deleteChecked deletes a record once check allows it, returning missing when it is absent.
func deleteChecked[T any](ctx context.Context, st store.Store, key store.Key, missing error, check func(*T) error) error {
	return retry(func() error {
		v, rec, err := get[T](ctx, st, key, missing)
		if err != nil {
			return err
		}
		if err := check(&v); err != nil {
			return err
		}
		_, err = store.Delete(ctx, st, key, rec.ModRevision)
		if errors.Is(err, store.ErrNotFound) {
			return missing
		}
		return err
	})
}

func str(s string) *string { return &s }

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func boolp(b bool) *bool { return &b }

func int32p(n int32) *int32 { return &n }

func timep(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// rootCreated is the creation date shown for the root user, which has no record.
var rootCreated = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// empty is the answer of an operation without output.
func empty(err error) (*wire.Empty, error) {
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}
