package iam

import (
	"testing"

	iamapi "github.com/overcast-cloud/overcast/api/iam"
)

func TestGroups(t *testing.T) {
	f := newFixture(t)
	ctx := f.root
	g := must(f.svc.CreateGroup(ctx, &iamapi.CreateGroupRequest{GroupName: p("devs"), Path: p("/eng/")})).Group
	if *g.Arn != "arn:aws:iam::000000000000:group/eng/devs" || (*g.GroupId)[:4] != "AGPA" {
		t.Fatalf("CreateGroup = %+v", g)
	}
	_, err := f.svc.CreateGroup(ctx, &iamapi.CreateGroupRequest{GroupName: p("devs")})
	wantCode(t, err, "EntityAlreadyExists", "Group with name devs already exists.")
	must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("ann")}))
	must(f.svc.CreateUser(ctx, &iamapi.CreateUserRequest{UserName: p("bob")}))
	for _, u := range []string{"ann", "bob", "ann"} {
		must(f.svc.AddUserToGroup(ctx, &iamapi.AddUserToGroupRequest{GroupName: p("devs"), UserName: p(u)}))
	}
	_, err = f.svc.AddUserToGroup(ctx, &iamapi.AddUserToGroupRequest{GroupName: p("nope"), UserName: p("ann")})
	wantCode(t, err, "NoSuchEntity", "The group with name nope cannot be found.")

	got := must(f.svc.GetGroup(ctx, &iamapi.GetGroupRequest{GroupName: p("devs")}))
	if len(got.Users) != 2 || *got.Users[0].UserName != "ann" || *got.Group.GroupName != "devs" {
		t.Fatalf("GetGroup = %+v", got)
	}
	forUser := must(f.svc.ListGroupsForUser(ctx, &iamapi.ListGroupsForUserRequest{UserName: p("bob")}))
	if len(forUser.Groups) != 1 || *forUser.Groups[0].GroupName != "devs" {
		t.Fatalf("ListGroupsForUser = %+v", forUser)
	}

	// Renaming a group keeps its members.
	must(f.svc.UpdateGroup(ctx, &iamapi.UpdateGroupRequest{GroupName: p("devs"), NewGroupName: p("builders")}))
	got = must(f.svc.GetGroup(ctx, &iamapi.GetGroupRequest{GroupName: p("builders")}))
	if len(got.Users) != 2 || *got.Group.Arn != "arn:aws:iam::000000000000:group/eng/builders" {
		t.Fatalf("after rename: %+v", got)
	}
	list := must(f.svc.ListGroups(ctx, &iamapi.ListGroupsRequest{}))
	if len(list.Groups) != 1 || *list.Groups[0].GroupName != "builders" {
		t.Fatalf("ListGroups = %+v", list)
	}

	_, err = f.svc.DeleteGroup(ctx, &iamapi.DeleteGroupRequest{GroupName: p("builders")})
	wantCode(t, err, "DeleteConflict", "Cannot delete entity, must remove users from group first.")
	for _, u := range []string{"ann", "bob"} {
		must(f.svc.RemoveUserFromGroup(ctx, &iamapi.RemoveUserFromGroupRequest{GroupName: p("builders"), UserName: p(u)}))
	}
	_, err = f.svc.RemoveUserFromGroup(ctx, &iamapi.RemoveUserFromGroupRequest{GroupName: p("builders"), UserName: p("ann")})
	wantCode(t, err, "NoSuchEntity")
	must(f.svc.PutGroupPolicy(ctx, &iamapi.PutGroupPolicyRequest{GroupName: p("builders"), PolicyName: p("s3"), PolicyDocument: p(allowS3)}))
	_, err = f.svc.DeleteGroup(ctx, &iamapi.DeleteGroupRequest{GroupName: p("builders")})
	wantCode(t, err, "DeleteConflict", "Cannot delete entity, must delete policies first.")
	must(f.svc.DeleteGroupPolicy(ctx, &iamapi.DeleteGroupPolicyRequest{GroupName: p("builders"), PolicyName: p("s3")}))
	must(f.svc.DeleteGroup(ctx, &iamapi.DeleteGroupRequest{GroupName: p("builders")}))
}
