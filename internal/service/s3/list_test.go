package s3

import (
	"slices"
	"strings"
	"testing"

	"github.com/overcast-cloud/overcast/api/s3"
)

var listKeys = []string{
	"a.txt", "docs/guide.md", "docs/img/logo.png", "docs/readme.md", "logs/2024/01.log", "logs/2024/02.log",
	"logs/2025/01.log", "z.txt",
}

func listEnv(t *testing.T) *env {
	e := newEnv(t)
	e.mkBucket("bkt")
	for _, k := range listKeys {
		e.put("bkt", k, k)
	}
	return e
}

// pages walks ListObjectsV2 to the end and returns every key and common prefix in the order given, and
// the number of pages.
func pagesV2(t *testing.T, e *env, in s3.ListObjectsV2Request) (entries []string, pages int) {
	t.Helper()
	in.Bucket = str("bkt")
	for {
		out, err := e.svc.ListObjectsV2(e.ctx(), &in)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if int(val(out.KeyCount)) != len(out.Contents)+len(out.CommonPrefixes) {
			t.Errorf("KeyCount %d for %d entries", val(out.KeyCount), len(out.Contents)+len(out.CommonPrefixes))
		}
		// A page lists its keys, then its prefixes; merge them back into the one sorted sequence S3 walks.
		var page []string
		for _, o := range out.Contents {
			page = append(page, val(o.Key))
		}
		for _, p := range out.CommonPrefixes {
			page = append(page, val(p.Prefix))
		}
		slices.Sort(page)
		entries = append(entries, page...)
		if !val(out.IsTruncated) {
			if out.NextContinuationToken != nil {
				t.Error("NextContinuationToken on the last page")
			}
			return entries, pages
		}
		if out.NextContinuationToken == nil {
			t.Fatal("truncated page without NextContinuationToken")
		}
		in.ContinuationToken = out.NextContinuationToken
		if pages > 20 {
			t.Fatal("listing does not end")
		}
	}
}

