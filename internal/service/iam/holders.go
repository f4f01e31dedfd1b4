package iam

import (
	"context"
	"strings"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	ident "github.com/overcast-cloud/overcast/internal/iam"
)

// The attach, detach and inline policy operations of users, groups and roles, whose entity descriptors say
// how each is named and what AWS allows it.

// attachedPerEntity is AWS's default quota of managed policies attached to one user, group or role.
const attachedPerEntity = 10

func (e entity[T]) attachPolicy(ctx context.Context, s *Service, nameIn, arnIn *string) error {
	n, err := e.checkName(nameIn)
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
	_, err = e.update(ctx, s, n, func(v *T) error {
		ps := e.policies(v)
		if ps.IsAttached(arn) {
			return nil
		}
		if len(ps.Attached) >= attachedPerEntity {
			return limitExceeded("Cannot exceed quota for PoliciesPer%s: %d", titled(e.label), attachedPerEntity)
		}
		ps.Attached = append(ps.Attached, arn)
		return nil
	})
	return err
}

func titled(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func (e entity[T]) detachPolicy(ctx context.Context, s *Service, nameIn, arnIn *string) error {
	n, err := e.checkName(nameIn)
	if err != nil {
		return err
	}
	arn, err := checkPolicyARN(arnIn)
	if err != nil {
		return err
	}
	_, err = e.update(ctx, s, n, func(v *T) error {
		ps := e.policies(v)
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

func (e entity[T]) listAttached(ctx context.Context, s *Service, nameIn, prefixIn, marker *string, maxItems *int32) ([]iamapi.AttachedPolicy, *bool, *string, error) {
	n, err := e.checkName(nameIn)
	if err != nil {
		return nil, nil, nil, err
	}
	prefix, err := checkPathPrefix(prefixIn)
	if err != nil {
		return nil, nil, nil, err
	}
	v, _, err := e.get(ctx, s, n)
	if err != nil {
		return nil, nil, nil, err
	}
	type attached struct{ arn, name string }
	var all []attached
	for _, arn := range e.policies(&v).Attached {
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

func noSuchInline(label, name string) error {
	return noSuchEntity("The %s policy with name %s cannot be found.", label, name)
}

func (e entity[T]) putInline(ctx context.Context, s *Service, nameIn, policyIn, docIn *string) error {
	n, err := e.checkName(nameIn)
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
	_, err = e.update(ctx, s, n, func(v *T) error {
		ps := e.policies(v)
		size := policySize(doc)
		for name, other := range ps.Inline {
			if name != pn {
				size += policySize(other)
			}
		}
		if size > e.inlineQuota {
			return limitExceeded("Maximum policy size of %d bytes exceeded for %s %s", e.inlineQuota, e.label, n)
		}
		if ps.Inline == nil {
			ps.Inline = map[string]string{}
		}
		ps.Inline[pn] = doc
		return nil
	})
	return err
}

func (e entity[T]) getInline(ctx context.Context, s *Service, nameIn, policyIn *string) (entityName, policyName string, doc *string, err error) {
	n, err := e.checkName(nameIn)
	if err != nil {
		return "", "", nil, err
	}
	pn, err := checkName(policyIn, "policyName", maxPolicyName)
	if err != nil {
		return "", "", nil, err
	}
	v, _, err := e.get(ctx, s, n)
	if err != nil {
		return "", "", nil, err
	}
	d, ok := e.policies(&v).Inline[pn]
	if !ok {
		return "", "", nil, noSuchInline(e.label, pn)
	}
	return n, pn, encodeDocument(d), nil
}

func (e entity[T]) listInline(ctx context.Context, s *Service, nameIn, marker *string, maxItems *int32) ([]string, *bool, *string, error) {
	n, err := e.checkName(nameIn)
	if err != nil {
		return nil, nil, nil, err
	}
	v, _, err := e.get(ctx, s, n)
	if err != nil {
		return nil, nil, nil, err
	}
	names, trunc, next, err := paginate(sortedNames(e.policies(&v).Inline), func(s string) string { return s }, marker, maxItems)
	if err != nil {
		return nil, nil, nil, err
	}
	return append([]string{}, names...), trunc, next, nil
}

func (e entity[T]) deleteInline(ctx context.Context, s *Service, nameIn, policyIn *string) error {
	n, err := e.checkName(nameIn)
	if err != nil {
		return err
	}
	pn, err := checkName(policyIn, "policyName", maxPolicyName)
	if err != nil {
		return err
	}
	_, err = e.update(ctx, s, n, func(v *T) error {
		ps := e.policies(v)
		if _, ok := ps.Inline[pn]; !ok {
			return noSuchInline(e.label, pn)
		}
		delete(ps.Inline, pn)
		return nil
	})
	return err
}
