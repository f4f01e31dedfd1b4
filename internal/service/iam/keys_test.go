package iam

import (
	"errors"
	"testing"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	ident "github.com/overcast-cloud/overcast/internal/iam"
)

func TestAccessKeys(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("u")}))
	k1 := must(f.svc.CreateAccessKey(ctx, &iamapi.CreateAccessKeyRequest{UserName: p("u")})).AccessKey
	if len(*k1.AccessKeyId) != 20 || (*k1.AccessKeyId)[:4] != "AKIA" || len(*k1.SecretAccessKey) != 40 || *k1.Status != "Active" || *k1.UserName != "u" {
		t.Fatalf("CreateAccessKey = %+v", k1)
	}
	// The new key signs requests as the user, and the user can make its own keys.
	uctx := f.as(t, *k1.AccessKeyId)
	k2 := must(f.svc.CreateAccessKey(uctx, &iamapi.CreateAccessKeyRequest{})).AccessKey
	_, err := f.svc.CreateAccessKey(ctx, &iamapi.CreateAccessKeyRequest{UserName: p("u")})
	wantCode(t, err, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")

	list := must(f.svc.ListAccessKeys(uctx, &iamapi.ListAccessKeysRequest{})).AccessKeyMetadata
	if len(list) != 2 {
		t.Fatalf("ListAccessKeys = %+v", list)
	}
	for _, m := range list {
		if *m.UserName != "u" || *m.Status != "Active" {
			t.Fatalf("key metadata = %+v", m)
		}
	}

	must(f.svc.UpdateAccessKey(ctx, &iamapi.UpdateAccessKeyRequest{UserName: p("u"), AccessKeyId: k2.AccessKeyId, Status: p("Inactive")}))
	if _, err := f.dir.Credentials(ctx, *k2.AccessKeyId); !errors.Is(err, ident.ErrUnknownKey) {
		t.Fatalf("inactive key resolves: %v", err)
	}
	_, err = f.svc.UpdateAccessKey(ctx, &iamapi.UpdateAccessKeyRequest{UserName: p("u"), AccessKeyId: k2.AccessKeyId, Status: p("Paused")})
	wantCode(t, err, "ValidationError")
	_, err = f.svc.UpdateAccessKey(ctx, &iamapi.UpdateAccessKeyRequest{UserName: p("u"), AccessKeyId: p("AKIAZZZZZZZZZZZZZZZZ"), Status: p("Active")})
	wantCode(t, err, "NoSuchEntity", "The Access Key with id AKIAZZZZZZZZZZZZZZZZ cannot be found.")

	last := must(f.svc.GetAccessKeyLastUsed(ctx, &iamapi.GetAccessKeyLastUsedRequest{AccessKeyId: k1.AccessKeyId}))
	if *last.UserName != "u" || *last.AccessKeyLastUsed.ServiceName != "N/A" || last.AccessKeyLastUsed.LastUsedDate != nil {
		t.Fatalf("GetAccessKeyLastUsed before use = %+v", last.AccessKeyLastUsed)
	}
	f.dir.NoteKeyUse(*k1.AccessKeyId, "iam", "us-east-1")
	last = must(f.svc.GetAccessKeyLastUsed(ctx, &iamapi.GetAccessKeyLastUsedRequest{AccessKeyId: k1.AccessKeyId}))
	if *last.AccessKeyLastUsed.ServiceName != "iam" || last.AccessKeyLastUsed.LastUsedDate == nil {
		t.Fatalf("GetAccessKeyLastUsed after use = %+v", last.AccessKeyLastUsed)
	}

	must(f.svc.DeleteAccessKey(ctx, &iamapi.DeleteAccessKeyRequest{UserName: p("u"), AccessKeyId: k1.AccessKeyId}))
	if _, err := f.dir.Credentials(ctx, *k1.AccessKeyId); !errors.Is(err, ident.ErrUnknownKey) {
		t.Fatalf("deleted key resolves: %v", err)
	}
	_, err = f.svc.DeleteAccessKey(ctx, &iamapi.DeleteAccessKeyRequest{UserName: p("u"), AccessKeyId: k1.AccessKeyId})
	wantCode(t, err, "NoSuchEntity")
	_, err = f.svc.GetAccessKeyLastUsed(ctx, &iamapi.GetAccessKeyLastUsedRequest{AccessKeyId: k1.AccessKeyId})
	wantCode(t, err, "NoSuchEntity")
}

