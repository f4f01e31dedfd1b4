// Package policy owns the IAM policy language: it parses JSON policy documents as AWS accepts them, checks them
// for the use they are put to (identity, trust or resource policy), and evaluates them against a request. It is
// pure: no store, no HTTP, no clock (the caller puts aws:CurrentTime and every other condition key in the
// request). Which policies apply to a principal, and the AWS-managed policies, belong to other packages.
//
// Everything that can be prepared is prepared at Parse: patterns are tokenized, dates, numbers and CIDRs parsed,
// so that evaluating a request, which the gateway does on every call of every non-root principal, walks small
// slices and allocates little.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// Versions of the policy language. Policy variables exist only in Version2012.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Effect is a statement's Effect element.
type Effect string

const (
	EffectAllow Effect = "Allow"
	EffectDeny  Effect = "Deny"
)

// Policy is a parsed policy document. Its exported fields are the document as written, for callers that report
// or inspect it; evaluation uses what Parse compiled from them. A Policy is read-only after Parse and safe to
// share between goroutines.
type Policy struct {
	Version    string // Version2012, Version2008, or "" when the document has none
	ID         string
	Statements []*Statement
}

// Statement is one statement of a policy.
type Statement struct {
	Sid          string
	Effect       Effect
	Principal    *Principal // nil when absent
	NotPrincipal *Principal // nil when absent
	Action       []string   // nil when absent
	NotAction    []string
	Resource     []string
	NotResource  []string
	Conditions   []Condition // ordered by operator, then key

	actions   []pattern // Action or NotAction, lower case
	notAction bool
	resources []arnPattern // Resource or NotResource
	resMode   resourceMode
	conds     []condition
}

type resourceMode uint8

const (
	resourceAbsent resourceMode = iota // trust policies: every resource matches
	resourceList
	notResourceList
)

// Condition is one key test of a Condition block: {"Operator": {"Key": Values}}.
type Condition struct {
	Operator string // as written, with its ForAnyValue:/ForAllValues: prefix and IfExists suffix
	Key      string
	Values   []string
}

// ParseError is a policy document AWS would refuse. Message is AWS's wording; IAM returns it as
// MalformedPolicyDocument, S3 as MalformedPolicy.
type ParseError struct {
	Message string
}

func (e *ParseError) Error() string { return e.Message }

func parseErr(format string, args ...any) *ParseError {
	return &ParseError{Message: fmt.Sprintf(format, args...)}
}

// The messages IAM answers with.
const (
	msgSyntax        = "Syntax errors in policy."
	msgLegacy        = "The policy failed legacy parsing"
	msgSidUnique     = "Statement IDs (SID) in a single policy must be unique."
	msgNoActions     = "Policy statement must contain actions."
	msgNoResources   = "Policy statement must contain resources."
	msgVendor        = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	msgOneColon      = "Actions/Condition can contain only one colon."
	msgPrincipal     = "Policy document should not specify a principal."
	msgVendorRegex   = "Resource vendor must be fully qualified and cannot contain regexes."
	msgSidAlnum      = "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
	msgNoPrincipals  = "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: The passed in policy has a statement with no principals!"
	msgTrustResource = "Has prohibited field Resource."
	msgTrustActions  = "AssumeRole policy may only specify STS AssumeRole actions."
	msgNeedPrincipal = "Missing required field Principal"
)

var errSyntax = errors.New(msgSyntax)

// Parse reads a policy document. It checks what holds for every kind of policy, in the order IAM does (syntax,
// legacy parsing, Sid uniqueness, actions, resource and action formats); ValidateIdentity, ValidateTrust and
// ValidateResource add what a particular use requires. URL-decoding the document is the caller's job.
func Parse(doc string) (*Policy, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, parseErr(msgSyntax)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, parseErr(msgSyntax) // trailing data after the document
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, parseErr(msgSyntax)
	}
	p, err := parseSyntax(top)
	if err != nil {
		return nil, parseErr(msgSyntax)
	}
	for _, check := range []func(*Policy) *ParseError{checkLegacy, checkSids, checkActionsPresent, checkFormats} {
		if err := check(p); err != nil {
			return nil, err
		}
	}
	p.compile()
	return p, nil
}

