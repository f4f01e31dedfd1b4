package iam

import (
	"context"
	"fmt"
	"strings"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	ident "github.com/overcast-cloud/overcast/internal/iam"
)

const (
	maxRoleName        = 64
	defaultSessionSecs = 3600
	maxSessionSecs     = 43200
)

func checkSessionDuration(v *int32) (int32, error) {
	if v == nil {
		return defaultSessionSecs, nil
	}
	switch {
	case *v < defaultSessionSecs:
		return 0, validationError(fmt.Sprint(*v), "maxSessionDuration", "Member must have value greater than or equal to 3600")
	case *v > maxSessionSecs:
		return 0, validationError(fmt.Sprint(*v), "maxSessionDuration", "Member must have value less than or equal to 43200")
	}
	return *v, nil
}

func (s *Service) CreateRole(ctx context.Context, in *iamapi.CreateRoleRequest) (*iamapi.CreateRoleResponse, error) {
	n, err := checkName(in.RoleName, "roleName", maxRoleName)
	if err != nil {
		return nil, err
	}
	p, err := checkPath(in.Path, "path")
	if err != nil {
		return nil, err
	}
	desc, err := checkDescription(in.Description)
	if err != nil {
		return nil, err
	}
	dur, err := checkSessionDuration(in.MaxSessionDuration)
	if err != nil {
		return nil, err
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	trust, err := trustDocument(in.AssumeRolePolicyDocument, "assumeRolePolicyDocument")
	if err != nil {
		return nil, err
	}
	acct := account(ctx)
	r := ident.Role{
		Account: acct, Name: n, Path: p, ID: ident.NewID(ident.PrefixRole), ARN: ident.ARN(acct, "role", p, n),
		Created: s.now(), Description: desc, TrustPolicy: trust, MaxSessionDuration: dur, Tags: tags,
	}
	if in.PermissionsBoundary != nil {
		if r.PermissionsBoundary, err = s.boundaryPolicy(ctx, in.PermissionsBoundary); err != nil {
			return nil, err
		}
	}
	if err := create(ctx, s.st, ident.RoleKey(acct, n), r, alreadyExists("Role with name %s already exists.", n)); err != nil {
		return nil, err
	}
	out := apiRole(&r, false)
	out.Tags = apiTags(r.Tags)
	return &iamapi.CreateRoleResponse{Role: &out}, nil
}

func (s *Service) GetRole(ctx context.Context, in *iamapi.GetRoleRequest) (*iamapi.GetRoleResponse, error) {
	n, err := roleEntity.checkName(in.RoleName)
	if err != nil {
		return nil, err
	}
	r, _, err := roleEntity.get(ctx, s, n)
	if err != nil {
		return nil, err
	}
	out := apiRole(&r, true)
	return &iamapi.GetRoleResponse{Role: &out}, nil
}

func (s *Service) ListRoles(ctx context.Context, in *iamapi.ListRolesRequest) (*iamapi.ListRolesResponse, error) {
	roles, err := roleEntity.listUnderPath(ctx, s, in.PathPrefix)
	if err != nil {
		return nil, err
	}
	page, trunc, next, err := paginate(roles, func(r ident.Role) string { return strings.ToLower(r.Name) }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListRolesResponse{Roles: []iamapi.Role{}, IsTruncated: trunc, Marker: next}
	for i := range page {
		out.Roles = append(out.Roles, apiRole(&page[i], false))
	}
	return out, nil
}

func (s *Service) UpdateRole(ctx context.Context, in *iamapi.UpdateRoleRequest) (*iamapi.UpdateRoleResponse, error) {
	var desc string
	var dur int32
	var err error
	if in.Description != nil {
		if desc, err = checkDescription(in.Description); err != nil {
			return nil, err
		}
	}
	if in.MaxSessionDuration != nil {
		if dur, err = checkSessionDuration(in.MaxSessionDuration); err != nil {
			return nil, err
		}
	}
	_, err = roleEntity.updateNamed(ctx, s, in.RoleName, func(r *ident.Role) error {
		if in.Description != nil {
			r.Description = desc
		}
		if in.MaxSessionDuration != nil {
			r.MaxSessionDuration = dur
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &iamapi.UpdateRoleResponse{}, nil
}

func (s *Service) UpdateRoleDescription(ctx context.Context, in *iamapi.UpdateRoleDescriptionRequest) (*iamapi.UpdateRoleDescriptionResponse, error) {
	if in.Description == nil {
		return nil, missingMember("description")
	}
	desc, err := checkDescription(in.Description)
	if err != nil {
		return nil, err
	}
	r, err := roleEntity.updateNamed(ctx, s, in.RoleName, func(r *ident.Role) error {
		r.Description = desc
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := apiRole(&r, true)
	return &iamapi.UpdateRoleDescriptionResponse{Role: &out}, nil
}

func (s *Service) UpdateAssumeRolePolicy(ctx context.Context, in *iamapi.UpdateAssumeRolePolicyRequest) (*wire.Empty, error) {
	if _, err := roleEntity.checkName(in.RoleName); err != nil {
		return nil, err
	}
	trust, err := trustDocument(in.PolicyDocument, "policyDocument")
	if err != nil {
		return nil, err
	}
	_, err = roleEntity.updateNamed(ctx, s, in.RoleName, func(r *ident.Role) error {
		r.TrustPolicy = trust
		return nil
	})
	return empty(err)
}

func (s *Service) DeleteRole(ctx context.Context, in *iamapi.DeleteRoleRequest) (*wire.Empty, error) {
	return empty(roleEntity.deleteNamed(ctx, s, in.RoleName, func(r *ident.Role) error {
		profiles, err := s.profilesWithRole(ctx, r.Name)
		switch {
		case err != nil:
			return err
		case len(profiles) > 0:
			return deleteConflict("Cannot delete entity, must remove roles from instance profile first.")
		}
		return policiesConflict(&r.Policies)
	}))
}

func (s *Service) TagRole(ctx context.Context, in *iamapi.TagRoleRequest) (*wire.Empty, error) {
	return empty(roleEntity.tag(ctx, s, in.RoleName, in.Tags))
}

func (s *Service) UntagRole(ctx context.Context, in *iamapi.UntagRoleRequest) (*wire.Empty, error) {
	return empty(roleEntity.untag(ctx, s, in.RoleName, in.TagKeys))
}

func (s *Service) ListRoleTags(ctx context.Context, in *iamapi.ListRoleTagsRequest) (*iamapi.ListRoleTagsResponse, error) {
	tags, trunc, next, err := roleEntity.listTags(ctx, s, in.RoleName, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListRoleTagsResponse{Tags: tags, IsTruncated: trunc, Marker: next}, nil
}
