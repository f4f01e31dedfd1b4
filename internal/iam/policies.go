package iam

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/iam/policy"
	"github.com/overcast-cloud/overcast/internal/store"
)

// PoliciesFor returns the identity-based policies that govern p — a user's inline and attached policies and
// those of its groups, or a role session's role's — and the session policy to intersect them with (nil when
// there is none). The root user is governed by no identity policy: both results are nil and the caller
// allows it.
func (d *Directory) PoliciesFor(ctx context.Context, p *awsctx.Principal) (identity []*policy.Policy, session *policy.Policy, err error) {
	if p == nil || p.IsRoot() {
		return nil, nil, nil
	}
	switch p.Type {
	case "User":
		identity, err = d.userPolicies(ctx, p.Account, p.Name)
	case "AssumedRole":
		identity, err = d.rolePolicies(ctx, p.Account, p.Name)
	}
	if err != nil {
		return nil, nil, err
	}
	if strings.HasPrefix(p.AccessKeyID, PrefixSessionKey) {
		session, err = d.sessionPolicy(ctx, p.AccessKeyID)
	}
	return identity, session, err
}

func (d *Directory) userPolicies(ctx context.Context, account, name string) ([]*policy.Policy, error) {
	u, rec, err := cached[User](ctx, d, UserKey(account, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out, err := d.entityPolicies(ctx, nil, rec, &u.Policies)
	if err != nil {
		return nil, err
	}
	for _, g := range u.Groups {
		grp, grec, err := cached[Group](ctx, d, GroupKey(account, g))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if out, err = d.entityPolicies(ctx, out, grec, &grp.Policies); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *Directory) rolePolicies(ctx context.Context, account, name string) ([]*policy.Policy, error) {
	r, rec, err := cached[Role](ctx, d, RoleKey(account, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // a session outlives its deleted role but is granted nothing
	}
	if err != nil {
		return nil, err
	}
	return d.entityPolicies(ctx, nil, rec, &r.Policies)
}

// entityPolicies appends the parsed inline and attached policies of the entity read as rec.
func (d *Directory) entityPolicies(ctx context.Context, out []*policy.Policy, rec store.Record, ps *Policies) ([]*policy.Policy, error) {
	for name, doc := range ps.Inline {
		p, err := d.parsed.parse(docKey{rec.Key, rec.ModRevision, "inline:" + name}, doc)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	for _, arn := range ps.Attached {
		p, err := d.managedDocument(ctx, arn)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// managedDocument returns the parsed default version of a managed policy, or store.ErrNotFound.
func (d *Directory) managedDocument(ctx context.Context, arn string) (*policy.Policy, error) {
	if mp := AWSManagedPolicy(arn); mp != nil {
		return d.parsed.parse(docKey{store.Key{Kind: "aws-managed", ID: arn}, 0, mp.DefaultVersion}, mp.DefaultDocument())
	}
	account, _, name, ok := ParsePolicyARN(arn)
	if !ok {
		return nil, store.ErrNotFound
	}
	mp, rec, err := cached[ManagedPolicy](ctx, d, PolicyKey(account, name))
	if err != nil {
		return nil, err
	}
	if mp.ARN != arn {
		return nil, store.ErrNotFound
	}
	return d.parsed.parse(docKey{rec.Key, rec.ModRevision, mp.DefaultVersion}, mp.DefaultDocument())
}

func (d *Directory) sessionPolicy(ctx context.Context, accessKeyID string) (*policy.Policy, error) {
	s, rec, err := cached[Session](ctx, d, SessionKey(accessKeyID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	docs := make([]string, 0, 1+len(s.SessionPolicyARNs))
	if s.SessionPolicy != "" {
		docs = append(docs, s.SessionPolicy)
	}
	for _, arn := range s.SessionPolicyARNs {
		mp, _, err := d.ManagedPolicy(ctx, arn)
		if err != nil {
			continue // a deleted managed session policy grants nothing
		}
		docs = append(docs, mp.DefaultDocument())
	}
	if len(docs) == 0 {
		return nil, nil
	}
	k := docKey{rec.Key, rec.ModRevision, "session"}
	if len(docs) == 1 {
		return d.parsed.parse(k, docs[0])
	}
	merged, err := mergeStatements(docs)
	if err != nil {
		return nil, err
	}
	return d.parsed.parse(k, merged)
}

// mergeStatements joins the statements of several policies into one document. A session's inline and
// managed session policies together bound it: an action is within the session if any of them allows it and
// none denies it, which is what one policy holding all their statements says.
func mergeStatements(docs []string) (string, error) {
	var all []json.RawMessage
	for _, doc := range docs {
		var p struct {
			Statement json.RawMessage
		}
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			return "", err
		}
		if len(p.Statement) > 0 && p.Statement[0] == '[' {
			var list []json.RawMessage
			if err := json.Unmarshal(p.Statement, &list); err != nil {
				return "", err
			}
			all = append(all, list...)
		} else if len(p.Statement) > 0 {
			all = append(all, p.Statement)
		}
	}
	b, err := json.Marshal(map[string]any{"Version": policy.Version2012, "Statement": all})
	return string(b), err
}

// ManagedPolicy returns the managed policy with arn, from the AWS catalogue or the store, and the revision it
// was read at (0 for AWS's). A missing policy is NoSuchEntity.
func (d *Directory) ManagedPolicy(ctx context.Context, arn string) (*ManagedPolicy, int64, error) {
	if mp := AWSManagedPolicy(arn); mp != nil {
		return mp, 0, nil
	}
	account, _, name, ok := ParsePolicyARN(arn)
	if ok && account != AWSAccount {
		mp, rec, err := store.Get[ManagedPolicy](ctx, d.st, PolicyKey(account, name))
		if err == nil && mp.ARN == arn {
			return &mp, rec.ModRevision, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, 0, err
		}
	}
	return nil, 0, apierr.New(apierr.NotFound, "NoSuchEntity", "Policy %s does not exist or is not attachable.", arn)
}

// ManagedPolicyDocument returns the default version's document of a managed policy that account can use:
// AWS's, or one of the account's own. A missing policy is NoSuchEntity.
func (d *Directory) ManagedPolicyDocument(ctx context.Context, account, arn string) (string, error) {
	mp, _, err := d.ManagedPolicy(ctx, arn)
	if err != nil {
		return "", err
	}
	if !mp.IsAWSManaged() && mp.Account != account {
		return "", apierr.New(apierr.NotFound, "NoSuchEntity", "Policy %s does not exist or is not attachable.", arn)
	}
	return mp.DefaultDocument(), nil
}

// PrincipalTags returns the tags of p for aws:PrincipalTag conditions: a user's tags, or a role session's role
// tags overridden by its session tags.
func (d *Directory) PrincipalTags(ctx context.Context, p *awsctx.Principal) (map[string]string, error) {
	if p == nil || p.IsRoot() {
		return nil, nil
	}
	var tags []Tag
	switch p.Type {
	case "User":
		u, _, err := cached[User](ctx, d, UserKey(p.Account, p.Name))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		tags = u.Tags
	case "AssumedRole":
		r, _, err := cached[Role](ctx, d, RoleKey(p.Account, p.Name))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		tags = r.Tags
	}
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		out[t.Key] = t.Value
	}
	if strings.HasPrefix(p.AccessKeyID, PrefixSessionKey) {
		s, _, err := cached[Session](ctx, d, SessionKey(p.AccessKeyID))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		for k, v := range s.Tags {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// docKey names a document by where it was read: the record, the revision it was read at and the document's
// place in the record. A rewrite of the record bumps its revision, so a stale parse is never found again.
type docKey struct {
	key  store.Key
	rev  int64
	name string
}

// maxParsed bounds the cache; past it the cache starts over, which also drops parses of old revisions.
const maxParsed = 8192

// parseCache keeps parsed policies, because parsing on every request would dominate the gateway's cost.
type parseCache struct {
	mu sync.RWMutex
	m  map[docKey]*policy.Policy
}

func (c *parseCache) parse(k docKey, doc string) (*policy.Policy, error) {
	c.mu.RLock()
	p, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	p, err := policy.Parse(doc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxParsed {
		c.m = make(map[docKey]*policy.Policy)
	}
	c.m[k] = p
	c.mu.Unlock()
	return p, nil
}
