package policy

import (
	"errors"
	"slices"
	"testing"
)

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse(doc)
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

func TestParseShapes(t *testing.T) {
	p := mustParse(t, `{
		"Version": "2012-10-17",
		"Id": "pol-1",
		"Statement": {
			"Sid": "ReadBucket",
			"Effect": "Allow",
			"Action": "s3:GetObject",
			"Resource": ["arn:aws:s3:::b/*", "arn:aws:s3:::b"],
			"Condition": {"Bool": {"aws:SecureTransport": true}, "NumericLessThan": {"s3:max-keys": 10}}
		}
	}`)
	if p.Version != Version2012 || p.ID != "pol-1" || len(p.Statements) != 1 {
		t.Fatalf("policy = %+v", p)
	}
	s := p.Statements[0]
	if s.Sid != "ReadBucket" || s.Effect != EffectAllow || !slices.Equal(s.Action, []string{"s3:GetObject"}) ||
		!slices.Equal(s.Resource, []string{"arn:aws:s3:::b/*", "arn:aws:s3:::b"}) {
		t.Errorf("statement = %+v", s)
	}
	want := []Condition{
		{Operator: "Bool", Key: "aws:SecureTransport", Values: []string{"true"}},
		{Operator: "NumericLessThan", Key: "s3:max-keys", Values: []string{"10"}},
	}
	if len(s.Conditions) != 2 || !equalConditions(s.Conditions, want) {
		t.Errorf("conditions = %+v, want %+v", s.Conditions, want)
	}

	// No Version, and principals in every form.
	p = mustParse(t, `{"Statement": [
		{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
		{"Effect": "Deny", "NotPrincipal": {"AWS": ["123456789012", "arn:aws:iam::123456789012:user/bob"],
			"Service": "ec2.amazonaws.com", "Federated": "cognito-identity.amazonaws.com"}, "NotAction": "sts:TagSession"}
	]}`)
	if p.Version != "" || !p.Statements[0].Principal.All {
		t.Errorf("first statement = %+v", p.Statements[0])
	}
	np := p.Statements[1].NotPrincipal
	if len(np.AWS) != 2 || np.Service[0] != "ec2.amazonaws.com" || np.Federated[0] != "cognito-identity.amazonaws.com" {
		t.Errorf("NotPrincipal = %+v", np)
	}
}

func equalConditions(a, b []Condition) bool {
	return slices.EqualFunc(a, b, func(x, y Condition) bool {
		return x.Operator == y.Operator && x.Key == y.Key && slices.Equal(x.Values, y.Values)
	})
}

