package ec2

import (
	"regexp"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
)

func TestEncryptionByDefault(t *testing.T) {
	e := newEBSEnv(t)
	a, b := account("111111111111", "us-east-1"), account("222222222222", "us-east-1")
	get := must[*api.GetEbsEncryptionByDefaultResult](t)(e.svc.GetEbsEncryptionByDefault(a, &api.GetEbsEncryptionByDefaultRequest{}))
	if *get.EbsEncryptionByDefault {
		t.Fatal("encryption by default starts on")
	}
	en := must[*api.EnableEbsEncryptionByDefaultResult](t)(e.svc.EnableEbsEncryptionByDefault(a, &api.EnableEbsEncryptionByDefaultRequest{}))
	if !*en.EbsEncryptionByDefault {
		t.Fatal("Enable answered false")
	}
	v := e.createVolume(t, a, &api.CreateVolumeRequest{Size: i32(8)})
	if !*v.Encrypted || *v.KmsKeyId != awsEBSKeyARN(a) {
		t.Fatalf("volume under encryption by default %+v", v)
	}
	// Encrypted=false cannot turn it off.
	if v := e.createVolume(t, a, &api.CreateVolumeRequest{Size: i32(8), Encrypted: boolp(false)}); !*v.Encrypted {
		t.Fatal("Encrypted=false made an unencrypted volume under encryption by default")
	}
	// Another account, and another region of the same account, are not affected.
	if v := e.createVolume(t, b, &api.CreateVolumeRequest{Size: i32(8)}); *v.Encrypted {
		t.Fatal("encryption by default leaked to another account")
	}
	if v := e.createVolume(t, account("111111111111", "eu-west-1"), &api.CreateVolumeRequest{Size: i32(8)}); *v.Encrypted {
		t.Fatal("encryption by default leaked to another region")
	}
	dis := must[*api.DisableEbsEncryptionByDefaultResult](t)(e.svc.DisableEbsEncryptionByDefault(a, &api.DisableEbsEncryptionByDefaultRequest{}))
	if *dis.EbsEncryptionByDefault {
		t.Fatal("Disable answered true")
	}
	if v := e.createVolume(t, a, &api.CreateVolumeRequest{Size: i32(8)}); *v.Encrypted {
		t.Fatal("still encrypting after Disable")
	}
	_, err := e.svc.EnableEbsEncryptionByDefault(a, &api.EnableEbsEncryptionByDefaultRequest{DryRun: boolp(true)})
	wantCode(t, err, "DryRunOperation")
}

func TestDefaultKMSKey(t *testing.T) {
	e := newEBSEnv(t)
	a := account("111111111111", "us-east-1")
	arn := regexp.MustCompile(`^arn:aws:kms:us-east-1:111111111111:key/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if k := awsEBSKeyARN(a); !arn.MatchString(k) || k != awsEBSKeyARN(a) {
		t.Fatalf("aws/ebs key %s", k)
	}
	if awsEBSKeyARN(a) == awsEBSKeyARN(account("222222222222", "us-east-1")) || awsEBSKeyARN(a) == awsEBSKeyARN(account("111111111111", "us-west-2")) {
		t.Fatal("aws/ebs keys are shared between accounts or regions")
	}
	get := must[*api.GetEbsDefaultKmsKeyIdResult](t)(e.svc.GetEbsDefaultKmsKeyId(a, &api.GetEbsDefaultKmsKeyIdRequest{}))
	if *get.KmsKeyId != "alias/aws/ebs" {
		t.Fatalf("default key %s", *get.KmsKeyId)
	}
	const custom = "1234abcd-12ab-34cd-56ef-1234567890ab"
	mod := must[*api.ModifyEbsDefaultKmsKeyIdResult](t)(e.svc.ModifyEbsDefaultKmsKeyId(a, &api.ModifyEbsDefaultKmsKeyIdRequest{KmsKeyId: str(custom)}))
	want := "arn:aws:kms:us-east-1:111111111111:key/" + custom
	if *mod.KmsKeyId != want {
		t.Fatalf("modified to %s", *mod.KmsKeyId)
	}
	if v := e.createVolume(t, a, &api.CreateVolumeRequest{Size: i32(8), Encrypted: boolp(true)}); *v.KmsKeyId != want {
		t.Fatalf("encrypted volume under %s, want the default %s", *v.KmsKeyId, want)
	}
	if v := e.createVolume(t, a, &api.CreateVolumeRequest{Size: i32(8), Encrypted: boolp(true), KmsKeyId: str("alias/aws/ebs")}); *v.KmsKeyId != awsEBSKeyARN(a) {
		t.Fatalf("named aws/ebs but got %s", *v.KmsKeyId)
	}
	reset := must[*api.ResetEbsDefaultKmsKeyIdResult](t)(e.svc.ResetEbsDefaultKmsKeyId(a, &api.ResetEbsDefaultKmsKeyIdRequest{}))
	if *reset.KmsKeyId != awsEBSKeyARN(a) {
		t.Fatalf("reset to %s", *reset.KmsKeyId)
	}
	if v := e.createVolume(t, a, &api.CreateVolumeRequest{Size: i32(8), Encrypted: boolp(true)}); *v.KmsKeyId != awsEBSKeyARN(a) {
		t.Fatalf("after reset the volume is under %s", *v.KmsKeyId)
	}

	for _, c := range []struct{ key, code string }{
		{"", "MissingParameter"},
		{"not-a-key", "InvalidParameterValue"},
		{"alias/someone-elses", "InvalidParameterValue"},
		{"arn:aws:kms:eu-west-1:111111111111:key/" + custom, "InvalidParameterValue"},
	} {
		_, err := e.svc.ModifyEbsDefaultKmsKeyId(a, &api.ModifyEbsDefaultKmsKeyIdRequest{KmsKeyId: str(c.key)})
		wantCode(t, err, c.code)
	}
	_, err := e.svc.CreateVolume(a, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(8), KmsKeyId: str(custom)})
	wantCode(t, err, "InvalidParameterDependency")
}
