package iam

import (
	"context"
	"errors"
	"strings"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
)

const (
	maxGroupName  = 128
	groupsPerUser = 10
)

func noSuchGroup(n string) error { return noSuchEntity("The group with name %s cannot be found.", n) }

func (s *Service) group(ctx context.Context, n string) (ident.Group, store.Record, error) {
	return get[ident.Group](ctx, s.st, ident.GroupKey(account(ctx), n), noSuchGroup(n))
}

func (s *Service) CreateGroup(ctx context.Context, in *iamapi.CreateGroupRequest) (*iamapi.CreateGroupResponse, error) {
	n, err := checkName(in.GroupName, "groupName", maxGroupName)
	if err != nil {
		return nil, err
	}
	p, err := checkPath(in.Path, "path")
	if err != nil {
		return nil, err
	}
	acct := account(ctx)
	g := ident.Group{Account: acct, Name: n, Path: p, ID: ident.NewID(ident.PrefixGroup), ARN: ident.ARN(acct, "group", p, n), Created: s.now()}
	if err := create(ctx, s.st, ident.GroupKey(acct, n), g, alreadyExists("Group with name %s already exists.", n)); err != nil {
		return nil, err
	}
	out := apiGroup(&g)
	return &iamapi.CreateGroupResponse{Group: &out}, nil
}

// members lists the users in a group. Membership is recorded on users, so this reads them all.
func (s *Service) members(ctx context.Context, groupName string) ([]ident.User, []store.Record, error) {
	users, recs, err := store.List[ident.User](ctx, s.st, ident.AccountPrefix(account(ctx), ident.KindUser))
	if err != nil {
		return nil, nil, err
	}
	var out []ident.User
	var outRecs []store.Record
	for i := range users {
		if users[i].InGroup(groupName) {
			out = append(out, users[i])
			outRecs = append(outRecs, recs[i])
		}
	}
	return out, outRecs, nil
}

