package iam

import "strings"

// AWSAccount is the account part of the ARNs of AWS-managed policies.
const AWSAccount = "aws"

// ARN builds the ARN of an IAM resource: resource is "user", "group", "role", "instance-profile" or "policy".
func ARN(account, resource, path, name string) string {
	if path == "" {
		path = "/"
	}
	return "arn:aws:iam::" + account + ":" + resource + path + name
}

// RootARN is the ARN of an account's root user.
func RootARN(account string) string { return "arn:aws:iam::" + account + ":root" }

// ParseARN splits an IAM ARN arn:aws:iam::<account>:<resource><path><name>. The path is "/" when the name
// follows the resource directly and ends in "/" otherwise.
func ParseARN(arn string) (account, resource, path, name string, ok bool) {
	rest, found := strings.CutPrefix(arn, "arn:aws:iam::")
	if !found {
		return "", "", "", "", false
	}
	account, rest, found = strings.Cut(rest, ":")
	if !found || account == "" {
		return "", "", "", "", false
	}
	resource, rest, found = strings.Cut(rest, "/")
	if !found || resource == "" {
		return "", "", "", "", false
	}
	rest = "/" + rest
	i := strings.LastIndexByte(rest, '/')
	path, name = rest[:i+1], rest[i+1:]
	if name == "" {
		return "", "", "", "", false
	}
	return account, resource, path, name, true
}

// ParsePolicyARN splits a managed policy ARN.
func ParsePolicyARN(arn string) (account, path, name string, ok bool) {
	account, resource, path, name, ok := ParseARN(arn)
	if !ok || resource != "policy" {
		return "", "", "", false
	}
	return account, path, name, true
}