func TestListObjectsV2(t *testing.T) {
	e := listEnv(t)
	all, pages := pagesV2(t, e, s3.ListObjectsV2Request{})
	if !slices.Equal(all, listKeys) || pages != 1 {
		t.Errorf("all keys in %d pages: %v", pages, all)
	}
	for _, c := range []struct {
		name   string
		in     s3.ListObjectsV2Request
		want   string
		npages int
	}{
		{"delimiter", s3.ListObjectsV2Request{Delimiter: str("/")}, "a.txt docs/ logs/ z.txt", 1},
		{"delimiter paged", s3.ListObjectsV2Request{Delimiter: str("/"), MaxKeys: ptr(int32(1))}, "a.txt docs/ logs/ z.txt", 4},
		{"prefix and delimiter", s3.ListObjectsV2Request{Prefix: str("docs/"), Delimiter: str("/"), MaxKeys: ptr(int32(2))},
			"docs/guide.md docs/img/ docs/readme.md", 2},
		{"nested prefixes paged", s3.ListObjectsV2Request{Prefix: str("logs/"), Delimiter: str("/"), MaxKeys: ptr(int32(1))},
			"logs/2024/ logs/2025/", 2},
		{"paged without delimiter", s3.ListObjectsV2Request{MaxKeys: ptr(int32(3))}, strings.Join(listKeys, " "), 3},
		{"start after", s3.ListObjectsV2Request{StartAfter: str("docs/readme.md"), Delimiter: str("/")}, "logs/ z.txt", 1},
		{"start after inside a prefix", s3.ListObjectsV2Request{StartAfter: str("docs/guide.md"), Delimiter: str("/")},
			"logs/ z.txt", 1},
		{"multi-character delimiter", s3.ListObjectsV2Request{Delimiter: str("20")}, "a.txt docs/guide.md docs/img/logo.png docs/readme.md logs/20 z.txt", 1},
	} {
		got, pages := pagesV2(t, e, c.in)
		if strings.Join(got, " ") != c.want || pages != c.npages {
			t.Errorf("%s: %q in %d pages, want %q in %d", c.name, strings.Join(got, " "), pages, c.want, c.npages)
		}
	}

	out, err := e.svc.ListObjectsV2(e.ctx(), &s3.ListObjectsV2Request{Bucket: str("bkt"), Prefix: str("z"), FetchOwner: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	o := out.Contents[0]
	if val(o.ETag) != `"`+md5hex("z.txt")+`"` || val(o.Size) != 5 || val(o.StorageClass) != "STANDARD" ||
		!val(o.LastModified).Equal(e.now) || o.Owner == nil || val(o.Owner.ID) != canonicalID(alice) {
		t.Errorf("object %+v", o)
	}
	if val(out.Name) != "bkt" || val(out.MaxKeys) != 1000 || val(out.Prefix) != "z" {
		t.Errorf("echo %+v", out)
	}
	_, err = e.svc.ListObjectsV2(e.ctx(), &s3.ListObjectsV2Request{Bucket: str("bkt"), ContinuationToken: str("!!")})
	wantErr(t, err, "InvalidArgument", 0)
	_, err = e.svc.ListObjectsV2(e.ctx(), &s3.ListObjectsV2Request{Bucket: str("nope")})
	wantErr(t, err, "NoSuchBucket", 0)
}

func TestListObjectsURLEncoding(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	e.put("bkt", "dir one/a+b&c.txt", "x")
	out, err := e.svc.ListObjectsV2(e.ctx(), &s3.ListObjectsV2Request{Bucket: str("bkt"), EncodingType: str("url")})
	if err != nil {
		t.Fatal(err)
	}
	if got := val(out.Contents[0].Key); got != "dir%20one/a%2Bb%26c.txt" {
		t.Errorf("encoded key %q", got)
	}
	out, err = e.svc.ListObjectsV2(e.ctx(), &s3.ListObjectsV2Request{Bucket: str("bkt"), EncodingType: str("url"),
		Delimiter: str("/")})
	if err != nil {
		t.Fatal(err)
	}
	if got := val(out.CommonPrefixes[0].Prefix); got != "dir%20one/" {
		t.Errorf("encoded prefix %q", got)
	}
	_, err = e.svc.ListObjectsV2(e.ctx(), &s3.ListObjectsV2Request{Bucket: str("bkt"), EncodingType: str("base64")})
	wantErr(t, err, "InvalidArgument", 0)
}

func TestListObjectsV1(t *testing.T) {
	e := listEnv(t)
	var got []string
	in := s3.ListObjectsRequest{Bucket: str("bkt"), Delimiter: str("/"), MaxKeys: ptr(int32(2))}
	for range 10 {
		out, err := e.svc.ListObjects(e.ctx(), &in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			got = append(got, val(o.Key))
			if o.Owner == nil {
				t.Error("ListObjects v1 lists owners")
			}
		}
		for _, p := range out.CommonPrefixes {
			got = append(got, val(p.Prefix))
		}
		if !val(out.IsTruncated) {
			break
		}
		in.Marker = out.NextMarker
	}
	slices.Sort(got)
	if strings.Join(got, " ") != "a.txt docs/ logs/ z.txt" {
		t.Errorf("v1 pages: %v", got)
	}
	// Without a delimiter there is no NextMarker; the client goes on from the last key.
	out, err := e.svc.ListObjects(e.ctx(), &s3.ListObjectsRequest{Bucket: str("bkt"), MaxKeys: ptr(int32(3))})
	if err != nil {
		t.Fatal(err)
	}
	if out.NextMarker != nil || !val(out.IsTruncated) || len(out.Contents) != 3 {
		t.Fatalf("first page %+v", out)
	}
	out, err = e.svc.ListObjects(e.ctx(), &s3.ListObjectsRequest{Bucket: str("bkt"), Marker: out.Contents[2].Key})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != len(listKeys)-3 || val(out.Contents[0].Key) != listKeys[3] {
		t.Errorf("after marker: %d keys from %s", len(out.Contents), val(out.Contents[0].Key))
	}
}
