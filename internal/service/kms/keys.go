package kms

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	api "github.com/overcast-cloud/overcast/api/kms"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// enumOf is a shape's enum values from the pinned model.
func enumOf(shape string) []string {
	if sh, ok := api.Model().Shapes[shape]; ok {
		return sh.Enum
	}
	return nil
}

func checkEnum(shape, field string, v *string) error {
	if v == nil {
		return nil
	}
	values := enumOf(shape)
	if !slices.Contains(values, *v) {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
			*v, field, strings.Join(values, ", "))
	}
	return nil
}

func unsupported(format string, args ...any) error {
	return apierr.New(apierr.Invalid, "UnsupportedOperationException", format, args...)
}

// CreateKey makes a symmetric encryption key with fresh key material. Other key specs, usages and origins are
// real KMS features Overcast does not offer: they are refused, not faked.
func (s *Service) CreateKey(ctx context.Context, in *api.CreateKeyRequest) (*api.CreateKeyResponse, error) {
	if err := checkEnum("KeyUsageType", "keyUsage", in.KeyUsage); err != nil {
		return nil, err
	}
	if err := checkEnum("KeySpec", "keySpec", in.KeySpec); err != nil {
		return nil, err
	}
	if err := checkEnum("CustomerMasterKeySpec", "customerMasterKeySpec", in.CustomerMasterKeySpec); err != nil {
		return nil, err
	}
	if err := checkEnum("OriginType", "origin", in.Origin); err != nil {
		return nil, err
	}
	spec := symmetricDefault
	switch {
	case in.KeySpec != nil && in.CustomerMasterKeySpec != nil:
		return nil, validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
	case in.KeySpec != nil:
		spec = *in.KeySpec
	case in.CustomerMasterKeySpec != nil:
		spec = *in.CustomerMasterKeySpec
	}
	usage := encryptDecrypt
	if in.KeyUsage != nil {
		usage = *in.KeyUsage
	}
	if spec == symmetricDefault && usage != encryptDecrypt {
		return nil, validation("KeyUsage %s is not compatible with KeySpec %s", usage, spec)
	}
	switch {
	case spec != symmetricDefault:
		return nil, unsupported("KeySpec %s is not supported: Overcast KMS makes SYMMETRIC_DEFAULT keys only.", spec)
	case in.Origin != nil && *in.Origin != originAWSKMS:
		return nil, unsupported("Origin %s is not supported: Overcast KMS makes AWS_KMS keys only.", *in.Origin)
	case in.CustomKeyStoreId != nil || in.XksKeyId != nil:
		return nil, apierr.New(apierr.NotFound, "CustomKeyStoreNotFoundException", "Custom key stores are not supported.")
	case in.MultiRegion != nil && *in.MultiRegion:
		return nil, unsupported("Multi-Region keys are not supported.")
	}
	if in.Policy != nil && !json.Valid([]byte(*in.Policy)) {
		return nil, apierr.New(apierr.Invalid, "MalformedPolicyDocumentException", "The new key policy will not allow you to update the key policy in the future.")
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	r := awsctx.From(ctx)
	k, err := s.newKey(r.Account, r.Region, newKeyID(), s.clock().UTC())
	if err != nil {
		return nil, err
	}
	k.Description, k.Tags, k.Policy = deref(in.Description), tags, deref(in.Policy)
	if _, err := store.Create(ctx, s.st, keyStoreKey(k.Account, k.Region, k.ID), k); err != nil {
		return nil, err
	}
	return &api.CreateKeyResponse{KeyMetadata: k.metadata()}, nil
}

// checkTags applies KMS's tag rules: keys of 1 to 128 characters not starting with "aws:", values up to 256,
// at most 50 tags.
func checkTags(in []api.Tag) ([]tag, error) {
	if len(in) > 50 {
		return nil, apierr.New(apierr.LimitExceeded, "LimitExceededException", "A KMS key can have at most 50 tags.")
	}
	var out []tag
	for _, t := range in {
		k, v := deref(t.TagKey), deref(t.TagValue)
		switch {
		case t.TagKey == nil || t.TagValue == nil:
			return nil, validation("1 validation error detected: Value null at 'tags.member.%s' failed to satisfy constraint: Member must not be null",
				map[bool]string{true: "tagKey", false: "tagValue"}[t.TagKey == nil])
		case k == "" || len([]rune(k)) > 128 || len([]rune(v)) > 256:
			return nil, apierr.New(apierr.Invalid, "TagException", "Tag keys must be 1 to 128 characters and values at most 256.")
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return nil, apierr.New(apierr.Invalid, "TagException", "Tags beginning with aws: are reserved.")
		}
		out = setTag(out, k, v)
	}
	return out, nil
}

func setTag(tags []tag, k, v string) []tag {
	for i := range tags {
		if tags[i].Key == k {
			tags[i].Value = v
			return tags
		}
	}
	return append(tags, tag{Key: k, Value: v})
}

// DescribeKey shows a key by key id, key ARN, alias name or alias ARN.
func (s *Service) DescribeKey(ctx context.Context, in *api.DescribeKeyRequest) (*api.DescribeKeyResponse, error) {
	k, err := s.resolve(ctx, deref(in.KeyId))
	if err != nil {
		return nil, err
	}
	return &api.DescribeKeyResponse{KeyMetadata: k.metadata()}, nil
}

// page cuts a list of n items at a marker, which is the index of the next item, and a limit (1 to 1000,
// default 100), as KMS's list operations do.
func page(n int, limit *int32, marker *string) (start, end int, next *string, err error) {
	size := 100
	if limit != nil {
		if *limit < 1 || *limit > 1000 {
			return 0, 0, nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000", *limit)
		}
		size = int(*limit)
	}
	if marker != nil {
		i, err := strconv.Atoi(*marker)
		if err != nil || i < 0 || i > n {
			return 0, 0, nil, apierr.New(apierr.Invalid, "InvalidMarkerException", "Invalid marker %s", *marker)
		}
		start = i
	}
	end = min(start+size, n)
	if end < n {
		next = str(strconv.Itoa(end))
	}
	return start, end, next, nil
}

// liveKeys lists the caller's keys, dropping (and deleting) those whose waiting period is over.
func (s *Service) liveKeys(ctx context.Context) ([]keyRecord, error) {
	r := awsctx.From(ctx)
	all, _, err := store.List[keyRecord](ctx, s.st, store.Prefix{Account: r.Account, Region: r.Region, Kind: kindKey})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(k keyRecord) bool {
		if s.expired(k) {
			s.purge(ctx, k)
			return true
		}
		return false
	}), nil
}

