package s3

import (
	"cmp"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/overcast-cloud/overcast/api/s3"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/storage/objects"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Multipart limits, as AWS has them.
const (
	minPartSize   = 5 << 20 // every part but the last
	maxPartNumber = 10000
)

func partID(uploadID string, number int32) string { return fmt.Sprintf("%s/%05d", uploadID, number) }

// upload returns the upload uploadID of key in b and its revision.
func (s *Service) upload(ctx context.Context, b *bucketRecord, key, uploadID string) (uploadRecord, int64, error) {
	if uploadID == "" || strings.Contains(uploadID, "/") {
		return uploadRecord{}, 0, errNoSuchUpload(uploadID)
	}
	u, rec, err := store.Get[uploadRecord](ctx, s.store, b.uploadKey(uploadID))
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Key != key {
		return u, 0, errNoSuchUpload(uploadID)
	}
	return u, rec.ModRevision, err
}

// uploadIn returns the bucket and the upload of a request about one upload, checking the bucket, then the
// key, then the upload.
func (s *Service) uploadIn(ctx context.Context, bucket, key, uploadID *string) (*bucketRecord, uploadRecord, error) {
	b, k, err := s.objectIn(ctx, bucket, key)
	if err != nil {
		return nil, uploadRecord{}, err
	}
	u, _, err := s.upload(ctx, b, k, val(uploadID))
	if err != nil {
		return nil, uploadRecord{}, err
	}
	return b, u, nil
}

// raced reports whether err means another writer changed what a multi-record transaction read; the caller
// then reads again and redoes it.
func raced(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)
}

func (s *Service) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadRequest) (*s3.CreateMultipartUploadOutput, error) {
	b, key, err := s.objectIn(ctx, in.Bucket, in.Key)
	if err != nil {
		return nil, err
	}
	u := uploadRecord{
		ID: newUploadID(), Bucket: b.Name, Key: key, Initiated: s.now(), Initiator: initiatorOf(ctx),
		headers: writtenHeaders(in.ContentType, in.ContentEncoding, in.ContentDisposition, in.ContentLanguage,
			in.CacheControl, in.Expires, in.WebsiteRedirectLocation, in.Metadata, in.StorageClass),
	}
	op, err := store.PutOp(b.uploadKey(u.ID), u, store.Absent)
	if err != nil {
		return nil, err
	}
	if err := s.txnInBucket(ctx, b.Name, op); err != nil {
		return nil, err
	}
	return &s3.CreateMultipartUploadOutput{Bucket: ptr(b.Name), Key: ptr(key), UploadId: ptr(u.ID)}, nil
}

func (s *Service) UploadPart(ctx context.Context, in *s3.UploadPartRequest) (*s3.UploadPartOutput, error) {
	b, key, err := s.objectIn(ctx, in.Bucket, in.Key)
	if err != nil {
		return nil, err
	}
	n := val(in.PartNumber)
	if n < 1 || n > maxPartNumber {
		return nil, errInvalidArgument("partNumber", fmt.Sprint(n), "Part number must be an integer between 1 and %d, inclusive", maxPartNumber)
	}
	uploadID := val(in.UploadId)
	// Refuse before reading the body; commitPart checks again when it commits.
	if _, _, err := s.upload(ctx, b, key, uploadID); err != nil {
		return nil, err
	}
	body, err := s.receive(in.Body, in.ContentMD5, "p")
	if err != nil {
		return nil, err
	}
	part := partRecord{Upload: uploadID, Number: n, Body: body.id, Size: body.size, ETag: etagOf(body.md5),
		MD5: body.md5, LastModified: s.now()}
	old, err := s.commitPart(ctx, b, key, part)
	if err != nil {
		s.removeBody(part.Body)
		return nil, err
	}
	if old != nil {
		s.removeBody(old.Body)
	}
	return &s3.UploadPartOutput{ETag: ptr(part.ETag)}, nil
}

