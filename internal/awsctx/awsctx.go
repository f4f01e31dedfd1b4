// Package awsctx carries the facts of one API call through context.Context: the account and region it acts
// in, the principal that signed it and the request id. The gateway puts them in; services read them.
package awsctx

import (
	"context"
	"time"
)

// Principal is the identity a request was signed by.
type Principal struct {
	Account string
	// ARN is the principal's ARN: arn:aws:iam::<acct>:root, :user/<path><name>, or
	// arn:aws:sts::<acct>:assumed-role/<role>/<session>.
	ARN string
	// Type is "Root", "User" or "AssumedRole".
	Type string
	// UserID is the unique id AWS shows in GetCallerIdentity: the account for root, AIDA... for users,
	// AROA...:<session> for role sessions.
	UserID      string
	Name        string // user name, or role name for a role session
	AccessKeyID string
	// SessionToken is set for temporary credentials.
	SessionToken string
	// RoleARN is the role of an assumed-role session.
	RoleARN     string
	SessionName string
	Expiration  time.Time
}

// IsRoot reports whether the principal is the account's root user.
func (p *Principal) IsRoot() bool { return p != nil && p.Type == "Root" }

// Request is the call's context.
type Request struct {
	Account   string
	Region    string
	RequestID string
	Principal *Principal
	SourceIP  string
	Secure    bool // TLS
	Time      time.Time
}

type key struct{}

// With returns ctx carrying r.
func With(ctx context.Context, r *Request) context.Context { return context.WithValue(ctx, key{}, r) }

// From returns the request in ctx; a context without one gives the default account and region, which is what
// internal callers (controllers, tests) act as.
func From(ctx context.Context) *Request {
	if r, ok := ctx.Value(key{}).(*Request); ok {
		return r
	}
	return &Request{Account: DefaultAccount, Region: DefaultRegion}
}

// Defaults of a fresh Overcast.
const (
	DefaultAccount = "000000000000"
	DefaultRegion  = "us-east-1"
)
