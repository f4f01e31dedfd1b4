package ec2

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/store"
)

// newAMIEnv is an environment whose volumes are kept in memory: root volumes, and the snapshots AMIs name.
func newAMIEnv(t *testing.T) (*env, *memVolumes) {
	t.Helper()
	e := newEnv(t)
	vols := newMemVolumes()
	e.svc = New(Config{Store: e.st, Clock: e.clock.Now, Compute: e.machines, Images: testImages, Volumes: vols,
		Logger: slog.New(slog.DiscardHandler)})
	return e, vols
}

// rootVolume is the root volume of an instance.
func rootVolume(t *testing.T, svc *Service, ctx context.Context, id string) string {
	t.Helper()
	out, err := svc.DescribeInstances(ctx, &api.DescribeInstancesRequest{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	return *out.Reservations[0].Instances[0].BlockDeviceMappings[0].Ebs.VolumeId
}

func (e *env) createImage(t *testing.T, ctx context.Context, in *api.CreateImageRequest) string {
	t.Helper()
	out, err := e.svc.CreateImage(ctx, in)
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	e.svc.Wait()
	return *out.ImageId
}

func (e *env) launchIn(t *testing.T, ctx context.Context, ami, userData string) (string, error) {
	t.Helper()
	res, err := e.svc.RunInstances(ctx, &api.RunInstancesRequest{ImageId: &ami, InstanceType: ptr("t2.micro"),
		MinCount: ptr(int32(1)), MaxCount: ptr(int32(1)), UserData: ptr(base64.StdEncoding.EncodeToString([]byte(userData)))})
	if err != nil {
		return "", err
	}
	e.svc.Wait()
	return *res.Instances[0].InstanceId, nil
}

func describeImages(t *testing.T, svc *Service, ctx context.Context, in *api.DescribeImagesRequest) []api.Image {
	t.Helper()
	out, err := svc.DescribeImages(ctx, in)
	if err != nil {
		t.Fatalf("DescribeImages: %v", err)
	}
	return out.Images
}

func TestCreateImageTakesTheRootVolumeAndLaunches(t *testing.T) {
	e, vols := newAMIEnv(t)
	owner := inRegion("111111111111", "us-east-1")
	src, err := e.launchIn(t, owner, testAMI, "#!/bin/sh\necho app v1 > /opt/app/version\n")
	if err != nil {
		t.Fatal(err)
	}
	ami := e.createImage(t, owner, &api.CreateImageRequest{InstanceId: &src, Name: ptr("my app"), Description: ptr("v1"),
		TagSpecifications: []api.TagSpecification{{ResourceType: ptr("image"), Tags: []api.Tag{{Key: ptr("app"), Value: ptr("v1")}}},
			{ResourceType: ptr("snapshot"), Tags: []api.Tag{{Key: ptr("part"), Value: ptr("root")}}}}})

	imgs := describeImages(t, e.svc, owner, &api.DescribeImagesRequest{Owners: []string{"self"}})
	if len(imgs) != 1 || *imgs[0].ImageId != ami || *imgs[0].State != "available" || *imgs[0].OwnerId != "111111111111" ||
		*imgs[0].Public || *imgs[0].Name != "my app" || len(imgs[0].Tags) != 1 || *imgs[0].SourceInstanceId != src {
		t.Fatalf("DescribeImages self = %+v", imgs)
	}
	ebs := imgs[0].BlockDeviceMappings[0].Ebs
	if *imgs[0].BlockDeviceMappings[0].DeviceName != "/dev/xvda" || *ebs.VolumeSize != 1 || !*ebs.DeleteOnTermination || *ebs.Encrypted {
		t.Fatalf("root mapping = %+v", ebs)
	}
	snap := *ebs.SnapshotId
	if _, ok := vols.snapshots[snap]; !ok {
		t.Fatalf("the image's snapshot %s was not taken on the host: %v", snap, vols.snapshots)
	}
	for _, f := range [][]api.Filter{
		{{Name: ptr("name"), Values: []string{"my*"}}},
		{{Name: ptr("tag:app"), Values: []string{"v1"}}},
		{{Name: ptr("block-device-mapping.snapshot-id"), Values: []string{snap}}},
		{{Name: ptr("owner-id"), Values: []string{"111111111111"}}, {Name: ptr("is-public"), Values: []string{"false"}}},
	} {
		if got := describeImages(t, e.svc, owner, &api.DescribeImagesRequest{Filters: f}); len(got) != 1 {
			t.Errorf("filter %s: %d images", *f[0].Name, len(got))
		}
	}
	if got := describeImages(t, e.svc, owner, &api.DescribeImagesRequest{Owners: []string{"amazon"}}); len(got) != len(testImages) {
		t.Errorf("Owners amazon: %d images, want the %d quick-start ones", len(got), len(testImages))
	}
	snaps, err := e.svc.DescribeSnapshots(owner, &api.DescribeSnapshotsRequest{SnapshotIds: []string{snap}})
	if err != nil || len(snaps.Snapshots) != 1 || *snaps.Snapshots[0].State != "completed" || len(snaps.Snapshots[0].Tags) != 1 {
		t.Fatalf("the image's snapshot: %+v, %v", snaps, err)
	}
	_, err = e.svc.DeleteSnapshot(owner, &api.DeleteSnapshotRequest{SnapshotId: &snap})
	wantCode(t, err, "InvalidSnapshot.InUse")

	_, err = e.svc.CreateImage(owner, &api.CreateImageRequest{InstanceId: &src, Name: ptr("my app")})
	wantCode(t, err, "InvalidAMIName.Duplicate")
	_, err = e.svc.CreateImage(owner, &api.CreateImageRequest{InstanceId: &src, Name: ptr("x!")})
	wantCode(t, err, "InvalidAMIName.Malformed")
	_, err = e.svc.CreateImage(owner, &api.CreateImageRequest{InstanceId: &src, Name: ptr("two disks"),
		BlockDeviceMappings: []api.BlockDeviceMapping{{DeviceName: ptr("/dev/sdf"), Ebs: &api.EbsBlockDevice{VolumeSize: ptr(int32(8))}}}})
	wantCode(t, err, "InvalidBlockDeviceMapping")

	// The owner launches it; the new instance's disk is the image.
	copyID, err := e.launchIn(t, owner, ami, "#!/bin/sh\necho mine > /tmp/marker\n")
	if err != nil {
		t.Fatalf("RunInstances of the custom AMI: %v", err)
	}
	insts, err := e.svc.DescribeInstances(owner, &api.DescribeInstancesRequest{InstanceIds: []string{copyID}})
	if err != nil || *insts.Reservations[0].Instances[0].ImageId != ami {
		t.Fatalf("instance of the custom AMI = %+v, %v", insts, err)
	}
	if got := vols.restored[rootVolume(t, e.svc, owner, copyID)]; got != snap {
		t.Fatalf("the new instance's root volume was restored from %q, want the AMI's snapshot %s", got, snap)
	}

	// Another account may not, until the owner shares it; then it sees it as executable by itself.
	other := inRegion("222222222222", "us-east-1")
	_, err = e.launchIn(t, other, ami, "")
	wantCode(t, err, "InvalidAMIID.NotFound")
	if got := describeImages(t, e.svc, other, &api.DescribeImagesRequest{}); len(got) != len(testImages) {
		t.Fatalf("another account sees %d images before sharing", len(got))
	}
	_, err = e.svc.ModifyImageAttribute(owner, &api.ModifyImageAttributeRequest{ImageId: &ami,
		LaunchPermission: &api.LaunchPermissionModifications{Add: []api.LaunchPermission{{UserId: ptr("222222222222")}}}})
	if err != nil {
		t.Fatal(err)
	}
	attr, err := e.svc.DescribeImageAttribute(owner, &api.DescribeImageAttributeRequest{ImageId: &ami, Attribute: ptr("launchPermission")})
	if err != nil || len(attr.LaunchPermissions) != 1 || *attr.LaunchPermissions[0].UserId != "222222222222" {
		t.Fatalf("launchPermission = %+v, %v", attr, err)
	}
	if got := describeImages(t, e.svc, other, &api.DescribeImagesRequest{ExecutableUsers: []string{"self"}}); len(got) != 1 || len(got[0].Tags) != 0 {
		t.Fatalf("ExecutableUsers self after sharing: %+v", got)
	}
	if _, err := e.launchIn(t, other, ami, ""); err != nil {
		t.Fatalf("RunInstances of a shared AMI: %v", err)
	}
	_, err = e.svc.DescribeImageAttribute(other, &api.DescribeImageAttributeRequest{ImageId: &ami, Attribute: ptr("description")})
	wantCode(t, err, "InvalidAMIID.NotFound")
	if _, err := e.svc.ResetImageAttribute(owner, &api.ResetImageAttributeRequest{ImageId: &ami, Attribute: ptr("launchPermission")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.launchIn(t, other, ami, "")
	wantCode(t, err, "InvalidAMIID.NotFound")
	// Public.
	e.svc.ModifyImageAttribute(owner, &api.ModifyImageAttributeRequest{ImageId: &ami, Attribute: ptr("launchPermission"),
		OperationType: ptr("add"), UserGroups: []string{"all"}})
	if got := describeImages(t, e.svc, other, &api.DescribeImagesRequest{ExecutableUsers: []string{"all"}, Owners: []string{"111111111111"}}); len(got) != 1 || !*got[0].Public {
		t.Fatalf("ExecutableUsers all after making it public: %+v", got)
	}
	e.svc.ModifyImageAttribute(owner, &api.ModifyImageAttributeRequest{ImageId: &ami, Description: &api.AttributeValue{Value: ptr("v1.1")}})
	attr, _ = e.svc.DescribeImageAttribute(owner, &api.DescribeImageAttributeRequest{ImageId: &ami, Attribute: ptr("description")})
	if *attr.Description.Value != "v1.1" {
		t.Fatalf("description = %+v", attr.Description)
	}

	// Copy into another region: a new AMI there, not in the source region.
	west := inRegion("111111111111", "us-west-2")
	cp, err := e.svc.CopyImage(west, &api.CopyImageRequest{SourceRegion: ptr("us-east-1"), SourceImageId: &ami, Name: ptr("my app copy")})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Wait()
	if got := describeImages(t, e.svc, west, &api.DescribeImagesRequest{Owners: []string{"self"}}); len(got) != 1 ||
		*got[0].ImageId != *cp.ImageId || *got[0].State != "available" || *got[0].Description != "v1.1" {
		t.Fatalf("the copy in us-west-2: %+v", got)
	}
	_, err = e.launchIn(t, owner, *cp.ImageId, "")
	wantCode(t, err, "InvalidAMIID.NotFound")

	// Deregister: gone from Describe and RunInstances, removed from the store, its snapshot deletable.
	if _, err := e.svc.DeregisterImage(owner, &api.DeregisterImageRequest{ImageId: &ami}); err != nil {
		t.Fatal(err)
	}
	if got := describeImages(t, e.svc, owner, &api.DescribeImagesRequest{Owners: []string{"self"}}); len(got) != 0 {
		t.Fatalf("images after deregister: %+v", got)
	}
	_, err = e.svc.DeregisterImage(owner, &api.DeregisterImageRequest{ImageId: &ami})
	wantCode(t, err, "InvalidAMIID.NotFound")
	_, err = e.launchIn(t, owner, ami, "")
	wantCode(t, err, "InvalidAMIID.NotFound")
	if _, err := e.svc.DeleteSnapshot(owner, &api.DeleteSnapshotRequest{SnapshotId: &snap}); err != nil {
		t.Fatalf("DeleteSnapshot after deregister: %v", err)
	}
	// The name is free again.
	e.createImage(t, owner, &api.CreateImageRequest{InstanceId: &src, Name: ptr("my app"), NoReboot: ptr(true)})
}

// An AMI whose build a restart cut short fails with the reason, and its snapshot with it.
func TestRecoverImagesFailsInterruptedBuilds(t *testing.T) {
	e, _ := newAMIEnv(t)
	owner := inRegion("111111111111", "us-east-1")
	src, err := e.launchIn(t, owner, testAMI, "#!/bin/sh\necho v1 > /opt/v\n")
	if err != nil {
		t.Fatal(err)
	}
	ami := e.createImage(t, owner, &api.CreateImageRequest{InstanceId: &src, Name: ptr("interrupted")})
	// As if the process had stopped mid-build: the record is still pending.
	if _, err := store.Mutate(owner, e.st, imageKey("111111111111", "us-east-1", ami), func(r *imageRecord) error {
		r.State = imagePending
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RecoverImages(e.ctx); err != nil {
		t.Fatal(err)
	}
	imgs := describeImages(t, e.svc, owner, &api.DescribeImagesRequest{ImageIds: []string{ami}})
	if len(imgs) != 1 || *imgs[0].State != "failed" || imgs[0].StateReason == nil ||
		!strings.Contains(*imgs[0].StateReason.Message, "restarted") {
		t.Fatalf("interrupted image: %+v", imgs)
	}
}
