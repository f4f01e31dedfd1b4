// Package sts is AWS Security Token Service: who the caller is, and temporary credentials for roles and users.
// It reads roles and writes sessions through the IAM directory and evaluates trust policies with the policy
// package; it holds no records of its own.
package sts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	api "github.com/overcast-cloud/overcast/api/sts"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/iam/policy"
)

// Directory is what STS needs of IAM.
type Directory interface {
	Role(ctx context.Context, account, name string) (*iam.Role, error)
	PutSession(ctx context.Context, s iam.Session) error
	ManagedPolicyDocument(ctx context.Context, account, arn string) (string, error)
}

// Service implements api/sts.Service.
type Service struct {
	api.Unimplemented
	dir   Directory
	clock func() time.Time
}

// New returns the STS service.
func New(dir Directory, clock func() time.Time) *Service {
	if clock == nil {
		clock = time.Now
	}
	return &Service{dir: dir, clock: clock}
}

var _ api.Service = (*Service)(nil)

// GetCallerIdentity answers for every authenticated caller.
func (s *Service) GetCallerIdentity(ctx context.Context, _ *api.GetCallerIdentityRequest) (*api.GetCallerIdentityResponse, error) {
	p := awsctx.From(ctx).Principal
	if p == nil {
		return nil, apierr.New(apierr.Unauthenticated, "", "the request has no principal")
	}
	return &api.GetCallerIdentityResponse{Account: &p.Account, Arn: &p.ARN, UserId: &p.UserID}, nil
}

