package kms

import (
	"context"
	"fmt"
)

// ResolveEBSKey names the key an EBS volume is to be encrypted under: keyParam is a key id, key ARN, alias
// name or alias ARN in the caller's account and region, and the answer is the key's ARN. Naming alias/aws/ebs
// makes the account's AWS managed key on first use. An unknown key fails with an apierr of class NotFound (or
// Invalid for a malformed ARN, AccessDenied for another account's key); a key that is disabled or pending
// deletion with class Conflict.
func (s *Service) ResolveEBSKey(ctx context.Context, keyParam string) (string, error) {
	k, err := s.resolve(ctx, keyParam)
	if err != nil {
		return "", err
	}
	if err := usable(k); err != nil {
		return "", err
	}
	return k.ARN, nil
}

// VolumeKeys is the KMS as the EBS volume store uses it (volumes.Keys): a volume's data key is wrapped by the
// KMS key its volume names by key ARN, into a ciphertext blob as GenerateDataKeyWithoutPlaintext makes. The
// key's ARN, not the context, says whose key it is: the volume store acts for whoever owns the volume, at
// attach, restore and recovery alike.
type VolumeKeys struct{ s *Service }

// VolumeKeys returns the adapter the volume store is given.
func (s *Service) VolumeKeys() *VolumeKeys { return &VolumeKeys{s: s} }

func (v *VolumeKeys) key(ctx context.Context, keyARN string) (keyRecord, error) {
	m := arnPattern.FindStringSubmatch(keyARN)
	if m == nil || len(m[3]) < 5 || m[3][:4] != "key/" {
		return keyRecord{}, fmt.Errorf("kms: volume key %q is not a key ARN", keyARN)
	}
	k, err := v.s.getKey(ctx, m[2], m[1], m[3][4:])
	if err != nil {
		return k, err
	}
	return k, usable(k)
}

// Wrap encrypts a volume's data key under the KMS key keyARN, which must be enabled.
func (v *VolumeKeys) Wrap(ctx context.Context, keyARN string, dataKey []byte) ([]byte, error) {
	k, err := v.key(ctx, keyARN)
	if err != nil {
		return nil, err
	}
	return v.s.encrypt(k, dataKey, nil)
}

// Unwrap decrypts a volume's data key; the KMS key must still exist and be enabled, so disabling or deleting
// a key makes its volumes and snapshots unusable, as in AWS.
func (v *VolumeKeys) Unwrap(ctx context.Context, keyARN string, wrapped []byte) ([]byte, error) {
	if arn, _, ok := blobKeyARN(wrapped); !ok || arn != keyARN {
		return nil, fmt.Errorf("kms: the wrapped data key is not a blob of %s", keyARN)
	}
	k, err := v.key(ctx, keyARN)
	if err != nil {
		return nil, err
	}
	return v.s.decrypt(k, wrapped, nil)
}
