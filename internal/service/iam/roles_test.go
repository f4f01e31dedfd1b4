package iam

import (
	"strings"
	"testing"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
)

func TestRoles(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	r := must(f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{
		RoleName: p("app"), Path: p("/svc/"), AssumeRolePolicyDocument: p(trustEC2), Description: p("the app"),
		Tags: []iamapi.Tag{{Key: p("env"), Value: p("dev")}},
	})).Role
	if *r.Arn != "arn:aws:iam::000000000000:role/svc/app" || (*r.RoleId)[:4] != "AROA" || *r.MaxSessionDuration != 3600 {
		t.Fatalf("CreateRole = %+v", r)
	}
	// Documents come back URL-encoded, as IAM's do.
	if strings.Contains(*r.AssumeRolePolicyDocument, "{") || decoded(t, r.AssumeRolePolicyDocument) != trustEC2 {
		t.Fatalf("AssumeRolePolicyDocument = %s", *r.AssumeRolePolicyDocument)
	}
	_, err := f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{RoleName: p("app"), AssumeRolePolicyDocument: p(trustEC2)})
	wantCode(t, err, "EntityAlreadyExists", "Role with name app already exists.")
	_, err = f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{RoleName: p("bad"), AssumeRolePolicyDocument: p(allowS3)})
	wantCode(t, err, "MalformedPolicyDocument")
	_, err = f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{RoleName: p("bad"), AssumeRolePolicyDocument: p("{not json")})
	wantCode(t, err, "MalformedPolicyDocument")
	_, err = f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{RoleName: p("bad"), AssumeRolePolicyDocument: p(trustEC2), MaxSessionDuration: i32(60)})
	wantCode(t, err, "ValidationError", "1 validation error detected: Value '60' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600")
	_, err = f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{RoleName: p("bad")})
	wantCode(t, err, "ValidationError", "1 validation error detected: Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null")

	must(f.svc.UpdateRole(ctx, &iamapi.UpdateRoleRequest{RoleName: p("app"), MaxSessionDuration: i32(7200)}))
	trustLambda := strings.Replace(trustEC2, "ec2", "lambda", 1)
	must(f.svc.UpdateAssumeRolePolicy(ctx, &iamapi.UpdateAssumeRolePolicyRequest{RoleName: p("app"), PolicyDocument: p(trustLambda)}))
	role, err := f.dir.Role(ctx, acct, "app")
	if err != nil || role.MaxSessionDuration != 7200 || role.TrustPolicy != trustLambda {
		t.Fatalf("directory role = %+v, %v", role, err)
	}
	got := must(f.svc.GetRole(ctx, &iamapi.GetRoleRequest{RoleName: p("app")})).Role
	if *got.Description != "the app" || len(got.Tags) != 1 || got.RoleLastUsed == nil {
		t.Fatalf("GetRole = %+v", got)
	}
	_, err = f.svc.GetRole(ctx, &iamapi.GetRoleRequest{RoleName: p("nope")})
	wantCode(t, err, "NoSuchEntity", "The role with name nope cannot be found.")
	list := must(f.svc.ListRoles(ctx, &iamapi.ListRolesRequest{PathPrefix: p("/svc/")}))
	if len(list.Roles) != 1 {
		t.Fatalf("ListRoles = %+v", list)
	}
	must(f.svc.UntagRole(ctx, &iamapi.UntagRoleRequest{RoleName: p("app"), TagKeys: []string{"env"}}))
	must(f.svc.TagRole(ctx, &iamapi.TagRoleRequest{RoleName: p("app"), Tags: []iamapi.Tag{{Key: p("team"), Value: p("x")}}}))
	tags := must(f.svc.ListRoleTags(ctx, &iamapi.ListRoleTagsRequest{RoleName: p("app")}))
	if len(tags.Tags) != 1 || *tags.Tags[0].Key != "team" {
		t.Fatalf("ListRoleTags = %+v", tags)
	}
}

