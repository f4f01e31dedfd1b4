package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// S3's legacy signature (https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html):
//
//	Signature = Base64(HMAC-SHA1(secret, Method\nContent-MD5\nContent-Type\nDate-or-Expires\n
//	                                     CanonicalizedAmzHeaders CanonicalizedResource))
//
// boto3 still presigns S3 URLs this way when asked for signature_version "s3".

// subresources are the query parameters S3 puts into the canonical resource.
var subresources = map[string]bool{
	"accelerate": true, "acl": true, "analytics": true, "cors": true, "defaultObjectAcl": true, "delete": true,
	"encryption": true, "inventory": true, "lifecycle": true, "location": true, "logging": true, "metrics": true,
	"notification": true, "object-lock": true, "partNumber": true, "policy": true, "replication": true,
	"requestPayment": true, "restore": true, "retention": true, "legal-hold": true, "select": true,
	"select-type": true, "storageClass": true, "tagging": true, "torrent": true, "uploadId": true,
	"uploads": true, "versionId": true, "versioning": true, "versions": true, "website": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"response-content-language": true, "response-content-type": true, "response-expires": true,
}

// verifyV2Header checks "Authorization: AWS AKID:signature".
func (v *Verifier) verifyV2Header(ctx context.Context, in Input, path string, params []param, cred string, now time.Time) (*Result, error) {
	r := in.Request
	akid, sig, ok := strings.Cut(cred, ":")
	if !ok || akid == "" || sig == "" {
		return nil, fail(Malformed, "Authorization header is invalid -- one and only one ' ' (space) required")
	}
	// With x-amz-date the Date line is left empty: the date is signed among the x-amz- headers.
	date, dateLine := r.Header.Get("X-Amz-Date"), ""
	if date == "" {
		date = r.Header.Get("Date")
		dateLine = date
	}
	signedAt, err := http.ParseTime(date)
	if err != nil {
		signedAt, err = time.Parse(time.RFC1123Z, date) // "+0000" zones, as AWS's own examples write them
	}
	if err != nil {
		return nil, fail(Malformed, "AWS authentication requires a valid Date or x-amz-date header")
	}
	if err := checkSkew(signedAt.UTC(), now); err != nil {
		return nil, err
	}
	token := r.Header.Get("X-Amz-Security-Token")
	secret, serr := v.secret(ctx, akid, token)
	if serr != nil {
		return nil, serr
	}
	want := signV2(secret, in, path, params, dateLine, false)
	if !equalV2(sig, want) {
		return nil, fail(SignatureMismatch, msgS3Signature)
	}
	return &Result{AccessKeyID: akid, Service: "s3", SessionToken: token, SignedAt: signedAt.UTC(), Version: 2, DecodedLength: -1}, nil
}

// verifyV2Query checks a URL presigned with AWSAccessKeyId, Expires and Signature.
func (v *Verifier) verifyV2Query(ctx context.Context, in Input, path string, params []param, now time.Time) (*Result, error) {
	akid, _ := lookup(params, "AWSAccessKeyId")
	sig, _ := lookup(params, "Signature")
	exp, _ := lookup(params, "Expires")
	if akid == "" || sig == "" || exp == "" {
		return nil, &Error{Kind: Malformed, Message: "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters", Presigned: true}
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return nil, &Error{Kind: Malformed, Message: "Invalid date (should be seconds since epoch): " + exp, Presigned: true}
	}
	expires := time.Unix(secs, 0).UTC()
	if now.After(expires) {
		return nil, &Error{Kind: Expired, Message: "Request has expired", Presigned: true}
	}
	token, ok := lookup(params, "x-amz-security-token")
	if !ok {
		token = in.Request.Header.Get("X-Amz-Security-Token")
	}
	secret, serr := v.secret(ctx, akid, token)
	if serr != nil {
		serr.Presigned = true
		return nil, serr
	}
	if !equalV2(sig, signV2(secret, in, path, params, exp, true)) {
		return nil, &Error{Kind: SignatureMismatch, Message: msgS3Signature, Presigned: true}
	}
	return &Result{AccessKeyID: akid, Service: "s3", SessionToken: token, Presigned: true, Version: 2, Expires: expires, DecodedLength: -1}, nil
}

func equalV2(sig string, want []byte) bool {
	got, err := base64.StdEncoding.DecodeString(sig)
	return err == nil && hmac.Equal(got, want)
}

// signV2 computes the HMAC-SHA1 over the string to sign. For a presigned URL the x-amz-, Content-MD5 and
// Content-Type values may travel in the query string, as boto3 moves them there.
func signV2(secret string, in Input, path string, params []param, dateLine string, presigned bool) []byte {
	r := in.Request
	std := func(name string) string {
		if presigned {
			if v, ok := lookup(params, strings.ToLower(name)); ok {
				return strings.TrimSpace(v)
			}
		}
		return strings.TrimSpace(r.Header.Get(name))
	}
	var b []byte
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = append(b, std("Content-MD5")...)
	b = append(b, '\n')
	b = append(b, std("Content-Type")...)
	b = append(b, '\n')
	b = append(b, dateLine...)
	b = append(b, '\n')

	amz := map[string][]string{}
	for k, vals := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			for _, v := range vals {
				amz[lk] = append(amz[lk], strings.TrimSpace(v))
			}
		}
	}
	if presigned {
		for _, p := range params {
			if lk := strings.ToLower(p.rawKey); strings.HasPrefix(lk, "x-amz-") {
				v, _ := url.QueryUnescape(p.rawValue)
				amz[lk] = append(amz[lk], strings.TrimSpace(v))
			}
		}
	}
	names := make([]string, 0, len(amz))
	for k := range amz {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		b = append(b, k...)
		b = append(b, ':')
		b = append(b, strings.Join(amz[k], ",")...)
		b = append(b, '\n')
	}

	if in.VirtualBucket != "" {
		b = append(b, '/')
		b = append(b, in.VirtualBucket...)
	}
	b = append(b, path...)
	var subs []param
	for _, p := range params {
		if subresources[p.rawKey] {
			subs = append(subs, p)
		}
	}
	slices.SortStableFunc(subs, func(a, b param) int { return strings.Compare(a.rawKey, b.rawKey) })
	for i, p := range subs {
		if i == 0 {
			b = append(b, '?')
		} else {
			b = append(b, '&')
		}
		b = append(b, p.rawKey...)
		if p.eq {
			v, err := url.QueryUnescape(p.rawValue)
			if err != nil {
				v = p.rawValue
			}
			b = append(b, '=')
			b = append(b, v...)
		}
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(b)
	return mac.Sum(nil)
}