// parseSyntax checks the document's shape and reads it. Every failure is AWS's one syntax error.
func parseSyntax(top map[string]any) (*Policy, error) {
	p := &Policy{}
	for k, v := range top {
		var ok bool
		switch k {
		case "Version":
			p.Version, ok = v.(string)
			ok = ok && (p.Version == Version2012 || p.Version == Version2008)
		case "Id":
			p.ID, ok = v.(string)
		case "Statement":
			ok = true
		}
		if !ok {
			return nil, errSyntax
		}
	}
	var raw []any
	switch s := top["Statement"].(type) {
	case map[string]any:
		raw = []any{s}
	case []any:
		raw = s
	}
	if len(raw) == 0 {
		return nil, errSyntax
	}
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, errSyntax
		}
		s, err := parseStatement(m)
		if err != nil {
			return nil, err
		}
		p.Statements = append(p.Statements, s)
	}
	return p, nil
}

func parseStatement(m map[string]any) (*Statement, error) {
	s := &Statement{}
	for k, v := range m {
		var err error
		switch k {
		case "Sid":
			var ok bool
			if s.Sid, ok = v.(string); !ok {
				err = errSyntax
			}
		case "Effect":
			e, ok := v.(string)
			if !ok || !(strings.EqualFold(e, "Allow") || strings.EqualFold(e, "Deny")) {
				err = errSyntax
			}
			s.Effect = Effect(e) // the exact case is checked by legacy parsing
		case "Action":
			s.Action, err = stringList(v)
		case "NotAction":
			s.NotAction, err = stringList(v)
		case "Resource":
			s.Resource, err = stringList(v)
		case "NotResource":
			s.NotResource, err = stringList(v)
		case "Principal":
			s.Principal, err = parsePrincipal(v)
		case "NotPrincipal":
			s.NotPrincipal, err = parsePrincipal(v)
		case "Condition":
			s.Conditions, err = parseConditions(v)
		default:
			err = errSyntax
		}
		if err != nil {
			return nil, err
		}
	}
	_, hasEffect := m["Effect"]
	if !hasEffect || both(m, "Action", "NotAction") || both(m, "Resource", "NotResource") ||
		both(m, "Principal", "NotPrincipal") {
		return nil, errSyntax
	}
	return s, nil
}

func both(m map[string]any, a, b string) bool {
	_, x := m[a]
	_, y := m[b]
	return x && y
}

// stringList reads an element that is a string or a list of strings. An empty list is kept as a non-nil empty
// slice, so that "present but empty" stays distinct from "absent".
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errSyntax
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errSyntax
}

