// Package kms is AWS KMS's API for symmetric encryption keys: keys and their life cycle (enable, disable,
// scheduled deletion), aliases, tags, and the cryptographic operations on them (Encrypt, Decrypt,
// GenerateDataKey). It also holds each account's AWS managed key aws/ebs, and lends its keys to EBS: VolumeKeys
// wraps volumes' data keys, ResolveEBSKey names the key a volume uses.
//
// Key material is 256 random bits per key, kept in the key's record only as ciphertext under the host's master
// key (a file of its own, mode 0600, in the data directory); no record ever holds it in plaintext. The package
// owns the kms/* records and that file, and must not touch volumes or any other service's records.
package kms

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	api "github.com/overcast-cloud/overcast/api/kms"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Record kinds. Keys are keyed by key id, aliases by their full name ("alias/name"); both are scoped by
// account and region, as KMS keys and aliases are regional.
const (
	kindKey   = "kms/key"
	kindAlias = "kms/alias"
)

// Key states, as DescribeKey shows them.
const (
	stateEnabled         = "Enabled"
	stateDisabled        = "Disabled"
	statePendingDeletion = "PendingDeletion"
)

// Key managers: keys the account made, and keys AWS services made for it.
const (
	managerCustomer = "CUSTOMER"
	managerAWS      = "AWS"
)

const (
	symmetricDefault = "SYMMETRIC_DEFAULT"
	encryptDecrypt   = "ENCRYPT_DECRYPT"
	originAWSKMS     = "AWS_KMS"
	// EBSAlias is the alias of the account's AWS managed key for EBS.
	EBSAlias = "alias/aws/ebs"
)

// keyRecord is the stored record of a KMS key.
type keyRecord struct {
	ID           string    `json:"id"`
	ARN          string    `json:"arn"`
	Account      string    `json:"account"`
	Region       string    `json:"region"`
	Description  string    `json:"description,omitempty"`
	Manager      string    `json:"manager"`
	State        string    `json:"state"`
	Created      time.Time `json:"created"`
	DeletionDate time.Time `json:"deletionDate,omitzero"`
	PendingDays  int32     `json:"pendingDays,omitempty"`
	Tags         []tag     `json:"tags,omitempty"`
	Policy       string    `json:"policy,omitempty"`
	// Material is the key's 256-bit key material sealed by the host master key, the key ARN as additional
	// data, so a record copied onto another key does not decrypt.
	Material []byte `json:"material"`
	// MaterialID names the key material as DescribeKey's CurrentKeyMaterialId does.
	MaterialID string `json:"materialId"`
}

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// aliasRecord is the stored record of an alias.
type aliasRecord struct {
	Name    string    `json:"name"`
	KeyID   string    `json:"keyId"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Config wires the service.
type Config struct {
	Store store.Store
	Clock func() time.Time
	// MasterKeyFile is the host master key's file; it is made (mode 0600) on first start.
	MasterKeyFile string
	Logger        *slog.Logger
}

// Service implements api/kms.Service.
type Service struct {
	api.Unimplemented
	st     store.Store
	clock  func() time.Time
	master *masterKey
	log    *slog.Logger
}

var _ api.Service = (*Service)(nil)

// New opens the host master key and returns the KMS service.
func New(cfg Config) (*Service, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := openMasterKey(cfg.MasterKeyFile)
	if err != nil {
		return nil, err
	}
	return &Service{st: cfg.Store, clock: cfg.Clock, master: m, log: cfg.Logger}, nil
}

func keyARN(region, account, id string) string {
	return "arn:aws:kms:" + region + ":" + account + ":key/" + id
}

func aliasARN(region, account, name string) string {
	return "arn:aws:kms:" + region + ":" + account + ":" + name
}

// newKeyID is a random version 4 UUID, the form of KMS key ids.
func newKeyID() string {
	var b [16]byte
	rand.Read(b[:])
	return uuid(b[:])
}

// managedKeyID is the id of an account's AWS managed key for a service in a region. It is derived, not random,
// so that EC2 can name aws/ebs's ARN (snapshot sharing refuses snapshots under it) without asking KMS; EC2's
// awsEBSKeyARN makes the same derivation and the two must agree.
func managedKeyID(service, account, region string) string {
	sum := sha256.Sum256([]byte(service + "\x00" + account + "\x00" + region))
	return uuid(sum[:16])
}

func uuid(b []byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var (
	keyIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	arnPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z0-9-]+):([0-9]{12}):(key/.+|alias/.+)$`)
)

// keyRef is a parsed key identifier: a key id or an alias name, in an account and region.
type keyRef struct {
	Account, Region string
	KeyID           string // set for a key id or key ARN
	Alias           string // "alias/name", set for an alias name or alias ARN
	Given           string // as the caller wrote it, for messages
}

