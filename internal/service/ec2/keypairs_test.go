package ec2

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/testutil"
)

// sh runs a shell pipeline of the host's OpenSSH and OpenSSL tools and returns its trimmed output.
func sh(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sshKeygenSHA256 is the base64 part of `ssh-keygen -l`'s SHA256 fingerprint of a key file.
func sshKeygenSHA256(t *testing.T, file string) string {
	fields := strings.Fields(sh(t, "ssh-keygen -l -E sha256 -f "+file))
	return strings.TrimPrefix(fields[1], "SHA256:")
}

func TestCreateKeyPairFingerprints(t *testing.T) {
	testutil.RequiresTool(t, "ssh-keygen")
	testutil.RequiresTool(t, "openssl")
	s, ctx := newNetService(t), context.Background()

	rsaKP := must[*api.KeyPair](t)(s.CreateKeyPair(ctx, &api.CreateKeyPairRequest{KeyName: str("rsa-key"),
		TagSpecifications: tagSpec("key-pair", "team", "a")}))
	if !strings.HasPrefix(*rsaKP.KeyMaterial, "-----BEGIN RSA PRIVATE KEY-----") || !strings.HasPrefix(*rsaKP.KeyPairId, "key-") {
		t.Fatalf("created RSA key pair %s %s", *rsaKP.KeyPairId, (*rsaKP.KeyMaterial)[:40])
	}
	pem := writeFile(t, "rsa.pem", *rsaKP.KeyMaterial)
	// AWS's documented check: openssl pkcs8 ... -topk8 -nocrypt | openssl sha1 -c.
	want := sh(t, "openssl pkcs8 -in "+pem+" -inform PEM -outform DER -topk8 -nocrypt | openssl sha1 -c")
	if want = want[strings.LastIndex(want, " ")+1:]; *rsaKP.KeyFingerprint != want {
		t.Errorf("RSA fingerprint %s, openssl says %s", *rsaKP.KeyFingerprint, want)
	}
	if bits := strings.Fields(sh(t, "ssh-keygen -l -f "+pem))[0]; bits != "2048" {
		t.Errorf("RSA key of %s bits, want 2048", bits)
	}

	edKP := must[*api.KeyPair](t)(s.CreateKeyPair(ctx, &api.CreateKeyPairRequest{KeyName: str("ed-key"), KeyType: str("ed25519")}))
	edPEM := writeFile(t, "ed.pem", *edKP.KeyMaterial)
	if got, want := *edKP.KeyFingerprint, sshKeygenSHA256(t, edPEM); strings.TrimRight(got, "=") != want || !strings.HasSuffix(got, "=") {
		t.Errorf("ED25519 fingerprint %s, ssh-keygen says %s (EC2 adds base64 padding)", got, want)
	}

	// The stored public key is the private key's, in authorized_keys form.
	infos := must[*api.DescribeKeyPairsResult](t)(s.DescribeKeyPairs(ctx, &api.DescribeKeyPairsRequest{
		KeyNames: []string{"ed-key", "rsa-key"}, IncludePublicKey: ptr(true)})).KeyPairs
	if len(infos) != 2 {
		t.Fatalf("described %d key pairs", len(infos))
	}
	for i, material := range []string{*edKP.KeyMaterial, *rsaKP.KeyMaterial} {
		signer, err := ssh.ParsePrivateKey([]byte(material))
		if err != nil {
			t.Fatal(err)
		}
		wantPub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
		if !strings.HasPrefix(*infos[i].PublicKey, wantPub+" ") {
			t.Errorf("%s public key %q, want %q", *infos[i].KeyName, *infos[i].PublicKey, wantPub)
		}
	}
	if *infos[0].KeyType != "ed25519" || *infos[1].KeyType != "rsa" || infos[1].Tags[0].Value == nil || infos[0].CreateTime == nil {
		t.Errorf("described %+v", infos)
	}
	k := must[keyPairRecord](t)(s.keyPairByName(ctx, "rsa-key"))
	if k.ID != *rsaKP.KeyPairId || !strings.HasPrefix(k.PublicKey, "ssh-rsa ") {
		t.Errorf("keyPairByName gave %+v", k)
	}

	_, err := s.CreateKeyPair(ctx, &api.CreateKeyPairRequest{KeyName: str("rsa-key")})
	wantCode(t, err, "InvalidKeyPair.Duplicate")
	_, err = s.CreateKeyPair(ctx, &api.CreateKeyPairRequest{KeyName: str("x"), KeyType: str("dsa")})
	wantCode(t, err, "InvalidParameterValue")
}

func TestImportKeyPairFingerprints(t *testing.T) {
	testutil.RequiresTool(t, "ssh-keygen")
	testutil.RequiresTool(t, "openssl")
	s, ctx := newNetService(t), context.Background()
	dir := t.TempDir()
	sh(t, "ssh-keygen -q -t rsa -b 3072 -N '' -C me@host -f "+dir+"/rsa && ssh-keygen -q -t ed25519 -N '' -C me@host -f "+dir+"/ed")

	rsaPub := must[[]byte](t)(os.ReadFile(dir + "/rsa.pub"))
	got := must[*api.ImportKeyPairResult](t)(s.ImportKeyPair(ctx, &api.ImportKeyPairRequest{KeyName: str("imported-rsa"), PublicKeyMaterial: rsaPub}))
	// AWS's documented check for imported RSA keys: the MD5 of the DER public key.
	want := sh(t, "ssh-keygen -e -m PKCS8 -f "+dir+"/rsa.pub | openssl pkey -pubin -outform DER | openssl md5 -c")
	if want = want[strings.LastIndex(want, " ")+1:]; *got.KeyFingerprint != want {
		t.Errorf("imported RSA fingerprint %s, openssl says %s", *got.KeyFingerprint, want)
	}

	edPub := must[[]byte](t)(os.ReadFile(dir + "/ed.pub"))
	gotEd := must[*api.ImportKeyPairResult](t)(s.ImportKeyPair(ctx, &api.ImportKeyPairRequest{KeyName: str("imported-ed"), PublicKeyMaterial: edPub}))
	if want := sshKeygenSHA256(t, dir+"/ed.pub"); strings.TrimRight(*gotEd.KeyFingerprint, "=") != want {
		t.Errorf("imported ED25519 fingerprint %s, ssh-keygen says %s", *gotEd.KeyFingerprint, want)
	}

	// The same key as an RFC 4716 file imports with the same fingerprint.
	rfc := sh(t, "ssh-keygen -e -f "+dir+"/ed.pub")
	again := must[*api.ImportKeyPairResult](t)(s.ImportKeyPair(ctx, &api.ImportKeyPairRequest{KeyName: str("rfc4716"), PublicKeyMaterial: []byte(rfc)}))
	if *again.KeyFingerprint != *gotEd.KeyFingerprint {
		t.Errorf("RFC 4716 import fingerprint %s, want %s", *again.KeyFingerprint, *gotEd.KeyFingerprint)
	}

	_, err := s.ImportKeyPair(ctx, &api.ImportKeyPairRequest{KeyName: str("bad"), PublicKeyMaterial: []byte("ssh-rsa notbase64 x")})
	wantCode(t, err, "InvalidKeyPair.Format")
	sh(t, "ssh-keygen -q -t ecdsa -N '' -f "+dir+"/ec")
	_, err = s.ImportKeyPair(ctx, &api.ImportKeyPairRequest{KeyName: str("ec"), PublicKeyMaterial: must[[]byte](t)(os.ReadFile(dir + "/ec.pub"))})
	wantCode(t, err, "InvalidKeyPair.Format")
	_, err = s.ImportKeyPair(ctx, &api.ImportKeyPairRequest{KeyName: str("imported-ed"), PublicKeyMaterial: edPub})
	wantCode(t, err, "InvalidKeyPair.Duplicate")
}

func TestDescribeAndDeleteKeyPairs(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	a := must[*api.KeyPair](t)(s.CreateKeyPair(ctx, &api.CreateKeyPairRequest{KeyName: str("alpha"), KeyType: str("ed25519"),
		TagSpecifications: tagSpec("key-pair", "env", "dev")}))
	must[*api.KeyPair](t)(s.CreateKeyPair(ctx, &api.CreateKeyPairRequest{KeyName: str("beta"), KeyType: str("ed25519")}))

	for _, tc := range []struct {
		in   api.DescribeKeyPairsRequest
		want []string
	}{
		{api.DescribeKeyPairsRequest{}, []string{"alpha", "beta"}},
		{api.DescribeKeyPairsRequest{KeyPairIds: []string{*a.KeyPairId}}, []string{"alpha"}},
		{api.DescribeKeyPairsRequest{Filters: []api.Filter{flt("key-name", "b*")}}, []string{"beta"}},
		{api.DescribeKeyPairsRequest{Filters: []api.Filter{flt("fingerprint", *a.KeyFingerprint)}}, []string{"alpha"}},
		{api.DescribeKeyPairsRequest{Filters: []api.Filter{flt("tag:env", "dev")}}, []string{"alpha"}},
		{api.DescribeKeyPairsRequest{Filters: []api.Filter{flt("key-pair-id", *a.KeyPairId)}}, []string{"alpha"}},
	} {
		got := must[*api.DescribeKeyPairsResult](t)(s.DescribeKeyPairs(ctx, &tc.in)).KeyPairs
		var names []string
		for _, k := range got {
			names = append(names, *k.KeyName)
			if k.PublicKey != nil {
				t.Errorf("public key shown without IncludePublicKey")
			}
		}
		if strings.Join(names, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%+v: got %v, want %v", tc.in, names, tc.want)
		}
	}
	_, err := s.DescribeKeyPairs(ctx, &api.DescribeKeyPairsRequest{KeyNames: []string{"gamma"}})
	wantCode(t, err, "InvalidKeyPair.NotFound")
	_, err = s.keyPairByName(ctx, "gamma")
	wantCode(t, err, "InvalidKeyPair.NotFound")

	del := must[*api.DeleteKeyPairResult](t)(s.DeleteKeyPair(ctx, &api.DeleteKeyPairRequest{KeyPairId: a.KeyPairId}))
	if !*del.Return || *del.KeyPairId != *a.KeyPairId {
		t.Errorf("delete answered %+v", del)
	}
	must[*api.DeleteKeyPairResult](t)(s.DeleteKeyPair(ctx, &api.DeleteKeyPairRequest{KeyName: str("beta")}))
	// Deleting what is not there succeeds, as in EC2.
	must[*api.DeleteKeyPairResult](t)(s.DeleteKeyPair(ctx, &api.DeleteKeyPairRequest{KeyName: str("beta")}))
	if got := must[*api.DescribeKeyPairsResult](t)(s.DescribeKeyPairs(ctx, &api.DescribeKeyPairsRequest{})).KeyPairs; len(got) != 0 {
		t.Errorf("key pairs left: %+v", got)
	}
}
