// Package sigv4 verifies the signatures of requests that reach the gateway: SigV4 in the Authorization header
// or in a presigned query string, S3's aws-chunked streaming bodies with their chunk and trailer signatures,
// and S3's legacy SigV2 (header and presigned URL). It answers who signed (the access key id), for which region
// and service, and whether the signature holds; it never decides what the signer may do, and it learns
// secrets only through the Secrets interface. Failures are *Error values whose Kind the gateway turns into
// each service family's AWS code with Error.AWSCode.
package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Secrets gives the secret of an access key. The gateway implements it over IAM and STS.
type Secrets interface {
	// SecretFor returns the secret access key for an access key id and the session token the key requires
	// ("" for long-term keys). An unknown key returns ErrUnknownKey, expired temporary credentials
	// ErrTokenExpired.
	SecretFor(ctx context.Context, accessKeyID string) (secret, sessionToken string, err error)
}

// Input is a request as it arrived, before the gateway rewrites anything.
type Input struct {
	// Request with its Host, headers and request line as the client sent them (RequestURI, or URL for
	// requests built in-process). Verify replaces Request.Body for streamed payloads.
	Request *http.Request
	// Body is the buffered body. nil means the gateway streams the body from Request.Body (S3 PutObject and
	// UploadPart); an empty body that is buffered is a non-nil empty slice.
	Body []byte
	// VirtualBucket is the bucket an S3 virtual-hosted-style Host names ("" for path style and other
	// services). SigV2 signs the resource as /bucket/key whatever the Host.
	VirtualBucket string
}

// Result is who signed a request and how.
type Result struct {
	AccessKeyID  string
	Region       string // from the credential scope; "" for SigV2, which has none
	Service      string // the signing name from the credential scope; "s3" for SigV2
	SessionToken string // the X-Amz-Security-Token the request carried
	SignedAt     time.Time
	Presigned    bool
	Version      int       // 4, or 2 for S3's legacy signatures
	Expires      time.Time // when a presigned request stops being valid; zero otherwise
	// Streamed is true when Verify replaced Request.Body with a reader that checks the payload as it is
	// read: aws-chunked bodies are decoded, and a read fails with an *Error at the first bytes that do not
	// match. Consumers must discard what they read from a body whose read failed.
	Streamed bool
	// DecodedLength is the payload's length once decoded (x-amz-decoded-content-length for aws-chunked,
	// Content-Length otherwise), -1 when unknown. Request.ContentLength is set to it too.
	DecodedLength int64
	// Payload is the decoded payload when a buffered Body was aws-chunked; nil otherwise (Body is the
	// payload).
	Payload []byte
	// Trailer holds the aws-chunked trailers (x-amz-checksum-crc32 and the like) once the body has been read
	// to its end; checksums named there have been checked against the payload.
	Trailer http.Header
}

// Verifier checks signatures. It is safe for concurrent use and caches derived signing keys.
type Verifier struct {
	secrets Secrets
	keys    keyCache
}

// New returns a Verifier that looks secrets up in secrets.
func New(secrets Secrets) *Verifier { return &Verifier{secrets: secrets} }

// MaxSkew is how far a signed request's time may be from the server's clock.
const MaxSkew = 15 * time.Minute

// maxPresignExpiry is the longest X-Amz-Expires AWS accepts: seven days.
const maxPresignExpiry = 604800

