package s3

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/overcast-cloud/overcast/api/s3"
	"github.com/overcast-cloud/overcast/internal/store"
)

// maxKeys is the default and the largest page of every S3 listing.
const maxKeys = 1000

// pageSize reads a max-keys style parameter.
func pageSize(name string, v *int32) (int, error) {
	if v == nil {
		return maxKeys, nil
	}
	if *v < 0 {
		return 0, errInvalidArgument(name, "", "Argument %s must be an integer between 0 and 2147483647", name)
	}
	return min(int(*v), maxKeys), nil
}

// checkEncoding accepts the only EncodingType S3 knows.
func checkEncoding(e *string) error {
	if e != nil && *e != "url" {
		return errInvalidArgument("encoding-type", *e, "Invalid Encoding Method specified in Request")
	}
	return nil
}

// rollUp returns the common prefix key falls under: the part of key up to and including the first delimiter
// after prefix, or "" when there is none.
func rollUp(key, prefix, delimiter string) string {
	if delimiter == "" || !strings.HasPrefix(key, prefix) {
		return ""
	}
	if i := strings.Index(key[len(prefix):], delimiter); i >= 0 {
		return key[:len(prefix)+i+len(delimiter)]
	}
	return ""
}

// listing is one page of a bucket's keys.
type listing struct {
	objects   []objectRecord
	prefixes  []string
	truncated bool
	last      string // the last key or common prefix on the page: the next page starts after it
}

// list returns up to limit keys and common prefixes of b under prefix that sort after marker. A marker that
// is itself a common prefix (a previous page ended on it) skips every key under it.
func (s *Service) list(ctx context.Context, b *bucketRecord, prefix, delimiter, marker string, limit int) (listing, error) {
	// Keys come from the record ids, so only the records that make the page are decoded.
	recs, err := s.store.List(ctx, b.objectPrefix(prefix))
	if err != nil {
		return listing{}, err
	}
	skipUnder := rollUp(marker, prefix, delimiter)
	idPrefix := b.Name + "/"
	var l listing
	for _, rec := range recs {
		key := strings.TrimPrefix(rec.Key.ID, idPrefix)
		if key <= marker || skipUnder != "" && strings.HasPrefix(key, skipUnder) {
			continue
		}
		common := rollUp(key, prefix, delimiter)
		if common != "" && common == l.last {
			continue
		}
		if len(l.objects)+len(l.prefixes) == limit {
			l.truncated = limit > 0
			break
		}
		if common != "" {
			l.prefixes = append(l.prefixes, common)
			l.last = common
			continue
		}
		obj, err := decode[objectRecord](rec)
		if err != nil {
			return listing{}, err
		}
		l.objects = append(l.objects, obj)
		l.last = key
	}
	return l, nil
}

// decode reads the value of a raw record, for the listings that pick records before decoding them. The
// store's typed helpers keep values as JSON.
func decode[T any](rec store.Record) (T, error) {
	var v T
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		return v, fmt.Errorf("s3: decode %s: %w", rec.Key, err)
	}
	return v, nil
}

// urlEncode is S3's encoding-type=url: every byte but unreserved characters and "/" percent-encoded.
func urlEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// encoder returns the function that encodes the keys of a listing as the request asked.
func encoder(encoding *string) func(string) string {
	if val(encoding) == "url" {
		return urlEncode
	}
	return func(s string) string { return s }
}

func encodedPtr(enc func(string) string, p *string) *string {
	if p == nil {
		return nil
	}
	return ptr(enc(*p))
}

func (l *listing) contents(enc func(string) string, withOwner bool, account string) []s3.Object {
	out := make([]s3.Object, len(l.objects))
	for i, o := range l.objects {
		class := o.StorageClass
		if class == "" {
			class = "STANDARD"
		}
		out[i] = s3.Object{Key: ptr(enc(o.Key)), LastModified: ptr(o.LastModified), ETag: ptr(o.ETag), Size: ptr(o.Size),
			StorageClass: &class}
		if withOwner {
			out[i].Owner = owner(account)
		}
	}
	return out
}

func (l *listing) commonPrefixes(enc func(string) string) []s3.CommonPrefix {
	out := make([]s3.CommonPrefix, len(l.prefixes))
	for i, p := range l.prefixes {
		out[i] = s3.CommonPrefix{Prefix: ptr(enc(p))}
	}
	return out
}

// listingOf checks what every listing of a bucket asks for, in S3's order: the bucket, the page size
// (the parameter named sizeName), the encoding type. It returns the bucket and the page size.
func (s *Service) listingOf(ctx context.Context, bucket *string, sizeName string, size *int32, encoding *string) (*bucketRecord, int, error) {
	b, err := s.bucketFor(ctx, bucket)
	if err != nil {
		return nil, 0, err
	}
	limit, err := pageSize(sizeName, size)
	if err != nil {
		return nil, 0, err
	}
	if err := checkEncoding(encoding); err != nil {
		return nil, 0, err
	}
	return b, limit, nil
}

func (s *Service) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Request) (*s3.ListObjectsV2Output, error) {
	b, limit, err := s.listingOf(ctx, in.Bucket, "max-keys", in.MaxKeys, in.EncodingType)
	if err != nil {
		return nil, err
	}
	marker, err := decodeToken(in.ContinuationToken)
	if err != nil {
		return nil, err
	}
	if in.ContinuationToken == nil {
		marker = val(in.StartAfter)
	}
	l, err := s.list(ctx, b, val(in.Prefix), val(in.Delimiter), marker, limit)
	if err != nil {
		return nil, err
	}
	enc := encoder(in.EncodingType)
	out := &s3.ListObjectsV2Output{
		Name: ptr(b.Name), Prefix: ptr(enc(val(in.Prefix))), Delimiter: encodedPtr(enc, in.Delimiter),
		StartAfter: encodedPtr(enc, in.StartAfter), EncodingType: in.EncodingType, ContinuationToken: in.ContinuationToken,
		MaxKeys: ptr(int32(limit)), KeyCount: ptr(int32(len(l.objects) + len(l.prefixes))), IsTruncated: ptr(l.truncated),
		Contents: l.contents(enc, val(in.FetchOwner), b.Account), CommonPrefixes: l.commonPrefixes(enc),
	}
	if l.truncated {
		out.NextContinuationToken = ptr(encodeToken(l.last))
	}
	return out, nil
}

func (s *Service) ListObjects(ctx context.Context, in *s3.ListObjectsRequest) (*s3.ListObjectsOutput, error) {
	b, limit, err := s.listingOf(ctx, in.Bucket, "max-keys", in.MaxKeys, in.EncodingType)
	if err != nil {
		return nil, err
	}
	l, err := s.list(ctx, b, val(in.Prefix), val(in.Delimiter), val(in.Marker), limit)
	if err != nil {
		return nil, err
	}
	enc := encoder(in.EncodingType)
	out := &s3.ListObjectsOutput{
		Name: ptr(b.Name), Prefix: ptr(enc(val(in.Prefix))), Delimiter: encodedPtr(enc, in.Delimiter),
		Marker: ptr(enc(val(in.Marker))), EncodingType: in.EncodingType, MaxKeys: ptr(int32(limit)),
		IsTruncated: ptr(l.truncated), Contents: l.contents(enc, true, b.Account), CommonPrefixes: l.commonPrefixes(enc),
	}
	// S3 sends NextMarker only with a delimiter; without one the client continues from the last key.
	if l.truncated && in.Delimiter != nil {
		out.NextMarker = ptr(enc(l.last))
	}
	return out, nil
}
