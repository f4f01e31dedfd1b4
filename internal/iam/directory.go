// Package iam owns Overcast's identity records — users, groups, roles, instance profiles, managed policies,
// access keys and STS sessions — and the Directory that the gateway consults on every request to turn an
// access key id into a principal and that principal into the policies that govern it. The IAM API that writes
// these records is internal/service/iam; the policy language is internal/iam/policy. This package does not
// evaluate policies and does not speak any wire protocol.
package iam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Errors of Credentials.
var (
	ErrUnknownKey = errors.New("iam: unknown or inactive access key")
	ErrExpired    = errors.New("iam: session credentials have expired")
)

// RootKey is the access key of an account's root user. Account empty means awsctx.DefaultAccount.
type RootKey struct {
	Account         string
	AccessKeyID     string
	SecretAccessKey string
}

// DefaultRootKey is the root key of a fresh Overcast, the one the AWS tooling's examples use.
var DefaultRootKey = RootKey{Account: awsctx.DefaultAccount, AccessKeyID: "test", SecretAccessKey: "test"}

// Credential is what an access key id resolves to.
type Credential struct {
	Secret       string
	SessionToken string // non-empty for STS credentials; the request must present it
	Expiration   time.Time
	Principal    *awsctx.Principal
}

// Directory resolves credentials and the policies of principals from the store.
type Directory struct {
	st    store.Store
	clock func() time.Time

	mu    sync.RWMutex
	roots map[string]RootKey // by access key id

	parsed   parseCache  // parsed policy documents
	records  recordCache // decoded records of the request path
	lastUsed sync.Map    // access key id -> KeyUse
}

// NewDirectory returns a Directory over st with one root key. A nil clock is time.Now.
func NewDirectory(st store.Store, root RootKey, clock func() time.Time) *Directory {
	if clock == nil {
		clock = time.Now
	}
	d := &Directory{st: st, clock: clock, roots: map[string]RootKey{}}
	d.AddRootKey(root)
	return d
}

// AddRootKey registers the root key of a further account.
func (d *Directory) AddRootKey(k RootKey) {
	if k.Account == "" {
		k.Account = awsctx.DefaultAccount
	}
	d.mu.Lock()
	d.roots[k.AccessKeyID] = k
	d.mu.Unlock()
}

// Now is the directory's clock.
func (d *Directory) Now() time.Time { return d.clock() }

// Store is the store the directory reads.
func (d *Directory) Store() store.Store { return d.st }

// Credentials resolves an access key id: an account's root key, an Active access key of a user, or an STS
// session. Unknown and inactive keys are ErrUnknownKey; sessions past their expiration are ErrExpired.
func (d *Directory) Credentials(ctx context.Context, accessKeyID string) (*Credential, error) {
	d.mu.RLock()
	root, ok := d.roots[accessKeyID]
	d.mu.RUnlock()
	if ok {
		return &Credential{Secret: root.SecretAccessKey, Principal: &awsctx.Principal{
			Account: root.Account, ARN: RootARN(root.Account), Type: "Root", UserID: root.Account,
			AccessKeyID: accessKeyID,
		}}, nil
	}
	switch {
	case strings.HasPrefix(accessKeyID, PrefixAccessKey):
		return d.userCredentials(ctx, accessKeyID)
	case strings.HasPrefix(accessKeyID, PrefixSessionKey):
		return d.sessionCredentials(ctx, accessKeyID)
	}
	return nil, ErrUnknownKey
}

func (d *Directory) userCredentials(ctx context.Context, id string) (*Credential, error) {
	idx, _, err := cached[AccessKeyIndex](ctx, d, AccessKeyKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownKey
	}
	if err != nil {
		return nil, err
	}
	u, _, err := cached[User](ctx, d, UserKey(idx.Account, idx.UserName))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownKey
	}
	if err != nil {
		return nil, err
	}
	k := u.Key(id)
	if k == nil || k.Status != "Active" {
		return nil, ErrUnknownKey
	}
	return &Credential{Secret: k.Secret, Principal: userPrincipal(&u, id)}, nil
}

func userPrincipal(u *User, keyID string) *awsctx.Principal {
	return &awsctx.Principal{
		Account: u.Account, ARN: u.ARN, Type: "User", UserID: u.ID, Name: u.Name, AccessKeyID: keyID,
	}
}

