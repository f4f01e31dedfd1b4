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
	users, recs, err := userEntity.list(ctx, s)
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
	n, err := groupEntity.checkName(in.GroupName)
	if err != nil {
		return nil, err
	}
	g, _, err := groupEntity.get(ctx, s, n)
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
	groups, err := groupEntity.listUnderPath(ctx, s, in.PathPrefix)
	if err != nil {
		return nil, err
	}
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
	n, err := userEntity.checkName(in.UserName)
	if err != nil {
		return nil, err
	}
	u, _, err := userEntity.get(ctx, s, n)
	if err != nil {
		return nil, err
	}
	var groups []ident.Group
	for _, gn := range u.Groups {
		g, _, err := groupEntity.get(ctx, s, gn)
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
	n, err := groupEntity.checkName(in.GroupName)
	if err != nil {
		return nil, err
	}
	newName, err := checkNewNames(n, in.NewGroupName, "newGroupName", maxGroupName, in.NewPath)
	if err != nil {
		return nil, err
	}
	acct := account(ctx)
	return empty(retry(func() error {
		g, rec, err := groupEntity.get(ctx, s, n)
		if err != nil {
			return err
		}
		oldName := g.Name
		g.Name = newName
		if in.NewPath != nil {
			g.Path = *in.NewPath
		}
		g.ARN = ident.ARN(acct, "group", g.Path, g.Name)
		ops, err := renameOps(rec, ident.GroupKey(acct, newName), g)
		if err != nil {
			return err
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
	return empty(groupEntity.deleteNamed(ctx, s, in.GroupName, func(g *ident.Group) error {
		users, _, err := s.members(ctx, g.Name)
		switch {
		case err != nil:
			return err
		case len(users) > 0:
			return deleteConflict("Cannot delete entity, must remove users from group first.")
		}
		return policiesConflict(&g.Policies)
	}))
}

func (s *Service) AddUserToGroup(ctx context.Context, in *iamapi.AddUserToGroupRequest) (*wire.Empty, error) {
	return empty(s.updateMembership(ctx, in.GroupName, in.UserName, func(u *ident.User, group string) error {
		if u.InGroup(group) {
			return nil
		}
		if len(u.Groups) >= groupsPerUser {
			return limitExceeded("Cannot exceed quota for GroupsPerUser: %d", groupsPerUser)
		}
		u.Groups = append(u.Groups, group)
		return nil
	}))
}

func (s *Service) RemoveUserFromGroup(ctx context.Context, in *iamapi.RemoveUserFromGroupRequest) (*wire.Empty, error) {
	return empty(s.updateMembership(ctx, in.GroupName, in.UserName, func(u *ident.User, group string) error {
		if !u.InGroup(group) {
			return noSuchEntity("User %s is not in group %s.", u.Name, group)
		}
		kept := u.Groups[:0]
		for _, x := range u.Groups {
			if !strings.EqualFold(x, group) {
				kept = append(kept, x)
			}
		}
		u.Groups = kept
		return nil
	}))
}

// updateMembership applies fn to the user a request names and the name of the group it names, as the group
// records it, once the group is found. Membership is recorded on the user, so only the user is written.
func (s *Service) updateMembership(ctx context.Context, groupIn, userIn *string, fn func(u *ident.User, group string) error) error {
	gn, err := groupEntity.checkName(groupIn)
	if err != nil {
		return err
	}
	un, err := userEntity.checkName(userIn)
	if err != nil {
		return err
	}
	g, _, err := groupEntity.get(ctx, s, gn)
	if err != nil {
		return err
	}
	_, err = userEntity.update(ctx, s, un, func(u *ident.User) error { return fn(u, g.Name) })
	return err
}
