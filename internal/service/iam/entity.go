package iam

import (
	"context"
	"strings"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
)

// entity describes a kind of IAM record that requests name by its name — a user, group, role or instance
// profile — so that what the kinds share (finding one, changing it, deleting it, its tags, its policies) is
// written once. What AWS says about each kind (its messages, limits and request members) stays in its
// descriptor.
type entity[T any] struct {
	label   string // as AWS's policy messages name it: "user", "group", "role"
	member  string // the request member that names an existing one
	maxName int    // the longest name that member accepts
	kind    string // of its store records
	key     func(account, name string) store.Key
	missing func(name string) error
	path    func(*T) string

	policies    func(*T) *ident.Policies // nil for a kind that carries no policies
	inlineQuota int                      // bytes of inline policy, whitespace excluded, AWS allows in total
	tags        func(*T) *[]ident.Tag    // nil for a kind that carries no tags
}

var (
	userEntity = entity[ident.User]{
		label: "user", member: "userName", maxName: 128,
		kind: ident.KindUser, key: ident.UserKey, missing: ident.NoSuchUser,
		path:     func(u *ident.User) string { return u.Path },
		policies: func(u *ident.User) *ident.Policies { return &u.Policies }, inlineQuota: 2048,
		tags: func(u *ident.User) *[]ident.Tag { return &u.Tags },
	}
	groupEntity = entity[ident.Group]{
		label: "group", member: "groupName", maxName: maxGroupName,
		kind: ident.KindGroup, key: ident.GroupKey, missing: noSuchGroup,
		path:     func(g *ident.Group) string { return g.Path },
		policies: func(g *ident.Group) *ident.Policies { return &g.Policies }, inlineQuota: 5120,
	}
	roleEntity = entity[ident.Role]{
		label: "role", member: "roleName", maxName: maxRoleName,
		kind: ident.KindRole, key: ident.RoleKey, missing: ident.NoSuchRole,
		path:     func(r *ident.Role) string { return r.Path },
		policies: func(r *ident.Role) *ident.Policies { return &r.Policies }, inlineQuota: 10240,
		tags: func(r *ident.Role) *[]ident.Tag { return &r.Tags },
	}
	profileEntity = entity[ident.InstanceProfile]{
		member: "instanceProfileName", maxName: maxInstanceProfileName,
		kind: ident.KindInstanceProfile, key: ident.InstanceProfileKey, missing: noSuchProfile,
		path: func(ip *ident.InstanceProfile) string { return ip.Path },
		tags: func(ip *ident.InstanceProfile) *[]ident.Tag { return &ip.Tags },
	}
)

// checkName checks the request member that names an existing record of the kind.
func (e entity[T]) checkName(in *string) (string, error) { return checkName(in, e.member, e.maxName) }

// get reads the caller's account's record named n.
func (e entity[T]) get(ctx context.Context, s *Service, n string) (T, store.Record, error) {
	return get[T](ctx, s.st, e.key(account(ctx), n), e.missing(n))
}

// update applies fn to the caller's account's record named n.
func (e entity[T]) update(ctx context.Context, s *Service, n string, fn func(*T) error) (T, error) {
	return mutate(ctx, s.st, e.key(account(ctx), n), e.missing(n), fn)
}

// list reads all the caller's account's records of the kind.
func (e entity[T]) list(ctx context.Context, s *Service) ([]T, []store.Record, error) {
	return store.List[T](ctx, s.st, ident.AccountPrefix(account(ctx), e.kind))
}

// listUnderPath lists the caller's account's records whose path starts with the prefix a request gives.
func (e entity[T]) listUnderPath(ctx context.Context, s *Service, prefixIn *string) ([]T, error) {
	prefix, err := checkPathPrefix(prefixIn)
	if err != nil {
		return nil, err
	}
	items, _, err := e.list(ctx, s)
	if err != nil {
		return nil, err
	}
	if prefix == "/" {
		return items, nil
	}
	out := items[:0]
	for i := range items {
		if strings.HasPrefix(e.path(&items[i]), prefix) {
			out = append(out, items[i])
		}
	}
	return out, nil
}

// updateNamed checks the name a request gives and applies fn to that record.
func (e entity[T]) updateNamed(ctx context.Context, s *Service, nameIn *string, fn func(*T) error) (T, error) {
	n, err := e.checkName(nameIn)
	if err != nil {
		var zero T
		return zero, err
	}
	return e.update(ctx, s, n, fn)
}

// deleteNamed checks the name a request gives and deletes that record once check allows it.
func (e entity[T]) deleteNamed(ctx context.Context, s *Service, nameIn *string, check func(*T) error) error {
	n, err := e.checkName(nameIn)
	if err != nil {
		return err
	}
	return deleteChecked(ctx, s.st, e.key(account(ctx), n), e.missing(n), check)
}

// checkNewNames checks the new name (in the request member newMember) and new path an UpdateUser or
// UpdateGroup call may give, and returns the name the record is to have: name when it gives none.
func checkNewNames(name string, newNameIn *string, newMember string, maxName int, newPathIn *string) (string, error) {
	newName := name
	if newNameIn != nil {
		var err error
		if newName, err = checkName(newNameIn, newMember, maxName); err != nil {
			return "", err
		}
	}
	if newPathIn != nil {
		if _, err := checkPath(newPathIn, "newPath"); err != nil {
			return "", err
		}
	}
	return newName, nil
}

// renameOps write v, a record renamed, in place of rec: where it was when its key stays, or moved to newKey,
// which must then be free.
func renameOps[T any](rec store.Record, newKey store.Key, v T) ([]store.Op, error) {
	if newKey == rec.Key {
		put, err := store.PutOp(rec.Key, v, rec.ModRevision)
		return []store.Op{put}, err
	}
	put, err := store.PutOp(newKey, v, store.Absent)
	return []store.Op{store.DeleteOp(rec.Key, rec.ModRevision), put}, err
}

// policiesConflict refuses to delete an entity that still carries policies; AWS checks this after the
// kind's own dependents.
func policiesConflict(ps *ident.Policies) error {
	switch {
	case len(ps.Attached) > 0:
		return deleteConflict("Cannot delete entity, must detach all policies first.")
	case len(ps.Inline) > 0:
		return deleteConflict("Cannot delete entity, must delete policies first.")
	}
	return nil
}

// The Tag, Untag and List...Tags operations of the kinds that carry tags. Tag checks the tags before the
// name; TagUser checks its name first itself.

func (e entity[T]) tag(ctx context.Context, s *Service, nameIn *string, tagsIn []iamapi.Tag) error {
	tags, err := checkTags(tagsIn)
	if err != nil {
		return err
	}
	_, err = e.updateNamed(ctx, s, nameIn, func(v *T) error { return addTags(e.tags(v), tags) })
	return err
}

func (e entity[T]) untag(ctx context.Context, s *Service, nameIn *string, keys []string) error {
	_, err := e.updateNamed(ctx, s, nameIn, func(v *T) error {
		*e.tags(v) = removeTags(*e.tags(v), keys)
		return nil
	})
	return err
}

func (e entity[T]) listTags(ctx context.Context, s *Service, nameIn, marker *string, maxItems *int32) ([]iamapi.Tag, *bool, *string, error) {
	n, err := e.checkName(nameIn)
	if err != nil {
		return nil, nil, nil, err
	}
	v, _, err := e.get(ctx, s, n)
	if err != nil {
		return nil, nil, nil, err
	}
	return pageTags(*e.tags(&v), marker, maxItems)
}
