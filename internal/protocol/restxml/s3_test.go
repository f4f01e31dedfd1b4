package restxml

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/overcast-cloud/overcast/api/s3"
	"github.com/overcast-cloud/overcast/internal/protocol"
	"github.com/overcast-cloud/overcast/internal/protocol/httpbind"
)

var modified = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func listObjectsV2Result() map[string]any {
	return map[string]any{
		"Name":        "photos",
		"Prefix":      "2026/",
		"Delimiter":   "/",
		"MaxKeys":     int64(1000),
		"KeyCount":    int64(3),
		"IsTruncated": false,
		"Contents": []any{
			map[string]any{"Key": "2026/a.jpg", "LastModified": modified, "ETag": `"d41d8cd98f00b204e9800998ecf8427e"`, "Size": int64(0), "StorageClass": "STANDARD"},
			map[string]any{"Key": "2026/b&c.jpg", "LastModified": modified, "ETag": `"1"`, "Size": int64(12), "StorageClass": "STANDARD"},
		},
		"CommonPrefixes": []any{map[string]any{"Prefix": "2026/jan/"}},
	}
}

func TestListObjectsV2ExactXML(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := New().EncodeResponse(rec, s3.Model().Operations["ListObjectsV2"], listObjectsV2Result(), "REQ1"); err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<CommonPrefixes><Prefix>2026/jan/</Prefix></CommonPrefixes>` +
		`<Contents><ETag>&#34;d41d8cd98f00b204e9800998ecf8427e&#34;</ETag><Key>2026/a.jpg</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>` +
		`<Contents><ETag>&#34;1&#34;</ETag><Key>2026/b&amp;c.jpg</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>` +
		`<Delimiter>/</Delimiter><IsTruncated>false</IsTruncated><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><Name>photos</Name><Prefix>2026/</Prefix>` +
		`</ListBucketResult>`
	if got := rec.Body.String(); got != want {
		t.Errorf("body:\n%s\nwant:\n%s", got, want)
	}
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/xml" || rec.Header().Get("x-amz-request-id") != "REQ1" || rec.Header().Get("x-amz-id-2") == "" {
		t.Errorf("status %d headers %v", rec.Code, rec.Header())
	}
}

