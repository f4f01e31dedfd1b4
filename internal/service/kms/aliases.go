package kms

import (
	"context"
	"errors"
	"slices"
	"strings"

	api "github.com/overcast-cloud/overcast/api/kms"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// checkAliasName applies KMS's rules for the alias names a caller may create, change or delete.
func checkAliasName(name string) error {
	switch {
	case !strings.HasPrefix(name, "alias/"):
		return validation(`Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`)
	case strings.HasPrefix(name, "alias/aws/"):
		return apierr.New(apierr.AccessDenied, "NotAuthorizedException", "The alias/aws/ prefix is reserved for AWS managed keys.")
	case strings.Contains(name, ":"):
		return validation("%s contains invalid characters for an alias", name)
	case name == "alias/":
		return apierr.New(apierr.Invalid, "InvalidAliasNameException", "Alias name must have a name after alias/.")
	}
	return nil
}

// aliasTarget resolves the key an alias is to point to: a customer managed key of the caller, named by key id
// or key ARN (never by another alias), that is not pending deletion.
func (s *Service) aliasTarget(ctx context.Context, action, given string) (keyRecord, error) {
	if given == "" {
		return keyRecord{}, validation("1 validation error detected: Value null at 'targetKeyId' failed to satisfy constraint: Member must not be null")
	}
	if strings.HasPrefix(given, "alias/") || strings.Contains(given, ":alias/") {
		return keyRecord{}, validation("Aliases must refer to keys. Not aliases")
	}
	k, err := s.resolve(ctx, given)
	if err != nil {
		return k, err
	}
	if k.Manager == managerAWS {
		return k, accessDenied(ctx, action, k.ARN)
	}
	if k.State == statePendingDeletion {
		return k, invalidState("%s is pending deletion.", k.ARN)
	}
	return k, nil
}

// CreateAlias gives a customer managed key a new alias.
func (s *Service) CreateAlias(ctx context.Context, in *api.CreateAliasRequest) (*wire.Empty, error) {
	name := deref(in.AliasName)
	if err := checkAliasName(name); err != nil {
		return nil, err
	}
	k, err := s.aliasTarget(ctx, "CreateAlias", deref(in.TargetKeyId))
	if err != nil {
		return nil, err
	}
	r := awsctx.From(ctx)
	now := s.clock().UTC()
	a := aliasRecord{Name: name, KeyID: k.ID, Created: now, Updated: now}
	if _, err := store.Create(ctx, s.st, aliasStoreKey(r.Account, r.Region, name), a); errors.Is(err, store.ErrExists) {
		return nil, apierr.New(apierr.AlreadyExists, "AlreadyExistsException", "An alias with the name %s already exists", aliasARN(r.Region, r.Account, name))
	} else if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// UpdateAlias points an existing alias at another customer managed key.
func (s *Service) UpdateAlias(ctx context.Context, in *api.UpdateAliasRequest) (*wire.Empty, error) {
	name := deref(in.AliasName)
	if err := checkAliasName(name); err != nil {
		return nil, err
	}
	k, err := s.aliasTarget(ctx, "UpdateAlias", deref(in.TargetKeyId))
	if err != nil {
		return nil, err
	}
	r := awsctx.From(ctx)
	_, err = store.Mutate(ctx, s.st, aliasStoreKey(r.Account, r.Region, name), func(a *aliasRecord) error {
		a.KeyID, a.Updated = k.ID, s.clock().UTC()
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, aliasNotFound(r.Region, r.Account, name)
	}
	return empty(err)
}

// DeleteAlias removes an alias; its key is unaffected.
func (s *Service) DeleteAlias(ctx context.Context, in *api.DeleteAliasRequest) (*wire.Empty, error) {
	name := deref(in.AliasName)
	if err := checkAliasName(name); err != nil {
		return nil, err
	}
	r := awsctx.From(ctx)
	_, err := store.Delete(ctx, s.st, aliasStoreKey(r.Account, r.Region, name), store.Any)
	if errors.Is(err, store.ErrNotFound) {
		return nil, aliasNotFound(r.Region, r.Account, name)
	}
	return empty(err)
}

// ListAliases lists the caller's aliases in name order, or those of one key. Like KMS it lists the AWS managed
// alias aws/ebs before its key exists, without a target.
func (s *Service) ListAliases(ctx context.Context, in *api.ListAliasesRequest) (*api.ListAliasesResponse, error) {
	r := awsctx.From(ctx)
	// Listing the keys deletes those whose waiting period is over, and with them their aliases.
	if _, err := s.liveKeys(ctx); err != nil {
		return nil, err
	}
	var only string
	if in.KeyId != nil {
		k, err := s.resolve(ctx, *in.KeyId)
		if err != nil {
			return nil, err
		}
		only = k.ID
	}
	aliases, _, err := store.List[aliasRecord](ctx, s.st, store.Prefix{Account: r.Account, Region: r.Region, Kind: kindAlias})
	if err != nil {
		return nil, err
	}
	var entries []api.AliasListEntry
	seenEBS := false
	for _, a := range aliases {
		if only != "" && a.KeyID != only {
			continue
		}
		seenEBS = seenEBS || a.Name == EBSAlias
		entries = append(entries, api.AliasListEntry{
			AliasName: str(a.Name), AliasArn: str(aliasARN(r.Region, r.Account, a.Name)), TargetKeyId: str(a.KeyID),
			CreationDate: timep(a.Created), LastUpdatedDate: timep(a.Updated),
		})
	}
	if !seenEBS && only == "" {
		entries = append(entries, api.AliasListEntry{AliasName: str(EBSAlias), AliasArn: str(aliasARN(r.Region, r.Account, EBSAlias))})
		slices.SortFunc(entries, func(a, b api.AliasListEntry) int { return strings.Compare(*a.AliasName, *b.AliasName) })
	}
	start, end, next, err := page(len(entries), in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	return &api.ListAliasesResponse{Aliases: append([]api.AliasListEntry{}, entries[start:end]...), Truncated: boolp(next != nil), NextMarker: next}, nil
}
