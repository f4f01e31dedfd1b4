package iam

import (
	"context"
	"fmt"
	"sort"
	"strings"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	ident "github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
)

const (
	maxPolicyName     = 128
	maxPolicyVersions = 5
	maxPolicySize     = 6144
)

// managedPolicy finds a managed policy the caller can see: AWS's, or one of its account's. notFound is the
// message AWS gives for the operation.
func (s *Service) managedPolicy(ctx context.Context, arn string, notFound string) (*ident.ManagedPolicy, error) {
	mp, _, err := s.dir.ManagedPolicy(ctx, arn)
	if err != nil {
		if apierr.Is(err, apierr.NotFound) {
			return nil, noSuchEntity(notFound, arn)
		}
		return nil, err
	}
	if !mp.IsAWSManaged() && mp.Account != account(ctx) {
		return nil, noSuchEntity(notFound, arn)
	}
	return mp, nil
}

const policyNotFound = "Policy %s was not found."

// visiblePolicy finds the managed policy a request names by ARN, if the caller can see it.
func (s *Service) visiblePolicy(ctx context.Context, in *string) (*ident.ManagedPolicy, error) {
	arn, err := checkPolicyARN(in)
	if err != nil {
		return nil, err
	}
	return s.managedPolicy(ctx, arn, policyNotFound)
}

// localPolicy is a customer-managed policy that a request names for change.
type localPolicy struct {
	key store.Key
	arn string
}

// localPolicy finds the policy a request names for change; AWS-managed policies cannot be changed.
func (s *Service) localPolicy(ctx context.Context, in *string) (localPolicy, error) {
	mp, err := s.visiblePolicy(ctx, in)
	if err != nil {
		return localPolicy{}, err
	}
	if mp.IsAWSManaged() {
		return localPolicy{}, invalidInput("Cannot modify AWS managed policy %s.", mp.ARN)
	}
	return localPolicy{key: ident.PolicyKey(mp.Account, mp.Name), arn: mp.ARN}, nil
}

// missing is the error for the policy deleted since it was found.
func (lp localPolicy) missing() error { return noSuchEntity(policyNotFound, lp.arn) }

func (lp localPolicy) update(ctx context.Context, s *Service, fn func(*ident.ManagedPolicy) error) (ident.ManagedPolicy, error) {
	return mutate(ctx, s.st, lp.key, lp.missing(), fn)
}

func (s *Service) CreatePolicy(ctx context.Context, in *iamapi.CreatePolicyRequest) (*iamapi.CreatePolicyResponse, error) {
	n, err := checkName(in.PolicyName, "policyName", maxPolicyName)
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
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	doc, err := managedDocument(in.PolicyDocument)
	if err != nil {
		return nil, err
	}
	acct, now := account(ctx), s.now()
	mp := ident.ManagedPolicy{
		Account: acct, Name: n, Path: p, ID: ident.NewID(ident.PrefixPolicy), ARN: ident.ARN(acct, "policy", p, n),
		Description: desc, Created: now, Updated: now, DefaultVersion: "v1", NextVersion: 2, Tags: tags,
		Versions: []ident.PolicyVersion{{ID: "v1", Document: doc, Created: now}},
	}
	exists := alreadyExists("A policy called %s already exists. Duplicate names are not allowed.", n)
	if err := create(ctx, s.st, ident.PolicyKey(acct, n), mp, exists); err != nil {
		return nil, err
	}
	out := apiPolicy(&mp, 0, true)
	out.Description = nil // CreatePolicy does not echo the description
	return &iamapi.CreatePolicyResponse{Policy: &out}, nil
}

func managedDocument(v *string) (string, error) {
	doc, err := identityDocument(v, "policyDocument")
	if err != nil {
		return "", err
	}
	if policySize(doc) > maxPolicySize {
		return "", limitExceeded("Cannot exceed quota for PolicySize: %d", maxPolicySize)
	}
	return doc, nil
}

func (s *Service) GetPolicy(ctx context.Context, in *iamapi.GetPolicyRequest) (*iamapi.GetPolicyResponse, error) {
	mp, err := s.visiblePolicy(ctx, in.PolicyArn)
	if err != nil {
		return nil, err
	}
	ents, err := s.entities(ctx)
	if err != nil {
		return nil, err
	}
	out := apiPolicy(mp, ents.count(mp.ARN), true)
	return &iamapi.GetPolicyResponse{Policy: &out}, nil
}

