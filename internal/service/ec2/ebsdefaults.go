package ec2

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// EBS's record kinds. Volumes, snapshots and the EBS defaults are scoped by account and region like every EC2
// record. Sharing and copying need three more: a grant names, in the grantee's account, a snapshot another
// account shares with it; a public index names, per region, the snapshots shared with everyone; and the
// snapshot data record counts, for the whole cloud, the snapshot records that use one stored snapshot.
const (
	kindVolume         = "ec2/volume"
	kindSnapshot       = "ec2/snapshot"
	kindEBSDefaults    = "ec2/ebs-defaults"    // keyed "default"
	kindSnapshotGrant  = "ec2/snapshot-grant"  // in the grantee's account, keyed by snapshot id
	kindSnapshotPublic = "ec2/snapshot-public" // account "", the snapshot's region, keyed by snapshot id
	kindSnapshotData   = "ec2/snapshot-data"   // account and region "", keyed by the stored snapshot's id
	ebsDefaultsID      = "default"             // the one ebs-defaults record of an account and region
	awsEBSAlias        = "alias/aws/ebs"       // the account's AWS managed key for EBS
	copiedVolumeID     = "vol-ffffffff"        // the VolumeId AWS shows on copied snapshots
)

// ebsDefaults is an account's EBS settings in one region.
type ebsDefaults struct {
	EncryptionByDefault bool `json:"encryptionByDefault"`
	// KmsKeyID is the key ARN new encrypted volumes use when the request names none; empty means aws/ebs.
	KmsKeyID string `json:"kmsKeyId,omitempty"`
}

func (s *Service) ebsDefaults(ctx context.Context) (ebsDefaults, error) {
	d, _, err := store.Get[ebsDefaults](ctx, s.st, scopedKey(ctx, kindEBSDefaults, ebsDefaultsID))
	if errors.Is(err, store.ErrNotFound) {
		return ebsDefaults{}, nil
	}
	return d, err
}

// editEBSDefaults changes the account's EBS settings, creating the record on first use.
func (s *Service) editEBSDefaults(ctx context.Context, fn func(*ebsDefaults)) (ebsDefaults, error) {
	key := scopedKey(ctx, kindEBSDefaults, ebsDefaultsID)
	for range 64 {
		d, rec, err := store.Get[ebsDefaults](ctx, s.st, key)
		expect := rec.ModRevision
		if errors.Is(err, store.ErrNotFound) {
			expect = store.Absent
		} else if err != nil {
			return d, err
		}
		fn(&d)
		op, err := store.PutOp(key, d, expect)
		if err != nil {
			return d, err
		}
		if _, err = s.st.Txn(ctx, op); !errors.Is(err, store.ErrConflict) {
			return d, err
		}
	}
	return ebsDefaults{}, apierr.New(apierr.Unavailable, "RequestLimitExceeded", "The EBS settings are changing too fast; try again.")
}

// EnableEbsEncryptionByDefault makes every new volume of the account and region encrypted.
func (s *Service) EnableEbsEncryptionByDefault(ctx context.Context, in *api.EnableEbsEncryptionByDefaultRequest) (*api.EnableEbsEncryptionByDefaultResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	d, err := s.editEBSDefaults(ctx, func(d *ebsDefaults) { d.EncryptionByDefault = true })
	if err != nil {
		return nil, err
	}
	return &api.EnableEbsEncryptionByDefaultResult{EbsEncryptionByDefault: boolp(d.EncryptionByDefault)}, nil
}

// DisableEbsEncryptionByDefault lets new volumes be unencrypted again; existing volumes keep their state.
func (s *Service) DisableEbsEncryptionByDefault(ctx context.Context, in *api.DisableEbsEncryptionByDefaultRequest) (*api.DisableEbsEncryptionByDefaultResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	d, err := s.editEBSDefaults(ctx, func(d *ebsDefaults) { d.EncryptionByDefault = false })
	if err != nil {
		return nil, err
	}
	return &api.DisableEbsEncryptionByDefaultResult{EbsEncryptionByDefault: boolp(d.EncryptionByDefault)}, nil
}

// GetEbsEncryptionByDefault says whether encryption by default is on.
func (s *Service) GetEbsEncryptionByDefault(ctx context.Context, in *api.GetEbsEncryptionByDefaultRequest) (*api.GetEbsEncryptionByDefaultResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	d, err := s.ebsDefaults(ctx)
	if err != nil {
		return nil, err
	}
	return &api.GetEbsEncryptionByDefaultResult{EbsEncryptionByDefault: boolp(d.EncryptionByDefault)}, nil
}

// GetEbsDefaultKmsKeyId names the key new encrypted volumes use by default: alias/aws/ebs until it is changed.
func (s *Service) GetEbsDefaultKmsKeyId(ctx context.Context, in *api.GetEbsDefaultKmsKeyIdRequest) (*api.GetEbsDefaultKmsKeyIdResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	d, err := s.ebsDefaults(ctx)
	if err != nil {
		return nil, err
	}
	if d.KmsKeyID == "" {
		return &api.GetEbsDefaultKmsKeyIdResult{KmsKeyId: str(awsEBSAlias)}, nil
	}
	return &api.GetEbsDefaultKmsKeyIdResult{KmsKeyId: str(d.KmsKeyID)}, nil
}

