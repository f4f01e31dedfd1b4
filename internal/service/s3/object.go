package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/overcast-cloud/overcast/api/s3"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/storage/objects"
	"github.com/overcast-cloud/overcast/internal/store"
)

// maxKeyLength is S3's limit on a key, in bytes of its UTF-8 form.
const maxKeyLength = 1024

func checkKey(key *string) (string, error) {
	k := val(key)
	if k == "" {
		return "", errInvalidArgument("key", "", "A key must be specified")
	}
	if len(k) > maxKeyLength {
		return "", apierr.New(apierr.Invalid, "KeyTooLongError", "Your key is too long").
			With("MaxSizeAllowed", maxKeyLength).With("Size", len(k))
	}
	return k, nil
}

// objectIn returns the bucket and the checked key of a request about one object; a bad bucket is reported
// before a bad key, as S3 does.
func (s *Service) objectIn(ctx context.Context, bucket, key *string) (*bucketRecord, string, error) {
	b, err := s.bucketFor(ctx, bucket)
	if err != nil {
		return nil, "", err
	}
	k, err := checkKey(key)
	if err != nil {
		return nil, "", err
	}
	return b, k, nil
}

// defaultContentType is what S3 answers for an object written without a Content-Type.
const defaultContentType = "binary/octet-stream"

// writtenHeaders are the headers a write request sets, in the order of the headers struct. An object
// written without a Content-Type gets S3's default.
func writtenHeaders(contentType, contentEncoding, contentDisposition, contentLanguage, cacheControl, expires,
	websiteRedirectLocation *string, metadata map[string]string, storageClass *string) headers {
	h := headers{
		ContentType: val(contentType), ContentEncoding: val(contentEncoding),
		ContentDisposition: val(contentDisposition), ContentLanguage: val(contentLanguage),
		CacheControl: val(cacheControl), Expires: val(expires), WebsiteRedirectLocation: val(websiteRedirectLocation),
		Metadata: lowerKeys(metadata), StorageClass: val(storageClass),
	}
	if h.ContentType == "" {
		h.ContentType = defaultContentType
	}
	return h
}

