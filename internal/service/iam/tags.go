package iam

import (
	"regexp"
	"strings"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	ident "github.com/overcast-cloud/overcast/internal/iam"
)

const maxTags = 50

var (
	tagKeyRE   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValueRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// checkTags validates tags given to a Create or Tag call.
func checkTags(in []iamapi.Tag) ([]ident.Tag, error) {
	if len(in) > maxTags {
		return nil, validationError("tags", "tags", "Member must have length less than or equal to 50")
	}
	out := make([]ident.Tag, 0, len(in))
	seen := map[string]bool{}
	for _, t := range in {
		if t.Key == nil {
			return nil, missingMember("tags.member.key")
		}
		k, v := *t.Key, strOr(t.Value, "")
		switch {
		case len(k) < 1 || len(k) > 128:
			return nil, validationError(k, "tags.member.key", "Member must have length less than or equal to 128")
		case !tagKeyRE.MatchString(k):
			return nil, validationError(k, "tags.member.key", `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`)
		case len(v) > 256:
			return nil, validationError(v, "tags.member.value", "Member must have length less than or equal to 256")
		case !tagValueRE.MatchString(v):
			return nil, validationError(v, "tags.member.value", `Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`)
		}
		if seen[strings.ToLower(k)] {
			return nil, invalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[strings.ToLower(k)] = true
		out = append(out, ident.Tag{Key: k, Value: v})
	}
	return out, nil
}

// mergeTags sets tags on cur; keys match without regard to case, as IAM's do.
func mergeTags(cur, add []ident.Tag) ([]ident.Tag, error) {
	out := append([]ident.Tag(nil), cur...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if strings.EqualFold(out[i].Key, t.Key) {
				out[i] = t
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	if len(out) > maxTags {
		return nil, limitExceeded("The number of tags has reached the maximum limit.")
	}
	return out, nil
}

// addTags sets add on *tags, as mergeTags does, leaving *tags as it was when the limit refuses them.
func addTags(tags *[]ident.Tag, add []ident.Tag) error {
	merged, err := mergeTags(*tags, add)
	if err != nil {
		return err
	}
	*tags = merged
	return nil
}

// removeTags drops the tags with the keys; absent keys are not an error.
func removeTags(cur []ident.Tag, keys []string) []ident.Tag {
	out := cur[:0:0]
	for _, t := range cur {
		drop := false
		for _, k := range keys {
			if strings.EqualFold(t.Key, k) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, t)
		}
	}
	return out
}

func apiTags(tags []ident.Tag) []iamapi.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]iamapi.Tag, len(tags))
	for i, t := range tags {
		out[i] = iamapi.Tag{Key: str(t.Key), Value: str(t.Value)}
	}
	return out
}

// pageTags lists tags for the List*Tags operations.
func pageTags(tags []ident.Tag, marker *string, maxItems *int32) ([]iamapi.Tag, *bool, *string, error) {
	page, trunc, next, err := paginate(append([]ident.Tag(nil), tags...), func(t ident.Tag) string { return t.Key }, marker, maxItems)
	if err != nil {
		return nil, nil, nil, err
	}
	out := apiTags(page)
	if out == nil {
		out = []iamapi.Tag{}
	}
	return out, trunc, next, nil
}
