package ec2

import (
	"net/netip"
	"strings"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
)

func TestRunInstancesValidation(t *testing.T) {
	e := newEnv(t)
	one := func(mod func(*api.RunInstancesRequest)) *api.RunInstancesRequest {
		in := &api.RunInstancesRequest{ImageId: ptr(testAMI), InstanceType: ptr("t2.micro"), MinCount: ptr(int32(1)), MaxCount: ptr(int32(1))}
		mod(in)
		return in
	}
	subnet := ptr("subnet-0123456789abcdef0")
	cases := []struct {
		name, code, msg string
		mod             func(*api.RunInstancesRequest)
	}{
		{"malformed AMI", "InvalidAMIID.Malformed", `Invalid id: "ami-xyz"`, func(in *api.RunInstancesRequest) { in.ImageId = ptr("ami-xyz") }},
		{"unknown AMI", "InvalidAMIID.NotFound", "The image id '[ami-00000000000000000]' does not exist",
			func(in *api.RunInstancesRequest) { in.ImageId = ptr("ami-00000000000000000") }},
		{"pending AMI", "InvalidAMIID.Unavailable", "pending", func(in *api.RunInstancesRequest) { in.ImageId = ptr(pendingAMI) }},
		{"unknown type", "InvalidParameterValue", "Invalid value 't2.enormous' for InstanceType.",
			func(in *api.RunInstancesRequest) { in.InstanceType = ptr("t2.enormous") }},
		{"architecture", "InvalidParameterValue", "does not match the architecture 'x86_64'",
			func(in *api.RunInstancesRequest) { in.InstanceType = ptr("t4g.micro") }},
		{"user data size", "InvalidParameterValue", "User data is limited to 16384 bytes",
			func(in *api.RunInstancesRequest) { in.UserData = b64(strings.Repeat("x", 16385)) }},
		{"user data base64", "InvalidParameterValue", "Invalid BASE64", func(in *api.RunInstancesRequest) { in.UserData = ptr("not base64!") }},
		{"count limit", "InstanceLimitExceeded", "You have requested more instances (21)",
			func(in *api.RunInstancesRequest) { in.MinCount, in.MaxCount = ptr(int32(21)), ptr(int32(21)) }},
		{"max below min", "InvalidParameterValue", "maxCount", func(in *api.RunInstancesRequest) { in.MinCount = ptr(int32(2)) }},
		{"zero count", "InvalidParameterValue", "minCount", func(in *api.RunInstancesRequest) { in.MinCount = ptr(int32(0)) }},
		{"http tokens", "InvalidParameterValue", "HttpTokens", func(in *api.RunInstancesRequest) {
			in.MetadataOptions = &api.InstanceMetadataOptionsRequest{HttpTokens: ptr("sometimes")}
		}},
		{"hop limit", "InvalidParameterValue", "HttpPutResponseHopLimit", func(in *api.RunInstancesRequest) {
			in.MetadataOptions = &api.InstanceMetadataOptionsRequest{HttpPutResponseHopLimit: ptr(int32(65))}
		}},
		{"shutdown behavior", "InvalidParameterValue", "instanceInitiatedShutdownBehavior",
			func(in *api.RunInstancesRequest) { in.InstanceInitiatedShutdownBehavior = ptr("hibernate") }},
		{"tag resource type", "InvalidParameterValue", "'vpc' is not a valid taggable resource type",
			func(in *api.RunInstancesRequest) { in.TagSpecifications = tagSpec("vpc", "a", "b") }},
		{"reserved tag", "InvalidParameterValue", "reserved", func(in *api.RunInstancesRequest) { in.TagSpecifications = tagSpec("instance", "aws:x", "b") }},
		{"key pair", "InvalidKeyPair.NotFound", "", func(in *api.RunInstancesRequest) { in.KeyName = ptr("missing") }},
		{"profile name", "InvalidParameterValue", "Value (ghost) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
			func(in *api.RunInstancesRequest) {
				in.IamInstanceProfile = &api.IamInstanceProfileSpecification{Name: ptr("ghost")}
			}},
		{"profile arn", "InvalidParameterValue", "iamInstanceProfile.arn", func(in *api.RunInstancesRequest) {
			in.IamInstanceProfile = &api.IamInstanceProfileSpecification{Arn: ptr("arn:aws:iam::000000000000:instance-profile/ghost")}
		}},
		{"subnet twice", "InvalidParameterCombination", "instance-level subnet ID", func(in *api.RunInstancesRequest) {
			in.SubnetId = subnet
			in.NetworkInterfaces = []api.InstanceNetworkInterfaceSpecification{{DeviceIndex: ptr(int32(0)), SubnetId: subnet}}
		}},
		{"unknown subnet", "InvalidSubnetID.NotFound", "", func(in *api.RunInstancesRequest) { in.SubnetId = subnet }},
		{"private ip twice", "InvalidParameterCombination", "more than one instance", func(in *api.RunInstancesRequest) {
			in.PrivateIpAddress, in.MaxCount = ptr("172.31.0.50"), ptr(int32(2))
		}},
		{"unknown group", "InvalidGroup.NotFound", "", func(in *api.RunInstancesRequest) { in.SecurityGroupIds = []string{"sg-0123456789abcdef0"} }},
		{"dry run", "DryRunOperation", "", func(in *api.RunInstancesRequest) { in.DryRun = ptr(true) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.RunInstances(e.ctx, one(c.mod))
			wantCode(t, err, c.code)
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q, want %q in it", err, c.msg)
			}
		})
	}
	out := must[*api.DescribeInstancesResult](t)(e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{}))
	if len(out.Reservations) != 0 {
		t.Errorf("refused launches left %d reservations", len(out.Reservations))
	}
}

