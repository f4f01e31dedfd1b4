package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/overcast-cloud/overcast/api/s3"
	"github.com/overcast-cloud/overcast/internal/apierr"
)

func (e *env) createUpload(bucket, key string) string {
	e.t.Helper()
	out, err := e.svc.CreateMultipartUpload(e.ctx(), &s3.CreateMultipartUploadRequest{Bucket: &bucket, Key: &key,
		ContentType: str("application/x-tar"), Metadata: map[string]string{"build": "42"}})
	if err != nil {
		e.t.Fatal(err)
	}
	if val(out.Bucket) != bucket || val(out.Key) != key || val(out.UploadId) == "" {
		e.t.Fatalf("CreateMultipartUpload %+v", out)
	}
	return val(out.UploadId)
}

func (e *env) uploadPart(bucket, key, id string, n int32, body io.Reader) string {
	e.t.Helper()
	out, err := e.svc.UploadPart(e.ctx(), &s3.UploadPartRequest{Bucket: &bucket, Key: &key, UploadId: &id, PartNumber: &n,
		Body: io.NopCloser(body)})
	if err != nil {
		e.t.Fatalf("UploadPart %d: %v", n, err)
	}
	return val(out.ETag)
}

func completed(etags ...string) *s3.CompletedMultipartUpload {
	m := &s3.CompletedMultipartUpload{}
	for i, t := range etags {
		m.Parts = append(m.Parts, s3.CompletedPart{PartNumber: ptr(int32(i + 1)), ETag: str(t)})
	}
	return m
}

func TestMultipartUpload(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	id := e.createUpload("bkt", "archive.tar")
	const partSize = 5 << 20
	// Parts arrive out of order, and part 2 is uploaded twice: the second upload replaces the first.
	etag3 := e.uploadPart("bkt", "archive.tar", id, 3, strings.NewReader("tail"))
	etag1 := e.uploadPart("bkt", "archive.tar", id, 1, &pattern{n: partSize})
	e.uploadPart("bkt", "archive.tar", id, 2, strings.NewReader("to be replaced"))
	etag2 := e.uploadPart("bkt", "archive.tar", id, 2, &pattern{n: partSize + 1})
	if want := `"` + hex.EncodeToString(patternMD5(partSize)) + `"`; etag1 != want {
		t.Errorf("part ETag %s, want %s", etag1, want)
	}

	parts, err := e.svc.ListParts(e.ctx(), &s3.ListPartsRequest{Bucket: str("bkt"), Key: str("archive.tar"), UploadId: &id})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, p := range parts.Parts {
		listed = append(listed, fmt.Sprintf("%d:%d:%s", val(p.PartNumber), val(p.Size), val(p.ETag)))
	}
	want := []string{fmt.Sprintf("1:%d:%s", partSize, etag1), fmt.Sprintf("2:%d:%s", partSize+1, etag2), "3:4:" + etag3}
	if strings.Join(listed, " ") != strings.Join(want, " ") {
		t.Errorf("ListParts %v, want %v", listed, want)
	}
	page, err := e.svc.ListParts(e.ctx(), &s3.ListPartsRequest{Bucket: str("bkt"), Key: str("archive.tar"), UploadId: &id,
		MaxParts: ptr(int32(2))})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Parts) != 2 || !val(page.IsTruncated) || val(page.NextPartNumberMarker) != 2 {
		t.Errorf("first page of parts: %d parts, truncated %v, next %d", len(page.Parts), val(page.IsTruncated), val(page.NextPartNumberMarker))
	}
	page, err = e.svc.ListParts(e.ctx(), &s3.ListPartsRequest{Bucket: str("bkt"), Key: str("archive.tar"), UploadId: &id,
		PartNumberMarker: page.NextPartNumberMarker})
	if err != nil || len(page.Parts) != 1 || val(page.Parts[0].PartNumber) != 3 {
		t.Errorf("second page of parts: %+v, %v", page, err)
	}

	out, err := e.svc.CompleteMultipartUpload(e.ctx(), &s3.CompleteMultipartUploadRequest{Bucket: str("bkt"),
		Key: str("archive.tar"), UploadId: &id, MultipartUpload: completed(etag1, etag2, etag3)})
	if err != nil {
		t.Fatal(err)
	}
	// The multipart ETag: MD5 of the concatenated binary part MD5s, a dash, the part count.
	digests := md5.New()
	for _, t := range []string{etag1, etag2, etag3} {
		b, _ := hex.DecodeString(strings.Trim(t, `"`))
		digests.Write(b)
	}
	wantETag := fmt.Sprintf(`"%x-3"`, digests.Sum(nil))
	if val(out.ETag) != wantETag || !regexp.MustCompile(`^"[0-9a-f]{32}-3"$`).MatchString(val(out.ETag)) {
		t.Errorf("ETag %s, want %s", val(out.ETag), wantETag)
	}

	got, err := e.svc.GetObject(e.ctx(), &s3.GetObjectRequest{Bucket: str("bkt"), Key: str("archive.tar")})
	if err != nil {
		t.Fatal(err)
	}
	h := md5.New()
	n, _ := io.Copy(h, got.Body)
	got.Body.Close()
	whole := md5.New()
	io.Copy(whole, io.MultiReader(&pattern{n: partSize}, &pattern{n: partSize + 1}, strings.NewReader("tail")))
	if n != 2*partSize+5 || !bytes.Equal(h.Sum(nil), whole.Sum(nil)) {
		t.Errorf("object is %d bytes, not the parts in order", n)
	}
	if val(got.ETag) != wantETag || val(got.ContentType) != "application/x-tar" || got.Metadata["build"] != "42" {
		t.Errorf("object headers %+v", got)
	}
	// The parts and their files are gone, the upload with them.
	if b := e.bodies(); len(b) != 1 {
		t.Errorf("bodies %v", b)
	}
	_, err = e.svc.ListParts(e.ctx(), &s3.ListPartsRequest{Bucket: str("bkt"), Key: str("archive.tar"), UploadId: &id})
	wantErr(t, err, "NoSuchUpload", 0)
	_, err = e.svc.CompleteMultipartUpload(e.ctx(), &s3.CompleteMultipartUploadRequest{Bucket: str("bkt"),
		Key: str("archive.tar"), UploadId: &id, MultipartUpload: completed(etag1, etag2, etag3)})
	wantErr(t, err, "NoSuchUpload", 0)
}

