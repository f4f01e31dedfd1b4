package policy

import (
	"testing"
)

// evalCase is one request against a set of identity policies and the decision AWS would reach.
type evalCase struct {
	name     string
	action   string
	resource []string
	context  map[string][]string
	want     Decision
}

func runEval(t *testing.T, docs []string, cases []evalCase) {
	t.Helper()
	var policies []*Policy
	for _, d := range docs {
		policies = append(policies, mustParse(t, d))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Evaluate(policies, Request{Action: c.action, Resources: c.resource, Context: c.context})
			if got.Decision != c.want {
				t.Errorf("Evaluate(%s on %v) = %v (statement %+v), want %v", c.action, c.resource, got.Decision,
					got.Statement, c.want)
			}
		})
	}
}

func res(arns ...string) []string { return arns }

func TestDenyBeatsAllow(t *testing.T) {
	admin := `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`
	protect := `{"Version": "2012-10-17", "Statement": {"Sid": "ProtectLogs", "Effect": "Deny",
		"Action": ["s3:DeleteBucket", "s3:DeleteObject*"], "Resource": ["arn:aws:s3:::audit-logs", "arn:aws:s3:::audit-logs/*"]}}`
	runEval(t, []string{admin, protect}, []evalCase{
		{"allowed elsewhere", "s3:DeleteObject", res("arn:aws:s3:::scratch/tmp.txt"), nil, Allow},
		{"denied object", "s3:DeleteObject", res("arn:aws:s3:::audit-logs/2024/01.log"), nil, ExplicitDeny},
		{"denied by wildcard action", "s3:DeleteObjectVersion", res("arn:aws:s3:::audit-logs/a"), nil, ExplicitDeny},
		{"denied bucket", "s3:DeleteBucket", res("arn:aws:s3:::audit-logs"), nil, ExplicitDeny},
		{"read still allowed", "s3:GetObject", res("arn:aws:s3:::audit-logs/a"), nil, Allow},
	})
	runEval(t, []string{protect}, []evalCase{
		{"no allow at all", "s3:GetObject", res("arn:aws:s3:::audit-logs/a"), nil, ImplicitDeny},
	})

	// The result names the statement that decided.
	p := []*Policy{mustParse(t, admin), mustParse(t, protect)}
	r := Evaluate(p, Request{Action: "s3:DeleteBucket", Resources: res("arn:aws:s3:::audit-logs")})
	if r.PolicyIndex != 1 || r.Statement == nil || r.Statement.Sid != "ProtectLogs" || r.Resource != "arn:aws:s3:::audit-logs" {
		t.Errorf("result = %+v", r)
	}
	r = Evaluate(p[:1], Request{Action: "ec2:RunInstances"})
	if !r.Allowed() || r.PolicyIndex != 0 || r.Statement != p[0].Statements[0] {
		t.Errorf("result = %+v", r)
	}
	r = Evaluate(nil, Request{Action: "ec2:RunInstances"})
	if r.Decision != ImplicitDeny || r.Statement != nil || r.PolicyIndex != -1 {
		t.Errorf("no policies: %+v", r)
	}
}

func TestNotActionNotResource(t *testing.T) {
	// "Allow everything but IAM", from the NotAction documentation.
	notIAM := `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}}`
	runEval(t, []string{notIAM}, []evalCase{
		{"s3 allowed", "s3:ListAllMyBuckets", nil, nil, Allow},
		{"iam not allowed", "iam:CreateUser", res("arn:aws:iam::123456789012:user/x"), nil, ImplicitDeny},
	})
	// "Deny everything outside this bucket", from the NotResource documentation.
	onlyBucket := `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
		{"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::home", "arn:aws:s3:::home/*"]}]}`
	runEval(t, []string{onlyBucket}, []evalCase{
		{"in bucket", "s3:PutObject", res("arn:aws:s3:::home/a/b"), nil, Allow},
		{"the bucket", "s3:ListBucket", res("arn:aws:s3:::home"), nil, Allow},
		{"other bucket", "s3:GetObject", res("arn:aws:s3:::other/a"), nil, ExplicitDeny},
		{"bucket with longer name", "s3:GetObject", res("arn:aws:s3:::home2/a"), nil, ExplicitDeny},
		{"no resource", "s3:ListAllMyBuckets", nil, nil, ExplicitDeny},
	})
	// NotAction with Deny: deny everything but reading.
	denyAllButRead := `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "*", "Resource": "*"},
		{"Effect": "Deny", "NotAction": ["s3:Get*", "s3:List*"], "Resource": "*"}]}`
	runEval(t, []string{denyAllButRead}, []evalCase{
		{"get", "s3:GetObject", res("arn:aws:s3:::b/k"), nil, Allow},
		{"put", "s3:PutObject", res("arn:aws:s3:::b/k"), nil, ExplicitDeny},
	})
}

