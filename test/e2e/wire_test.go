package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// signedRequest builds a request signed by aws-sdk-go-v2's own signer at the given time: the wire-layer edge
// cases below need a request no SDK would send (a stale clock, an unknown action).
func signedRequest(t *testing.T, s *server, method, path, service, region, body string, at time.Time, header http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	if service == "s3" {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, service, region, at); err != nil {
		t.Fatal(err)
	}
	return req
}

type wireAnswer struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, req *http.Request) wireAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return wireAnswer{resp.StatusCode, resp.Header, string(b)}
}

// queryErrorCode reads the code of an awsQuery <ErrorResponse> or an S3 <Error>.
func queryErrorCode(t *testing.T, body string) (code, message string) {
	t.Helper()
	var doc struct {
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
		S3Code  string `xml:"Code"`
		S3Msg   string `xml:"Message"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("error body is not XML: %v\n%s", err, body)
	}
	if doc.Code == "" {
		return doc.S3Code, doc.S3Msg
	}
	return doc.Code, doc.Message
}

func TestWireEdgeCases(t *testing.T) {
	s := startServer(t, "")
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}

	t.Run("unknown query action", func(t *testing.T) {
		a := send(t, signedRequest(t, s, "POST", "/", "iam", "us-east-1", "Action=FlyToTheMoon&Version=2010-05-08", time.Now(), form))
		code, msg := queryErrorCode(t, a.body)
		if a.status != 400 || code != "InvalidAction" || !strings.Contains(msg, "FlyToTheMoon") {
			t.Fatalf("%d %s %s", a.status, code, a.body)
		}
	})

	t.Run("clock skew on a query service", func(t *testing.T) {
		a := send(t, signedRequest(t, s, "POST", "/", "iam", "us-east-1", "Action=ListUsers&Version=2010-05-08", time.Now().Add(-16*time.Minute), form))
		code, msg := queryErrorCode(t, a.body)
		if a.status != 403 || code != "SignatureDoesNotMatch" || !strings.Contains(msg, "Signature expired") {
			t.Fatalf("%d %s %q", a.status, code, msg)
		}
		// Within the window the same call passes.
		a = send(t, signedRequest(t, s, "POST", "/", "iam", "us-east-1", "Action=ListUsers&Version=2010-05-08", time.Now().Add(-14*time.Minute), form))
		if a.status != 200 {
			t.Fatalf("14 minutes of skew: %d %s", a.status, a.body)
		}
	})

	t.Run("clock skew on S3", func(t *testing.T) {
		a := send(t, signedRequest(t, s, "GET", "/", "s3", "us-east-1", "", time.Now().Add(20*time.Minute), nil))
		code, _ := queryErrorCode(t, a.body)
		if a.status != 403 || code != "RequestTimeTooSkewed" {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})

	t.Run("unsigned request", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.URL+"/", strings.NewReader("Action=ListUsers&Version=2010-05-08"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		a := send(t, req)
		code, _ := queryErrorCode(t, a.body)
		if a.status != 403 || code != "MissingAuthenticationToken" {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})

	t.Run("request ids", func(t *testing.T) {
		a := send(t, signedRequest(t, s, "POST", "/", "sts", "us-east-1", "Action=GetCallerIdentity&Version=2011-06-15", time.Now(), form))
		var doc struct {
			RequestID string `xml:"ResponseMetadata>RequestId"`
		}
		if err := xml.Unmarshal([]byte(a.body), &doc); err != nil || len(doc.RequestID) != 36 || a.header.Get("X-Amzn-Requestid") != doc.RequestID {
			t.Fatalf("request id: %q header %q: %s", doc.RequestID, a.header.Get("X-Amzn-Requestid"), a.body)
		}
	})

	t.Run("unknown region", func(t *testing.T) {
		a := send(t, signedRequest(t, s, "POST", "/", "sts", "moon-1", "Action=GetCallerIdentity&Version=2011-06-15", time.Now(), form))
		if a.status < 400 {
			t.Fatalf("moon-1 accepted: %d %s", a.status, a.body)
		}
	})
}

// TestS3ChunkedUploadOverTLS puts an object through a TLS front, where aws-sdk-go-v2 sends an unsigned
// aws-chunked body with a trailing CRC32 checksum, and reads it back.
func TestS3ChunkedUploadOverTLS(t *testing.T) {
	s := startServer(t, "")
	target, _ := url.Parse(s.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	director := proxy.Director
	var putHash string
	proxy.Director = func(r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/big") {
			putHash = r.Header.Get("X-Amz-Content-Sha256")
		}
		host := r.Host // the signature covers the host the client saw
		director(r)
		r.Host = host
	}
	front := httptest.NewTLSServer(proxy)
	defer front.Close()

	cfg := s.rootConfig()
	cfg.BaseEndpoint = aws.String(front.URL)
	cfg.HTTPClient = front.Client()
	// What config.LoadDefaultConfig resolves to: checksums whenever the operation supports them.
	cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ctx := ctxT(t)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("chunky")}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("overcast "), 300_000)
	// A reader that cannot seek makes the SDK stream the body in aws-chunked encoding.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("chunky"), Key: aws.String("big"), Body: io.MultiReader(bytes.NewReader(body)), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(putHash, "STREAMING-") {
		t.Fatalf("the SDK did not stream aws-chunked (x-amz-content-sha256 %q)", putHash)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("chunky"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(data, body) {
		t.Fatalf("got %d bytes, want %d", len(data), len(body))
	}
}
