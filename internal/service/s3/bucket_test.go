package s3

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/api/s3"
	"github.com/overcast-cloud/overcast/internal/apierr"
)

func TestBucketNames(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"abc", "my.bucket-1", strings.Repeat("a", 63), "1bucket"} {
		if _, err := e.svc.CreateBucket(e.ctx(), &s3.CreateBucketRequest{Bucket: str(name)}); err != nil {
			t.Errorf("CreateBucket %q: %v", name, err)
		}
	}
	for _, name := range []string{"", "ab", strings.Repeat("a", 64), "My-Bucket", "under_score", "-lead", "trail-",
		"double..dot", "192.168.1.1", "xn--punycode", "sthree-x", "name-s3alias", "name--ol-s3", "dot.", ".dot"} {
		_, err := e.svc.CreateBucket(e.ctx(), &s3.CreateBucketRequest{Bucket: str(name)})
		if err == nil {
			t.Errorf("CreateBucket %q: accepted an invalid name", name)
			continue
		}
		if got := wantErr(t, err, "InvalidBucketName", 0); got.Class != apierr.Invalid || got.Fields["BucketName"] != name {
			t.Errorf("CreateBucket %q: %+v", name, got)
		}
	}
}

func TestCreateBucketLocation(t *testing.T) {
	e := newEnv(t)
	create := func(region, name string, constraint *string) error {
		in := &s3.CreateBucketRequest{Bucket: &name}
		if constraint != nil {
			in.CreateBucketConfiguration = &s3.CreateBucketConfiguration{LocationConstraint: constraint}
		}
		_, err := e.svc.CreateBucket(ctxOf(alice, region), in)
		return err
	}
	if err := create("us-east-1", "east", nil); err != nil {
		t.Fatal(err)
	}
	if err := create("us-west-2", "west", str("us-west-2")); err != nil {
		t.Fatal(err)
	}
	if err := create("eu-west-1", "eu-bkt", str("EU")); err != nil {
		t.Fatal(err)
	}
	wantErr(t, create("us-west-2", "bkt1", nil), "IllegalLocationConstraintException", 0)
	wantErr(t, create("us-west-2", "bkt2", str("eu-central-1")), "IllegalLocationConstraintException", 0)
	wantErr(t, create("us-east-1", "bkt3", str("us-west-2")), "IllegalLocationConstraintException", 0)
	wantErr(t, create("us-east-1", "bkt4", str("us-east-1")), "InvalidLocationConstraint", 0)

	for name, want := range map[string]*string{"east": nil, "west": str("us-west-2"), "eu-bkt": str("eu-west-1")} {
		loc, err := e.svc.GetBucketLocation(e.ctx(), &s3.GetBucketLocationRequest{Bucket: str(name)})
		if err != nil {
			t.Fatal(err)
		}
		if (loc.LocationConstraint == nil) != (want == nil) || want != nil && *loc.LocationConstraint != *want {
			t.Errorf("GetBucketLocation %s: %v, want %v", name, loc.LocationConstraint, want)
		}
		head, err := e.svc.HeadBucket(e.ctx(), &s3.HeadBucketRequest{Bucket: str(name)})
		if err != nil {
			t.Fatal(err)
		}
		region := "us-east-1"
		if want != nil {
			region = *want
		}
		if val(head.BucketRegion) != region {
			t.Errorf("HeadBucket %s: region %s, want %s", name, val(head.BucketRegion), region)
		}
	}
}

