package ec2

import (
	"context"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/regions"
)

// DescribeRegions lists the commercial regions, every one of them enabled.
func (s *Service) DescribeRegions(ctx context.Context, in *api.DescribeRegionsRequest) (*api.DescribeRegionsResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range in.RegionNames {
		if !regions.Valid(n) {
			return nil, apierr.InvalidParam("InvalidParameterValue", "Invalid region: %s", n)
		}
		want[n] = true
	}
	out := &api.DescribeRegionsResult{Regions: []api.Region{}}
	for _, r := range regions.All() {
		if len(want) > 0 && !want[r.Name] {
			continue
		}
		endpoint := "ec2." + r.Name + ".amazonaws.com"
		ok, err := filterSet(in.Filters).match(map[string][]string{
			"region-name": {r.Name}, "endpoint": {endpoint}, "opt-in-status": {r.OptIn},
		})
		if err != nil {
			return nil, err
		}
		if ok {
			out.Regions = append(out.Regions, api.Region{RegionName: str(r.Name), Endpoint: str(endpoint), OptInStatus: str(r.OptIn)})
		}
	}
	return out, nil
}

// DescribeAvailabilityZones lists the zones of the request's region.
func (s *Service) DescribeAvailabilityZones(ctx context.Context, in *api.DescribeAvailabilityZonesRequest) (*api.DescribeAvailabilityZonesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	region, _ := regions.Lookup(awsctx.From(ctx).Region)
	zones := region.ZoneList()
	names, ids := set(in.ZoneNames), set(in.ZoneIds)
	for n := range names {
		if !hasZone(zones, func(z regions.Zone) bool { return z.Name == n }) {
			return nil, apierr.InvalidParam("InvalidParameterValue", "The zone '%s' does not exist.", n)
		}
	}
	for id := range ids {
		if !hasZone(zones, func(z regions.Zone) bool { return z.ID == id }) {
			return nil, apierr.InvalidParam("InvalidParameterValue", "The zone ID '%s' does not exist.", id)
		}
	}
	out := &api.DescribeAvailabilityZonesResult{AvailabilityZones: []api.AvailabilityZone{}}
	for _, z := range zones {
		if len(names) > 0 && !names[z.Name] || len(ids) > 0 && !ids[z.ID] {
			continue
		}
		ok, err := filterSet(in.Filters).match(map[string][]string{
			"zone-name": {z.Name}, "zone-id": {z.ID}, "region-name": {z.Region}, "state": {"available"},
			"opt-in-status": {"opt-in-not-required"}, "zone-type": {"availability-zone"}, "group-name": {z.Region},
			"group-long-name": {z.Region}, "network-border-group": {z.Region}, "message": {},
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		out.AvailabilityZones = append(out.AvailabilityZones, api.AvailabilityZone{
			ZoneName: str(z.Name), ZoneId: str(z.ID), RegionName: str(z.Region), State: str("available"),
			OptInStatus: str("opt-in-not-required"), ZoneType: str("availability-zone"), GroupName: str(z.Region),
			NetworkBorderGroup: str(z.Region), Messages: []api.AvailabilityZoneMessage{},
		})
	}
	return out, nil
}

func set(vs []string) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

func hasZone(zs []regions.Zone, pred func(regions.Zone) bool) bool {
	for _, z := range zs {
		if pred(z) {
			return true
		}
	}
	return false
}
