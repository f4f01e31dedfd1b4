package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// newRequestID returns an id in the form the service's clients show: a UUID for most services, and S3's
// sixteen upper-case hex digits.
func newRequestID(service string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	if service == "s3" {
		return strings.ToUpper(hex.EncodeToString(b[:8]))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
