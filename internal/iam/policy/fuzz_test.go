package policy

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, refuses only with a ParseError, and that whatever it accepts can be
// validated and evaluated without panicking.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}/*"}}`,
		`{"Statement": [{"Effect": "Deny", "NotAction": ["iam:*"], "NotResource": "*", "Principal": {"AWS": ["123456789012"]}}]}`,
		`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {
			"ForAllValues:StringLikeIfExists": {"aws:TagKeys": ["a*", "${*}"]}, "IpAddress": {"aws:SourceIp": "2001:db8::/32"},
			"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}, "NumericLessThan": {"s3:max-keys": 5},
			"Null": {"aws:TokenIssueTime": true}, "ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:t"}}}}`,
		`{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}}`,
		`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${aws:PrincipalTag/x, 'd'}${"}}`,
		`[]`, `{}`, `null`, `{"Statement": {}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := Parse(doc)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Message == "" {
				t.Fatalf("Parse error %T %v is not a ParseError", err, err)
			}
			return
		}
		_ = ValidateIdentity(p)
		_ = ValidateTrust(p)
		_ = ValidateResource(p)
		req := Request{
			Action:    "s3:GetObject",
			Resources: []string{"arn:aws:s3:::b/alice/k", "*"},
			Principal: "arn:aws:sts::123456789012:assumed-role/r/s",
			Context: map[string][]string{
				"aws:username": {"alice"}, "aws:TagKeys": {"a", "b"}, "aws:SourceIp": {"2001:db8::1"},
				"aws:CurrentTime": {"2024-01-01T00:00:00Z"}, "s3:max-keys": {"3"}, "aws:SourceArn": {"arn:aws:sns:x:y:t"},
			},
		}
		Evaluate([]*Policy{p}, req)
		EvaluateResource(p, req)
	})
}