func TestCreateBucketTwice(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("shared")
	// North Virginia lets the owner create its bucket again, for legacy compatibility.
	if _, err := e.svc.CreateBucket(e.ctx(), &s3.CreateBucketRequest{Bucket: str("shared")}); err != nil {
		t.Fatalf("re-create in us-east-1: %v", err)
	}
	west := ctxOf(alice, "us-west-2")
	in := &s3.CreateBucketRequest{Bucket: str("mine"),
		CreateBucketConfiguration: &s3.CreateBucketConfiguration{LocationConstraint: str("us-west-2")}}
	if _, err := e.svc.CreateBucket(west, in); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.CreateBucket(west, in)
	if got := wantErr(t, err, "BucketAlreadyOwnedByYou", 0); got.Class != apierr.AlreadyExists {
		t.Errorf("class %v", got.Class)
	}
	// The namespace is global: another account, in any region, cannot have the name.
	_, err = e.svc.CreateBucket(ctxOf(bob, "us-east-1"), &s3.CreateBucketRequest{Bucket: str("shared")})
	if got := wantErr(t, err, "BucketAlreadyExists", 0); got.Class != apierr.AlreadyExists {
		t.Errorf("class %v", got.Class)
	}
	_, err = e.svc.CreateBucket(ctxOf(bob, "us-west-2"), in)
	wantErr(t, err, "BucketAlreadyExists", 0)
}

