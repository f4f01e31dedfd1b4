package kms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	api "github.com/overcast-cloud/overcast/api/kms"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/host/storage/snapshots"
	"github.com/overcast-cloud/overcast/internal/host/storage/volumes"
	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/memory"
)

type env struct {
	s   *Service
	st  store.Store
	now time.Time
	dir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{st: memory.New(), now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), dir: t.TempDir()}
	t.Cleanup(func() { e.st.Close() })
	s, err := New(Config{Store: e.st, Clock: func() time.Time { return e.now }, MasterKeyFile: filepath.Join(e.dir, "kms", "master.key")})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	return e
}

func acct(account, region string) context.Context {
	return awsctx.With(context.Background(), &awsctx.Request{Account: account, Region: region})
}

var a = acct("111111111111", "us-east-1")

func (e *env) createKey(t *testing.T, ctx context.Context, in *api.CreateKeyRequest) *api.KeyMetadata {
	t.Helper()
	if in == nil {
		in = &api.CreateKeyRequest{}
	}
	out, err := e.s.CreateKey(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return out.KeyMetadata
}

// wantCode fails unless err is an apierr with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	e, ok := apierr.As(err)
	if !ok || e.Code != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}

func TestCreateDescribeListKeys(t *testing.T) {
	e := newEnv(t)
	m := e.createKey(t, a, &api.CreateKeyRequest{Description: str("orders"), Tags: []api.Tag{{TagKey: str("team"), TagValue: str("db")}}})
	if !keyIDPattern.MatchString(*m.KeyId) || *m.Arn != "arn:aws:kms:us-east-1:111111111111:key/"+*m.KeyId ||
		*m.KeyState != "Enabled" || !*m.Enabled || *m.KeySpec != "SYMMETRIC_DEFAULT" || *m.KeyUsage != "ENCRYPT_DECRYPT" ||
		*m.KeyManager != "CUSTOMER" || *m.Origin != "AWS_KMS" || *m.Description != "orders" || *m.AWSAccountId != "111111111111" ||
		!m.CreationDate.Equal(e.now) || len(m.EncryptionAlgorithms) != 1 || m.DeletionDate != nil {
		t.Fatalf("metadata %+v", m)
	}
	if _, err := e.s.CreateAlias(a, &api.CreateAliasRequest{AliasName: str("alias/orders"), TargetKeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{*m.KeyId, strings.ToUpper(*m.KeyId), *m.Arn, "alias/orders", "arn:aws:kms:us-east-1:111111111111:alias/orders"} {
		d, err := e.s.DescribeKey(a, &api.DescribeKeyRequest{KeyId: str(ref)})
		if err != nil || *d.KeyMetadata.KeyId != *m.KeyId {
			t.Fatalf("DescribeKey %s: %v %+v", ref, err, d)
		}
	}
	_, err := e.s.DescribeKey(a, &api.DescribeKeyRequest{KeyId: str("bogus")})
	wantCode(t, err, "NotFoundException")
	_, err = e.s.DescribeKey(a, &api.DescribeKeyRequest{KeyId: str("0b1e6cd9-4d4f-4f5c-9a43-1c2b3d4e5f60")})
	wantCode(t, err, "NotFoundException")
	_, err = e.s.DescribeKey(a, &api.DescribeKeyRequest{KeyId: str("alias/nope")})
	wantCode(t, err, "NotFoundException")
	// Another account's key is not the caller's to use.
	_, err = e.s.DescribeKey(acct("222222222222", "us-east-1"), &api.DescribeKeyRequest{KeyId: m.Arn})
	wantCode(t, err, "AccessDeniedException")
	// Keys are regional.
	_, err = e.s.DescribeKey(acct("111111111111", "us-west-2"), &api.DescribeKeyRequest{KeyId: m.KeyId})
	wantCode(t, err, "NotFoundException")

	tags, err := e.s.ListResourceTags(a, &api.ListResourceTagsRequest{KeyId: str("alias/orders")})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].TagKey != "team" || *tags.Tags[0].TagValue != "db" {
		t.Fatalf("tags %v %+v", err, tags)
	}

	for range 4 {
		e.createKey(t, a, nil)
	}
	seen := map[string]bool{}
	var marker *string
	for pages := 1; ; pages++ {
		out, err := e.s.ListKeys(a, &api.ListKeysRequest{Limit: int32p(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range out.Keys {
			seen[*k.KeyId] = true
			if *k.KeyArn != keyARN("us-east-1", "111111111111", *k.KeyId) {
				t.Fatalf("entry %+v", k)
			}
		}
		if !*out.Truncated {
			if pages != 3 || out.NextMarker != nil {
				t.Fatalf("%d pages, last %+v", pages, out)
			}
			break
		}
		marker = out.NextMarker
	}
	if len(seen) != 5 {
		t.Fatalf("listed %d keys", len(seen))
	}
	_, err = e.s.ListKeys(a, &api.ListKeysRequest{Marker: str("garbage")})
	wantCode(t, err, "InvalidMarkerException")
	_, err = e.s.ListKeys(a, &api.ListKeysRequest{Limit: int32p(0)})
	wantCode(t, err, "ValidationException")
	other, _ := e.s.ListKeys(acct("222222222222", "us-east-1"), &api.ListKeysRequest{})
	if len(other.Keys) != 0 {
		t.Fatalf("another account sees %+v", other.Keys)
	}
}

func int32p(n int32) *int32 { return &n }

func TestCreateKeyRefusesWhatItCannotMake(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		in   api.CreateKeyRequest
		code string
	}{
		{api.CreateKeyRequest{KeyUsage: str("SIGN_VERIFY")}, "ValidationException"},
		{api.CreateKeyRequest{KeyUsage: str("ENCRYPT")}, "ValidationException"},
		{api.CreateKeyRequest{KeySpec: str("AES_256")}, "ValidationException"},
		{api.CreateKeyRequest{KeySpec: str("SYMMETRIC_DEFAULT"), CustomerMasterKeySpec: str("SYMMETRIC_DEFAULT")}, "ValidationException"},
		{api.CreateKeyRequest{KeySpec: str("RSA_2048"), KeyUsage: str("SIGN_VERIFY")}, "UnsupportedOperationException"},
		{api.CreateKeyRequest{Origin: str("EXTERNAL")}, "UnsupportedOperationException"},
		{api.CreateKeyRequest{MultiRegion: boolp(true)}, "UnsupportedOperationException"},
		{api.CreateKeyRequest{Policy: str("{not json")}, "MalformedPolicyDocumentException"},
		{api.CreateKeyRequest{Tags: []api.Tag{{TagKey: str("aws:owner"), TagValue: str("x")}}}, "TagException"},
	} {
		_, err := e.s.CreateKey(a, &tc.in)
		wantCode(t, err, tc.code)
	}
	if out, _ := e.s.ListKeys(a, &api.ListKeysRequest{}); len(out.Keys) != 0 {
		t.Fatalf("refused requests made keys: %+v", out.Keys)
	}
	// The deprecated spec field still works alone.
	if m := e.createKey(t, a, &api.CreateKeyRequest{CustomerMasterKeySpec: str("SYMMETRIC_DEFAULT")}); *m.KeySpec != "SYMMETRIC_DEFAULT" {
		t.Fatalf("metadata %+v", m)
	}
}

func TestAliases(t *testing.T) {
	e := newEnv(t)
	k1, k2 := e.createKey(t, a, nil), e.createKey(t, a, nil)
	create := func(name, target string) error {
		_, err := e.s.CreateAlias(a, &api.CreateAliasRequest{AliasName: str(name), TargetKeyId: str(target)})
		return err
	}
	wantCode(t, create("orders", *k1.KeyId), "ValidationException")
	wantCode(t, create("alias/aws/orders", *k1.KeyId), "NotAuthorizedException")
	wantCode(t, create("alias/a:b", *k1.KeyId), "ValidationException")
	wantCode(t, create("alias/orders", "alias/other"), "ValidationException")
	wantCode(t, create("alias/orders", "7d3f1c8e-1111-4222-8333-944455556666"), "NotFoundException")
	if err := create("alias/orders", *k1.Arn); err != nil {
		t.Fatal(err)
	}
	wantCode(t, create("alias/orders", *k2.KeyId), "AlreadyExistsException")
	if err := create("alias/billing", *k1.KeyId); err != nil {
		t.Fatal(err)
	}

	list, err := e.s.ListAliases(a, &api.ListAliasesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, al := range list.Aliases {
		names = append(names, *al.AliasName)
		switch *al.AliasName {
		case "alias/aws/ebs":
			// Listed before its key exists, without a target, as KMS lists AWS managed aliases.
			if al.TargetKeyId != nil || *al.AliasArn != "arn:aws:kms:us-east-1:111111111111:alias/aws/ebs" {
				t.Fatalf("aws/ebs entry %+v", al)
			}
		default:
			if *al.TargetKeyId != *k1.KeyId || al.CreationDate == nil {
				t.Fatalf("entry %+v", al)
			}
		}
	}
	if strings.Join(names, " ") != "alias/aws/ebs alias/billing alias/orders" {
		t.Fatalf("aliases %v", names)
	}

	if _, err := e.s.UpdateAlias(a, &api.UpdateAliasRequest{AliasName: str("alias/orders"), TargetKeyId: k2.KeyId}); err != nil {
		t.Fatal(err)
	}
	d, _ := e.s.DescribeKey(a, &api.DescribeKeyRequest{KeyId: str("alias/orders")})
	if *d.KeyMetadata.KeyId != *k2.KeyId {
		t.Fatalf("alias/orders names %s after update", *d.KeyMetadata.KeyId)
	}
	_, err = e.s.UpdateAlias(a, &api.UpdateAliasRequest{AliasName: str("alias/none"), TargetKeyId: k2.KeyId})
	wantCode(t, err, "NotFoundException")
	of2, _ := e.s.ListAliases(a, &api.ListAliasesRequest{KeyId: k2.Arn})
	if len(of2.Aliases) != 1 || *of2.Aliases[0].AliasName != "alias/orders" {
		t.Fatalf("aliases of k2 %+v", of2.Aliases)
	}

	if _, err := e.s.DeleteAlias(a, &api.DeleteAliasRequest{AliasName: str("alias/orders")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.DeleteAlias(a, &api.DeleteAliasRequest{AliasName: str("alias/orders")})
	wantCode(t, err, "NotFoundException")
	_, err = e.s.DeleteAlias(a, &api.DeleteAliasRequest{AliasName: str("alias/aws/ebs")})
	wantCode(t, err, "NotAuthorizedException")
	if _, err := e.s.DescribeKey(a, &api.DescribeKeyRequest{KeyId: k2.KeyId}); err != nil {
		t.Fatalf("deleting an alias touched its key: %v", err)
	}
}

func TestKeyStates(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(t, a, nil)
	if _, err := e.s.CreateAlias(a, &api.CreateAliasRequest{AliasName: str("alias/temp"), TargetKeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	encrypt := func() error {
		_, err := e.s.Encrypt(a, &api.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("x")})
		return err
	}
	state := func() *api.KeyMetadata {
		d, err := e.s.DescribeKey(a, &api.DescribeKeyRequest{KeyId: k.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		return d.KeyMetadata
	}
	if _, err := e.s.DisableKey(a, &api.DisableKeyRequest{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	if m := state(); *m.KeyState != "Disabled" || *m.Enabled {
		t.Fatalf("after DisableKey %+v", m)
	}
	wantCode(t, encrypt(), "DisabledException")
	if _, err := e.s.EnableKey(a, &api.EnableKeyRequest{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	if err := encrypt(); err != nil {
		t.Fatal(err)
	}

	for _, days := range []int32{6, 31} {
		_, err := e.s.ScheduleKeyDeletion(a, &api.ScheduleKeyDeletionRequest{KeyId: k.KeyId, PendingWindowInDays: &days})
		wantCode(t, err, "ValidationException")
	}
	sch, err := e.s.ScheduleKeyDeletion(a, &api.ScheduleKeyDeletionRequest{KeyId: k.KeyId, PendingWindowInDays: int32p(7)})
	if err != nil {
		t.Fatal(err)
	}
	if *sch.KeyId != *k.Arn || *sch.KeyState != "PendingDeletion" || *sch.PendingWindowInDays != 7 || !sch.DeletionDate.Equal(e.now.Add(7*24*time.Hour)) {
		t.Fatalf("ScheduleKeyDeletion %+v", sch)
	}
	if m := state(); *m.KeyState != "PendingDeletion" || *m.PendingDeletionWindowInDays != 7 || m.DeletionDate == nil {
		t.Fatalf("pending %+v", m)
	}
	wantCode(t, encrypt(), "KMSInvalidStateException")
	_, err = e.s.EnableKey(a, &api.EnableKeyRequest{KeyId: k.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = e.s.ScheduleKeyDeletion(a, &api.ScheduleKeyDeletionRequest{KeyId: k.KeyId})
	wantCode(t, err, "KMSInvalidStateException")

	if _, err := e.s.CancelKeyDeletion(a, &api.CancelKeyDeletionRequest{KeyId: str("alias/temp")}); err != nil {
		t.Fatal(err)
	}
	if m := state(); *m.KeyState != "Disabled" || m.DeletionDate != nil {
		t.Fatalf("after CancelKeyDeletion %+v", m)
	}
	_, err = e.s.CancelKeyDeletion(a, &api.CancelKeyDeletionRequest{KeyId: k.KeyId})
	wantCode(t, err, "KMSInvalidStateException")

	// At the end of the waiting period the key and its aliases are gone.
	if _, err := e.s.ScheduleKeyDeletion(a, &api.ScheduleKeyDeletionRequest{KeyId: k.KeyId, PendingWindowInDays: int32p(7)}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(7*24*time.Hour - time.Minute)
	state()
	e.now = e.now.Add(time.Minute)
	_, err = e.s.DescribeKey(a, &api.DescribeKeyRequest{KeyId: k.KeyId})
	wantCode(t, err, "NotFoundException")
	list, _ := e.s.ListAliases(a, &api.ListAliasesRequest{})
	for _, al := range list.Aliases {
		if *al.AliasName == "alias/temp" {
			t.Fatalf("alias of a deleted key listed: %+v", al)
		}
	}
	if keys, _ := e.s.ListKeys(a, &api.ListKeysRequest{}); len(keys.Keys) != 0 {
		t.Fatalf("deleted key listed: %+v", keys.Keys)
	}
}

func TestEncryptDecrypt(t *testing.T) {
	e := newEnv(t)
	k, other := e.createKey(t, a, nil), e.createKey(t, a, nil)
	ec := map[string]string{"purpose": "test", "tenant": "7"}
	enc, err := e.s.Encrypt(a, &api.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("attack at dawn"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if *enc.KeyId != *k.Arn || bytes.Contains(enc.CiphertextBlob, []byte("attack at dawn")) {
		t.Fatalf("Encrypt %+v", enc)
	}
	dec, err := e.s.Decrypt(a, &api.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "attack at dawn" || *dec.KeyId != *k.Arn {
		t.Fatalf("Decrypt %v %+v", err, dec)
	}
	_, err = e.s.Decrypt(a, &api.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "test"}})
	wantCode(t, err, "InvalidCiphertextException")
	tampered := bytes.Clone(enc.CiphertextBlob)
	tampered[len(tampered)-1] ^= 1
	_, err = e.s.Decrypt(a, &api.DecryptRequest{CiphertextBlob: tampered, EncryptionContext: ec})
	wantCode(t, err, "InvalidCiphertextException")
	_, err = e.s.Decrypt(a, &api.DecryptRequest{CiphertextBlob: []byte("not a blob at all")})
	wantCode(t, err, "InvalidCiphertextException")
	_, err = e.s.Decrypt(a, &api.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: other.KeyId})
	wantCode(t, err, "IncorrectKeyException")
	_, err = e.s.Decrypt(acct("222222222222", "us-east-1"), &api.DecryptRequest{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	wantCode(t, err, "AccessDeniedException")
	_, err = e.s.Encrypt(a, &api.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("x"), DryRun: boolp(true)})
	wantCode(t, err, "DryRunOperationException")

	dk, err := e.s.GenerateDataKey(a, &api.GenerateDataKeyRequest{KeyId: k.KeyId, KeySpec: str("AES_256")})
	if err != nil || len(dk.Plaintext) != 32 {
		t.Fatalf("GenerateDataKey %v %+v", err, dk)
	}
	back, err := e.s.Decrypt(a, &api.DecryptRequest{CiphertextBlob: dk.CiphertextBlob})
	if err != nil || !bytes.Equal(back.Plaintext, dk.Plaintext) {
		t.Fatalf("data key does not decrypt: %v", err)
	}
	np, err := e.s.GenerateDataKeyWithoutPlaintext(a, &api.GenerateDataKeyWithoutPlaintextRequest{KeyId: k.KeyId, NumberOfBytes: int32p(16)})
	if err != nil {
		t.Fatal(err)
	}
	if back, err := e.s.Decrypt(a, &api.DecryptRequest{CiphertextBlob: np.CiphertextBlob}); err != nil || len(back.Plaintext) != 16 {
		t.Fatalf("data key without plaintext: %v", err)
	}
	_, err = e.s.GenerateDataKey(a, &api.GenerateDataKeyRequest{KeyId: k.KeyId})
	wantCode(t, err, "ValidationException")
	_, err = e.s.GenerateDataKey(a, &api.GenerateDataKeyRequest{KeyId: k.KeyId, KeySpec: str("AES_256"), NumberOfBytes: int32p(32)})
	wantCode(t, err, "ValidationException")
}

// The key material is in the store only sealed by the host master key, which is a 0600 file: neither the
// store alone nor another host's master key yields it.
func TestKeyMaterialIsSealed(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(t, a, nil)
	fi, err := os.Stat(filepath.Join(e.dir, "kms", "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("master key file: %v %v", err, fi)
	}
	rec, _, err := store.Get[keyRecord](a, e.st, keyStoreKey("111111111111", "us-east-1", *k.KeyId))
	if err != nil {
		t.Fatal(err)
	}
	material, err := openWith(e.s.master.aead, rec.Material, []byte(rec.ARN))
	if err != nil || len(material) != 32 {
		t.Fatalf("material: %v", err)
	}
	raw, err := e.st.Get(a, keyStoreKey("111111111111", "us-east-1", *k.KeyId))
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range [][]byte{material, []byte(base64.StdEncoding.EncodeToString(material)), []byte(fmt.Sprintf("%x", material))} {
		if bytes.Contains(raw.Value, form) {
			t.Fatal("the key record holds the key material in plaintext")
		}
	}
	enc, err := e.s.Encrypt(a, &api.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	// The same records under another master key (another host, or a lost key file) decrypt nothing.
	stranger, err := New(Config{Store: e.st, Clock: func() time.Time { return e.now }, MasterKeyFile: filepath.Join(t.TempDir(), "master.key")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.Decrypt(a, &api.DecryptRequest{CiphertextBlob: enc.CiphertextBlob}); err == nil {
		t.Fatal("a service with another master key decrypted")
	}
	// The same master key file, opened again (a restart), decrypts.
	again, err := New(Config{Store: e.st, Clock: func() time.Time { return e.now }, MasterKeyFile: filepath.Join(e.dir, "kms", "master.key")})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := again.Decrypt(a, &api.DecryptRequest{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(out.Plaintext) != "secret" {
		t.Fatalf("after restart: %v", err)
	}
}

// expectedEBSKeyARN is how EC2 names aws/ebs without asking KMS (ec2.awsEBSKeyARN); KMS must make the key
// under that same ARN.
func expectedEBSKeyARN(account, region string) string {
	sum := sha256.Sum256([]byte("aws/ebs\x00" + account + "\x00" + region))
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%x-%x-%x-%x-%x", region, account, sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

func TestManagedEBSKeyAndResolver(t *testing.T) {
	e := newEnv(t)
	arn, err := e.s.ResolveEBSKey(a, "alias/aws/ebs")
	if err != nil || arn != expectedEBSKeyARN("111111111111", "us-east-1") {
		t.Fatalf("aws/ebs: %v %s", err, arn)
	}
	if again, _ := e.s.ResolveEBSKey(a, "arn:aws:kms:us-east-1:111111111111:alias/aws/ebs"); again != arn {
		t.Fatalf("aws/ebs by alias ARN is %s", again)
	}
	d, err := e.s.DescribeKey(a, &api.DescribeKeyRequest{KeyId: str("alias/aws/ebs")})
	if err != nil || *d.KeyMetadata.KeyManager != "AWS" || *d.KeyMetadata.Arn != arn {
		t.Fatalf("DescribeKey aws/ebs %v %+v", err, d)
	}
	list, _ := e.s.ListAliases(a, &api.ListAliasesRequest{})
	if len(list.Aliases) != 1 || deref(list.Aliases[0].TargetKeyId) != *d.KeyMetadata.KeyId {
		t.Fatalf("aliases %+v", list.Aliases)
	}
	_, err = e.s.DisableKey(a, &api.DisableKeyRequest{KeyId: str(arn)})
	wantCode(t, err, "AccessDeniedException")
	_, err = e.s.ScheduleKeyDeletion(a, &api.ScheduleKeyDeletionRequest{KeyId: str(arn)})
	wantCode(t, err, "AccessDeniedException")
	// Another account and region get their own.
	if b, _ := e.s.ResolveEBSKey(acct("222222222222", "us-west-2"), "alias/aws/ebs"); b == arn || b != expectedEBSKeyARN("222222222222", "us-west-2") {
		t.Fatalf("aws/ebs of another account and region: %s", b)
	}

	k := e.createKey(t, a, nil)
	if got, err := e.s.ResolveEBSKey(a, *k.KeyId); err != nil || got != *k.Arn {
		t.Fatalf("resolve %v %s", err, got)
	}
	if _, err := e.s.DisableKey(a, &api.DisableKeyRequest{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.ResolveEBSKey(a, *k.Arn); !apierr.Is(err, apierr.Conflict) {
		t.Fatalf("disabled key resolved: %v", err)
	}
	for _, bogus := range []string{"bogus", "alias/nope", "0b1e6cd9-4d4f-4f5c-9a43-1c2b3d4e5f60"} {
		if _, err := e.s.ResolveEBSKey(a, bogus); !apierr.Is(err, apierr.NotFound) {
			t.Fatalf("%s resolved: %v", bogus, err)
		}
	}
}

// VolumeKeys is what the EBS volume store wraps data keys with: it works by key ARN whatever the context's
// account, and stops working when the key is disabled.
func TestVolumeKeysWithTheVolumeStore(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(t, a, nil)
	vk := e.s.VolumeKeys()
	var _ volumes.Keys = vk

	dataKey := bytes.Repeat([]byte{7}, 64)
	wrapped, err := vk.Wrap(context.Background(), *k.Arn, dataKey)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wrapped, dataKey) {
		t.Fatal("wrapped key holds the data key")
	}
	if got, err := vk.Unwrap(context.Background(), *k.Arn, wrapped); err != nil || !bytes.Equal(got, dataKey) {
		t.Fatalf("Unwrap %v", err)
	}
	other := e.createKey(t, a, nil)
	if _, err := vk.Unwrap(context.Background(), *other.Arn, wrapped); err == nil {
		t.Fatal("unwrapped under another key")
	}
	if _, err := vk.Wrap(context.Background(), "alias/aws/ebs", dataKey); err == nil {
		t.Fatal("wrapped under a name that is not a key ARN")
	}

	dir := t.TempDir()
	snaps, err := snapshots.Open(filepath.Join(dir, "snapshots"), snapshots.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vols, err := volumes.Open(filepath.Join(dir, "volumes"), snaps, volumes.Options{Keys: vk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vols.Close() })
	ctx := context.Background()
	if err := vols.CreateEncrypted(ctx, "vol-0123456789abcdef0", 1<<30, *k.Arn); err != nil {
		t.Fatal(err)
	}
	if _, err := vols.Snapshot(ctx, "vol-0123456789abcdef0", "snap-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
	if err := vols.RestoreEncrypted(ctx, "vol-0123456789abcdef1", 1<<30, "snap-0123456789abcdef0", *k.Arn); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DisableKey(a, &api.DisableKeyRequest{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	if err := vols.RestoreEncrypted(ctx, "vol-0123456789abcdef2", 1<<30, "snap-0123456789abcdef0", *k.Arn); err == nil {
		t.Fatal("restored a snapshot whose key is disabled")
	}
	if err := vols.CreateEncrypted(ctx, "vol-0123456789abcdef3", 1<<30, *k.Arn); err == nil {
		t.Fatal("made a volume under a disabled key")
	}
}