const (
	algorithm        = "AWS4-HMAC-SHA256"
	amzDateLayout    = "20060102T150405Z"
	unsignedPayload  = "UNSIGNED-PAYLOAD"
	streamingSigned  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsTrl  = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Verify checks the signature of in.Request at time now. See Input for what the request must look like.
func (v *Verifier) Verify(ctx context.Context, in Input, now time.Time) (*Result, error) {
	r := in.Request
	path, rawQuery := target(r)
	var stack [16]param
	params := parseQuery(rawQuery, stack[:0])
	auth := r.Header.Get("Authorization")
	_, queryV4 := lookup(params, "X-Amz-Algorithm")
	if !queryV4 {
		_, queryV4 = lookup(params, "X-Amz-Credential")
	}
	_, queryV2 := lookup(params, "AWSAccessKeyId")

	switch {
	case auth != "" && (queryV4 || queryV2):
		return nil, fail(Malformed, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	case strings.HasPrefix(auth, algorithm+" "):
		req := &v4Request{in: in, path: path, params: params}
		if err := req.parseHeader(auth); err != nil {
			return nil, err
		}
		return v.verifyV4(ctx, req, now)
	case strings.HasPrefix(auth, "AWS "):
		return v.verifyV2Header(ctx, in, path, params, auth[4:], now)
	case auth != "":
		return nil, fail(Malformed, "Unsupported Authorization Type")
	case queryV4:
		req := &v4Request{in: in, path: path, params: params, presigned: true}
		if err := req.parseQuery(now); err != nil {
			err.Presigned = true
			return nil, err
		}
		return v.verifyV4(ctx, req, now)
	case queryV2:
		return v.verifyV2Query(ctx, in, path, params, now)
	}
	return nil, fail(Missing, "Request is missing Authentication Token")
}

// v4Request is the parsed SigV4 authentication of one request.
type v4Request struct {
	in        Input
	path      string
	params    []param
	presigned bool

	accessKeyID, scopeDate, region, service  string
	signedHeaders, signature, amzDate, token string
	signedAt, expires                        time.Time
}

func (q *v4Request) scope() string {
	return q.scopeDate + "/" + q.region + "/" + q.service + "/aws4_request"
}

// parseHeader reads "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func (q *v4Request) parseHeader(auth string) *Error {
	var cred string
	for rest := auth[len(algorithm)+1:]; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = val
		case "SignedHeaders":
			q.signedHeaders = val
		case "Signature":
			q.signature = val
		}
	}
	var missing []string
	for _, p := range [...]struct{ name, val string }{{"Credential", cred}, {"Signature", q.signature}, {"SignedHeaders", q.signedHeaders}} {
		if p.val == "" {
			missing = append(missing, "Authorization header requires '"+p.name+"' parameter.")
		}
	}
	r := q.in.Request
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate != "" {
		t, err := time.Parse(amzDateLayout, amzDate)
		if err != nil {
			return fail(Malformed, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
		}
		q.amzDate, q.signedAt = amzDate, t
	} else if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return fail(Malformed, "Date must be in the RFC 1123 format")
		}
		q.signedAt = t.UTC()
		q.amzDate = q.signedAt.Format(amzDateLayout)
	} else {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return fail(Malformed, strings.Join(missing, " ")+" Authorization="+auth)
	}
	if err := q.parseCredential(cred); err != nil {
		return err
	}
	q.token = r.Header.Get("X-Amz-Security-Token")
	return nil
}