func TestLoginProfiles(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("u")}))
	_, err := f.svc.CreateLoginProfile(ctx, &iamapi.CreateLoginProfileRequest{UserName: p("u"), Password: p("short")})
	wantCode(t, err, "PasswordPolicyViolation")
	_, err = f.svc.CreateLoginProfile(ctx, &iamapi.CreateLoginProfileRequest{UserName: p("u"), Password: p("alllowercase")})
	wantCode(t, err, "PasswordPolicyViolation")
	lp := must(f.svc.CreateLoginProfile(ctx, &iamapi.CreateLoginProfileRequest{UserName: p("u"), Password: p("Correct-h0rse"), PasswordResetRequired: p2b(true)})).LoginProfile
	if *lp.UserName != "u" || !*lp.PasswordResetRequired {
		t.Fatalf("CreateLoginProfile = %+v", lp)
	}
	_, err = f.svc.CreateLoginProfile(ctx, &iamapi.CreateLoginProfileRequest{UserName: p("u"), Password: p("Correct-h0rse")})
	wantCode(t, err, "EntityAlreadyExists")

	u, _ := f.dir.User(ctx, acct, "u")
	if string(u.LoginProfile.Hash) == "Correct-h0rse" || len(u.LoginProfile.Salt) != 16 {
		t.Fatal("password not hashed")
	}

	key := must(f.svc.CreateAccessKey(ctx, &iamapi.CreateAccessKeyRequest{UserName: p("u")})).AccessKey
	uctx := f.as(t, *key.AccessKeyId)
	_, err = f.svc.ChangePassword(uctx, &iamapi.ChangePasswordRequest{OldPassword: p("wrong-Passw0rd"), NewPassword: p("New-passw0rd")})
	wantCode(t, err, "AccessDenied")
	must(f.svc.ChangePassword(uctx, &iamapi.ChangePasswordRequest{OldPassword: p("Correct-h0rse"), NewPassword: p("New-passw0rd")}))
	_, err = f.svc.ChangePassword(ctx, &iamapi.ChangePasswordRequest{OldPassword: p("x"), NewPassword: p("New-passw0rd")})
	wantCode(t, err, "InvalidUserType")
	got := must(f.svc.GetLoginProfile(ctx, &iamapi.GetLoginProfileRequest{UserName: p("u")})).LoginProfile
	if *got.PasswordResetRequired {
		t.Fatal("ChangePassword did not clear the reset requirement")
	}
	must(f.svc.UpdateLoginProfile(ctx, &iamapi.UpdateLoginProfileRequest{UserName: p("u"), PasswordResetRequired: p2b(true)}))
	must(f.svc.DeleteLoginProfile(ctx, &iamapi.DeleteLoginProfileRequest{UserName: p("u")}))
	_, err = f.svc.GetLoginProfile(ctx, &iamapi.GetLoginProfileRequest{UserName: p("u")})
	wantCode(t, err, "NoSuchEntity", "Login Profile for User u cannot be found.")
}

func TestAccountSummary(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("u")}))
	must(f.svc.CreateRole(ctx, &iamapi.CreateRoleRequest{RoleName: p("r"), AssumeRolePolicyDocument: p(trustEC2)}))
	m := must(f.svc.GetAccountSummary(ctx, nil)).SummaryMap
	if m["Users"] != 1 || m["Roles"] != 1 || m["Groups"] != 0 || m["AccessKeysPerUserQuota"] != 2 {
		t.Fatalf("SummaryMap = %v", m)
	}
}
