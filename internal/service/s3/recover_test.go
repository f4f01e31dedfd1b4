package s3

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/overcast-cloud/overcast/api/s3"
)

func TestRestartKeepsEverything(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	e.put("bkt", "k", "persisted")
	id := e.createUpload("bkt", "big")
	etag := e.uploadPart("bkt", "big", id, 1, strings.NewReader("part one"))

	e.svc = e.restart()
	if err := e.svc.Recover(e.ctx()); err != nil {
		t.Fatal(err)
	}
	if got := e.get("bkt", "k"); got != "persisted" {
		t.Errorf("object after restart: %q", got)
	}
	buckets, err := e.svc.ListBuckets(e.ctx(), &s3.ListBucketsRequest{})
	if err != nil || len(buckets.Buckets) != 1 {
		t.Errorf("buckets after restart: %+v, %v", buckets, err)
	}
	// The upload goes on where it was.
	if _, err := e.svc.CompleteMultipartUpload(e.ctx(), &s3.CompleteMultipartUploadRequest{Bucket: str("bkt"), Key: str("big"),
		UploadId: &id, MultipartUpload: completed(etag)}); err != nil {
		t.Fatal(err)
	}
	if got := e.get("bkt", "big"); got != "part one" {
		t.Errorf("completed after restart: %q", got)
	}
}

func TestRecoverRemovesOrphans(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	e.put("bkt", "k", "kept")
	id := e.createUpload("bkt", "big")
	e.uploadPart("bkt", "big", id, 1, strings.NewReader("kept part"))
	kept := e.bodies()

	// What a crash leaves: a body renamed into place whose record was never committed, and a temporary file
	// of a write in flight.
	s3dir := filepath.Join(e.dir, "s3")
	for _, f := range []string{filepath.Join(s3dir, "o0123456789abcdef0123456789abcdef"), filepath.Join(s3dir, ".tmp", "body-123")} {
		if err := os.WriteFile(f, []byte("orphan"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	e.svc = e.restart()
	if err := e.svc.Recover(e.ctx()); err != nil {
		t.Fatal(err)
	}
	if got := e.bodies(); !slices.Equal(got, kept) || len(e.tmp()) != 0 {
		t.Errorf("after Recover: bodies %v (want %v), tmp %v", got, kept, e.tmp())
	}
	if got := e.get("bkt", "k"); got != "kept" {
		t.Errorf("object %q", got)
	}
}

// TestConcurrentWrites races overwrites, reads and part uploads; every read must see one whole version and
// no body file may be left over.
func TestConcurrentWrites(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	e.put("bkt", "k", "v-init")
	id := e.createUpload("bkt", "mp")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 8 {
		wg.Add(3)
		go func() {
			defer wg.Done()
			_, err := e.svc.PutObject(e.ctx(), &s3.PutObjectRequest{Bucket: str("bkt"), Key: str("k"),
				Body: io.NopCloser(strings.NewReader(fmt.Sprintf("v-%d", i)))})
			if err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			out, err := e.svc.GetObject(e.ctx(), &s3.GetObjectRequest{Bucket: str("bkt"), Key: str("k")})
			if err != nil {
				errs <- err
				return
			}
			defer out.Body.Close()
			b, _ := io.ReadAll(out.Body)
			if !strings.HasPrefix(string(b), "v-") || val(out.ETag) != `"`+md5hex(string(b))+`"` {
				errs <- fmt.Errorf("read %q with ETag %s", b, val(out.ETag))
			}
		}()
		go func() {
			defer wg.Done()
			n := int32(i%3 + 1)
			_, err := e.svc.UploadPart(e.ctx(), &s3.UploadPartRequest{Bucket: str("bkt"), Key: str("mp"), UploadId: &id,
				PartNumber: &n, Body: io.NopCloser(strings.NewReader("part"))})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One object body and one body per part number.
	if b := e.bodies(); len(b) != 4 {
		t.Errorf("bodies %v", b)
	}
}