func TestCompleteMultipartUploadErrors(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	id := e.createUpload("bkt", "k")
	small1 := e.uploadPart("bkt", "k", id, 1, strings.NewReader("small"))
	small2 := e.uploadPart("bkt", "k", id, 2, strings.NewReader("small too"))
	complete := func(m *s3.CompletedMultipartUpload) error {
		_, err := e.svc.CompleteMultipartUpload(e.ctx(), &s3.CompleteMultipartUploadRequest{Bucket: str("bkt"), Key: str("k"),
			UploadId: &id, MultipartUpload: m})
		return err
	}
	err := complete(completed(small1, small2))
	if got := wantErr(t, err, "EntityTooSmall", 0); got.Fields["MinSizeAllowed"] != minPartSize || got.Fields["ProposedSize"] != int64(5) {
		t.Errorf("fields %v", got.Fields)
	}
	wantErr(t, complete(completed(small1, `"0123456789abcdef0123456789abcdef"`)), "InvalidPart", 0)
	wantErr(t, complete(&s3.CompletedMultipartUpload{Parts: []s3.CompletedPart{{PartNumber: ptr(int32(7)), ETag: str(small1)}}}),
		"InvalidPart", 0)
	reversed := &s3.CompletedMultipartUpload{Parts: []s3.CompletedPart{
		{PartNumber: ptr(int32(2)), ETag: str(small2)}, {PartNumber: ptr(int32(1)), ETag: str(small1)}}}
	wantErr(t, complete(reversed), "InvalidPartOrder", 0)
	wantErr(t, complete(&s3.CompletedMultipartUpload{}), "MalformedXML", 0)
	// A single part may be small, and ETags match with or without quotes.
	if err := complete(&s3.CompletedMultipartUpload{Parts: []s3.CompletedPart{
		{PartNumber: ptr(int32(2)), ETag: str(strings.Trim(small2, `"`))}}}); err != nil {
		t.Fatal(err)
	}
	if got := e.get("bkt", "k"); got != "small too" {
		t.Errorf("object %q", got)
	}
	if b := e.bodies(); len(b) != 1 || len(e.tmp()) != 0 {
		t.Errorf("bodies %v tmp %v: the parts left out must be discarded", b, e.tmp())
	}

	_, err = e.svc.UploadPart(e.ctx(), &s3.UploadPartRequest{Bucket: str("bkt"), Key: str("k"), UploadId: str("nope"),
		PartNumber: ptr(int32(1)), Body: io.NopCloser(strings.NewReader("x"))})
	if got := wantErr(t, err, "NoSuchUpload", 0); got.Class != apierr.NotFound || got.Fields["UploadId"] != "nope" {
		t.Errorf("%+v", got)
	}
	id2 := e.createUpload("bkt", "k")
	for _, n := range []int32{0, 10001} {
		_, err = e.svc.UploadPart(e.ctx(), &s3.UploadPartRequest{Bucket: str("bkt"), Key: str("k"), UploadId: &id2,
			PartNumber: &n, Body: io.NopCloser(strings.NewReader("x"))})
		wantErr(t, err, "InvalidArgument", 0)
	}
	// An upload id belongs to its key.
	_, err = e.svc.UploadPart(e.ctx(), &s3.UploadPartRequest{Bucket: str("bkt"), Key: str("other"), UploadId: &id2,
		PartNumber: ptr(int32(1)), Body: io.NopCloser(strings.NewReader("x"))})
	wantErr(t, err, "NoSuchUpload", 0)
}

