package iam

import (
	"context"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	"github.com/overcast-cloud/overcast/api/wire"
)

// The attach, detach and inline policy operations of users, groups and roles; holders.go does the work.

func (s *Service) AttachUserPolicy(ctx context.Context, in *iamapi.AttachUserPolicyRequest) (*wire.Empty, error) {
	return empty(userEntity.attachPolicy(ctx, s, in.UserName, in.PolicyArn))
}

func (s *Service) DetachUserPolicy(ctx context.Context, in *iamapi.DetachUserPolicyRequest) (*wire.Empty, error) {
	return empty(userEntity.detachPolicy(ctx, s, in.UserName, in.PolicyArn))
}

func (s *Service) ListAttachedUserPolicies(ctx context.Context, in *iamapi.ListAttachedUserPoliciesRequest) (*iamapi.ListAttachedUserPoliciesResponse, error) {
	ps, trunc, next, err := userEntity.listAttached(ctx, s, in.UserName, in.PathPrefix, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListAttachedUserPoliciesResponse{AttachedPolicies: ps, IsTruncated: trunc, Marker: next}, nil
}

func (s *Service) PutUserPolicy(ctx context.Context, in *iamapi.PutUserPolicyRequest) (*wire.Empty, error) {
	return empty(userEntity.putInline(ctx, s, in.UserName, in.PolicyName, in.PolicyDocument))
}

func (s *Service) GetUserPolicy(ctx context.Context, in *iamapi.GetUserPolicyRequest) (*iamapi.GetUserPolicyResponse, error) {
	entity, name, doc, err := userEntity.getInline(ctx, s, in.UserName, in.PolicyName)
	if err != nil {
		return nil, err
	}
	return &iamapi.GetUserPolicyResponse{UserName: str(entity), PolicyName: str(name), PolicyDocument: doc}, nil
}

func (s *Service) ListUserPolicies(ctx context.Context, in *iamapi.ListUserPoliciesRequest) (*iamapi.ListUserPoliciesResponse, error) {
	names, trunc, next, err := userEntity.listInline(ctx, s, in.UserName, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListUserPoliciesResponse{PolicyNames: names, IsTruncated: trunc, Marker: next}, nil
}

func (s *Service) DeleteUserPolicy(ctx context.Context, in *iamapi.DeleteUserPolicyRequest) (*wire.Empty, error) {
	return empty(userEntity.deleteInline(ctx, s, in.UserName, in.PolicyName))
}

func (s *Service) AttachGroupPolicy(ctx context.Context, in *iamapi.AttachGroupPolicyRequest) (*wire.Empty, error) {
	return empty(groupEntity.attachPolicy(ctx, s, in.GroupName, in.PolicyArn))
}

func (s *Service) DetachGroupPolicy(ctx context.Context, in *iamapi.DetachGroupPolicyRequest) (*wire.Empty, error) {
	return empty(groupEntity.detachPolicy(ctx, s, in.GroupName, in.PolicyArn))
}

func (s *Service) ListAttachedGroupPolicies(ctx context.Context, in *iamapi.ListAttachedGroupPoliciesRequest) (*iamapi.ListAttachedGroupPoliciesResponse, error) {
	ps, trunc, next, err := groupEntity.listAttached(ctx, s, in.GroupName, in.PathPrefix, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListAttachedGroupPoliciesResponse{AttachedPolicies: ps, IsTruncated: trunc, Marker: next}, nil
}

func (s *Service) PutGroupPolicy(ctx context.Context, in *iamapi.PutGroupPolicyRequest) (*wire.Empty, error) {
	return empty(groupEntity.putInline(ctx, s, in.GroupName, in.PolicyName, in.PolicyDocument))
}

func (s *Service) GetGroupPolicy(ctx context.Context, in *iamapi.GetGroupPolicyRequest) (*iamapi.GetGroupPolicyResponse, error) {
	entity, name, doc, err := groupEntity.getInline(ctx, s, in.GroupName, in.PolicyName)
	if err != nil {
		return nil, err
	}
	return &iamapi.GetGroupPolicyResponse{GroupName: str(entity), PolicyName: str(name), PolicyDocument: doc}, nil
}

func (s *Service) ListGroupPolicies(ctx context.Context, in *iamapi.ListGroupPoliciesRequest) (*iamapi.ListGroupPoliciesResponse, error) {
	names, trunc, next, err := groupEntity.listInline(ctx, s, in.GroupName, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListGroupPoliciesResponse{PolicyNames: names, IsTruncated: trunc, Marker: next}, nil
}

func (s *Service) DeleteGroupPolicy(ctx context.Context, in *iamapi.DeleteGroupPolicyRequest) (*wire.Empty, error) {
	return empty(groupEntity.deleteInline(ctx, s, in.GroupName, in.PolicyName))
}

func (s *Service) AttachRolePolicy(ctx context.Context, in *iamapi.AttachRolePolicyRequest) (*wire.Empty, error) {
	return empty(roleEntity.attachPolicy(ctx, s, in.RoleName, in.PolicyArn))
}

func (s *Service) DetachRolePolicy(ctx context.Context, in *iamapi.DetachRolePolicyRequest) (*wire.Empty, error) {
	return empty(roleEntity.detachPolicy(ctx, s, in.RoleName, in.PolicyArn))
}

func (s *Service) ListAttachedRolePolicies(ctx context.Context, in *iamapi.ListAttachedRolePoliciesRequest) (*iamapi.ListAttachedRolePoliciesResponse, error) {
	ps, trunc, next, err := roleEntity.listAttached(ctx, s, in.RoleName, in.PathPrefix, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListAttachedRolePoliciesResponse{AttachedPolicies: ps, IsTruncated: trunc, Marker: next}, nil
}

func (s *Service) PutRolePolicy(ctx context.Context, in *iamapi.PutRolePolicyRequest) (*wire.Empty, error) {
	return empty(roleEntity.putInline(ctx, s, in.RoleName, in.PolicyName, in.PolicyDocument))
}

func (s *Service) GetRolePolicy(ctx context.Context, in *iamapi.GetRolePolicyRequest) (*iamapi.GetRolePolicyResponse, error) {
	entity, name, doc, err := roleEntity.getInline(ctx, s, in.RoleName, in.PolicyName)
	if err != nil {
		return nil, err
	}
	return &iamapi.GetRolePolicyResponse{RoleName: str(entity), PolicyName: str(name), PolicyDocument: doc}, nil
}

func (s *Service) ListRolePolicies(ctx context.Context, in *iamapi.ListRolePoliciesRequest) (*iamapi.ListRolePoliciesResponse, error) {
	names, trunc, next, err := roleEntity.listInline(ctx, s, in.RoleName, in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iamapi.ListRolePoliciesResponse{PolicyNames: names, IsTruncated: trunc, Marker: next}, nil
}

func (s *Service) DeleteRolePolicy(ctx context.Context, in *iamapi.DeleteRolePolicyRequest) (*wire.Empty, error) {
	return empty(roleEntity.deleteInline(ctx, s, in.RoleName, in.PolicyName))
}