// lowerKeys returns user metadata with lower-case names: they travel as x-amz-meta-* headers, whose names
// are case-insensitive, and S3 answers them in lower case.
func lowerKeys(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func etagOf(sum []byte) string { return `"` + hex.EncodeToString(sum) + `"` }

// received is a body written to its file.
type received struct {
	id   string
	size int64
	md5  []byte
}

// readErr remembers the error of the client's body, which tells a broken upload from a broken disk.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

func errIncompleteBody() error {
	return apierr.New(apierr.Invalid, "IncompleteBody",
		"You did not provide the number of bytes specified by the Content-Length HTTP header")
}

// receive streams body into a new body file named by a fresh id with prefix, checking its Content-MD5 when
// the client gave one. On error nothing is left on disk.
//
// The length is not compared with Content-Length: the HTTP server already fails a body that ends short
// (which arrives here as a read error), and with aws-chunked uploads Content-Length is the encoded length,
// not the object's.
func (s *Service) receive(body io.Reader, contentMD5 *string, prefix string) (received, error) {
	var want []byte
	if contentMD5 != nil {
		d, err := base64.StdEncoding.DecodeString(*contentMD5)
		if err != nil || len(d) != md5.Size {
			return received{}, apierr.New(apierr.Invalid, "InvalidDigest", "The Content-MD5 you specified was invalid.").
				With("Content-MD5", *contentMD5)
		}
		want = d
	}
	return s.writeBody(prefix, func(_ *objects.Dir, w *objects.Writer) error {
		if body != nil {
			src := &readErr{r: body}
			if _, err := w.ReadFrom(src); err != nil {
				if src.err != nil {
					return errIncompleteBody()
				}
				return err
			}
		}
		if sum := w.MD5(); want != nil && !bytes.Equal(sum, want) {
			return apierr.New(apierr.Invalid, "BadDigest", "The Content-MD5 you specified did not match what we received.").
				With("ExpectedDigest", hex.EncodeToString(want)).With("CalculatedDigest", hex.EncodeToString(sum))
		}
		return nil
	})
}

// writeBody makes a new body file, named by a fresh id with prefix, of what fill writes to w; fill may read
// other bodies from dir. When fill fails nothing is left on disk.
func (s *Service) writeBody(prefix string, fill func(dir *objects.Dir, w *objects.Writer) error) (received, error) {
	dir, err := s.dir()
	if err != nil {
		return received{}, err
	}
	w, err := dir.Create()
	if err != nil {
		return received{}, err
	}
	defer w.Abort()
	if err := fill(dir, w); err != nil {
		return received{}, err
	}
	id := newID(prefix)
	if err := w.Commit(id); err != nil {
		return received{}, err
	}
	return received{id: id, size: w.Size(), md5: w.MD5()}, nil
}

// removeBody deletes a body file no record names any more. Failing leaves an orphan for Recover, which
// is no reason to fail a call that has committed.
func (s *Service) removeBody(id string) {
	if dir, err := s.dir(); err == nil && id != "" {
		dir.Remove(id)
	}
}

// writeCheck judges a write against the object it would replace (nil when there is none).
type writeCheck func(old *objectRecord) error

// writeConditions are the If-Match and If-None-Match of a conditional write.
func writeConditions(key string, ifMatch, ifNoneMatch *string) writeCheck {
	return func(old *objectRecord) error {
		if ifNoneMatch != nil && old != nil && etagMatches(*ifNoneMatch, old.ETag) {
			return errPreconditionFailed("If-None-Match")
		}
		if ifMatch != nil {
			if old == nil {
				return errNoSuchKey(key)
			}
			if !etagMatches(*ifMatch, old.ETag) {
				return errPreconditionFailed("If-Match")
			}
		}
		return nil
	}
}

// commitObject writes obj's record in place of whatever object has its key, after check approves of the
// one it replaces, and returns that one. The caller removes the old body (and its new one on error).
func (s *Service) commitObject(ctx context.Context, b *bucketRecord, obj objectRecord, check writeCheck) (*objectRecord, error) {
	key := b.objectKey(obj.Key)
	var err error
	for range retries {
		var old *objectRecord
		cur, rec, gerr := store.Get[objectRecord](ctx, s.store, key)
		switch {
		case gerr == nil:
			old = &cur
		case !errors.Is(gerr, store.ErrNotFound):
			return nil, gerr
		}
		if check != nil {
			if err := check(old); err != nil {
				return nil, err
			}
		}
		op, perr := store.PutOp(key, obj, rec.ModRevision) // 0, which is Absent, when there was none
		if perr != nil {
			return nil, perr
		}
		if err = s.txnInBucket(ctx, b.Name, op); !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return nil, err
			}
			return old, nil
		}
	}
	return nil, errGaveUp("put "+obj.Key, err)
}

// storeObject commits obj, whose body is already in place, and then removes the body it replaced; on
// failure it removes obj's body instead.
func (s *Service) storeObject(ctx context.Context, b *bucketRecord, obj objectRecord, check writeCheck) error {
	old, err := s.commitObject(ctx, b, obj, check)
	if err != nil {
		s.removeBody(obj.Body)
		return err
	}
	if old != nil && old.Body != obj.Body {
		s.removeBody(old.Body)
	}
	return nil
}

func (s *Service) PutObject(ctx context.Context, in *s3.PutObjectRequest) (*s3.PutObjectOutput, error) {
	b, key, err := s.objectIn(ctx, in.Bucket, in.Key)
	if err != nil {
		return nil, err
	}
	body, err := s.receive(in.Body, in.ContentMD5, "o")
	if err != nil {
		return nil, err
	}
	obj := objectRecord{
		Bucket: b.Name, Key: key, Body: body.id, Size: body.size, ETag: etagOf(body.md5), LastModified: s.now(),
		headers: writtenHeaders(in.ContentType, in.ContentEncoding, in.ContentDisposition, in.ContentLanguage,
			in.CacheControl, in.Expires, in.WebsiteRedirectLocation, in.Metadata, in.StorageClass),
	}
	if err := s.storeObject(ctx, b, obj, writeConditions(key, in.IfMatch, in.IfNoneMatch)); err != nil {
		return nil, err
	}
	return &s3.PutObjectOutput{ETag: ptr(obj.ETag), Size: ptr(obj.Size)}, nil
}