// commitPart records part, replacing a part of the same number, and returns the one it replaced. The
// transaction rewrites the upload record too: its revision then moves with every part, so a Complete or
// Abort that read the upload before this part fails its own transaction instead of missing the part.
func (s *Service) commitPart(ctx context.Context, b *bucketRecord, key string, part partRecord) (*partRecord, error) {
	var err error
	for range retries {
		u, urev, uerr := s.upload(ctx, b, key, part.Upload)
		if uerr != nil {
			return nil, uerr
		}
		var old *partRecord
		cur, rec, gerr := store.Get[partRecord](ctx, s.store, b.partKey(part.Upload, part.Number))
		switch {
		case gerr == nil:
			old = &cur
		case !errors.Is(gerr, store.ErrNotFound):
			return nil, gerr
		}
		uop, perr := store.PutOp(b.uploadKey(u.ID), u, urev)
		if perr != nil {
			return nil, perr
		}
		pop, perr := store.PutOp(b.partKey(part.Upload, part.Number), part, rec.ModRevision)
		if perr != nil {
			return nil, perr
		}
		if _, err = s.store.Txn(ctx, uop, pop); !raced(err) {
			if err != nil {
				return nil, err
			}
			return old, nil
		}
	}
	return nil, errGaveUp("upload part", err)
}

// parts returns the parts of an upload in number order, with their records.
func (s *Service) parts(ctx context.Context, b *bucketRecord, uploadID string) ([]partRecord, []store.Record, error) {
	return store.List[partRecord](ctx, s.store, b.partPrefix(uploadID))
}

