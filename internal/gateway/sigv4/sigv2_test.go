package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// The examples of AWS's "Authenticating Requests (AWS Signature Version 2)" page, for a virtual-hosted bucket.
func TestSigV2AWSExamples(t *testing.T) {
	v := New(testKeys)
	t.Run("header", func(t *testing.T) {
		r, _ := http.NewRequest("GET", "http://johnsmith.s3.amazonaws.com/photos/puppy.jpg", nil)
		r.Header.Set("Date", "Tue, 27 Mar 2007 19:36:42 +0000")
		r.Header.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
		at := time.Date(2007, 3, 27, 19, 40, 0, 0, time.UTC)
		res, err := v.Verify(context.Background(), Input{Request: r, Body: []byte{}, VirtualBucket: "johnsmith"}, at)
		if err != nil || res.Version != 2 || res.AccessKeyID != longTerm.AccessKeyID {
			t.Fatalf("res %+v err %v", res, err)
		}
		if _, err := v.Verify(context.Background(), Input{Request: r, Body: []byte{}, VirtualBucket: "johnsmith"}, at.Add(20*time.Minute)); kindOf(err) != Skewed {
			t.Errorf("late request: %v", err)
		}
		if _, err := v.Verify(context.Background(), Input{Request: r, Body: []byte{}, VirtualBucket: "janedoe"}, at); kindOf(err) != SignatureMismatch {
			t.Errorf("other bucket: %v", err)
		}
	})
	t.Run("presigned", func(t *testing.T) {
		r, _ := http.NewRequest("GET", "http://johnsmith.s3.amazonaws.com/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620", nil)
		in := Input{Request: r, VirtualBucket: "johnsmith"}
		res, err := v.Verify(context.Background(), in, time.Unix(1175139620, 0))
		if err != nil || !res.Presigned || res.Version != 2 || !res.Expires.Equal(time.Unix(1175139620, 0)) {
			t.Fatalf("res %+v err %v", res, err)
		}
		_, err = v.Verify(context.Background(), in, time.Unix(1175139621, 0))
		if kindOf(err) != Expired {
			t.Fatalf("after Expires: %v", err)
		}
		if code, status := err.(*Error).AWSCode("s3", "rest-xml"); code != "AccessDenied" || status != 403 {
			t.Errorf("answer %s %d", code, status)
		}
	})
}

// presignV2 implements the documented query-string algorithm, with a session token and subresources.
func presignV2(method, bucket, path string, query url.Values, secret, akid, token string, expires int64) string {
	toSign := method + "\n\n\n" + strconv.FormatInt(expires, 10) + "\n"
	if token != "" {
		toSign += "x-amz-security-token:" + token + "\n"
	}
	toSign += "/" + bucket + path
	if id := query.Get("uploadId"); id != "" {
		toSign += "?partNumber=" + query.Get("partNumber") + "&uploadId=" + id
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(toSign))
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("AWSAccessKeyId", akid)
	q.Set("Expires", strconv.FormatInt(expires, 10))
	q.Set("Signature", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	if token != "" {
		q.Set("x-amz-security-token", token)
	}
	return "http://localhost/" + bucket + path + "?" + q.Encode()
}

func TestSigV2PresignedWithTokenAndSubresources(t *testing.T) {
	exp := signedAt.Add(time.Hour).Unix()
	u := presignV2("PUT", "bucket", "/dir/my%20file.bin", url.Values{"partNumber": {"3"}, "uploadId": {"abc/def"}},
		temporary.SecretAccessKey, temporary.AccessKeyID, temporary.SessionToken, exp)
	r, _ := http.NewRequest("PUT", u, nil)
	res, err := verifyOverHTTP(t, r, signedAt)
	if err != nil || res.SessionToken != temporary.SessionToken {
		t.Fatalf("res %+v err %v", res, err)
	}
	r, _ = http.NewRequest("PUT", u+"&partNumber=4", nil) // a second partNumber changes the resource
	if _, err := verifyOverHTTP(t, r, signedAt); kindOf(err) != SignatureMismatch {
		t.Fatalf("tampered subresource: %v", err)
	}
}
