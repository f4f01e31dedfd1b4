package ec2

import (
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
			if wildcardMatch(p, v) {
				return true
			}
		}
	}
	return false
}

// wildcardMatch is EC2's filter value match: * is any run of characters (slashes included, so "10.*"
// matches a CIDR), ? is one character, and a backslash makes the next character literal. It backtracks
// only to the last star, so it runs in time linear in pattern times value at worst.
func wildcardMatch(pattern, value string) bool {
	p, v, star, mark := 0, 0, -1, 0
	for v < len(value) {
		if p < len(pattern) && pattern[p] == '*' {
			star, mark = p, v
			p++
			continue
		}
		if p < len(pattern) {
			c, w := pattern[p], 1
			if c == '\\' && p+1 < len(pattern) {
				c, w = pattern[p+1], 2
			}
			if w == 1 && c == '?' || c == value[v] {
				p, v = p+w, v+1
				continue
			}
		}
		if star < 0 {
			return false
		}
		p, mark = star+1, mark+1
		v = mark
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
