package iam

import (
	"testing"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
	ident "github.com/overcast-cloud/overcast/internal/iam"
)

func TestUsersLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	out := must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("dev"), Path: p("/eng/"), Tags: []iamapi.Tag{{Key: p("team"), Value: p("core")}}}))
	u := out.User
	if *u.Arn != "arn:aws:iam::000000000000:user/eng/dev" || len(*u.UserId) != 21 || (*u.UserId)[:4] != "AIDA" || len(u.Tags) != 1 {
		t.Fatalf("CreateUser = %+v", u)
	}
	_, err := f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("DEV")})
	wantCode(t, err, "EntityAlreadyExists", "User with name DEV already exists.")
	_, err = f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("bad name")})
	wantCode(t, err, "ValidationError", `1 validation error detected: Value 'bad name' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`)
	_, err = f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("x"), Path: p("noslash")})
	wantCode(t, err, "ValidationError")

	got := must(f.svc.GetUser(ctx, &iamapi.GetUserRequest{UserName: p("dev")}))
	if *got.User.UserId != *u.UserId || *got.User.Tags[0].Value != "core" {
		t.Fatalf("GetUser = %+v", got.User)
	}
	_, err = f.svc.GetUser(ctx, &iamapi.GetUserRequest{UserName: p("nobody")})
	wantCode(t, err, "NoSuchEntity", "The user with name nobody cannot be found.")

	// GetUser without a name is the caller.
	me := must(f.svc.GetUser(ctx, &iamapi.GetUserRequest{}))
	if *me.User.Arn != "arn:aws:iam::000000000000:root" || *me.User.UserId != acct || me.User.UserName != nil {
		t.Fatalf("GetUser as root = %+v", me.User)
	}
	key := must(f.svc.CreateAccessKey(ctx, &iamapi.CreateAccessKeyRequest{UserName: p("dev")})).AccessKey
	me = must(f.svc.GetUser(f.as(t, *key.AccessKeyId), &iamapi.GetUserRequest{}))
	if *me.User.UserName != "dev" {
		t.Fatalf("GetUser as dev = %+v", me.User)
	}

	must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("ops")}))
	list := must(f.svc.ListUsers(ctx, &iamapi.ListUsersRequest{PathPrefix: p("/eng/")}))
	if len(list.Users) != 1 || *list.Users[0].UserName != "dev" || *list.IsTruncated || list.Users[0].Tags != nil {
		t.Fatalf("ListUsers /eng/ = %+v", list)
	}

	// Rename: the access key follows the user.
	must(f.svc.UpdateUser(ctx, &iamapi.UpdateUserRequest{UserName: p("dev"), NewUserName: p("developer"), NewPath: p("/")}))
	c, err := f.dir.Credentials(ctx, *key.AccessKeyId)
	if err != nil || c.Principal.Name != "developer" || c.Principal.ARN != "arn:aws:iam::000000000000:user/developer" {
		t.Fatalf("credentials after rename: %+v, %v", c, err)
	}
	_, err = f.svc.UpdateUser(ctx, &iamapi.UpdateUserRequest{UserName: p("developer"), NewUserName: p("ops")})
	wantCode(t, err, "EntityAlreadyExists")

	_, err = f.svc.DeleteUser(ctx, &iamapi.DeleteUserRequest{UserName: p("developer")})
	wantCode(t, err, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
	must(f.svc.DeleteAccessKey(ctx, &iamapi.DeleteAccessKeyRequest{UserName: p("developer"), AccessKeyId: key.AccessKeyId}))
	must(f.svc.DeleteUser(ctx, &iamapi.DeleteUserRequest{UserName: p("developer")}))
	_, err = f.svc.DeleteUser(ctx, &iamapi.DeleteUserRequest{UserName: p("developer")})
	wantCode(t, err, "NoSuchEntity")
}

