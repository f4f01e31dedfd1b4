package imds

import (
	"context"
	"strconv"
	"time"

	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/iam/policy"
)

// ec2Principal is the service principal a role's trust policy must name for an instance to assume it.
const ec2Principal = "ec2.amazonaws.com"

// NewIAMCredentials issues instance-role credentials as STS sessions in dir: EC2 assumes the role, and the
// session is named after the instance. The gateway then resolves the session's access key like any
// AssumeRole session, so the role's policies (and their later changes) govern what the instance may do.
// A nil clock is the directory's.
func NewIAMCredentials(dir *iam.Directory, clock func() time.Time) Credentials {
	if clock == nil {
		clock = dir.Now
	}
	return &iamCredentials{dir: dir, clock: clock}
}

type iamCredentials struct {
	dir   *iam.Directory
	clock func() time.Time
}

// RoleCredentials checks that the role exists and trusts ec2.amazonaws.com, then records a session for it.
func (c *iamCredentials) RoleCredentials(ctx context.Context, account, roleName, sessionName string, duration time.Duration) (string, string, string, time.Time, error) {
	role, err := c.dir.Role(ctx, account, roleName)
	if err != nil {
		return "", "", "", time.Time{}, err
	}
	now := c.clock().UTC()
	if !trustsEC2(role, now) {
		return "", "", "", time.Time{}, apierr.New(apierr.AccessDenied, "AssumeRoleUnauthorizedAccess",
			"EC2 cannot assume the role %s.", role.Name)
	}
	s := iam.Session{
		AccessKeyID: iam.NewSessionKeyID(), Secret: iam.NewSecret(), Token: iam.NewSessionToken(),
		Account: account, Type: "AssumedRole",
		ARN:         "arn:aws:sts::" + account + ":assumed-role/" + role.Name + "/" + sessionName,
		UserID:      role.ID + ":" + sessionName,
		RoleARN:     role.ARN,
		RoleName:    role.Name,
		SessionName: sessionName,
		Expiration:  now.Add(duration).Truncate(time.Second),
	}
	if err := c.dir.PutSession(ctx, s); err != nil {
		return "", "", "", time.Time{}, err
	}
	return s.AccessKeyID, s.Secret, s.Token, s.Expiration, nil
}

// trustsEC2 evaluates the role's trust policy for EC2 assuming it. A policy that does not parse trusts no one.
func trustsEC2(role *iam.Role, now time.Time) bool {
	trust, err := policy.Parse(role.TrustPolicy)
	if err != nil {
		return false
	}
	return policy.EvaluateResource(trust, policy.Request{
		Action:    "sts:AssumeRole",
		Resources: []string{role.ARN},
		Principal: ec2Principal,
		Context: map[string][]string{
			"aws:CurrentTime": {now.Format(time.RFC3339)},
			"aws:EpochTime":   {strconv.FormatInt(now.Unix(), 10)},
		},
	}).Allowed()
}