func TestWildcards(t *testing.T) {
	doc := `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["ec2:Describe*", "s3:Get?bject"], "Resource": "*"},
		{"Effect": "Allow", "Action": "ec2:*Instances", "Resource": "arn:aws:ec2:*:123456789012:instance/*"},
		{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::123456789012:user/dev-?"},
		{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:app-*:*"}]}`
	runEval(t, []string{doc}, []evalCase{
		{"prefix wildcard", "ec2:DescribeInstances", nil, nil, Allow},
		{"action case-insensitive", "EC2:describeinstances", nil, nil, Allow},
		{"single-character wildcard", "s3:GetObject", res("arn:aws:s3:::b/k"), nil, Allow},
		{"single-character wildcard needs one", "s3:Getbject", res("arn:aws:s3:::b/k"), nil, ImplicitDeny},
		{"service must match", "ec2messages:DescribeThing", nil, nil, ImplicitDeny},
		{"mid wildcard", "ec2:TerminateInstances", res("arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc"), nil, Allow},
		{"other account", "ec2:TerminateInstances", res("arn:aws:ec2:eu-west-1:210987654321:instance/i-0abc"), nil, ImplicitDeny},
		{"other resource type", "ec2:TerminateInstances", res("arn:aws:ec2:eu-west-1:123456789012:volume/vol-1"), nil, ImplicitDeny},
		{"specific ARN never matches *", "ec2:TerminateInstances", nil, nil, ImplicitDeny},
		{"? in resource", "iam:GetUser", res("arn:aws:iam::123456789012:user/dev-1"), nil, Allow},
		{"? is one character", "iam:GetUser", res("arn:aws:iam::123456789012:user/dev-12"), nil, ImplicitDeny},
		{"resource is case-sensitive", "iam:GetUser", res("arn:aws:iam::123456789012:user/DEV-1"), nil, ImplicitDeny},
		{"colons in resource part", "logs:PutLogEvents",
			res("arn:aws:logs:us-east-1:123456789012:log-group:app-web:log-stream:i-1"), nil, Allow},
		{"region wildcard does not span colons", "logs:PutLogEvents",
			res("arn:aws:logs:us-east-1:123456789012:log-group:db:log-stream:app-1"), nil, ImplicitDeny},
	})
}

func TestMultipleResources(t *testing.T) {
	doc := `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "ec2:AttachVolume", "Resource": ["arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:volume/vol-ok*"]},
		{"Effect": "Deny", "Action": "ec2:AttachVolume", "Resource": "arn:aws:ec2:*:*:volume/vol-secret*"}]}`
	inst := "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
	runEval(t, []string{doc}, []evalCase{
		{"all allowed", "ec2:AttachVolume", res(inst, "arn:aws:ec2:us-east-1:123456789012:volume/vol-ok1"), nil, Allow},
		{"one not allowed", "ec2:AttachVolume", res(inst, "arn:aws:ec2:us-east-1:123456789012:volume/vol-2"), nil, ImplicitDeny},
		{"one denied after one not allowed", "ec2:AttachVolume",
			res("arn:aws:ec2:us-east-1:123456789012:volume/vol-2", "arn:aws:ec2:us-east-1:123456789012:volume/vol-secret"),
			nil, ExplicitDeny},
	})
	p := []*Policy{mustParse(t, doc)}
	r := Evaluate(p, Request{Action: "ec2:AttachVolume", Resources: res(inst, "arn:aws:ec2:us-east-1:123456789012:volume/vol-2")})
	if r.Resource != "arn:aws:ec2:us-east-1:123456789012:volume/vol-2" {
		t.Errorf("implicit deny names %q, want the volume", r.Resource)
	}
}

