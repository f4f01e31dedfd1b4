package ec2

import (
	"context"
	"errors"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// internetGatewayRecord is an internet gateway; VPCID is the VPC it is attached to, if any.
type internetGatewayRecord struct {
	ID    string `json:"id"`
	VPCID string `json:"vpcId,omitempty"`
	Tags  []Tag  `json:"tags,omitempty"`
}

// CreateInternetGateway makes a detached internet gateway.
func (s *Service) CreateInternetGateway(ctx context.Context, in *api.CreateInternetGatewayRequest) (*api.CreateInternetGatewayResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	g := internetGatewayRecord{ID: newID("igw"), Tags: tagsFromSpecs(in.TagSpecifications, "internet-gateway")}
	if _, err := store.Create(ctx, s.st, scopedKey(ctx, kindInternetGateway, g.ID), g); err != nil {
		return nil, err
	}
	return &api.CreateInternetGatewayResult{InternetGateway: igwOut(ctx, g)}, nil
}

func igwOut(ctx context.Context, g internetGatewayRecord) *api.InternetGateway {
	out := &api.InternetGateway{InternetGatewayId: str(g.ID), OwnerId: str(awsctx.From(ctx).Account),
		Attachments: []api.InternetGatewayAttachment{}, Tags: apiTags(g.Tags)}
	if g.VPCID != "" {
		// EC2 reports an attached gateway's state as "available".
		out.Attachments = []api.InternetGatewayAttachment{{VpcId: str(g.VPCID), State: str("available")}}
	}
	return out
}

// DescribeInternetGateways lists the region's internet gateways.
func (s *Service) DescribeInternetGateways(ctx context.Context, in *api.DescribeInternetGatewaysRequest) (*api.DescribeInternetGatewaysResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	acct := awsctx.From(ctx).Account
	page, next, err := describeNetwork(ctx, s, networkKind[internetGatewayRecord, api.InternetGateway]{
		kind:  kindInternetGateway,
		named: namedIDs[internetGatewayRecord]{in.InternetGatewayIds, func(g internetGatewayRecord) string { return g.ID }, igwNotFound},
		out:   func(g internetGatewayRecord) (api.InternetGateway, error) { return *igwOut(ctx, g), nil },
		fields: func(g internetGatewayRecord, _ api.InternetGateway) map[string][]string {
			var state, vpc []string
			if g.VPCID != "" {
				state, vpc = []string{"available"}, []string{g.VPCID}
			}
			return map[string][]string{
				"attachment.state": state, "attachment.vpc-id": vpc, "internet-gateway-id": {g.ID}, "owner-id": {acct},
			}
		},
		tags: func(g internetGatewayRecord) []Tag { return g.Tags },
	}, describeQuery{in.Filters, in.MaxResults, in.NextToken})
	if err != nil {
		return nil, err
	}
	return &api.DescribeInternetGatewaysResult{InternetGateways: page, NextToken: next}, nil
}

// DeleteInternetGateway deletes a detached gateway.
func (s *Service) DeleteInternetGateway(ctx context.Context, in *api.DeleteInternetGatewayRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.InternetGatewayId)
	g, rec, err := s.getIGW(ctx, id)
	if err != nil {
		return nil, err
	}
	if g.VPCID != "" {
		return nil, apierr.New(apierr.Conflict, "DependencyViolation", "The internetGateway '%s' has dependencies and cannot be deleted.", id)
	}
	if _, err := store.Delete(ctx, s.st, rec.Key, rec.ModRevision); errors.Is(err, store.ErrConflict) {
		return nil, apierr.New(apierr.Conflict, "DependencyViolation", "The internetGateway '%s' has dependencies and cannot be deleted.", id)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// AttachInternetGateway attaches a gateway to a VPC; each has at most one of the other.
func (s *Service) AttachInternetGateway(ctx context.Context, in *api.AttachInternetGatewayRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	id, vpcID := deref(in.InternetGatewayId), deref(in.VpcId)
	err := s.inVPC(ctx, vpcID, func(v *vpcRecord) ([]store.Op, error) {
		g, rec, err := s.getIGW(ctx, id)
		if err != nil {
			return nil, err
		}
		if g.VPCID != "" {
			return nil, apierr.New(apierr.Conflict, "Resource.AlreadyAssociated", "resource %s is already attached to network %s", id, g.VPCID)
		}
		igws, _, err := store.List[internetGatewayRecord](ctx, s.st, scopedPrefix(ctx, kindInternetGateway))
		if err != nil {
			return nil, err
		}
		for _, o := range igws {
			if o.VPCID == v.ID {
				return nil, apierr.New(apierr.Conflict, "Resource.AlreadyAssociated",
					"Network %s already has an internet gateway attached", v.ID)
			}
		}
		g.VPCID = v.ID
		op, err := store.PutOp(rec.Key, g, rec.ModRevision)
		return []store.Op{op}, err
	})
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// DetachInternetGateway detaches a gateway from its VPC. Routes through it turn to blackholes.
func (s *Service) DetachInternetGateway(ctx context.Context, in *api.DetachInternetGatewayRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id, vpcID := deref(in.InternetGatewayId), deref(in.VpcId)
	err := s.inVPC(ctx, vpcID, func(v *vpcRecord) ([]store.Op, error) {
		g, rec, err := s.getIGW(ctx, id)
		if err != nil {
			return nil, err
		}
		if g.VPCID != v.ID {
			return nil, apierr.New(apierr.Conflict, "Gateway.NotAttached", "resource %s is not attached to network %s", id, v.ID)
		}
		g.VPCID = ""
		op, err := store.PutOp(rec.Key, g, rec.ModRevision)
		return []store.Op{op}, err
	})
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

func (s *Service) getIGW(ctx context.Context, id string) (internetGatewayRecord, store.Record, error) {
	return getResource[internetGatewayRecord](ctx, s, kindInternetGateway, "igw", "InvalidInternetGatewayID.Malformed", igwNotFound, id)
}

func igwNotFound(id string) error {
	return apierr.Missing("InvalidInternetGatewayID.NotFound", "The internetGateway ID '%s' does not exist", id)
}
