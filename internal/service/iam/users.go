package iam

import (
	"context"
	"errors"
	"strings"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
)

const maxUserName = 64

func (s *Service) CreateUser(ctx context.Context, in *iamapi.CreateUserRequest) (*iamapi.CreateUserResponse, error) {
	n, err := checkName(in.UserName, "userName", maxUserName)
	if err != nil {
		return nil, err
	}
	p, err := checkPath(in.Path, "path")
	if err != nil {
		return nil, err
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	acct := account(ctx)
	u := ident.User{
		Account: acct, Name: n, Path: p, ID: ident.NewID(ident.PrefixUser), ARN: ident.ARN(acct, "user", p, n),
		Created: s.now(), Tags: tags,
	}
	if in.PermissionsBoundary != nil {
		if u.PermissionsBoundary, err = s.boundaryPolicy(ctx, in.PermissionsBoundary); err != nil {
			return nil, err
		}
	}
	if err := create(ctx, s.st, ident.UserKey(acct, n), u, alreadyExists("User with name %s already exists.", n)); err != nil {
		return nil, err
	}
	out := apiUser(&u, true)
	return &iamapi.CreateUserResponse{User: &out}, nil
}

// boundaryPolicy checks a permissions boundary: a managed policy that exists.
func (s *Service) boundaryPolicy(ctx context.Context, arn *string) (string, error) {
	a, err := checkPolicyARN(arn)
	if err != nil {
		return "", err
	}
	if _, _, err := s.dir.ManagedPolicy(ctx, a); err != nil {
		return "", noSuchEntity("Scope ARN: %s does not exist or is not attachable.", a)
	}
	return a, nil
}

// callerUserName is the user a call without UserName acts on: the calling IAM user. Other principals must
// name one.
func callerUserName(ctx context.Context, in *string) (string, error) {
	if in != nil {
		return checkName(in, "userName", 128)
	}
	p := awsctx.From(ctx).Principal
	if p == nil || p.Type != "User" || p.Name == "" {
		return "", apierr.New(apierr.Invalid, "ValidationError", "Must specify userName when calling with non-User credentials")
	}
	return p.Name, nil
}

func (s *Service) user(ctx context.Context, n string) (ident.User, store.Record, error) {
	return get[ident.User](ctx, s.st, ident.UserKey(account(ctx), n), ident.NoSuchUser(n))
}

func (s *Service) GetUser(ctx context.Context, in *iamapi.GetUserRequest) (*iamapi.GetUserResponse, error) {
	if in.UserName == nil {
		if p := awsctx.From(ctx).Principal; p.IsRoot() {
			// The root user has no user record; AWS answers with the account as its id.
			return &iamapi.GetUserResponse{User: &iamapi.User{
				UserId: str(p.Account), Arn: str(ident.RootARN(p.Account)), CreateDate: timep(rootCreated),
			}}, nil
		}
	}
	n, err := callerUserName(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	u, _, err := s.user(ctx, n)
	if err != nil {
		return nil, err
	}
	out := apiUser(&u, true)
	return &iamapi.GetUserResponse{User: &out}, nil
}

func (s *Service) ListUsers(ctx context.Context, in *iamapi.ListUsersRequest) (*iamapi.ListUsersResponse, error) {
	prefix, err := checkPathPrefix(in.PathPrefix)
	if err != nil {
		return nil, err
	}
	users, _, err := store.List[ident.User](ctx, s.st, ident.AccountPrefix(account(ctx), ident.KindUser))
	if err != nil {
		return nil, err
	}
	users = filterPath(users, func(u ident.User) string { return u.Path }, prefix)
	page, trunc, next, err := paginate(users, func(u ident.User) string { return strings.ToLower(u.Name) }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListUsersResponse{Users: []iamapi.User{}, IsTruncated: trunc, Marker: next}
	for i := range page {
		out.Users = append(out.Users, apiUser(&page[i], false))
	}
	return out, nil
}

func filterPath[T any](items []T, pathOf func(T) string, prefix string) []T {
	if prefix == "/" {
		return items
	}
	out := items[:0]
	for _, it := range items {
		if strings.HasPrefix(pathOf(it), prefix) {
			out = append(out, it)
		}
	}
	return out
}

func (s *Service) UpdateUser(ctx context.Context, in *iamapi.UpdateUserRequest) (*wire.Empty, error) {
	n, err := checkName(in.UserName, "userName", 128)
	if err != nil {
		return nil, err
	}
	newName := n
	if in.NewUserName != nil {
		if newName, err = checkName(in.NewUserName, "newUserName", maxUserName); err != nil {
			return nil, err
		}
	}
	if in.NewPath != nil {
		if _, err := checkPath(in.NewPath, "newPath"); err != nil {
			return nil, err
		}
	}
	acct := account(ctx)
	return empty(retry(func() error {
		u, rec, err := s.user(ctx, n)
		if err != nil {
			return err
		}
		u.Name = newName
		if in.NewPath != nil {
			u.Path = *in.NewPath
		}
		u.ARN = ident.ARN(acct, "user", u.Path, u.Name)
		newKey := ident.UserKey(acct, newName)
		if newKey == rec.Key {
			_, err := store.Update(ctx, s.st, rec.Key, rec.ModRevision, u)
			return err
		}
		// A rename moves the record and repoints the user's access keys at the new name.
		put, err := store.PutOp(newKey, u, store.Absent)
		if err != nil {
			return err
		}
		ops := []store.Op{store.DeleteOp(rec.Key, rec.ModRevision), put}
		for _, k := range u.AccessKeys {
			op, err := store.PutOp(ident.AccessKeyKey(k.ID), ident.AccessKeyIndex{Account: acct, UserName: newName}, store.Any)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		_, err = s.st.Txn(ctx, ops...)
		if errors.Is(err, store.ErrExists) {
			return alreadyExists("User with name %s already exists.", newName)
		}
		return err
	}))
}

func (s *Service) DeleteUser(ctx context.Context, in *iamapi.DeleteUserRequest) (*wire.Empty, error) {
	n, err := checkName(in.UserName, "userName", 128)
	if err != nil {
		return nil, err
	}
	return empty(deleteChecked(ctx, s.st, ident.UserKey(account(ctx), n), ident.NoSuchUser(n), func(u *ident.User) error {
		switch {
		case u.LoginProfile != nil:
			return deleteConflict("Cannot delete entity, must delete login profile first.")
		case len(u.AccessKeys) > 0:
			return deleteConflict("Cannot delete entity, must delete access keys first.")
		case len(u.Groups) > 0:
			return deleteConflict("Cannot delete entity, must remove users from group first.")
		case len(u.Attached) > 0:
			return deleteConflict("Cannot delete entity, must detach all policies first.")
		case len(u.Inline) > 0:
			return deleteConflict("Cannot delete entity, must delete policies first.")
		}
		return nil
	}))
}

func (s *Service) TagUser(ctx context.Context, in *iamapi.TagUserRequest) (*wire.Empty, error) {
	n, err := checkName(in.UserName, "userName", 128)
	if err != nil {
		return nil, err
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	_, err = mutate(ctx, s.st, ident.UserKey(account(ctx), n), ident.NoSuchUser(n), func(u *ident.User) error {
		u.Tags, err = mergeTags(u.Tags, tags)
		return err
	})
	return empty(err)
}

func (s *Service) UntagUser(ctx context.Context, in *iamapi.UntagUserRequest) (*wire.Empty, error) {
	n, err := checkName(in.UserName, "userName", 128)
	if err != nil {
		return nil, err
	}
	_, err = mutate(ctx, s.st, ident.UserKey(account(ctx), n), ident.NoSuchUser(n), func(u *ident.User) error {
		u.Tags = removeTags(u.Tags, in.TagKeys)
		return nil
	})
	return empty(err)
}

func (s *Service) ListUserTags(ctx context.Context, in *iamapi.ListUserTagsRequest) (*iamapi.ListUserTagsResponse, error) {
	n, err := checkName(in.UserName, "userName", 128)
	if err != nil {
		return nil, err
	}
	u, _, err := s.user(ctx, n)
	if err != nil {
		return nil, err
	}
	tags, trunc, next, err := pageTags(u.Tags, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListUserTagsResponse{Tags: tags, IsTruncated: trunc, Marker: next}, nil
}
