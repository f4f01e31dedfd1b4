package iam

import (
	"context"
	"strings"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
)

// holder describes an entity that carries policies — a user, group or role — so that attaching, detaching
// and inline policies are written once for the three.
type holder[T any] struct {
	label       string // as AWS's messages name it: "user", "group", "role"
	member      string // the request member that names it
	maxName     int
	key         func(account, name string) store.Key
	missing     func(name string) error
	policies    func(*T) *ident.Policies
	inlineQuota int // bytes of inline policy, whitespace excluded, AWS allows in total
}

var (
	userHolder = holder[ident.User]{
		label: "user", member: "userName", maxName: 128, key: ident.UserKey, missing: ident.NoSuchUser,
		policies: func(u *ident.User) *ident.Policies { return &u.Policies }, inlineQuota: 2048,
	}
	groupHolder = holder[ident.Group]{
		label: "group", member: "groupName", maxName: maxGroupName, key: ident.GroupKey, missing: noSuchGroup,
		policies: func(g *ident.Group) *ident.Policies { return &g.Policies }, inlineQuota: 5120,
	}
	roleHolder = holder[ident.Role]{
		label: "role", member: "roleName", maxName: maxRoleName, key: ident.RoleKey, missing: ident.NoSuchRole,
		policies: func(r *ident.Role) *ident.Policies { return &r.Policies }, inlineQuota: 10240,
	}
)

// attachedPerEntity is AWS's default quota of managed policies attached to one user, group or role.
const attachedPerEntity = 10

func attachPolicy[T any](ctx context.Context, s *Service, h holder[T], nameIn, arnIn *string) error {
	n, err := checkName(nameIn, h.member, h.maxName)
	if err != nil {
		return err
	}
	arn, err := checkPolicyARN(arnIn)
	if err != nil {
		return err
	}
	if _, err := s.managedPolicy(ctx, arn, "Policy %s does not exist or is not attachable."); err != nil {
		return err
	}
	_, err = mutate(ctx, s.st, h.key(account(ctx), n), h.missing(n), func(v *T) error {
		ps := h.policies(v)
		if ps.IsAttached(arn) {
			return nil
		}
		if len(ps.Attached) >= attachedPerEntity {
			return limitExceeded("Cannot exceed quota for PoliciesPer%s: %d", titled(h.label), attachedPerEntity)
		}
		ps.Attached = append(ps.Attached, arn)
		return nil
	})
	return err
}