// getObject reads the record of key in b.
func (s *Service) getObject(ctx context.Context, b *bucketRecord, key string) (objectRecord, int64, error) {
	obj, rec, err := store.Get[objectRecord](ctx, s.store, b.objectKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return obj, 0, errNoSuchKey(key)
	}
	return obj, rec.ModRevision, err
}

// openObject reads the record of key and opens its body. A concurrent overwrite may remove the body
// between the two; the record read again then names the new one.
func (s *Service) openObject(ctx context.Context, b *bucketRecord, key string) (objectRecord, *os.File, error) {
	dir, err := s.dir()
	if err != nil {
		return objectRecord{}, nil, err
	}
	for range retries {
		obj, _, err := s.getObject(ctx, b, key)
		if err != nil {
			return obj, nil, err
		}
		f, err := dir.Open(obj.Body)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return obj, f, err
	}
	return objectRecord{}, nil, errGaveUp("open "+key, fs.ErrNotExist)
}

// checkVersion refuses version ids: Overcast keeps only the current version, whose id is "null".
func checkVersion(id *string) error {
	if id != nil && *id != "null" {
		return errInvalidArgument("versionId", *id, "Invalid version id specified")
	}
	return nil
}

// readConditions are the preconditions of a GET, HEAD or copy source.
type readConditions struct {
	ifMatch, ifNoneMatch               *string
	ifModifiedSince, ifUnmodifiedSince *time.Time
	// copySource makes every failure a 412 named after the x-amz-copy-source-* header, as CopyObject does;
	// GET and HEAD answer 304 to a failed If-None-Match or If-Modified-Since.
	copySource bool
}

// check applies RFC 9110's order of evaluation: a true If-Match overrides If-Unmodified-Since, a present
// If-None-Match overrides If-Modified-Since.
func (c readConditions) check(o *objectRecord) error {
	name := func(h string) string {
		if c.copySource {
			return "x-amz-copy-source-" + h
		}
		return h
	}
	switch {
	case c.ifMatch != nil:
		if !etagMatches(*c.ifMatch, o.ETag) {
			return errPreconditionFailed(name("If-Match"))
		}
	case c.ifUnmodifiedSince != nil && o.LastModified.After(*c.ifUnmodifiedSince):
		return errPreconditionFailed(name("If-Unmodified-Since"))
	}
	notModified := func(h string) error {
		if c.copySource {
			return errPreconditionFailed(name(h))
		}
		return errNotModified()
	}
	switch {
	case c.ifNoneMatch != nil:
		if etagMatches(*c.ifNoneMatch, o.ETag) {
			return notModified("If-None-Match")
		}
	case c.ifModifiedSince != nil && !o.LastModified.After(*c.ifModifiedSince):
		return notModified("If-Modified-Since")
	}
	return nil
}

// etagMatches reports whether a list of entity tags (or "*") names etag.
func etagMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.Trim(strings.TrimPrefix(t, "W/"), `"`) == strings.Trim(etag, `"`) {
			return true
		}
	}
	return false
}

// byteRange is the part of a body a Range header selects.
type byteRange struct{ start, length int64 }

func (r *byteRange) contentRange(size int64) string {
	return "bytes " + strconv.FormatInt(r.start, 10) + "-" + strconv.FormatInt(r.start+r.length-1, 10) + "/" +
		strconv.FormatInt(size, 10)
}

// parseRange reads a Range header against a body of size bytes. Like S3 it ignores what it cannot parse or
// does not support (several ranges) and answers the whole body; a range past the end is InvalidRange.
func parseRange(header *string, size int64) (*byteRange, error) {
	if header == nil {
		return nil, nil
	}
	spec, ok := strings.CutPrefix(strings.TrimSpace(*header), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil, nil
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return nil, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	unsatisfiable := apierr.New(apierr.Invalid, "InvalidRange", "The requested range is not satisfiable").
		With("RangeRequested", *header).With("ActualObjectSize", size).WithStatus(http.StatusRequestedRangeNotSatisfiable)
	if first == "" { // the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return nil, nil
		}
		if n == 0 || size == 0 {
			return nil, unsatisfiable
		}
		n = min(n, size)
		return &byteRange{start: size - n, length: n}, nil
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return nil, nil
	}
	end := size - 1
	if last != "" {
		if end, err = strconv.ParseInt(last, 10, 64); err != nil || end < start {
			return nil, nil
		}
	}
	if start >= size {
		return nil, unsatisfiable
	}
	end = min(end, size-1)
	return &byteRange{start: start, length: end - start + 1}, nil
}

