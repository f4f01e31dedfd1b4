package policy

import (
	"fmt"
	"testing"
)

// condCase evaluates one Condition block on an Allow statement: want is whether the statement applies.
type condCase struct {
	name    string
	block   string // the JSON object of the Condition element
	context map[string][]string
	want    bool
}

func runConditions(t *testing.T, cases []condCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := fmt.Sprintf(`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*",
				"Resource": "*", "Condition": %s}}`, c.block)
			p := mustParse(t, doc)
			got := Evaluate([]*Policy{p}, Request{Action: "s3:GetObject", Context: c.context}).Allowed()
			if got != c.want {
				t.Errorf("condition %s with %v: applies = %v, want %v", c.block, c.context, got, c.want)
			}
		})
	}
}

func ctx(kv ...string) map[string][]string {
	m := map[string][]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = append(m[kv[i]], kv[i+1])
	}
	return m
}

func TestStringConditions(t *testing.T) {
	runConditions(t, []condCase{
		{"StringEquals", `{"StringEquals": {"aws:PrincipalTag/job": "admin"}}`, ctx("aws:PrincipalTag/job", "admin"), true},
		{"StringEquals is case-sensitive", `{"StringEquals": {"aws:PrincipalTag/job": "admin"}}`, ctx("aws:PrincipalTag/job", "Admin"), false},
		{"StringEquals key is case-insensitive", `{"StringEquals": {"AWS:principaltag/JOB": "admin"}}`, ctx("aws:PrincipalTag/job", "admin"), true},
		{"StringEquals * is literal", `{"StringEquals": {"aws:PrincipalTag/job": "*"}}`, ctx("aws:PrincipalTag/job", "admin"), false},
		{"StringEquals values OR", `{"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}`, ctx("aws:RequestedRegion", "eu-west-1"), true},
		{"StringEquals missing key", `{"StringEquals": {"aws:RequestedRegion": "us-east-1"}}`, nil, false},
		{"StringEquals empty values count as missing", `{"StringEquals": {"aws:RequestedRegion": "us-east-1"}}`, map[string][]string{"aws:RequestedRegion": {}}, false},
		{"StringNotEquals", `{"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}`, ctx("aws:RequestedRegion", "eu-west-1"), true},
		{"StringNotEquals values NOR", `{"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}`, ctx("aws:RequestedRegion", "eu-west-1"), false},
		{"StringNotEquals values NOR, none", `{"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}`, ctx("aws:RequestedRegion", "ap-south-1"), true},
		// AWS: a negated operator on a missing key is true (the "deny unless through my VPC endpoint" pattern).
		{"StringNotEquals missing key", `{"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}`, nil, true},
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase": {"aws:PrincipalTag/job": "ADMIN"}}`, ctx("aws:PrincipalTag/job", "admin"), true},
		{"StringNotEqualsIgnoreCase", `{"StringNotEqualsIgnoreCase": {"aws:PrincipalTag/job": "ADMIN"}}`, ctx("aws:PrincipalTag/job", "admin"), false},
		{"StringLike", `{"StringLike": {"s3:prefix": ["home/*", "pub?ic"]}}`, ctx("s3:prefix", "public"), true},
		{"StringLike star", `{"StringLike": {"s3:prefix": "home/*/docs"}}`, ctx("s3:prefix", "home/alice/x/docs"), true},
		{"StringLike no match", `{"StringLike": {"s3:prefix": "home/*"}}`, ctx("s3:prefix", "other/"), false},
		{"StringNotLike", `{"StringNotLike": {"s3:prefix": "home/*"}}`, ctx("s3:prefix", "other/"), true},
		{"StringNotLike match", `{"StringNotLike": {"s3:prefix": "home/*"}}`, ctx("s3:prefix", "home/a"), false},
		{"StringEquals with a variable", `{"StringEquals": {"s3:prefix": "${aws:username}/"}}`, ctx("s3:prefix", "alice/", "aws:username", "alice"), true},
		{"keys AND", `{"StringEquals": {"aws:RequestedRegion": "us-east-1", "aws:PrincipalTag/job": "admin"}}`,
			ctx("aws:RequestedRegion", "us-east-1", "aws:PrincipalTag/job", "dev"), false},
		{"operators AND", `{"StringEquals": {"aws:RequestedRegion": "us-east-1"}, "Bool": {"aws:SecureTransport": "true"}}`,
			ctx("aws:RequestedRegion", "us-east-1", "aws:SecureTransport", "true"), true},
	})
}

