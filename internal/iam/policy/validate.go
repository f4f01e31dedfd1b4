package policy

import "strings"

// ValidateIdentity checks what IAM requires of an identity-based policy (a user, group or role policy, or a
// managed policy) beyond Parse: no Principal, resources in every statement, alphanumeric Sids.
func ValidateIdentity(p *Policy) error {
	for _, s := range p.Statements {
		if s.Principal != nil || s.NotPrincipal != nil {
			return parseErr(msgPrincipal)
		}
	}
	for _, s := range p.Statements {
		if len(s.Resource) == 0 && len(s.NotResource) == 0 {
			return parseErr(msgNoResources)
		}
	}
	return checkSidsAlnum(p)
}

// ValidateTrust checks what IAM requires of a role's trust policy (AssumeRolePolicyDocument): a principal in
// every statement, no Resource, and only STS actions.
func ValidateTrust(p *Policy) error {
	for _, s := range p.Statements {
		if s.Resource != nil || s.NotResource != nil {
			return parseErr(msgTrustResource)
		}
	}
	for _, s := range p.Statements {
		if s.Principal == nil && s.NotPrincipal == nil {
			return parseErr(msgNoPrincipals)
		}
		for _, a := range s.Action {
			if a != "*" && !strings.HasPrefix(strings.ToLower(a), "sts:") {
				return parseErr(msgTrustActions)
			}
		}
	}
	return checkSidsAlnum(p)
}

// ValidateResource checks what a resource-based policy (an S3 bucket, ECR repository or Lambda function policy)
// requires beyond Parse: a principal and resources in every statement. S3 allows any Sid.
func ValidateResource(p *Policy) error {
	for _, s := range p.Statements {
		if s.Principal == nil && s.NotPrincipal == nil {
			return parseErr(msgNeedPrincipal)
		}
		if len(s.Resource) == 0 && len(s.NotResource) == 0 {
			return parseErr(msgNoResources)
		}
	}
	return nil
}

func checkSidsAlnum(p *Policy) error {
	for _, s := range p.Statements {
		for _, c := range s.Sid {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return parseErr(msgSidAlnum)
			}
		}
	}
	return nil
}