func TestRunInstancesOptions(t *testing.T) {
	e := newEnv(t)
	insts := e.run(t, &api.RunInstancesRequest{
		MinCount: ptr(int32(1)), MaxCount: ptr(int32(3)), InstanceType: ptr("t3.micro"),
		MetadataOptions:    &api.InstanceMetadataOptionsRequest{HttpTokens: ptr("required"), HttpPutResponseHopLimit: ptr(int32(2))},
		IamInstanceProfile: &api.IamInstanceProfileSpecification{Name: ptr("web")},
		NetworkInterfaces:  []api.InstanceNetworkInterfaceSpecification{{DeviceIndex: ptr(int32(0)), AssociatePublicIpAddress: ptr(false)}},
		TagSpecifications:  append(tagSpec("instance", "Name", "web"), tagSpec("volume", "disk", "root")...),
		ClientToken:        ptr("token-1"),
	})
	if len(insts) != 3 {
		t.Fatalf("launched %d instances, want MaxCount 3", len(insts))
	}
	for i, in := range insts {
		if int(*in.AmiLaunchIndex) != i || in.PublicIpAddress != nil || *in.MetadataOptions.HttpTokens != "required" ||
			*in.MetadataOptions.HttpPutResponseHopLimit != 2 || *in.IamInstanceProfile.Arn != "arn:aws:iam::000000000000:instance-profile/web" ||
			*in.Hypervisor != "nitro" || len(in.Tags) != 1 {
			t.Errorf("instance %d: %+v", i, in)
		}
	}
	// The same client token answers the same reservation, launching nothing.
	again, err := e.svc.RunInstances(e.ctx, &api.RunInstancesRequest{ImageId: ptr(testAMI), MinCount: ptr(int32(1)), MaxCount: ptr(int32(3)), ClientToken: ptr("token-1")})
	if err != nil || len(again.Instances) != 3 || *again.Instances[0].InstanceId != *insts[0].InstanceId {
		t.Errorf("idempotent RunInstances: %v", err)
	}
	all := must[*api.DescribeInstancesResult](t)(e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{}))
	if len(all.Reservations) != 1 || len(all.Reservations[0].Instances) != 3 {
		t.Errorf("%d reservations after a repeated token", len(all.Reservations))
	}

	// A wanted private address is taken; asking for it again fails.
	in := e.run(t, &api.RunInstancesRequest{PrivateIpAddress: ptr("172.31.0.77"), Placement: &api.Placement{AvailabilityZone: ptr("us-east-1a")}})[0]
	if *in.PrivateIpAddress != "172.31.0.77" || *in.Placement.AvailabilityZone != "us-east-1a" || *in.PrivateDnsName != "ip-172-31-0-77.ec2.internal" {
		t.Errorf("private address %s in %s", *in.PrivateIpAddress, *in.Placement.AvailabilityZone)
	}
	_, err = e.svc.RunInstances(e.ctx, &api.RunInstancesRequest{ImageId: ptr(testAMI), MinCount: ptr(int32(1)), MaxCount: ptr(int32(1)),
		PrivateIpAddress: ptr("172.31.0.77"), Placement: &api.Placement{AvailabilityZone: ptr("us-east-1a")}})
	wantCode(t, err, "InvalidIPAddress.InUse")
	// Terminating gives the address back.
	must[*api.TerminateInstancesResult](t)(e.svc.TerminateInstances(e.ctx, &api.TerminateInstancesRequest{InstanceIds: []string{*in.InstanceId}}))
	e.svc.Wait()
	e.run(t, &api.RunInstancesRequest{PrivateIpAddress: ptr("172.31.0.77"), Placement: &api.Placement{AvailabilityZone: ptr("us-east-1a")}})

	// The metadata service finds an instance by its private address, with its profile's role.
	m, err := e.svc.InstanceByPrivateIP(e.ctx, netip.MustParseAddr(*insts[0].PrivateIpAddress))
	if err != nil || m == nil {
		t.Fatalf("InstanceByPrivateIP: %v %v", m, err)
	}
	if m.InstanceID != *insts[0].InstanceId || m.RoleName != "web-role" || m.HTTPTokens != "required" || m.VPCCIDR != "172.31.0.0/16" ||
		m.Hostname != *insts[0].PrivateDnsName || m.MAC != *insts[0].NetworkInterfaces[0].MacAddress {
		t.Errorf("metadata: %+v", m)
	}
	if m, err := e.svc.InstanceByPrivateIP(e.ctx, netip.MustParseAddr("172.31.255.250")); m != nil || err != nil {
		t.Errorf("unknown address answered %v %v", m, err)
	}
}

