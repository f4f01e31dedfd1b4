package ec2

import (
	"path"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
)

// filterSet is a request's Filters: every filter must match, and within a filter any of its values (with the
// * and ? wildcards EC2 allows).
type filterSet []api.Filter

// match reports whether the resource passes every filter; fields gives each filter name's values on the
// resource. A filter name the resource type does not know is an error, as in EC2.
func (fs filterSet) match(fields map[string][]string) (bool, error) {
	for _, f := range fs {
		name := deref(f.Name)
		have, known := fields[name]
		if !known {
			return false, apierr.InvalidParam("InvalidParameterValue", "The filter '%s' is invalid", name)
		}
		if !anyMatch(f.Values, have) {
			return false, nil
		}
	}
	return true, nil
}

func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if ok, _ := path.Match(p, v); ok || p == v {
				return true
			}
		}
	}
	return false
}