// TestParseMalformed pins the MalformedPolicyDocument messages IAM returns for documents it refuses.
func TestParseMalformed(t *testing.T) {
	const allow = `"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"`
	cases := []struct {
		name, doc, want string
	}{
		{"not json", `{"Version": "2012-10-17", "Statement": [`, "Syntax errors in policy."},
		{"trailing data", `{"Statement": {` + allow + `}} x`, "Syntax errors in policy."},
		{"array at top", `[{"Statement": {` + allow + `}}]`, "Syntax errors in policy."},
		{"unknown version", `{"Version": "2012-10-18", "Statement": {` + allow + `}}`, "Syntax errors in policy."},
		{"unknown top element", `{"Statment": {` + allow + `}}`, "Syntax errors in policy."},
		{"no statement", `{"Version": "2012-10-17"}`, "Syntax errors in policy."},
		{"empty statement list", `{"Statement": []}`, "Syntax errors in policy."},
		{"statement is a string", `{"Statement": ["x"]}`, "Syntax errors in policy."},
		{"unknown statement element", `{"Statement": {` + allow + `, "Actions": "s3:*"}}`, "Syntax errors in policy."},
		{"no effect", `{"Statement": {"Action": "s3:*", "Resource": "*"}}`, "Syntax errors in policy."},
		{"bad effect", `{"Statement": {"Effect": "Permit", "Action": "s3:*", "Resource": "*"}}`, "Syntax errors in policy."},
		{"Action and NotAction", `{"Statement": {` + allow + `, "NotAction": "s3:*"}}`, "Syntax errors in policy."},
		{"Resource and NotResource", `{"Statement": {` + allow + `, "NotResource": "*"}}`, "Syntax errors in policy."},
		{"action is a number", `{"Statement": {"Effect": "Allow", "Action": 3, "Resource": "*"}}`, "Syntax errors in policy."},
		{"action list holds an object", `{"Statement": {"Effect": "Allow", "Action": [{}], "Resource": "*"}}`, "Syntax errors in policy."},
		{"condition not an object", `{"Statement": {` + allow + `, "Condition": "x"}}`, "Syntax errors in policy."},
		{"unknown condition operator", `{"Statement": {` + allow + `, "Condition": {"StringEqualz": {"aws:username": "a"}}}}`, "Syntax errors in policy."},
		{"condition value an object", `{"Statement": {` + allow + `, "Condition": {"StringEquals": {"aws:username": {}}}}}`, "Syntax errors in policy."},
		{"principal string", `{"Statement": {` + allow + `, "Principal": "arn:aws:iam::123456789012:root"}}`, "Syntax errors in policy."},
		{"principal unknown type", `{"Statement": {` + allow + `, "Principal": {"Amazon": "x"}}}`, "Syntax errors in policy."},
		{"effect in lower case", `{"Statement": {"Effect": "allow", "Action": "s3:*", "Resource": "*"}}`, "The policy failed legacy parsing"},
		{"bad date", `{"Statement": {` + allow + `, "Condition": {"DateLessThan": {"aws:CurrentTime": "tomorrow"}}}}`, "The policy failed legacy parsing"},
		{"duplicate sid", `{"Statement": [{"Sid": "A", ` + allow + `}, {"Sid": "A", ` + allow + `}]}`, "Statement IDs (SID) in a single policy must be unique."},
		{"no action", `{"Statement": {"Effect": "Allow", "Resource": "*"}}`, "Policy statement must contain actions."},
		{"empty action list", `{"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}`, "Policy statement must contain actions."},
		{"resource not an ARN", `{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "mybucket"}}`, `Resource mybucket must be in ARN format or "*".`},
		{"bad partition", `{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:amazon:s3:::b"}}`, `Partition "amazon" is not valid for resource "arn:amazon:s3:::b".`},
		{"no vendor in resource", `{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws"}}`, "Resource vendor must be fully qualified and cannot contain regexes."},
		{"iam with region", `{"Statement": {"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam:us-east-1:123456789012:user/a"}}`, "IAM resource arn:aws:iam:us-east-1:123456789012:user/a cannot contain region information."},
		{"action without vendor", `{"Statement": {"Effect": "Allow", "Action": "GetObject", "Resource": "*"}}`, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
		{"action with two colons", `{"Statement": {"Effect": "Allow", "Action": "s3:Get:Object", "Resource": "*"}}`, "Actions/Condition can contain only one colon."},
		{"bad vendor", `{"Statement": {"Effect": "Allow", "Action": "s 3:GetObject", "Resource": "*"}}`, "Vendor s 3 is not valid"},
		{"condition key without vendor", `{"Statement": {` + allow + `, "Condition": {"StringEquals": {"username": "a"}}}}`, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
		{"invalid AWS principal", `{"Statement": {` + allow + `, "Principal": {"AWS": "bob"}}}`, `Invalid principal in policy: "AWS":"bob"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.doc)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse = %+v, %v; want ParseError %q", p, err, c.want)
			}
			if pe.Message != c.want {
				t.Errorf("message = %q, want %q", pe.Message, c.want)
			}
		})
	}
}

// TestParseAccepts covers documents IAM takes although they look odd.
func TestParseAccepts(t *testing.T) {
	for _, doc := range []string{
		`{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`,
		`{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}}`,
		`{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Whatever": {}}}}`,
		`{"Statement": {"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}}`,
		`{"Statement": {"Effect": "Allow", "Action": "ec2:*", "Resource": "arn:aws:ec2:*:*:instance/*"}}`,
		`{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
			"Condition": {"ForAllValues:StringLikeIfExists": {"aws:TagKeys": ["a*"]}, "Null": {"aws:TokenIssueTime": "false"}}}}`,
	} {
		if _, err := Parse(doc); err != nil {
			t.Errorf("Parse(%s) = %v", doc, err)
		}
	}
}

func TestValidate(t *testing.T) {
	identity := `{"Version": "2012-10-17", "Statement": {"Sid": "S1", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}}`
	trust := `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
		"Action": "sts:AssumeRole"}}`
	bucket := `{"Version": "2012-10-17", "Statement": {"Sid": "Public read", "Effect": "Allow", "Principal": "*",
		"Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}}`
	cases := []struct {
		name     string
		validate func(*Policy) error
		doc      string
		want     string // "" for valid
	}{
		{"identity ok", ValidateIdentity, identity, ""},
		{"identity with principal", ValidateIdentity, trust, "Policy document should not specify a principal."},
		{"identity without resource", ValidateIdentity,
			`{"Statement": {"Effect": "Allow", "Action": "s3:*"}}`, "Policy statement must contain resources."},
		{"identity with empty resource list", ValidateIdentity,
			`{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": []}}`, "Policy statement must contain resources."},
		{"identity sid not alphanumeric", ValidateIdentity,
			`{"Statement": {"Sid": "read all", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}}`,
			"Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"},
		{"trust ok", ValidateTrust, trust, ""},
		{"trust web identity ok", ValidateTrust, `{"Statement": {"Effect": "Allow", "Principal": {"Federated":
			"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
			"Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]}}`, ""},
		{"trust with resource", ValidateTrust, bucket, "Has prohibited field Resource."},
		{"trust without principal", ValidateTrust, `{"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole"}}`,
			"Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: The passed in policy has a statement with no principals!"},
		{"trust with other action", ValidateTrust,
			`{"Statement": {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "s3:GetObject"}}`,
			"AssumeRole policy may only specify STS AssumeRole actions."},
		{"bucket ok, any sid", ValidateResource, bucket, ""},
		{"bucket without principal", ValidateResource, identity, "Missing required field Principal"},
		{"bucket without resource", ValidateResource, trust, "Policy statement must contain resources."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.validate(mustParse(t, c.doc))
			if c.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Message != c.want {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
