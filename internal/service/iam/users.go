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

// callerUser reads the user a call names, or the calling IAM user when it names none.
func (s *Service) callerUser(ctx context.Context, in *string) (ident.User, error) {
	n, err := callerUserName(ctx, in)
	if err != nil {
		return ident.User{}, err
	}
	u, _, err := userEntity.get(ctx, s, n)
	return u, err
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
	u, err := s.callerUser(ctx, in.UserName)
	if err != nil {
		return nil, err
	}
	out := apiUser(&u, true)
	return &iamapi.GetUserResponse{User: &out}, nil
}

func (s *Service) ListUsers(ctx context.Context, in *iamapi.ListUsersRequest) (*iamapi.ListUsersResponse, error) {
	users, err := userEntity.listUnderPath(ctx, s, in.PathPrefix)
	if err != nil {
		return nil, err
	}
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

func (s *Service) UpdateUser(ctx context.Context, in *iamapi.UpdateUserRequest) (*wire.Empty, error) {
	n, err := userEntity.checkName(in.UserName)
	if err != nil {
		return nil, err
	}
	newName, err := checkNewNames(n, in.NewUserName, "newUserName", maxUserName, in.NewPath)
	if err != nil {
		return nil, err
	}
	acct := account(ctx)
	return empty(retry(func() error {
		u, rec, err := userEntity.get(ctx, s, n)
		if err != nil {
			return err
		}
		u.Name = newName
		if in.NewPath != nil {
			u.Path = *in.NewPath
		}
		u.ARN = ident.ARN(acct, "user", u.Path, u.Name)
		newKey := ident.UserKey(acct, newName)
		ops, err := renameOps(rec, newKey, u)
		if err != nil {
			return err
		}
		// A rename that moves the record repoints the user's access keys at the new name.
		if newKey != rec.Key {
			for _, k := range u.AccessKeys {
				op, err := store.PutOp(ident.AccessKeyKey(k.ID), ident.AccessKeyIndex{Account: acct, UserName: newName}, store.Any)
				if err != nil {
					return err
				}
				ops = append(ops, op)
			}
		}
		_, err = s.st.Txn(ctx, ops...)
		if errors.Is(err, store.ErrExists) {
			return alreadyExists("User with name %s already exists.", newName)
		}
		return err
	}))
}

func (s *Service) DeleteUser(ctx context.Context, in *iamapi.DeleteUserRequest) (*wire.Empty, error) {
	return empty(userEntity.deleteNamed(ctx, s, in.UserName, func(u *ident.User) error {
		switch {
		case u.LoginProfile != nil:
			return deleteConflict("Cannot delete entity, must delete login profile first.")
		case len(u.AccessKeys) > 0:
			return deleteConflict("Cannot delete entity, must delete access keys first.")
		case len(u.Groups) > 0:
			return deleteConflict("Cannot delete entity, must remove users from group first.")
		}
		return policiesConflict(&u.Policies)
	}))
}

func (s *Service) TagUser(ctx context.Context, in *iamapi.TagUserRequest) (*wire.Empty, error) {
	// TagUser answers a bad name before bad tags; TagRole and TagInstanceProfile the other way round.
	if _, err := userEntity.checkName(in.UserName); err != nil {
		return nil, err
	}
	return empty(userEntity.tag(ctx, s, in.UserName, in.Tags))
}

func (s *Service) UntagUser(ctx context.Context, in *iamapi.UntagUserRequest) (*wire.Empty, error) {
	return empty(userEntity.untag(ctx, s, in.UserName, in.TagKeys))
}

func (s *Service) ListUserTags(ctx context.Context, in *iamapi.ListUserTagsRequest) (*iamapi.ListUserTagsResponse, error) {
	tags, trunc, next, err := userEntity.listTags(ctx, s, in.UserName, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListUserTagsResponse{Tags: tags, IsTruncated: trunc, Marker: next}, nil
}
