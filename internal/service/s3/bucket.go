package s3

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"slices"
	"strings"

	"github.com/overcast-cloud/overcast/api/s3"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// usEast1 is the region whose buckets have no location constraint, for S3's history.
const usEast1 = "us-east-1"

// bucketFor returns the bucket named name that the caller may use. A bucket of another account is
// AccessDenied: Overcast has no bucket policies yet, and without one AWS denies every other account.
// A bucket is usable from any region; AWS would redirect, and the SDKs follow such redirects anyway.
func (s *Service) bucketFor(ctx context.Context, name *string) (*bucketRecord, error) {
	if !validBucketName(val(name)) { // no bucket of such a name can have been created
		return nil, errNoSuchBucket(val(name))
	}
	b, _, err := store.Get[bucketRecord](ctx, s.store, bucketKey(*name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSuchBucket(*name)
	}
	if err != nil {
		return nil, err
	}
	if b.Account != awsctx.From(ctx).Account {
		return nil, errAccessDenied()
	}
	return &b, nil
}

// validBucketName applies AWS's rules for general purpose buckets.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	first, last := name[0], name[len(name)-1]
	if first == '.' || first == '-' || last == '.' || last == '-' {
		return false
	}
	if strings.Contains(name, "..") || net.ParseIP(name) != nil {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, suffix := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, suffix) {
			return false
		}
	}
	return true
}

