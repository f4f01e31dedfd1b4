package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	api "github.com/overcast-cloud/overcast/api/kms"
	"github.com/overcast-cloud/overcast/internal/apierr"
)

// masterKey is the host's key-encryption key: AES-256-GCM under 32 random bytes kept in a file of mode 0600.
// It seals every KMS key's material, so the store alone never yields a key.
type masterKey struct{ aead cipher.AEAD }

func openMasterKey(path string) (*masterKey, error) {
	if path == "" {
		return nil, errors.New("kms: no master key file")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = makeMasterKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("kms: master key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("kms: master key file %s is damaged (%d bytes)", path, len(key))
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &masterKey{aead: aead}, nil
}

// makeMasterKey writes a new master key whole or not at all: to a temporary file, synced, then linked into
// place, so a crash never leaves a short key and two starts never make two keys.
func makeMasterKey(path string) ([]byte, error) {
	key := make([]byte, 32)
	rand.Read(key)
	f, err := os.CreateTemp(filepath.Dir(path), ".master-key-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	} else if err != nil {
		return nil, err
	}
	return key, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plaintext with a fresh nonce, which leads the result.
func sealWith(aead cipher.AEAD, plaintext, ad []byte) []byte {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, plaintext, ad)
}

func openWith(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("too short")
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad)
}

func (m *masterKey) seal(plaintext, ad []byte) ([]byte, error) {
	return sealWith(m.aead, plaintext, ad), nil
}

// keyCipher unseals a key's material and returns its cipher.
func (s *Service) keyCipher(k keyRecord) (cipher.AEAD, error) {
	material, err := openWith(s.master.aead, k.Material, []byte(k.ARN))
	if err != nil {
		return nil, fmt.Errorf("kms: the material of %s does not open with this host's master key: %w", k.ARN, err)
	}
	defer clear(material)
	return newGCM(material)
}

// A ciphertext blob names its key, so Decrypt needs no KeyId, as KMS's own blobs do:
//
//	version (1 byte) | length of the key ARN (1 byte) | key ARN | nonce | AES-256-GCM ciphertext and tag
//
// The additional data is everything before the nonce plus the encryption context, so the blob cannot be moved
// to another key or opened under another context.
const blobVersion = 1

func encryptionAD(header []byte, context map[string]string) []byte {
	ad := slices.Clone(header)
	keys := make([]string, 0, len(context))
	for k := range context {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ad = binary.AppendUvarint(ad, uint64(len(k)))
		ad = append(ad, k...)
		ad = binary.AppendUvarint(ad, uint64(len(context[k])))
		ad = append(ad, context[k]...)
	}
	return ad
}

func (s *Service) encrypt(k keyRecord, plaintext []byte, context map[string]string) ([]byte, error) {
	aead, err := s.keyCipher(k)
	if err != nil {
		return nil, err
	}
	header := append([]byte{blobVersion, byte(len(k.ARN))}, k.ARN...)
	return append(header, sealWith(aead, plaintext, encryptionAD(header, context))...), nil
}

// blobKeyARN reads the key ARN a ciphertext blob names.
func blobKeyARN(blob []byte) (string, []byte, bool) {
	if len(blob) < 2 || blob[0] != blobVersion || len(blob) < 2+int(blob[1]) {
		return "", nil, false
	}
	n := 2 + int(blob[1])
	return string(blob[2:n]), blob[:n], true
}

func (s *Service) decrypt(k keyRecord, blob []byte, context map[string]string) ([]byte, error) {
	_, header, ok := blobKeyARN(blob)
	if !ok {
		return nil, invalidCiphertext()
	}
	aead, err := s.keyCipher(k)
	if err != nil {
		return nil, err
	}
	plaintext, err := openWith(aead, blob[len(header):], encryptionAD(header, context))
	if err != nil {
		return nil, invalidCiphertext()
	}
	return plaintext, nil
}

func invalidCiphertext() error {
	return apierr.New(apierr.Invalid, "InvalidCiphertextException", "")
}

func checkAlgorithm(alg *string) error {
	if alg != nil && *alg != symmetricDefault {
		return apierr.New(apierr.Invalid, "InvalidKeyUsageException",
			"The requested encryption algorithm %s is not supported by this key; symmetric keys use SYMMETRIC_DEFAULT.", *alg)
	}
	return nil
}

// dryRun answers a DryRun request that would have succeeded, as KMS does.
func dryRun(p *bool) error {
	if p != nil && *p {
		return apierr.New(apierr.Invalid, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
	}
	return nil
}

// Encrypt encrypts up to 4 KiB under a key.
func (s *Service) Encrypt(ctx context.Context, in *api.EncryptRequest) (*api.EncryptResponse, error) {
	if len(in.Plaintext) == 0 || len(in.Plaintext) > 4096 {
		return nil, validation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096")
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	k, err := s.resolve(ctx, deref(in.KeyId))
	if err != nil {
		return nil, err
	}
	if err := usable(k); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	blob, err := s.encrypt(k, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return &api.EncryptResponse{CiphertextBlob: blob, KeyId: str(k.ARN), EncryptionAlgorithm: str(symmetricDefault)}, nil
}

// Decrypt decrypts a blob Encrypt or GenerateDataKey made; the blob names its key, and a KeyId given must
// name the same one.
func (s *Service) Decrypt(ctx context.Context, in *api.DecryptRequest) (*api.DecryptResponse, error) {
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	arn, _, ok := blobKeyARN(in.CiphertextBlob)
	if !ok {
		return nil, invalidCiphertext()
	}
	k, err := s.resolve(ctx, arn)
	if apierr.Is(err, apierr.NotFound) {
		// A blob of a deleted key, or bytes that only look like a blob.
		return nil, invalidCiphertext()
	} else if err != nil {
		return nil, err
	}
	if in.KeyId != nil {
		named, err := s.resolve(ctx, *in.KeyId)
		if err != nil {
			return nil, err
		}
		if named.ARN != k.ARN {
			return nil, apierr.New(apierr.Invalid, "IncorrectKeyException",
				"The key ID in the request does not identify a CMK that can perform this operation.")
		}
	}
	if err := usable(k); err != nil {
		return nil, err
	}
	plaintext, err := s.decrypt(k, in.CiphertextBlob, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	return &api.DecryptResponse{Plaintext: plaintext, KeyId: str(k.ARN), EncryptionAlgorithm: str(symmetricDefault),
		KeyMaterialId: str(k.MaterialID)}, nil
}

// dataKeySize is the length GenerateDataKey's KeySpec or NumberOfBytes asks for.
func dataKeySize(spec *string, n *int32) (int, error) {
	switch {
	case spec != nil && n != nil:
		return 0, validation("Please specify either number of bytes or key spec.")
	case spec != nil && *spec == "AES_256":
		return 32, nil
	case spec != nil && *spec == "AES_128":
		return 16, nil
	case spec != nil:
		return 0, validation("1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", *spec)
	case n == nil:
		return 0, validation("Please specify either number of bytes or key spec.")
	case *n < 1 || *n > 1024:
		return 0, validation("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024", *n)
	}
	return int(*n), nil
}

// generateDataKey makes a random data key and its blob under the named key.
func (s *Service) generateDataKey(ctx context.Context, keyID *string, spec *string, n *int32, encContext map[string]string, dry *bool) (keyRecord, []byte, []byte, error) {
	size, err := dataKeySize(spec, n)
	if err != nil {
		return keyRecord{}, nil, nil, err
	}
	k, err := s.resolve(ctx, deref(keyID))
	if err != nil {
		return k, nil, nil, err
	}
	if err := usable(k); err != nil {
		return k, nil, nil, err
	}
	if err := dryRun(dry); err != nil {
		return k, nil, nil, err
	}
	plaintext := make([]byte, size)
	rand.Read(plaintext)
	blob, err := s.encrypt(k, plaintext, encContext)
	return k, plaintext, blob, err
}

// GenerateDataKey returns a random data key in plaintext and encrypted under a key.
func (s *Service) GenerateDataKey(ctx context.Context, in *api.GenerateDataKeyRequest) (*api.GenerateDataKeyResponse, error) {
	if in.Recipient != nil {
		return nil, apierr.New(apierr.Invalid, "UnsupportedOperationException", "Recipient (Nitro Enclaves attestation) is not supported.")
	}
	k, plaintext, blob, err := s.generateDataKey(ctx, in.KeyId, in.KeySpec, in.NumberOfBytes, in.EncryptionContext, in.DryRun)
	if err != nil {
		return nil, err
	}
	return &api.GenerateDataKeyResponse{Plaintext: plaintext, CiphertextBlob: blob, KeyId: str(k.ARN), KeyMaterialId: str(k.MaterialID)}, nil
}

// GenerateDataKeyWithoutPlaintext returns a random data key encrypted under a key, and only so.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, in *api.GenerateDataKeyWithoutPlaintextRequest) (*api.GenerateDataKeyWithoutPlaintextResponse, error) {
	k, plaintext, blob, err := s.generateDataKey(ctx, in.KeyId, in.KeySpec, in.NumberOfBytes, in.EncryptionContext, in.DryRun)
	if err != nil {
		return nil, err
	}
	clear(plaintext)
	return &api.GenerateDataKeyWithoutPlaintextResponse{CiphertextBlob: blob, KeyId: str(k.ARN), KeyMaterialId: str(k.MaterialID)}, nil
}

// GenerateRandom returns random bytes.
func (s *Service) GenerateRandom(ctx context.Context, in *api.GenerateRandomRequest) (*api.GenerateRandomResponse, error) {
	if in.Recipient != nil || in.CustomKeyStoreId != nil {
		return nil, apierr.New(apierr.Invalid, "UnsupportedOperationException", "Recipient and CustomKeyStoreId are not supported.")
	}
	if in.NumberOfBytes == nil || *in.NumberOfBytes < 1 || *in.NumberOfBytes > 1024 {
		return nil, validation("1 validation error detected: Value at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024")
	}
	b := make([]byte, *in.NumberOfBytes)
	rand.Read(b)
	return &api.GenerateRandomResponse{Plaintext: b}, nil
}