func (s *Service) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadRequest) (*s3.CompleteMultipartUploadOutput, error) {
	b, key, err := s.objectIn(ctx, in.Bucket, in.Key)
	if err != nil {
		return nil, err
	}
	if in.MultipartUpload == nil || len(in.MultipartUpload.Parts) == 0 {
		return nil, errMalformedXML()
	}
	for range retries {
		obj, err := s.complete(ctx, b, key, in)
		if raced(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &s3.CompleteMultipartUploadOutput{
			Bucket: ptr(b.Name), Key: ptr(key), ETag: ptr(obj.ETag), Location: ptr("/" + b.Name + "/" + urlEncode(key)),
		}, nil
	}
	return nil, errGaveUp("complete multipart upload", store.ErrConflict)
}

// complete makes the object of an upload from the parts the request names. It returns an error that raced
// accepts when a concurrent write changed the upload, its parts or the object while it worked.
func (s *Service) complete(ctx context.Context, b *bucketRecord, key string, in *s3.CompleteMultipartUploadRequest) (objectRecord, error) {
	u, urev, err := s.upload(ctx, b, key, val(in.UploadId))
	if err != nil {
		return objectRecord{}, err
	}
	parts, recs, err := s.parts(ctx, b, u.ID)
	if err != nil {
		return objectRecord{}, err
	}
	chosen, err := chooseParts(u.ID, parts, in.MultipartUpload.Parts)
	if err != nil {
		return objectRecord{}, err
	}
	body, etag, err := s.concatenate(chosen)
	if err != nil {
		return objectRecord{}, err
	}
	obj := objectRecord{Bucket: b.Name, Key: key, Body: body.id, Size: body.size, ETag: etag, LastModified: s.now(),
		PartsCount: int32(len(chosen)), headers: u.headers}

	ops := []store.Op{store.DeleteOp(b.uploadKey(u.ID), urev)}
	for _, rec := range recs { // parts the request left out are discarded too, as AWS does
		ops = append(ops, store.DeleteOp(rec.Key, rec.ModRevision))
	}
	old, rev, err := s.getObject(ctx, b, key)
	var oldp *objectRecord
	switch {
	case err == nil:
		oldp = &old
	case !apierr.Is(err, apierr.NotFound):
		s.removeBody(body.id)
		return objectRecord{}, err
	}
	if err := writeConditions(key, in.IfMatch, in.IfNoneMatch)(oldp); err != nil {
		s.removeBody(body.id)
		return objectRecord{}, err
	}
	op, err := store.PutOp(b.objectKey(key), obj, rev)
	if err == nil {
		err = s.txnInBucket(ctx, b.Name, append(ops, op)...)
	}
	if err != nil {
		s.removeBody(body.id)
		return objectRecord{}, err
	}
	for _, p := range parts {
		s.removeBody(p.Body)
	}
	if oldp != nil {
		s.removeBody(oldp.Body)
	}
	return obj, nil
}

// chooseParts checks the request's part list against the uploaded parts: ascending numbers, matching ETags,
// and every part but the last at least minPartSize.
func chooseParts(uploadID string, uploaded []partRecord, requested []s3.CompletedPart) ([]partRecord, error) {
	chosen := make([]partRecord, 0, len(requested))
	var prev int32
	for _, cp := range requested {
		n := val(cp.PartNumber)
		if n <= prev {
			return nil, apierr.New(apierr.Invalid, "InvalidPartOrder",
				"The list of parts was not in ascending order. Parts must be ordered by part number.").With("UploadId", uploadID)
		}
		prev = n
		i := slices.IndexFunc(uploaded, func(p partRecord) bool { return p.Number == n })
		if i < 0 || cp.ETag == nil || strings.Trim(*cp.ETag, `"`) != strings.Trim(uploaded[i].ETag, `"`) {
			return nil, apierr.New(apierr.Invalid, "InvalidPart",
				"One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.").
				With("UploadId", uploadID).With("PartNumber", n).With("ETag", val(cp.ETag))
		}
		chosen = append(chosen, uploaded[i])
	}
	for _, p := range chosen[:len(chosen)-1] {
		if p.Size < minPartSize {
			return nil, apierr.New(apierr.Invalid, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size").
				With("ProposedSize", p.Size).With("MinSizeAllowed", minPartSize).With("PartNumber", p.Number).With("ETag", p.ETag)
		}
	}
	return chosen, nil
}

// concatenate streams the parts' bodies into a new object body. Its ETag is S3's multipart ETag: the MD5 of
// the parts' binary MD5s, a dash, and the number of parts. A part body gone missing (the part was uploaded
// again meanwhile) is a store.ErrConflict, so the caller reads the parts again.
func (s *Service) concatenate(parts []partRecord) (received, string, error) {
	digests := md5.New()
	body, err := s.writeBody("o", func(dir *objects.Dir, w *objects.Writer) error {
		for _, p := range parts {
			f, err := dir.Open(p.Body)
			if errors.Is(err, fs.ErrNotExist) {
				return store.ErrConflict
			}
			if err != nil {
				return err
			}
			_, err = w.ReadFrom(f)
			f.Close()
			if err != nil {
				return err
			}
			digests.Write(p.MD5)
		}
		return nil
	})
	if err != nil {
		return received{}, "", err
	}
	return body, fmt.Sprintf(`"%x-%d"`, digests.Sum(nil), len(parts)), nil
}

func (s *Service) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadRequest) (*s3.AbortMultipartUploadOutput, error) {
	b, u, err := s.uploadIn(ctx, in.Bucket, in.Key, in.UploadId)
	if err != nil {
		return nil, err
	}
	if err := s.abortUpload(ctx, b, u.ID); err != nil {
		return nil, err
	}
	return &s3.AbortMultipartUploadOutput{}, nil
}

// abortUpload deletes an upload, its parts and their bodies.
func (s *Service) abortUpload(ctx context.Context, b *bucketRecord, uploadID string) error {
	var err error
	for range retries {
		_, rec, gerr := store.Get[uploadRecord](ctx, s.store, b.uploadKey(uploadID))
		if errors.Is(gerr, store.ErrNotFound) {
			return errNoSuchUpload(uploadID)
		}
		if gerr != nil {
			return gerr
		}
		parts, recs, lerr := s.parts(ctx, b, uploadID)
		if lerr != nil {
			return lerr
		}
		ops := []store.Op{store.DeleteOp(rec.Key, rec.ModRevision)}
		for _, r := range recs {
			ops = append(ops, store.DeleteOp(r.Key, r.ModRevision))
		}
		if _, err = s.store.Txn(ctx, ops...); raced(err) {
			continue
		}
		if err != nil {
			return err
		}
		for _, p := range parts {
			s.removeBody(p.Body)
		}
		return nil
	}
	return errGaveUp("abort multipart upload", err)
}

func (s *Service) ListParts(ctx context.Context, in *s3.ListPartsRequest) (*s3.ListPartsOutput, error) {
	b, u, err := s.uploadIn(ctx, in.Bucket, in.Key, in.UploadId)
	if err != nil {
		return nil, err
	}
	limit, err := pageSize("max-parts", in.MaxParts)
	if err != nil {
		return nil, err
	}
	parts, _, err := s.parts(ctx, b, u.ID)
	if err != nil {
		return nil, err
	}
	marker := val(in.PartNumberMarker)
	out := &s3.ListPartsOutput{
		Bucket: ptr(b.Name), Key: ptr(u.Key), UploadId: ptr(u.ID), MaxParts: ptr(int32(limit)),
		PartNumberMarker: ptr(marker), IsTruncated: ptr(false), StorageClass: ptr(storageClass(u.StorageClass)),
		Initiator: &s3.Initiator{ID: ptr(u.Initiator.ID), DisplayName: nonEmpty(u.Initiator.DisplayName)},
		Owner:     owner(b.Account), Parts: []s3.Part{},
	}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if len(out.Parts) == limit {
			out.IsTruncated = ptr(limit > 0)
			break
		}
		out.Parts = append(out.Parts, s3.Part{PartNumber: ptr(p.Number), ETag: ptr(p.ETag), Size: ptr(p.Size),
			LastModified: ptr(p.LastModified)})
		out.NextPartNumberMarker = ptr(p.Number)
	}
	return out, nil
}