func (d *Directory) sessionCredentials(ctx context.Context, id string) (*Credential, error) {
	s, _, err := cached[Session](ctx, d, SessionKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownKey
	}
	if err != nil {
		return nil, err
	}
	if !d.clock().Before(s.Expiration) {
		return nil, ErrExpired
	}
	name := s.UserName
	if s.Type == "AssumedRole" {
		name = s.RoleName
	}
	return &Credential{
		Secret: s.Secret, SessionToken: s.Token, Expiration: s.Expiration,
		Principal: &awsctx.Principal{
			Account: s.Account, ARN: s.ARN, Type: s.Type, UserID: s.UserID, Name: name,
			AccessKeyID: id, SessionToken: s.Token, RoleARN: s.RoleARN, SessionName: s.SessionName,
			Expiration: s.Expiration,
		},
	}, nil
}

// PutSession records temporary credentials issued by STS.
func (d *Directory) PutSession(ctx context.Context, s Session) error {
	if !strings.HasPrefix(s.AccessKeyID, PrefixSessionKey) {
		return fmt.Errorf("iam: session access key id %q does not start with %s", s.AccessKeyID, PrefixSessionKey)
	}
	op, err := store.PutOp(SessionKey(s.AccessKeyID), s, store.Absent)
	if err != nil {
		return err
	}
	_, err = d.st.Txn(ctx, op)
	return err
}

// Session returns the STS session of a temporary access key id.
func (d *Directory) Session(ctx context.Context, accessKeyID string) (*Session, error) {
	s, _, err := store.Get[Session](ctx, d.st, SessionKey(accessKeyID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownKey
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// User returns the user record; a missing user is NoSuchEntity.
func (d *Directory) User(ctx context.Context, account, userName string) (*User, error) {
	u, _, err := store.Get[User](ctx, d.st, UserKey(account, userName))
	if errors.Is(err, store.ErrNotFound) {
		return nil, NoSuchUser(userName)
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// Role returns the role record; a missing role is NoSuchEntity.
func (d *Directory) Role(ctx context.Context, account, roleName string) (*Role, error) {
	r, _, err := store.Get[Role](ctx, d.st, RoleKey(account, roleName))
	if errors.Is(err, store.ErrNotFound) {
		return nil, NoSuchRole(roleName)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// InstanceProfileByName returns an instance profile of the account.
func (d *Directory) InstanceProfileByName(ctx context.Context, account, name string) (*InstanceProfile, error) {
	p, _, err := store.Get[InstanceProfile](ctx, d.st, InstanceProfileKey(account, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.New(apierr.NotFound, "NoSuchEntity", "Instance Profile %s cannot be found.", name)
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// NoSuchUser is AWS's error for a missing user.
func NoSuchUser(name string) error {
	return apierr.New(apierr.NotFound, "NoSuchEntity", "The user with name %s cannot be found.", name)
}

// NoSuchRole is AWS's error for a missing role.
func NoSuchRole(name string) error {
	return apierr.New(apierr.NotFound, "NoSuchEntity", "The role with name %s cannot be found.", name)
}

// KeyUse is when and where an access key was last used.
type KeyUse struct {
	Time    time.Time
	Service string
	Region  string
}

// NoteKeyUse records that a verified request was signed with the access key; GetAccessKeyLastUsed reports it.
// It is kept in memory only: writing a record on every request would make reads cost a write.
func (d *Directory) NoteKeyUse(accessKeyID, service, region string) {
	if strings.HasPrefix(accessKeyID, PrefixAccessKey) {
		d.lastUsed.Store(accessKeyID, KeyUse{Time: d.clock(), Service: service, Region: region})
	}
}

// LastKeyUse returns the last noted use of an access key.
func (d *Directory) LastKeyUse(accessKeyID string) (KeyUse, bool) {
	v, ok := d.lastUsed.Load(accessKeyID)
	if !ok {
		return KeyUse{}, false
	}
	return v.(KeyUse), true
}

// sessionGrace is how long an expired session is kept so that its use is answered "expired", not "unknown".
const sessionGrace = 24 * time.Hour

// PruneSessions deletes sessions that expired more than a day ago. Whoever runs the directory calls it now and
// then; nothing depends on it for correctness.
func (d *Directory) PruneSessions(ctx context.Context) error {
	cutoff := d.clock().Add(-sessionGrace)
	sessions, recs, err := store.List[Session](ctx, d.st, store.Prefix{Kind: KindSession})
	if err != nil {
		return err
	}
	for i, s := range sessions {
		if s.Expiration.Before(cutoff) {
			_, err := d.st.Txn(ctx, store.Op{Key: recs[i].Key, Delete: true, Expect: recs[i].ModRevision})
			if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}
