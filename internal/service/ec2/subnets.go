package ec2

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/overcast-cloud/overcast/internal/regions"
	"github.com/overcast-cloud/overcast/internal/store"
)

// subnetRecord is a subnet. The instances half reads it through subnetFor.
type subnetRecord struct {
	ID                  string `json:"id"`
	VPCID               string `json:"vpcId"`
	CIDR                string `json:"cidr"`
	AvailabilityZone    string `json:"az"`
	AvailabilityZoneID  string `json:"azId"`
	MapPublicIPOnLaunch bool   `json:"mapPublicIp"`
	DefaultForAZ        bool   `json:"defaultForAz"`
	Tags                []Tag  `json:"tags,omitempty"`
}

// prefix is the subnet's CIDR; records only ever hold valid ones.
func (sn subnetRecord) prefix() netip.Prefix { return netip.MustParsePrefix(sn.CIDR) }

// CreateSubnet makes a subnet in a VPC, inside the VPC's CIDR and clear of its other subnets, and its bridge
// on the host.
func (s *Service) CreateSubnet(ctx context.Context, in *api.CreateSubnetRequest) (*api.CreateSubnetResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	if in.VpcId == nil {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter vpcId")
	}
	if in.CidrBlock == nil {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter cidrBlock")
	}
	cidr, err := parseCIDR("cidrBlock", *in.CidrBlock)
	if err != nil {
		return nil, err
	}
	zone, err := subnetZone(awsctx.From(ctx).Region, deref(in.AvailabilityZone), deref(in.AvailabilityZoneId))
	if err != nil {
		return nil, err
	}
	sn := subnetRecord{
		ID: newID("subnet"), VPCID: *in.VpcId, CIDR: cidr.String(), AvailabilityZone: zone.Name,
		AvailabilityZoneID: zone.ID, Tags: tagsFromSpecs(in.TagSpecifications, "subnet"),
	}
	err = s.inVPC(ctx, sn.VPCID, func(v *vpcRecord) ([]store.Op, error) {
		if vc := netip.MustParsePrefix(v.CIDR); cidr.Bits() < 16 || cidr.Bits() > 28 || !vc.Contains(cidr.Addr()) || cidr.Bits() < vc.Bits() {
			return nil, apierr.InvalidParam("InvalidSubnet.Range", "The CIDR '%s' is invalid.", sn.CIDR)
		}
		subnets, _, err := store.List[subnetRecord](ctx, s.st, scopedPrefix(ctx, kindSubnet))
		if err != nil {
			return nil, err
		}
		for _, o := range subnets {
			if o.VPCID == v.ID && o.prefix().Overlaps(cidr) {
				return nil, apierr.New(apierr.Conflict, "InvalidSubnet.Conflict", "The CIDR '%s' conflicts with another subnet", sn.CIDR)
			}
		}
		op, err := store.PutOp(scopedKey(ctx, kindSubnet, sn.ID), sn, store.Absent)
		return []store.Op{op}, err
	})
	if err != nil {
		return nil, err
	}
	if err := s.ensureHostSubnet(ctx, sn); err != nil {
		return nil, err
	}
	out, err := s.subnetOut(ctx, sn)
	if err != nil {
		return nil, err
	}
	return &api.CreateSubnetResult{Subnet: &out}, nil
}

// subnetZone picks the subnet's Availability Zone: the named one, the one of the zone id, or the region's
// first.
func subnetZone(region, name, id string) (regions.Zone, error) {
	r, _ := regions.Lookup(region)
	zones := r.ZoneList()
	if len(zones) == 0 {
		return regions.Zone{}, apierr.InvalidParam("InvalidParameterValue", "The region %s has no Availability Zones", region)
	}
	if name == "" && id == "" {
		return zones[0], nil
	}
	for _, z := range zones {
		if (name == "" || z.Name == name) && (id == "" || z.ID == id) {
			return z, nil
		}
	}
	names := make([]string, len(zones))
	for i, z := range zones {
		names[i] = z.Name
	}
	param, val := "availabilityZone", name
	if name == "" {
		param, val = "availabilityZoneId", id
	}
	return regions.Zone{}, apierr.InvalidParam("InvalidParameterValue",
		"Value (%s) for parameter %s is invalid. Subnets can currently only be created in the following availability zones: %s.",
		val, param, strings.Join(names, ", "))
}

