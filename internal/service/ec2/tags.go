package ec2

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Tags of every EC2 resource kind. Each record keeps its tags in its own "tags" JSON field (the instance
// record also keeps its network interface's and root volume's), so CreateTags and DeleteTags edit that
// field in the stored JSON without knowing the record's Go type: the network half's types stay its own.

// maxTags is EC2's limit of tags per resource.
const maxTags = 50

// taggable describes one resource kind by its id prefix.
type taggable struct {
	kind         string
	resourceType string // as DescribeTags names it
	field        string // the JSON field holding the tags
	notFound     func(id string) error
}

func notFoundAs(code, format string) func(string) error {
	return func(id string) error { return apierr.Missing(code, format, id) }
}

var taggables = map[string]taggable{
	"i":        {kindInstance, "instance", "tags", func(id string) error { return instanceNotFound(id) }},
	"eni":      {kindInstance, "network-interface", "eniTags", notFoundAs("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist")},
	"vol":      {kindInstance, "volume", "volumeTags", notFoundAs("InvalidVolume.NotFound", "The volume '%s' does not exist.")},
	"vpc":      {kindVPC, "vpc", "tags", notFoundAs("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist")},
	"subnet":   {kindSubnet, "subnet", "tags", notFoundAs("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist")},
	"sg":       {kindSecurityGroup, "security-group", "tags", notFoundAs("InvalidGroup.NotFound", "The security group '%s' does not exist")},
	"igw":      {kindInternetGateway, "internet-gateway", "tags", notFoundAs("InvalidInternetGatewayID.NotFound", "The internetGateway ID '%s' does not exist")},
	"rtb":      {kindRouteTable, "route-table", "tags", notFoundAs("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist")},
	"key":      {kindKeyPair, "key-pair", "tags", notFoundAs("InvalidKeyPair.NotFound", "The key pair '%s' does not exist")},
	"eipalloc": {kindAddress, "elastic-ip", "tags", notFoundAs("InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist")},
	"snap":     {kindSnapshot, "snapshot", "tags", notFoundAs("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.")},
}

// ebsVolume is the taggable of an EBS volume record; "vol-" ids not found among them are instances' root
// volumes, whose tags the instance record keeps.
var ebsVolume = taggable{kindVolume, "volume", "tags", notFoundAs("InvalidVolume.NotFound", "The volume '%s' does not exist.")}

func taggableOf(id string) (taggable, error) {
	prefix, _, ok := strings.Cut(id, "-")
	if t, known := taggables[prefix]; ok && known {
		return t, nil
	}
	return taggable{}, apierr.InvalidParam("InvalidID", "The ID '%s' is not valid", id)
}

// findTagged returns the stored record that holds the resource's tags, and the taggable it was found as.
func (s *Service) findTagged(ctx context.Context, t taggable, id string) (store.Record, taggable, error) {
	if t.resourceType == "volume" {
		rec, err := s.st.Get(ctx, scopedKey(ctx, kindVolume, id))
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return rec, ebsVolume, err
		}
	}
	rec, err := s.findTaggedAs(ctx, t, id)
	return rec, t, err
}

func (s *Service) findTaggedAs(ctx context.Context, t taggable, id string) (store.Record, error) {
	// Most records are keyed by their resource id; key pairs by name, interfaces and volumes by instance.
	if t.kind != kindKeyPair && t.kind != kindInstance || t.resourceType == "instance" {
		rec, err := s.st.Get(ctx, scopedKey(ctx, t.kind, id))
		if errors.Is(err, store.ErrNotFound) {
			return rec, t.notFound(id)
		}
		return rec, err
	}
	idField := map[string]string{"key-pair": "id", "network-interface": "eniId", "volume": "rootVolumeId"}[t.resourceType]
	recs, err := s.st.List(ctx, scopedPrefix(ctx, t.kind))
	if err != nil {
		return store.Record{}, err
	}
	for _, rec := range recs {
		var v map[string]any
		if json.Unmarshal(rec.Value, &v) == nil && v[idField] == id {
			return rec, nil
		}
	}
	return store.Record{}, t.notFound(id)
}

