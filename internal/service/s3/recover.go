package s3

import (
	"context"

	"github.com/overcast-cloud/overcast/internal/store"
)

// Recover removes what a crash can leave on disk: temporary files of writes in flight, and bodies written
// before a crash kept their record from being committed (or after the commit that replaced them, before
// their removal). Records are never touched: a body is kept exactly when an object or part record names
// it. Call it once at startup, before the service takes requests, since a write in flight has a body that
// no record names yet.
func (s *Service) Recover(ctx context.Context) error {
	dir, err := s.dir()
	if err != nil {
		return err
	}
	// The sweep is of the whole data directory, so it reads the records of every account, as a controller
	// does; nothing of them reaches a caller.
	named := map[string]bool{}
	objs, _, err := store.List[objectRecord](ctx, s.store, store.Prefix{Kind: kindObject, AllAccounts: true})
	if err != nil {
		return err
	}
	for _, o := range objs {
		named[o.Body] = true
	}
	parts, _, err := store.List[partRecord](ctx, s.store, store.Prefix{Kind: kindPart, AllAccounts: true})
	if err != nil {
		return err
	}
	for _, p := range parts {
		named[p.Body] = true
	}
	_, err = dir.Sweep(func(id string) bool { return named[id] })
	return err
}
