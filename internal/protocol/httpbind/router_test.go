package httpbind

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/overcast-cloud/overcast/api/lambda"
	"github.com/overcast-cloud/overcast/api/s3"
)

func TestRouterS3(t *testing.T) {
	r := NewRouter(s3.Model())
	for _, tc := range []struct {
		method, url string
		header      map[string]string
		want        string
	}{
		{"GET", "/", nil, "ListBuckets"},
		{"PUT", "/bucket", nil, "CreateBucket"},
		{"PUT", "/bucket/", nil, "CreateBucket"},
		{"HEAD", "/bucket", nil, "HeadBucket"},
		{"DELETE", "/bucket", nil, "DeleteBucket"},
		{"GET", "/bucket", nil, "ListObjects"},
		{"GET", "/bucket?prefix=a%2Fb&delimiter=%2F", nil, "ListObjects"},
		{"GET", "/bucket?list-type=2&prefix=x", nil, "ListObjectsV2"},
		{"GET", "/bucket?location", nil, "GetBucketLocation"},
		{"GET", "/bucket?uploads", nil, "ListMultipartUploads"},
		{"PUT", "/bucket/key", nil, "PutObject"},
		{"PUT", "/bucket/dir/sub/file.txt", nil, "PutObject"},
		{"PUT", "/bucket/key", map[string]string{"X-Amz-Copy-Source": "/src/key"}, "CopyObject"},
		{"GET", "/bucket/key", nil, "GetObject"},
		{"HEAD", "/bucket/key", nil, "HeadObject"},
		{"DELETE", "/bucket/key", nil, "DeleteObject"},
		{"POST", "/bucket/key?uploads", nil, "CreateMultipartUpload"},
		{"PUT", "/bucket/key?partNumber=1&uploadId=u1", nil, "UploadPart"},
		{"PUT", "/bucket/key?partNumber=1&uploadId=u1", map[string]string{"X-Amz-Copy-Source": "/src/key"}, "UploadPartCopy"},
		{"POST", "/bucket/key?uploadId=u1", nil, "CompleteMultipartUpload"},
		{"DELETE", "/bucket/key?uploadId=u1", nil, "AbortMultipartUpload"},
		{"GET", "/bucket/key?uploadId=u1", nil, "ListParts"},
		{"POST", "/bucket?delete", nil, "DeleteObjects"},
		{"GET", "/bucket/key?tagging", nil, "GetObjectTagging"},
	} {
		req := httptest.NewRequest(tc.method, "http://s3.localhost"+tc.url, nil)
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		op, ok := r.MatchRequest(req)
		if !ok || op.Name != tc.want {
			t.Errorf("%s %s %v: got %v, want %s", tc.method, tc.url, tc.header, op, tc.want)
		}
		if tc.header == nil {
			// Without headers Match agrees wherever headers do not decide.
			if op2, _ := r.Match(tc.method, req.URL.EscapedPath(), req.URL.Query()); op2 != op {
				t.Errorf("Match %s %s: got %v, MatchRequest got %v", tc.method, tc.url, op2, op)
			}
		}
	}
	if op, ok := r.Match("PATCH", "/bucket", nil); ok {
		t.Errorf("PATCH /bucket routed to %s", op.Name)
	}
}

