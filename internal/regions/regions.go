// Package regions is the catalogue of AWS's commercial regions and their Availability Zones, as Overcast serves
// them. Every region is accepted; each has the zone names and zone ids AWS uses.
package regions

import "sort"

// Region is one commercial region.
type Region struct {
	Name string
	// OptIn is AWS's opt-in status: "opt-in-not-required" for the original regions, "opted-in" for the
	// later ones (Overcast treats every region as enabled).
	OptIn string
	// Zones are the zone letters, in order: "a", "b", ...
	Zones []string
	// ZoneIDPrefix is the prefix of the zone ids: "use1" gives use1-az1, ...
	ZoneIDPrefix string
}

// Zone is one Availability Zone.
type Zone struct {
	Name   string // us-east-1a
	ID     string // use1-az1
	Region string
}

var all = []Region{
	{"af-south-1", "opted-in", []string{"a", "b", "c"}, "afs1"},
	{"ap-east-1", "opted-in", []string{"a", "b", "c"}, "ape1"},
	{"ap-east-2", "opted-in", []string{"a", "b", "c"}, "ape2"},
	{"ap-northeast-1", "opt-in-not-required", []string{"a", "c", "d"}, "apne1"},
	{"ap-northeast-2", "opt-in-not-required", []string{"a", "b", "c", "d"}, "apne2"},
	{"ap-northeast-3", "opt-in-not-required", []string{"a", "b", "c"}, "apne3"},
	{"ap-south-1", "opt-in-not-required", []string{"a", "b", "c"}, "aps1"},
	{"ap-south-2", "opted-in", []string{"a", "b", "c"}, "aps2"},
	{"ap-southeast-1", "opt-in-not-required", []string{"a", "b", "c"}, "apse1"},
	{"ap-southeast-2", "opt-in-not-required", []string{"a", "b", "c"}, "apse2"},
	{"ap-southeast-3", "opted-in", []string{"a", "b", "c"}, "apse3"},
	{"ap-southeast-4", "opted-in", []string{"a", "b", "c"}, "apse4"},
	{"ap-southeast-5", "opted-in", []string{"a", "b", "c"}, "apse5"},
	{"ap-southeast-7", "opted-in", []string{"a", "b", "c"}, "apse7"},
	{"ca-central-1", "opt-in-not-required", []string{"a", "b", "d"}, "cac1"},
	{"ca-west-1", "opted-in", []string{"a", "b", "c"}, "caw1"},
	{"eu-central-1", "opt-in-not-required", []string{"a", "b", "c"}, "euc1"},
	{"eu-central-2", "opted-in", []string{"a", "b", "c"}, "euc2"},
	{"eu-north-1", "opt-in-not-required", []string{"a", "b", "c"}, "eun1"},
	{"eu-south-1", "opted-in", []string{"a", "b", "c"}, "eus1"},
	{"eu-south-2", "opted-in", []string{"a", "b", "c"}, "eus2"},
	{"eu-west-1", "opt-in-not-required", []string{"a", "b", "c"}, "euw1"},
	{"eu-west-2", "opt-in-not-required", []string{"a", "b", "c"}, "euw2"},
	{"eu-west-3", "opt-in-not-required", []string{"a", "b", "c"}, "euw3"},
	{"il-central-1", "opted-in", []string{"a", "b", "c"}, "ilc1"},
	{"me-central-1", "opted-in", []string{"a", "b", "c"}, "mec1"},
	{"me-south-1", "opted-in", []string{"a", "b", "c"}, "mes1"},
	{"mx-central-1", "opted-in", []string{"a", "b", "c"}, "mxc1"},
	{"sa-east-1", "opt-in-not-required", []string{"a", "b", "c"}, "sae1"},
	{"us-east-1", "opt-in-not-required", []string{"a", "b", "c", "d", "e", "f"}, "use1"},
	{"us-east-2", "opt-in-not-required", []string{"a", "b", "c"}, "use2"},
	{"us-west-1", "opt-in-not-required", []string{"a", "c"}, "usw1"},
	{"us-west-2", "opt-in-not-required", []string{"a", "b", "c", "d"}, "usw2"},
}

var byName = func() map[string]*Region {
	m := make(map[string]*Region, len(all))
	for i := range all {
		m[all[i].Name] = &all[i]
	}
	return m
}()

// All returns every region, sorted by name.
func All() []Region {
	out := append([]Region(nil), all...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the named region.
func Lookup(name string) (Region, bool) {
	r, ok := byName[name]
	if !ok {
		return Region{}, false
	}
	return *r, true
}

// Valid reports whether name is a commercial region.
func Valid(name string) bool { _, ok := byName[name]; return ok }

// Zones returns the region's Availability Zones.
func (r Region) ZoneList() []Zone {
	zs := make([]Zone, len(r.Zones))
	for i, l := range r.Zones {
		zs[i] = Zone{Name: r.Name + l, ID: r.ZoneIDPrefix + "-az" + itoa(i+1), Region: r.Name}
	}
	return zs
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