// parseKeyRef accepts what KMS accepts as KeyId: a key id, key ARN, alias name or alias ARN. Names without
// an ARN are in the caller's account and region.
func parseKeyRef(ctx context.Context, given string) (keyRef, error) {
	r := awsctx.From(ctx)
	ref := keyRef{Account: r.Account, Region: r.Region, Given: given}
	rest := given
	if m := arnPattern.FindStringSubmatch(given); m != nil {
		ref.Account, ref.Region, rest = m[2], m[1], m[3]
	} else if strings.HasPrefix(given, "arn:") {
		return ref, apierr.New(apierr.Invalid, "InvalidArnException", "Invalid arn %s", given)
	}
	switch {
	case strings.HasPrefix(rest, "alias/"):
		ref.Alias = rest
	case strings.HasPrefix(rest, "key/") && keyIDPattern.MatchString(rest[4:]):
		ref.KeyID = strings.ToLower(rest[4:])
	case keyIDPattern.MatchString(rest) && rest == given:
		ref.KeyID = strings.ToLower(rest)
	default:
		return ref, notFound("Invalid keyId %s", given)
	}
	return ref, nil
}

func notFound(format string, args ...any) error {
	return apierr.New(apierr.NotFound, "NotFoundException", format, args...)
}

func keyNotFound(arn string) error { return notFound("Key '%s' does not exist", arn) }

func aliasNotFound(region, account, name string) error {
	return notFound("Alias %s is not found.", aliasARN(region, account, name))
}

func invalidState(format string, args ...any) error {
	return apierr.New(apierr.Conflict, "KMSInvalidStateException", format, args...)
}

func validation(format string, args ...any) error {
	return apierr.New(apierr.Invalid, "ValidationException", format, args...)
}

// accessDenied is what KMS answers when a key policy does not let the caller act: always so for another
// account's keys here (Overcast has no key policies yet), and for changing AWS managed keys, whose policies
// let only their AWS service use them.
func accessDenied(ctx context.Context, action, arn string) error {
	return apierr.New(apierr.AccessDenied, "AccessDeniedException",
		"User: %s is not authorized to perform: kms:%s on resource: %s because no resource-based policy allows the kms:%s action",
		principalARN(ctx), action, arn, action)
}

func principalARN(ctx context.Context) string {
	r := awsctx.From(ctx)
	if r.Principal != nil && r.Principal.ARN != "" {
		return r.Principal.ARN
	}
	return "arn:aws:iam::" + r.Account + ":root"
}

func keyStoreKey(account, region, id string) store.Key {
	return store.Key{Account: account, Region: region, Kind: kindKey, ID: id}
}

func aliasStoreKey(account, region, name string) store.Key {
	return store.Key{Account: account, Region: region, Kind: kindAlias, ID: name}
}

// getKey reads a key by account, region and id. A key whose deletion date has passed is deleted now, with its
// aliases: KMS deletes it at the end of its waiting period, and nothing else runs that clock.
func (s *Service) getKey(ctx context.Context, account, region, id string) (keyRecord, error) {
	k, _, err := store.Get[keyRecord](ctx, s.st, keyStoreKey(account, region, id))
	if errors.Is(err, store.ErrNotFound) {
		return k, keyNotFound(keyARN(region, account, id))
	}
	if err != nil {
		return k, err
	}
	if s.expired(k) {
		s.purge(ctx, k)
		return keyRecord{}, keyNotFound(k.ARN)
	}
	return k, nil
}

func (s *Service) expired(k keyRecord) bool {
	return k.State == statePendingDeletion && !s.clock().Before(k.DeletionDate)
}

// purge deletes a key whose waiting period is over, and the aliases that point to it.
func (s *Service) purge(ctx context.Context, k keyRecord) {
	aliases, _, err := store.List[aliasRecord](ctx, s.st, store.Prefix{Account: k.Account, Region: k.Region, Kind: kindAlias})
	if err == nil {
		for _, a := range aliases {
			if a.KeyID == k.ID {
				_, _ = store.Delete(ctx, s.st, aliasStoreKey(k.Account, k.Region, a.Name), store.Any)
			}
		}
	}
	if _, err := store.Delete(ctx, s.st, keyStoreKey(k.Account, k.Region, k.ID), store.Any); err == nil {
		s.log.Info("deleted KMS key at the end of its waiting period", "key", k.ARN)
	}
}