// ModifyEbsDefaultKmsKeyId sets the default key to a customer key, given as key id, key ARN, alias or alias
// ARN; the answer is the key's ARN.
func (s *Service) ModifyEbsDefaultKmsKeyId(ctx context.Context, in *api.ModifyEbsDefaultKmsKeyIdRequest) (*api.ModifyEbsDefaultKmsKeyIdResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if deref(in.KmsKeyId) == "" {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter KmsKeyId")
	}
	arn, err := s.ebsKey(ctx, *in.KmsKeyId)
	if err != nil {
		return nil, err
	}
	if arn == awsEBSKeyARN(ctx) {
		arn = "" // naming aws/ebs is the same as resetting
	}
	if _, err := s.editEBSDefaults(ctx, func(d *ebsDefaults) { d.KmsKeyID = arn }); err != nil {
		return nil, err
	}
	if arn == "" {
		arn = awsEBSKeyARN(ctx)
	}
	return &api.ModifyEbsDefaultKmsKeyIdResult{KmsKeyId: str(arn)}, nil
}

// ResetEbsDefaultKmsKeyId makes aws/ebs the default key again.
func (s *Service) ResetEbsDefaultKmsKeyId(ctx context.Context, in *api.ResetEbsDefaultKmsKeyIdRequest) (*api.ResetEbsDefaultKmsKeyIdResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.editEBSDefaults(ctx, func(d *ebsDefaults) { d.KmsKeyID = "" }); err != nil {
		return nil, err
	}
	return &api.ResetEbsDefaultKmsKeyIdResult{KmsKeyId: str(awsEBSKeyARN(ctx))}, nil
}

// defaultKMSKey is the key ARN an encrypted volume gets when its request names none. With KMS wired, the key
// must still be usable, and aws/ebs is made on first use.
func (s *Service) defaultKMSKey(ctx context.Context) (string, error) {
	d, err := s.ebsDefaults(ctx)
	switch {
	case err != nil:
		return "", err
	case s.keys != nil && d.KmsKeyID == "":
		return s.ebsKey(ctx, awsEBSAlias)
	case s.keys != nil:
		return s.ebsKey(ctx, d.KmsKeyID)
	case d.KmsKeyID != "":
		return d.KmsKeyID, nil
	}
	return awsEBSKeyARN(ctx), nil
}

// awsEBSKeyARN is the ARN of the account's AWS managed key aws/ebs in the request's region. Its key id is
// derived from account and region: stable, and distinct per account and region as AWS's are. The KMS service
// makes aws/ebs under this same id (internal/service/kms, managedKeyID), so the ARN is right with KMS wired
// or not.
func awsEBSKeyARN(ctx context.Context) string {
	r := awsctx.From(ctx)
	sum := sha256.Sum256([]byte("aws/ebs\x00" + r.Account + "\x00" + r.Region))
	sum[6] = sum[6]&0x0f | 0x40 // a version 4 UUID, as KMS key ids are
	sum[8] = sum[8]&0x3f | 0x80
	id := fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	return kmsKeyARN(r.Region, r.Account, id)
}

func kmsKeyARN(region, account, keyID string) string {
	return "arn:aws:kms:" + region + ":" + account + ":key/" + keyID
}

var (
	kmsKeyIDPattern  = regexp.MustCompile(`^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
	kmsKeyARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z0-9-]+):([0-9]{12}):(key|alias)/(.+)$`)
)

// resolveKMSKey turns a KmsKeyId parameter into a key ARN when no KMS is wired (unit tests): it knows one
// alias, aws/ebs; key ids and key ARNs are taken as given.
func resolveKMSKey(ctx context.Context, id string) (string, error) {
	r := awsctx.From(ctx)
	invalid := unknownKMSKey(id)
	switch {
	case id == awsEBSAlias:
		return awsEBSKeyARN(ctx), nil
	case kmsKeyIDPattern.MatchString(id):
		return kmsKeyARN(r.Region, r.Account, id), nil
	}
	m := kmsKeyARNPattern.FindStringSubmatch(id)
	if m == nil {
		return "", invalid
	}
	if m[1] != r.Region {
		return "", apierr.InvalidParam("InvalidParameterValue",
			"Value (%s) for parameter kmsKeyId is invalid. The KMS key must be in the region of the request, %s.", id, r.Region)
	}
	switch {
	case m[3] == "alias" && m[4] == "aws/ebs" && m[2] == r.Account:
		return awsEBSKeyARN(ctx), nil
	case m[3] == "key" && kmsKeyIDPattern.MatchString(m[4]):
		return id, nil
	}
	return "", invalid
}
