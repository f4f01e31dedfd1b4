package ec2

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/fake"
)

// Device and ReleaseDevice make memVolumes hand out block device names; fail["device"] scripts an error.
func (m *memVolumes) Device(ctx context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail["device"]; err != nil {
		return "", err
	}
	if _, ok := m.volumes[id]; !ok {
		return "", fmt.Errorf("no volume %s", id)
	}
	if dev, ok := m.devices[id]; ok {
		return dev, nil
	}
	dev := fmt.Sprintf("/dev/loop%d", 10+len(m.devices))
	m.devices[id] = dev
	return dev, nil
}

func (m *memVolumes) ReleaseDevice(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.devices, id)
	return nil
}

func (m *memVolumes) hasDevice(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.devices[id]
	return ok
}

// launch runs one instance and waits for it to run; it returns its id and Availability Zone.
func (e *ebsEnv) launch(t *testing.T, ctx context.Context) (string, string) {
	t.Helper()
	one := int32(1)
	res, err := e.svc.RunInstances(ctx, &api.RunInstancesRequest{ImageId: str(testAMI), InstanceType: str("t2.micro"), MinCount: &one, MaxCount: &one})
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	e.svc.Wait()
	in := res.Instances[0]
	return *in.InstanceId, *in.Placement.AvailabilityZone
}

func (e *ebsEnv) machines() *fake.Driver { return e.svc.compute.(*fake.Driver) }

func (e *ebsEnv) blockDevices(t *testing.T, id string) []compute.BlockDevice {
	t.Helper()
	devs, err := e.machines().BlockDevices(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return devs
}

func (e *ebsEnv) attach(t *testing.T, ctx context.Context, vol, inst, device string) api.VolumeAttachment {
	t.Helper()
	out, err := e.svc.AttachVolume(ctx, &api.AttachVolumeRequest{VolumeId: &vol, InstanceId: &inst, Device: &device})
	if err != nil {
		t.Fatalf("AttachVolume: %v", err)
	}
	return *out
}

func (e *ebsEnv) wantAvailable(t *testing.T, ctx context.Context, vol string) {
	t.Helper()
	v := e.describeVolume(t, ctx, vol)
	if *v.State != volumeAvailable || len(v.Attachments) != 0 {
		t.Fatalf("volume %s is %s with %d attachments, want available with none", vol, *v.State, len(v.Attachments))
	}
	if e.host.hasDevice(vol) {
		t.Fatalf("volume %s still has its host device", vol)
	}
}

func TestAttachDetachVolume(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	inst, az := e.launch(t, ctx)
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(200), VolumeType: str("gp3"), Iops: i32(4000),
		Throughput: i32(250), AvailabilityZone: &az}).VolumeId

	got := e.attach(t, ctx, vol, inst, "/dev/sdf")
	if *got.State != "attaching" || *got.Device != "/dev/sdf" || *got.InstanceId != inst || *got.VolumeId != vol {
		t.Errorf("AttachVolume answered %+v", got)
	}
	v := e.describeVolume(t, ctx, vol)
	if *v.State != "in-use" || len(v.Attachments) != 1 || *v.Attachments[0].State != "attached" ||
		*v.Attachments[0].Device != "/dev/sdf" || *v.Attachments[0].InstanceId != inst || *v.Attachments[0].DeleteOnTermination {
		t.Fatalf("DescribeVolumes after attach: %+v", v)
	}
	want := []compute.BlockDevice{{HostPath: e.host.devices[vol], GuestPath: "/dev/xvdf", IOPS: 4000, MBps: 250}}
	if devs := e.blockDevices(t, inst); !slices.Equal(devs, want) {
		t.Fatalf("machine devices = %+v, want %+v", devs, want)
	}
	filtered := must[*api.DescribeVolumesResult](t)(e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{
		Filters: []api.Filter{{Name: str("attachment.instance-id"), Values: []string{inst}}}}))
	if len(filtered.Volumes) != 2 { // the root volume and this one
		t.Errorf("attachment.instance-id filter found %d volumes", len(filtered.Volumes))
	}

	// A busy volume is not detached.
	e.machines().SetMounted(inst, "/dev/xvdf", true)
	_, err := e.svc.DetachVolume(ctx, &api.DetachVolumeRequest{VolumeId: &vol, Force: boolp(true)})
	wantCode(t, err, "VolumeInUse")
	if v := e.describeVolume(t, ctx, vol); *v.State != "in-use" || *v.Attachments[0].State != "attached" {
		t.Fatalf("a failed detach left the volume %s/%s", *v.State, *v.Attachments[0].State)
	}
	e.machines().SetMounted(inst, "/dev/xvdf", false)

	_, err = e.svc.DetachVolume(ctx, &api.DetachVolumeRequest{VolumeId: &vol, InstanceId: str("i-0123456789abcdef0")})
	wantCode(t, err, "InvalidAttachment.NotFound")
	out := must[*api.VolumeAttachment](t)(e.svc.DetachVolume(ctx, &api.DetachVolumeRequest{VolumeId: &vol, InstanceId: &inst, Device: str("/dev/sdf")}))
	if *out.State != "detaching" {
		t.Errorf("DetachVolume answered %s, want detaching", *out.State)
	}
	e.wantAvailable(t, ctx, vol)
	if devs := e.blockDevices(t, inst); len(devs) != 0 {
		t.Errorf("machine devices after detach: %+v", devs)
	}
	_, err = e.svc.DetachVolume(ctx, &api.DetachVolumeRequest{VolumeId: &vol})
	wantCode(t, err, "IncorrectState")
	must[any](t)(e.svc.DeleteVolume(ctx, &api.DeleteVolumeRequest{VolumeId: &vol}))
}

