package policy

import (
	"testing"
)

type principalCase struct {
	name      string
	principal string
	context   map[string][]string
	want      Decision
}

func runTrust(t *testing.T, doc, action string, cases []principalCase) {
	t.Helper()
	p := mustParse(t, doc)
	if err := ValidateTrust(p); err != nil && action == "sts:AssumeRole" {
		t.Fatalf("ValidateTrust: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := EvaluateResource(p, Request{Action: action, Principal: c.principal, Context: c.context,
				Resources: []string{"arn:aws:iam::123456789012:role/app"}})
			if got.Decision != c.want {
				t.Errorf("EvaluateResource(%q) = %v, want %v", c.principal, got.Decision, c.want)
			}
		})
	}
}

func TestTrustPolicies(t *testing.T) {
	runTrust(t, `{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
		"Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}, "Action": "sts:AssumeRole"}}`,
		"sts:AssumeRole", []principalCase{
			{"ec2", "ec2.amazonaws.com", nil, Allow},
			{"lambda", "lambda.amazonaws.com", nil, Allow},
			{"ecs tasks", "ecs-tasks.amazonaws.com", nil, ImplicitDeny},
			{"a user", "arn:aws:iam::123456789012:user/alice", nil, ImplicitDeny},
			{"anonymous", "", nil, ImplicitDeny},
		})

	// The account, by id or root ARN: every principal of that account, none of another.
	for _, account := range []string{`"123456789012"`, `"arn:aws:iam::123456789012:root"`} {
		runTrust(t, `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": `+account+`},
			"Action": "sts:AssumeRole"}}`, "sts:AssumeRole", []principalCase{
			{"user", "arn:aws:iam::123456789012:user/alice", nil, Allow},
			{"role session", "arn:aws:sts::123456789012:assumed-role/ops/alice", nil, Allow},
			{"root", "arn:aws:iam::123456789012:root", nil, Allow},
			{"other account", "arn:aws:iam::210987654321:user/alice", nil, ImplicitDeny},
			{"service", "ec2.amazonaws.com", nil, ImplicitDeny},
		})
	}

	// A role ARN names the role's sessions (whose ARN has no path); a user ARN names that user only.
	runTrust(t, `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:role/teams/ops", "arn:aws:iam::210987654321:user/bob"]},
		 "Action": ["sts:AssumeRole", "sts:TagSession"]}]}`, "sts:AssumeRole", []principalCase{
		{"session of the role", "arn:aws:sts::123456789012:assumed-role/ops/deploy-42", nil, Allow},
		{"the role itself", "arn:aws:iam::123456789012:role/teams/ops", nil, Allow},
		{"session of another role", "arn:aws:sts::123456789012:assumed-role/ops2/x", nil, ImplicitDeny},
		{"same role name elsewhere", "arn:aws:sts::999999999999:assumed-role/ops/x", nil, ImplicitDeny},
		{"the user", "arn:aws:iam::210987654321:user/bob", nil, Allow},
		{"another user", "arn:aws:iam::210987654321:user/bobby", nil, ImplicitDeny},
		{"user's account root", "arn:aws:iam::210987654321:root", nil, ImplicitDeny},
	})

	// Everyone, narrowed by a condition (cross-account with an external id).
	runTrust(t, `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "*"},
		"Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "Unique1234"}}}}`,
		"sts:AssumeRole", []principalCase{
			{"right external id", "arn:aws:iam::555555555555:user/x", ctx("sts:ExternalId", "Unique1234"), Allow},
			{"wrong external id", "arn:aws:iam::555555555555:user/x", ctx("sts:ExternalId", "nope"), ImplicitDeny},
			{"no external id", "arn:aws:iam::555555555555:user/x", nil, ImplicitDeny},
		})

	// Web identity federation.
	runTrust(t, `{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
		"Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
		"Action": "sts:AssumeRoleWithWebIdentity",
		"Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}}}}`,
		"sts:AssumeRoleWithWebIdentity", []principalCase{
			{"provider and subject", "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
				ctx("token.actions.githubusercontent.com:sub", "repo:acme/web:ref:refs/heads/main"), Allow},
			{"other subject", "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
				ctx("token.actions.githubusercontent.com:sub", "repo:evil/web"), ImplicitDeny},
		})

	// The action must match: a trust policy for AssumeRole does not allow AssumeRoleWithSAML.
	runTrust(t, `{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}}`,
		"sts:AssumeRoleWithSAML", []principalCase{{"other action", "arn:aws:iam::123456789012:user/a", nil, ImplicitDeny}})
}

func TestResourcePolicies(t *testing.T) {
	// A bucket policy: public read, except from one account, and a statement without a principal that
	// names no one.
	p := mustParse(t, `{"Version": "2012-10-17", "Statement": [
		{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"},
		{"Sid": "Writers", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/writer"},
		 "Action": "s3:PutObject", "Resource": "arn:aws:s3:::site/*"},
		{"Sid": "DenyAllButAdmin", "Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::123456789012:user/admin"]},
		 "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::site"}]}`)
	if err := ValidateResource(p); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, action, resource, principal string
		want                              Decision
	}{
		{"anonymous read", "s3:GetObject", "arn:aws:s3:::site/index.html", "", Allow},
		{"user read", "s3:GetObject", "arn:aws:s3:::site/index.html", "arn:aws:iam::999999999999:user/x", Allow},
		{"anonymous write", "s3:PutObject", "arn:aws:s3:::site/index.html", "", ImplicitDeny},
		{"writer write", "s3:PutObject", "arn:aws:s3:::site/index.html", "arn:aws:iam::123456789012:user/writer", Allow},
		{"other user write", "s3:PutObject", "arn:aws:s3:::site/index.html", "arn:aws:iam::123456789012:user/reader", ImplicitDeny},
		{"NotPrincipal denies others", "s3:DeleteBucket", "arn:aws:s3:::site", "arn:aws:iam::123456789012:user/writer", ExplicitDeny},
		{"NotPrincipal denies anonymous", "s3:DeleteBucket", "arn:aws:s3:::site", "", ExplicitDeny},
		{"NotPrincipal spares the admin", "s3:DeleteBucket", "arn:aws:s3:::site", "arn:aws:iam::123456789012:user/admin", ImplicitDeny},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := EvaluateResource(p, Request{Action: c.action, Resources: []string{c.resource}, Principal: c.principal})
			if got.Decision != c.want {
				t.Errorf("got %v (%+v), want %v", got.Decision, got.Statement, c.want)
			}
		})
	}

	// Evaluate, for identity policies, does not consult Principal: a resource policy's statements apply to
	// anyone there.
	if r := Evaluate([]*Policy{p}, Request{Action: "s3:PutObject", Resources: []string{"arn:aws:s3:::site/a"}}); !r.Allowed() {
		t.Errorf("Evaluate ignoring principals = %v", r.Decision)
	}
}
