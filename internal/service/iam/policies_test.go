package iam

import (
	"fmt"
	"strings"
	"testing"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
)

func allow(action string) *string {
	return p(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"*"}]}`)
}

func TestManagedPolicyVersions(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	pol := must(f.svc.CreatePolicy(ctx, &iamapi.CreatePolicyRequest{PolicyName: p("s3-read"), Path: p("/team/"), PolicyDocument: allow("s3:GetObject"), Description: p("d")})).Policy
	arn := *pol.Arn
	if arn != "arn:aws:iam::000000000000:policy/team/s3-read" || *pol.DefaultVersionId != "v1" || *pol.AttachmentCount != 0 || (*pol.PolicyId)[:4] != "ANPA" {
		t.Fatalf("CreatePolicy = %+v", pol)
	}
	_, err := f.svc.CreatePolicy(ctx, &iamapi.CreatePolicyRequest{PolicyName: p("s3-read"), PolicyDocument: allow("s3:GetObject")})
	wantCode(t, err, "EntityAlreadyExists", "A policy called s3-read already exists. Duplicate names are not allowed.")
	_, err = f.svc.CreatePolicy(ctx, &iamapi.CreatePolicyRequest{PolicyName: p("bad"), PolicyDocument: p(trustEC2)})
	wantCode(t, err, "MalformedPolicyDocument")

	for i := 2; i <= 5; i++ {
		v := must(f.svc.CreatePolicyVersion(ctx, &iamapi.CreatePolicyVersionRequest{PolicyArn: &arn, PolicyDocument: allow(fmt.Sprintf("s3:Get%d", i)), SetAsDefault: p2b(i == 3)})).PolicyVersion
		if *v.VersionId != fmt.Sprintf("v%d", i) || *v.IsDefaultVersion != (i == 3) {
			t.Fatalf("CreatePolicyVersion %d = %+v", i, v)
		}
	}
	_, err = f.svc.CreatePolicyVersion(ctx, &iamapi.CreatePolicyVersionRequest{PolicyArn: &arn, PolicyDocument: allow("s3:Get6")})
	wantCode(t, err, "LimitExceeded")
	versions := must(f.svc.ListPolicyVersions(ctx, &iamapi.ListPolicyVersionsRequest{PolicyArn: &arn})).Versions
	if len(versions) != 5 || *versions[0].VersionId != "v5" || *versions[2].VersionId != "v3" || !*versions[2].IsDefaultVersion || versions[0].Document != nil {
		t.Fatalf("ListPolicyVersions = %+v", versions)
	}
	_, err = f.svc.DeletePolicyVersion(ctx, &iamapi.DeletePolicyVersionRequest{PolicyArn: &arn, VersionId: p("v3")})
	wantCode(t, err, "DeleteConflict", "Cannot delete the default version of a policy.")
	must(f.svc.SetDefaultPolicyVersion(ctx, &iamapi.SetDefaultPolicyVersionRequest{PolicyArn: &arn, VersionId: p("v5")}))
	_, err = f.svc.SetDefaultPolicyVersion(ctx, &iamapi.SetDefaultPolicyVersionRequest{PolicyArn: &arn, VersionId: p("v9")})
	wantCode(t, err, "NoSuchEntity")
	v := must(f.svc.GetPolicyVersion(ctx, &iamapi.GetPolicyVersionRequest{PolicyArn: &arn, VersionId: p("v5")})).PolicyVersion
	if decoded(t, v.Document) != *allow("s3:Get5") || !*v.IsDefaultVersion {
		t.Fatalf("GetPolicyVersion = %+v", v)
	}

	// Deleting needs the other versions gone and no attachments.
	_, err = f.svc.DeletePolicy(ctx, &iamapi.DeletePolicyRequest{PolicyArn: &arn})
	wantCode(t, err, "DeleteConflict")
	for _, id := range []string{"v1", "v2", "v3", "v4"} {
		must(f.svc.DeletePolicyVersion(ctx, &iamapi.DeletePolicyVersionRequest{PolicyArn: &arn, VersionId: p(id)}))
	}
	// A new version after deletions does not reuse an id.
	v = must(f.svc.CreatePolicyVersion(ctx, &iamapi.CreatePolicyVersionRequest{PolicyArn: &arn, PolicyDocument: allow("s3:Get6")})).PolicyVersion
	if *v.VersionId != "v6" {
		t.Fatalf("version after deletions = %s", *v.VersionId)
	}
	must(f.svc.DeletePolicyVersion(ctx, &iamapi.DeletePolicyVersionRequest{PolicyArn: &arn, VersionId: p("v6")}))
	must(f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{RoleName: p("r"), AssumeRolePolicyDocument: p(trustEC2)}))
	must(f.svc.AttachRolePolicy(ctx, &iamapi.AttachRolePolicyRequest{RoleName: p("r"), PolicyArn: &arn}))
	_, err = f.svc.DeletePolicy(ctx, &iamapi.DeletePolicyRequest{PolicyArn: &arn})
	wantCode(t, err, "DeleteConflict", "Cannot delete a policy attached to entities.")
	must(f.svc.DetachRolePolicy(ctx, &iamapi.DetachRolePolicyRequest{RoleName: p("r"), PolicyArn: &arn}))
	must(f.svc.DeletePolicy(ctx, &iamapi.DeletePolicyRequest{PolicyArn: &arn}))
	_, err = f.svc.GetPolicy(ctx, &iamapi.GetPolicyRequest{PolicyArn: &arn})
	wantCode(t, err, "NoSuchEntity", "Policy arn:aws:iam::000000000000:policy/team/s3-read was not found.")
}

func p2b(b bool) *bool { return &b }

func TestAttachmentsAndListPolicies(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	arn := *must(f.svc.CreatePolicy(ctx, &iamapi.CreatePolicyRequest{PolicyName: p("mine"), PolicyDocument: allow("ec2:*")})).Policy.Arn
	must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("u")}))
	must(f.svc.CreateGroup(ctx, &iamapi.CreateGroupRequest{GroupName: p("g")}))
	must(f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{RoleName: p("r"), AssumeRolePolicyDocument: p(trustEC2)}))
	must(f.svc.AttachUserPolicy(ctx, &iamapi.AttachUserPolicyRequest{UserName: p("u"), PolicyArn: &arn}))
	must(f.svc.AttachGroupPolicy(ctx, &iamapi.AttachGroupPolicyRequest{GroupName: p("g"), PolicyArn: &arn}))
	must(f.svc.AttachRolePolicy(ctx, &iamapi.AttachRolePolicyRequest{RoleName: p("r"), PolicyArn: &arn}))
	must(f.svc.AttachRolePolicy(ctx, &iamapi.AttachRolePolicyRequest{RoleName: p("r"), PolicyArn: p("arn:aws:iam::aws:policy/AdministratorAccess")}))
	_, err := f.svc.AttachUserPolicy(ctx, &iamapi.AttachUserPolicyRequest{UserName: p("u"), PolicyArn: p("arn:aws:iam::aws:policy/NoSuchThing")})
	wantCode(t, err, "NoSuchEntity", "Policy arn:aws:iam::aws:policy/NoSuchThing does not exist or is not attachable.")
	_, err = f.svc.AttachUserPolicy(ctx, &iamapi.AttachUserPolicyRequest{UserName: p("u"), PolicyArn: p("not-an-arn-at-all-really")})
	wantCode(t, err, "InvalidInput")
	_, err = f.svc.DetachUserPolicy(ctx, &iamapi.DetachUserPolicyRequest{UserName: p("u"), PolicyArn: p("arn:aws:iam::aws:policy/AdministratorAccess")})
	wantCode(t, err, "NoSuchEntity")

	if got := *must(f.svc.GetPolicy(ctx, &iamapi.GetPolicyRequest{PolicyArn: &arn})).Policy.AttachmentCount; got != 3 {
		t.Fatalf("AttachmentCount = %d", got)
	}
	attached := must(f.svc.ListAttachedRolePolicies(ctx, &iamapi.ListAttachedRolePoliciesRequest{RoleName: p("r")})).AttachedPolicies
	if len(attached) != 2 || *attached[0].PolicyName != "AdministratorAccess" || *attached[1].PolicyArn != arn {
		t.Fatalf("ListAttachedRolePolicies = %+v", attached)
	}
	ents := must(f.svc.ListEntitiesForPolicy(ctx, &iamapi.ListEntitiesForPolicyRequest{PolicyArn: &arn}))
	if len(ents.PolicyUsers) != 1 || len(ents.PolicyGroups) != 1 || len(ents.PolicyRoles) != 1 || *ents.PolicyRoles[0].RoleName != "r" {
		t.Fatalf("ListEntitiesForPolicy = %+v", ents)
	}
	ents = must(f.svc.ListEntitiesForPolicy(ctx, &iamapi.ListEntitiesForPolicyRequest{PolicyArn: &arn, EntityFilter: p("User")}))
	if len(ents.PolicyUsers) != 1 || len(ents.PolicyRoles) != 0 {
		t.Fatalf("ListEntitiesForPolicy User = %+v", ents)
	}

	local := must(f.svc.ListPolicies(ctx, &iamapi.ListPoliciesRequest{Scope: p("Local")})).Policies
	if len(local) != 1 || *local[0].PolicyName != "mine" || *local[0].AttachmentCount != 3 {
		t.Fatalf("ListPolicies Local = %+v", local)
	}
	aws := must(f.svc.ListPolicies(ctx, &iamapi.ListPoliciesRequest{Scope: p("AWS"), MaxItems: i32(1000)})).Policies
	if len(aws) != 18 {
		t.Fatalf("ListPolicies AWS has %d", len(aws))
	}
	onlyAttached := must(f.svc.ListPolicies(ctx, &iamapi.ListPoliciesRequest{OnlyAttached: p2b(true)})).Policies
	if len(onlyAttached) != 2 {
		t.Fatalf("ListPolicies OnlyAttached = %+v", onlyAttached)
	}
	serviceRole := must(f.svc.ListPolicies(ctx, &iamapi.ListPoliciesRequest{PathPrefix: p("/service-role/")})).Policies
	if len(serviceRole) != 2 {
		t.Fatalf("ListPolicies /service-role/ = %d", len(serviceRole))
	}
	admin := must(f.svc.GetPolicyVersion(ctx, &iamapi.GetPolicyVersionRequest{PolicyArn: p("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"), VersionId: p("v1")})).PolicyVersion
	if !strings.Contains(decoded(t, admin.Document), `"s3:Get*"`) {
		t.Fatalf("AmazonS3ReadOnlyAccess document = %s", decoded(t, admin.Document))
	}
	_, err = f.svc.DeletePolicy(ctx, &iamapi.DeletePolicyRequest{PolicyArn: p("arn:aws:iam::aws:policy/AdministratorAccess")})
	wantCode(t, err, "InvalidInput")
	_, err = f.svc.ListPolicies(ctx, &iamapi.ListPoliciesRequest{Scope: p("Mine")})
	wantCode(t, err, "ValidationError")

	// Attached policies show in what the gateway evaluates.
	key := must(f.svc.CreateAccessKey(ctx, &iamapi.CreateAccessKeyRequest{UserName: p("u")})).AccessKey
	c, _ := f.dir.Credentials(ctx, *key.AccessKeyId)
	identity, _, err := f.dir.PoliciesFor(ctx, c.Principal)
	if err != nil || len(identity) != 1 || identity[0].Statements[0].Action[0] != "ec2:*" {
		t.Fatalf("PoliciesFor = %v, %v", identity, err)
	}
}

func TestInlinePolicies(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("u")}))
	must(f.svc.PutUserPolicy(ctx, &iamapi.PutUserPolicyRequest{UserName: p("u"), PolicyName: p("b"), PolicyDocument: p(allowS3)}))
	// A URL-encoded document is accepted and stored decoded.
	must(f.svc.PutUserPolicy(ctx, &iamapi.PutUserPolicyRequest{UserName: p("u"), PolicyName: p("a"), PolicyDocument: encodeDocument(allowS3)}))
	got := must(f.svc.GetUserPolicy(ctx, &iamapi.GetUserPolicyRequest{UserName: p("u"), PolicyName: p("a")}))
	if decoded(t, got.PolicyDocument) != allowS3 || *got.UserName != "u" || *got.PolicyName != "a" {
		t.Fatalf("GetUserPolicy = %+v", got)
	}
	names := must(f.svc.ListUserPolicies(ctx, &iamapi.ListUserPoliciesRequest{UserName: p("u")})).PolicyNames
	if len(names) != 2 || names[0] != "a" || names[1] != "b" {
		t.Fatalf("ListUserPolicies = %v", names)
	}
	_, err := f.svc.GetUserPolicy(ctx, &iamapi.GetUserPolicyRequest{UserName: p("u"), PolicyName: p("zz")})
	wantCode(t, err, "NoSuchEntity", "The user policy with name zz cannot be found.")
	_, err = f.svc.PutUserPolicy(ctx, &iamapi.PutUserPolicyRequest{UserName: p("u"), PolicyName: p("c"), PolicyDocument: p(`{"Statement":[]`)})
	wantCode(t, err, "MalformedPolicyDocument")
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("b", 2100) + `"}]}`
	_, err = f.svc.PutUserPolicy(ctx, &iamapi.PutUserPolicyRequest{UserName: p("u"), PolicyName: p("c"), PolicyDocument: &big})
	wantCode(t, err, "LimitExceeded")
	_, err = f.svc.PutRolePolicy(ctx, &iamapi.PutRolePolicyRequest{RoleName: p("none"), PolicyName: p("c"), PolicyDocument: p(allowS3)})
	wantCode(t, err, "NoSuchEntity", "The role with name none cannot be found.")
}