func TestNumericConditions(t *testing.T) {
	runConditions(t, []condCase{
		{"NumericEquals", `{"NumericEquals": {"s3:max-keys": "10"}}`, ctx("s3:max-keys", "10"), true},
		{"NumericEquals decimal", `{"NumericEquals": {"s3:max-keys": "10"}}`, ctx("s3:max-keys", "10.0"), true},
		{"NumericNotEquals", `{"NumericNotEquals": {"s3:max-keys": "10"}}`, ctx("s3:max-keys", "11"), true},
		{"NumericLessThan", `{"NumericLessThan": {"s3:max-keys": 10}}`, ctx("s3:max-keys", "9"), true},
		{"NumericLessThan equal", `{"NumericLessThan": {"s3:max-keys": 10}}`, ctx("s3:max-keys", "10"), false},
		{"NumericLessThanEquals", `{"NumericLessThanEquals": {"s3:max-keys": "10"}}`, ctx("s3:max-keys", "10"), true},
		{"NumericGreaterThan", `{"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}}`, ctx("aws:MultiFactorAuthAge", "3601"), true},
		{"NumericGreaterThanEquals", `{"NumericGreaterThanEquals": {"aws:MultiFactorAuthAge": "3600"}}`, ctx("aws:MultiFactorAuthAge", "3599"), false},
		{"not a number", `{"NumericEquals": {"s3:max-keys": "10"}}`, ctx("s3:max-keys", "ten"), false},
		{"missing", `{"NumericLessThan": {"s3:max-keys": "10"}}`, nil, false},
	})
}

func TestDateConditions(t *testing.T) {
	now := ctx("aws:CurrentTime", "2024-06-01T12:00:00Z", "aws:EpochTime", "1717243200")
	runConditions(t, []condCase{
		{"DateLessThan CurrentTime", `{"DateLessThan": {"aws:CurrentTime": "2024-12-31T23:59:59Z"}}`, now, true},
		{"DateLessThan expired", `{"DateLessThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}`, now, false},
		{"DateGreaterThan date only", `{"DateGreaterThan": {"aws:CurrentTime": "2024-05-31"}}`, now, true},
		{"DateGreaterThan with offset", `{"DateGreaterThan": {"aws:CurrentTime": "2024-06-01T13:00:00+02:00"}}`, now, true},
		{"DateEquals", `{"DateEquals": {"aws:CurrentTime": "2024-06-01T12:00:00.000Z"}}`, now, true},
		{"DateNotEquals", `{"DateNotEquals": {"aws:CurrentTime": "2024-06-01T12:00:00Z"}}`, now, false},
		{"DateLessThanEquals", `{"DateLessThanEquals": {"aws:CurrentTime": "2024-06-01T12:00:00Z"}}`, now, true},
		{"DateGreaterThanEquals", `{"DateGreaterThanEquals": {"aws:CurrentTime": "2024-06-01T12:00:01Z"}}`, now, false},
		{"epoch policy value", `{"DateLessThan": {"aws:CurrentTime": "1717243201"}}`, now, true},
		{"epoch context value", `{"DateGreaterThan": {"aws:EpochTime": "2024-06-01T11:59:59Z"}}`, now, true},
		{"missing", `{"DateLessThan": {"aws:TokenIssueTime": "2030-01-01T00:00:00Z"}}`, now, false},
	})
}

