package core

import (
	"bytes"
	"testing"

	"github.com/overcast-cloud/overcast/internal/store"
)

func TestKeyRoundTrip(t *testing.T) {
	for _, k := range []store.Key{
		{Account: "111111111111", Region: "us-east-1", Kind: "ec2/instance", ID: "i-0abc"},
		{Kind: "s3/bucket-name", ID: "my.bucket"},
		{Account: "a\x00b", Region: "r/1", Kind: "k\xff", ID: "id with / and \x00"},
	} {
		b, err := EncodeKey(k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeKey(b)
		if err != nil || got != k {
			t.Errorf("round trip of %q = %q, %v", k, got, err)
		}
		p, err := EncodePrefix(store.Prefix{Account: k.Account, Region: k.Region, Kind: k.Kind, IDPrefix: k.ID[:2]})
		if err != nil || !bytes.HasPrefix(b, p) {
			t.Errorf("key %q is not under its own prefix", k)
		}
	}
	if _, err := DecodeKey([]byte{0x05, 'a'}); err == nil {
		t.Error("decoding a truncated key succeeded")
	}
}

func FuzzDecodeKey(f *testing.F) {
	b, _ := EncodeKey(store.Key{Account: "1", Region: "r", Kind: "k", ID: "i"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := DecodeKey(b)
		if err != nil || k.Kind == "" || k.ID == "" {
			return
		}
		// Stored keys are all EncodeKey's, so only the key, not the bytes, must survive a round trip.
		again, err := EncodeKey(k)
		if err != nil {
			return
		}
		if k2, err := DecodeKey(again); err != nil || k2 != k {
			t.Fatalf("%x decodes to %q, which encodes to %x, which decodes to %q, %v", b, k, again, k2, err)
		}
	})
}
