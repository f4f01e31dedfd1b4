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
)

// The tests' Keys: the KMS service is the real one, and this package must not depend on it.

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
