package imds

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// IMDSv2 headers and limits, as AWS documents them.
const (
	headerToken    = "X-Aws-Ec2-Metadata-Token"
	headerTokenTTL = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	maxTokenTTL    = 21600 // six hours
)

// A session token is stateless: expiry and a nonce, then an HMAC over them and the instance id. Nothing is kept
// per token, so an instance can hold as many as it likes, and a token presented from another instance's
// address fails the HMAC because the server checks it against the instance that asks, not one the token names.
const (
	tokenExpiryLen = 8
	tokenNonceLen  = 8
	tokenMACLen    = 24
	tokenLen       = tokenExpiryLen + tokenNonceLen + tokenMACLen
)

type tokenSigner struct{ secret []byte }

func newTokenSigner(secret []byte) tokenSigner {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	return tokenSigner{secret: secret}
}

// mint returns a token for instanceID that expires at expiry.
func (s tokenSigner) mint(instanceID string, expiry time.Time) string {
	b := make([]byte, tokenLen)
	binary.BigEndian.PutUint64(b, uint64(expiry.UnixNano()))
	rand.Read(b[tokenExpiryLen : tokenExpiryLen+tokenNonceLen])
	copy(b[tokenExpiryLen+tokenNonceLen:], s.mac(instanceID, b[:tokenExpiryLen+tokenNonceLen]))
	return base64.StdEncoding.EncodeToString(b)
}

// verify reports how long token has left when it was minted for instanceID and has not expired at now.
func (s tokenSigner) verify(token, instanceID string, now time.Time) (time.Duration, bool) {
	b, err := base64.StdEncoding.DecodeString(token)
	if err != nil || len(b) != tokenLen || base64.StdEncoding.EncodeToString(b) != token {
		return 0, false // the decoder forgives stray newlines and padding bits; a token has one spelling
	}
	if !hmac.Equal(b[tokenExpiryLen+tokenNonceLen:], s.mac(instanceID, b[:tokenExpiryLen+tokenNonceLen])) {
		return 0, false
	}
	left := time.Unix(0, int64(binary.BigEndian.Uint64(b))).Sub(now)
	if left <= 0 {
		return 0, false
	}
	return left, true
}

func (s tokenSigner) mac(instanceID string, body []byte) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("imds-token\x00"))
	m.Write([]byte(instanceID))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)[:tokenMACLen]
}
