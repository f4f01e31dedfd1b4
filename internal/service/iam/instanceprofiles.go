package iam

import (
	"context"
	"strings"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
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
		if r, _, err := s.role(ctx, rn); err == nil {
			roles = append(roles, r)
		}
	}
	return roles
}

func (s *Service) GetInstanceProfile(ctx context.Context, in *iamapi.GetInstanceProfileRequest) (*iamapi.GetInstanceProfileResponse, error) {
	n, err := checkName(in.InstanceProfileName, "instanceProfileName", maxInstanceProfileName)
	if err != nil {
		return nil, err
	}
	ip, _, err := get[ident.InstanceProfile](ctx, s.st, ident.InstanceProfileKey(account(ctx), n), noSuchProfile(n))
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
	prefix, err := checkPathPrefix(in.PathPrefix)
	if err != nil {
		return nil, err
	}
	profiles, _, err := store.List[ident.InstanceProfile](ctx, s.st, ident.AccountPrefix(account(ctx), ident.KindInstanceProfile))
	if err != nil {
		return nil, err
	}
	profiles = filterPath(profiles, func(ip ident.InstanceProfile) string { return ip.Path }, prefix)
	out, trunc, next, err := s.pageProfiles(ctx, profiles, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListInstanceProfilesResponse{InstanceProfiles: out, IsTruncated: trunc, Marker: next}, nil
}

// profilesWithRole lists the instance profiles that hold the role.
func (s *Service) profilesWithRole(ctx context.Context, roleName string) ([]ident.InstanceProfile, error) {
	profiles, _, err := store.List[ident.InstanceProfile](ctx, s.st, ident.AccountPrefix(account(ctx), ident.KindInstanceProfile))
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
	n, err := checkName(in.RoleName, "roleName", maxRoleName)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.role(ctx, n); err != nil {
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
	n, err := checkName(in.InstanceProfileName, "instanceProfileName", maxInstanceProfileName)
	if err != nil {
		return nil, err
	}
	return empty(deleteChecked(ctx, s.st, ident.InstanceProfileKey(account(ctx), n), noSuchProfile(n), func(ip *ident.InstanceProfile) error {
		if len(ip.Roles) > 0 {
			return deleteConflict("Cannot delete entity, must remove roles from instance profile first.")
		}
		return nil
	}))
}

// updateProfile applies fn to the named instance profile.
func (s *Service) updateProfile(ctx context.Context, profileName *string, fn func(*ident.InstanceProfile) error) error {
	n, err := checkName(profileName, "instanceProfileName", maxInstanceProfileName)
	if err != nil {
		return err
	}
	_, err = mutate(ctx, s.st, ident.InstanceProfileKey(account(ctx), n), noSuchProfile(n), fn)
	return err
}

func (s *Service) AddRoleToInstanceProfile(ctx context.Context, in *iamapi.AddRoleToInstanceProfileRequest) (*wire.Empty, error) {
	rn, err := checkName(in.RoleName, "roleName", maxRoleName)
	if err != nil {
		return nil, err
	}
	if _, err := checkName(in.InstanceProfileName, "instanceProfileName", maxInstanceProfileName); err != nil {
		return nil, err
	}
	r, _, err := s.role(ctx, rn)
	if err != nil {
		return nil, err
	}
	return empty(s.updateProfile(ctx, in.InstanceProfileName, func(ip *ident.InstanceProfile) error {
		// An instance profile holds at most one role, and adding it again is refused the same way.
		if len(ip.Roles) > 0 {
			return limitExceeded("Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
		}
		ip.Roles = []string{r.Name}
		return nil
	}))
}

func (s *Service) RemoveRoleFromInstanceProfile(ctx context.Context, in *iamapi.RemoveRoleFromInstanceProfileRequest) (*wire.Empty, error) {
	rn, err := checkName(in.RoleName, "roleName", maxRoleName)
	if err != nil {
		return nil, err
	}
	return empty(s.updateProfile(ctx, in.InstanceProfileName, func(ip *ident.InstanceProfile) error {
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
	}))
}

func (s *Service) TagInstanceProfile(ctx context.Context, in *iamapi.TagInstanceProfileRequest) (*wire.Empty, error) {
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	return empty(s.updateProfile(ctx, in.InstanceProfileName, func(ip *ident.InstanceProfile) error {
		merged, err := mergeTags(ip.Tags, tags)
		ip.Tags = merged
		return err
	}))
}

func (s *Service) UntagInstanceProfile(ctx context.Context, in *iamapi.UntagInstanceProfileRequest) (*wire.Empty, error) {
	return empty(s.updateProfile(ctx, in.InstanceProfileName, func(ip *ident.InstanceProfile) error {
		ip.Tags = removeTags(ip.Tags, in.TagKeys)
		return nil
	}))
}

func (s *Service) ListInstanceProfileTags(ctx context.Context, in *iamapi.ListInstanceProfileTagsRequest) (*iamapi.ListInstanceProfileTagsResponse, error) {
	n, err := checkName(in.InstanceProfileName, "instanceProfileName", maxInstanceProfileName)
	if err != nil {
		return nil, err
	}
	ip, _, err := get[ident.InstanceProfile](ctx, s.st, ident.InstanceProfileKey(account(ctx), n), noSuchProfile(n))
	if err != nil {
		return nil, err
	}
	tags, trunc, next, err := pageTags(ip.Tags, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListInstanceProfileTagsResponse{Tags: tags, IsTruncated: trunc, Marker: next}, nil
}
