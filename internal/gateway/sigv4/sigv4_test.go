package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// keyring is a Secrets over a fixed set of keys.
type keyring map[string]aws.Credentials

func (k keyring) SecretFor(_ context.Context, id string) (string, string, error) {
	c, ok := k[id]
	if !ok {
		return "", "", ErrUnknownKey
	}
	return c.SecretAccessKey, c.SessionToken, nil
}

var (
	longTerm  = aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	temporary = aws.Credentials{AccessKeyID: "ASIAQUICKBROWNFOX123", SecretAccessKey: "tempsecret/abc+def", SessionToken: "FwoGZXIvYXdzEBYaDtoken=="}
	testKeys  = keyring{longTerm.AccessKeyID: longTerm, temporary.AccessKeyID: temporary}
	signedAt  = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
)

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// signed builds a request signed by aws-sdk-go-v2's own signer, the way its service clients sign: S3 with
// the path left as sent and an x-amz-content-sha256 header, other services with the path escaped again.
func signed(t testing.TB, creds aws.Credentials, service, method, url string, body []byte, hdr map[string]string, at time.Time) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	payload := sha256Hex(body)
	var opts []func(*v4.SignerOptions)
	if service == "s3" {
		if p := r.Header.Get("X-Amz-Content-Sha256"); p != "" {
			payload = p
		} else {
			r.Header.Set("X-Amz-Content-Sha256", payload)
		}
		opts = append(opts, func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, payload, service, "us-east-1", at, opts...); err != nil {
		t.Fatal(err)
	}
	return r
}

// verifyOverHTTP sends r to a real server and runs Verify there, so the request is seen exactly as Go's
// server presents it (RequestURI, Host moved out of the header map).
func verifyOverHTTP(t *testing.T, r *http.Request, now time.Time) (*Result, error) {
	t.Helper()
	var res *Result
	var verr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		res, verr = New(testKeys).Verify(req.Context(), Input{Request: req, Body: body}, now)
	}))
	defer srv.Close()
	// Point the already-signed request at the server without touching what was signed.
	r.URL.Scheme, r.URL.Host = "http", strings.TrimPrefix(srv.URL, "http://")
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return res, verr
}

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func TestHeaderSignaturesFromAWSSigner(t *testing.T) {
	cases := []struct {
		name, service, method, path string
		body                        string
		hdr                         map[string]string
	}{
		{"sts query form", "sts", "POST", "/", "Action=GetCallerIdentity&Version=2011-06-15",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}},
		{"ec2 query", "ec2", "POST", "/", "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3AName",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}},
		{"ecs json", "ecs", "POST", "/", `{"cluster":"default"}`,
			map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListTasks"}},
		{"lambda path needing double encoding", "lambda", "GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn/configuration?Qualifier=%24LATEST", "", nil},
		{"s3 list with spaces and plus", "s3", "GET", "/bucket?list-type=2&prefix=a%20b%2Bc&delimiter=%2F", "", nil},
		{"s3 key with reserved characters", "s3", "PUT", "/bucket/dir/a%20b%2Bc%3D%26%21%27%28%29%2A~%E6%97%A5.txt", "hello",
			map[string]string{"Content-Type": "text/plain", "X-Amz-Meta-Note": "  two   spaces  ", "X-Amz-Tagging": "k=v"}},
		{"s3 subresource without value", "s3", "POST", "/bucket/key?uploads", "", nil},
	}
	for _, c := range cases {
		for _, creds := range []aws.Credentials{longTerm, temporary} {
			t.Run(c.name+"/"+creds.AccessKeyID[:4], func(t *testing.T) {
				r := signed(t, creds, c.service, c.method, "http://localhost"+c.path, []byte(c.body), c.hdr, signedAt)
				res, err := verifyOverHTTP(t, r, signedAt.Add(time.Minute))
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if res.AccessKeyID != creds.AccessKeyID || res.Region != "us-east-1" || res.Service != c.service ||
					res.Version != 4 || res.Presigned || !res.SignedAt.Equal(signedAt) || res.SessionToken != creds.SessionToken {
					t.Errorf("result = %+v", res)
				}
			})
		}
	}
}