// AssumeRole hands out temporary credentials for a role whose trust policy allows the caller.
func (s *Service) AssumeRole(ctx context.Context, in *api.AssumeRoleRequest) (*api.AssumeRoleResponse, error) {
	req := awsctx.From(ctx)
	caller := req.Principal
	roleARN, session := deref(in.RoleArn), deref(in.RoleSessionName)
	account, roleName, ok := parseRoleARN(roleARN)
	if !ok {
		return nil, apierr.New(apierr.Invalid, "ValidationError", "%s is invalid", roleARN)
	}
	role, err := s.dir.Role(ctx, account, roleName)
	if err != nil || !strings.EqualFold(role.ARN, roleARN) && !strings.HasSuffix(roleARN, ":role/"+role.Name) {
		return nil, notAuthorized(caller, roleARN)
	}
	trust, err := policy.Parse(role.TrustPolicy)
	if err != nil {
		return nil, notAuthorized(caller, roleARN)
	}
	cond := map[string][]string{
		"aws:principalarn":     {caller.ARN},
		"aws:principalaccount": {caller.Account},
		"aws:sourceip":         {req.SourceIP},
		"aws:currenttime":      {s.clock().UTC().Format(time.RFC3339)},
		"sts:rolesessionname":  {session},
	}
	if in.ExternalId != nil {
		cond["sts:externalid"] = []string{*in.ExternalId}
	}
	if policy.EvaluateResource(trust, policy.Request{Action: "sts:AssumeRole", Resources: []string{role.ARN}, Principal: caller.ARN, Context: cond}).Decision != policy.Allow {
		return nil, notAuthorized(caller, roleARN)
	}
	duration := int32(3600)
	if in.DurationSeconds != nil {
		duration = *in.DurationSeconds
	}
	maxDur := role.MaxSessionDuration
	if maxDur == 0 {
		maxDur = 3600
	}
	if caller.Type == "AssumedRole" && duration > 3600 {
		return nil, apierr.New(apierr.Invalid, "ValidationError",
			"The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if duration > maxDur {
		return nil, apierr.New(apierr.Invalid, "ValidationError",
			"The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	sessionPolicy, err := s.sessionPolicy(ctx, account, in.Policy, in.PolicyArns)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	sess := iam.Session{
		AccessKeyID: newID("ASIA", 16), Secret: newSecret(), Token: newToken(),
		Account: account, Type: "AssumedRole",
		ARN:    "arn:aws:sts::" + account + ":assumed-role/" + role.Name + "/" + session,
		UserID: role.ID + ":" + session, RoleARN: role.ARN, RoleName: role.Name, SessionName: session,
		Expiration: now.Add(time.Duration(duration) * time.Second).UTC().Truncate(time.Second), SessionPolicy: sessionPolicy,
	}
	if err := s.dir.PutSession(ctx, sess); err != nil {
		return nil, err
	}
	return &api.AssumeRoleResponse{
		AssumedRoleUser: &api.AssumedRoleUser{Arn: &sess.ARN, AssumedRoleId: &sess.UserID},
		Credentials:     credentials(sess),
		PackedPolicySize: func() *int32 {
			if sessionPolicy == "" {
				return nil
			}
			n := int32(len(sessionPolicy) * 100 / 2048)
			return &n
		}(),
		SourceIdentity: in.SourceIdentity,
	}, nil
}

// GetSessionToken hands out temporary credentials with the caller's own permissions.
func (s *Service) GetSessionToken(ctx context.Context, in *api.GetSessionTokenRequest) (*api.GetSessionTokenResponse, error) {
	caller := awsctx.From(ctx).Principal
	if caller.SessionToken != "" {
		return nil, apierr.New(apierr.AccessDenied, "AccessDenied", "Cannot call GetSessionToken with session credentials")
	}
	duration := int32(43200)
	if in.DurationSeconds != nil {
		duration = *in.DurationSeconds
	}
	if caller.IsRoot() && duration > 3600 {
		duration = 3600
	}
	sess := iam.Session{
		AccessKeyID: newID("ASIA", 16), Secret: newSecret(), Token: newToken(),
		Account: caller.Account, Type: caller.Type, ARN: caller.ARN, UserID: caller.UserID,
		UserName:   caller.Name,
		Expiration: s.clock().Add(time.Duration(duration) * time.Second).UTC().Truncate(time.Second),
	}
	if err := s.dir.PutSession(ctx, sess); err != nil {
		return nil, err
	}
	return &api.GetSessionTokenResponse{Credentials: credentials(sess)}, nil
}

// sessionPolicy validates the inline session policy and joins it with the managed ones into one document.
func (s *Service) sessionPolicy(ctx context.Context, account string, inline *string, arns []api.PolicyDescriptorType) (string, error) {
	var docs []string
	if inline != nil && *inline != "" {
		p, err := policy.Parse(*inline)
		if err != nil {
			return "", apierr.New(apierr.Invalid, "MalformedPolicyDocument", "%v", err)
		}
		if err := policy.ValidateIdentity(p); err != nil {
			return "", apierr.New(apierr.Invalid, "MalformedPolicyDocument", "%v", err)
		}
		docs = append(docs, *inline)
	}
	for _, d := range arns {
		doc, err := s.dir.ManagedPolicyDocument(ctx, account, deref(d.Arn))
		if err != nil {
			return "", apierr.New(apierr.Invalid, "InvalidParameterValue", "Policy %s does not exist or is not attachable.", deref(d.Arn))
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		return "", nil
	}
	return joinPolicies(docs)
}

// joinPolicies makes one document of the statements of several: together, session policies allow what any
// of them allows.
func joinPolicies(docs []string) (string, error) {
	if len(docs) == 1 {
		return docs[0], nil
	}
	var all []json.RawMessage
	for _, d := range docs {
		var doc struct {
			Statement json.RawMessage
		}
		if err := json.Unmarshal([]byte(d), &doc); err != nil {
			return "", apierr.New(apierr.Invalid, "MalformedPolicyDocument", "Syntax errors in policy.")
		}
		var list []json.RawMessage
		if err := json.Unmarshal(doc.Statement, &list); err != nil {
			list = []json.RawMessage{doc.Statement}
		}
		all = append(all, list...)
	}
	out, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": all})
	return string(out), err
}

func credentials(s iam.Session) *api.Credentials {
	exp := s.Expiration
	return &api.Credentials{AccessKeyId: &s.AccessKeyID, SecretAccessKey: &s.Secret, SessionToken: &s.Token, Expiration: &exp}
}

func notAuthorized(caller *awsctx.Principal, roleARN string) error {
	return apierr.New(apierr.AccessDenied, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.ARN, roleARN)
}

// parseRoleARN splits arn:aws:iam::<account>:role/<path/><name>.
func parseRoleARN(arn string) (account, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") {
		return "", "", false
	}
	res := parts[5]
	return parts[4], res[strings.LastIndexByte(res, '/')+1:], parts[4] != ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func newID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return prefix + string(b)
}

func newSecret() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func newToken() string {
	b := make([]byte, 96)
	_, _ = rand.Read(b)
	return "IQoJb3JpZ2luX2VjE" + base64.StdEncoding.EncodeToString(b)
}