// rangeBody is a ranged read of a body file; closing it closes the file.
type rangeBody struct {
	*io.SectionReader
	f *os.File
}

func (r *rangeBody) Close() error { return r.f.Close() }

// responseOverrides are the response-* query parameters of GET and HEAD, which replace stored headers.
type responseOverrides struct {
	cacheControl, contentDisposition, contentEncoding, contentLanguage, contentType *string
	expires                                                                         *time.Time
}

func (r responseOverrides) apply(h headers) headers {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&h.CacheControl, r.cacheControl)
	set(&h.ContentDisposition, r.contentDisposition)
	set(&h.ContentEncoding, r.contentEncoding)
	set(&h.ContentLanguage, r.contentLanguage)
	set(&h.ContentType, r.contentType)
	if r.expires != nil {
		h.Expires = r.expires.UTC().Format(http.TimeFormat)
	}
	return h
}

// readableObject returns the bucket and key of a GET or HEAD, which may name only the current version.
func (s *Service) readableObject(ctx context.Context, in *s3.GetObjectRequest) (*bucketRecord, string, error) {
	b, key, err := s.objectIn(ctx, in.Bucket, in.Key)
	if err != nil {
		return nil, "", err
	}
	if err := checkVersion(in.VersionId); err != nil {
		return nil, "", err
	}
	return b, key, nil
}

// objectRead is what a GET or HEAD answers about an object whose preconditions held.
type objectRead struct {
	h   headers    // the stored headers with the response-* overrides applied
	rng *byteRange // nil for the whole body
}

// readOf checks a GET's or HEAD's preconditions and Range against obj.
func readOf(obj *objectRecord, in *s3.GetObjectRequest) (objectRead, error) {
	cond := readConditions{ifMatch: in.IfMatch, ifNoneMatch: in.IfNoneMatch,
		ifModifiedSince: in.IfModifiedSince, ifUnmodifiedSince: in.IfUnmodifiedSince}
	if err := cond.check(obj); err != nil {
		return objectRead{}, err
	}
	rng, err := parseRange(in.Range, obj.Size)
	if err != nil {
		return objectRead{}, err
	}
	h := responseOverrides{in.ResponseCacheControl, in.ResponseContentDisposition, in.ResponseContentEncoding,
		in.ResponseContentLanguage, in.ResponseContentType, in.ResponseExpires}.apply(obj.headers)
	return objectRead{h: h, rng: rng}, nil
}

func (s *Service) GetObject(ctx context.Context, in *s3.GetObjectRequest) (*s3.GetObjectOutput, error) {
	b, key, err := s.readableObject(ctx, in)
	if err != nil {
		return nil, err
	}
	obj, f, err := s.openObject(ctx, b, key)
	if err != nil {
		return nil, err
	}
	r, err := readOf(&obj, in)
	if err != nil {
		f.Close()
		return nil, err
	}
	h := r.h
	out := &s3.GetObjectOutput{
		Body: f, AcceptRanges: ptr("bytes"), ContentLength: ptr(obj.Size),
		ETag: ptr(obj.ETag), LastModified: ptr(obj.LastModified), Metadata: h.Metadata,
		ContentType: nonEmpty(h.ContentType), ContentEncoding: nonEmpty(h.ContentEncoding),
		ContentDisposition: nonEmpty(h.ContentDisposition), ContentLanguage: nonEmpty(h.ContentLanguage),
		CacheControl: nonEmpty(h.CacheControl), Expires: nonEmpty(h.Expires),
		WebsiteRedirectLocation: nonEmpty(h.WebsiteRedirectLocation), StorageClass: storageClassHeader(h.StorageClass),
	}
	if rng := r.rng; rng != nil {
		out.Body = &rangeBody{SectionReader: io.NewSectionReader(f, rng.start, rng.length), f: f}
		out.ContentLength = ptr(rng.length)
		out.ContentRange = ptr(rng.contentRange(obj.Size))
	}
	return out, nil
}