func titled(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func detachPolicy[T any](ctx context.Context, s *Service, h holder[T], nameIn, arnIn *string) error {
	n, err := checkName(nameIn, h.member, h.maxName)
	if err != nil {
		return err
	}
	arn, err := checkPolicyARN(arnIn)
	if err != nil {
		return err
	}
	_, err = mutate(ctx, s.st, h.key(account(ctx), n), h.missing(n), func(v *T) error {
		ps := h.policies(v)
		if !ps.IsAttached(arn) {
			return noSuchEntity("Policy %s was not found.", arn)
		}
		kept := ps.Attached[:0]
		for _, a := range ps.Attached {
			if a != arn {
				kept = append(kept, a)
			}
		}
		ps.Attached = kept
		return nil
	})
	return err
}

func listAttached[T any](ctx context.Context, s *Service, h holder[T], nameIn, prefixIn, marker *string, maxItems *int32) ([]iamapi.AttachedPolicy, *bool, *string, error) {
	n, err := checkName(nameIn, h.member, h.maxName)
	if err != nil {
		return nil, nil, nil, err
	}
	prefix, err := checkPathPrefix(prefixIn)
	if err != nil {
		return nil, nil, nil, err
	}
	v, _, err := get[T](ctx, s.st, h.key(account(ctx), n), h.missing(n))
	if err != nil {
		return nil, nil, nil, err
	}
	type attached struct{ arn, name string }
	var all []attached
	for _, arn := range h.policies(&v).Attached {
		_, p, pn, _ := ident.ParsePolicyARN(arn)
		if strings.HasPrefix(p, prefix) {
			all = append(all, attached{arn, pn})
		}
	}
	page, trunc, next, err := paginate(all, func(a attached) string { return strings.ToLower(a.name) + "\x00" + a.arn }, marker, maxItems)
	if err != nil {
		return nil, nil, nil, err
	}
	out := []iamapi.AttachedPolicy{}
	for _, a := range page {
		out = append(out, iamapi.AttachedPolicy{PolicyArn: str(a.arn), PolicyName: str(a.name)})
	}
	return out, trunc, next, nil
}

func noSuchInline(h string, name string) error {
	return noSuchEntity("The %s policy with name %s cannot be found.", h, name)
}

func putInline[T any](ctx context.Context, s *Service, h holder[T], nameIn, policyIn, docIn *string) error {
	n, err := checkName(nameIn, h.member, h.maxName)
	if err != nil {
		return err
	}
	pn, err := checkName(policyIn, "policyName", maxPolicyName)
	if err != nil {
		return err
	}
	doc, err := identityDocument(docIn, "policyDocument")
	if err != nil {
		return err
	}
	_, err = mutate(ctx, s.st, h.key(account(ctx), n), h.missing(n), func(v *T) error {
		ps := h.policies(v)
		size := policySize(doc)
		for name, other := range ps.Inline {
			if name != pn {
				size += policySize(other)
			}
		}
		if size > h.inlineQuota {
			return limitExceeded("Maximum policy size of %d bytes exceeded for %s %s", h.inlineQuota, h.label, n)
		}
		if ps.Inline == nil {
			ps.Inline = map[string]string{}
		}
		ps.Inline[pn] = doc
		return nil
	})
	return err
}

func getInline[T any](ctx context.Context, s *Service, h holder[T], nameIn, policyIn *string) (entity, policyName string, doc *string, err error) {
	n, err := checkName(nameIn, h.member, h.maxName)
	if err != nil {
		return "", "", nil, err
	}
	pn, err := checkName(policyIn, "policyName", maxPolicyName)
	if err != nil {
		return "", "", nil, err
	}
	v, _, err := get[T](ctx, s.st, h.key(account(ctx), n), h.missing(n))
	if err != nil {
		return "", "", nil, err
	}
	d, ok := h.policies(&v).Inline[pn]
	if !ok {
		return "", "", nil, noSuchInline(h.label, pn)
	}
	return n, pn, encodeDocument(d), nil
}

func listInline[T any](ctx context.Context, s *Service, h holder[T], nameIn, marker *string, maxItems *int32) ([]string, *bool, *string, error) {
	n, err := checkName(nameIn, h.member, h.maxName)
	if err != nil {
		return nil, nil, nil, err
	}
	v, _, err := get[T](ctx, s.st, h.key(account(ctx), n), h.missing(n))
	if err != nil {
		return nil, nil, nil, err
	}
	names, trunc, next, err := paginate(sortedNames(h.policies(&v).Inline), func(s string) string { return s }, marker, maxItems)
	if err != nil {
		return nil, nil, nil, err
	}
	return append([]string{}, names...), trunc, next, nil
}

func deleteInline[T any](ctx context.Context, s *Service, h holder[T], nameIn, policyIn *string) error {
	n, err := checkName(nameIn, h.member, h.maxName)
	if err != nil {
		return err
	}
	pn, err := checkName(policyIn, "policyName", maxPolicyName)
	if err != nil {
		return err
	}
	_, err = mutate(ctx, s.st, h.key(account(ctx), n), h.missing(n), func(v *T) error {
		ps := h.policies(v)
		if _, ok := ps.Inline[pn]; !ok {
			return noSuchInline(h.label, pn)
		}
		delete(ps.Inline, pn)
		return nil
	})
	return err
}