// conditionValues reads a condition's values: like stringList, but numbers and booleans are taken as their
// text, as IAM does for {"Bool": {"aws:SecureTransport": true}}.
func conditionValues(v any) ([]string, error) {
	scalar := func(e any) (string, bool) {
		switch e := e.(type) {
		case string:
			return e, true
		case json.Number:
			return e.String(), true
		case bool:
			if e {
				return "true", true
			}
			return "false", true
		}
		return "", false
	}
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := scalar(e)
			if !ok {
				return nil, errSyntax
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, ok := scalar(v)
	if !ok {
		return nil, errSyntax
	}
	return []string{s}, nil
}

func parseConditions(v any) ([]Condition, error) {
	block, ok := v.(map[string]any)
	if !ok {
		return nil, errSyntax
	}
	var out []Condition
	for op, keys := range block {
		km, ok := keys.(map[string]any)
		if !ok {
			return nil, errSyntax
		}
		if _, err := lookupOperator(op); err != nil && len(km) > 0 {
			return nil, errSyntax // IAM lets an unknown operator through only with nothing under it
		}
		for key, vals := range km {
			values, err := conditionValues(vals)
			if err != nil {
				return nil, err
			}
			out = append(out, Condition{Operator: op, Key: key, Values: values})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Operator != out[j].Operator {
			return out[i].Operator < out[j].Operator
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// checkLegacy is IAM's second pass: Effect's exact case and parseable date values.
func checkLegacy(p *Policy) *ParseError {
	for _, s := range p.Statements {
		if s.Effect != EffectAllow && s.Effect != EffectDeny {
			return parseErr(msgLegacy)
		}
		for _, c := range s.Conditions {
			op, err := lookupOperator(c.Operator)
			if err != nil || op.family != familyDate {
				continue
			}
			for _, v := range c.Values {
				if _, ok := parseDate(v); !ok {
					return parseErr(msgLegacy)
				}
			}
		}
	}
	return nil
}

func checkSids(p *Policy) *ParseError {
	seen := map[string]bool{}
	for _, s := range p.Statements {
		if s.Sid == "" {
			continue
		}
		if seen[s.Sid] {
			return parseErr(msgSidUnique)
		}
		seen[s.Sid] = true
	}
	return nil
}

func checkActionsPresent(p *Policy) *ParseError {
	for _, s := range p.Statements {
		if len(s.Action) == 0 && len(s.NotAction) == 0 {
			return parseErr(msgNoActions)
		}
	}
	return nil
}

// checkFormats checks resource ARNs, then action and condition key names.
func checkFormats(p *Policy) *ParseError {
	for _, s := range p.Statements {
		for _, r := range slices.Concat(s.Resource, s.NotResource) {
			if err := checkResource(r); err != nil {
				return err
			}
		}
	}
	for _, s := range p.Statements {
		for _, a := range slices.Concat(s.Action, s.NotAction) {
			if err := checkAction(a); err != nil {
				return err
			}
		}
		for _, c := range s.Conditions {
			if !strings.Contains(c.Key, ":") {
				return parseErr(msgVendor)
			}
		}
		for _, pr := range []*Principal{s.Principal, s.NotPrincipal} {
			if err := pr.check(); err != nil {
				return err
			}
		}
	}
	return nil
}

var partitions = map[string]bool{"aws": true, "aws-cn": true, "aws-us-gov": true, "*": true}

func checkResource(r string) *ParseError {
	if r == "*" {
		return nil
	}
	parts := strings.SplitN(r, ":", 6)
	switch {
	case len(parts) < 2:
		return parseErr(`Resource %s must be in ARN format or "*".`, r)
	case !partitions[parts[1]]:
		return parseErr(`Partition "%s" is not valid for resource "%s".`, parts[1], r)
	case len(parts) < 3 || parts[2] == "":
		return parseErr(msgVendorRegex)
	}
	if len(parts) >= 4 && parts[3] != "" {
		switch parts[2] {
		case "iam":
			return parseErr("IAM resource %s cannot contain region information.", r)
		case "s3":
			return parseErr("Resource %s can not contain region information.", r)
		}
	}
	return nil
}

func checkAction(a string) *ParseError {
	if a == "*" {
		return nil
	}
	vendor, _, found := strings.Cut(a, ":")
	switch {
	case !found:
		return parseErr(msgVendor)
	case strings.Count(a, ":") > 1:
		return parseErr(msgOneColon)
	}
	for _, c := range vendor {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' ||
			c == '*' || c == '?') {
			return parseErr("Vendor %s is not valid", vendor)
		}
	}
	return nil
}

// compile prepares the statements for evaluation.
func (p *Policy) compile() {
	vars := p.Version == Version2012
	for _, s := range p.Statements {
		actions := s.Action
		if s.NotAction != nil {
			actions, s.notAction = s.NotAction, true
		}
		for _, a := range actions {
			// Action names are matched case-insensitively; ${...} is never a variable in an action.
			s.actions = append(s.actions, compilePattern(strings.ToLower(a), true, false))
		}
		resources := s.Resource
		switch {
		case s.Resource != nil:
			s.resMode = resourceList
		case s.NotResource != nil:
			s.resMode, resources = notResourceList, s.NotResource
		}
		for _, r := range resources {
			s.resources = append(s.resources, compileARN(r, vars))
		}
		for _, c := range s.Conditions {
			if cc := compileCondition(c, vars); cc != nil {
				s.conds = append(s.conds, *cc)
			}
		}
	}
}
