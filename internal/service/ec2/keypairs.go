package ec2

import (
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/store"
)

// keyPairRecord is a key pair, keyed by its name. EC2 hands the private key out once, at creation, and never
// keeps it; only the public key is stored, for instances to install.
type keyPairRecord struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Type        string    `json:"type"`      // rsa or ed25519
	PublicKey   string    `json:"publicKey"` // the authorized_keys line
	Fingerprint string    `json:"fingerprint"`
	Created     time.Time `json:"created"`
	Tags        []Tag     `json:"tags,omitempty"`
}

// CreateKeyPair makes a key pair and returns its private key, in PEM: PKCS#1 for RSA, as EC2 hands them
// out, and OpenSSH's own format for ED25519.
func (s *Service) CreateKeyPair(ctx context.Context, in *api.CreateKeyPairRequest) (*api.KeyPair, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	name, err := keyName(in.KeyName)
	if err != nil {
		return nil, err
	}
	if f := deref(in.KeyFormat); f != "" && f != "pem" {
		return nil, apierr.InvalidParam("InvalidParameterValue", "Overcast creates key pairs in pem format only, not '%s'", f)
	}
	var material, fingerprint string
	var pub ssh.PublicKey
	kt := deref(in.KeyType)
	switch kt {
	case "", "rsa":
		kt = "rsa"
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		material = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
		if fingerprint, err = createdRSAFingerprint(key); err != nil {
			return nil, err
		}
		if pub, err = ssh.NewPublicKey(&key.PublicKey); err != nil {
			return nil, err
		}
	case "ed25519":
		pk, sk, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(sk, "")
		if err != nil {
			return nil, err
		}
		material = string(pem.EncodeToMemory(block))
		if pub, err = ssh.NewPublicKey(pk); err != nil {
			return nil, err
		}
		fingerprint = ed25519Fingerprint(pub)
	default:
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter keyType is invalid. Valid values are rsa and ed25519.", kt)
	}
	kp, err := s.putKeyPair(ctx, name, kt, pub, fingerprint, tagsFromSpecs(in.TagSpecifications, "key-pair"))
	if err != nil {
		return nil, err
	}
	return &api.KeyPair{KeyName: str(kp.Name), KeyPairId: str(kp.ID), KeyFingerprint: str(kp.Fingerprint),
		KeyMaterial: str(material), Tags: apiTags(kp.Tags)}, nil
}

// ImportKeyPair stores a public key the user made: an OpenSSH public key line, an RFC 4716 public key
// file, or a base64 DER public key; RSA or ED25519.
func (s *Service) ImportKeyPair(ctx context.Context, in *api.ImportKeyPairRequest) (*api.ImportKeyPairResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	name, err := keyName(in.KeyName)
	if err != nil {
		return nil, err
	}
	pub, err := parsePublicKey(in.PublicKeyMaterial)
	if err != nil {
		return nil, err
	}
	var kt, fingerprint string
	switch pub.Type() {
	case ssh.KeyAlgoRSA:
		kt = "rsa"
		rk := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(*rsa.PublicKey)
		if bits := rk.N.BitLen(); bits < 1024 || bits > 16384 {
			return nil, apierr.InvalidParam("InvalidKeyPair.Format", "Invalid RSA key length %d; use 1024 to 16384 bits", bits)
		}
		if fingerprint, err = importedRSAFingerprint(rk); err != nil {
			return nil, err
		}
	case ssh.KeyAlgoED25519:
		kt, fingerprint = "ed25519", ed25519Fingerprint(pub)
	default:
		return nil, apierr.InvalidParam("InvalidKeyPair.Format", "Key is not in valid OpenSSH public key format")
	}
	kp, err := s.putKeyPair(ctx, name, kt, pub, fingerprint, tagsFromSpecs(in.TagSpecifications, "key-pair"))
	if err != nil {
		return nil, err
	}
	return &api.ImportKeyPairResult{KeyName: str(kp.Name), KeyPairId: str(kp.ID), KeyFingerprint: str(kp.Fingerprint),
		Tags: apiTags(kp.Tags)}, nil
}

