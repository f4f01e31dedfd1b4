package volumes

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/xts"

	"github.com/overcast-cloud/overcast/internal/host/storage/snapshots"
)

// dataKeySize is an AES-256-XTS key: two AES-256 keys.
const dataKeySize = 64

// Keys wraps and unwraps volume data keys under a named master key. The KMS service implements it
// (internal/service/kms, VolumeKeys) with key ARNs as key ids; FileKeys is the self-contained one tests use.
type Keys interface {
	Wrap(ctx context.Context, keyID string, dataKey []byte) ([]byte, error)
	Unwrap(ctx context.Context, keyID string, wrapped []byte) ([]byte, error)
}

// FileKeys keeps one 256-bit master key per key id, each in a file of its own (mode 0600) in a directory,
// made on first use. Key ids carry the account (a key ARN, or "<account>/alias/aws/ebs"), so each account's
// keys are its own. Data keys are wrapped with AES-256-GCM, the key id as additional data.
type FileKeys struct {
	dir string
	mu  sync.Mutex
}

// NewFileKeys returns the master keys kept in dir.
func NewFileKeys(dir string) (*FileKeys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("volumes: keys: %w", err)
	}
	return &FileKeys{dir: dir}, nil
}

func (k *FileKeys) master(keyID string) (cipher.AEAD, error) {
	if keyID == "" {
		return nil, fmt.Errorf("empty key id: %w", ErrInvalid)
	}
	sum := sha256.Sum256([]byte(keyID))
	p := filepath.Join(k.dir, hex.EncodeToString(sum[:16])+".key")
	k.mu.Lock()
	defer k.mu.Unlock()
	key, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		rand.Read(key)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("volumes: keys: %w", err)
		}
		_, err = f.Write(key)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(p)
			return nil, fmt.Errorf("volumes: keys: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("volumes: keys: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("volumes: master key file %s is damaged", p)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Wrap encrypts a data key under keyID.
func (k *FileKeys) Wrap(ctx context.Context, keyID string, dataKey []byte) ([]byte, error) {
	aead, err := k.master(keyID)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, dataKey, []byte(keyID)), nil
}

// Unwrap decrypts a data key wrapped under keyID.
func (k *FileKeys) Unwrap(ctx context.Context, keyID string, wrapped []byte) ([]byte, error) {
	aead, err := k.master(keyID)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < aead.NonceSize() {
		return nil, fmt.Errorf("wrapped key too short: %w", ErrInvalid)
	}
	key, err := aead.Open(nil, wrapped[:aead.NonceSize()], wrapped[aead.NonceSize():], []byte(keyID))
	if err != nil {
		return nil, fmt.Errorf("volumes: cannot unwrap the data key with %s: %w", keyID, err)
	}
	return key, nil
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
