package policy

import "strings"

// Request is what a call asks for, as the evaluator sees it.
type Request struct {
	Action    string   // "s3:GetObject"; matched without regard to case
	Resources []string // ARNs the call acts on; empty or "*" when none applies
	Principal string   // the caller's ARN (or service principal), for resource and trust policies
	// Context holds the condition keys and policy variables: aws:username, aws:userid, aws:SourceIp,
	// aws:CurrentTime, aws:EpochTime, aws:SecureTransport, aws:PrincipalTag/<key>, aws:PrincipalArn,
	// s3:prefix, ... Keys are matched without regard to case; a key with no values counts as missing.
	Context map[string][]string
}

// lookup finds a context key. Callers normally spell keys as AWS documents them, so the exact lookup nearly
// always hits; the scan is there because condition keys are case-insensitive.
func (r *Request) lookup(key string) []string {
	if v, ok := r.Context[key]; ok {
		return v
	}
	for k, v := range r.Context {
		if len(k) == len(key) && strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// Decision is the outcome of evaluating policies.
type Decision uint8

const (
	ImplicitDeny Decision = iota // no statement allows: denied unless another policy type allows
	Allow
	ExplicitDeny // a Deny statement applies: denied whatever else allows
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "ImplicitDeny"
}

// Result is a decision with what decided it, for logs and for AWS's "because no identity-based policy allows"
// messages.
type Result struct {
	Decision Decision
	// PolicyIndex is the index in the evaluated policies of the policy holding Statement; -1 when no
	// statement decided (ImplicitDeny).
	PolicyIndex int
	Statement   *Statement
	// Resource is the resource the decision is about: the denied one for ExplicitDeny, the first one no
	// statement allows for ImplicitDeny, the last one checked for Allow.
	Resource string
}

// Allowed reports whether the decision is Allow.
func (r Result) Allowed() bool { return r.Decision == Allow }

// Evaluate decides a request against identity-based policies (Principal elements are not consulted). Each
// resource is decided on its own, and the request is allowed only when every resource is allowed and none is
// denied: an explicit Deny for any resource beats every Allow, and a resource that no statement allows leaves
// the request implicitly denied.
func Evaluate(policies []*Policy, req Request) Result {
	return evaluate(policies, &req, false)
}

// EvaluateResource decides a request against one resource-based policy: a trust policy (Action sts:AssumeRole)
// or a bucket, repository or function policy. A statement applies only if its Principal names req.Principal,
// or its NotPrincipal does not; statements of a trust policy have no Resource and apply to any resource.
func EvaluateResource(p *Policy, req Request) Result {
	return evaluate([]*Policy{p}, &req, true)
}

var anyResource = []string{"*"}

func evaluate(policies []*Policy, req *Request, principals bool) Result {
	action := strings.ToLower(req.Action)
	resources := req.Resources
	if len(resources) == 0 {
		resources = anyResource
	}
	result := Result{Decision: Allow, PolicyIndex: -1}
	for _, resource := range resources {
		allowedBy, policyIndex := (*Statement)(nil), -1
		for pi, p := range policies {
			for _, s := range p.Statements {
				if !s.applies(action, resource, req, principals) {
					continue
				}
				if s.Effect == EffectDeny {
					return Result{Decision: ExplicitDeny, PolicyIndex: pi, Statement: s, Resource: resource}
				}
				if allowedBy == nil {
					allowedBy, policyIndex = s, pi
				}
			}
		}
		switch {
		case allowedBy == nil && result.Decision == Allow:
			// Keep looking: a later resource may still be explicitly denied.
			result = Result{Decision: ImplicitDeny, PolicyIndex: -1, Resource: resource}
		case result.Decision == Allow:
			result = Result{Decision: Allow, PolicyIndex: policyIndex, Statement: allowedBy, Resource: resource}
		}
	}
	return result
}

// applies reports whether the statement matches the request for one resource. The cheap tests go first:
// action, then principal, resource and conditions.
func (s *Statement) applies(action, resource string, req *Request, principals bool) bool {
	if !s.matchAction(action) {
		return false
	}
	if principals {
		switch {
		case s.Principal != nil:
			if !s.Principal.matches(req.Principal) {
				return false
			}
		case s.NotPrincipal != nil:
			if s.NotPrincipal.matches(req.Principal) {
				return false
			}
		default:
			return false // a resource policy statement without a principal names no one
		}
	}
	if !s.matchResource(resource, req) {
		return false
	}
	for i := range s.conds {
		if !s.conds[i].holds(req) {
			return false
		}
	}
	return true
}

func (s *Statement) matchAction(action string) bool {
	for i := range s.actions {
		if m, _ := s.actions[i].match(action, nil); m {
			return !s.notAction
		}
	}
	return s.notAction
}

// matchResource applies Resource or NotResource. A pattern whose policy variable has no value matches
// nothing, and makes a NotResource element not match either (AWS: the element does not match).
func (s *Statement) matchResource(resource string, req *Request) bool {
	if s.resMode == resourceAbsent {
		return true
	}
	for i := range s.resources {
		m, ok := s.resources[i].match(resource, req)
		if !ok {
			if s.resMode == notResourceList {
				return false
			}
			continue
		}
		if m {
			return s.resMode == resourceList
		}
	}
	return s.resMode == notResourceList
}