func TestUserDeleteConflicts(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("u")}))
	must(f.svc.CreateGroup(ctx, &iamapi.CreateGroupRequest{GroupName: p("g")}))
	must(f.svc.AddUserToGroup(ctx, &iamapi.AddUserToGroupRequest{GroupName: p("g"), UserName: p("u")}))
	must(f.svc.AttachUserPolicy(ctx, &iamapi.AttachUserPolicyRequest{UserName: p("u"), PolicyArn: p("arn:aws:iam::aws:policy/ReadOnlyAccess")}))
	must(f.svc.PutUserPolicy(ctx, &iamapi.PutUserPolicyRequest{UserName: p("u"), PolicyName: p("s3"), PolicyDocument: p(allowS3)}))
	must(f.svc.CreateLoginProfile(ctx, &iamapi.CreateLoginProfileRequest{UserName: p("u"), Password: p("Sup3r-secret")}))

	steps := []struct {
		msg  string
		undo func()
	}{
		{"Cannot delete entity, must delete login profile first.", func() {
			must(f.svc.DeleteLoginProfile(ctx, &iamapi.DeleteLoginProfileRequest{UserName: p("u")}))
		}},
		{"Cannot delete entity, must remove users from group first.", func() {
			must(f.svc.RemoveUserFromGroup(ctx, &iamapi.RemoveUserFromGroupRequest{GroupName: p("g"), UserName: p("u")}))
		}},
		{"Cannot delete entity, must detach all policies first.", func() {
			must(f.svc.DetachUserPolicy(ctx, &iamapi.DetachUserPolicyRequest{UserName: p("u"), PolicyArn: p("arn:aws:iam::aws:policy/ReadOnlyAccess")}))
		}},
		{"Cannot delete entity, must delete policies first.", func() {
			must(f.svc.DeleteUserPolicy(ctx, &iamapi.DeleteUserPolicyRequest{UserName: p("u"), PolicyName: p("s3")}))
		}},
	}
	for _, s := range steps {
		_, err := f.svc.DeleteUser(ctx, &iamapi.DeleteUserRequest{UserName: p("u")})
		wantCode(t, err, "DeleteConflict", s.msg)
		s.undo()
	}
	must(f.svc.DeleteUser(ctx, &iamapi.DeleteUserRequest{UserName: p("u")}))
}

func TestPagination(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"e", "a", "d", "c", "b"} {
		must(f.svc.CreateUser(f.root, &iamapi.CreateUserRequest{UserName: p(n)}))
	}
	var names []string
	var marker *string
	for pages := 0; ; pages++ {
		out := must(f.svc.ListUsers(f.root, &iamapi.ListUsersRequest{MaxItems: i32(2), Marker: marker}))
		for _, u := range out.Users {
			names = append(names, *u.UserName)
		}
		if !*out.IsTruncated {
			if out.Marker != nil || pages != 2 {
				t.Fatalf("last page: marker %v after %d pages", out.Marker, pages)
			}
			break
		}
		marker = out.Marker
	}
	if got := len(names); got != 5 || names[0] != "a" || names[4] != "e" {
		t.Fatalf("paged users = %v", names)
	}
	_, err := f.svc.ListUsers(f.root, &iamapi.ListUsersRequest{MaxItems: i32(0)})
	wantCode(t, err, "ValidationError")
}

func TestUserTags(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("u")}))
	must(f.svc.TagUser(ctx, &iamapi.TagUserRequest{UserName: p("u"), Tags: []iamapi.Tag{{Key: p("a"), Value: p("1")}, {Key: p("b"), Value: p("2")}}}))
	must(f.svc.TagUser(ctx, &iamapi.TagUserRequest{UserName: p("u"), Tags: []iamapi.Tag{{Key: p("A"), Value: p("3")}}}))
	must(f.svc.UntagUser(ctx, &iamapi.UntagUserRequest{UserName: p("u"), TagKeys: []string{"b"}}))
	tags := must(f.svc.ListUserTags(ctx, &iamapi.ListUserTagsRequest{UserName: p("u")}))
	if len(tags.Tags) != 1 || *tags.Tags[0].Key != "A" || *tags.Tags[0].Value != "3" {
		t.Fatalf("tags = %+v", tags.Tags)
	}
	_, err := f.svc.TagUser(ctx, &iamapi.TagUserRequest{UserName: p("u"), Tags: []iamapi.Tag{{Key: p("k"), Value: p("1")}, {Key: p("K"), Value: p("2")}}})
	wantCode(t, err, "InvalidInput")
	_, err = f.svc.TagUser(ctx, &iamapi.TagUserRequest{UserName: p("nobody"), Tags: []iamapi.Tag{{Key: p("k"), Value: p("1")}}})
	wantCode(t, err, "NoSuchEntity")
}

func TestAccountIsolation(t *testing.T) {
	f := newFixture(t)
	f.dir.AddRootKey(ident.RootKey{Account: "111122223333", AccessKeyID: "other", SecretAccessKey: "x"})
	other := f.as(t, "other")
	must(f.svc.CreateUser(f.root, &iamapi.CreateUserRequest{UserName: p("dev")}))
	_, err := f.svc.GetUser(other, &iamapi.GetUserRequest{UserName: p("dev")})
	wantCode(t, err, "NoSuchEntity")
	u := must(f.svc.CreateUser(other, &iamapi.CreateUserRequest{UserName: p("dev")})).User
	if *u.Arn != "arn:aws:iam::111122223333:user/dev" {
		t.Fatalf("other account's user = %s", *u.Arn)
	}
	if n := len(must(f.svc.ListUsers(f.root, &iamapi.ListUsersRequest{})).Users); n != 1 {
		t.Fatalf("default account lists %d users", n)
	}
}