func TestProfileAssociations(t *testing.T) {
	e := newEnv(t)
	id := *e.run(t, &api.RunInstancesRequest{})[0].InstanceId
	a, err := e.svc.AssociateIamInstanceProfile(e.ctx, &api.AssociateIamInstanceProfileRequest{InstanceId: &id,
		IamInstanceProfile: &api.IamInstanceProfileSpecification{Arn: ptr("arn:aws:iam::000000000000:instance-profile/web")}})
	if err != nil {
		t.Fatal(err)
	}
	assoc := *a.IamInstanceProfileAssociation.AssociationId
	wantPrefix(t, "AssociationId", assoc, "iip-assoc-")
	_, err = e.svc.AssociateIamInstanceProfile(e.ctx, &api.AssociateIamInstanceProfileRequest{InstanceId: &id,
		IamInstanceProfile: &api.IamInstanceProfileSpecification{Name: ptr("web")}})
	wantCode(t, err, "IncorrectState")
	d, err := e.svc.DescribeIamInstanceProfileAssociations(e.ctx, &api.DescribeIamInstanceProfileAssociationsRequest{
		Filters: []api.Filter{flt("instance-id", id), flt("state", "associated")}})
	if err != nil || len(d.IamInstanceProfileAssociations) != 1 {
		t.Fatalf("describe associations: %v %v", d, err)
	}
	r, err := e.svc.ReplaceIamInstanceProfileAssociation(e.ctx, &api.ReplaceIamInstanceProfileAssociationRequest{AssociationId: &assoc,
		IamInstanceProfile: &api.IamInstanceProfileSpecification{Name: ptr("web")}})
	if err != nil || *r.IamInstanceProfileAssociation.AssociationId == assoc {
		t.Fatalf("replace: %v", err)
	}
	_, err = e.svc.DisassociateIamInstanceProfile(e.ctx, &api.DisassociateIamInstanceProfileRequest{AssociationId: &assoc})
	wantCode(t, err, "InvalidAssociationID.NotFound")
	if _, err := e.svc.DisassociateIamInstanceProfile(e.ctx, &api.DisassociateIamInstanceProfileRequest{AssociationId: r.IamInstanceProfileAssociation.AssociationId}); err != nil {
		t.Fatal(err)
	}
	if in := e.describe(t, id); in.IamInstanceProfile != nil {
		t.Errorf("profile still shown: %v", *in.IamInstanceProfile.Arn)
	}
	m, _ := e.svc.InstanceByPrivateIP(e.ctx, netip.MustParseAddr(*e.describe(t, id).PrivateIpAddress))
	if m == nil || m.RoleName != "" || m.InstanceProfileARN != "" {
		t.Errorf("metadata after disassociation: %+v", m)
	}
}