// parseQuery reads the X-Amz-* parameters of a presigned URL.
func (q *v4Request) parseQuery(now time.Time) *Error {
	get := func(name string) string { v, _ := lookup(q.params, name); return v }
	alg, cred, date := get("X-Amz-Algorithm"), get("X-Amz-Credential"), get("X-Amz-Date")
	q.signedHeaders, q.signature = get("X-Amz-SignedHeaders"), get("X-Amz-Signature")
	expires, hasExpires := lookup(q.params, "X-Amz-Expires")
	if alg == "" || cred == "" || date == "" || q.signedHeaders == "" || q.signature == "" {
		return fail(Malformed, "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	if alg != algorithm {
		return fail(Malformed, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	t, err := time.Parse(amzDateLayout, date)
	if err != nil {
		return fail(Malformed, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	q.amzDate, q.signedAt = date, t
	if hasExpires {
		secs, err := strconv.ParseInt(expires, 10, 64)
		switch {
		case err != nil:
			return fail(Malformed, "X-Amz-Expires should be a number")
		case secs < 0:
			return fail(Malformed, "X-Amz-Expires must be non-negative")
		case secs > maxPresignExpiry:
			return fail(Malformed, "X-Amz-Expires must be less than a week (in seconds) that is; 604800")
		}
		q.expires = t.Add(time.Duration(secs) * time.Second)
	}
	if err := q.parseCredential(cred); err != nil {
		return err
	}
	if q.service == "s3" && !hasExpires {
		return fail(Malformed, "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	q.token = get("X-Amz-Security-Token")
	return nil
}

// parseCredential reads AKID/yyyymmdd/region/service/aws4_request and checks its date against the request's.
func (q *v4Request) parseCredential(cred string) *Error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" || len(parts[1]) != 8 || parts[2] == "" || parts[3] == "" {
		return fail(Malformed, "Credential should be scoped to a valid region, service and date: '"+cred+"'")
	}
	if parts[4] != "aws4_request" {
		return fail(Malformed, "Credential should be scoped with a valid terminator: 'aws4_request', not '"+parts[4]+"'.")
	}
	if parts[1] != q.amzDate[:8] {
		return fail(Malformed, "Invalid credential date \""+parts[1]+"\". This date is not the same as X-Amz-Date: \""+q.amzDate[:8]+"\".")
	}
	q.accessKeyID, q.scopeDate, q.region, q.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// checkTime applies the clock-skew window to header signatures and the validity window to presigned ones.
func (q *v4Request) checkTime(now time.Time) *Error {
	if q.presigned && !q.expires.IsZero() {
		if q.signedAt.After(now.Add(MaxSkew)) {
			return &Error{Kind: Expired, Message: "Request is not valid yet", Presigned: true}
		}
		if now.After(q.expires) {
			return &Error{Kind: Expired, Message: "Request has expired", Presigned: true}
		}
		return nil
	}
	return checkSkew(q.signedAt, now)
}

func checkSkew(signedAt, now time.Time) *Error {
	now = now.UTC()
	if signedAt.Before(now.Add(-MaxSkew)) {
		return fail(Skewed, "Signature expired: "+signedAt.Format(amzDateLayout)+" is now earlier than "+
			now.Add(-MaxSkew).Format(amzDateLayout)+" ("+now.Format(amzDateLayout)+" - 15 min.)")
	}
	if signedAt.After(now.Add(MaxSkew)) {
		return fail(Skewed, "Signature not yet current: "+signedAt.Format(amzDateLayout)+" is still later than "+
			now.Add(MaxSkew).Format(amzDateLayout)+" ("+now.Format(amzDateLayout)+" + 15 min.)")
	}
	return nil
}

// secret looks the key up and holds the request's session token against the one the key requires.
func (v *Verifier) secret(ctx context.Context, accessKeyID, token string) (string, *Error) {
	secret, want, err := v.secrets.SecretFor(ctx, accessKeyID)
	switch {
	case errors.Is(err, ErrUnknownKey):
		return "", fail(UnknownKey, msgS3UnknownKey)
	case errors.Is(err, ErrTokenExpired):
		return "", fail(TokenExpired, msgExpiredToken)
	case err != nil:
		return "", fail(UnknownKey, err.Error())
	case want == "" && token != "":
		return "", fail(TokenInvalid, msgBadToken)
	case want != "" && token == "":
		return "", fail(TokenMissing, msgBadToken)
	case subtle.ConstantTimeCompare([]byte(want), []byte(token)) != 1:
		return "", fail(TokenInvalid, msgBadToken)
	}
	return secret, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (v *Verifier) verifyV4(ctx context.Context, q *v4Request, now time.Time) (*Result, error) {
	if !hasHost(q.signedHeaders) {
		return nil, &Error{Kind: Malformed, Message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", Presigned: q.presigned}
	}
	if err := q.checkTime(now); err != nil {
		return nil, err
	}
	secret, err := v.secret(ctx, q.accessKeyID, q.token)
	if err != nil {
		err.Presigned = q.presigned
		return nil, err
	}
	s3 := q.service == "s3"
	body := q.in.Body
	r := q.in.Request
	streamed := body == nil && r.Body != nil && r.Body != http.NoBody

	// The payload hash: what the client declared, or the body's own hash.
	declared := r.Header.Get("X-Amz-Content-Sha256")
	var payloadHash string
	var bodySum [32]byte
	switch {
	case q.presigned && s3:
		payloadHash = unsignedPayload
		if d, ok := lookup(q.params, "X-Amz-Content-Sha256"); ok {
			payloadHash = d
		}
	case declared != "":
		payloadHash = declared
		if !validPayloadHash(declared, s3) {
			return nil, fail(Malformed, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
		}
	case streamed:
		return nil, fail(Malformed, "Missing required header for this request: x-amz-content-sha256")
	default:
		bodySum = sha256.Sum256(body)
		payloadHash = hex.EncodeToString(bodySum[:])
	}

	key := v.keys.get(secret, q.scopeDate, q.region, q.service)
	got, ok := decodeSig(q.signature)
	want := q.sign(key, q.path, s3, payloadHash)
	if ok && !hmac.Equal(got[:], want[:]) && s3 {
		if alt := reencodedPath(q.path); alt != "" {
			want = q.sign(key, alt, s3, payloadHash)
		}
	}
	if !ok || !hmac.Equal(got[:], want[:]) {
		return nil, &Error{Kind: SignatureMismatch, Message: msgSignature, Presigned: q.presigned}
	}

	res := &Result{
		AccessKeyID: q.accessKeyID, Region: q.region, Service: q.service, SessionToken: q.token,
		SignedAt: q.signedAt, Presigned: q.presigned, Version: 4, Expires: q.expires, DecodedLength: -1,
	}
	if q.presigned || payloadHash == unsignedPayload {
		return res, nil
	}
	if strings.HasPrefix(payloadHash, "STREAMING-") {
		c := &chunkedReader{
			signed: payloadHash != streamingUnsTrl, trailer: payloadHash != streamingSigned,
			key: key, amzDate: q.amzDate, scope: q.scope(), prev: want, res: res,
		}
		return res, v.stream(c, q.in, res)
	}
	// A declared hex hash: check the body against it.
	var declaredSum [32]byte
	hex.Decode(declaredSum[:], []byte(payloadHash)) // validated above
	if streamed {
		res.Streamed = true
		res.DecodedLength = r.ContentLength
		r.Body = &hashingReader{src: r.Body, h: sha256.New(), want: declaredSum}
		return res, nil
	}
	if declared != "" && sha256.Sum256(body) != declaredSum {
		return nil, fail(ContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return res, nil
}

// sign computes the request's signature over the canonical request with path as its URI.
func (q *v4Request) sign(key []byte, path string, s3 bool, payloadHash string) [32]byte {
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, q.in.Request.Method...)
	b = append(b, '\n')
	b = appendCanonicalPath(b, path, s3)
	b = append(b, '\n')
	skip := ""
	if q.presigned {
		skip = "X-Amz-Signature"
	}
	b = appendCanonicalQuery(b, q.params, skip)
	b = append(b, '\n')
	b = appendCanonicalHeaders(b, q.in.Request, q.signedHeaders)
	b = append(b, '\n')
	b = append(b, q.signedHeaders...)
	b = append(b, '\n')
	b = append(b, payloadHash...)
	crHash := sha256.Sum256(b)

	b = append(b[:0], algorithm+"\n"...)
	b = append(b, q.amzDate...)
	b = append(b, '\n')
	b = append(b, q.scopeDate...)
	b = append(b, '/')
	b = append(b, q.region...)
	b = append(b, '/')
	b = append(b, q.service...)
	b = append(b, "/aws4_request\n"...)
	b = hex.AppendEncode(b, crHash[:])
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	var sig [32]byte
	mac.Sum(sig[:0])
	*bp = b
	bufPool.Put(bp)
	return sig
}

// stream installs the aws-chunked decoder over the streamed body, or runs it over a buffered one.
func (v *Verifier) stream(c *chunkedReader, in Input, res *Result) error {
	r := in.Request
	if !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") && r.Header.Get("X-Amz-Decoded-Content-Length") == "" {
		return fail(Malformed, "aws-chunked payloads need Content-Encoding: aws-chunked or x-amz-decoded-content-length")
	}
	if err := c.init(r); err != nil {
		return err
	}
	res.DecodedLength = c.declaredLen
	if in.Body != nil {
		c.src = bufioReader(bytes.NewReader(in.Body))
		payload, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		res.Payload = payload
		return nil
	}
	c.src, c.closer = bufioReader(r.Body), r.Body
	r.Body = c
	r.ContentLength = c.declaredLen
	res.Streamed = true
	return nil
}

func hasHost(signedHeaders string) bool {
	for rest := signedHeaders; rest != ""; {
		var h string
		h, rest, _ = strings.Cut(rest, ";")
		if h == "host" || h == ":authority" {
			return true
		}
	}
	return false
}

func validPayloadHash(h string, s3 bool) bool {
	switch h {
	case unsignedPayload, streamingSigned, streamingTrailer, streamingUnsTrl:
		return s3
	}
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func decodeSig(s string) (sig [32]byte, ok bool) {
	if len(s) != 64 {
		return sig, false
	}
	_, err := hex.Decode(sig[:], []byte(s))
	return sig, err == nil
}

// hashingReader passes a body through and fails its end when it does not hash to want.
type hashingReader struct {
	src  io.ReadCloser
	h    hash.Hash
	want [32]byte
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.src.Read(p)
	h.h.Write(p[:n])
	if err == io.EOF {
		var got [32]byte
		if !bytes.Equal(h.h.Sum(got[:0]), h.want[:]) {
			return n, fail(ContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	return n, err
}

func (h *hashingReader) Close() error { return h.src.Close() }