func TestErrorExactXML(t *testing.T) {
	rec := httptest.NewRecorder()
	New().EncodeError(rec, s3.Model(), &protocol.Error{
		Code: "NoSuchKey", Message: "The specified key does not exist.", Status: 404, Sender: true,
		Fields: map[string]any{"Key": "a/b.txt"},
	}, "REQ2")
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a/b.txt</Key>` +
		`<RequestId>REQ2</RequestId><HostId>` + hostID("REQ2") + `</HostId></Error>`
	if got := rec.Body.String(); got != want {
		t.Errorf("body:\n%s\nwant:\n%s", got, want)
	}
	if rec.Code != 404 || rec.Header().Get("x-amz-request-id") != "REQ2" || rec.Header().Get("x-amz-id-2") != hostID("REQ2") {
		t.Errorf("status %d headers %v", rec.Code, rec.Header())
	}
}

func TestGetBucketLocationXML(t *testing.T) {
	op := s3.Model().Operations["GetBucketLocation"]
	for region, want := range map[string]string{
		"eu-west-1": `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>`,
		"":          `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>`,
	} {
		rec := httptest.NewRecorder()
		if err := New().EncodeResponse(rec, op, map[string]any{"LocationConstraint": region}, "R"); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimPrefix(rec.Body.String(), prolog); got != want {
			t.Errorf("%q: %s, want %s", region, got, want)
		}
	}
}

// s3Server serves S3 operations through the router and the codec, answering each from a scripted function.
type s3Server struct {
	t       *testing.T
	router  *httpbind.Router
	answers map[string]func(in map[string]any) (map[string]any, *protocol.Error)
}

func (s *s3Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	codec := New()
	op, ok := s.router.MatchRequest(r)
	if !ok {
		codec.EncodeError(w, s3.Model(), &protocol.Error{Code: "MethodNotAllowed", Status: 405, Sender: true}, "REQ")
		return
	}
	in, err := codec.DecodeRequest(op, r)
	if err != nil {
		s.t.Errorf("%s: %v", op.Name, err)
		codec.EncodeError(w, s3.Model(), &protocol.Error{Code: "MalformedXML", Status: 400, Sender: true}, "REQ")
		return
	}
	answer := s.answers[op.Name]
	if answer == nil {
		s.t.Errorf("unexpected %s", op.Name)
		codec.EncodeError(w, s3.Model(), &protocol.Error{Code: "NotImplemented", Status: 501}, "REQ")
		return
	}
	out, perr := answer(in)
	if perr != nil {
		codec.EncodeError(w, s3.Model(), perr, "REQ")
		return
	}
	if err := codec.EncodeResponse(w, op, out, "REQ"); err != nil {
		s.t.Errorf("%s: encoding: %v", op.Name, err)
	}
}

func newS3Client(t *testing.T, answers map[string]func(map[string]any) (map[string]any, *protocol.Error)) *awss3.Client {
	srv := httptest.NewServer(&s3Server{t: t, router: httpbind.NewRouter(s3.Model()), answers: answers})
	t.Cleanup(srv.Close)
	return awss3.New(awss3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(srv.URL),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		RetryMaxAttempts:           1,
	})
}

var noSuchKey = &protocol.Error{Code: "NoSuchKey", Message: "The specified key does not exist.", Status: 404, Sender: true, Fields: map[string]any{"Key": "missing"}}

// TestS3ClientReadsAnswers drives the codec with aws-sdk-go-v2's S3 client: what it parses is what a user sees.
func TestS3ClientReadsAnswers(t *testing.T) {
	var put map[string]any
	var putBody string
	client := newS3Client(t, map[string]func(map[string]any) (map[string]any, *protocol.Error){
		"ListObjectsV2": func(in map[string]any) (map[string]any, *protocol.Error) {
			if in["Bucket"] != "photos" || in["Prefix"] != "2026/" || in["Delimiter"] != "/" {
				t.Errorf("ListObjectsV2 input %v", in)
			}
			return listObjectsV2Result(), nil
		},
		"PutObject": func(in map[string]any) (map[string]any, *protocol.Error) {
			put = in
			body, err := io.ReadAll(in["Body"].(io.ReadCloser))
			if err != nil {
				t.Error(err)
			}
			putBody = string(body)
			return map[string]any{"ETag": `"e1"`}, nil
		},
		"GetObject": func(in map[string]any) (map[string]any, *protocol.Error) {
			if in["Key"] == "missing" {
				return nil, noSuchKey
			}
			return map[string]any{
				"Body": io.NopCloser(strings.NewReader("hello world")), "ContentLength": int64(11),
				"ContentType": "text/plain", "ETag": `"e1"`, "LastModified": modified,
				"Metadata": map[string]any{"owner": "alice"},
			}, nil
		},
		"HeadObject": func(in map[string]any) (map[string]any, *protocol.Error) {
			if in["Key"] == "missing" {
				return nil, noSuchKey
			}
			return map[string]any{"ContentLength": int64(11), "ETag": `"e1"`, "LastModified": modified, "Metadata": map[string]any{"owner": "alice"}}, nil
		},
		"GetBucketLocation": func(map[string]any) (map[string]any, *protocol.Error) {
			return map[string]any{"LocationConstraint": "eu-west-1"}, nil
		},
		"CreateMultipartUpload": func(in map[string]any) (map[string]any, *protocol.Error) {
			return map[string]any{"Bucket": in["Bucket"], "Key": in["Key"], "UploadId": "up-1"}, nil
		},
		"ListBuckets": func(map[string]any) (map[string]any, *protocol.Error) {
			return map[string]any{
				"Buckets": []any{map[string]any{"Name": "photos", "CreationDate": modified}},
				"Owner":   map[string]any{"ID": "owner-id", "DisplayName": "me"},
			}, nil
		},
	})
	ctx := context.Background()

	list, err := client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("photos"), Prefix: aws.String("2026/"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 2 || aws.ToString(list.Contents[1].Key) != "2026/b&c.jpg" || aws.ToInt64(list.Contents[1].Size) != 12 ||
		!aws.ToTime(list.Contents[0].LastModified).Equal(modified) || len(list.CommonPrefixes) != 1 ||
		aws.ToString(list.CommonPrefixes[0].Prefix) != "2026/jan/" || aws.ToInt32(list.KeyCount) != 3 || aws.ToBool(list.IsTruncated) {
		t.Errorf("ListObjectsV2 read as %+v", list)
	}

	if _, err := client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String("photos"), Key: aws.String("dir/a b.txt"), Body: strings.NewReader("payload"),
		Metadata: map[string]string{"Owner": "alice"}, ContentType: aws.String("text/plain"),
	}); err != nil {
		t.Fatal(err)
	}
	if put["Key"] != "dir/a b.txt" || put["ContentType"] != "text/plain" || putBody != "payload" {
		t.Errorf("PutObject decoded as %v with body %q", put, putBody)
	}
	if meta, _ := put["Metadata"].(map[string]any); meta["owner"] != "alice" {
		t.Errorf("PutObject metadata %v", put["Metadata"])
	}

	get, err := client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if string(body) != "hello world" || aws.ToString(get.ContentType) != "text/plain" || get.Metadata["owner"] != "alice" ||
		!aws.ToTime(get.LastModified).Equal(modified) || aws.ToString(get.ETag) != `"e1"` {
		t.Errorf("GetObject read as %q %+v", body, get)
	}

	head, err := client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != 11 || head.Metadata["owner"] != "alice" {
		t.Errorf("HeadObject read as %+v", head)
	}

	_, err = client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("missing")})
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Errorf("GetObject of a missing key: %v, want NoSuchKey", err)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorMessage() != "The specified key does not exist." {
		t.Errorf("error message: %v", err)
	}

	// A HEAD error has no body; the SDK names it by status.
	_, err = client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("missing")})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("HeadObject of a missing key: %v, want NotFound", err)
	}

	loc, err := client.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: aws.String("photos")})
	if err != nil || loc.LocationConstraint != types.BucketLocationConstraintEuWest1 {
		t.Errorf("GetBucketLocation: %+v %v", loc, err)
	}

	mpu, err := client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("photos"), Key: aws.String("big")})
	if err != nil || aws.ToString(mpu.UploadId) != "up-1" || aws.ToString(mpu.Key) != "big" {
		t.Errorf("CreateMultipartUpload: %+v %v", mpu, err)
	}

	buckets, err := client.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil || len(buckets.Buckets) != 1 || aws.ToString(buckets.Buckets[0].Name) != "photos" || aws.ToString(buckets.Owner.ID) != "owner-id" {
		t.Errorf("ListBuckets: %+v %v", buckets, err)
	}
}

func TestHeadErrorHasNoBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		New().EncodeError(w, s3.Model(), noSuchKey, "REQ")
	}))
	defer srv.Close()
	resp, err := http.Head(srv.URL + "/photos/missing")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || len(body) != 0 || resp.Header.Get("x-amz-request-id") != "REQ" {
		t.Errorf("HEAD error: %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestDecodeCompleteMultipartUpload(t *testing.T) {
	op := s3.Model().Operations["CompleteMultipartUpload"]
	body := `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<Part><ETag>"e1"</ETag><PartNumber>1</PartNumber></Part><Part><ETag>"e2"</ETag><PartNumber>2</PartNumber></Part>` +
		`</CompleteMultipartUpload>`
	req := httptest.NewRequest("POST", "http://s3.localhost/b/k?uploadId=u1", strings.NewReader(body))
	in, err := New().DecodeRequest(op, req)
	if err != nil {
		t.Fatal(err)
	}
	parts, _ := in["MultipartUpload"].(map[string]any)["Parts"].([]any)
	if in["UploadId"] != "u1" || len(parts) != 2 || parts[1].(map[string]any)["PartNumber"] != int64(2) || parts[0].(map[string]any)["ETag"] != `"e1"` {
		t.Errorf("decoded %v", in)
	}
	bad := httptest.NewRequest("POST", "http://s3.localhost/b/k?uploadId=u1", strings.NewReader("<CompleteMultipartUpload><Part>"))
	var de *protocol.DecodeError
	if _, err := New().DecodeRequest(op, bad); !errors.As(err, &de) || de.Code != "MalformedXML" {
		t.Errorf("truncated XML: %v", err)
	}
}