func TestListBuckets(t *testing.T) {
	e := newEnv(t)
	created := e.now
	for _, n := range []string{"c-bucket", "a-bucket", "b-bucket"} {
		e.mkBucket(n)
		e.now = e.now.Add(time.Minute)
	}
	if _, err := e.svc.CreateBucket(ctxOf(bob, "us-east-1"), &s3.CreateBucketRequest{Bucket: str("bobs")}); err != nil {
		t.Fatal(err)
	}
	out, err := e.svc.ListBuckets(e.ctx(), &s3.ListBucketsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range out.Buckets {
		names = append(names, val(b.Name))
		if val(b.BucketRegion) != "us-east-1" {
			t.Errorf("%s: region %q", val(b.Name), val(b.BucketRegion))
		}
	}
	if strings.Join(names, ",") != "a-bucket,b-bucket,c-bucket" {
		t.Errorf("buckets %v", names)
	}
	if !out.Buckets[2].CreationDate.Equal(created) {
		t.Errorf("c-bucket created %v, want %v", out.Buckets[2].CreationDate, created)
	}
	if out.Owner == nil || len(val(out.Owner.ID)) != 64 || val(out.Owner.ID) != canonicalID(alice) {
		t.Errorf("owner %+v", out.Owner)
	}

	page, err := e.svc.ListBuckets(e.ctx(), &s3.ListBucketsRequest{MaxBuckets: ptr(int32(2))})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Buckets) != 2 || page.ContinuationToken == nil {
		t.Fatalf("first page %d buckets, token %v", len(page.Buckets), page.ContinuationToken)
	}
	page, err = e.svc.ListBuckets(e.ctx(), &s3.ListBucketsRequest{MaxBuckets: ptr(int32(2)), ContinuationToken: page.ContinuationToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Buckets) != 1 || val(page.Buckets[0].Name) != "c-bucket" || page.ContinuationToken != nil {
		t.Errorf("second page %+v", page)
	}
}

func TestBucketAccess(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("alices")
	_, err := e.svc.HeadBucket(e.ctx(), &s3.HeadBucketRequest{Bucket: str("nope")})
	if got := wantErr(t, err, "NoSuchBucket", 0); got.Class != apierr.NotFound || got.Fields["BucketName"] != "nope" {
		t.Errorf("%+v", got)
	}
	_, err = e.svc.HeadBucket(ctxOf(bob, "us-east-1"), &s3.HeadBucketRequest{Bucket: str("alices")})
	wantErr(t, err, "AccessDenied", 0)
	_, err = e.svc.PutObject(ctxOf(bob, "us-east-1"), &s3.PutObjectRequest{Bucket: str("alices"), Key: str("k"),
		Body: io.NopCloser(strings.NewReader("x"))})
	wantErr(t, err, "AccessDenied", 0)
	_, err = e.svc.GetObject(e.ctx(), &s3.GetObjectRequest{Bucket: str("nope"), Key: str("k")})
	wantErr(t, err, "NoSuchBucket", 0)
}

func TestDeleteBucket(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	e.put("bkt", "k", "data")
	up, err := e.svc.CreateMultipartUpload(e.ctx(), &s3.CreateMultipartUploadRequest{Bucket: str("bkt"), Key: str("big")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UploadPart(e.ctx(), &s3.UploadPartRequest{Bucket: str("bkt"), Key: str("big"), UploadId: up.UploadId,
		PartNumber: ptr(int32(1)), Body: io.NopCloser(strings.NewReader("part"))}); err != nil {
		t.Fatal(err)
	}

	_, err = e.svc.DeleteBucket(e.ctx(), &s3.DeleteBucketRequest{Bucket: str("bkt")})
	if got := wantErr(t, err, "BucketNotEmpty", 0); got.Class != apierr.Conflict {
		t.Errorf("class %v", got.Class)
	}
	if _, err := e.svc.DeleteObject(e.ctx(), &s3.DeleteObjectRequest{Bucket: str("bkt"), Key: str("k")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.DeleteBucket(ctxOf(bob, "us-east-1"), &s3.DeleteBucketRequest{Bucket: str("bkt")})
	wantErr(t, err, "AccessDenied", 0)
	// An upload in progress does not keep the bucket; it goes with it, part files and all.
	if _, err := e.svc.DeleteBucket(e.ctx(), &s3.DeleteBucketRequest{Bucket: str("bkt")}); err != nil {
		t.Fatal(err)
	}
	if b := e.bodies(); len(b) != 0 {
		t.Errorf("bodies left: %v", b)
	}
	_, err = e.svc.HeadBucket(e.ctx(), &s3.HeadBucketRequest{Bucket: str("bkt")})
	wantErr(t, err, "NoSuchBucket", 0)
	_, err = e.svc.DeleteBucket(e.ctx(), &s3.DeleteBucketRequest{Bucket: str("bkt")})
	wantErr(t, err, "NoSuchBucket", 0)
	// The name is free again, for anyone.
	if _, err := e.svc.CreateBucket(ctxOf(bob, "us-east-1"), &s3.CreateBucketRequest{Bucket: str("bkt")}); err != nil {
		t.Fatal(err)
	}
}

func TestBucketTagging(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	_, err := e.svc.GetBucketTagging(e.ctx(), &s3.GetBucketTaggingRequest{Bucket: str("bkt")})
	wantErr(t, err, "NoSuchTagSet", 0)
	tags := &s3.Tagging{TagSet: []s3.Tag{{Key: str("env"), Value: str("dev")}, {Key: str("team"), Value: str("")}}}
	if _, err := e.svc.PutBucketTagging(e.ctx(), &s3.PutBucketTaggingRequest{Bucket: str("bkt"), Tagging: tags}); err != nil {
		t.Fatal(err)
	}
	out, err := e.svc.GetBucketTagging(e.ctx(), &s3.GetBucketTaggingRequest{Bucket: str("bkt")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TagSet) != 2 || val(out.TagSet[0].Key) != "env" || val(out.TagSet[0].Value) != "dev" {
		t.Errorf("tags %+v", out.TagSet)
	}
	dup := &s3.Tagging{TagSet: []s3.Tag{{Key: str("a"), Value: str("1")}, {Key: str("a"), Value: str("2")}}}
	_, err = e.svc.PutBucketTagging(e.ctx(), &s3.PutBucketTaggingRequest{Bucket: str("bkt"), Tagging: dup})
	wantErr(t, err, "InvalidTag", 0)
	if _, err := e.svc.DeleteBucketTagging(e.ctx(), &s3.DeleteBucketTaggingRequest{Bucket: str("bkt")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.GetBucketTagging(e.ctx(), &s3.GetBucketTaggingRequest{Bucket: str("bkt")})
	wantErr(t, err, "NoSuchTagSet", 0)
}