// editTags applies fn to the resource's tags under optimistic concurrency.
func (s *Service) editTags(ctx context.Context, id string, fn func([]Tag) ([]Tag, error)) error {
	t, err := taggableOf(id)
	if err != nil {
		return err
	}
	for range 64 {
		rec, t, err := s.findTagged(ctx, t, id)
		if err != nil {
			return err
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(rec.Value, &fields); err != nil {
			return err
		}
		var tags []Tag
		if raw, ok := fields[t.field]; ok {
			if err := json.Unmarshal(raw, &tags); err != nil {
				return err
			}
		}
		if tags, err = fn(tags); err != nil {
			return err
		}
		if fields[t.field], err = json.Marshal(tags); err != nil {
			return err
		}
		value, err := json.Marshal(fields)
		if err != nil {
			return err
		}
		_, err = s.st.Txn(ctx, store.Op{Key: rec.Key, Value: value, Expect: rec.ModRevision})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err == nil && t.kind == kindInstance {
			s.hw().invalidate()
		}
		return err
	}
	return apierr.New(apierr.Unavailable, "RequestLimitExceeded", "The resource %s is changing too fast; try again.", id)
}

// setTag adds or replaces a tag.
func setTag(tags []Tag, t Tag) []Tag {
	for i := range tags {
		if tags[i].Key == t.Key {
			tags[i].Value = t.Value
			return tags
		}
	}
	return append(tags, t)
}

// checkTags answers EC2's errors for tags it refuses.
func checkTags(tags []Tag) error {
	for _, t := range tags {
		switch {
		case t.Key == "":
			return apierr.InvalidParam("InvalidParameterValue", "Tag key cannot be empty.")
		case len(t.Key) > 128:
			return apierr.InvalidParam("InvalidParameterValue", "Tag key exceeds the maximum length of 128 characters.")
		case len(t.Value) > 256:
			return apierr.InvalidParam("InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters.")
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return apierr.InvalidParam("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	if len(tags) > maxTags {
		return apierr.New(apierr.LimitExceeded, "TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")
	}
	return nil
}

// CreateTags adds or overwrites tags on resources of any kind.
func (s *Service) CreateTags(ctx context.Context, in *api.CreateTagsRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if len(in.Resources) == 0 {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	if len(in.Tags) == 0 {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter tagSet")
	}
	var add []Tag
	for _, t := range in.Tags {
		add = append(add, Tag{Key: deref(t.Key), Value: deref(t.Value)})
	}
	if err := checkTags(add); err != nil {
		return nil, err
	}
	if err := s.checkTaggables(ctx, in.Resources); err != nil {
		return nil, err
	}
	for _, id := range in.Resources {
		err := s.editTags(ctx, id, func(tags []Tag) ([]Tag, error) {
			for _, t := range add {
				tags = setTag(tags, t)
			}
			return tags, checkTags(tags)
		})
		if err != nil {
			return nil, err
		}
	}
	return &wire.Empty{}, nil
}

// checkTaggables fails before any change when one of the resources does not exist.
func (s *Service) checkTaggables(ctx context.Context, ids []string) error {
	for _, id := range ids {
		t, err := taggableOf(id)
		if err != nil {
			return err
		}
		if _, _, err := s.findTagged(ctx, t, id); err != nil {
			return err
		}
	}
	return nil
}

// DeleteTags removes tags: a tag given with a value only when the value matches, a key alone whatever its
// value, and every tag when no tags are given.
func (s *Service) DeleteTags(ctx context.Context, in *api.DeleteTagsRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if len(in.Resources) == 0 {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	for _, t := range in.Tags {
		if strings.HasPrefix(strings.ToLower(deref(t.Key)), "aws:") {
			return nil, apierr.InvalidParam("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	if err := s.checkTaggables(ctx, in.Resources); err != nil {
		return nil, err
	}
	for _, id := range in.Resources {
		err := s.editTags(ctx, id, func(tags []Tag) ([]Tag, error) {
			if len(in.Tags) == 0 {
				return nil, nil
			}
			kept := tags[:0]
			for _, t := range tags {
				if !deleted(in.Tags, t) {
					kept = append(kept, t)
				}
			}
			return kept, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return &wire.Empty{}, nil
}

func deleted(del []api.Tag, t Tag) bool {
	for _, d := range del {
		if deref(d.Key) == t.Key && (d.Value == nil || *d.Value == t.Value) {
			return true
		}
	}
	return false
}

// taggedResource is one resource's tags, for DescribeTags.
type taggedResource struct {
	id, resourceType string
	tags             []Tag
}

// DescribeTags lists the tags of every resource of the account and region.
func (s *Service) DescribeTags(ctx context.Context, in *api.DescribeTagsRequest) (*api.DescribeTagsResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	resources, err := s.taggedResources(ctx)
	if err != nil {
		return nil, err
	}
	var out []api.TagDescription
	for _, r := range resources {
		for _, t := range r.tags {
			fields := tagFields(map[string][]string{
				"key": {t.Key}, "value": {t.Value}, "resource-id": {r.id}, "resource-type": {r.resourceType},
			}, r.tags, in.Filters)
			ok, err := filterSet(in.Filters).match(fields)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, api.TagDescription{Key: str(t.Key), Value: str(t.Value), ResourceId: str(r.id), ResourceType: str(r.resourceType)})
			}
		}
	}
	page, next, err := paginate(out, func(d api.TagDescription) string { return *d.ResourceId + "\x00" + *d.Key }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &api.DescribeTagsResult{Tags: page, NextToken: next}, nil
}

func (s *Service) taggedResources(ctx context.Context) ([]taggedResource, error) {
	var out []taggedResource
	insts, err := s.listInstances(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range insts {
		out = append(out, taggedResource{r.ID, "instance", r.Tags})
		if r.State != stateTerminated {
			out = append(out, taggedResource{r.InterfaceID, "network-interface", r.ENITags},
				taggedResource{r.RootVolumeID, "volume", r.VolumeTags})
		}
	}
	for _, t := range append(slices.Collect(maps.Values(taggables)), ebsVolume) {
		if t.kind == kindInstance {
			continue
		}
		recs, _, err := store.List[struct {
			ID           string `json:"id"`
			AllocationID string `json:"allocationId"` // Elastic IPs name their id so
			Tags         []Tag  `json:"tags"`
		}](ctx, s.st, scopedPrefix(ctx, t.kind))
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			id := r.ID
			if id == "" {
				id = r.AllocationID
			}
			out = append(out, taggedResource{id, t.resourceType, r.Tags})
		}
	}
	return out, nil
}