func TestAbortMultipartUpload(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	id := e.createUpload("bkt", "k")
	e.uploadPart("bkt", "k", id, 1, strings.NewReader("one"))
	e.uploadPart("bkt", "k", id, 2, strings.NewReader("two"))
	if _, err := e.svc.AbortMultipartUpload(e.ctx(), &s3.AbortMultipartUploadRequest{Bucket: str("bkt"), Key: str("k"),
		UploadId: &id}); err != nil {
		t.Fatal(err)
	}
	if b := e.bodies(); len(b) != 0 {
		t.Errorf("part files left: %v", b)
	}
	_, err := e.svc.AbortMultipartUpload(e.ctx(), &s3.AbortMultipartUploadRequest{Bucket: str("bkt"), Key: str("k"), UploadId: &id})
	wantErr(t, err, "NoSuchUpload", 0)
	_, err = e.svc.UploadPart(e.ctx(), &s3.UploadPartRequest{Bucket: str("bkt"), Key: str("k"), UploadId: &id,
		PartNumber: ptr(int32(3)), Body: io.NopCloser(strings.NewReader("late"))})
	wantErr(t, err, "NoSuchUpload", 0)
	_, err = e.svc.HeadObject(e.ctx(), &s3.HeadObjectRequest{Bucket: str("bkt"), Key: str("k")})
	wantErr(t, err, "NoSuchKey", 0)
}

func TestListMultipartUploads(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	first := e.createUpload("bkt", "photos/a.jpg")
	e.now = e.now.Add(1e9)
	second := e.createUpload("bkt", "photos/a.jpg")
	e.createUpload("bkt", "photos/2024/b.jpg")
	e.createUpload("bkt", "video.mp4")

	list := func(in s3.ListMultipartUploadsRequest) *s3.ListMultipartUploadsOutput {
		t.Helper()
		in.Bucket = str("bkt")
		out, err := e.svc.ListMultipartUploads(e.ctx(), &in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	describe := func(out *s3.ListMultipartUploadsOutput) string {
		var s []string
		for _, u := range out.Uploads {
			k := val(u.Key)
			switch val(u.UploadId) {
			case first:
				k += "#1"
			case second:
				k += "#2"
			}
			s = append(s, k)
		}
		for _, p := range out.CommonPrefixes {
			s = append(s, val(p.Prefix))
		}
		return strings.Join(s, " ")
	}
	if got := describe(list(s3.ListMultipartUploadsRequest{})); got != "photos/2024/b.jpg photos/a.jpg#1 photos/a.jpg#2 video.mp4" {
		t.Errorf("all: %s", got)
	}
	if got := describe(list(s3.ListMultipartUploadsRequest{Prefix: str("photos/"), Delimiter: str("/")})); got != "photos/a.jpg#1 photos/a.jpg#2 photos/2024/" {
		t.Errorf("delimited: %s", got)
	}
	page := list(s3.ListMultipartUploadsRequest{MaxUploads: ptr(int32(2))})
	if describe(page) != "photos/2024/b.jpg photos/a.jpg#1" || !val(page.IsTruncated) {
		t.Fatalf("first page: %s", describe(page))
	}
	page = list(s3.ListMultipartUploadsRequest{KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker})
	if describe(page) != "photos/a.jpg#2 video.mp4" || val(page.IsTruncated) {
		t.Errorf("second page: %s", describe(page))
	}
	if u := list(s3.ListMultipartUploadsRequest{Prefix: str("video")}).Uploads; len(u) != 1 ||
		val(u[0].Initiator.ID) != "arn:aws:iam::"+alice+":user/dev" || val(u[0].Owner.ID) != canonicalID(alice) {
		t.Errorf("upload %+v", u)
	}
}