func TestAttachVolumeErrors(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	inst, az := e.launch(t, ctx)
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(10), AvailabilityZone: &az}).VolumeId
	other := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(10), AvailabilityZone: &az}).VolumeId
	elsewhere := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(10), AvailabilityZone: str(regionOf(ctx) + "c")}).VolumeId
	if az == regionOf(ctx)+"c" {
		t.Fatal("the instance launched in the zone the test takes for another one")
	}
	attach := func(vol, inst, device string) error {
		_, err := e.svc.AttachVolume(ctx, &api.AttachVolumeRequest{VolumeId: &vol, InstanceId: &inst, Device: &device})
		return err
	}
	for _, bad := range []string{"/dev/sda1", "/dev/xvda1", "sdf", "/dev/sdf1", "/dev/hdf", ""} {
		if err := attach(vol, inst, bad); err == nil {
			t.Errorf("device %q accepted", bad)
		}
	}
	wantCode(t, attach(vol, inst, "/dev/xvda"), "InvalidParameterValue") // the root device
	wantCode(t, attach("vol-0123456789abcdef0", inst, "/dev/sdf"), "InvalidVolume.NotFound")
	wantCode(t, attach(vol, "i-0123456789abcdef0", "/dev/sdf"), "InvalidInstanceID.NotFound")
	wantCode(t, attach(elsewhere, inst, "/dev/sdf"), "InvalidVolume.ZoneMismatch")

	e.attach(t, ctx, vol, inst, "/dev/sdf")
	wantCode(t, attach(vol, inst, "/dev/sdg"), "VolumeInUse")
	err := attach(other, inst, "/dev/xvdf") // the same attachment point under its other name
	wantCode(t, err, "InvalidParameterValue")
	if err == nil || !strings.Contains(err.Error(), "Attachment point /dev/xvdf is already in use") {
		t.Errorf("second volume at /dev/xvdf: %v", err)
	}
	_, err = e.svc.DeleteVolume(ctx, &api.DeleteVolumeRequest{VolumeId: &vol})
	wantCode(t, err, "VolumeInUse")

	// A host failure rolls the attachment back.
	e.host.failing("device", errors.New("no loop device free"))
	if err := attach(other, inst, "/dev/sdg"); err == nil {
		t.Fatal("AttachVolume succeeded while the host failed")
	}
	e.host.failing("device", nil)
	e.wantAvailable(t, ctx, other)

	// Only running and stopped instances take volumes.
	must[any](t)(e.svc.TerminateInstances(ctx, &api.TerminateInstancesRequest{InstanceIds: []string{inst}}))
	e.svc.Wait()
	wantCode(t, attach(other, inst, "/dev/sdg"), "IncorrectInstanceState")
}

// TestAttachmentsFollowTheInstance: attachments are kept through stop and start, a stopped instance takes
// a volume that is there at its next boot, and termination gives the volumes back.
func TestAttachmentsFollowTheInstance(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	inst, az := e.launch(t, ctx)
	data := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(50), AvailabilityZone: &az}).VolumeId
	late := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8), VolumeType: str("io1"), Iops: i32(400), AvailabilityZone: &az}).VolumeId
	e.attach(t, ctx, data, inst, "/dev/sdf")

	must[any](t)(e.svc.StopInstances(ctx, &api.StopInstancesRequest{InstanceIds: []string{inst}}))
	e.svc.Wait()
	e.attach(t, ctx, late, inst, "/dev/sdh")
	must[any](t)(e.svc.StartInstances(ctx, &api.StartInstancesRequest{InstanceIds: []string{inst}}))
	e.svc.Wait()
	devs := e.blockDevices(t, inst)
	want := []compute.BlockDevice{
		{HostPath: e.host.devices[data], GuestPath: "/dev/xvdf", IOPS: 150}, // gp2: 3 IOPS per GiB
		{HostPath: e.host.devices[late], GuestPath: "/dev/xvdh", IOPS: 400},
	}
	if !slices.Equal(devs, want) {
		t.Fatalf("machine devices after stop and start = %+v, want %+v", devs, want)
	}
	for _, vol := range []string{data, late} {
		if v := e.describeVolume(t, ctx, vol); *v.State != "in-use" {
			t.Errorf("%s is %s after stop and start", vol, *v.State)
		}
	}

	must[any](t)(e.svc.TerminateInstances(ctx, &api.TerminateInstancesRequest{InstanceIds: []string{inst}}))
	e.svc.Wait()
	e.wantAvailable(t, ctx, data)
	e.wantAvailable(t, ctx, late)
}

// TestRecoverAttachments: after a crash, an attachment left attaching or detaching is settled from what the
// machine has.
func TestRecoverAttachments(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	inst, az := e.launch(t, ctx)
	there := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(4), AvailabilityZone: &az}).VolumeId
	gone := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(4), AvailabilityZone: &az}).VolumeId
	e.attach(t, ctx, there, inst, "/dev/sdf")
	// As a crash would leave them: "there" recorded detaching with the device still in the machine, "gone"
	// recorded attaching with nothing done on the host.
	e.svc.setAttachmentState(ctx, there, inst, attachDetaching)
	if _, err := e.svc.mutateVolume(ctx, gone, func(v *volumeRecord) error {
		v.Attachments = []volumeAttachment{{InstanceID: inst, Device: "/dev/sdg", State: attachAttaching}}
		return v.setState(volumeInUse)
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RecoverEBS(ctx); err != nil {
		t.Fatal(err)
	}
	if v := e.describeVolume(t, ctx, there); *v.State != "in-use" || *v.Attachments[0].State != "attached" {
		t.Errorf("a volume whose device is in the machine: %s/%s after recovery", *v.State, *v.Attachments[0].State)
	}
	e.wantAvailable(t, ctx, gone)
}
