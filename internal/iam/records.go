package iam

import (
	"strings"
	"time"

	"github.com/overcast-cloud/overcast/internal/store"
)

// Record kinds. Entities are keyed by their lower-cased name because IAM names are unique without regard to
// case; the record keeps the name as it was given.
const (
	KindUser            = "iam/user"
	KindGroup           = "iam/group"
	KindRole            = "iam/role"
	KindInstanceProfile = "iam/instance-profile"
	KindPolicy          = "iam/policy"
	// KindAccessKey and KindSession are indexes in the global scope (Account ""): a signed request names
	// only its access key id, so the key must lead to its account before anything account-scoped is read.
	KindAccessKey = "iam/access-key"
	KindSession   = "iam/session"
)

// Tag is a key and value on an IAM resource, kept in the order they were added.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Policies are the policies an entity carries: inline documents by name and attached managed policy ARNs.
type Policies struct {
	Inline   map[string]string `json:"inline,omitempty"`
	Attached []string          `json:"attached,omitempty"`
}

// HasAny reports whether any policy is inline or attached.
func (p *Policies) HasAny() bool { return len(p.Inline) > 0 || len(p.Attached) > 0 }

// IsAttached reports whether the managed policy arn is attached.
func (p *Policies) IsAttached(arn string) bool {
	for _, a := range p.Attached {
		if a == arn {
			return true
		}
	}
	return false
}

// User is an IAM user.
type User struct {
	Account             string        `json:"account"`
	Name                string        `json:"name"`
	Path                string        `json:"path"`
	ID                  string        `json:"id"`
	ARN                 string        `json:"arn"`
	Created             time.Time     `json:"created"`
	Tags                []Tag         `json:"tags,omitempty"`
	Groups              []string      `json:"groups,omitempty"` // group names
	Policies                          // inline and attached
	AccessKeys          []AccessKey   `json:"accessKeys,omitempty"`
	LoginProfile        *LoginProfile `json:"loginProfile,omitempty"`
	PermissionsBoundary string        `json:"permissionsBoundary,omitempty"`
	PasswordLastUsed    time.Time     `json:"passwordLastUsed,omitzero"`
}

// InGroup reports whether the user is a member of the named group.
func (u *User) InGroup(group string) bool {
	for _, g := range u.Groups {
		if strings.EqualFold(g, group) {
			return true
		}
	}
	return false
}

// AccessKey is a user's long-term credential. The secret is kept because SigV4 verification needs it.
type AccessKey struct {
	ID      string    `json:"id"`
	Secret  string    `json:"secret"`
	Status  string    `json:"status"` // Active or Inactive
	Created time.Time `json:"created"`
}

// Key returns the user's access key with id, or nil.
func (u *User) Key(id string) *AccessKey {
	for i := range u.AccessKeys {
		if u.AccessKeys[i].ID == id {
			return &u.AccessKeys[i]
		}
	}
	return nil
}

// LoginProfile is a user's console password, stored as a salted PBKDF2 hash.
type LoginProfile struct {
	Created       time.Time `json:"created"`
	Salt          []byte    `json:"salt"`
	Hash          []byte    `json:"hash"`
	Iterations    int       `json:"iterations"`
	ResetRequired bool      `json:"resetRequired,omitempty"`
}

// Group is an IAM group. Its members are recorded on the users, so that a user's policies are one read away.
type Group struct {
	Account  string    `json:"account"`
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	ID       string    `json:"id"`
	ARN      string    `json:"arn"`
	Created  time.Time `json:"created"`
	Policies           // inline and attached
}

// Role is an IAM role.
type Role struct {
	Account             string    `json:"account"`
	Name                string    `json:"name"`
	Path                string    `json:"path"`
	ID                  string    `json:"id"`
	ARN                 string    `json:"arn"`
	Created             time.Time `json:"created"`
	Description         string    `json:"description,omitempty"`
	TrustPolicy         string    `json:"trustPolicy"`
	MaxSessionDuration  int32     `json:"maxSessionDuration"`
	Tags                []Tag     `json:"tags,omitempty"`
	Policies                      // inline and attached
	PermissionsBoundary string    `json:"permissionsBoundary,omitempty"`
}

// InstanceProfile is a container for at most one role that EC2 hands to an instance.
type InstanceProfile struct {
	Account string    `json:"account"`
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	ID      string    `json:"id"`
	ARN     string    `json:"arn"`
	Created time.Time `json:"created"`
	Roles   []string  `json:"roles,omitempty"` // role names
	Tags    []Tag     `json:"tags,omitempty"`
}