// ListKeys lists the ids and ARNs of the caller's keys, customer and AWS managed alike.
func (s *Service) ListKeys(ctx context.Context, in *api.ListKeysRequest) (*api.ListKeysResponse, error) {
	keys, err := s.liveKeys(ctx)
	if err != nil {
		return nil, err
	}
	start, end, next, err := page(len(keys), in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &api.ListKeysResponse{Keys: []api.KeyListEntry{}, Truncated: boolp(next != nil), NextMarker: next}
	for _, k := range keys[start:end] {
		out.Keys = append(out.Keys, api.KeyListEntry{KeyId: str(k.ID), KeyArn: str(k.ARN)})
	}
	return out, nil
}

// customerKey is mutateKey for the changes only a key's owner may make: AWS managed keys refuse them.
func (s *Service) customerKey(ctx context.Context, action, given string, fn func(*keyRecord) error) (keyRecord, error) {
	return s.mutateKey(ctx, given, func(k *keyRecord) error {
		if k.Manager == managerAWS {
			return accessDenied(ctx, action, k.ARN)
		}
		return fn(k)
	})
}

// EnableKey makes a disabled key usable again.
func (s *Service) EnableKey(ctx context.Context, in *api.EnableKeyRequest) (*wire.Empty, error) {
	_, err := s.customerKey(ctx, "EnableKey", deref(in.KeyId), func(k *keyRecord) error {
		if k.State == statePendingDeletion {
			return invalidState("%s is pending deletion.", k.ARN)
		}
		k.State = stateEnabled
		return nil
	})
	return empty(err)
}

// DisableKey stops a key's use in cryptographic operations, and so the use of what it protects.
func (s *Service) DisableKey(ctx context.Context, in *api.DisableKeyRequest) (*wire.Empty, error) {
	_, err := s.customerKey(ctx, "DisableKey", deref(in.KeyId), func(k *keyRecord) error {
		if k.State == statePendingDeletion {
			return invalidState("%s is pending deletion.", k.ARN)
		}
		k.State = stateDisabled
		return nil
	})
	return empty(err)
}

// ScheduleKeyDeletion puts a key in PendingDeletion for 7 to 30 days (30 by default); when the period ends the
// key and its aliases are gone, and so is everything encrypted under it.
func (s *Service) ScheduleKeyDeletion(ctx context.Context, in *api.ScheduleKeyDeletionRequest) (*api.ScheduleKeyDeletionResponse, error) {
	days := int32(30)
	if in.PendingWindowInDays != nil {
		days = *in.PendingWindowInDays
	}
	if days < 7 || days > 30 {
		return nil, validation("PendingWindowInDays value must be between 7 and 30.")
	}
	k, err := s.customerKey(ctx, "ScheduleKeyDeletion", deref(in.KeyId), func(k *keyRecord) error {
		if k.State == statePendingDeletion {
			return invalidState("%s is pending deletion.", k.ARN)
		}
		k.State = statePendingDeletion
		k.PendingDays = days
		k.DeletionDate = s.clock().UTC().Add(time.Duration(days) * 24 * time.Hour)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &api.ScheduleKeyDeletionResponse{KeyId: str(k.ARN), KeyState: str(k.State), DeletionDate: timep(k.DeletionDate),
		PendingWindowInDays: &k.PendingDays}, nil
}

// CancelKeyDeletion takes a key out of PendingDeletion; it comes back disabled, as in KMS.
func (s *Service) CancelKeyDeletion(ctx context.Context, in *api.CancelKeyDeletionRequest) (*api.CancelKeyDeletionResponse, error) {
	k, err := s.customerKey(ctx, "CancelKeyDeletion", deref(in.KeyId), func(k *keyRecord) error {
		if k.State != statePendingDeletion {
			return invalidState("%s is not pending deletion.", k.ARN)
		}
		k.State, k.DeletionDate, k.PendingDays = stateDisabled, time.Time{}, 0
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &api.CancelKeyDeletionResponse{KeyId: str(k.ARN)}, nil
}

// UpdateKeyDescription replaces a key's description.
func (s *Service) UpdateKeyDescription(ctx context.Context, in *api.UpdateKeyDescriptionRequest) (*wire.Empty, error) {
	if in.Description == nil {
		return nil, validation("1 validation error detected: Value null at 'description' failed to satisfy constraint: Member must not be null")
	}
	_, err := s.customerKey(ctx, "UpdateKeyDescription", deref(in.KeyId), func(k *keyRecord) error {
		if k.State == statePendingDeletion {
			return invalidState("%s is pending deletion.", k.ARN)
		}
		k.Description = *in.Description
		return nil
	})
	return empty(err)
}

// TagResource adds or replaces tags of a key.
func (s *Service) TagResource(ctx context.Context, in *api.TagResourceRequest) (*wire.Empty, error) {
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	_, err = s.customerKey(ctx, "TagResource", deref(in.KeyId), func(k *keyRecord) error {
		if k.State == statePendingDeletion {
			return invalidState("%s is pending deletion.", k.ARN)
		}
		for _, t := range tags {
			k.Tags = setTag(k.Tags, t.Key, t.Value)
		}
		if len(k.Tags) > 50 {
			return apierr.New(apierr.LimitExceeded, "LimitExceededException", "A KMS key can have at most 50 tags.")
		}
		return nil
	})
	return empty(err)
}

// UntagResource removes tags of a key by their keys.
func (s *Service) UntagResource(ctx context.Context, in *api.UntagResourceRequest) (*wire.Empty, error) {
	_, err := s.customerKey(ctx, "UntagResource", deref(in.KeyId), func(k *keyRecord) error {
		if k.State == statePendingDeletion {
			return invalidState("%s is pending deletion.", k.ARN)
		}
		k.Tags = slices.DeleteFunc(k.Tags, func(t tag) bool { return slices.Contains(in.TagKeys, t.Key) })
		return nil
	})
	return empty(err)
}

// ListResourceTags lists a key's tags, a page at a time.
func (s *Service) ListResourceTags(ctx context.Context, in *api.ListResourceTagsRequest) (*api.ListResourceTagsResponse, error) {
	k, err := s.resolve(ctx, deref(in.KeyId))
	if err != nil {
		return nil, err
	}
	start, end, next, err := page(len(k.Tags), in.Limit, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &api.ListResourceTagsResponse{Tags: []api.Tag{}, Truncated: boolp(next != nil), NextMarker: next}
	for _, t := range k.Tags[start:end] {
		out.Tags = append(out.Tags, api.Tag{TagKey: str(t.Key), TagValue: str(t.Value)})
	}
	return out, nil
}

// GetKeyPolicy returns the key policy given at creation, or KMS's default policy, which gives the account
// full access.
func (s *Service) GetKeyPolicy(ctx context.Context, in *api.GetKeyPolicyRequest) (*api.GetKeyPolicyResponse, error) {
	if in.PolicyName != nil && *in.PolicyName != "default" {
		return nil, notFound("No such policy exists")
	}
	k, err := s.resolve(ctx, deref(in.KeyId))
	if err != nil {
		return nil, err
	}
	policy := k.Policy
	if policy == "" {
		policy = fmt.Sprintf(`{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}]}`, k.Account)
	}
	return &api.GetKeyPolicyResponse{Policy: str(policy), PolicyName: str("default")}, nil
}

func empty(err error) (*wire.Empty, error) {
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}