func TestModifyGroupsAndUserData(t *testing.T) {
	e := newEnv(t)
	in := e.run(t, &api.RunInstancesRequest{})[0]
	id := *in.InstanceId
	sg, err := e.svc.CreateSecurityGroup(e.ctx, &api.CreateSecurityGroupRequest{GroupName: ptr("web"), Description: ptr("web")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ModifyInstanceAttribute(e.ctx, &api.ModifyInstanceAttributeRequest{InstanceId: &id, Groups: []string{*sg.GroupId}}); err != nil {
		t.Fatal(err)
	}
	got := e.describe(t, id)
	if len(got.SecurityGroups) != 1 || *got.SecurityGroups[0].GroupName != "web" {
		t.Errorf("groups: %+v", got.SecurityGroups)
	}
	addrs, err := e.svc.groupMemberAddrs(e.ctx, *sg.GroupId)
	if err != nil || len(addrs) != 1 || addrs[0].String() != *got.PrivateIpAddress {
		t.Errorf("groupMemberAddrs = %v, %v", addrs, err)
	}
	_, err = e.svc.ModifyInstanceAttribute(e.ctx, &api.ModifyInstanceAttributeRequest{InstanceId: &id, UserData: &api.SecureBlobAttributeValue{Value: []byte("#!/bin/sh\n")}})
	wantCode(t, err, "IncorrectInstanceState")
	must[*api.StopInstancesResult](t)(e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: []string{id}}))
	e.svc.Wait()
	if _, err := e.svc.ModifyInstanceAttribute(e.ctx, &api.ModifyInstanceAttributeRequest{InstanceId: &id, UserData: &api.SecureBlobAttributeValue{Value: []byte("#!/bin/sh\necho new\n")}}); err != nil {
		t.Fatal(err)
	}
	attr := must[*api.InstanceAttribute](t)(e.svc.DescribeInstanceAttribute(e.ctx, &api.DescribeInstanceAttributeRequest{InstanceId: &id, Attribute: ptr("userData")}))
	if *attr.UserData.Value != *b64("#!/bin/sh\necho new\n") {
		t.Errorf("userData attribute = %q", *attr.UserData.Value)
	}
	_, err = e.svc.DescribeInstanceAttribute(e.ctx, &api.DescribeInstanceAttributeRequest{InstanceId: &id, Attribute: ptr("colour")})
	wantCode(t, err, "InvalidParameterValue")
}