func (s *Service) ListPolicies(ctx context.Context, in *iamapi.ListPoliciesRequest) (*iamapi.ListPoliciesResponse, error) {
	scope := strOr(in.Scope, "All")
	if scope != "All" && scope != "AWS" && scope != "Local" {
		return nil, validationError(scope, "scope", "Member must satisfy enum value set: [All, AWS, Local]")
	}
	prefix, err := checkPathPrefix(in.PathPrefix)
	if err != nil {
		return nil, err
	}
	var all []*ident.ManagedPolicy
	if scope != "Local" {
		all = append(all, ident.AWSManagedPolicies()...)
	}
	if scope != "AWS" {
		local, _, err := store.List[ident.ManagedPolicy](ctx, s.st, ident.AccountPrefix(account(ctx), ident.KindPolicy))
		if err != nil {
			return nil, err
		}
		for i := range local {
			all = append(all, &local[i])
		}
	}
	ents, err := s.entities(ctx)
	if err != nil {
		return nil, err
	}
	onlyAttached := in.OnlyAttached != nil && *in.OnlyAttached
	kept := all[:0]
	for _, mp := range all {
		if strings.HasPrefix(mp.Path, prefix) && (!onlyAttached || ents.count(mp.ARN) > 0) {
			kept = append(kept, mp)
		}
	}
	page, trunc, next, err := paginate(kept, func(mp *ident.ManagedPolicy) string {
		return strings.ToLower(mp.Name) + "\x00" + mp.ARN
	}, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListPoliciesResponse{Policies: []iamapi.Policy{}, IsTruncated: trunc, Marker: next}
	for _, mp := range page {
		out.Policies = append(out.Policies, apiPolicy(mp, ents.count(mp.ARN), false))
	}
	return out, nil
}

func (s *Service) DeletePolicy(ctx context.Context, in *iamapi.DeletePolicyRequest) (*wire.Empty, error) {
	lp, err := s.localPolicy(ctx, in.PolicyArn)
	if err != nil {
		return nil, err
	}
	return empty(deleteChecked(ctx, s.st, lp.key, lp.missing(), func(mp *ident.ManagedPolicy) error {
		ents, err := s.entities(ctx)
		switch {
		case err != nil:
			return err
		case ents.count(lp.arn) > 0:
			return deleteConflict("Cannot delete a policy attached to entities.")
		case len(mp.Versions) > 1:
			return deleteConflict("This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.")
		}
		return nil
	}))
}

func versionNotFound(arn, id string) error {
	return noSuchEntity("Policy %s version %s does not exist or is not attachable.", arn, id)
}

func (s *Service) CreatePolicyVersion(ctx context.Context, in *iamapi.CreatePolicyVersionRequest) (*iamapi.CreatePolicyVersionResponse, error) {
	lp, err := s.localPolicy(ctx, in.PolicyArn)
	if err != nil {
		return nil, err
	}
	doc, err := managedDocument(in.PolicyDocument)
	if err != nil {
		return nil, err
	}
	setDefault := in.SetAsDefault != nil && *in.SetAsDefault
	now := s.now()
	var v ident.PolicyVersion
	mp, err := lp.update(ctx, s, func(mp *ident.ManagedPolicy) error {
		if len(mp.Versions) >= maxPolicyVersions {
			return limitExceeded("A managed policy can have up to %d versions. Before you create a new version, you must delete an existing version.", maxPolicyVersions)
		}
		v = ident.PolicyVersion{ID: fmt.Sprintf("v%d", mp.NextVersion), Document: doc, Created: now}
		mp.NextVersion++
		mp.Versions = append(mp.Versions, v)
		if setDefault {
			mp.DefaultVersion = v.ID
			mp.Updated = now
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := apiVersion(&mp, &v, false)
	return &iamapi.CreatePolicyVersionResponse{PolicyVersion: &out}, nil
}

func versionID(v *string) (string, error) {
	if v == nil {
		return "", missingMember("versionId")
	}
	if !strings.HasPrefix(*v, "v") || len(*v) < 2 {
		return "", validationError(*v, "versionId", `Member must satisfy regular expression pattern: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`)
	}
	return *v, nil
}

func (s *Service) GetPolicyVersion(ctx context.Context, in *iamapi.GetPolicyVersionRequest) (*iamapi.GetPolicyVersionResponse, error) {
	arn, err := checkPolicyARN(in.PolicyArn)
	if err != nil {
		return nil, err
	}
	id, err := versionID(in.VersionId)
	if err != nil {
		return nil, err
	}
	mp, err := s.managedPolicy(ctx, arn, policyNotFound)
	if err != nil {
		return nil, err
	}
	v := mp.Version(id)
	if v == nil {
		return nil, versionNotFound(arn, id)
	}
	out := apiVersion(mp, v, true)
	return &iamapi.GetPolicyVersionResponse{PolicyVersion: &out}, nil
}

func (s *Service) ListPolicyVersions(ctx context.Context, in *iamapi.ListPolicyVersionsRequest) (*iamapi.ListPolicyVersionsResponse, error) {
	mp, err := s.visiblePolicy(ctx, in.PolicyArn)
	if err != nil {
		return nil, err
	}
	// Newest first, as AWS lists them.
	versions := append([]ident.PolicyVersion(nil), mp.Versions...)
	sortKey := func(v ident.PolicyVersion) string {
		var n int
		fmt.Sscanf(v.ID, "v%d", &n)
		return fmt.Sprintf("%010d", 1<<31-n)
	}
	page, trunc, next, err := paginate(versions, sortKey, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListPolicyVersionsResponse{Versions: []iamapi.PolicyVersion{}, IsTruncated: trunc, Marker: next}
	for i := range page {
		out.Versions = append(out.Versions, apiVersion(mp, &page[i], false))
	}
	return out, nil
}

func (s *Service) SetDefaultPolicyVersion(ctx context.Context, in *iamapi.SetDefaultPolicyVersionRequest) (*wire.Empty, error) {
	now := s.now()
	return empty(s.updateVersion(ctx, in.PolicyArn, in.VersionId, func(mp *ident.ManagedPolicy, id string) error {
		mp.DefaultVersion = id
		mp.Updated = now
		return nil
	}))
}

func (s *Service) DeletePolicyVersion(ctx context.Context, in *iamapi.DeletePolicyVersionRequest) (*wire.Empty, error) {
	return empty(s.updateVersion(ctx, in.PolicyArn, in.VersionId, func(mp *ident.ManagedPolicy, id string) error {
		if mp.DefaultVersion == id {
			return deleteConflict("Cannot delete the default version of a policy.")
		}
		kept := mp.Versions[:0]
		for _, v := range mp.Versions {
			if v.ID != id {
				kept = append(kept, v)
			}
		}
		mp.Versions = kept
		return nil
	}))
}

// updateVersion applies fn to a customer-managed policy and the id of its version that a request names,
// once the version is found.
func (s *Service) updateVersion(ctx context.Context, arnIn, idIn *string, fn func(mp *ident.ManagedPolicy, id string) error) error {
	lp, err := s.localPolicy(ctx, arnIn)
	if err != nil {
		return err
	}
	id, err := versionID(idIn)
	if err != nil {
		return err
	}
	_, err = lp.update(ctx, s, func(mp *ident.ManagedPolicy) error {
		if mp.Version(id) == nil {
			return versionNotFound(lp.arn, id)
		}
		return fn(mp, id)
	})
	return err
}

func (s *Service) TagPolicy(ctx context.Context, in *iamapi.TagPolicyRequest) (*wire.Empty, error) {
	lp, err := s.localPolicy(ctx, in.PolicyArn)
	if err != nil {
		return nil, err
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	_, err = lp.update(ctx, s, func(mp *ident.ManagedPolicy) error { return addTags(&mp.Tags, tags) })
	return empty(err)
}

func (s *Service) UntagPolicy(ctx context.Context, in *iamapi.UntagPolicyRequest) (*wire.Empty, error) {
	lp, err := s.localPolicy(ctx, in.PolicyArn)
	if err != nil {
		return nil, err
	}
	_, err = lp.update(ctx, s, func(mp *ident.ManagedPolicy) error {
		mp.Tags = removeTags(mp.Tags, in.TagKeys)
		return nil
	})
	return empty(err)
}

func (s *Service) ListPolicyTags(ctx context.Context, in *iamapi.ListPolicyTagsRequest) (*iamapi.ListPolicyTagsResponse, error) {
	mp, err := s.visiblePolicy(ctx, in.PolicyArn)
	if err != nil {
		return nil, err
	}
	tags, trunc, next, err := pageTags(mp.Tags, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListPolicyTagsResponse{Tags: tags, IsTruncated: trunc, Marker: next}, nil
}

func (s *Service) ListEntitiesForPolicy(ctx context.Context, in *iamapi.ListEntitiesForPolicyRequest) (*iamapi.ListEntitiesForPolicyResponse, error) {
	mp, err := s.visiblePolicy(ctx, in.PolicyArn)
	if err != nil {
		return nil, err
	}
	arn := mp.ARN
	prefix, err := checkPathPrefix(in.PathPrefix)
	if err != nil {
		return nil, err
	}
	filter := strOr(in.EntityFilter, "")
	switch filter {
	case "", "User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy":
	default:
		return nil, validationError(filter, "entityFilter", "Member must satisfy enum value set: [User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]")
	}
	ents, err := s.entities(ctx)
	if err != nil {
		return nil, err
	}
	// One listing of every kind, ordered groups, roles, users, so that a marker spans them.
	type entity struct{ kind, name, id string }
	var all []entity
	want := func(kind string) bool { return filter == "" || filter == kind }
	for _, g := range ents.groups {
		if want("Group") && g.IsAttached(arn) && strings.HasPrefix(g.Path, prefix) {
			all = append(all, entity{"Group", g.Name, g.ID})
		}
	}
	for _, r := range ents.roles {
		if want("Role") && r.IsAttached(arn) && strings.HasPrefix(r.Path, prefix) {
			all = append(all, entity{"Role", r.Name, r.ID})
		}
	}
	for _, u := range ents.users {
		if want("User") && u.IsAttached(arn) && strings.HasPrefix(u.Path, prefix) {
			all = append(all, entity{"User", u.Name, u.ID})
		}
	}
	page, trunc, next, err := paginate(all, func(e entity) string { return e.kind + "\x00" + strings.ToLower(e.name) }, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iamapi.ListEntitiesForPolicyResponse{
		PolicyGroups: []iamapi.PolicyGroup{}, PolicyRoles: []iamapi.PolicyRole{}, PolicyUsers: []iamapi.PolicyUser{},
		IsTruncated: trunc, Marker: next,
	}
	for _, e := range page {
		switch e.kind {
		case "Group":
			out.PolicyGroups = append(out.PolicyGroups, iamapi.PolicyGroup{GroupId: str(e.id), GroupName: str(e.name)})
		case "Role":
			out.PolicyRoles = append(out.PolicyRoles, iamapi.PolicyRole{RoleId: str(e.id), RoleName: str(e.name)})
		case "User":
			out.PolicyUsers = append(out.PolicyUsers, iamapi.PolicyUser{UserId: str(e.id), UserName: str(e.name)})
		}
	}
	return out, nil
}

// entities are the account's users, groups and roles, read together to count policy attachments.
type entities struct {
	users  []ident.User
	groups []ident.Group
	roles  []ident.Role
	counts map[string]int // policy ARN -> attachments
}

func (s *Service) entities(ctx context.Context) (*entities, error) {
	e := &entities{counts: map[string]int{}}
	var err error
	if e.users, _, err = userEntity.list(ctx, s); err != nil {
		return nil, err
	}
	if e.groups, _, err = groupEntity.list(ctx, s); err != nil {
		return nil, err
	}
	if e.roles, _, err = roleEntity.list(ctx, s); err != nil {
		return nil, err
	}
	for _, u := range e.users {
		for _, a := range u.Attached {
			e.counts[a]++
		}
	}
	for _, g := range e.groups {
		for _, a := range g.Attached {
			e.counts[a]++
		}
	}
	for _, r := range e.roles {
		for _, a := range r.Attached {
			e.counts[a]++
		}
	}
	return e, nil
}

func (e *entities) count(arn string) int { return e.counts[arn] }

// sortedNames returns the keys of m in order.
func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