// checkLocation compares a CreateBucket location constraint with the region the request was sent to.
func checkLocation(constraint, region string) error {
	if constraint == "EU" {
		constraint = "eu-west-1"
	}
	switch {
	case constraint == region && region != usEast1:
		return nil
	case constraint == "" && region == usEast1:
		return nil
	case constraint == usEast1:
		// us-east-1 is the absence of a constraint; naming it is an error even there.
		return apierr.New(apierr.Invalid, "InvalidLocationConstraint", "The specified location-constraint is not valid").
			With("LocationConstraint", constraint)
	case constraint == "":
		return apierr.New(apierr.Invalid, "IllegalLocationConstraintException",
			"The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
	default:
		return apierr.New(apierr.Invalid, "IllegalLocationConstraintException",
			"The %s location constraint is incompatible for the region specific endpoint this request was sent to.", constraint)
	}
}

func (s *Service) CreateBucket(ctx context.Context, in *s3.CreateBucketRequest) (*s3.CreateBucketOutput, error) {
	req := awsctx.From(ctx)
	name := val(in.Bucket)
	if !validBucketName(name) {
		return nil, errInvalidBucketName(name)
	}
	var constraint string
	var tags []tag
	if c := in.CreateBucketConfiguration; c != nil {
		constraint = val(c.LocationConstraint)
		var err error
		if tags, err = tagsFrom(c.Tags); err != nil {
			return nil, err
		}
	}
	if err := checkLocation(constraint, req.Region); err != nil {
		return nil, err
	}
	b := bucketRecord{Name: name, Account: req.Account, Region: req.Region, Created: s.now(), Tags: tags}
	_, err := store.Create(ctx, s.store, bucketKey(name), b)
	if errors.Is(err, store.ErrExists) {
		existing, _, gerr := store.Get[bucketRecord](ctx, s.store, bucketKey(name))
		switch {
		case gerr != nil && !errors.Is(gerr, store.ErrNotFound):
			return nil, gerr
		case gerr == nil && existing.Account != req.Account:
			return nil, apierr.New(apierr.AlreadyExists, "BucketAlreadyExists",
				"The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.").
				With("BucketName", name)
		case gerr == nil && existing.Region == usEast1 && req.Region == usEast1:
			// AWS's legacy behaviour: re-creating your own bucket in North Virginia succeeds.
			return createBucketOutput(name, req.Region), nil
		default:
			return nil, apierr.New(apierr.AlreadyExists, "BucketAlreadyOwnedByYou",
				"Your previous request to create the named bucket succeeded and you already own it.").
				With("BucketName", name)
		}
	}
	if err != nil {
		return nil, err
	}
	return createBucketOutput(name, req.Region), nil
}

func createBucketOutput(name, region string) *s3.CreateBucketOutput {
	loc := "/" + name
	if region != usEast1 {
		loc = "http://" + name + ".s3." + region + ".amazonaws.com/"
	}
	return &s3.CreateBucketOutput{Location: &loc, BucketArn: ptr(bucketARN(name))}
}

func bucketARN(name string) string { return "arn:aws:s3:::" + name }

func (s *Service) DeleteBucket(ctx context.Context, in *s3.DeleteBucketRequest) (*wire.Empty, error) {
	b, err := s.bucketFor(ctx, in.Bucket)
	if err != nil {
		return nil, err
	}
	// Exclusive: no object may be committed between the emptiness check and the delete.
	s.commits.Lock()
	defer s.commits.Unlock()
	objs, err := s.store.List(ctx, b.objectPrefix(""))
	if err != nil {
		return nil, err
	}
	if len(objs) > 0 {
		return nil, apierr.New(apierr.Conflict, "BucketNotEmpty", "The bucket you tried to delete is not empty").
			With("BucketName", b.Name)
	}
	// Uploads in progress are not objects and do not keep a bucket alive; they go with it.
	uploads, _, err := store.List[uploadRecord](ctx, s.store, b.uploadPrefix())
	if err != nil {
		return nil, err
	}
	for _, u := range uploads {
		if err := s.abortUpload(ctx, b, u.ID); err != nil && !apierr.Is(err, apierr.NotFound) {
			return nil, err
		}
	}
	if _, err := store.Delete(ctx, s.store, bucketKey(b.Name), store.Any); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return &wire.Empty{}, nil
}

func (s *Service) HeadBucket(ctx context.Context, in *s3.HeadBucketRequest) (*s3.HeadBucketOutput, error) {
	b, err := s.bucketFor(ctx, in.Bucket)
	if err != nil {
		return nil, err
	}
	return &s3.HeadBucketOutput{BucketRegion: &b.Region, BucketArn: ptr(bucketARN(b.Name)), AccessPointAlias: ptr(false)}, nil
}

func (s *Service) GetBucketLocation(ctx context.Context, in *s3.GetBucketLocationRequest) (*s3.GetBucketLocationOutput, error) {
	b, err := s.bucketFor(ctx, in.Bucket)
	if err != nil {
		return nil, err
	}
	out := &s3.GetBucketLocationOutput{}
	if b.Region != usEast1 { // us-east-1 is reported as no constraint at all, as AWS does
		out.LocationConstraint = &b.Region
	}
	return out, nil
}

// maxBuckets is the page size of ListBuckets when the caller names none, and its upper bound.
const maxBuckets = 10000

func (s *Service) ListBuckets(ctx context.Context, in *s3.ListBucketsRequest) (*s3.ListBucketsOutput, error) {
	account := awsctx.From(ctx).Account
	all, _, err := store.List[bucketRecord](ctx, s.store, store.Prefix{Kind: kindBucket, IDPrefix: val(in.Prefix)})
	if err != nil {
		return nil, err
	}
	limit := maxBuckets
	if in.MaxBuckets != nil {
		if *in.MaxBuckets < 1 || *in.MaxBuckets > maxBuckets {
			return nil, errInvalidArgument("max-buckets", "", "Argument max-buckets must be an integer between 1 and %d", maxBuckets)
		}
		limit = int(*in.MaxBuckets)
	}
	after, err := decodeToken(in.ContinuationToken)
	if err != nil {
		return nil, err
	}
	out := &s3.ListBucketsOutput{Owner: owner(account), Prefix: in.Prefix, Buckets: []s3.Bucket{}}
	for _, b := range all {
		if b.Account != account || b.Name <= after || in.BucketRegion != nil && b.Region != *in.BucketRegion {
			continue
		}
		if len(out.Buckets) == limit {
			out.ContinuationToken = ptr(encodeToken(*out.Buckets[limit-1].Name))
			break
		}
		out.Buckets = append(out.Buckets, s3.Bucket{
			Name: ptr(b.Name), CreationDate: ptr(b.Created), BucketRegion: ptr(b.Region), BucketArn: ptr(bucketARN(b.Name)),
		})
	}
	return out, nil
}

// encodeToken makes an opaque continuation token from the last name a page returned.
func encodeToken(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }

func decodeToken(token *string) (string, error) {
	if token == nil {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*token)
	if err != nil || len(b) == 0 {
		return "", errInvalidArgument("continuation-token", *token, "The continuation token provided is incorrect")
	}
	return string(b), nil
}

// tagsFrom validates a tag set as S3 does: at most 50, unique keys of 1 to 128 characters, values to 256.
func tagsFrom(in []s3.Tag) ([]tag, error) {
	if len(in) > 50 {
		return nil, apierr.New(apierr.Invalid, "InvalidTag", "Object tags cannot be greater than 50")
	}
	out := make([]tag, 0, len(in))
	for _, t := range in {
		k, v := val(t.Key), val(t.Value)
		if k == "" || len(k) > 128 || len(v) > 256 {
			return nil, apierr.New(apierr.Invalid, "InvalidTag", "The TagKey you have provided is invalid").With("TagKey", k)
		}
		if slices.ContainsFunc(out, func(t tag) bool { return t.Key == k }) {
			return nil, apierr.New(apierr.Invalid, "InvalidTag", "Cannot provide multiple Tags with the same key").With("TagKey", k)
		}
		out = append(out, tag{Key: k, Value: v})
	}
	return out, nil
}

func (s *Service) PutBucketTagging(ctx context.Context, in *s3.PutBucketTaggingRequest) (*wire.Empty, error) {
	b, err := s.bucketFor(ctx, in.Bucket)
	if err != nil {
		return nil, err
	}
	if in.Tagging == nil {
		return nil, errMalformedXML()
	}
	tags, err := tagsFrom(in.Tagging.TagSet)
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, s.setTags(ctx, b.Name, tags)
}

func (s *Service) DeleteBucketTagging(ctx context.Context, in *s3.DeleteBucketTaggingRequest) (*wire.Empty, error) {
	b, err := s.bucketFor(ctx, in.Bucket)
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, s.setTags(ctx, b.Name, nil)
}

func (s *Service) setTags(ctx context.Context, bucket string, tags []tag) error {
	_, err := store.Mutate(ctx, s.store, bucketKey(bucket), func(b *bucketRecord) error {
		b.Tags = tags
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNoSuchBucket(bucket)
	}
	return err
}

func (s *Service) GetBucketTagging(ctx context.Context, in *s3.GetBucketTaggingRequest) (*s3.GetBucketTaggingOutput, error) {
	b, err := s.bucketFor(ctx, in.Bucket)
	if err != nil {
		return nil, err
	}
	if len(b.Tags) == 0 {
		return nil, apierr.New(apierr.NotFound, "NoSuchTagSet", "The TagSet does not exist").With("BucketName", b.Name)
	}
	out := &s3.GetBucketTaggingOutput{TagSet: make([]s3.Tag, len(b.Tags))}
	for i, t := range b.Tags {
		out.TagSet[i] = s3.Tag{Key: ptr(t.Key), Value: ptr(t.Value)}
	}
	return out, nil
}

// GetBucketVersioning answers that versioning was never enabled, which is true: Overcast keeps one version.
// Tools such as Terraform read it for every bucket.
func (s *Service) GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningRequest) (*s3.GetBucketVersioningOutput, error) {
	if _, err := s.bucketFor(ctx, in.Bucket); err != nil {
		return nil, err
	}
	return &s3.GetBucketVersioningOutput{}, nil
}
