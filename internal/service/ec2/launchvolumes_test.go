package ec2

import (
	"context"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
)

func (e *ebsEnv) runWith(t *testing.T, ctx context.Context, bdms ...api.BlockDeviceMapping) (api.Instance, error) {
	t.Helper()
	one := int32(1)
	res, err := e.svc.RunInstances(ctx, &api.RunInstancesRequest{ImageId: str(testAMI), InstanceType: str("t3.micro"),
		MinCount: &one, MaxCount: &one, BlockDeviceMappings: bdms})
	if err != nil {
		return api.Instance{}, err
	}
	e.svc.Wait()
	return e.describeInstance(t, ctx, *res.Instances[0].InstanceId), nil
}

// The root volume is an EBS volume restored from the AMI's root snapshot; it is the machine's root device.
func TestRootVolumeIsAnEBSVolume(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	inst, err := e.runWith(t, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if *inst.State.Name != "running" || *inst.RootDeviceType != "ebs" || *inst.RootDeviceName != "/dev/xvda" {
		t.Fatalf("instance = %+v", inst)
	}
	rootID := *inst.BlockDeviceMappings[0].Ebs.VolumeId
	v := e.describeVolume(t, ctx, rootID)
	if *v.State != "in-use" || *v.VolumeType != "gp3" || *v.Size != 1 || *v.SnapshotId != quickStartSnapshot(testAMI) ||
		len(v.Attachments) != 1 || *v.Attachments[0].Device != "/dev/xvda" || *v.Attachments[0].State != "attached" ||
		!*v.Attachments[0].DeleteOnTermination || *v.AvailabilityZone != *inst.Placement.AvailabilityZone {
		t.Fatalf("root volume = %+v", v)
	}
	if got := e.host.restored[rootID]; got != quickStartSnapshot(testAMI) {
		t.Fatalf("root volume restored from %q", got)
	}
	spec, ok := e.machines().Spec(*inst.InstanceId)
	if !ok || spec.Root == nil || spec.Root.GuestPath != "/dev/xvda" || spec.Root.HostPath != e.host.devices[rootID] || spec.Root.IOPS != 3000 {
		t.Fatalf("machine spec root = %+v", spec.Root)
	}
	// The root volume stays attached: it can be neither detached nor attached elsewhere.
	_, err = e.svc.DetachVolume(ctx, &api.DetachVolumeRequest{VolumeId: &rootID})
	wantCode(t, err, "IncorrectState")
	_, err = e.svc.DeleteVolume(ctx, &api.DeleteVolumeRequest{VolumeId: &rootID})
	wantCode(t, err, "VolumeInUse")
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(2), AvailabilityZone: inst.Placement.AvailabilityZone}).VolumeId
	_, err = e.svc.AttachVolume(ctx, &api.AttachVolumeRequest{VolumeId: &vol, InstanceId: inst.InstanceId, Device: str("/dev/xvda")})
	wantCode(t, err, "InvalidParameterValue")

	// Terminating deletes it (DeleteOnTermination).
	must[*api.TerminateInstancesResult](t)(e.svc.TerminateInstances(ctx, &api.TerminateInstancesRequest{InstanceIds: []string{*inst.InstanceId}}))
	e.svc.Wait()
	_, err = e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{VolumeIds: []string{rootID}})
	wantCode(t, err, "InvalidVolume.NotFound")
	if _, ok := e.host.volumes[rootID]; ok {
		t.Fatal("the root volume is still on the host")
	}
}

