package imds

import (
	"encoding/base64"
	"encoding/binary"
	"testing"
	"time"
)

// FuzzTokenVerify: no string an instance can send is accepted as a token unless the service minted it, for
// that instance. The fuzzing workers each run this function afresh, so the good token is built with a fixed
// nonce rather than by mint.
func FuzzTokenVerify(f *testing.F) {
	s := newTokenSigner([]byte("fuzz-secret"))
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	b := make([]byte, tokenLen)
	binary.BigEndian.PutUint64(b, uint64(now.Add(time.Hour).UnixNano()))
	copy(b[tokenExpiryLen+tokenNonceLen:], s.mac("i-0aaaaaaaaaaaaaaa1", b[:tokenExpiryLen+tokenNonceLen]))
	good := base64.StdEncoding.EncodeToString(b)
	if _, ok := s.verify(good, "i-0aaaaaaaaaaaaaaa1", now); !ok {
		f.Fatal("the good token is refused")
	}
	f.Add(good)
	f.Add(good + "\n")
	f.Add("")
	f.Add(good[:len(good)-4])
	f.Fuzz(func(t *testing.T, token string) {
		if _, ok := s.verify(token, "i-0bbbbbbbbbbbbbbb2", now); ok {
			t.Fatalf("token %q accepted for an instance it was not minted for", token)
		}
		if _, ok := s.verify(token, "i-0aaaaaaaaaaaaaaa1", now); ok && token != good {
			t.Fatalf("forged token %q accepted", token)
		}
	})
}