func TestRouterLambda(t *testing.T) {
	r := NewRouter(lambda.Model())
	for _, tc := range []struct{ method, url, want string }{
		{"GET", "/2015-03-31/functions/", "ListFunctions"},
		{"GET", "/2015-03-31/functions", "ListFunctions"},
		{"POST", "/2015-03-31/functions", "CreateFunction"},
		{"GET", "/2015-03-31/functions/my-fn", "GetFunction"},
		{"GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn", "GetFunction"},
		{"GET", "/2015-03-31/functions/my-fn/configuration", "GetFunctionConfiguration"},
		{"POST", "/2015-03-31/functions/my-fn/invocations", "Invoke"},
		{"DELETE", "/2015-03-31/functions/my-fn", "DeleteFunction"},
		{"GET", "/2019-09-30/functions/my-fn/provisioned-concurrency?List=ALL", "ListProvisionedConcurrencyConfigs"},
		{"GET", "/2019-09-30/functions/my-fn/provisioned-concurrency?Qualifier=1", "GetProvisionedConcurrencyConfig"},
	} {
		req := httptest.NewRequest(tc.method, "http://lambda.localhost"+tc.url, nil)
		op, ok := r.MatchRequest(req)
		if !ok || op.Name != tc.want {
			t.Errorf("%s %s: got %v, want %s", tc.method, tc.url, op, tc.want)
		}
	}
}

func TestPathLabelsUnescape(t *testing.T) {
	op := s3.Model().Operations["GetObject"]
	labels, ok := PathLabels(op, "/my-bucket/dir/a%20b%2Bc/%E2%82%AC/")
	if !ok || labels["Bucket"] != "my-bucket" || labels["Key"] != "dir/a b+c/€/" {
		t.Fatalf("labels %v %v", labels, ok)
	}
	fn := lambda.Model().Operations["GetFunction"]
	labels, ok = PathLabels(fn, "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af")
	if !ok || labels["FunctionName"] != "arn:aws:lambda:us-east-1:1:function:f" {
		t.Fatalf("labels %v %v", labels, ok)
	}
}

func TestDecodeBindingsS3(t *testing.T) {
	op := s3.Model().Operations["PutObject"]
	req := httptest.NewRequest(http.MethodPut, "http://s3.localhost/b/k%20ey", nil)
	req.Header.Set("Content-MD5", "1B2M2Y8AsgTpgAEYmiiB9g==")
	req.Header.Set("X-Amz-Meta-Owner", "alice")
	req.Header.Set("x-amz-meta-Color", "blue")
	req.Header.Set("Content-Length", "0")
	req.Header.Set("Expires", "Thu, 01 Dec 1994 16:00:00 GMT")
	tree := map[string]any{}
	if err := DecodeBindings(op, req, tree); err != nil {
		t.Fatal(err)
	}
	if tree["Bucket"] != "b" || tree["Key"] != "k ey" || tree["ContentMD5"] != "1B2M2Y8AsgTpgAEYmiiB9g==" || tree["ContentLength"] != int64(0) {
		t.Errorf("tree %v", tree)
	}
	meta, _ := tree["Metadata"].(map[string]any)
	if meta["owner"] != "alice" || meta["color"] != "blue" || len(meta) != 2 {
		t.Errorf("metadata %v", meta)
	}
	if exp := tree["Expires"]; exp == nil {
		t.Errorf("Expires not decoded: %v", tree)
	}
	bad := httptest.NewRequest(http.MethodPut, "http://s3.localhost/b/k", nil)
	bad.Header.Set("Content-Length", "x")
	bad.Header.Set("X-Amz-Object-Lock-Retain-Until-Date", "not a date")
	if err := DecodeBindings(op, bad, map[string]any{}); err == nil {
		t.Error("a malformed header decoded without error")
	}
}

func TestEncodeBindingsHeaders(t *testing.T) {
	sh := s3.Model().Operations["HeadObject"].Output.Shape
	h := http.Header{}
	status, err := EncodeBindings(h, sh, map[string]any{
		"ContentLength": int64(5),
		"ETag":          `"abc"`,
		"LastModified":  mustTime("2026-01-02T03:04:05Z"),
		"Metadata":      map[string]any{"owner": "alice"},
	})
	if err != nil || status != 0 {
		t.Fatal(status, err)
	}
	for k, want := range map[string]string{
		"Content-Length":   "5",
		"ETag":             `"abc"`,
		"Last-Modified":    "Fri, 02 Jan 2026 03:04:05 GMT",
		"X-Amz-Meta-Owner": "alice",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}