// ensureHostSubnet makes the subnet's bridge on the host (idempotent). Unit tests run without a network.
func (s *Service) ensureHostSubnet(ctx context.Context, sn subnetRecord) error {
	if s.net == nil {
		return nil
	}
	p := sn.prefix()
	if err := s.net.EnsureSubnet(ctx, network.Subnet{ID: sn.ID, VPCID: sn.VPCID, CIDR: p, Gateway: p.Addr().Next()}); err != nil {
		return fmt.Errorf("ec2: subnet %s on the host: %w", sn.ID, err)
	}
	return nil
}

// DescribeSubnets lists the region's subnets, the default VPC's included.
func (s *Service) DescribeSubnets(ctx context.Context, in *api.DescribeSubnetsRequest) (*api.DescribeSubnetsResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	page, next, err := describeNetwork(ctx, s, networkKind[subnetRecord, api.Subnet]{
		kind:  kindSubnet,
		named: namedIDs[subnetRecord]{in.SubnetIds, func(sn subnetRecord) string { return sn.ID }, subnetNotFound},
		out:   func(sn subnetRecord) (api.Subnet, error) { return s.subnetOut(ctx, sn) },
		fields: func(sn subnetRecord, o api.Subnet) map[string][]string {
			return map[string][]string{
				"availability-zone": {sn.AvailabilityZone}, "availabilityZone": {sn.AvailabilityZone},
				"availability-zone-id": {sn.AvailabilityZoneID}, "availabilityZoneId": {sn.AvailabilityZoneID},
				"available-ip-address-count": {fmt.Sprint(*o.AvailableIpAddressCount)},
				"cidr-block":                 {sn.CIDR}, "cidr": {sn.CIDR}, "cidrBlock": {sn.CIDR},
				"default-for-az": boolField(sn.DefaultForAZ), "defaultForAz": boolField(sn.DefaultForAZ),
				"map-public-ip-on-launch": boolField(sn.MapPublicIPOnLaunch), "owner-id": {*o.OwnerId},
				"state": {"available"}, "subnet-arn": {*o.SubnetArn}, "subnet-id": {sn.ID}, "vpc-id": {sn.VPCID},
				"ipv6-native": {"false"},
			}
		},
		tags: func(sn subnetRecord) []Tag { return sn.Tags },
	}, describeQuery{in.Filters, in.MaxResults, in.NextToken})
	if err != nil {
		return nil, err
	}
	return &api.DescribeSubnetsResult{Subnets: page, NextToken: next}, nil
}

func (s *Service) subnetOut(ctx context.Context, sn subnetRecord) (api.Subnet, error) {
	r := awsctx.From(ctx)
	used, err := s.privateIPsInUse(ctx, sn.ID)
	if err != nil {
		return api.Subnet{}, err
	}
	free := int32(subnetSize(sn.prefix()) - 5 - used)
	f := false
	return api.Subnet{
		SubnetId: str(sn.ID), VpcId: str(sn.VPCID), CidrBlock: str(sn.CIDR), State: str("available"),
		AvailabilityZone: str(sn.AvailabilityZone), AvailabilityZoneId: str(sn.AvailabilityZoneID),
		AvailableIpAddressCount: &free, DefaultForAz: &sn.DefaultForAZ, MapPublicIpOnLaunch: &sn.MapPublicIPOnLaunch,
		MapCustomerOwnedIpOnLaunch: &f, AssignIpv6AddressOnCreation: &f, EnableDns64: &f, Ipv6Native: &f,
		OwnerId:   str(r.Account),
		SubnetArn: str("arn:aws:ec2:" + r.Region + ":" + r.Account + ":subnet/" + sn.ID),
		PrivateDnsNameOptionsOnLaunch: &api.PrivateDnsNameOptionsOnLaunch{
			HostnameType: str("ip-name"), EnableResourceNameDnsARecord: &f, EnableResourceNameDnsAAAARecord: &f,
		},
		Tags: apiTags(sn.Tags),
	}, nil
}

