// Package s3 is Overcast's S3: buckets, objects and multipart uploads with AWS's semantics. Bucket, object,
// upload and part records live in the store; object and part bytes live as immutable files under
// DataDir/s3, named by ids the records hold (see host/storage/objects). A write streams the body to a
// temporary file, renames it into place, commits the record, and only then removes the file the record
// named before, so a crash leaves at most an unnamed file, which Recover sweeps away at startup.
//
// The package never holds a body in memory and knows nothing of HTTP: the restxml codec fills the typed
// inputs (streaming bodies as io.ReadCloser) and writes the typed outputs.
package s3

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/overcast-cloud/overcast/api/s3"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/host/storage/objects"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Config is what the service needs.
type Config struct {
	Store store.Store
	// DataDir is Overcast's data directory; bodies go under DataDir/s3.
	DataDir string
	// Clock is the time source; nil means time.Now.
	Clock func() time.Time
}

// Service implements api/s3.Service.
type Service struct {
	s3.Unimplemented

	store store.Store
	root  string
	clock func() time.Time

	bodiesOnce sync.Once
	bodies     *objects.Dir
	bodiesErr  error

	// commits guards a bucket's emptiness: writes into a bucket hold it shared while they check that the
	// bucket exists and commit, DeleteBucket holds it exclusively while it checks that the bucket is empty
	// and deletes it. The store has no compare-only operation that could make this one transaction.
	commits sync.RWMutex
}

var _ s3.Service = (*Service)(nil)

// New returns the service. The body directory is created on first use.
func New(cfg Config) *Service {
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Service{store: cfg.Store, root: filepath.Join(cfg.DataDir, "s3"), clock: clock}
}

// dir returns the body directory, creating it the first time.
func (s *Service) dir() (*objects.Dir, error) {
	s.bodiesOnce.Do(func() { s.bodies, s.bodiesErr = objects.Open(s.root) })
	return s.bodies, s.bodiesErr
}

// now is the time a write records. S3 keeps whole seconds: HTTP dates carry no more, and a conditional
// request compares against what the client was shown.
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Second) }

// newID returns a fresh random id with a prefix naming what it is for.
func newID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// newUploadID returns an upload id; AWS's are long URL-safe strings, so are ours.
func newUploadID() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// canonicalID is the S3 canonical user id of an account: 64 hex digits, stable for the account.
func canonicalID(account string) string {
	sum := sha256.Sum256([]byte("overcast-s3-canonical-user:" + account))
	return hex.EncodeToString(sum[:])
}

func owner(account string) *s3.Owner { return &s3.Owner{ID: ptr(canonicalID(account))} }

// initiatorOf is who starts a multipart upload: the calling principal, or the account when there is none.
func initiatorOf(ctx context.Context) initiator {
	r := awsctx.From(ctx)
	if p := r.Principal; p != nil && p.ARN != "" {
		return initiator{ID: p.ARN, DisplayName: p.Name}
	}
	return initiator{ID: canonicalID(r.Account)}
}

// txnInBucket commits ops that add records inside bucket, failing with NoSuchBucket when the bucket is gone.
func (s *Service) txnInBucket(ctx context.Context, bucket string, ops ...store.Op) error {
	s.commits.RLock()
	defer s.commits.RUnlock()
	if _, err := s.store.Get(ctx, bucketKey(bucket)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNoSuchBucket(bucket)
		}
		return err
	}
	_, err := s.store.Txn(ctx, ops...)
	return err
}

// retries bounds the optimistic loops that redo a read-check-commit when another writer won the race.
const retries = 64

func errGaveUp(what string, err error) error {
	return fmt.Errorf("s3: %s: gave up after %d attempts: %w", what, retries, err)
}

func ptr[T any](v T) *T { return &v }

func val[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// nonEmpty is a pointer to v, or nil when v is empty, for optional output members.
func nonEmpty(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}