// Block device mappings: a larger, kept, encrypted io1 root and an extra empty volume.
func TestRunInstancesBlockDeviceMappings(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	inst, err := e.runWith(t, ctx,
		api.BlockDeviceMapping{DeviceName: str("/dev/xvda"), Ebs: &api.EbsBlockDevice{VolumeSize: i32(20), VolumeType: str("io1"),
			Iops: i32(1000), DeleteOnTermination: boolp(false), Encrypted: boolp(true)}},
		api.BlockDeviceMapping{DeviceName: str("/dev/sdf"), Ebs: &api.EbsBlockDevice{VolumeSize: i32(5), VolumeType: str("gp2")}},
	)
	if err != nil {
		t.Fatal(err)
	}
	rootID := *inst.BlockDeviceMappings[0].Ebs.VolumeId
	root := e.describeVolume(t, ctx, rootID)
	if *root.Size != 20 || *root.VolumeType != "io1" || *root.Iops != 1000 || !*root.Encrypted || *root.Attachments[0].DeleteOnTermination {
		t.Fatalf("root = %+v", root)
	}
	if e.host.key(rootID) == "" {
		t.Fatal("the encrypted root volume has no key on the host")
	}
	all := must[*api.DescribeVolumesResult](t)(e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{
		Filters: []api.Filter{{Name: str("attachment.instance-id"), Values: []string{*inst.InstanceId}}}}))
	var data *api.Volume
	for i, v := range all.Volumes {
		if *v.VolumeId != rootID {
			data = &all.Volumes[i]
		}
	}
	if len(all.Volumes) != 2 || data == nil || *data.Size != 5 || *data.Attachments[0].Device != "/dev/sdf" || !*data.Attachments[0].DeleteOnTermination {
		t.Fatalf("volumes = %+v", all.Volumes)
	}
	if devs := e.blockDevices(t, *inst.InstanceId); len(devs) != 1 || devs[0].GuestPath != "/dev/xvdf" {
		t.Fatalf("machine devices = %+v", devs)
	}
	// Terminate: the kept root becomes available, the data volume goes.
	must[*api.TerminateInstancesResult](t)(e.svc.TerminateInstances(ctx, &api.TerminateInstancesRequest{InstanceIds: []string{*inst.InstanceId}}))
	e.svc.Wait()
	e.wantAvailable(t, ctx, rootID)
	_, err = e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{VolumeIds: []string{*data.VolumeId}})
	wantCode(t, err, "InvalidVolume.NotFound")

	for _, c := range []struct {
		bdm  api.BlockDeviceMapping
		code string
	}{
		{api.BlockDeviceMapping{DeviceName: str("/dev/xvda"), Ebs: &api.EbsBlockDevice{VolumeType: str("st1"), VolumeSize: i32(500)}}, "InvalidBlockDeviceMapping"},
		{api.BlockDeviceMapping{DeviceName: str("/dev/xvda"), Ebs: &api.EbsBlockDevice{VolumeType: str("io1")}}, "InvalidParameterCombination"},
		{api.BlockDeviceMapping{DeviceName: str("/dev/xvda"), NoDevice: str("")}, "InvalidBlockDeviceMapping"},
		{api.BlockDeviceMapping{DeviceName: str("/dev/sdg"), Ebs: &api.EbsBlockDevice{}}, "InvalidBlockDeviceMapping"},
		{api.BlockDeviceMapping{DeviceName: str("/dev/sdg"), Ebs: &api.EbsBlockDevice{VolumeSize: i32(5), VolumeType: str("gp2"), Iops: i32(300)}}, "InvalidParameterCombination"},
		{api.BlockDeviceMapping{DeviceName: str("/dev/nope"), Ebs: &api.EbsBlockDevice{VolumeSize: i32(5)}}, "InvalidBlockDeviceMapping"},
	} {
		_, err := e.runWith(t, ctx, c.bdm)
		wantCode(t, err, c.code)
	}
}

