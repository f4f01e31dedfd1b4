package iam

import (
	"context"
	"strings"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	ident "github.com/overcast-cloud/overcast/internal/iam"
)

const maxInstanceProfileName = 128

func noSuchProfile(n string) error { return noSuchEntity("Instance Profile %s cannot be found.", n) }

func (s *Service) CreateInstanceProfile(ctx context.Context, in *iamapi.CreateInstanceProfileRequest) (*iamapi.CreateInstanceProfileResponse, error) {
	n, err := checkName(in.InstanceProfileName, "instanceProfileName", maxInstanceProfileName)
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
	ip := ident.InstanceProfile{
		Account: acct, Name: n, Path: p, ID: ident.NewID(ident.PrefixInstanceProfile),
		ARN: ident.ARN(acct, "instance-profile", p, n), Created: s.now(), Tags: tags,
	}
	if err := create(ctx, s.st, ident.InstanceProfileKey(acct, n), ip, alreadyExists("Instance Profile %s already exists.", n)); err != nil {
		return nil, err
	}
	out := apiInstanceProfile(&ip, nil, true)
	return &iamapi.CreateInstanceProfileResponse{InstanceProfile: &out}, nil
}

// profileRoles reads the roles of an instance profile; a role deleted meanwhile is left out.
func (s *Service) profileRoles(ctx context.Context, ip *ident.InstanceProfile) []ident.Role {
	var roles []ident.Role
	for _, rn := range ip.Roles {
		if r, _, err := roleEntity.get(ctx, s, rn); err == nil {
			roles = append(roles, r)
		}
	}
	return roles
}

func (s *Service) GetInstanceProfile(ctx context.Context, in *iamapi.GetInstanceProfileRequest) (*iamapi.GetInstanceProfileResponse, error) {
	n, err := profileEntity.checkName(in.InstanceProfileName)
	if err != nil {
		return nil, err
	}
	ip, _, err := profileEntity.get(ctx, s, n)
	if err != nil {
		return nil, err
	}
	out := apiInstanceProfile(&ip, s.profileRoles(ctx, &ip), true)
	return &iamapi.GetInstanceProfileResponse{InstanceProfile: &out}, nil
}

func (s *Service) pageProfiles(ctx context.Context, profiles []ident.InstanceProfile, marker *string, maxItems *int32) ([]iamapi.InstanceProfile, *bool, *string, error) {
	page, trunc, next, err := paginate(profiles, func(ip ident.InstanceProfile) string { return strings.ToLower(ip.Name) }, marker, maxItems)
	if err != nil {
		return nil, nil, nil, err
	}
	out := []iamapi.InstanceProfile{}
	for i := range page {
		out = append(out, apiInstanceProfile(&page[i], s.profileRoles(ctx, &page[i]), false))
	}
	return out, trunc, next, nil
}

func (s *Service) ListInstanceProfiles(ctx context.Context, in *iamapi.ListInstanceProfilesRequest) (*iamapi.ListInstanceProfilesResponse, error) {
	profiles, err := profileEntity.listUnderPath(ctx, s, in.PathPrefix)
	if err != nil {
		return nil, err
	}
	out, trunc, next, err := s.pageProfiles(ctx, profiles, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListInstanceProfilesResponse{InstanceProfiles: out, IsTruncated: trunc, Marker: next}, nil
}

// profilesWithRole lists the instance profiles that hold the role.
func (s *Service) profilesWithRole(ctx context.Context, roleName string) ([]ident.InstanceProfile, error) {
	profiles, _, err := profileEntity.list(ctx, s)
	if err != nil {
		return nil, err
	}
	var out []ident.InstanceProfile
	for _, ip := range profiles {
		for _, rn := range ip.Roles {
			if strings.EqualFold(rn, roleName) {
				out = append(out, ip)
				break
			}
		}
	}
	return out, nil
}

func (s *Service) ListInstanceProfilesForRole(ctx context.Context, in *iamapi.ListInstanceProfilesForRoleRequest) (*iamapi.ListInstanceProfilesForRoleResponse, error) {
	n, err := roleEntity.checkName(in.RoleName)
	if err != nil {
		return nil, err
	}
	if _, _, err := roleEntity.get(ctx, s, n); err != nil {
		return nil, err
	}
	profiles, err := s.profilesWithRole(ctx, n)
	if err != nil {
		return nil, err
	}
	out, trunc, next, err := s.pageProfiles(ctx, profiles, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListInstanceProfilesForRoleResponse{InstanceProfiles: out, IsTruncated: trunc, Marker: next}, nil
}

func (s *Service) DeleteInstanceProfile(ctx context.Context, in *iamapi.DeleteInstanceProfileRequest) (*wire.Empty, error) {
	return empty(profileEntity.deleteNamed(ctx, s, in.InstanceProfileName, func(ip *ident.InstanceProfile) error {
		if len(ip.Roles) > 0 {
			return deleteConflict("Cannot delete entity, must remove roles from instance profile first.")
		}
		return nil
	}))
}

func (s *Service) AddRoleToInstanceProfile(ctx context.Context, in *iamapi.AddRoleToInstanceProfileRequest) (*wire.Empty, error) {
	rn, err := roleEntity.checkName(in.RoleName)
	if err != nil {
		return nil, err
	}
	pn, err := profileEntity.checkName(in.InstanceProfileName)
	if err != nil {
		return nil, err
	}
	r, _, err := roleEntity.get(ctx, s, rn)
	if err != nil {
		return nil, err
	}
	_, err = profileEntity.update(ctx, s, pn, func(ip *ident.InstanceProfile) error {
		// An instance profile holds at most one role, and adding it again is refused the same way.
		if len(ip.Roles) > 0 {
			return limitExceeded("Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
		}
		ip.Roles = []string{r.Name}
		return nil
	})
	return empty(err)
}

func (s *Service) RemoveRoleFromInstanceProfile(ctx context.Context, in *iamapi.RemoveRoleFromInstanceProfileRequest) (*wire.Empty, error) {
	rn, err := roleEntity.checkName(in.RoleName)
	if err != nil {
		return nil, err
	}
	_, err = profileEntity.updateNamed(ctx, s, in.InstanceProfileName, func(ip *ident.InstanceProfile) error {
		kept := ip.Roles[:0]
		for _, x := range ip.Roles {
			if !strings.EqualFold(x, rn) {
				kept = append(kept, x)
			}
		}
		if len(kept) == len(ip.Roles) {
			return ident.NoSuchRole(rn)
		}
		ip.Roles = kept
		return nil
	})
	return empty(err)
}

func (s *Service) TagInstanceProfile(ctx context.Context, in *iamapi.TagInstanceProfileRequest) (*wire.Empty, error) {
	return empty(profileEntity.tag(ctx, s, in.InstanceProfileName, in.Tags))
}

func (s *Service) UntagInstanceProfile(ctx context.Context, in *iamapi.UntagInstanceProfileRequest) (*wire.Empty, error) {
	return empty(profileEntity.untag(ctx, s, in.InstanceProfileName, in.TagKeys))
}

func (s *Service) ListInstanceProfileTags(ctx context.Context, in *iamapi.ListInstanceProfileTagsRequest) (*iamapi.ListInstanceProfileTagsResponse, error) {
	tags, trunc, next, err := profileEntity.listTags(ctx, s, in.InstanceProfileName, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListInstanceProfileTagsResponse{Tags: tags, IsTruncated: trunc, Marker: next}, nil
}
