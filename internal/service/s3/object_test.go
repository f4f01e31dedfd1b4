package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/api/s3"
)

func TestPutGetObject(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	out, err := e.svc.PutObject(e.ctx(), &s3.PutObjectRequest{
		Bucket: str("bkt"), Key: str("dir/file.txt"), Body: io.NopCloser(strings.NewReader("hello world")),
		ContentType: str("text/plain"), ContentEncoding: str("identity"), CacheControl: str("max-age=60"),
		ContentDisposition: str(`attachment; filename="f.txt"`), Metadata: map[string]string{"Owner": "me"},
		ContentLength: ptr(int64(11)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + md5hex("hello world") + `"`; val(out.ETag) != want {
		t.Errorf("ETag %s, want %s", val(out.ETag), want)
	}
	got, err := e.svc.GetObject(e.ctx(), &s3.GetObjectRequest{Bucket: str("bkt"), Key: str("dir/file.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Body.(*os.File); !ok {
		t.Errorf("body is %T, want the *os.File itself so the server can sendfile it", got.Body)
	}
	if body := readAll(t, got.Body); body != "hello world" {
		t.Errorf("body %q", body)
	}
	checks := map[string][2]string{
		"ContentType":        {val(got.ContentType), "text/plain"},
		"ContentEncoding":    {val(got.ContentEncoding), "identity"},
		"CacheControl":       {val(got.CacheControl), "max-age=60"},
		"ContentDisposition": {val(got.ContentDisposition), `attachment; filename="f.txt"`},
		"ETag":               {val(got.ETag), val(out.ETag)},
		"AcceptRanges":       {val(got.AcceptRanges), "bytes"},
		"meta owner":         {got.Metadata["owner"], "me"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: %q, want %q", name, c[0], c[1])
		}
	}
	if val(got.ContentLength) != 11 || !val(got.LastModified).Equal(e.now) || got.ContentRange != nil {
		t.Errorf("length %d, modified %v, range %v", val(got.ContentLength), got.LastModified, got.ContentRange)
	}

	// Without a Content-Type S3 answers binary/octet-stream.
	e.put("bkt", "plain", "x")
	head, err := e.svc.HeadObject(e.ctx(), &s3.HeadObjectRequest{Bucket: str("bkt"), Key: str("plain")})
	if err != nil {
		t.Fatal(err)
	}
	if val(head.ContentType) != "binary/octet-stream" || val(head.ContentLength) != 1 {
		t.Errorf("head %+v", head)
	}

	_, err = e.svc.GetObject(e.ctx(), &s3.GetObjectRequest{Bucket: str("bkt"), Key: str("missing")})
	if got := wantErr(t, err, "NoSuchKey", 0); got.Fields["Key"] != "missing" {
		t.Errorf("fields %v", got.Fields)
	}
	_, err = e.svc.HeadObject(e.ctx(), &s3.HeadObjectRequest{Bucket: str("bkt"), Key: str("missing")})
	wantErr(t, err, "NoSuchKey", 0)
	_, err = e.svc.PutObject(e.ctx(), &s3.PutObjectRequest{Bucket: str("bkt"), Key: str(strings.Repeat("k", 1025)),
		Body: io.NopCloser(strings.NewReader("x"))})
	wantErr(t, err, "KeyTooLongError", 0)
}

func TestPutObjectContentMD5(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	sum := md5.Sum([]byte("payload"))
	good := base64.StdEncoding.EncodeToString(sum[:])
	if _, err := e.svc.PutObject(e.ctx(), &s3.PutObjectRequest{Bucket: str("bkt"), Key: str("k"),
		Body: io.NopCloser(strings.NewReader("payload")), ContentMD5: &good}); err != nil {
		t.Fatal(err)
	}
	before := e.bodies()
	_, err := e.svc.PutObject(e.ctx(), &s3.PutObjectRequest{Bucket: str("bkt"), Key: str("k"),
		Body: io.NopCloser(strings.NewReader("tampered")), ContentMD5: &good})
	wantErr(t, err, "BadDigest", 0)
	_, err = e.svc.PutObject(e.ctx(), &s3.PutObjectRequest{Bucket: str("bkt"), Key: str("k"),
		Body: io.NopCloser(strings.NewReader("payload")), ContentMD5: str("not-base64!")})
	wantErr(t, err, "InvalidDigest", 0)
	// The failed writes left no file behind and did not touch the object.
	if after := e.bodies(); strings.Join(after, ",") != strings.Join(before, ",") || len(e.tmp()) != 0 {
		t.Errorf("bodies %v -> %v, tmp %v", before, after, e.tmp())
	}
	if got := e.get("bkt", "k"); got != "payload" {
		t.Errorf("object %q", got)
	}
}

// failing is a body whose client goes away half way.
type failing struct{ n int }

func (f *failing) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestPutObjectFailedBodyLeavesNothing(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	_, err := e.svc.PutObject(e.ctx(), &s3.PutObjectRequest{Bucket: str("bkt"), Key: str("k"),
		Body: io.NopCloser(&failing{n: 3 << 20})})
	wantErr(t, err, "IncompleteBody", 0)
	if b, tmp := e.bodies(), e.tmp(); len(b)+len(tmp) != 0 {
		t.Errorf("left behind: bodies %v, tmp %v", b, tmp)
	}
	_, err = e.svc.HeadObject(e.ctx(), &s3.HeadObjectRequest{Bucket: str("bkt"), Key: str("k")})
	wantErr(t, err, "NoSuchKey", 0)
}

// TestLargeObjectStreams puts and gets 20 MiB through generated readers and checks that neither call
// allocated anything near the object's size.
func TestLargeObjectStreams(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	const size = 20 << 20
	want := patternMD5(size)

	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	var out *s3.PutObjectOutput
	putAlloc := allocated(func() {
		var err error
		out, err = e.svc.PutObject(e.ctx(), &s3.PutObjectRequest{Bucket: str("bkt"), Key: str("big"), Body: &pattern{n: size},
			ContentLength: ptr(int64(size))})
		if err != nil {
			t.Fatal(err)
		}
	})
	if putAlloc > size/4 {
		t.Errorf("PutObject allocated %d bytes for a %d byte object", putAlloc, size)
	}
	if val(out.ETag) != `"`+hex.EncodeToString(want)+`"` {
		t.Errorf("ETag %s", val(out.ETag))
	}
	bodies := e.bodies()
	if len(bodies) != 1 {
		t.Fatalf("bodies %v", bodies)
	}
	fi, err := os.Stat(filepath.Join(e.dir, "s3", bodies[0]))
	if err != nil || fi.Size() != size {
		t.Fatalf("body file: %v, %v", fi, err)
	}

	h := md5.New()
	getAlloc := allocated(func() {
		got, err := e.svc.GetObject(e.ctx(), &s3.GetObjectRequest{Bucket: str("bkt"), Key: str("big")})
		if err != nil {
			t.Fatal(err)
		}
		defer got.Body.Close()
		if _, err := io.CopyBuffer(h, got.Body, make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
	})
	if getAlloc > size/4 {
		t.Errorf("GetObject allocated %d bytes for a %d byte object", getAlloc, size)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		t.Error("GetObject returned other bytes than were put")
	}
}

func TestGetObjectRange(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	e.put("bkt", "k", "0123456789")
	for _, c := range []struct {
		rng, body, contentRange string
	}{
		{"bytes=0-4", "01234", "bytes 0-4/10"},
		{"bytes=5-", "56789", "bytes 5-9/10"},
		{"bytes=-3", "789", "bytes 7-9/10"},
		{"bytes=-30", "0123456789", "bytes 0-9/10"},
		{"bytes=8-1000", "89", "bytes 8-9/10"},
		{"bytes=3-3", "3", "bytes 3-3/10"},
		{"bytes=5-2", "0123456789", ""},     // invalid: ignored
		{"items=0-1", "0123456789", ""},     // another unit: ignored
		{"bytes=0-1,4-5", "0123456789", ""}, // several ranges: S3 answers the whole object
	} {
		out, err := e.svc.GetObject(e.ctx(), &s3.GetObjectRequest{Bucket: str("bkt"), Key: str("k"), Range: str(c.rng)})
		if err != nil {
			t.Fatalf("%s: %v", c.rng, err)
		}
		body := readAll(t, out.Body)
		if body != c.body || val(out.ContentRange) != c.contentRange || val(out.ContentLength) != int64(len(c.body)) {
			t.Errorf("%s: body %q range %q length %d; want %q %q", c.rng, body, val(out.ContentRange), val(out.ContentLength),
				c.body, c.contentRange)
		}
		head, err := e.svc.HeadObject(e.ctx(), &s3.HeadObjectRequest{Bucket: str("bkt"), Key: str("k"), Range: str(c.rng)})
		if err != nil {
			t.Fatal(err)
		}
		if val(head.ContentRange) != c.contentRange || val(head.ContentLength) != int64(len(c.body)) {
			t.Errorf("HEAD %s: range %q length %d", c.rng, val(head.ContentRange), val(head.ContentLength))
		}
	}
	for _, rng := range []string{"bytes=10-", "bytes=20-30", "bytes=-0"} {
		_, err := e.svc.GetObject(e.ctx(), &s3.GetObjectRequest{Bucket: str("bkt"), Key: str("k"), Range: str(rng)})
		if got := wantErr(t, err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable); got.Fields["ActualObjectSize"] != int64(10) {
			t.Errorf("%s: fields %v", rng, got.Fields)
		}
	}
}

func TestConditionalGet(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	etag := val(e.put("bkt", "k", "v1").ETag)
	modified := e.now
	before, after := modified.Add(-time.Hour), modified.Add(time.Hour)
	for _, c := range []struct {
		name   string
		in     s3.GetObjectRequest
		code   string
		status int
	}{
		{"if-match hit", s3.GetObjectRequest{IfMatch: &etag}, "", 0},
		{"if-match star", s3.GetObjectRequest{IfMatch: str("*")}, "", 0},
		{"if-match list", s3.GetObjectRequest{IfMatch: str(`"other", ` + etag)}, "", 0},
		{"if-match miss", s3.GetObjectRequest{IfMatch: str(`"other"`)}, "PreconditionFailed", 412},
		{"if-none-match hit", s3.GetObjectRequest{IfNoneMatch: &etag}, "NotModified", 304},
		{"if-none-match miss", s3.GetObjectRequest{IfNoneMatch: str(`"other"`)}, "", 0},
		{"if-modified-since earlier", s3.GetObjectRequest{IfModifiedSince: &before}, "", 0},
		{"if-modified-since same", s3.GetObjectRequest{IfModifiedSince: &modified}, "NotModified", 304},
		{"if-unmodified-since later", s3.GetObjectRequest{IfUnmodifiedSince: &after}, "", 0},
		{"if-unmodified-since earlier", s3.GetObjectRequest{IfUnmodifiedSince: &before}, "PreconditionFailed", 412},
		// A true If-Match wins over a false If-Unmodified-Since; an If-None-Match that misses over If-Modified-Since.
		{"match overrides unmodified", s3.GetObjectRequest{IfMatch: &etag, IfUnmodifiedSince: &before}, "", 0},
		{"none-match overrides modified", s3.GetObjectRequest{IfNoneMatch: str(`"x"`), IfModifiedSince: &after}, "", 0},
	} {
		in := c.in
		in.Bucket, in.Key = str("bkt"), str("k")
		out, err := e.svc.GetObject(e.ctx(), &in)
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			out.Body.Close()
			continue
		}
		wantErr(t, err, c.code, c.status)
		hin := &s3.HeadObjectRequest{Bucket: in.Bucket, Key: in.Key, IfMatch: in.IfMatch, IfNoneMatch: in.IfNoneMatch,
			IfModifiedSince: in.IfModifiedSince, IfUnmodifiedSince: in.IfUnmodifiedSince}
		_, err = e.svc.HeadObject(e.ctx(), hin)
		wantErr(t, err, c.code, c.status)
	}
}

func TestConditionalPut(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	put := func(body string, ifMatch, ifNoneMatch *string) error {
		_, err := e.svc.PutObject(e.ctx(), &s3.PutObjectRequest{Bucket: str("bkt"), Key: str("k"),
			Body: io.NopCloser(strings.NewReader(body)), IfMatch: ifMatch, IfNoneMatch: ifNoneMatch})
		return err
	}
	wantErr(t, put("x", str(`"abc"`), nil), "NoSuchKey", 0)
	if err := put("v1", nil, str("*")); err != nil {
		t.Fatal(err)
	}
	wantErr(t, put("v2", nil, str("*")), "PreconditionFailed", 412)
	wantErr(t, put("v2", str(`"abc"`), nil), "PreconditionFailed", 412)
	if err := put("v2", str(`"`+md5hex("v1")+`"`), nil); err != nil {
		t.Fatal(err)
	}
	if got := e.get("bkt", "k"); got != "v2" {
		t.Errorf("object %q", got)
	}
	if b := e.bodies(); len(b) != 1 {
		t.Errorf("bodies %v: the refused writes left files", b)
	}
}

func TestOverwriteAndDelete(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	e.put("bkt", "k", "first")
	first := e.bodies()
	e.put("bkt", "k", "second")
	second := e.bodies()
	if len(second) != 1 || second[0] == first[0] {
		t.Errorf("bodies after overwrite %v (before %v): the old body must go", second, first)
	}
	if got := e.get("bkt", "k"); got != "second" {
		t.Errorf("object %q", got)
	}
	// A reader that opened the old version keeps reading it after an overwrite.
	open, err := e.svc.GetObject(e.ctx(), &s3.GetObjectRequest{Bucket: str("bkt"), Key: str("k")})
	if err != nil {
		t.Fatal(err)
	}
	e.put("bkt", "k", "third")
	if got := readAll(t, open.Body); got != "second" {
		t.Errorf("open reader got %q", got)
	}

	for range 2 { // deleting is idempotent
		if _, err := e.svc.DeleteObject(e.ctx(), &s3.DeleteObjectRequest{Bucket: str("bkt"), Key: str("k")}); err != nil {
			t.Fatal(err)
		}
	}
	if b := e.bodies(); len(b) != 0 {
		t.Errorf("bodies after delete %v", b)
	}
	_, err = e.svc.GetObject(e.ctx(), &s3.GetObjectRequest{Bucket: str("bkt"), Key: str("k")})
	wantErr(t, err, "NoSuchKey", 0)
	_, err = e.svc.DeleteObject(e.ctx(), &s3.DeleteObjectRequest{Bucket: str("nope"), Key: str("k")})
	wantErr(t, err, "NoSuchBucket", 0)
}

func TestDeleteObjects(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	e.put("bkt", "a", "1")
	e.put("bkt", "b", "2")
	e.put("bkt", "c", "3")
	out, err := e.svc.DeleteObjects(e.ctx(), &s3.DeleteObjectsRequest{Bucket: str("bkt"), Delete: &s3.Delete{
		Objects: []s3.ObjectIdentifier{{Key: str("a")}, {Key: str("missing")}, {Key: str("b"), ETag: str(`"wrong"`)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, d := range out.Deleted {
		deleted = append(deleted, val(d.Key))
	}
	if strings.Join(deleted, ",") != "a,missing" {
		t.Errorf("deleted %v", deleted)
	}
	if len(out.Errors) != 1 || val(out.Errors[0].Key) != "b" || val(out.Errors[0].Code) != "PreconditionFailed" {
		t.Errorf("errors %+v", out.Errors)
	}
	quiet, err := e.svc.DeleteObjects(e.ctx(), &s3.DeleteObjectsRequest{Bucket: str("bkt"), Delete: &s3.Delete{
		Objects: []s3.ObjectIdentifier{{Key: str("b")}, {Key: str("c")}}, Quiet: ptr(true),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(quiet.Deleted)+len(quiet.Errors) != 0 {
		t.Errorf("quiet answer %+v", quiet)
	}
	list, err := e.svc.ListObjectsV2(e.ctx(), &s3.ListObjectsV2Request{Bucket: str("bkt")})
	if err != nil || val(list.KeyCount) != 0 {
		t.Errorf("after deletes: %v keys, %v", val(list.KeyCount), err)
	}
	tooMany := make([]s3.ObjectIdentifier, 1001)
	for i := range tooMany {
		tooMany[i].Key = str("k")
	}
	_, err = e.svc.DeleteObjects(e.ctx(), &s3.DeleteObjectsRequest{Bucket: str("bkt"), Delete: &s3.Delete{Objects: tooMany}})
	wantErr(t, err, "MalformedXML", 0)
}

func TestCopyObject(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("src")
	e.mkBucket("dst")
	if _, err := e.svc.PutObject(e.ctx(), &s3.PutObjectRequest{Bucket: str("src"), Key: str("a b+c"),
		Body: io.NopCloser(strings.NewReader("content")), ContentType: str("text/plain"),
		Metadata: map[string]string{"color": "blue"}}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Hour)
	out, err := e.svc.CopyObject(e.ctx(), &s3.CopyObjectRequest{Bucket: str("dst"), Key: str("copy"),
		CopySource: str("src/a%20b%2Bc")})
	if err != nil {
		t.Fatal(err)
	}
	if val(out.CopyObjectResult.ETag) != `"`+md5hex("content")+`"` || !val(out.CopyObjectResult.LastModified).Equal(e.now) {
		t.Errorf("result %+v", out.CopyObjectResult)
	}
	head, err := e.svc.HeadObject(e.ctx(), &s3.HeadObjectRequest{Bucket: str("dst"), Key: str("copy")})
	if err != nil {
		t.Fatal(err)
	}
	if val(head.ContentType) != "text/plain" || head.Metadata["color"] != "blue" {
		t.Errorf("COPY directive lost metadata: %+v", head)
	}

	// REPLACE takes the request's metadata; copying onto itself is allowed then.
	if _, err := e.svc.CopyObject(e.ctx(), &s3.CopyObjectRequest{Bucket: str("src"), Key: str("a b+c"),
		CopySource: str("/src/a%20b%2Bc"), MetadataDirective: str("REPLACE"), Metadata: map[string]string{"color": "red"}}); err != nil {
		t.Fatal(err)
	}
	head, err = e.svc.HeadObject(e.ctx(), &s3.HeadObjectRequest{Bucket: str("src"), Key: str("a b+c")})
	if err != nil {
		t.Fatal(err)
	}
	if head.Metadata["color"] != "red" || val(head.ContentType) != "binary/octet-stream" {
		t.Errorf("REPLACE: %+v", head)
	}
	_, err = e.svc.CopyObject(e.ctx(), &s3.CopyObjectRequest{Bucket: str("src"), Key: str("a b+c"), CopySource: str("src/a%20b%2Bc")})
	wantErr(t, err, "InvalidRequest", 0)
	_, err = e.svc.CopyObject(e.ctx(), &s3.CopyObjectRequest{Bucket: str("dst"), Key: str("x"), CopySource: str("src/missing")})
	wantErr(t, err, "NoSuchKey", 0)
	_, err = e.svc.CopyObject(e.ctx(), &s3.CopyObjectRequest{Bucket: str("dst"), Key: str("x"), CopySource: str("nosuch/k")})
	wantErr(t, err, "NoSuchBucket", 0)
	_, err = e.svc.CopyObject(e.ctx(), &s3.CopyObjectRequest{Bucket: str("dst"), Key: str("x"), CopySource: str("justabucket")})
	wantErr(t, err, "InvalidArgument", 0)
	_, err = e.svc.CopyObject(e.ctx(), &s3.CopyObjectRequest{Bucket: str("dst"), Key: str("x"), CopySource: str("src/a%20b%2Bc"),
		CopySourceIfMatch: str(`"nope"`)})
	wantErr(t, err, "PreconditionFailed", 412)
	// A copy source condition that would be a 304 on GET is a 412 on copy.
	_, err = e.svc.CopyObject(e.ctx(), &s3.CopyObjectRequest{Bucket: str("dst"), Key: str("x"), CopySource: str("src/a%20b%2Bc"),
		CopySourceIfNoneMatch: str("*")})
	wantErr(t, err, "PreconditionFailed", 412)

	// The copy is independent of its source.
	if _, err := e.svc.DeleteObject(e.ctx(), &s3.DeleteObjectRequest{Bucket: str("src"), Key: str("a b+c")}); err != nil {
		t.Fatal(err)
	}
	if got := e.get("dst", "copy"); got != "content" {
		t.Errorf("copy reads %q after its source was deleted", got)
	}
	if b := e.bodies(); len(b) != 1 {
		t.Errorf("bodies %v", b)
	}
}
