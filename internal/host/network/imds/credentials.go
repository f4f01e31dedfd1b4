package imds

import (
	"context"
	"sync"
	"time"

	"github.com/overcast-cloud/overcast/internal/apierr"
)

// Credentials issues the temporary credentials of a role to an instance. The error classes matter to the
// handler: apierr.NotFound (no such role) is a 404, apierr.AccessDenied (the role's trust policy does not let
// EC2 assume it) is AWS's AssumeRoleUnauthorizedAccess answer, anything else is a fault.
type Credentials interface {
	RoleCredentials(ctx context.Context, account, roleName, sessionName string, duration time.Duration) (accessKeyID, secret, token string, expiration time.Time, err error)
}

// Rotation defaults. AWS issues instance-role sessions of about six hours and makes the next set available
// well before the current one expires; the SDKs refresh within their own 5–15 minute windows, so new
// credentials must be on offer by then.
const (
	DefaultCredentialTTL = 6 * time.Hour
	DefaultRefreshBefore = 15 * time.Minute
)

// roleCredentials is one issued set, as iam/security-credentials/<role> shows it.
type roleCredentials struct {
	role        string
	accessKeyID string
	secret      string
	token       string
	expiration  time.Time
	lastUpdated time.Time
}

// credKey names a cached set. AWS hands IMDSv1 and IMDSv2 callers different credentials (so that the
// ec2:RoleDelivery key can tell them apart), so the cache keeps them apart too.
type credKey struct {
	instanceID string
	v2         bool
}

type credEntry struct {
	mu  sync.Mutex // held while issuing, so concurrent first requests share one session
	cur *roleCredentials
}

// credCache serves each instance the same credentials until less than refreshBefore is left of them, then
// issues the next set. The set it replaces is not revoked: it stays valid until its own expiration, as AWS's do.
type credCache struct {
	issuer        Credentials
	clock         func() time.Time
	ttl           time.Duration
	refreshBefore time.Duration

	mu        sync.Mutex
	entries   map[credKey]*credEntry
	lastSweep time.Time
}

func (c *credCache) entry(k credKey) *credEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked()
	e := c.entries[k]
	if e == nil {
		e = &credEntry{}
		c.entries[k] = e
	}
	return e
}

// get returns the instance's credentials for its current role, issuing them when there are none, when they
// are for another role, or when they are about to expire.
func (c *credCache) get(ctx context.Context, inst *Instance, v2 bool) (*roleCredentials, error) {
	e := c.entry(credKey{inst.InstanceID, v2})
	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.clock()
	cur := e.cur
	if cur != nil && cur.role == inst.RoleName && cur.expiration.Sub(now) >= c.refreshBefore {
		return cur, nil
	}
	id, secret, token, exp, err := c.issuer.RoleCredentials(ctx, inst.Account, inst.RoleName, inst.InstanceID, c.ttl)
	if err != nil {
		if cur != nil && cur.role == inst.RoleName && now.Before(cur.expiration) &&
			!apierr.Is(err, apierr.NotFound) && !apierr.Is(err, apierr.AccessDenied) {
			// A failed refresh is not a reason to stop serving credentials that still work.
			return cur, nil
		}
		e.cur = nil
		return nil, err
	}
	e.cur = &roleCredentials{
		role: inst.RoleName, accessKeyID: id, secret: secret, token: token,
		expiration: exp, lastUpdated: now,
	}
	return e.cur, nil
}

// drop forgets an instance's credentials: its profile, or the profile's role, is gone.
func (c *credCache) drop(instanceID string) {
	c.mu.Lock()
	delete(c.entries, credKey{instanceID, false})
	delete(c.entries, credKey{instanceID, true})
	c.mu.Unlock()
}

// sweepLocked forgets expired sets now and then, so that terminated instances do not stay in memory.
func (c *credCache) sweepLocked() {
	now := c.clock()
	if now.Sub(c.lastSweep) < c.refreshBefore {
		return
	}
	c.lastSweep = now
	for k, e := range c.entries {
		if !e.mu.TryLock() {
			continue // being issued right now
		}
		if e.cur == nil || !now.Before(e.cur.expiration) {
			delete(c.entries, k)
		}
		e.mu.Unlock()
	}
}