func storageClass(c string) string {
	if c == "" {
		return "STANDARD"
	}
	return c
}

func (s *Service) ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsRequest) (*s3.ListMultipartUploadsOutput, error) {
	b, limit, err := s.listingOf(ctx, in.Bucket, "max-uploads", in.MaxUploads, in.EncodingType)
	if err != nil {
		return nil, err
	}
	uploads, _, err := store.List[uploadRecord](ctx, s.store, b.uploadPrefix())
	if err != nil {
		return nil, err
	}
	// AWS lists by key, and the uploads of one key in the order they were initiated.
	slices.SortFunc(uploads, func(x, y uploadRecord) int {
		return cmp.Or(strings.Compare(x.Key, y.Key), x.Initiated.Compare(y.Initiated), strings.Compare(x.ID, y.ID))
	})
	prefix, delimiter := val(in.Prefix), val(in.Delimiter)
	keyMarker, idMarker := val(in.KeyMarker), val(in.UploadIdMarker)
	// With an upload id marker, the uploads of the marker's key that come after that upload are listed too.
	markerAt := -1
	if idMarker != "" {
		markerAt = slices.IndexFunc(uploads, func(u uploadRecord) bool { return u.Key == keyMarker && u.ID == idMarker })
	}
	skipUnder := rollUp(keyMarker, prefix, delimiter)
	enc := encoder(in.EncodingType)
	out := &s3.ListMultipartUploadsOutput{
		Bucket: ptr(b.Name), Prefix: ptr(enc(prefix)), Delimiter: encodedPtr(enc, in.Delimiter),
		KeyMarker: ptr(enc(keyMarker)), UploadIdMarker: ptr(idMarker), MaxUploads: ptr(int32(limit)),
		EncodingType: in.EncodingType, IsTruncated: ptr(false),
	}
	var lastKey, lastID, lastPrefix string
	for i, u := range uploads {
		switch {
		case !strings.HasPrefix(u.Key, prefix), u.Key < keyMarker:
			continue
		case u.Key == keyMarker && !(markerAt >= 0 && i > markerAt || markerAt < 0 && idMarker != "" && u.ID > idMarker):
			continue
		case skipUnder != "" && strings.HasPrefix(u.Key, skipUnder):
			continue
		}
		common := rollUp(u.Key, prefix, delimiter)
		if common != "" && common == lastPrefix {
			continue
		}
		if len(out.Uploads)+len(out.CommonPrefixes) == limit {
			out.IsTruncated = ptr(limit > 0)
			break
		}
		if common != "" {
			out.CommonPrefixes = append(out.CommonPrefixes, s3.CommonPrefix{Prefix: ptr(enc(common))})
			lastPrefix, lastKey, lastID = common, common, ""
			continue
		}
		out.Uploads = append(out.Uploads, s3.MultipartUpload{
			Key: ptr(enc(u.Key)), UploadId: ptr(u.ID), Initiated: ptr(u.Initiated), StorageClass: ptr(storageClass(u.StorageClass)),
			Initiator: &s3.Initiator{ID: ptr(u.Initiator.ID), DisplayName: nonEmpty(u.Initiator.DisplayName)},
			Owner:     owner(b.Account),
		})
		lastKey, lastID = u.Key, u.ID
	}
	if val(out.IsTruncated) {
		out.NextKeyMarker, out.NextUploadIdMarker = ptr(enc(lastKey)), ptr(lastID)
	}
	return out, nil
}