func (s *Service) putKeyPair(ctx context.Context, name, kt string, pub ssh.PublicKey, fingerprint string, tags []Tag) (keyPairRecord, error) {
	kp := keyPairRecord{
		ID: newID("key"), Name: name, Type: kt, Fingerprint: fingerprint, Created: s.clock().UTC().Truncate(time.Second),
		PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + name, Tags: tags,
	}
	_, err := store.Create(ctx, s.st, scopedKey(ctx, kindKeyPair, name), kp)
	if errors.Is(err, store.ErrExists) {
		return kp, apierr.Exists("InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name)
	}
	return kp, err
}

func keyName(name *string) (string, error) {
	n := deref(name)
	if n == "" {
		return "", apierr.InvalidParam("MissingParameter", "The request must contain the parameter KeyName")
	}
	if len(n) > 255 {
		return "", apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter keyName is invalid. Length exceeds maximum of 255.", n)
	}
	for _, r := range n {
		if r < 0x20 || r > 0x7e {
			return "", apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter keyName is invalid. Character sets beyond ASCII are not supported.", n)
		}
	}
	return n, nil
}

// parsePublicKey reads the public key formats EC2 imports.
func parsePublicKey(material []byte) (ssh.PublicKey, error) {
	bad := apierr.InvalidParam("InvalidKeyPair.Format", "Key is not in valid OpenSSH public key format")
	text := strings.TrimSpace(string(material))
	if text == "" {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter PublicKeyMaterial")
	}
	if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(text)); err == nil {
		return pub, nil
	}
	if strings.HasPrefix(text, "---- BEGIN SSH2 PUBLIC KEY ----") {
		// RFC 4716: headers (with backslash continuations), then the base64 of the key blob.
		var body strings.Builder
		cont := false
		for _, line := range strings.Split(text, "\n")[1:] {
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "---- END"):
			case cont || strings.Contains(line, ":"):
				cont = strings.HasSuffix(line, "\\")
			default:
				body.WriteString(line)
			}
		}
		blob, err := base64.StdEncoding.DecodeString(body.String())
		if err != nil {
			return nil, bad
		}
		if pub, err := ssh.ParsePublicKey(blob); err == nil {
			return pub, nil
		}
		return nil, bad
	}
	der, err := base64.StdEncoding.DecodeString(text)
	if block, _ := pem.Decode([]byte(text)); block != nil {
		der, err = block.Bytes, nil
	}
	if err != nil {
		return nil, bad
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, bad
	}
	pub, err := ssh.NewPublicKey(k)
	if err != nil {
		return nil, bad
	}
	return pub, nil
}

// createdRSAFingerprint is EC2's fingerprint of an RSA key pair it made: the SHA-1 of the private key's
// PKCS#8 DER, in colon-separated hex.
func createdRSAFingerprint(key *rsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	sum := sha1.Sum(der)
	return colonHex(sum[:]), nil
}

// importedRSAFingerprint is EC2's fingerprint of an imported RSA key: the MD5 of the public key's DER
// (SubjectPublicKeyInfo), in colon-separated hex.
func importedRSAFingerprint(key *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return "", err
	}
	sum := md5.Sum(der)
	return colonHex(sum[:]), nil
}

// ed25519Fingerprint is OpenSSH's SHA256 fingerprint without the "SHA256:" and with base64's padding,
// as EC2 shows it.
func ed25519Fingerprint(pub ssh.PublicKey) string {
	sum := sha256.Sum256(pub.Marshal())
	return base64.StdEncoding.EncodeToString(sum[:])
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}

// DescribeKeyPairs lists the region's key pairs.
func (s *Service) DescribeKeyPairs(ctx context.Context, in *api.DescribeKeyPairsRequest) (*api.DescribeKeyPairsResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	kps, err := listNamed(ctx, s, kindKeyPair,
		namedIDs[keyPairRecord]{in.KeyNames, func(k keyPairRecord) string { return k.Name }, keyPairNotFound},
		namedIDs[keyPairRecord]{in.KeyPairIds, func(k keyPairRecord) string { return k.ID }, func(id string) error {
			return apierr.Missing("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", id)
		}})
	if err != nil {
		return nil, err
	}
	out := []api.KeyPairInfo{}
	for _, k := range kps {
		ok, err := matchFilters(in.Filters, map[string][]string{
			"key-name": {k.Name}, "key-pair-id": {k.ID}, "fingerprint": {k.Fingerprint}, "key-type": {k.Type},
		}, k.Tags)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		info := api.KeyPairInfo{KeyName: str(k.Name), KeyPairId: str(k.ID), KeyFingerprint: str(k.Fingerprint),
			KeyType: str(k.Type), CreateTime: &k.Created, Tags: apiTags(k.Tags)}
		if in.IncludePublicKey != nil && *in.IncludePublicKey {
			info.PublicKey = str(k.PublicKey)
		}
		out = append(out, info)
	}
	return &api.DescribeKeyPairsResult{KeyPairs: out}, nil
}

// DeleteKeyPair deletes a key pair by name or id. Deleting one that does not exist succeeds, as in EC2.
func (s *Service) DeleteKeyPair(ctx context.Context, in *api.DeleteKeyPairRequest) (*api.DeleteKeyPairResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	name, id := deref(in.KeyName), deref(in.KeyPairId)
	if name == "" && id == "" {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter KeyName or KeyPairId")
	}
	if name == "" {
		kps, _, err := store.List[keyPairRecord](ctx, s.st, scopedPrefix(ctx, kindKeyPair))
		if err != nil {
			return nil, err
		}
		for _, k := range kps {
			if k.ID == id {
				name = k.Name
			}
		}
	}
	t := true
	out := &api.DeleteKeyPairResult{Return: &t}
	if name == "" {
		return out, nil
	}
	k, rec, err := store.Get[keyPairRecord](ctx, s.st, scopedKey(ctx, kindKeyPair, name))
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out.KeyPairId = str(k.ID)
	if _, err := store.Delete(ctx, s.st, rec.Key, store.Any); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return out, nil
}

// keyPairByName finds a key pair. Errors: InvalidKeyPair.NotFound.
func (s *Service) keyPairByName(ctx context.Context, name string) (keyPairRecord, error) {
	k, _, err := store.Get[keyPairRecord](ctx, s.st, scopedKey(ctx, kindKeyPair, name))
	if errors.Is(err, store.ErrNotFound) {
		return k, keyPairNotFound(name)
	}
	return k, err
}

func keyPairNotFound(name string) error {
	return apierr.Missing("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", name)
}