// DeleteSubnet deletes a subnet in which no address is allocated (no instance has an interface in it),
// its route table association and its bridge.
func (s *Service) DeleteSubnet(ctx context.Context, in *api.DeleteSubnetRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	sn, err := s.getSubnet(ctx, deref(in.SubnetId))
	if err != nil {
		return nil, err
	}
	err = s.inVPC(ctx, sn.VPCID, func(v *vpcRecord) ([]store.Op, error) {
		used, err := s.privateIPsInUse(ctx, sn.ID)
		if err != nil {
			return nil, err
		}
		if used > 0 {
			return nil, apierr.New(apierr.Conflict, "DependencyViolation", "The subnet '%s' has dependencies and cannot be deleted.", sn.ID)
		}
		ops := []store.Op{store.DeleteOp(scopedKey(ctx, kindSubnet, sn.ID), store.Any)}
		// The subnet's explicit route table association goes with it.
		rts, recs, err := store.List[routeTableRecord](ctx, s.st, scopedPrefix(ctx, kindRouteTable))
		if err != nil {
			return nil, err
		}
		for i, rt := range rts {
			if rt.VPCID != v.ID {
				continue
			}
			kept := rt.Associations[:0:0]
			for _, a := range rt.Associations {
				if a.SubnetID != sn.ID {
					kept = append(kept, a)
				}
			}
			if len(kept) != len(rt.Associations) {
				rt.Associations = kept
				op, err := store.PutOp(recs[i].Key, rt, recs[i].ModRevision)
				if err != nil {
					return nil, err
				}
				ops = append(ops, op)
			}
		}
		return ops, nil
	})
	if err != nil {
		return nil, err
	}
	if s.net != nil {
		if err := s.net.DeleteSubnet(ctx, sn.ID); err != nil {
			s.log.Warn("subnet bridge not removed", "subnet", sn.ID, "err", err)
		}
	}
	return &wire.Empty{}, nil
}

// ModifySubnetAttribute sets MapPublicIpOnLaunch; the other attributes are IPv6 and Outposts matters that
// Overcast does not have.
func (s *Service) ModifySubnetAttribute(ctx context.Context, in *api.ModifySubnetAttributeRequest) (*wire.Empty, error) {
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	id := deref(in.SubnetId)
	if err := checkID(id, "subnet", "InvalidSubnetID.Malformed"); err != nil {
		return nil, err
	}
	if in.MapPublicIpOnLaunch == nil || in.MapPublicIpOnLaunch.Value == nil {
		return nil, apierr.InvalidParam("InvalidParameterCombination", "Overcast modifies only MapPublicIpOnLaunch of a subnet")
	}
	_, err := store.Mutate(ctx, s.st, scopedKey(ctx, kindSubnet, id), func(sn *subnetRecord) error {
		sn.MapPublicIPOnLaunch = *in.MapPublicIpOnLaunch.Value
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, subnetNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// subnetFor resolves the subnet an instance launches into: subnetID when given, else the default subnet of
// az, else the region's first default subnet. It makes sure the subnet's bridge exists on the host.
// Errors: InvalidSubnetID.NotFound, VPCIdNotSpecified (no default VPC), InvalidParameterValue (no such az).
func (s *Service) subnetFor(ctx context.Context, subnetID, az string) (subnetRecord, error) {
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return subnetRecord{}, err
	}
	var sn subnetRecord
	if subnetID != "" {
		var err error
		if sn, err = s.getSubnet(ctx, subnetID); err != nil {
			return sn, err
		}
		if az != "" && sn.AvailabilityZone != az {
			return sn, apierr.InvalidParam("InvalidParameterValue",
				"The Availability Zone %s does not match the subnet's (%s).", az, sn.AvailabilityZone)
		}
	} else {
		vpcID, err := s.ensureDefaultVPC(ctx)
		if err != nil {
			return sn, err
		}
		subnets, _, err := store.List[subnetRecord](ctx, s.st, scopedPrefix(ctx, kindSubnet))
		if err != nil {
			return sn, err
		}
		found := false
		for _, c := range subnets {
			if c.VPCID == vpcID && c.DefaultForAZ && (az == "" || c.AvailabilityZone == az) &&
				(!found || c.AvailabilityZone < sn.AvailabilityZone) {
				sn, found = c, true
			}
		}
		if !found {
			if az != "" {
				return sn, apierr.InvalidParam("InvalidParameterValue", "Invalid availability zone: [%s]", az)
			}
			return sn, apierr.InvalidParam("MissingInput", "No subnets found for the default VPC '%s'. Please specify a subnet.", vpcID)
		}
	}
	return sn, s.ensureHostSubnet(ctx, sn)
}

func (s *Service) getSubnet(ctx context.Context, id string) (subnetRecord, error) {
	sn, _, err := getResource[subnetRecord](ctx, s, kindSubnet, "subnet", "InvalidSubnetID.Malformed", subnetNotFound, id)
	return sn, err
}

func subnetNotFound(id string) error {
	return apierr.Missing("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
}