// RegisterImage makes an AMI of a snapshot of a root volume; an instance of it boots from that snapshot.
func TestRegisterImageFromSnapshot(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	inst, err := e.runWith(t, ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap := e.snapshot(t, ctx, *inst.BlockDeviceMappings[0].Ebs.VolumeId, "root")
	e.svc.Wait()
	out, err := e.svc.RegisterImage(ctx, &api.RegisterImageRequest{Name: str("from snapshot"), RootDeviceName: str("/dev/xvda"),
		Architecture: str("x86_64"), VirtualizationType: str("hvm"), BlockDeviceMappings: []api.BlockDeviceMapping{
			{DeviceName: str("/dev/xvda"), Ebs: &api.EbsBlockDevice{SnapshotId: snap.SnapshotId, VolumeType: str("gp3")}}}})
	if err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	res := must[*api.Reservation](t)(e.svc.RunInstances(ctx, &api.RunInstancesRequest{ImageId: out.ImageId, InstanceType: str("t3.micro"), MinCount: &one, MaxCount: &one}))
	e.svc.Wait()
	copyInst := e.describeInstance(t, ctx, *res.Instances[0].InstanceId)
	root := *copyInst.BlockDeviceMappings[0].Ebs.VolumeId
	if *copyInst.State.Name != "running" || e.host.restored[root] != *snap.SnapshotId {
		t.Fatalf("instance of the registered AMI: %s, root restored from %q", *copyInst.State.Name, e.host.restored[root])
	}
	if v := e.describeVolume(t, ctx, root); *v.SnapshotId != *snap.SnapshotId || *v.VolumeType != "gp3" {
		t.Fatalf("root volume = %+v", v)
	}
	_, err = e.svc.DeleteSnapshot(ctx, &api.DeleteSnapshotRequest{SnapshotId: snap.SnapshotId})
	wantCode(t, err, "InvalidSnapshot.InUse")

	for _, in := range []*api.RegisterImageRequest{
		{Name: str("no root"), BlockDeviceMappings: []api.BlockDeviceMapping{{DeviceName: str("/dev/xvda"), Ebs: &api.EbsBlockDevice{SnapshotId: snap.SnapshotId}}}},
		{Name: str("root unmapped"), RootDeviceName: str("/dev/xvda")},
		{Name: str("s3 ami"), ImageLocation: str("bucket/image.manifest.xml")},
	} {
		_, err := e.svc.RegisterImage(ctx, in)
		if err == nil {
			t.Errorf("RegisterImage %s succeeded", *in.Name)
		}
	}
	_, err = e.svc.RegisterImage(ctx, &api.RegisterImageRequest{Name: str("unknown snapshot"), RootDeviceName: str("/dev/xvda"),
		BlockDeviceMappings: []api.BlockDeviceMapping{{DeviceName: str("/dev/xvda"), Ebs: &api.EbsBlockDevice{SnapshotId: str("snap-0123456789abcdef0")}}}})
	wantCode(t, err, "InvalidSnapshot.NotFound")
}

// ModifyInstanceAttribute changes DeleteOnTermination; DescribeInstanceAttribute shows every mapping.
func TestModifyDeleteOnTermination(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	inst, err := e.runWith(t, ctx, api.BlockDeviceMapping{DeviceName: str("/dev/sdf"), Ebs: &api.EbsBlockDevice{VolumeSize: i32(1)}})
	if err != nil {
		t.Fatal(err)
	}
	id := *inst.InstanceId
	must[*wire.Empty](t)(e.svc.ModifyInstanceAttribute(ctx, &api.ModifyInstanceAttributeRequest{InstanceId: &id,
		BlockDeviceMappings: []api.InstanceBlockDeviceMappingSpecification{{DeviceName: str("/dev/xvda"),
			Ebs: &api.EbsInstanceBlockDeviceSpecification{DeleteOnTermination: boolp(false)}}}}))
	attr := must[*api.InstanceAttribute](t)(e.svc.DescribeInstanceAttribute(ctx, &api.DescribeInstanceAttributeRequest{InstanceId: &id,
		Attribute: str("blockDeviceMapping")}))
	if len(attr.BlockDeviceMappings) != 2 || *attr.BlockDeviceMappings[0].DeviceName != "/dev/xvda" ||
		*attr.BlockDeviceMappings[0].Ebs.DeleteOnTermination || !*attr.BlockDeviceMappings[1].Ebs.DeleteOnTermination {
		t.Fatalf("blockDeviceMapping = %+v", attr.BlockDeviceMappings)
	}
	dataVol := *attr.BlockDeviceMappings[1].Ebs.VolumeId
	for _, f := range []api.Filter{
		{Name: str("block-device-mapping.volume-id"), Values: []string{dataVol}},
		{Name: str("block-device-mapping.device-name"), Values: []string{"/dev/sdf"}},
		{Name: str("block-device-mapping.delete-on-termination"), Values: []string{"false"}},
	} {
		out := must[*api.DescribeInstancesResult](t)(e.svc.DescribeInstances(ctx, &api.DescribeInstancesRequest{Filters: []api.Filter{f}}))
		if len(out.Reservations) != 1 || *out.Reservations[0].Instances[0].InstanceId != id {
			t.Errorf("filter %s=%v found %+v", *f.Name, f.Values, out.Reservations)
		}
	}
	_, err = e.svc.ModifyInstanceAttribute(ctx, &api.ModifyInstanceAttributeRequest{InstanceId: &id,
		BlockDeviceMappings: []api.InstanceBlockDeviceMappingSpecification{{DeviceName: str("/dev/sdz"),
			Ebs: &api.EbsInstanceBlockDeviceSpecification{DeleteOnTermination: boolp(false)}}}})
	wantCode(t, err, "InvalidInstanceAttributeValue")
	must[*api.TerminateInstancesResult](t)(e.svc.TerminateInstances(ctx, &api.TerminateInstancesRequest{InstanceIds: []string{id}}))
	e.svc.Wait()
	e.wantAvailable(t, ctx, *inst.BlockDeviceMappings[0].Ebs.VolumeId)
}
