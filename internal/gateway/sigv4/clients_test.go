package sigv4

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// recorder is a server that verifies every request as the gateway will: PUT bodies streamed, others
// buffered. It answers 403 when verification or the body read fails, so the client sees the failure too.
type recorder struct {
	mu       sync.Mutex
	errs     []error
	payloads map[string][]byte // decoded body of PUTs by path
	results  map[string]*Result
	hashes   map[string]string // x-amz-content-sha256 as sent, by path
}

func newRecorder() *recorder {
	return &recorder{payloads: map[string][]byte{}, results: map[string]*Result{}, hashes: map[string]string{}}
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in := Input{Request: r}
	if r.Method != http.MethodPut {
		in.Body, _ = io.ReadAll(r.Body)
	}
	res, err := New(testKeys).Verify(r.Context(), in, time.Now())
	var payload []byte
	if err == nil {
		payload = in.Body
		if in.Body == nil {
			payload, err = io.ReadAll(r.Body)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if err != nil {
		rec.errs = append(rec.errs, fmt.Errorf("%s %s: %w", r.Method, r.RequestURI, err))
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>`)
		return
	}
	if r.Method == http.MethodPut {
		rec.payloads[r.URL.Path], rec.results[r.URL.Path] = payload, res
		rec.hashes[r.URL.Path] = r.Header.Get("X-Amz-Content-Sha256")
	}
	switch {
	case res.Service == "sts":
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/a</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
	default:
		w.Header().Set("ETag", `"etag"`)
	}
}

func (rec *recorder) check(t *testing.T) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, err := range rec.errs {
		t.Error(err)
	}
}

// TestS3ClientV2 drives aws-sdk-go-v2's S3 client. Over TLS it sends an unseekable body as aws-chunked with a
// trailing CRC32 (STREAMING-UNSIGNED-PAYLOAD-TRAILER); over plain HTTP it signs the body's hash.
func TestS3ClientV2(t *testing.T) {
	data := bytes.Repeat([]byte("overcast "), 20000)
	keys := []string{"plain.txt", "dir/with space+plus=eq&amp;!'()*~.bin", "日本語/ключ.txt"}
	for _, tls := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			rec := newRecorder()
			srv := httptest.NewUnstartedServer(rec)
			if tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			client := s3.New(s3.Options{
				Region:       "us-east-1",
				Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return temporary, nil }),
				HTTPClient:   srv.Client(),
				BaseEndpoint: aws.String(srv.URL),
				UsePathStyle: true,
				// What config.LoadDefaultConfig resolves to: checksums whenever the operation supports them.
				RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
			})
			ctx := context.Background()
			for _, key := range keys {
				var body io.Reader = bytes.NewReader(data)
				if tls {
					body = io.MultiReader(body) // not seekable: the client must stream it
				}
				if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key),
					Body: body, ContentLength: aws.Int64(int64(len(data)))}); err != nil {
					t.Fatalf("PutObject %q: %v", key, err)
				}
				if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)}); err != nil {
					t.Fatalf("HeadObject %q: %v", key, err)
				}
				rec.mu.Lock()
				got, hash, res := rec.payloads["/bkt/"+key], rec.hashes["/bkt/"+key], rec.results["/bkt/"+key]
				rec.mu.Unlock()
				if !bytes.Equal(got, data) {
					t.Errorf("%q: decoded %d bytes, want %d", key, len(got), len(data))
				}
				if tls && (hash != streamingUnsTrl || res.Trailer.Get("x-amz-checksum-crc32") == "") {
					t.Errorf("%q: payload hash %q, trailers %v: the client did not use aws-chunked with a trailer", key, hash, res.Trailer)
				}
			}
			if _, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), Prefix: aws.String("a b+c/ü")}); err != nil {
				t.Fatalf("ListObjectsV2: %v", err)
			}
			rec.check(t)
		})
	}
}

// TestBoto3 uses boto3 as the oracle: its SigV2 ("s3") and SigV4 presigned URLs, an S3 upload over TLS, an
// S3 listing and an STS call.
func TestBoto3(t *testing.T) {
	if exec.Command("/usr/bin/python3", "-c", "import boto3").Run() != nil {
		t.Fatal("boto3 is not installed for /usr/bin/python3; run scripts/deps.sh")
	}
	rec := newRecorder()
	plain := httptest.NewServer(rec)
	defer plain.Close()
	tls := httptest.NewTLSServer(rec)
	defer tls.Close()
	script := `
import json, sys, warnings
import boto3
from botocore.config import Config
warnings.filterwarnings("ignore")
plain, tls, akid, secret, takid, tsecret, token = sys.argv[1:8]
def client(service, endpoint, temporary=False, **kw):
    cfg = kw.pop("config", Config(s3={"addressing_style": "path"}))
    if temporary:
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=takid,
                            aws_secret_access_key=tsecret, aws_session_token=token, config=cfg, **kw)
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=akid,
                        aws_secret_access_key=secret, config=cfg, **kw)
v2 = Config(signature_version="s3", s3={"addressing_style": "path"})
v4 = Config(signature_version="s3v4", s3={"addressing_style": "path"})
out = {
    "v2": client("s3", plain, config=v2).generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "dir/my key ü+.txt"}, ExpiresIn=600),
    "v2part": client("s3", plain, config=v2).generate_presigned_url("upload_part", Params={"Bucket": "bkt", "Key": "k", "UploadId": "u/1", "PartNumber": 2}, ExpiresIn=600),
    "v2token": client("s3", plain, temporary=True, config=v2).generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "t", "ResponseContentType": "text/plain"}, ExpiresIn=600),
    "v4": client("s3", plain, config=v4).generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "dir/my key ü+.txt"}, ExpiresIn=600),
}
client("s3", tls, verify=False).put_object(Bucket="bkt", Key="boto/obj.txt", Body=b"hello from boto3 " * 1000)
client("s3", plain).put_object(Bucket="bkt", Key="boto/plain.txt", Body=b"plain http " * 1000)
client("s3", plain).list_objects_v2(Bucket="bkt", Prefix="a b+c/ü")
client("sts", plain, temporary=True).get_caller_identity()
print(json.dumps(out))
`
	cmd := exec.Command("/usr/bin/python3", "-c", script, plain.URL, tls.URL, longTerm.AccessKeyID, longTerm.SecretAccessKey,
		temporary.AccessKeyID, temporary.SecretAccessKey, temporary.SessionToken)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	rec.check(t)
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, stderr.String())
	}
	var urls map[string]string
	if err := json.Unmarshal(stdout, &urls); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	if got := rec.payloads["/bkt/boto/obj.txt"]; string(got) != strings.Repeat("hello from boto3 ", 1000) {
		t.Errorf("boto3 TLS upload decoded to %d bytes (x-amz-content-sha256 %q)", len(got), rec.hashes["/bkt/boto/obj.txt"])
	}
	t.Logf("boto3 signed its TLS upload with x-amz-content-sha256 %q", rec.hashes["/bkt/boto/obj.txt"])
	if got := rec.payloads["/bkt/boto/plain.txt"]; string(got) != strings.Repeat("plain http ", 1000) {
		t.Errorf("boto3 plain upload decoded to %d bytes", len(got))
	}
	rec.mu.Unlock()
	for name, u := range urls {
		r, _ := http.NewRequest("GET", u, nil)
		if strings.Contains(u, "uploadId") {
			r.Method = "PUT"
		}
		res, err := verifyOverHTTP(t, r, time.Now())
		if err != nil {
			t.Errorf("%s %s: %v", name, u, err)
			continue
		}
		wantVersion := 2
		if name == "v4" {
			wantVersion = 4
		}
		if res.Version != wantVersion || !res.Presigned {
			t.Errorf("%s: result %+v", name, res)
		}
		if name == "v2token" && res.SessionToken != temporary.SessionToken {
			t.Errorf("v2token: session token %q", res.SessionToken)
		}
	}
}