func TestInstanceProfiles(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	must(f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{RoleName: p("web"), AssumeRolePolicyDocument: p(trustEC2)}))
	must(f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{RoleName: p("other"), AssumeRolePolicyDocument: p(trustEC2)}))
	ip := must(f.svc.CreateInstanceProfile(ctx, &iamapi.CreateInstanceProfileRequest{InstanceProfileName: p("web")})).InstanceProfile
	if *ip.Arn != "arn:aws:iam::000000000000:instance-profile/web" || (*ip.InstanceProfileId)[:4] != "AIPA" || ip.Roles == nil {
		t.Fatalf("CreateInstanceProfile = %+v", ip)
	}
	_, err := f.svc.CreateInstanceProfile(ctx, &iamapi.CreateInstanceProfileRequest{InstanceProfileName: p("web")})
	wantCode(t, err, "EntityAlreadyExists")
	must(f.svc.AddRoleToInstanceProfile(ctx, &iamapi.AddRoleToInstanceProfileRequest{InstanceProfileName: p("web"), RoleName: p("web")}))
	_, err = f.svc.AddRoleToInstanceProfile(ctx, &iamapi.AddRoleToInstanceProfileRequest{InstanceProfileName: p("web"), RoleName: p("other")})
	wantCode(t, err, "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
	_, err = f.svc.AddRoleToInstanceProfile(ctx, &iamapi.AddRoleToInstanceProfileRequest{InstanceProfileName: p("web"), RoleName: p("ghost")})
	wantCode(t, err, "NoSuchEntity")

	got := must(f.svc.GetInstanceProfile(ctx, &iamapi.GetInstanceProfileRequest{InstanceProfileName: p("web")})).InstanceProfile
	if len(got.Roles) != 1 || *got.Roles[0].RoleName != "web" || decoded(t, got.Roles[0].AssumeRolePolicyDocument) != trustEC2 {
		t.Fatalf("GetInstanceProfile = %+v", got)
	}
	forRole := must(f.svc.ListInstanceProfilesForRole(ctx, &iamapi.ListInstanceProfilesForRoleRequest{RoleName: p("web")}))
	if len(forRole.InstanceProfiles) != 1 {
		t.Fatalf("ListInstanceProfilesForRole = %+v", forRole)
	}
	_, err = f.svc.DeleteRole(ctx, &iamapi.DeleteRoleRequest{RoleName: p("web")})
	wantCode(t, err, "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
	_, err = f.svc.DeleteInstanceProfile(ctx, &iamapi.DeleteInstanceProfileRequest{InstanceProfileName: p("web")})
	wantCode(t, err, "DeleteConflict")

	must(f.svc.RemoveRoleFromInstanceProfile(ctx, &iamapi.RemoveRoleFromInstanceProfileRequest{InstanceProfileName: p("web"), RoleName: p("web")}))
	must(f.svc.DeleteInstanceProfile(ctx, &iamapi.DeleteInstanceProfileRequest{InstanceProfileName: p("web")}))
	_, err = f.svc.GetInstanceProfile(ctx, &iamapi.GetInstanceProfileRequest{InstanceProfileName: p("web")})
	wantCode(t, err, "NoSuchEntity", "Instance Profile web cannot be found.")
	must(f.svc.AttachRolePolicy(ctx, &iamapi.AttachRolePolicyRequest{RoleName: p("web"), PolicyArn: p("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")}))
	_, err = f.svc.DeleteRole(ctx, &iamapi.DeleteRoleRequest{RoleName: p("web")})
	wantCode(t, err, "DeleteConflict", "Cannot delete entity, must detach all policies first.")
	must(f.svc.DetachRolePolicy(ctx, &iamapi.DetachRolePolicyRequest{RoleName: p("web"), PolicyArn: p("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")}))
	must(f.svc.DeleteRole(ctx, &iamapi.DeleteRoleRequest{RoleName: p("web")}))
}