// resolve finds the key a KeyId names. Another account's key is refused, as its default key policy would.
// The alias of an AWS managed key that does not exist yet makes it, as KMS does when it is first named.
func (s *Service) resolve(ctx context.Context, given string) (keyRecord, error) {
	ref, err := parseKeyRef(ctx, given)
	if err != nil {
		return keyRecord{}, err
	}
	r := awsctx.From(ctx)
	if ref.Region != r.Region {
		return keyRecord{}, notFound("Invalid arn %s: the key is not in region %s", given, r.Region)
	}
	id := ref.KeyID
	if ref.Alias != "" {
		a, _, err := store.Get[aliasRecord](ctx, s.st, aliasStoreKey(ref.Account, ref.Region, ref.Alias))
		switch {
		case errors.Is(err, store.ErrNotFound) && ref.Alias == EBSAlias && ref.Account == r.Account:
			return s.managedKey(ctx, "aws/ebs")
		case errors.Is(err, store.ErrNotFound):
			return keyRecord{}, aliasNotFound(ref.Region, ref.Account, ref.Alias)
		case err != nil:
			return keyRecord{}, err
		}
		id = a.KeyID
	}
	k, err := s.getKey(ctx, ref.Account, ref.Region, id)
	if err != nil {
		return k, err
	}
	if ref.Account != r.Account {
		return keyRecord{}, accessDenied(ctx, "DescribeKey", k.ARN)
	}
	return k, nil
}

// managedKey returns the caller's AWS managed key for service ("aws/ebs"), making it and its alias on first
// use.
func (s *Service) managedKey(ctx context.Context, service string) (keyRecord, error) {
	r := awsctx.From(ctx)
	id := managedKeyID(service, r.Account, r.Region)
	k, err := s.getKey(ctx, r.Account, r.Region, id)
	if err == nil || !apierr.Is(err, apierr.NotFound) {
		return k, err
	}
	now := s.clock().UTC()
	k, err = s.newKey(r.Account, r.Region, id, now)
	if err != nil {
		return k, err
	}
	k.Manager = managerAWS
	k.Description = "Default key that protects my " + strings.ToUpper(strings.TrimPrefix(service, "aws/")) + " volumes when no other key is defined"
	keyOp, err := store.PutOp(keyStoreKey(r.Account, r.Region, id), k, store.Absent)
	if err != nil {
		return k, err
	}
	name := "alias/" + service
	aliasOp, err := store.PutOp(aliasStoreKey(r.Account, r.Region, name), aliasRecord{Name: name, KeyID: id, Created: now, Updated: now}, store.Any)
	if err != nil {
		return k, err
	}
	if _, err := s.st.Txn(ctx, keyOp, aliasOp); errors.Is(err, store.ErrConflict) {
		// Another call made it first.
		return s.getKey(ctx, r.Account, r.Region, id)
	} else if err != nil {
		return k, err
	}
	s.log.Info("created AWS managed key", "key", k.ARN, "alias", name)
	return k, nil
}

// newKey makes a key record with fresh key material sealed by the master key.
func (s *Service) newKey(account, region, id string, now time.Time) (keyRecord, error) {
	k := keyRecord{ID: id, ARN: keyARN(region, account, id), Account: account, Region: region, Manager: managerCustomer,
		State: stateEnabled, Created: now}
	material := make([]byte, 32)
	rand.Read(material)
	sealed, err := s.master.seal(material, []byte(k.ARN))
	clear(material)
	if err != nil {
		return k, err
	}
	k.Material = sealed
	var mid [32]byte
	rand.Read(mid[:])
	k.MaterialID = fmt.Sprintf("%x", mid)
	return k, nil
}

// mutateKey changes the caller's key named by given, after fn's checks.
func (s *Service) mutateKey(ctx context.Context, given string, fn func(*keyRecord) error) (keyRecord, error) {
	k, err := s.resolve(ctx, given)
	if err != nil {
		return k, err
	}
	return store.Mutate(ctx, s.st, keyStoreKey(k.Account, k.Region, k.ID), fn)
}

// usable is the check of every cryptographic operation: the key must be enabled.
func usable(k keyRecord) error {
	switch k.State {
	case stateEnabled:
		return nil
	case stateDisabled:
		return apierr.New(apierr.Conflict, "DisabledException", "%s is disabled.", k.ARN)
	}
	return invalidState("%s is pending deletion.", k.ARN)
}

func (k keyRecord) metadata() *api.KeyMetadata {
	m := &api.KeyMetadata{
		AWSAccountId: str(k.Account), KeyId: str(k.ID), Arn: str(k.ARN), CreationDate: timep(k.Created),
		Enabled: boolp(k.State == stateEnabled), Description: str(k.Description), KeyUsage: str(encryptDecrypt),
		KeyState: str(k.State), Origin: str(originAWSKMS), KeyManager: str(k.Manager),
		CustomerMasterKeySpec: str(symmetricDefault), KeySpec: str(symmetricDefault),
		EncryptionAlgorithms: []string{symmetricDefault}, MultiRegion: boolp(false),
		CurrentKeyMaterialId: str(k.MaterialID),
	}
	if k.State == statePendingDeletion {
		m.DeletionDate = timep(k.DeletionDate)
		m.PendingDeletionWindowInDays = &k.PendingDays
	}
	return m
}

func str(s string) *string         { return &s }
func boolp(b bool) *bool           { return &b }
func timep(t time.Time) *time.Time { return &t }
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