// ManagedPolicy is a customer-managed policy with its versions, or (Account "aws") one of the catalogue's.
type ManagedPolicy struct {
	Account        string          `json:"account"`
	Name           string          `json:"name"`
	Path           string          `json:"path"`
	ID             string          `json:"id"`
	ARN            string          `json:"arn"`
	Description    string          `json:"description,omitempty"`
	Created        time.Time       `json:"created"`
	Updated        time.Time       `json:"updated"`
	DefaultVersion string          `json:"defaultVersion"`
	Versions       []PolicyVersion `json:"versions"`
	NextVersion    int             `json:"nextVersion"` // the number of the next version id; AWS never reuses one
	Tags           []Tag           `json:"tags,omitempty"`
}

// PolicyVersion is one version of a managed policy's document.
type PolicyVersion struct {
	ID       string    `json:"id"` // v1, v2, ...
	Document string    `json:"document"`
	Created  time.Time `json:"created"`
}

// IsAWSManaged reports whether the policy is from the AWS catalogue.
func (p *ManagedPolicy) IsAWSManaged() bool { return p.Account == AWSAccount }

// Version returns the version with id, or nil.
func (p *ManagedPolicy) Version(id string) *PolicyVersion {
	for i := range p.Versions {
		if p.Versions[i].ID == id {
			return &p.Versions[i]
		}
	}
	return nil
}

// DefaultDocument is the document of the default version.
func (p *ManagedPolicy) DefaultDocument() string {
	if v := p.Version(p.DefaultVersion); v != nil {
		return v.Document
	}
	return ""
}

// AccessKeyIndex leads from an access key id to the user that owns it.
type AccessKeyIndex struct {
	Account  string `json:"account"`
	UserName string `json:"userName"`
}

// Session is a set of temporary credentials issued by STS.
type Session struct {
	AccessKeyID string `json:"accessKeyId"` // ASIA...
	Secret      string `json:"secret"`
	Token       string `json:"token"`
	Account     string `json:"account"`
	// Type is the principal type of the session: "AssumedRole", or "User"/"Root" for GetSessionToken.
	Type        string            `json:"type"`
	ARN         string            `json:"arn"`    // the principal ARN callers see in GetCallerIdentity
	UserID      string            `json:"userId"` // AROA...:<session>, or the user's id
	UserName    string            `json:"userName,omitempty"`
	RoleARN     string            `json:"roleArn,omitempty"`
	RoleName    string            `json:"roleName,omitempty"`
	SessionName string            `json:"sessionName,omitempty"`
	Expiration  time.Time         `json:"expiration"`
	Tags        map[string]string `json:"tags,omitempty"` // session tags; they override the role's tags
	// SessionPolicy is the inline session policy passed to AssumeRole, intersected with the role's.
	SessionPolicy string `json:"sessionPolicy,omitempty"`
	// SessionPolicyARNs are managed session policies, which also bound the session.
	SessionPolicyARNs []string `json:"sessionPolicyArns,omitempty"`
}

// Keys of records.

func nameID(name string) string { return strings.ToLower(name) }

// UserKey is the key of a user record.
func UserKey(account, name string) store.Key {
	return store.Key{Account: account, Kind: KindUser, ID: nameID(name)}
}

// GroupKey is the key of a group record.
func GroupKey(account, name string) store.Key {
	return store.Key{Account: account, Kind: KindGroup, ID: nameID(name)}
}

// RoleKey is the key of a role record.
func RoleKey(account, name string) store.Key {
	return store.Key{Account: account, Kind: KindRole, ID: nameID(name)}
}

// InstanceProfileKey is the key of an instance profile record.
func InstanceProfileKey(account, name string) store.Key {
	return store.Key{Account: account, Kind: KindInstanceProfile, ID: nameID(name)}
}

// PolicyKey is the key of a customer-managed policy record. Names are unique in an account whatever the path.
func PolicyKey(account, name string) store.Key {
	return store.Key{Account: account, Kind: KindPolicy, ID: nameID(name)}
}

// AccessKeyKey is the key of an access key's index record.
func AccessKeyKey(id string) store.Key { return store.Key{Kind: KindAccessKey, ID: id} }

// SessionKey is the key of an STS session record.
func SessionKey(accessKeyID string) store.Key { return store.Key{Kind: KindSession, ID: accessKeyID} }

// AccountPrefix selects an account's records of one kind.
func AccountPrefix(account, kind string) store.Prefix {
	return store.Prefix{Account: account, Kind: kind}
}