func TestBoolBinaryIPARN(t *testing.T) {
	runConditions(t, []condCase{
		{"Bool true", `{"Bool": {"aws:SecureTransport": "true"}}`, ctx("aws:SecureTransport", "true"), true},
		{"Bool JSON true", `{"Bool": {"aws:SecureTransport": true}}`, ctx("aws:SecureTransport", "TRUE"), true},
		{"Bool false", `{"Bool": {"aws:SecureTransport": "true"}}`, ctx("aws:SecureTransport", "false"), false},
		{"Bool missing", `{"Bool": {"aws:MultiFactorAuthPresent": "false"}}`, nil, false},
		{"BinaryEquals", `{"BinaryEquals": {"s3:x-amz-content": "QmluYXJ5VmFsdWU="}}`, ctx("s3:x-amz-content", "QmluYXJ5VmFsdWU="), true},
		{"BinaryEquals differs", `{"BinaryEquals": {"s3:x-amz-content": "QmluYXJ5VmFsdWU="}}`, ctx("s3:x-amz-content", "b3RoZXI="), false},
		{"IpAddress v4 CIDR", `{"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}`, ctx("aws:SourceIp", "203.0.113.77"), true},
		{"IpAddress v4 outside", `{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}`, ctx("aws:SourceIp", "192.0.3.1"), false},
		{"IpAddress single address", `{"IpAddress": {"aws:SourceIp": "192.0.2.7"}}`, ctx("aws:SourceIp", "192.0.2.7"), true},
		{"IpAddress v4-mapped request", `{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}`, ctx("aws:SourceIp", "::ffff:192.0.2.9"), true},
		{"IpAddress v6", `{"IpAddress": {"aws:SourceIp": "2001:db8:1234::/48"}}`, ctx("aws:SourceIp", "2001:db8:1234:ffff::1"), true},
		{"IpAddress v6 outside", `{"IpAddress": {"aws:SourceIp": "2001:db8:1234::/48"}}`, ctx("aws:SourceIp", "2001:db8:1235::1"), false},
		{"IpAddress v6 against v4 block", `{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}`, ctx("aws:SourceIp", "2001:db8::1"), false},
		{"NotIpAddress", `{"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}`, ctx("aws:SourceIp", "198.51.100.1"), true},
		{"NotIpAddress inside", `{"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32"]}}`, ctx("aws:SourceIp", "2001:db8::5"), false},
		{"IpAddress not an address", `{"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}`, ctx("aws:SourceIp", "example.com"), false},
		{"ArnEquals", `{"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}}`, ctx("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:topic"), true},
		{"ArnLike", `{"ArnLike": {"aws:SourceArn": "arn:aws:s3:::logs-*"}}`, ctx("aws:SourceArn", "arn:aws:s3:::logs-prod"), true},
		{"ArnLike by part", `{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin"}}`, ctx("aws:PrincipalArn", "arn:aws:iam::123456789012:role/admin"), true},
		{"ArnLike wildcard stays in its part", `{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:topic"}}`, ctx("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:topic"), false},
		{"ArnNotEquals", `{"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:topic"}}`, ctx("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:other"), true},
		{"ArnNotLike", `{"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::logs-*"}}`, ctx("aws:SourceArn", "arn:aws:s3:::logs-prod"), false},
		{"ArnNotLike missing", `{"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::logs-*"}}`, nil, true},
	})
}

func TestIfExistsAndNull(t *testing.T) {
	runConditions(t, []condCase{
		{"IfExists absent", `{"StringEqualsIfExists": {"ec2:InstanceType": ["t3.micro", "t3.small"]}}`, nil, true},
		{"IfExists present, match", `{"StringEqualsIfExists": {"ec2:InstanceType": ["t3.micro"]}}`, ctx("ec2:InstanceType", "t3.micro"), true},
		{"IfExists present, no match", `{"StringEqualsIfExists": {"ec2:InstanceType": ["t3.micro"]}}`, ctx("ec2:InstanceType", "m5.24xlarge"), false},
		{"NumericLessThanIfExists", `{"NumericLessThanIfExists": {"s3:max-keys": "10"}}`, nil, true},
		{"DateLessThanIfExists present", `{"DateLessThanIfExists": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}`, ctx("aws:TokenIssueTime", "2024-01-01T00:00:00Z"), false},
		{"BoolIfExists absent", `{"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}`, nil, true},
		{"IpAddressIfExists absent", `{"IpAddressIfExists": {"aws:SourceIp": "192.0.2.0/24"}}`, nil, true},
		{"ArnLikeIfExists present", `{"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:s3:::x"}}`, ctx("aws:SourceArn", "arn:aws:s3:::y"), false},
		{"StringNotEqualsIfExists present", `{"StringNotEqualsIfExists": {"ec2:InstanceType": "t3.micro"}}`, ctx("ec2:InstanceType", "t3.micro"), false},
		{"Null true, absent", `{"Null": {"aws:TokenIssueTime": "true"}}`, nil, true},
		{"Null true, present", `{"Null": {"aws:TokenIssueTime": "true"}}`, ctx("aws:TokenIssueTime", "2024-01-01T00:00:00Z"), false},
		{"Null false, present", `{"Null": {"aws:TokenIssueTime": "false"}}`, ctx("aws:TokenIssueTime", "2024-01-01T00:00:00Z"), true},
		{"Null false, absent", `{"Null": {"aws:TokenIssueTime": "false"}}`, nil, false},
	})
}

