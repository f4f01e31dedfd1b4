package volumes

import (
	"context"
	"crypto/aes"
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/xts"

	"github.com/overcast-cloud/overcast/internal/host/storage/snapshots"
)

// dataKeySize is an AES-256-XTS key: two AES-256 keys.
const dataKeySize = 64

// Keys wraps and unwraps volume data keys under a named master key. The KMS service implements it
// (internal/service/kms, VolumeKeys) with key ARNs as key ids.
type Keys interface {
	Wrap(ctx context.Context, keyID string, dataKey []byte) ([]byte, error)
	Unwrap(ctx context.Context, keyID string, wrapped []byte) ([]byte, error)
}

// newDataKey makes a random data key and wraps it under keyID.
func (s *Store) newDataKey(ctx context.Context, keyID string) (*snapshots.Encryption, []byte, error) {
	if s.keys == nil {
		return nil, nil, fmt.Errorf("encryption has no key store: %w", ErrUnsupported)
	}
	key := make([]byte, dataKeySize)
	rand.Read(key)
	wrapped, err := s.keys.Wrap(ctx, keyID, key)
	if err != nil {
		return nil, nil, err
	}
	return &snapshots.Encryption{KeyID: keyID, WrappedKey: wrapped}, key, nil
}

func (s *Store) unwrap(ctx context.Context, enc *snapshots.Encryption) ([]byte, error) {
	if s.keys == nil {
		return nil, fmt.Errorf("encryption has no key store: %w", ErrUnsupported)
	}
	return s.keys.Unwrap(ctx, enc.KeyID, enc.WrappedKey)
}

// sectorCipher is AES-XTS over 4 KiB sectors, tweaked by sector number. An all-zero sector maps to itself in
// both directions, which keeps holes holes (see the package comment).
type sectorCipher struct{ c *xts.Cipher }

func newSectorCipher(key []byte) (*sectorCipher, error) {
	if len(key) != dataKeySize {
		return nil, fmt.Errorf("volumes: data key of %d bytes", len(key))
	}
	c, err := xts.NewCipher(aes.NewCipher, key)
	if err != nil {
		return nil, err
	}
	return &sectorCipher{c: c}, nil
}

// encrypt encrypts whole sectors of src into dst (which may be src), the first being sector number first.
func (x *sectorCipher) encrypt(dst, src []byte, first uint64) {
	for i := 0; i+SectorSize <= len(src); i += SectorSize {
		sec := src[i : i+SectorSize]
		if isZero(sec) {
			clear(dst[i : i+SectorSize])
			continue
		}
		x.c.Encrypt(dst[i:i+SectorSize], sec, first+uint64(i/SectorSize))
	}
}

func (x *sectorCipher) decrypt(dst, src []byte, first uint64) {
	for i := 0; i+SectorSize <= len(src); i += SectorSize {
		sec := src[i : i+SectorSize]
		if isZero(sec) {
			clear(dst[i : i+SectorSize])
			continue
		}
		x.c.Decrypt(dst[i:i+SectorSize], sec, first+uint64(i/SectorSize))
	}
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
