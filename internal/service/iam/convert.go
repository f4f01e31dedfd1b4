package iam

import (
	iamapi "github.com/overcast-cloud/overcast/api/iam"
	ident "github.com/overcast-cloud/overcast/internal/iam"
)

// The shapes of responses. List operations leave out tags (and a role's last use), as AWS's do.

func apiUser(u *ident.User, full bool) iamapi.User {
	out := iamapi.User{
		Arn: str(u.ARN), CreateDate: timep(u.Created), Path: str(u.Path), UserId: str(u.ID), UserName: str(u.Name),
		PasswordLastUsed: timep(u.PasswordLastUsed),
	}
	if u.PermissionsBoundary != "" {
		out.PermissionsBoundary = boundary(u.PermissionsBoundary)
	}
	if full {
		out.Tags = apiTags(u.Tags)
	}
	return out
}

func boundary(arn string) *iamapi.AttachedPermissionsBoundary {
	return &iamapi.AttachedPermissionsBoundary{PermissionsBoundaryArn: str(arn), PermissionsBoundaryType: str("PermissionsBoundaryPolicy")}
}

func apiGroup(g *ident.Group) iamapi.Group {
	return iamapi.Group{Arn: str(g.ARN), CreateDate: timep(g.Created), GroupId: str(g.ID), GroupName: str(g.Name), Path: str(g.Path)}
}

func apiRole(r *ident.Role, full bool) iamapi.Role {
	out := iamapi.Role{
		Arn: str(r.ARN), AssumeRolePolicyDocument: encodeDocument(r.TrustPolicy), CreateDate: timep(r.Created),
		MaxSessionDuration: int32p(r.MaxSessionDuration), Path: str(r.Path), RoleId: str(r.ID), RoleName: str(r.Name),
	}
	if r.Description != "" {
		out.Description = str(r.Description)
	}
	if full {
		out.Tags = apiTags(r.Tags)
		out.RoleLastUsed = &iamapi.RoleLastUsed{}
		if r.PermissionsBoundary != "" {
			out.PermissionsBoundary = boundary(r.PermissionsBoundary)
		}
	}
	return out
}

func apiInstanceProfile(ip *ident.InstanceProfile, roles []ident.Role, full bool) iamapi.InstanceProfile {
	out := iamapi.InstanceProfile{
		Arn: str(ip.ARN), CreateDate: timep(ip.Created), InstanceProfileId: str(ip.ID),
		InstanceProfileName: str(ip.Name), Path: str(ip.Path), Roles: []iamapi.Role{},
	}
	for i := range roles {
		out.Roles = append(out.Roles, apiRole(&roles[i], false))
	}
	if full {
		out.Tags = apiTags(ip.Tags)
	}
	return out
}

func apiPolicy(p *ident.ManagedPolicy, attachments int, full bool) iamapi.Policy {
	out := iamapi.Policy{
		Arn: str(p.ARN), AttachmentCount: int32p(int32(attachments)), CreateDate: timep(p.Created),
		DefaultVersionId: str(p.DefaultVersion), IsAttachable: boolp(true), Path: str(p.Path),
		PermissionsBoundaryUsageCount: int32p(0), PolicyId: str(p.ID), PolicyName: str(p.Name),
		UpdateDate: timep(p.Updated),
	}
	if full {
		if p.Description != "" {
			out.Description = str(p.Description)
		}
		out.Tags = apiTags(p.Tags)
	}
	return out
}

func apiVersion(p *ident.ManagedPolicy, v *ident.PolicyVersion, withDocument bool) iamapi.PolicyVersion {
	out := iamapi.PolicyVersion{CreateDate: timep(v.Created), IsDefaultVersion: boolp(v.ID == p.DefaultVersion), VersionId: str(v.ID)}
	if withDocument {
		out.Document = encodeDocument(v.Document)
	}
	return out
}
