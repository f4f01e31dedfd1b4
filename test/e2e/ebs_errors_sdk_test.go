package e2e

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// TestEBSErrorsSDK drives, with aws-sdk-go-v2, the EBS errors of issue 4's acceptance that need a running
// instance, and checks each code, HTTP status and message against what AWS answers: a volume in use (attached
// again, deleted while attached), a volume in another Availability Zone than the instance, a snapshot that an AMI
// uses, and IOPS given to (or missing from) a type. TestEBSSDK covers the errors of volumes alone.
//
// Where AWS's answers come from: the codes and their meaning are in the EC2 API Reference, "Error codes for the
// Amazon EC2 API" (docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html), which also says that
// client errors are HTTP 400. The message texts are as users quote them from AWS in public issue threads, cited
// at each check.
func TestEBSErrorsSDK(t *testing.T) {
	testutil.RequiresRoot(t)
	s := startServer(t, "", withCompute())
	ctx := ctxT(t)
	c := ec2.NewFromConfig(s.rootConfig())
	fast := func(lo, hi *time.Duration) { *lo, *hi = 200*time.Millisecond, 2*time.Second }

	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(s.imageID(t, "debian-12")), InstanceType: types.InstanceTypeT2Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	az := aws.ToString(run.Instances[0].Placement.AvailabilityZone)
	t.Cleanup(func() { // before the server stops, so that a failed test leaves no machine running
		ctx := ctxT(t)
		_, _ = c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		_ = ec2.NewInstanceTerminatedWaiter(c, func(o *ec2.InstanceTerminatedWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
			Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, time.Minute)
	})
	if err := ec2.NewInstanceRunningWaiter(c, func(o *ec2.InstanceRunningWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, time.Minute); err != nil {
		t.Fatal(err)
	}

	newVolume := func(zone string) string {
		t.Helper()
		v, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String(zone), Size: aws.Int32(1), VolumeType: types.VolumeTypeGp3})
		if err != nil {
			t.Fatal(err)
		}
		vid := aws.ToString(v.VolumeId)
		t.Cleanup(func() { _, _ = c.DeleteVolume(ctxT(t), &ec2.DeleteVolumeInput{VolumeId: &vid}) })
		if err := ec2.NewVolumeAvailableWaiter(c, func(o *ec2.VolumeAvailableWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
			Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{vid}}, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		return vid
	}

	// Volume in use. AWS: VolumeInUse, "vol-… is already attached to an instance" for a second attach
	// (hashicorp/terraform-provider-aws#8565, portworx/px-dev#42 quote it); the errors overview: "The specified EBS volume is attached
	// to an instance", which DeleteVolume answers too.
	vol := newVolume(az)
	if _, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: &vol, InstanceId: &id, Device: aws.String("/dev/sdf")}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeInUseWaiter(c, func(o *ec2.VolumeInUseWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{vol}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: &vol, InstanceId: &id, Device: aws.String("/dev/sdg")})
	wantError(t, err, "VolumeInUse", 400, `^`+vol+` is already attached to an instance$`)
	_, err = c.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: &vol})
	wantError(t, err, "VolumeInUse", 400, vol)

	// Wrong Availability Zone. AWS: InvalidVolume.ZoneMismatch, "The specified volume and instance are in
	// different Availability Zones" (errors overview); the text "The volume 'vol-…' is not in the same
	// availability zone as instance 'i-…'" (linuxkit/linuxkit#2388, portworx/px-dev#42, both 400).
	other := "us-east-1a"
	if az == other {
		other = "us-east-1b"
	}
	far := newVolume(other)
	_, err = c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: &far, InstanceId: &id, Device: aws.String("/dev/sdh")})
	wantError(t, err, "InvalidVolume.ZoneMismatch", 400, `^The volume '`+far+`' is not in the same availability zone as instance '`+id+`'$`)

	// A snapshot an AMI uses. AWS: InvalidSnapshot.InUse, "The snapshot snap-… is currently in use by ami-…"
	// (quoted from AWS in gruntwork-io/cloud-nuke#727 and rebuy-de/aws-nuke#81, both 400). The EBS user guide,
	// "Delete an Amazon EBS snapshot": a snapshot of the root device of a registered AMI cannot be deleted.
	img, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: &id, Name: aws.String("errors-test"), NoReboot: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	ami := aws.ToString(img.ImageId)
	if err := ec2.NewImageAvailableWaiter(c, func(o *ec2.ImageAvailableWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).
		Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}}, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}})
	if err != nil {
		t.Fatal(err)
	}
	var rootSnap string
	for _, m := range imgs.Images[0].BlockDeviceMappings {
		if aws.ToString(m.DeviceName) == aws.ToString(imgs.Images[0].RootDeviceName) && m.Ebs != nil {
			rootSnap = aws.ToString(m.Ebs.SnapshotId)
		}
	}
	if rootSnap == "" {
		t.Fatalf("the AMI's block device mappings name no root snapshot: %+v", imgs.Images[0])
	}
	_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &rootSnap})
	wantError(t, err, "InvalidSnapshot.InUse", 400, `^The snapshot `+rootSnap+` is currently in use by `+ami+`$`)
	// Once the AMI is deregistered, the snapshot goes.
	if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &ami}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &rootSnap}); err != nil {
		t.Fatalf("DeleteSnapshot after DeregisterImage: %v", err)
	}

	// IOPS for the type. AWS: InvalidParameterCombination, "The parameter iops is not supported for gp2 volumes."
	// (kubernetes-retired/kube-aws#1208, from CloudTrail), the same for st1 (aws/aws-sdk#542), and "The parameter
	// iops must be specified for io1 volumes." (kubernetes-sigs/aws-ebs-csi-driver#766).
	_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: &az, Size: aws.Int32(100), VolumeType: types.VolumeTypeGp2, Iops: aws.Int32(300)})
	wantError(t, err, "InvalidParameterCombination", 400, `^The parameter iops is not supported for gp2 volumes\.$`)
	_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: &az, Size: aws.Int32(500), VolumeType: types.VolumeTypeSt1, Iops: aws.Int32(500)})
	wantError(t, err, "InvalidParameterCombination", 400, `^The parameter iops is not supported for st1 volumes\.$`)
	_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: &az, Size: aws.Int32(100), VolumeType: types.VolumeTypeIo1})
	wantError(t, err, "InvalidParameterCombination", 400, `^The parameter iops must be specified for io1 volumes\.$`)
}

// wantError checks an error's code and HTTP status as wantCode does, and that its message matches pattern.
func wantError(t *testing.T, err error, code string, status int, pattern string) {
	t.Helper()
	wantCode(t, err, code, status)
	var ae smithy.APIError
	if errors.As(err, &ae) && !regexp.MustCompile(pattern).MatchString(ae.ErrorMessage()) {
		t.Errorf("%s: message %q does not match %q", code, ae.ErrorMessage(), pattern)
	}
}