func TestTamperedRequestsFail(t *testing.T) {
	const url = "http://localhost/bucket/key?versionId=3"
	hdr := map[string]string{"X-Amz-Meta-A": "1", "Content-Type": "text/plain"}
	body := []byte("payload")
	cases := []struct {
		name    string
		service string
		keys    keyring
		tamper  func(r *http.Request, body *[]byte)
		want    Kind
	}{
		{"method", "s3", testKeys, func(r *http.Request, _ *[]byte) { r.Method = "DELETE" }, SignatureMismatch},
		{"path", "s3", testKeys, func(r *http.Request, _ *[]byte) { r.URL.Path = "/bucket/other" }, SignatureMismatch},
		{"query", "s3", testKeys, func(r *http.Request, _ *[]byte) { r.URL.RawQuery = "versionId=4" }, SignatureMismatch},
		{"added query", "s3", testKeys, func(r *http.Request, _ *[]byte) { r.URL.RawQuery += "&acl" }, SignatureMismatch},
		{"signed header", "s3", testKeys, func(r *http.Request, _ *[]byte) { r.Header.Set("X-Amz-Meta-A", "2") }, SignatureMismatch},
		{"s3 body", "s3", testKeys, func(_ *http.Request, b *[]byte) { *b = []byte("PAYLOAD") }, ContentSHA256Mismatch},
		{"json body", "ecs", testKeys, func(_ *http.Request, b *[]byte) { *b = []byte("PAYLOAD") }, SignatureMismatch},
		{"secret", "s3", keyring{longTerm.AccessKeyID: {SecretAccessKey: "other"}}, func(*http.Request, *[]byte) {}, SignatureMismatch},
		{"unknown key", "s3", keyring{}, func(*http.Request, *[]byte) {}, UnknownKey},
		{"token where none is due", "s3", testKeys, func(r *http.Request, _ *[]byte) { r.Header.Set("X-Amz-Security-Token", "x") }, TokenInvalid},
		{"signature garbled", "sts", testKeys, func(r *http.Request, _ *[]byte) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Signature=", "Signature=zz", 1))
		}, SignatureMismatch},
		{"no signature", "sts", testKeys, func(r *http.Request, _ *[]byte) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
		}, Malformed},
		{"credential date differs", "sts", testKeys, func(r *http.Request, _ *[]byte) { r.Header.Set("X-Amz-Date", "20250315T000000Z") }, Malformed},
		{"anonymous", "s3", testKeys, func(r *http.Request, _ *[]byte) { r.Header.Del("Authorization") }, Missing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := signed(t, longTerm, c.service, "PUT", url, body, hdr, signedAt)
			b := append([]byte(nil), body...)
			c.tamper(r, &b)
			_, err := New(c.keys).Verify(context.Background(), Input{Request: r, Body: b}, signedAt)
			if kindOf(err) != c.want {
				t.Fatalf("err = %v, want kind %v", err, c.want)
			}
		})
	}
	t.Run("untampered", func(t *testing.T) {
		r := signed(t, longTerm, "s3", "PUT", url, body, hdr, signedAt)
		if _, err := New(testKeys).Verify(context.Background(), Input{Request: r, Body: body}, signedAt); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSessionTokens(t *testing.T) {
	noToken := temporary
	noToken.SessionToken = ""
	wrong := temporary
	wrong.SessionToken = "someone else's"
	for _, c := range []struct {
		creds aws.Credentials
		want  Kind
	}{{temporary, 0}, {noToken, TokenMissing}, {wrong, TokenInvalid}} {
		r := signed(t, c.creds, "iam", "POST", "http://localhost/", []byte("Action=ListUsers&Version=2010-05-08"), nil, signedAt)
		_, err := New(testKeys).Verify(context.Background(), Input{Request: r, Body: []byte("Action=ListUsers&Version=2010-05-08")}, signedAt)
		if kindOf(err) != c.want {
			t.Errorf("token %q: err = %v, want kind %v", c.creds.SessionToken, err, c.want)
		}
		if c.want != 0 {
			code, status := err.(*Error).AWSCode("iam", "query")
			if code != "InvalidClientTokenId" || status != 403 {
				t.Errorf("iam answer = %s %d", code, status)
			}
		}
	}
}

func TestClockSkewBoundary(t *testing.T) {
	v := New(testKeys)
	for _, c := range []struct {
		offset time.Duration
		ok     bool
	}{
		{15 * time.Minute, true}, {15*time.Minute + time.Second, false},
		{-15 * time.Minute, true}, {-15*time.Minute - time.Second, false},
	} {
		body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
		r := signed(t, longTerm, "sts", "POST", "http://localhost/", body, nil, signedAt)
		now := signedAt.Add(c.offset)
		_, err := v.Verify(context.Background(), Input{Request: r, Body: body}, now)
		if c.ok {
			if err != nil {
				t.Errorf("now = signedAt%+v: %v", c.offset, err)
			}
			continue
		}
		if kindOf(err) != Skewed {
			t.Fatalf("now = signedAt%+v: err = %v, want Skewed", c.offset, err)
		}
		e := err.(*Error)
		if c.offset > 0 {
			want := "Signature expired: 20250314T150926Z is now earlier than 20250314T150927Z (20250314T152427Z - 15 min.)"
			if got := e.AWSMessage("sts", "query"); got != want {
				t.Errorf("message = %q, want %q", got, want)
			}
		} else if !strings.HasPrefix(e.Message, "Signature not yet current: 20250314T150926Z is still later than") {
			t.Errorf("message = %q", e.Message)
		}
		for _, w := range []struct {
			service, protocol, code string
			status                  int
		}{
			{"s3", "rest-xml", "RequestTimeTooSkewed", 403},
			{"sts", "query", "SignatureDoesNotMatch", 403},
			{"ec2", "ec2", "RequestExpired", 400},
			{"ecs", "json", "InvalidSignatureException", 400},
		} {
			if code, status := e.AWSCode(w.service, w.protocol); code != w.code || status != w.status {
				t.Errorf("%s: %s %d, want %s %d", w.service, code, status, w.code, w.status)
			}
		}
	}
}

func TestPresignedURLs(t *testing.T) {
	presign := func(t *testing.T, service, method, url string, expires int, creds aws.Credentials, payload string) *http.Request {
		r, _ := http.NewRequest(method, url, nil)
		q := r.URL.Query()
		if expires > 0 {
			q.Set("X-Amz-Expires", strconv.Itoa(expires))
		}
		r.URL.RawQuery = q.Encode()
		var opts []func(*v4.SignerOptions)
		if service == "s3" {
			opts = append(opts, func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		}
		signedURL, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, payload, service, "eu-west-1", signedAt, opts...)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := http.NewRequest(method, signedURL, nil)
		for k, v := range hdr {
			if k != "Host" {
				out.Header[k] = v
			}
		}
		return out
	}
	t.Run("s3 validity window", func(t *testing.T) {
		for _, c := range []struct {
			at   time.Duration
			want Kind
		}{{0, 0}, {300 * time.Second, 0}, {301 * time.Second, Expired}, {-15 * time.Minute, 0}, {-16 * time.Minute, Expired}} {
			r := presign(t, "s3", "GET", "http://localhost/bucket/some%20key.txt?response-content-type=text%2Fplain", 300, temporary, "UNSIGNED-PAYLOAD")
			res, err := verifyOverHTTP(t, r, signedAt.Add(c.at))
			if kindOf(err) != c.want {
				t.Fatalf("at %v: err = %v, want %v", c.at, err, c.want)
			}
			if err == nil && (!res.Presigned || res.SessionToken != temporary.SessionToken || !res.Expires.Equal(signedAt.Add(300*time.Second))) {
				t.Errorf("result = %+v", res)
			}
			if c.want == Expired {
				if code, status := err.(*Error).AWSCode("s3", "rest-xml"); code != "AccessDenied" || status != 403 {
					t.Errorf("answer %s %d", code, status)
				}
			}
		}
	})
	t.Run("s3 tampered query", func(t *testing.T) {
		r := presign(t, "s3", "GET", "http://localhost/bucket/key", 300, longTerm, "UNSIGNED-PAYLOAD")
		r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Expires=300", "X-Amz-Expires=3000", 1)
		_, err := New(testKeys).Verify(context.Background(), Input{Request: r}, signedAt)
		if kindOf(err) != SignatureMismatch {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("s3 expiry beyond a week", func(t *testing.T) {
		r := presign(t, "s3", "GET", "http://localhost/bucket/key", 604801, longTerm, "UNSIGNED-PAYLOAD")
		_, err := New(testKeys).Verify(context.Background(), Input{Request: r}, signedAt)
		if kindOf(err) != Malformed {
			t.Fatalf("err = %v", err)
		}
		if code, _ := err.(*Error).AWSCode("s3", "rest-xml"); code != "AuthorizationQueryParametersError" {
			t.Errorf("code %s", code)
		}
	})
	t.Run("sts GetCallerIdentity as EKS tokens do", func(t *testing.T) {
		r := presign(t, "sts", "GET", "http://localhost/?Action=GetCallerIdentity&Version=2011-06-15", 60, longTerm, sha256Hex(nil))
		res, err := verifyOverHTTP(t, r, signedAt.Add(30*time.Second))
		if err != nil || res.Service != "sts" || res.Region != "eu-west-1" {
			t.Fatalf("res %+v err %v", res, err)
		}
	})
}

func TestAWSCodes(t *testing.T) {
	for _, c := range []struct {
		kind              Kind
		service, protocol string
		code              string
		status            int
	}{
		{Missing, "s3", "rest-xml", "AccessDenied", 403},
		{UnknownKey, "s3", "rest-xml", "InvalidAccessKeyId", 403},
		{SignatureMismatch, "s3", "rest-xml", "SignatureDoesNotMatch", 403},
		{ContentSHA256Mismatch, "s3", "rest-xml", "XAmzContentSHA256Mismatch", 400},
		{ChecksumMismatch, "s3", "rest-xml", "BadDigest", 400},
		{Malformed, "s3", "rest-xml", "AuthorizationHeaderMalformed", 400},
		{Missing, "iam", "query", "MissingAuthenticationToken", 403},
		{UnknownKey, "sts", "query", "InvalidClientTokenId", 403},
		{Malformed, "sts", "query", "IncompleteSignature", 400},
		{SignatureMismatch, "iam", "query", "SignatureDoesNotMatch", 403},
		{TokenExpired, "sts", "query", "ExpiredToken", 403},
		{UnknownKey, "ec2", "ec2", "AuthFailure", 401},
		{SignatureMismatch, "ec2", "ec2", "AuthFailure", 401},
		{UnknownKey, "ecs", "json", "UnrecognizedClientException", 400},
		{SignatureMismatch, "logs", "json", "InvalidSignatureException", 400},
		{Missing, "ecr", "json", "MissingAuthenticationTokenException", 400},
		{UnknownKey, "lambda", "rest-json", "UnrecognizedClientException", 403},
	} {
		code, status := (&Error{Kind: c.kind}).AWSCode(c.service, c.protocol)
		if code != c.code || status != c.status {
			t.Errorf("%v for %s: %s %d, want %s %d", c.kind, c.service, code, status, c.code, c.status)
		}
	}
	if m := (&Error{Kind: SignatureMismatch}).AWSMessage("iam", "query"); m != msgSignature {
		t.Errorf("message %q", m)
	}
}

func TestStreamedBodyChecksItsHash(t *testing.T) {
	for _, tamper := range []bool{false, true} {
		body := []byte(strings.Repeat("streamed ", 1000))
		r := signed(t, longTerm, "s3", "PUT", "http://localhost/bucket/key", body, nil, signedAt)
		if tamper {
			body[10] = 'X'
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		res, err := New(testKeys).Verify(context.Background(), Input{Request: r}, signedAt)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Streamed || res.DecodedLength != int64(len(body)) {
			t.Errorf("result %+v", res)
		}
		got, err := io.ReadAll(r.Body)
		if tamper != (kindOf(err) == ContentSHA256Mismatch) || !tamper && !bytes.Equal(got, body) {
			t.Errorf("tamper=%v: read err %v", tamper, err)
		}
	}
}

func BenchmarkVerifyHeader(b *testing.B) {
	v := New(testKeys)
	b.Run("s3-get", func(b *testing.B) {
		r := signed(b, longTerm, "s3", "GET", "http://localhost/bucket/photos/2025/cat%20picture.jpg?versionId=abc",
			nil, map[string]string{"Range": "bytes=0-1023"}, signedAt)
		r.RequestURI = r.URL.RequestURI()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(context.Background(), Input{Request: r, Body: []byte{}}, signedAt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("query-post", func(b *testing.B) {
		body := []byte("Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0")
		r := signed(b, longTerm, "ec2", "POST", "http://localhost/", body,
			map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, signedAt)
		r.RequestURI = "/"
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(context.Background(), Input{Request: r, Body: body}, signedAt); err != nil {
				b.Fatal(err)
			}
		}
	})
}
