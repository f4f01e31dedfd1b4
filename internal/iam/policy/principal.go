package policy

import (
	"strings"
)

// Principal is a Principal or NotPrincipal element. "Principal": "*" sets All; {"AWS": "*"} is kept as written
// and matches the same everyone.
type Principal struct {
	All           bool
	AWS           []string // "*", account ids, arn:aws:iam::<account>:root, user, role and session ARNs
	Service       []string // "ec2.amazonaws.com"
	Federated     []string // identity providers: "cognito-identity.amazonaws.com", saml-provider ARNs
	CanonicalUser []string // S3 canonical user ids

	aws []awsPrincipal
}

func parsePrincipal(v any) (*Principal, error) {
	if s, ok := v.(string); ok {
		if s != "*" {
			return nil, errSyntax
		}
		return &Principal{All: true}, nil
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, errSyntax
	}
	p := &Principal{}
	for k, v := range m {
		list, err := stringList(v)
		if err != nil {
			return nil, err
		}
		switch k {
		case "AWS":
			p.AWS = list
			for _, a := range list {
				p.aws = append(p.aws, compileAWSPrincipal(a))
			}
		case "Service":
			p.Service = list
		case "Federated":
			p.Federated = list
		case "CanonicalUser":
			p.CanonicalUser = list
		default:
			return nil, errSyntax
		}
	}
	return p, nil
}

// check refuses AWS principals that are neither "*", an account id nor an ARN. Whether a named user or role
// exists is for the IAM service to say, with the same message.
func (p *Principal) check() *ParseError {
	if p == nil {
		return nil
	}
	for _, a := range p.AWS {
		if a != "*" && !isAccountID(a) && !strings.HasPrefix(a, "arn:") {
			return InvalidPrincipal("AWS", a)
		}
	}
	return nil
}

// InvalidPrincipal is IAM's error for a principal it does not accept; the IAM service also answers it for an
// ARN naming a user or role that does not exist.
func InvalidPrincipal(kind, value string) *ParseError {
	return parseErr(`Invalid principal in policy: "%s":"%s"`, kind, value)
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// matches reports whether the requesting principal is named by p. principal is an IAM ARN (user, role,
// assumed-role session, account root), a bare account id, a service principal ("ec2.amazonaws.com"), a federated
// provider, or "" for an anonymous caller, whom only "*" names.
func (p *Principal) matches(principal string) bool {
	if p.All {
		return true
	}
	for i := range p.aws {
		if p.aws[i].matches(principal) {
			return true
		}
	}
	if principal == "" {
		return false
	}
	for _, s := range p.Service {
		if strings.EqualFold(s, principal) {
			return true
		}
	}
	for _, list := range [][]string{p.Federated, p.CanonicalUser} {
		for _, f := range list {
			if f == principal {
				return true
			}
		}
	}
	return false
}

// awsPrincipal is an "AWS" value prepared at Parse: IAM's rules are that "*" is everyone, an account (id or root
// ARN) is every principal of that account, a role ARN also names the sessions of that role, and any other ARN
// names itself.
type awsPrincipal struct {
	value         string
	all           bool
	account       string // set when value names a whole account
	sessionPrefix string // set for a role: "arn:aws:sts::<account>:assumed-role/<name>/"
}

func compileAWSPrincipal(value string) awsPrincipal {
	a := awsPrincipal{value: value, all: value == "*"}
	if isAccountID(value) {
		a.account = value
		return a
	}
	f := strings.SplitN(value, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[2] != "iam" {
		return a
	}
	switch {
	case f[5] == "root":
		a.account = f[4]
	case strings.HasPrefix(f[5], "role/"):
		// The session ARN drops the role's path: role/path/Name -> assumed-role/Name/<session>.
		name := f[5][strings.LastIndexByte(f[5], '/')+1:]
		a.sessionPrefix = "arn:" + f[1] + ":sts::" + f[4] + ":assumed-role/" + name + "/"
	}
	return a
}

func (a *awsPrincipal) matches(principal string) bool {
	switch {
	case a.all:
		return true
	case principal == "":
		return false
	case a.value == principal:
		return true
	case a.account != "":
		return principalAccount(principal) == a.account
	case a.sessionPrefix != "":
		return len(principal) > len(a.sessionPrefix) && strings.HasPrefix(principal, a.sessionPrefix)
	}
	return false
}

// principalAccount is the account of a requesting principal: the account field of its ARN, or itself when it
// is a bare account id.
func principalAccount(principal string) string {
	if isAccountID(principal) {
		return principal
	}
	if !strings.HasPrefix(principal, "arn:") {
		return ""
	}
	s := principal
	for range 4 { // skip arn, partition, service, region
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return ""
		}
		s = s[i+1:]
	}
	account, _, found := strings.Cut(s, ":")
	if !found {
		return ""
	}
	return account
}
