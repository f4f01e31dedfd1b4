package e2e

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestEBSSDK drives EBS volumes and snapshots with aws-sdk-go-v2 and its waiters: a gp3 volume, a snapshot of
// it, a volume restored from the snapshot, the errors AWS gives for a wrong Availability Zone and for IOPS
// the type does not take, and deletion. Volumes are real files of the server's volume store, which runs
// without compute (and without root).
func TestEBSSDK(t *testing.T) {
	s := startServer(t, "")
	ctx := ctxT(t)
	c := ec2.NewFromConfig(s.rootConfig())
	fast := func(o *ec2.SnapshotCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	}

	created, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{
		AvailabilityZone: aws.String("us-east-1a"), VolumeType: types.VolumeTypeGp3, Size: aws.Int32(8),
		Iops: aws.Int32(4000), Throughput: aws.Int32(250),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("data")}}}},
	})
	if err != nil {
		t.Fatalf("CreateVolume (the server must wire a volume store for EBS): %v", err)
	}
	volID := aws.ToString(created.VolumeId)
	t.Cleanup(func() { _, _ = c.DeleteVolume(ctxT(t), &ec2.DeleteVolumeInput{VolumeId: &volID}) })
	if err := ec2.NewVolumeAvailableWaiter(c, func(o *ec2.VolumeAvailableWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second }).
		Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{volID}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	desc, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"data"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Volumes) != 1 {
		t.Fatalf("volumes tagged data: %+v", desc.Volumes)
	}
	v := desc.Volumes[0]
	if aws.ToString(v.VolumeId) != volID || v.VolumeType != types.VolumeTypeGp3 || aws.ToInt32(v.Size) != 8 || aws.ToInt32(v.Iops) != 4000 ||
		aws.ToInt32(v.Throughput) != 250 || v.State != types.VolumeStateAvailable || aws.ToString(v.AvailabilityZone) != "us-east-1a" ||
		aws.ToBool(v.Encrypted) || v.CreateTime == nil {
		t.Fatalf("described %+v", v)
	}

	snap, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: &volID, Description: aws.String("first")})
	if err != nil {
		t.Fatal(err)
	}
	snapID := aws.ToString(snap.SnapshotId)
	t.Cleanup(func() { _, _ = c.DeleteSnapshot(ctxT(t), &ec2.DeleteSnapshotInput{SnapshotId: &snapID}) })
	if aws.ToString(snap.VolumeId) != volID || aws.ToInt32(snap.VolumeSize) != 8 || aws.ToString(snap.OwnerId) != "000000000000" {
		t.Fatalf("snapshot %+v", snap)
	}
	if err := ec2.NewSnapshotCompletedWaiter(c, fast).Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapID}}, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	snaps, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps.Snapshots) != 1 || aws.ToString(snaps.Snapshots[0].Progress) != "100%" || snaps.Snapshots[0].State != types.SnapshotStateCompleted {
		t.Fatalf("snapshots %+v", snaps.Snapshots)
	}

	restored, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1b"), SnapshotId: &snapID})
	if err != nil {
		t.Fatal(err)
	}
	restoredID := aws.ToString(restored.VolumeId)
	t.Cleanup(func() { _, _ = c.DeleteVolume(ctxT(t), &ec2.DeleteVolumeInput{VolumeId: &restoredID}) })
	if aws.ToInt32(restored.Size) != 8 || aws.ToString(restored.SnapshotId) != snapID || restored.VolumeType != types.VolumeTypeGp2 {
		t.Fatalf("restored %+v", restored)
	}

	// AWS's errors.
	_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-west-2a"), Size: aws.Int32(1)})
	wantCode(t, err, "InvalidParameterValue", 400)
	_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(100), VolumeType: types.VolumeTypeGp2, Iops: aws.Int32(3000)})
	wantCode(t, err, "InvalidParameterCombination", 400)
	_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(10), VolumeType: types.VolumeTypeIo1, Iops: aws.Int32(1000)})
	wantCode(t, err, "InvalidParameterValue", 400)
	_, err = c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(100), VolumeType: types.VolumeTypeSt1})
	wantCode(t, err, "InvalidParameterValue", 400)
	_, err = c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{"vol-0123456789abcdef0"}})
	wantCode(t, err, "InvalidVolume.NotFound", 400)

	// Deletion: the snapshot outlives its volume; the volumes and the snapshot then go.
	for _, id := range []string{volID, restoredID} {
		if _, err := c.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ec2.NewVolumeDeletedWaiter(c, func(o *ec2.VolumeDeletedWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second }).
		Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{volID}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1c"), SnapshotId: &snapID, Size: aws.Int32(16)})
	if err != nil {
		t.Fatalf("restore after the source volume was deleted: %v", err)
	}
	if _, err := c.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: again.VolumeId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &snapID}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &snapID})
	wantCode(t, err, "InvalidSnapshot.NotFound", 400)
	left, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Volumes) != 0 {
		t.Fatalf("volumes left %+v", left.Volumes)
	}
}
