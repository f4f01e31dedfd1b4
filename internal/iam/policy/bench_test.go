package policy

import "testing"

// BenchmarkEvaluate decides a typical request of a user with three policies: a managed read-only policy, an
// inline home-folder policy with variables and conditions, and a guard-rail Deny.
func BenchmarkEvaluate(b *testing.B) {
	policies := []*Policy{
		mustParse(b, `{"Version": "2012-10-17", "Statement": [
			{"Effect": "Allow", "Action": ["ec2:Describe*", "s3:Get*", "s3:List*", "iam:Get*", "iam:List*",
				"logs:Describe*", "logs:Get*", "ecs:Describe*", "ecs:List*", "lambda:Get*", "lambda:List*"], "Resource": "*"}]}`),
		mustParse(b, `{"Version": "2012-10-17", "Statement": [
			{"Sid": "List", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::home",
			 "Condition": {"StringLike": {"s3:prefix": ["${aws:username}/*"]}}},
			{"Sid": "Home", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::home/${aws:username}/*",
			 "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]},
			  "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}}]}`),
		mustParse(b, `{"Version": "2012-10-17", "Statement": [
			{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
			{"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*",
			 "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}}]}`),
	}
	req := Request{
		Action:    "s3:PutObject",
		Resources: []string{"arn:aws:s3:::home/alice/docs/report.pdf"},
		Principal: "arn:aws:iam::123456789012:user/alice",
		Context: map[string][]string{
			"aws:username":        {"alice"},
			"aws:userid":          {"AIDAEXAMPLE"},
			"aws:SourceIp":        {"192.0.2.10"},
			"aws:CurrentTime":     {"2024-06-01T12:00:00Z"},
			"aws:EpochTime":       {"1717243200"},
			"aws:SecureTransport": {"true"},
			"aws:RequestedRegion": {"us-east-1"},
			"aws:PrincipalArn":    {"arn:aws:iam::123456789012:user/alice"},
		},
	}
	if r := Evaluate(policies, req); !r.Allowed() {
		b.Fatalf("benchmark request not allowed: %+v", r)
	}
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(policies, req)
	}
}
