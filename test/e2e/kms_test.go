package e2e

import (
	"bytes"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestKMSAndEBSEncryption drives KMS with aws-sdk-go-v2 and encrypts EBS volumes under its keys: a customer
// key and its alias, a gp3 volume created with the alias as KmsKeyId and shown with the key's ARN, the errors
// for an unknown and a disabled key, encryption by default under the AWS managed key aws/ebs, and KMS's own
// Encrypt and GenerateDataKey. IAM governs kms:* like every other action. Volumes are real files of the
// server's volume store, which runs without compute (and without root).
func TestKMSAndEBSEncryption(t *testing.T) {
	s := startServer(t, "")
	ctx := ctxT(t)
	k := kms.NewFromConfig(s.rootConfig())
	c := ec2.NewFromConfig(s.rootConfig())
	available := func(id string) {
		t.Helper()
		if err := ec2.NewVolumeAvailableWaiter(c, func(o *ec2.VolumeAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second }).
			Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	deleteLater := func(id string) {
		t.Cleanup(func() { _, _ = c.DeleteVolume(ctxT(t), &ec2.DeleteVolumeInput{VolumeId: &id}) })
	}

	created, err := k.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("volumes of the e2e test"),
		Tags: []kmstypes.Tag{{TagKey: aws.String("team"), TagValue: aws.String("storage")}}})
	if err != nil {
		t.Fatal(err)
	}
	key := created.KeyMetadata
	keyARN := aws.ToString(key.Arn)
	if key.KeyState != kmstypes.KeyStateEnabled || key.KeySpec != kmstypes.KeySpecSymmetricDefault || key.KeyManager != kmstypes.KeyManagerTypeCustomer ||
		keyARN != "arn:aws:kms:us-east-1:000000000000:key/"+aws.ToString(key.KeyId) {
		t.Fatalf("CreateKey %+v", key)
	}
	if _, err := k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/e2e-volumes"), TargetKeyId: key.KeyId}); err != nil {
		t.Fatal(err)
	}
	described, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/e2e-volumes")})
	if err != nil || aws.ToString(described.KeyMetadata.Arn) != keyARN || aws.ToString(described.KeyMetadata.Description) != "volumes of the e2e test" {
		t.Fatalf("DescribeKey by alias: %v %+v", err, described)
	}
	_, err = k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/missing")})
	wantError(t, err, "NotFoundException", 400, `^Alias arn:aws:kms:us-east-1:000000000000:alias/missing is not found\.$`)
	_, err = k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/e2e-volumes"), TargetKeyId: key.KeyId})
	wantCode(t, err, "AlreadyExistsException", 400)
	_, err = k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: key.KeyId})
	wantCode(t, err, "NotAuthorizedException", 400)

	// An encrypted gp3 volume under the alias names the key by its ARN, as EC2 does.
	vol, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), VolumeType: ec2types.VolumeTypeGp3,
		Size: aws.Int32(1), Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/e2e-volumes")})
	if err != nil {
		t.Fatal(err)
	}
	volID := aws.ToString(vol.VolumeId)
	deleteLater(volID)
	if !aws.ToBool(vol.Encrypted) || aws.ToString(vol.KmsKeyId) != keyARN {
		t.Fatalf("CreateVolume %+v", vol)
	}
	available(volID)
	desc, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{volID}})
	if err != nil || len(desc.Volumes) != 1 || !aws.ToBool(desc.Volumes[0].Encrypted) || aws.ToString(desc.Volumes[0].KmsKeyId) != keyARN {
		t.Fatalf("DescribeVolumes %v %+v", err, desc)
	}
	// The alias ARN and the bare key id name the same key.
	for _, ref := range []string{"arn:aws:kms:us-east-1:000000000000:alias/e2e-volumes", aws.ToString(key.KeyId)} {
		v, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1),
			Encrypted: aws.Bool(true), KmsKeyId: aws.String(ref)})
		if err != nil {
			t.Fatalf("KmsKeyId %s: %v", ref, err)
		}
		deleteLater(aws.ToString(v.VolumeId))
		if aws.ToString(v.KmsKeyId) != keyARN {
			t.Fatalf("KmsKeyId %s gave %s", ref, aws.ToString(v.KmsKeyId))
		}
	}

	// Keys that do not exist.
	for _, bogus := range []string{"alias/does-not-exist", "arn:aws:kms:us-east-1:000000000000:key/0b1e6cd9-4d4f-4f5c-9a43-1c2b3d4e5f60", "bogus"} {
		_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1),
			Encrypted: aws.Bool(true), KmsKeyId: aws.String(bogus)})
		wantError(t, err, "InvalidParameterValue", 400, `parameter kmsKeyId is invalid`)
	}

	// A disabled key encrypts nothing, and comes back when enabled.
	if _, err := k.DisableKey(ctx, &kms.DisableKeyInput{KeyId: key.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/e2e-volumes")})
	wantError(t, err, "InvalidKMSKey.InvalidState", 400, `^The KMS key provided is in an incorrect state$`)
	_, err = k.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "DisabledException", 400)
	if _, err := k.EnableKey(ctx, &kms.EnableKeyInput{KeyId: key.KeyId}); err != nil {
		t.Fatal(err)
	}

	// A snapshot of the volume, and a volume made from it, stay under the same key.
	snap, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: &volID})
	if err != nil {
		t.Fatal(err)
	}
	snapID := aws.ToString(snap.SnapshotId)
	t.Cleanup(func() { _, _ = c.DeleteSnapshot(ctxT(t), &ec2.DeleteSnapshotInput{SnapshotId: &snapID}) })
	if err := ec2.NewSnapshotCompletedWaiter(c, func(o *ec2.SnapshotCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	}).
		Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapID}}, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	restored, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1b"), SnapshotId: &snapID})
	if err != nil {
		t.Fatal(err)
	}
	deleteLater(aws.ToString(restored.VolumeId))
	if !aws.ToBool(restored.Encrypted) || aws.ToString(restored.KmsKeyId) != keyARN {
		t.Fatalf("restored %+v", restored)
	}

	// Encryption by default uses the AWS managed key aws/ebs, made on first use.
	if _, err := c.EnableEbsEncryptionByDefault(ctx, &ec2.EnableEbsEncryptionByDefaultInput{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DisableEbsEncryptionByDefault(ctxT(t), &ec2.DisableEbsEncryptionByDefaultInput{}) })
	plain, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	deleteLater(aws.ToString(plain.VolumeId))
	ebsKey, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})
	if err != nil {
		t.Fatal(err)
	}
	if ebsKey.KeyMetadata.KeyManager != kmstypes.KeyManagerTypeAws || !aws.ToBool(plain.Encrypted) || aws.ToString(plain.KmsKeyId) != aws.ToString(ebsKey.KeyMetadata.Arn) {
		t.Fatalf("volume by default %+v, aws/ebs %+v", plain, ebsKey.KeyMetadata)
	}
	aliases, err := k.ListAliases(ctx, &kms.ListAliasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]string{}
	for _, a := range aliases.Aliases {
		targets[aws.ToString(a.AliasName)] = aws.ToString(a.TargetKeyId)
	}
	if len(targets) != 2 || targets["alias/aws/ebs"] != aws.ToString(ebsKey.KeyMetadata.KeyId) || targets["alias/e2e-volumes"] != aws.ToString(key.KeyId) {
		t.Fatalf("aliases %v", targets)
	}
	keys, err := k.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1)})
	if err != nil || len(keys.Keys) != 1 || !keys.Truncated || keys.NextMarker == nil {
		t.Fatalf("ListKeys page %v %+v", err, keys)
	}

	// KMS's own cryptography, under the alias.
	dk, err := k.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/e2e-volumes"), KeySpec: kmstypes.DataKeySpecAes256,
		EncryptionContext: map[string]string{"bucket": "b1"}})
	if err != nil || len(dk.Plaintext) != 32 || aws.ToString(dk.KeyId) != keyARN {
		t.Fatalf("GenerateDataKey %v %+v", err, dk)
	}
	back, err := k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: map[string]string{"bucket": "b1"}})
	if err != nil || !bytes.Equal(back.Plaintext, dk.Plaintext) {
		t.Fatalf("Decrypt: %v", err)
	}
	_, err = k.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	wantCode(t, err, "InvalidCiphertextException", 400)

	// Scheduled deletion, and its window's limits.
	_, err = k.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: key.KeyId, PendingWindowInDays: aws.Int32(3)})
	wantCode(t, err, "ValidationException", 400)
	sched, err := k.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: key.KeyId, PendingWindowInDays: aws.Int32(7)})
	if err != nil || sched.KeyState != kmstypes.KeyStatePendingDeletion || aws.ToString(sched.KeyId) != keyARN {
		t.Fatalf("ScheduleKeyDeletion %v %+v", err, sched)
	}
	_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String(keyARN)})
	wantCode(t, err, "InvalidKMSKey.InvalidState", 400)
	if _, err := k.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: key.KeyId}); err != nil {
		t.Fatal(err)
	}
	// A key whose deletion is cancelled comes back disabled.
	if d, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: key.KeyId}); err != nil || d.KeyMetadata.KeyState != kmstypes.KeyStateDisabled {
		t.Fatalf("after CancelKeyDeletion: %v %+v", err, d)
	}
	if _, err := k.EnableKey(ctx, &kms.EnableKeyInput{KeyId: key.KeyId}); err != nil {
		t.Fatal(err)
	}

	// IAM decides kms:* for users, as for every service.
	ic := iam.NewFromConfig(s.rootConfig())
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("kms-reader")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("kms-reader"), PolicyName: aws.String("read"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Describe*","kms:List*"],"Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	ak, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("kms-reader")})
	if err != nil {
		t.Fatal(err)
	}
	reader := kms.NewFromConfig(s.sdkConfig(aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey), ""))
	if _, err := reader.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/e2e-volumes")}); err != nil {
		t.Fatalf("reader DescribeKey: %v", err)
	}
	_, err = reader.CreateKey(ctx, &kms.CreateKeyInput{})
	wantCode(t, err, "AccessDeniedException", 400)

	// After a restart the keys, their material (sealed by the master key file) and the volumes' data keys are
	// all still usable.
	s.Stop()
	s2 := startServer(t, s.DataDir)
	k2, c2 := kms.NewFromConfig(s2.rootConfig()), ec2.NewFromConfig(s2.rootConfig())
	if back, err := k2.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: map[string]string{"bucket": "b1"}}); err != nil || !bytes.Equal(back.Plaintext, dk.Plaintext) {
		t.Fatalf("Decrypt after restart: %v", err)
	}
	again, err := c2.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), SnapshotId: &snapID})
	if err != nil || aws.ToString(again.KmsKeyId) != keyARN {
		t.Fatalf("restore after restart: %v %+v", err, again)
	}
}