// TestHomeFolder is IAM's "allow users to access their home directory in S3" example.
func TestHomeFolder(t *testing.T) {
	doc := `{"Version": "2012-10-17", "Statement": [
		{"Sid": "AllowListingOfUserFolder", "Effect": "Allow", "Action": "s3:ListBucket",
		 "Resource": "arn:aws:s3:::home", "Condition": {"StringLike": {"s3:prefix": ["${aws:username}/*", "${aws:username}"]}}},
		{"Sid": "AllowAllS3ActionsInUserFolder", "Effect": "Allow", "Action": "s3:*",
		 "Resource": "arn:aws:s3:::home/${aws:username}/*"}]}`
	alice := map[string][]string{"aws:username": {"alice"}}
	runEval(t, []string{doc}, []evalCase{
		{"own object", "s3:PutObject", res("arn:aws:s3:::home/alice/notes.txt"), alice, Allow},
		{"someone else's", "s3:GetObject", res("arn:aws:s3:::home/bob/notes.txt"), alice, ImplicitDeny},
		{"list own folder", "s3:ListBucket", res("arn:aws:s3:::home"),
			map[string][]string{"aws:username": {"alice"}, "s3:prefix": {"alice/photos/"}}, Allow},
		{"list own folder, key in other case", "s3:ListBucket", res("arn:aws:s3:::home"),
			map[string][]string{"AWS:UserName": {"alice"}, "S3:Prefix": {"alice"}}, Allow},
		{"list other folder", "s3:ListBucket", res("arn:aws:s3:::home"),
			map[string][]string{"aws:username": {"alice"}, "s3:prefix": {"bob/"}}, ImplicitDeny},
		{"list without prefix", "s3:ListBucket", res("arn:aws:s3:::home"), alice, ImplicitDeny},
		// A role session has no aws:username: the variable does not resolve and nothing matches.
		{"no username", "s3:GetObject", res("arn:aws:s3:::home//notes.txt"), nil, ImplicitDeny},
		// A substituted value is literal text: a * in it is no wildcard.
		{"username is literal", "s3:GetObject", res("arn:aws:s3:::home/alice/x"),
			map[string][]string{"aws:username": {"*"}}, ImplicitDeny},
	})

	// In the 2008 language ${...} is plain text.
	old := `{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::home/${aws:username}/*"}}`
	runEval(t, []string{old}, []evalCase{
		{"2008: variable not substituted", "s3:GetObject", res("arn:aws:s3:::home/alice/x"), alice, ImplicitDeny},
		{"2008: text matched as written", "s3:GetObject", res("arn:aws:s3:::home/${aws:username}/x"), alice, Allow},
	})
}

func TestPolicyVariables(t *testing.T) {
	doc := `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/${aws:PrincipalTag/team}/*"},
		{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::literal/${*}${?}${$}/*"},
		{"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::teams/${aws:PrincipalTag/team, 'common'}/*"},
		{"Effect": "Allow", "Action": "ec2:StartInstances", "Resource": "*",
		 "Condition": {"StringEquals": {"aws:ResourceTag/owner": "${aws:userid}"}}},
		{"Effect": "Deny", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::shared/${aws:PrincipalTag/team}/*"}]}`
	team := map[string][]string{"aws:PrincipalTag/team": {"web"}}
	runEval(t, []string{doc}, []evalCase{
		{"tag in resource", "s3:GetObject", res("arn:aws:s3:::shared/web/index.html"), team, Allow},
		{"other team", "s3:GetObject", res("arn:aws:s3:::shared/db/dump"), team, ExplicitDeny},
		// Without the tag neither the Allow nor the NotResource Deny matches.
		{"tag missing", "s3:GetObject", res("arn:aws:s3:::shared/web/index.html"), nil, ImplicitDeny},
		{"escapes are literal", "s3:PutObject", res("arn:aws:s3:::literal/*?$/k"), nil, Allow},
		{"escaped * is no wildcard", "s3:PutObject", res("arn:aws:s3:::literal/abc/k"), nil, ImplicitDeny},
		{"default value used", "s3:DeleteObject", res("arn:aws:s3:::teams/common/k"), nil, Allow},
		{"default value not used when set", "s3:DeleteObject", res("arn:aws:s3:::teams/common/k"), team, ImplicitDeny},
		{"variable in condition", "ec2:StartInstances", nil,
			map[string][]string{"aws:userid": {"AIDAEXAMPLE"}, "aws:ResourceTag/owner": {"AIDAEXAMPLE"}}, Allow},
		{"variable in condition, other owner", "ec2:StartInstances", nil,
			map[string][]string{"aws:userid": {"AIDAEXAMPLE"}, "aws:ResourceTag/owner": {"AIDAOTHER"}}, ImplicitDeny},
		{"variable in condition unresolved", "ec2:StartInstances", nil,
			map[string][]string{"aws:ResourceTag/owner": {""}}, ImplicitDeny},
	})
}
