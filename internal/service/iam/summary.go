package iam

import (
	"context"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
)

// GetAccountSummary counts the account's IAM entities beside AWS's default quotas.
func (s *Service) GetAccountSummary(ctx context.Context, _ *wire.Empty) (*iamapi.GetAccountSummaryResponse, error) {
	acct := account(ctx)
	ents, err := s.entities(ctx)
	if err != nil {
		return nil, err
	}
	profiles, err := s.st.List(ctx, ident.AccountPrefix(acct, ident.KindInstanceProfile))
	if err != nil {
		return nil, err
	}
	policies, _, err := store.List[ident.ManagedPolicy](ctx, s.st, ident.AccountPrefix(acct, ident.KindPolicy))
	if err != nil {
		return nil, err
	}
	versions := 0
	for _, p := range policies {
		versions += len(p.Versions)
	}
	keysPresent := int32(0)
	for _, u := range ents.users {
		if len(u.AccessKeys) > 0 {
			keysPresent = 1
		}
	}
	m := map[string]int32{
		"Users":                             int32(len(ents.users)),
		"Groups":                            int32(len(ents.groups)),
		"Roles":                             int32(len(ents.roles)),
		"Policies":                          int32(len(policies)),
		"PolicyVersionsInUse":               int32(versions),
		"InstanceProfiles":                  int32(len(profiles)),
		"AccountAccessKeysPresent":          keysPresent,
		"AccountMFAEnabled":                 0,
		"AccountSigningCertificatesPresent": 0,
		"MFADevices":                        0,
		"MFADevicesInUse":                   0,
		"Providers":                         0,
		"ServerCertificates":                0,
		"GlobalEndpointTokenVersion":        1,
		"UsersQuota":                        5000,
		"GroupsQuota":                       300,
		"RolesQuota":                        1000,
		"PoliciesQuota":                     1500,
		"InstanceProfilesQuota":             1000,
		"PolicyVersionsInUseQuota":          10000,
		"ServerCertificatesQuota":           20,
		"AccessKeysPerUserQuota":            accessKeysPerUser,
		"GroupsPerUserQuota":                groupsPerUser,
		"AttachedPoliciesPerUserQuota":      attachedPerEntity,
		"AttachedPoliciesPerGroupQuota":     attachedPerEntity,
		"AttachedPoliciesPerRoleQuota":      attachedPerEntity,
		"SigningCertificatesPerUserQuota":   2,
		"VersionsPerPolicyQuota":            maxPolicyVersions,
		"PolicySizeQuota":                   maxPolicySize,
		"UserPolicySizeQuota":               int32(userEntity.inlineQuota),
		"GroupPolicySizeQuota":              int32(groupEntity.inlineQuota),
		"RolePolicySizeQuota":               int32(roleEntity.inlineQuota),
		"AssumeRolePolicySizeQuota":         2048,
	}
	return &iamapi.GetAccountSummaryResponse{SummaryMap: m}, nil
}