// storageClassHeader is the x-amz-storage-class S3 answers, which it leaves out for STANDARD.
func storageClassHeader(class string) *string {
	if class == "STANDARD" {
		return nil
	}
	return nonEmpty(class)
}

// HeadObject answers what GetObject would, without the body.
func (s *Service) HeadObject(ctx context.Context, in *s3.HeadObjectRequest) (*s3.HeadObjectOutput, error) {
	get := s3.GetObjectRequest(*in) // HEAD takes exactly GET's parameters
	b, key, err := s.readableObject(ctx, &get)
	if err != nil {
		return nil, err
	}
	obj, _, err := s.getObject(ctx, b, key)
	if err != nil {
		return nil, err
	}
	r, err := readOf(&obj, &get)
	if err != nil {
		return nil, err
	}
	h := r.h
	out := &s3.HeadObjectOutput{
		AcceptRanges: ptr("bytes"), ContentLength: ptr(obj.Size),
		ETag: ptr(obj.ETag), LastModified: ptr(obj.LastModified), Metadata: h.Metadata,
		ContentType: nonEmpty(h.ContentType), ContentEncoding: nonEmpty(h.ContentEncoding),
		ContentDisposition: nonEmpty(h.ContentDisposition), ContentLanguage: nonEmpty(h.ContentLanguage),
		CacheControl: nonEmpty(h.CacheControl), Expires: nonEmpty(h.Expires),
		WebsiteRedirectLocation: nonEmpty(h.WebsiteRedirectLocation), StorageClass: storageClassHeader(h.StorageClass),
	}
	if rng := r.rng; rng != nil {
		out.ContentLength = ptr(rng.length)
		out.ContentRange = ptr(rng.contentRange(obj.Size))
	}
	return out, nil
}

// deleteObject removes key from b; an absent key is success, as S3 has it. ifMatch makes it conditional.
func (s *Service) deleteObject(ctx context.Context, b *bucketRecord, key string, ifMatch *string) error {
	var err error
	for range retries {
		obj, rev, gerr := s.getObject(ctx, b, key)
		if apierr.Is(gerr, apierr.NotFound) {
			if ifMatch != nil {
				return gerr
			}
			return nil
		}
		if gerr != nil {
			return gerr
		}
		if ifMatch != nil && !etagMatches(*ifMatch, obj.ETag) {
			return errPreconditionFailed("If-Match")
		}
		_, err = store.Delete(ctx, s.store, b.objectKey(key), rev)
		if err == nil {
			s.removeBody(obj.Body)
			return nil
		}
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return errGaveUp("delete "+key, err)
}

func (s *Service) DeleteObject(ctx context.Context, in *s3.DeleteObjectRequest) (*s3.DeleteObjectOutput, error) {
	b, key, err := s.objectIn(ctx, in.Bucket, in.Key)
	if err != nil {
		return nil, err
	}
	if err := s.deleteObject(ctx, b, key, in.IfMatch); err != nil {
		return nil, err
	}
	return &s3.DeleteObjectOutput{}, nil
}

// maxDeleteObjects is how many keys one DeleteObjects may name.
const maxDeleteObjects = 1000

func (s *Service) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsRequest) (*s3.DeleteObjectsOutput, error) {
	b, err := s.bucketFor(ctx, in.Bucket)
	if err != nil {
		return nil, err
	}
	if in.Delete == nil || len(in.Delete.Objects) == 0 || len(in.Delete.Objects) > maxDeleteObjects {
		return nil, errMalformedXML()
	}
	quiet := val(in.Delete.Quiet)
	out := &s3.DeleteObjectsOutput{}
	for _, o := range in.Delete.Objects {
		key, err := checkKey(o.Key)
		if err == nil {
			err = checkVersion(o.VersionId)
		}
		if err == nil {
			err = s.deleteObject(ctx, b, key, o.ETag)
		}
		if err != nil {
			e, ok := apierr.As(err)
			if !ok {
				e = apierr.New(apierr.Internal, "InternalError", "We encountered an internal error. Please try again.")
			}
			out.Errors = append(out.Errors, s3.Error{Key: o.Key, VersionId: o.VersionId, Code: ptr(e.Code), Message: ptr(e.Message)})
			continue
		}
		if !quiet {
			out.Deleted = append(out.Deleted, s3.DeletedObject{Key: o.Key, VersionId: o.VersionId})
		}
	}
	return out, nil
}