func (s *Service) GetGroup(ctx context.Context, in *iamapi.GetGroupRequest) (*iamapi.GetGroupResponse, error) {
	n, err := checkName(in.GroupName, "groupName", maxGroupName)
	if err != nil {
		return nil, err
	}
	g, _, err := s.group(ctx, n)
	if err != nil {
		return nil, err
	}
	users, _, err := s.members(ctx, g.Name)
	if err != nil {
		return nil, err
	}
	page, trunc, next, err := paginate(users, func(u ident.User) string { return strings.ToLower(u.Name) }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	ag := apiGroup(&g)
	out := &iamapi.GetGroupResponse{Group: &ag, Users: []iamapi.User{}, IsTruncated: trunc, Marker: next}
	for i := range page {
		out.Users = append(out.Users, apiUser(&page[i], false))
	}
	return out, nil
}

func (s *Service) ListGroups(ctx context.Context, in *iamapi.ListGroupsRequest) (*iamapi.ListGroupsResponse, error) {
	prefix, err := checkPathPrefix(in.PathPrefix)
	if err != nil {
		return nil, err
	}
	groups, _, err := store.List[ident.Group](ctx, s.st, ident.AccountPrefix(account(ctx), ident.KindGroup))
	if err != nil {
		return nil, err
	}
	groups = filterPath(groups, func(g ident.Group) string { return g.Path }, prefix)
	return pageGroups(groups, in.Marker, in.MaxItems)
}

func pageGroups(groups []ident.Group, marker *string, maxItems *int32) (*iamapi.ListGroupsResponse, error) {
	page, trunc, next, err := paginate(groups, func(g ident.Group) string { return strings.ToLower(g.Name) }, marker, maxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListGroupsResponse{Groups: []iamapi.Group{}, IsTruncated: trunc, Marker: next}
	for i := range page {
		out.Groups = append(out.Groups, apiGroup(&page[i]))
	}
	return out, nil
}

func (s *Service) ListGroupsForUser(ctx context.Context, in *iamapi.ListGroupsForUserRequest) (*iamapi.ListGroupsForUserResponse, error) {
	n, err := checkName(in.UserName, "userName", 128)
	if err != nil {
		return nil, err
	}
	u, _, err := s.user(ctx, n)
	if err != nil {
		return nil, err
	}
	var groups []ident.Group
	for _, gn := range u.Groups {
		g, _, err := s.group(ctx, gn)
		if err != nil {
			continue // a group deleted under the user is no longer one of its groups
		}
		groups = append(groups, g)
	}
	res, err := pageGroups(groups, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListGroupsForUserResponse{Groups: res.Groups, IsTruncated: res.IsTruncated, Marker: res.Marker}, nil
}

func (s *Service) UpdateGroup(ctx context.Context, in *iamapi.UpdateGroupRequest) (*wire.Empty, error) {
	n, err := checkName(in.GroupName, "groupName", maxGroupName)
	if err != nil {
		return nil, err
	}
	newName := n
	if in.NewGroupName != nil {
		if newName, err = checkName(in.NewGroupName, "newGroupName", maxGroupName); err != nil {
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
		g, rec, err := s.group(ctx, n)
		if err != nil {
			return err
		}
		oldName := g.Name
		g.Name = newName
		if in.NewPath != nil {
			g.Path = *in.NewPath
		}
		g.ARN = ident.ARN(acct, "group", g.Path, g.Name)
		newKey := ident.GroupKey(acct, newName)
		var ops []store.Op
		if newKey == rec.Key {
			op, err := store.PutOp(rec.Key, g, rec.ModRevision)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		} else {
			op, err := store.PutOp(newKey, g, store.Absent)
			if err != nil {
				return err
			}
			ops = append(ops, store.DeleteOp(rec.Key, rec.ModRevision), op)
		}
		// Members name the group, so a rename rewrites them in the same transaction.
		users, recs, err := s.members(ctx, oldName)
		if err != nil {
			return err
		}
		for i := range users {
			for j, gn := range users[i].Groups {
				if strings.EqualFold(gn, oldName) {
					users[i].Groups[j] = newName
				}
			}
			op, err := store.PutOp(recs[i].Key, users[i], recs[i].ModRevision)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
		_, err = s.st.Txn(ctx, ops...)
		if errors.Is(err, store.ErrExists) {
			return alreadyExists("Group with name %s already exists.", newName)
		}
		return err
	}))
}

func (s *Service) DeleteGroup(ctx context.Context, in *iamapi.DeleteGroupRequest) (*wire.Empty, error) {
	n, err := checkName(in.GroupName, "groupName", maxGroupName)
	if err != nil {
		return nil, err
	}
	return empty(deleteChecked(ctx, s.st, ident.GroupKey(account(ctx), n), noSuchGroup(n), func(g *ident.Group) error {
		users, _, err := s.members(ctx, g.Name)
		switch {
		case err != nil:
			return err
		case len(users) > 0:
			return deleteConflict("Cannot delete entity, must remove users from group first.")
		case len(g.Attached) > 0:
			return deleteConflict("Cannot delete entity, must detach all policies first.")
		case len(g.Inline) > 0:
			return deleteConflict("Cannot delete entity, must delete policies first.")
		}
		return nil
	}))
}

func (s *Service) AddUserToGroup(ctx context.Context, in *iamapi.AddUserToGroupRequest) (*wire.Empty, error) {
	gn, err := checkName(in.GroupName, "groupName", maxGroupName)
	if err != nil {
		return nil, err
	}
	un, err := checkName(in.UserName, "userName", 128)
	if err != nil {
		return nil, err
	}
	g, _, err := s.group(ctx, gn)
	if err != nil {
		return nil, err
	}
	_, err = mutate(ctx, s.st, ident.UserKey(account(ctx), un), ident.NoSuchUser(un), func(u *ident.User) error {
		if u.InGroup(g.Name) {
			return nil
		}
		if len(u.Groups) >= groupsPerUser {
			return limitExceeded("Cannot exceed quota for GroupsPerUser: %d", groupsPerUser)
		}
		u.Groups = append(u.Groups, g.Name)
		return nil
	})
	return empty(err)
}

func (s *Service) RemoveUserFromGroup(ctx context.Context, in *iamapi.RemoveUserFromGroupRequest) (*wire.Empty, error) {
	gn, err := checkName(in.GroupName, "groupName", maxGroupName)
	if err != nil {
		return nil, err
	}
	un, err := checkName(in.UserName, "userName", 128)
	if err != nil {
		return nil, err
	}
	g, _, err := s.group(ctx, gn)
	if err != nil {
		return nil, err
	}
	_, err = mutate(ctx, s.st, ident.UserKey(account(ctx), un), ident.NoSuchUser(un), func(u *ident.User) error {
		if !u.InGroup(g.Name) {
			return noSuchEntity("User %s is not in group %s.", u.Name, g.Name)
		}
		kept := u.Groups[:0]
		for _, x := range u.Groups {
			if !strings.EqualFold(x, g.Name) {
				kept = append(kept, x)
			}
		}
		u.Groups = kept
		return nil
	})
	return empty(err)
}
