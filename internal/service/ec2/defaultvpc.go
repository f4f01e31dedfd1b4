package ec2

import (
	"context"
	"errors"
	"net/netip"

	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/regions"
	"github.com/overcast-cloud/overcast/internal/store"
)

// defaultVPCMarker says that the region's default VPC was made. VPCID is empty once the user deleted it:
// EC2 does not make it again by itself.
type defaultVPCMarker struct {
	VPCID string `json:"vpcId"`
}

// defaultVPCCIDR is where AWS puts every default VPC; each AZ gets the next /20 of it.
var defaultVPCCIDR = netip.MustParsePrefix("172.31.0.0/16")

// ensureDefaultVPC makes the region's default VPC (172.31.0.0/16, a default subnet per AZ, an internet
// gateway, the main route table, the default security group) once, and returns its id. After the user
// deleted it, the error is EC2's VPCIdNotSpecified.
func (s *Service) ensureDefaultVPC(ctx context.Context) (string, error) {
	id, err := s.ensureDefaultVPCRecord(ctx)
	if err == nil && id == "" {
		err = apierr.InvalidParam("VPCIdNotSpecified", "No default VPC for this user")
	}
	return id, err
}

// ensureDefaultVPCRecord is ensureDefaultVPC for the Describe and Create handlers, which go on without a
// default VPC: the id is empty when the user deleted it.
//
// Everything is written in one transaction with the marker created Absent, so concurrent first calls
// build one default VPC between them: the losers' transactions fail whole and they read the winner's marker.
func (s *Service) ensureDefaultVPCRecord(ctx context.Context) (string, error) {
	key := scopedKey(ctx, kindDefaultVPC, "default")
	for range 4 {
		m, _, err := store.Get[defaultVPCMarker](ctx, s.st, key)
		if err == nil {
			return m.VPCID, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		ops, id, err := s.defaultVPCOps(ctx)
		if err != nil {
			return "", err
		}
		op, err := store.PutOp(key, defaultVPCMarker{VPCID: id}, store.Absent)
		if err != nil {
			return "", err
		}
		if _, err = s.st.Txn(ctx, append(ops, op)...); err == nil {
			s.log.Info("default VPC created", "vpc", id, "account", awsctx.From(ctx).Account, "region", awsctx.From(ctx).Region)
			return id, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return "", err
		}
	}
	return "", apierr.New(apierr.Unavailable, "ServiceUnavailable", "The default VPC is being created; try again")
}

// defaultVPCOps returns the ops that create the default VPC and everything in it.
func (s *Service) defaultVPCOps(ctx context.Context) ([]store.Op, string, error) {
	v, ops, err := s.newVPC(ctx, defaultVPCCIDR, true, nil)
	if err != nil {
		return nil, "", err
	}
	igw := internetGatewayRecord{ID: newID("igw"), VPCID: v.ID}
	put := func(kind, id string, rec any) error {
		op, err := store.PutOp(scopedKey(ctx, kind, id), rec, store.Absent)
		ops = append(ops, op)
		return err
	}
	if err := put(kindInternetGateway, igw.ID, igw); err != nil {
		return nil, "", err
	}
	// The main route table newVPC made also sends everything beyond the VPC to the gateway.
	for i := range ops {
		if ops[i].Key.Kind == kindRouteTable {
			rt := routeTableRecord{
				ID: v.MainRouteTableID, VPCID: v.ID, Main: true, MainAssocID: newID("rtbassoc"),
				Routes: []routeRecord{
					{Destination: v.CIDR, GatewayID: "local", Origin: "CreateRouteTable"},
					{Destination: "0.0.0.0/0", GatewayID: igw.ID, Origin: "CreateRoute"},
				},
			}
			if ops[i], err = store.PutOp(ops[i].Key, rt, store.Absent); err != nil {
				return nil, "", err
			}
		}
	}
	region, _ := regions.Lookup(awsctx.From(ctx).Region)
	for i, z := range region.ZoneList() {
		cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 31, byte(16 * i), 0}), 20)
		sn := subnetRecord{
			ID: newID("subnet"), VPCID: v.ID, CIDR: cidr.String(), AvailabilityZone: z.Name, AvailabilityZoneID: z.ID,
			MapPublicIPOnLaunch: true, DefaultForAZ: true,
		}
		if err := put(kindSubnet, sn.ID, sn); err != nil {
			return nil, "", err
		}
	}
	return ops, v.ID, nil
}