// parseCopySource reads x-amz-copy-source: "bucket/key" or "/bucket/key", URL-encoded, with an optional
// "?versionId=".
func parseCopySource(src string) (bucket, key, version string, err error) {
	src, version, _ = strings.Cut(src, "?versionId=")
	src, uerr := url.PathUnescape(strings.TrimPrefix(src, "/"))
	bucket, key, ok := strings.Cut(src, "/")
	if uerr != nil || !ok || bucket == "" || key == "" {
		return "", "", "", errInvalidArgument("x-amz-copy-source", src,
			"Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	return bucket, key, version, nil
}

func (s *Service) CopyObject(ctx context.Context, in *s3.CopyObjectRequest) (*s3.CopyObjectOutput, error) {
	srcBucketName, srcKey, srcVersion, err := parseCopySource(val(in.CopySource))
	if err != nil {
		return nil, err
	}
	if srcVersion != "" {
		if err := checkVersion(&srcVersion); err != nil {
			return nil, err
		}
	}
	dst, key, err := s.objectIn(ctx, in.Bucket, in.Key)
	if err != nil {
		return nil, err
	}
	src, err := s.bucketFor(ctx, &srcBucketName)
	if err != nil {
		return nil, err
	}
	replace := false
	switch d := val(in.MetadataDirective); d {
	case "", "COPY":
	case "REPLACE":
		replace = true
	default:
		return nil, errInvalidArgument("x-amz-metadata-directive", d, "Unknown metadata directive.")
	}
	if src.Name == dst.Name && srcKey == key && !replace && in.StorageClass == nil && in.WebsiteRedirectLocation == nil {
		return nil, errInvalidRequest("This copy request is illegal because it is trying to copy an object to itself " +
			"without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	cond := readConditions{ifMatch: in.CopySourceIfMatch, ifNoneMatch: in.CopySourceIfNoneMatch,
		ifModifiedSince: in.CopySourceIfModifiedSince, ifUnmodifiedSince: in.CopySourceIfUnmodifiedSince, copySource: true}
	obj, err := s.linkCopy(ctx, src, srcKey, cond)
	if err != nil {
		return nil, err
	}
	obj.Bucket, obj.Key, obj.LastModified = dst.Name, key, s.now()
	if replace {
		obj.headers = writtenHeaders(in.ContentType, in.ContentEncoding, in.ContentDisposition, in.ContentLanguage,
			in.CacheControl, in.Expires, in.WebsiteRedirectLocation, in.Metadata, in.StorageClass)
	} else {
		// Storage class and redirect location are not metadata: a copy sets them even without REPLACE.
		if in.StorageClass != nil {
			obj.StorageClass = *in.StorageClass
		}
		if in.WebsiteRedirectLocation != nil {
			obj.WebsiteRedirectLocation = *in.WebsiteRedirectLocation
		}
	}
	if err := s.storeObject(ctx, dst, obj, writeConditions(key, in.IfMatch, in.IfNoneMatch)); err != nil {
		return nil, err
	}
	return &s3.CopyObjectOutput{CopyObjectResult: &s3.CopyObjectResult{ETag: ptr(obj.ETag), LastModified: ptr(obj.LastModified)}}, nil
}

// linkCopy checks the copy source's conditions and gives it a second body file, which shares the bytes on
// disk. It returns the source's record naming the new body.
func (s *Service) linkCopy(ctx context.Context, b *bucketRecord, key string, cond readConditions) (objectRecord, error) {
	dir, err := s.dir()
	if err != nil {
		return objectRecord{}, err
	}
	for range retries {
		obj, _, err := s.getObject(ctx, b, key)
		if err != nil {
			return obj, err
		}
		if err := cond.check(&obj); err != nil {
			return obj, err
		}
		id := newID("o")
		err = dir.Link(obj.Body, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // overwritten or deleted since the read: read again
		}
		obj.Body = id
		return obj, err
	}
	return objectRecord{}, errGaveUp("copy "+key, fs.ErrNotExist)
}