// TestSetOperators follows the documentation on multivalued context keys, with aws:TagKeys.
func TestSetOperators(t *testing.T) {
	tags := func(keys ...string) map[string][]string { return map[string][]string{"aws:TagKeys": keys} }
	runConditions(t, []condCase{
		{"ForAllValues subset", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}`, tags("environment"), true},
		{"ForAllValues all", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}`, tags("cost-center", "environment"), true},
		{"ForAllValues one outside", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}`, tags("environment", "owner"), false},
		{"ForAllValues missing key is true", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["environment"]}}`, nil, true},
		{"ForAllValues empty set is true", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["environment"]}}`, tags(), true},
		{"ForAllValues StringLike", `{"ForAllValues:StringLike": {"aws:TagKeys": ["team-*"]}}`, tags("team-a", "team-b"), true},
		{"ForAllValues negated", `{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}`, tags("a", "b"), true},
		{"ForAllValues negated, one forbidden", `{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}`, tags("a", "secret"), false},
		{"ForAnyValue one matches", `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}`, tags("owner", "environment"), true},
		{"ForAnyValue none", `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment"]}}`, tags("owner"), false},
		{"ForAnyValue missing key is false", `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment"]}}`, nil, false},
		{"ForAnyValue negated", `{"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["environment"]}}`, tags("environment", "owner"), true},
		{"ForAnyValue negated, all excluded", `{"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["environment"]}}`, tags("environment"), false},
		{"ForAnyValue IfExists absent", `{"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["environment"]}}`, nil, true},
		{"ForAnyValue StringLike", `{"ForAnyValue:StringLike": {"aws:TagKeys": ["env*"]}}`, tags("owner", "envName"), true},
		{"no set operator on a multivalued key", `{"StringEquals": {"aws:TagKeys": "owner"}}`, tags("environment", "owner"), true},
		{"prefix is case-insensitive", `{"forallvalues:StringEquals": {"aws:TagKeys": ["a"]}}`, tags("b"), false},
	})
}

func TestSecureTransportAndPrincipalTag(t *testing.T) {
	// The documented "deny requests that do not use TLS" bucket guard, written as an identity policy.
	doc := `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
		 "Condition": {"StringEquals": {"aws:PrincipalTag/department": "data"}}},
		{"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}`
	runEval(t, []string{doc}, []evalCase{
		{"tls and tag", "s3:GetObject", res("arn:aws:s3:::b/k"),
			ctx("aws:SecureTransport", "true", "aws:PrincipalTag/department", "data"), Allow},
		{"plain http", "s3:GetObject", res("arn:aws:s3:::b/k"),
			ctx("aws:SecureTransport", "false", "aws:PrincipalTag/department", "data"), ExplicitDeny},
		{"wrong tag", "s3:GetObject", res("arn:aws:s3:::b/k"),
			ctx("aws:SecureTransport", "true", "aws:PrincipalTag/department", "sales"), ImplicitDeny},
		{"untagged", "s3:GetObject", res("arn:aws:s3:::b/k"), ctx("aws:SecureTransport", "true"), ImplicitDeny},
	})
}
