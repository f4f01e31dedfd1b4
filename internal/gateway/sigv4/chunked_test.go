package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// encodeChunked writes an aws-chunked body as AWS's streaming documentation specifies it: chunk signatures
// chained from the seed when signed, and the trailers (signed when signed) after the final chunk.
func encodeChunked(key []byte, amzDate, scope, seed string, data []byte, chunk int, signed bool, trailers []string) (body []byte, sigs []string) {
	var b bytes.Buffer
	prev := seed
	sign := func(s string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return hex.EncodeToString(m.Sum(nil))
	}
	for off := 0; ; off += chunk {
		part := data[min(off, len(data)):min(off+chunk, len(data))]
		fmt.Fprintf(&b, "%x", len(part))
		if signed {
			prev = sign("AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + scope + "\n" + prev + "\n" + emptySHA256 + "\n" + sha256Hex(part))
			sigs = append(sigs, prev)
			b.WriteString(";chunk-signature=" + prev)
		}
		b.WriteString("\r\n")
		if len(part) == 0 {
			break
		}
		b.Write(part)
		b.WriteString("\r\n")
	}
	if trailers != nil {
		var canon string
		for _, t := range trailers {
			b.WriteString(t + "\r\n")
			canon += t + "\n"
		}
		if signed {
			b.WriteString("x-amz-trailer-signature:" + sign("AWS4-HMAC-SHA256-TRAILER\n"+amzDate+"\n"+scope+"\n"+prev+"\n"+sha256Hex([]byte(canon))) + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes(), sigs
}

// TestChunkedAWSExample replays the example of AWS's "Signature Calculations for the Authorization Header:
// Transferring Payload in Multiple Chunks" page: the v2 signer must give its seed signature, the encoder its
// chunk signatures, and Verify must decode it.
func TestChunkedAWSExample(t *testing.T) {
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	data := bytes.Repeat([]byte{'a'}, 66560)
	r, _ := http.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", nil)
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("X-Amz-Content-Sha256", streamingSigned)
	r.ContentLength = 66824
	if err := v4.NewSigner().SignHTTP(context.Background(), longTerm, r, streamingSigned, "s3", "us-east-1", at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
		t.Fatal(err)
	}
	seed := r.Header.Get("Authorization")[strings.Index(r.Header.Get("Authorization"), "Signature=")+10:]
	if seed != "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9" {
		t.Fatalf("seed signature %s differs from AWS's example", seed)
	}
	key := deriveKey(longTerm.SecretAccessKey, "20130524", "us-east-1", "s3")
	body, sigs := encodeChunked(key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", seed, data, 65536, true, nil)
	want := []string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	if strings.Join(sigs, ",") != strings.Join(want, ",") || len(body) != 66824 {
		t.Fatalf("encoder disagrees with AWS's example: %v, %d bytes", sigs, len(body))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	res, err := New(testKeys).Verify(context.Background(), Input{Request: r}, at)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r.Body)
	if err != nil || !bytes.Equal(got, data) || res.DecodedLength != 66560 || r.ContentLength != 66560 {
		t.Fatalf("decoded %d bytes, err %v, result %+v", len(got), err, res)
	}
}

func crc32Trailer(data []byte) string {
	s := crc32.ChecksumIEEE(data)
	return "x-amz-checksum-crc32:" + base64.StdEncoding.EncodeToString([]byte{byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)})
}

func TestChunkedModes(t *testing.T) {
	data := []byte(strings.Repeat("0123456789abcdef", 5000)) // 80000 bytes: two chunks of 64 KiB and a short one
	type tamper func(body []byte) []byte
	flipData := func(b []byte) []byte { b[100] ^= 1; return b }
	cases := []struct {
		name     string
		mode     string
		trailers []string
		tamper   tamper
		want     Kind
	}{
		{"signed", streamingSigned, nil, nil, 0},
		{"signed data tampered", streamingSigned, nil, flipData, SignatureMismatch},
		{"signed truncated", streamingSigned, nil, func(b []byte) []byte { return b[:len(b)-100] }, IncompleteBody},
		{"signed trailer", streamingTrailer, []string{crc32Trailer(data)}, nil, 0},
		{"signed trailer, wrong checksum", streamingTrailer, []string{crc32Trailer([]byte("other"))}, nil, ChecksumMismatch},
		{"signed trailer, trailer tampered", streamingTrailer, []string{crc32Trailer(data)}, func(b []byte) []byte {
			i := bytes.Index(b, []byte("x-amz-checksum-crc32:"))
			b[i+len("x-amz-checksum-crc32:")] ^= 1
			return b
		}, SignatureMismatch},
		{"unsigned trailer", streamingUnsTrl, []string{crc32Trailer(data)}, nil, 0},
		{"unsigned trailer, data tampered", streamingUnsTrl, []string{crc32Trailer(data)}, flipData, ChecksumMismatch},
		{"unsigned trailer missing", streamingUnsTrl, []string{}, nil, IncompleteBody},
	}
	for _, c := range cases {
		for _, buffered := range []bool{false, true} {
			t.Run(c.name+"/buffered="+strconv.FormatBool(buffered), func(t *testing.T) {
				r, _ := http.NewRequest("PUT", "http://localhost/bucket/key", nil)
				r.Header.Set("Content-Encoding", "aws-chunked")
				r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
				r.Header.Set("X-Amz-Content-Sha256", c.mode)
				if c.trailers != nil {
					r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
				}
				v4.NewSigner().SignHTTP(context.Background(), longTerm, r, c.mode, "s3", "us-east-1", signedAt,
					func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
				auth := r.Header.Get("Authorization")
				seed := auth[strings.Index(auth, "Signature=")+10:]
				key := deriveKey(longTerm.SecretAccessKey, "20250314", "us-east-1", "s3")
				body, _ := encodeChunked(key, "20250314T150926Z", "20250314/us-east-1/s3/aws4_request", seed, data, 65536, c.mode != streamingUnsTrl, c.trailers)
				if c.tamper != nil {
					body = c.tamper(body)
				}
				in := Input{Request: r}
				if buffered {
					in.Body = body
				} else {
					r.Body = io.NopCloser(bytes.NewReader(body))
				}
				res, err := New(testKeys).Verify(context.Background(), in, signedAt)
				got := []byte(nil)
				if err == nil {
					if buffered {
						got = res.Payload
					} else {
						got, err = io.ReadAll(r.Body)
					}
				}
				if kindOf(err) != c.want {
					t.Fatalf("err = %v, want kind %v", err, c.want)
				}
				if c.want == 0 {
					if !bytes.Equal(got, data) {
						t.Fatalf("decoded %d bytes, want %d", len(got), len(data))
					}
					if c.trailers != nil && res.Trailer.Get("X-Amz-Checksum-Crc32") == "" {
						t.Errorf("trailer not reported: %v", res.Trailer)
					}
				}
			})
		}
	}
}
