package ec2

import (
	"context"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
)

// IAM instance profile associations. The association lives on the instance record; the metadata service
// reads it (and the profile's current role) on every request, so a change applies at once.

// resolveProfile finds the instance profile an IamInstanceProfile specification names, by ARN or name.
func (s *Service) resolveProfile(ctx context.Context, spec *api.IamInstanceProfileSpecification) (*profileAssociation, error) {
	arn, name := deref(spec.Arn), deref(spec.Name)
	invalid := func() error {
		if arn != "" {
			return apierr.InvalidParam("InvalidParameterValue",
				"Value (%s) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", arn)
		}
		return apierr.InvalidParam("InvalidParameterValue",
			"Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", name)
	}
	if arn != "" {
		n, ok := profileName(arn)
		if !ok || name != "" && n != name {
			return nil, invalid()
		}
		name = n
	}
	if name == "" {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter iamInstanceProfile")
	}
	if s.profiles == nil {
		return nil, invalid()
	}
	p, err := s.profiles.InstanceProfileByName(ctx, awsctx.From(ctx).Account, name)
	if apierr.Is(err, apierr.NotFound) || err == nil && arn != "" && p.ARN != arn {
		return nil, invalid()
	}
	if err != nil {
		return nil, err
	}
	return &profileAssociation{ARN: p.ARN, ID: p.ID, Name: p.Name}, nil
}

func (p *profileAssociation) api(instanceID string) *api.IamInstanceProfileAssociation {
	return &api.IamInstanceProfileAssociation{AssociationId: str(p.AssociationID), InstanceId: str(instanceID),
		State: str(p.State), Timestamp: timep(p.Timestamp), IamInstanceProfile: &api.IamInstanceProfile{Arn: str(p.ARN), Id: str(p.ID)}}
}

// AssociateIamInstanceProfile gives an instance without a profile one.
func (s *Service) AssociateIamInstanceProfile(ctx context.Context, in *api.AssociateIamInstanceProfileRequest) (*api.AssociateIamInstanceProfileResult, error) {
	id := deref(in.InstanceId)
	r, err := s.getInstance(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State != stateRunning && r.State != stateStopped && r.State != statePending {
		return nil, apierr.New(apierr.Conflict, "IncorrectInstanceState", "The instance '%s' is not in the 'running' or 'stopped' state.", id)
	}
	if in.IamInstanceProfile == nil {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter IamInstanceProfile")
	}
	p, err := s.resolveProfile(ctx, in.IamInstanceProfile)
	if err != nil {
		return nil, err
	}
	p.AssociationID, p.State, p.Timestamp = newID("iip-assoc"), "associated", s.clock()
	r, err = s.mutateInstance(ctx, s.keyOf(ctx, id), func(r *instanceRecord) error {
		if r.Profile != nil && r.Profile.State == "associated" {
			return apierr.New(apierr.Conflict, "IncorrectState", "There is an existing association for instance %s", id)
		}
		r.Profile = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &api.AssociateIamInstanceProfileResult{IamInstanceProfileAssociation: r.Profile.api(id)}, nil
}

// DisassociateIamInstanceProfile removes an instance's profile; its role credentials stop being served.
func (s *Service) DisassociateIamInstanceProfile(ctx context.Context, in *api.DisassociateIamInstanceProfileRequest) (*api.DisassociateIamInstanceProfileResult, error) {
	r, err := s.instanceByAssociation(ctx, deref(in.AssociationId))
	if err != nil {
		return nil, err
	}
	var gone profileAssociation
	_, err = s.mutateInstance(ctx, s.keyOf(ctx, r.ID), func(r *instanceRecord) error {
		if r.Profile == nil || r.Profile.AssociationID != deref(in.AssociationId) {
			return associationNotFound(deref(in.AssociationId))
		}
		gone = *r.Profile
		r.Profile = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	gone.State = "disassociating"
	return &api.DisassociateIamInstanceProfileResult{IamInstanceProfileAssociation: gone.api(r.ID)}, nil
}

// ReplaceIamInstanceProfileAssociation swaps an instance's profile under a new association id.
func (s *Service) ReplaceIamInstanceProfileAssociation(ctx context.Context, in *api.ReplaceIamInstanceProfileAssociationRequest) (*api.ReplaceIamInstanceProfileAssociationResult, error) {
	assoc := deref(in.AssociationId)
	r, err := s.instanceByAssociation(ctx, assoc)
	if err != nil {
		return nil, err
	}
	if in.IamInstanceProfile == nil {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter IamInstanceProfile")
	}
	p, err := s.resolveProfile(ctx, in.IamInstanceProfile)
	if err != nil {
		return nil, err
	}
	p.AssociationID, p.State, p.Timestamp = newID("iip-assoc"), "associating", s.clock()
	_, err = s.mutateInstance(ctx, s.keyOf(ctx, r.ID), func(r *instanceRecord) error {
		if r.Profile == nil || r.Profile.AssociationID != assoc {
			return associationNotFound(assoc)
		}
		cp := *p
		cp.State = "associated"
		r.Profile = &cp
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &api.ReplaceIamInstanceProfileAssociationResult{IamInstanceProfileAssociation: p.api(r.ID)}, nil
}

// DescribeIamInstanceProfileAssociations lists the associations of the account's instances.
func (s *Service) DescribeIamInstanceProfileAssociations(ctx context.Context, in *api.DescribeIamInstanceProfileAssociationsRequest) (*api.DescribeIamInstanceProfileAssociationsResult, error) {
	if len(in.AssociationIds) > 0 && in.MaxResults != nil {
		return nil, apierr.InvalidParam("InvalidParameterCombination", "The parameter AssociationIds cannot be used with the parameter maxResults")
	}
	recs, err := s.listInstances(ctx)
	if err != nil {
		return nil, err
	}
	want := set(in.AssociationIds)
	found := map[string]bool{}
	var out []api.IamInstanceProfileAssociation
	for i := range recs {
		p := recs[i].Profile
		if p == nil || recs[i].State == stateTerminated || len(want) > 0 && !want[p.AssociationID] {
			continue
		}
		found[p.AssociationID] = true
		ok, err := filterSet(in.Filters).match(map[string][]string{"instance-id": {recs[i].ID}, "state": {p.State}})
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, *p.api(recs[i].ID))
		}
	}
	for _, id := range in.AssociationIds {
		if !found[id] {
			return nil, associationNotFound(id)
		}
	}
	page, next, err := paginate(out, func(a api.IamInstanceProfileAssociation) string { return *a.AssociationId }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &api.DescribeIamInstanceProfileAssociationsResult{IamInstanceProfileAssociations: page, NextToken: next}, nil
}

func (s *Service) instanceByAssociation(ctx context.Context, assoc string) (instanceRecord, error) {
	if assoc == "" {
		return instanceRecord{}, apierr.InvalidParam("MissingParameter", "The request must contain the parameter AssociationId")
	}
	recs, err := s.listInstances(ctx)
	if err != nil {
		return instanceRecord{}, err
	}
	for _, r := range recs {
		if r.Profile != nil && r.Profile.AssociationID == assoc && r.State != stateTerminated {
			return r, nil
		}
	}
	return instanceRecord{}, associationNotFound(assoc)
}

func associationNotFound(id string) error {
	return apierr.Missing("InvalidAssociationID.NotFound", "An association with ID %s does not exist.", id)
}
