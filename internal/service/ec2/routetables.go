package ec2

import (
	"context"
	"errors"
	"strings"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// routeTableRecord is a route table. The main one of a VPC has Main set and its main association's id.
type routeTableRecord struct {
	ID           string          `json:"id"`
	VPCID        string          `json:"vpcId"`
	Main         bool            `json:"main,omitempty"`
	MainAssocID  string          `json:"mainAssocId,omitempty"`
	Routes       []routeRecord   `json:"routes"`
	Associations []rtAssocRecord `json:"associations,omitempty"`
	Tags         []Tag           `json:"tags,omitempty"`
}

// routeRecord is one route; GatewayID is "local" for the VPC's own CIDR or an internet gateway's id.
type routeRecord struct {
	Destination string `json:"destination"`
	GatewayID   string `json:"gatewayId"`
	Origin      string `json:"origin"`
}

// rtAssocRecord is an explicit association of a subnet with the table.
type rtAssocRecord struct {
	ID       string `json:"id"`
	SubnetID string `json:"subnetId"`
}

// CreateRouteTable makes a route table with the VPC's local route.
func (s *Service) CreateRouteTable(ctx context.Context, in *api.CreateRouteTableRequest) (*api.CreateRouteTableResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	if in.VpcId == nil {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter vpcId")
	}
	var rt routeTableRecord
	err := s.inVPC(ctx, *in.VpcId, func(v *vpcRecord) ([]store.Op, error) {
		rt = routeTableRecord{
			ID: newID("rtb"), VPCID: v.ID, Tags: tagsFromSpecs(in.TagSpecifications, "route-table"),
			Routes: []routeRecord{{Destination: v.CIDR, GatewayID: "local", Origin: "CreateRouteTable"}},
		}
		op, err := store.PutOp(scopedKey(ctx, kindRouteTable, rt.ID), rt, store.Absent)
		return []store.Op{op}, err
	})
	if err != nil {
		return nil, err
	}
	out, err := s.routeTableOut(ctx, rt)
	if err != nil {
		return nil, err
	}
	return &api.CreateRouteTableResult{RouteTable: &out, ClientToken: in.ClientToken}, nil
}

func (s *Service) routeTableOut(ctx context.Context, rt routeTableRecord) (api.RouteTable, error) {
	out := api.RouteTable{
		RouteTableId: str(rt.ID), VpcId: str(rt.VPCID), OwnerId: str(awsctx.From(ctx).Account),
		Associations: []api.RouteTableAssociation{}, PropagatingVgws: []api.PropagatingVgw{}, Tags: apiTags(rt.Tags),
	}
	associated := &api.RouteTableAssociationState{State: str("associated")}
	if rt.Main {
		t := true
		out.Associations = append(out.Associations, api.RouteTableAssociation{
			Main: &t, RouteTableAssociationId: str(rt.MainAssocID), RouteTableId: str(rt.ID), AssociationState: associated,
		})
	}
	for _, a := range rt.Associations {
		f := false
		out.Associations = append(out.Associations, api.RouteTableAssociation{
			Main: &f, RouteTableAssociationId: str(a.ID), RouteTableId: str(rt.ID), SubnetId: str(a.SubnetID),
			AssociationState: associated,
		})
	}
	for _, r := range rt.Routes {
		state, err := s.routeState(ctx, rt, r)
		if err != nil {
			return out, err
		}
		out.Routes = append(out.Routes, api.Route{
			DestinationCidrBlock: str(r.Destination), GatewayId: str(r.GatewayID), Origin: str(r.Origin), State: str(state),
		})
	}
	return out, nil
}

// routeState is "active", or "blackhole" for a route through a gateway no longer attached to the VPC.
func (s *Service) routeState(ctx context.Context, rt routeTableRecord, r routeRecord) (string, error) {
	if r.GatewayID == "local" {
		return "active", nil
	}
	g, _, err := store.Get[internetGatewayRecord](ctx, s.st, scopedKey(ctx, kindInternetGateway, r.GatewayID))
	if errors.Is(err, store.ErrNotFound) || err == nil && g.VPCID != rt.VPCID {
		return "blackhole", nil
	}
	if err != nil {
		return "", err
	}
	return "active", nil
}

// DescribeRouteTables lists the region's route tables.
func (s *Service) DescribeRouteTables(ctx context.Context, in *api.DescribeRouteTablesRequest) (*api.DescribeRouteTablesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	page, next, err := describeNetwork(ctx, s, networkKind[routeTableRecord, api.RouteTable]{
		kind:   kindRouteTable,
		named:  namedIDs[routeTableRecord]{in.RouteTableIds, func(rt routeTableRecord) string { return rt.ID }, rtNotFound},
		out:    func(rt routeTableRecord) (api.RouteTable, error) { return s.routeTableOut(ctx, rt) },
		fields: routeTableFields,
		tags:   func(rt routeTableRecord) []Tag { return rt.Tags },
	}, describeQuery{in.Filters, in.MaxResults, in.NextToken})
	if err != nil {
		return nil, err
	}
	return &api.DescribeRouteTablesResult{RouteTables: page, NextToken: next}, nil
}

// routeTableFields gives a table's filter values; the association.* and route.* names hold one value per
// association or route, and are known (empty) even when the table has none.
func routeTableFields(rt routeTableRecord, o api.RouteTable) map[string][]string {
	fields := map[string][]string{
		"route-table-id": {rt.ID}, "vpc-id": {rt.VPCID}, "owner-id": {*o.OwnerId},
		"association.main": nil, "association.route-table-association-id": nil,
		"association.route-table-id": nil, "association.subnet-id": nil,
		"route.destination-cidr-block": nil, "route.gateway-id": nil, "route.origin": nil, "route.state": nil,
	}
	for _, a := range o.Associations {
		fields["association.main"] = append(fields["association.main"], boolField(*a.Main)...)
		fields["association.route-table-association-id"] = append(fields["association.route-table-association-id"], *a.RouteTableAssociationId)
		fields["association.route-table-id"] = append(fields["association.route-table-id"], rt.ID)
		if a.SubnetId != nil {
			fields["association.subnet-id"] = append(fields["association.subnet-id"], *a.SubnetId)
		}
	}
	for _, r := range o.Routes {
		fields["route.destination-cidr-block"] = append(fields["route.destination-cidr-block"], *r.DestinationCidrBlock)
		fields["route.gateway-id"] = append(fields["route.gateway-id"], *r.GatewayId)
		fields["route.origin"] = append(fields["route.origin"], *r.Origin)
		fields["route.state"] = append(fields["route.state"], *r.State)
	}
	return fields
}

// DeleteRouteTable deletes a table that is neither main nor associated with a subnet.
func (s *Service) DeleteRouteTable(ctx context.Context, in *api.DeleteRouteTableRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.RouteTableId)
	rt, _, err := s.getRouteTable(ctx, id)
	if err != nil {
		return nil, err
	}
	err = s.inVPC(ctx, rt.VPCID, func(v *vpcRecord) ([]store.Op, error) {
		rt, rec, err := s.getRouteTable(ctx, id)
		if err != nil {
			return nil, err
		}
		if rt.Main || len(rt.Associations) > 0 {
			return nil, apierr.New(apierr.Conflict, "DependencyViolation", "The routeTable '%s' has dependencies and cannot be deleted.", id)
		}
		return []store.Op{store.DeleteOp(rec.Key, rec.ModRevision)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// CreateRoute adds a route to an internet gateway attached to the table's VPC.
func (s *Service) CreateRoute(ctx context.Context, in *api.CreateRouteRequest) (*api.CreateRouteResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	dest, gw, err := s.routeTarget(ctx, in.RouteTableId, in.DestinationCidrBlock, in.GatewayId,
		in.NatGatewayId, in.InstanceId, in.NetworkInterfaceId, in.TransitGatewayId, in.VpcPeeringConnectionId)
	if err != nil {
		return nil, err
	}
	err = s.mutateRouteTable(ctx, *in.RouteTableId, func(rt *routeTableRecord) error {
		for _, r := range rt.Routes {
			if r.Destination == dest {
				return apierr.New(apierr.AlreadyExists, "RouteAlreadyExists", "The route identified by %s already exists.", dest)
			}
		}
		rt.Routes = append(rt.Routes, routeRecord{Destination: dest, GatewayID: gw, Origin: "CreateRoute"})
		return nil
	})
	if err != nil {
		return nil, err
	}
	t := true
	return &api.CreateRouteResult{Return: &t}, nil
}

// ReplaceRoute points an existing route at another internet gateway.
func (s *Service) ReplaceRoute(ctx context.Context, in *api.ReplaceRouteRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	dest, gw, err := s.routeTarget(ctx, in.RouteTableId, in.DestinationCidrBlock, in.GatewayId,
		in.NatGatewayId, in.InstanceId, in.NetworkInterfaceId, in.TransitGatewayId, in.VpcPeeringConnectionId)
	if err != nil {
		return nil, err
	}
	err = s.mutateRouteTable(ctx, *in.RouteTableId, func(rt *routeTableRecord) error {
		for i, r := range rt.Routes {
			if r.Destination == dest {
				if r.GatewayID == "local" {
					return apierr.InvalidParam("InvalidParameterValue", "cannot replace local route %s in route table %s", dest, rt.ID)
				}
				rt.Routes[i] = routeRecord{Destination: dest, GatewayID: gw, Origin: "CreateRoute"}
				return nil
			}
		}
		return routeNotFound(rt.ID, dest)
	})
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// DeleteRoute removes a route other than the local one.
func (s *Service) DeleteRoute(ctx context.Context, in *api.DeleteRouteRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	dest := deref(in.DestinationCidrBlock)
	if dest == "" {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter destinationCidrBlock")
	}
	err := s.mutateRouteTable(ctx, deref(in.RouteTableId), func(rt *routeTableRecord) error {
		for i, r := range rt.Routes {
			if r.Destination == dest {
				if r.GatewayID == "local" {
					return apierr.InvalidParam("InvalidParameterValue", "cannot remove local route %s in route table %s", dest, rt.ID)
				}
				rt.Routes = append(rt.Routes[:i], rt.Routes[i+1:]...)
				return nil
			}
		}
		return routeNotFound(rt.ID, dest)
	})
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// routeTarget validates a route's destination and target. Overcast routes only to internet gateways,
// which is what instances need to reach beyond their VPC.
func (s *Service) routeTarget(ctx context.Context, rtID, dest, gatewayID *string, others ...*string) (string, string, error) {
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return "", "", err
	}
	rt, _, err := s.getRouteTable(ctx, deref(rtID))
	if err != nil {
		return "", "", err
	}
	if dest == nil {
		return "", "", apierr.InvalidParam("MissingParameter", "The request must contain the parameter destinationCidrBlock")
	}
	p, err := parseCIDR("destinationCidrBlock", *dest)
	if err != nil {
		return "", "", err
	}
	for _, o := range others {
		if o != nil {
			return "", "", apierr.InvalidParam("InvalidParameterValue", "Overcast routes only to internet gateways, not to %s", *o)
		}
	}
	gw := deref(gatewayID)
	if gw == "" {
		return "", "", apierr.InvalidParam("InvalidParameterCombination", "No route target specified")
	}
	g, _, err := s.getIGW(ctx, gw)
	if err != nil {
		return "", "", err
	}
	if g.VPCID != rt.VPCID {
		return "", "", apierr.InvalidParam("InvalidParameterValue", "route table %s and network gateway %s belong to different networks", rt.ID, gw)
	}
	return p.String(), gw, nil
}

func (s *Service) mutateRouteTable(ctx context.Context, id string, fn func(*routeTableRecord) error) error {
	if err := checkID(id, "rtb", "InvalidRouteTableId.Malformed"); err != nil {
		return err
	}
	_, err := store.Mutate(ctx, s.st, scopedKey(ctx, kindRouteTable, id), fn)
	if errors.Is(err, store.ErrNotFound) {
		return rtNotFound(id)
	}
	return err
}

// AssociateRouteTable associates a subnet of the table's VPC with the table explicitly.
func (s *Service) AssociateRouteTable(ctx context.Context, in *api.AssociateRouteTableRequest) (*api.AssociateRouteTableResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	if in.GatewayId != nil {
		return nil, apierr.InvalidParam("InvalidParameterValue", "Overcast associates route tables with subnets only")
	}
	rtID := deref(in.RouteTableId)
	rt, _, err := s.getRouteTable(ctx, rtID)
	if err != nil {
		return nil, err
	}
	sn, err := s.getSubnet(ctx, deref(in.SubnetId))
	if err != nil {
		return nil, err
	}
	if sn.VPCID != rt.VPCID {
		return nil, apierr.InvalidParam("InvalidParameterValue", "Route table %s and subnet %s belong to different networks", rtID, sn.ID)
	}
	assoc := rtAssocRecord{ID: newID("rtbassoc"), SubnetID: sn.ID}
	err = s.inVPC(ctx, rt.VPCID, func(v *vpcRecord) ([]store.Op, error) {
		rts, recs, err := store.List[routeTableRecord](ctx, s.st, scopedPrefix(ctx, kindRouteTable))
		if err != nil {
			return nil, err
		}
		if _, ok := explicitTable(rts, sn.ID); ok {
			return nil, apierr.New(apierr.Conflict, "Resource.AlreadyAssociated",
				"the specified association for route table %s conflicts with an existing association", rtID)
		}
		for i, o := range rts {
			if o.ID == rtID {
				o.Associations = append(o.Associations, assoc)
				op, err := store.PutOp(recs[i].Key, o, recs[i].ModRevision)
				return []store.Op{op}, err
			}
		}
		return nil, rtNotFound(rtID)
	})
	if err != nil {
		return nil, err
	}
	return &api.AssociateRouteTableResult{
		AssociationId: str(assoc.ID), AssociationState: &api.RouteTableAssociationState{State: str("associated")},
	}, nil
}

// explicitTable finds the table a subnet is explicitly associated with.
func explicitTable(rts []routeTableRecord, subnetID string) (routeTableRecord, bool) {
	for _, rt := range rts {
		for _, a := range rt.Associations {
			if a.SubnetID == subnetID {
				return rt, true
			}
		}
	}
	return routeTableRecord{}, false
}

// DisassociateRouteTable removes a subnet's explicit association; the subnet falls back to the main table.
func (s *Service) DisassociateRouteTable(ctx context.Context, in *api.DisassociateRouteTableRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.AssociationId)
	if err := checkID(id, "rtbassoc", "InvalidAssociationID.Malformed"); err != nil {
		return nil, err
	}
	rts, _, err := store.List[routeTableRecord](ctx, s.st, scopedPrefix(ctx, kindRouteTable))
	if err != nil {
		return nil, err
	}
	for _, rt := range rts {
		if rt.MainAssocID == id {
			return nil, apierr.InvalidParam("InvalidParameterValue", "cannot disassociate the main route table association %s", id)
		}
		for _, a := range rt.Associations {
			if a.ID != id {
				continue
			}
			err := s.mutateRouteTable(ctx, rt.ID, func(rt *routeTableRecord) error {
				kept := rt.Associations[:0:0]
				for _, a := range rt.Associations {
					if a.ID != id {
						kept = append(kept, a)
					}
				}
				rt.Associations = kept
				return nil
			})
			if err != nil {
				return nil, err
			}
			return &wire.Empty{}, nil
		}
	}
	return nil, apierr.Missing("InvalidAssociationID.NotFound", "The association ID '%s' does not exist", id)
}

// subnetHasInternet reports whether the subnet's route table (its explicitly associated one, else its
// VPC's main one) routes 0.0.0.0/0 to an internet gateway attached to the VPC.
func (s *Service) subnetHasInternet(ctx context.Context, subnetID string) (bool, error) {
	sn, err := s.getSubnet(ctx, subnetID)
	if err != nil {
		return false, err
	}
	rts, _, err := store.List[routeTableRecord](ctx, s.st, scopedPrefix(ctx, kindRouteTable))
	if err != nil {
		return false, err
	}
	table, ok := explicitTable(rts, sn.ID)
	for i := 0; !ok && i < len(rts); i++ {
		table, ok = rts[i], rts[i].VPCID == sn.VPCID && rts[i].Main
	}
	if !ok {
		return false, nil
	}
	for _, r := range table.Routes {
		if r.Destination != "0.0.0.0/0" || !strings.HasPrefix(r.GatewayID, "igw-") {
			continue
		}
		state, err := s.routeState(ctx, table, r)
		if err != nil {
			return false, err
		}
		return state == "active", nil
	}
	return false, nil
}

func (s *Service) getRouteTable(ctx context.Context, id string) (routeTableRecord, store.Record, error) {
	return getResource[routeTableRecord](ctx, s, kindRouteTable, "rtb", "InvalidRouteTableId.Malformed", rtNotFound, id)
}

func rtNotFound(id string) error {
	return apierr.Missing("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
}

func routeNotFound(rtID, dest string) error {
	return apierr.Missing("InvalidRoute.NotFound", "no route with destination-cidr-block %s in route table %s", dest, rtID)
}
