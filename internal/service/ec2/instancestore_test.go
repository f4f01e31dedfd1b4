package ec2

import (
	"context"
	"slices"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
)

func TestInstanceTypesWithInstanceStore(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	out := must[*api.DescribeInstanceTypesResult](t)(e.svc.DescribeInstanceTypes(ctx, &api.DescribeInstanceTypesRequest{
		InstanceTypes: []string{"m5d.large", "c5d.24xlarge", "i3.16xlarge", "t2.micro"}}))
	got := map[string]api.InstanceTypeInfo{}
	for _, it := range out.InstanceTypes {
		got[*it.InstanceType] = it
	}
	for name, want := range map[string][2]int{"m5d.large": {1, 75}, "c5d.24xlarge": {4, 900}, "i3.16xlarge": {8, 1900}} {
		it := got[name]
		st := it.InstanceStorageInfo
		if !*it.InstanceStorageSupported || st == nil || len(st.Disks) != 1 || int(*st.Disks[0].Count) != want[0] ||
			int(*st.Disks[0].SizeInGB) != want[1] || *st.Disks[0].Type != "ssd" || int(*st.TotalSizeInGB) != want[0]*want[1] ||
			*st.NvmeSupport != "required" {
			t.Errorf("%s: supported %v, storage %+v", name, *it.InstanceStorageSupported, st)
		}
	}
	if it := got["t2.micro"]; *it.InstanceStorageSupported || it.InstanceStorageInfo != nil {
		t.Errorf("t2.micro has instance store: %+v", it.InstanceStorageInfo)
	}
	filtered := must[*api.DescribeInstanceTypesResult](t)(e.svc.DescribeInstanceTypes(ctx, &api.DescribeInstanceTypesRequest{
		Filters: []api.Filter{{Name: str("instance-storage-info.disk.count"), Values: []string{"8"}}}}))
	if len(filtered.InstanceTypes) != 1 || *filtered.InstanceTypes[0].InstanceType != "i3.16xlarge" {
		t.Errorf("types with 8 disks: %d", len(filtered.InstanceTypes))
	}
}

// TestInstanceStoreLivesFromBootToStop: an m5d.4xlarge boots with two empty 300 GB disks at /dev/xvdb and
// /dev/xvdc, which its stop deletes and its next start makes anew; a data volume attached at /dev/sdc while
// it is stopped takes that device; termination leaves nothing.
func TestInstanceStoreLivesFromBootToStop(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	res := must[*api.Reservation](t)(e.svc.RunInstances(ctx, &api.RunInstancesRequest{ImageId: str(testAMI), InstanceType: str("m5d.4xlarge"),
		MinCount: i32(1), MaxCount: i32(1)}))
	e.svc.Wait()
	id := *res.Instances[0].InstanceId
	guests := func() []string {
		var out []string
		for _, d := range e.blockDevices(t, id) {
			out = append(out, d.GuestPath)
		}
		return out
	}
	disks := func() map[string]int64 {
		out := map[string]int64{}
		for _, v := range e.host.volumeIDs() {
			if n, _ := e.host.volumeSize(v); len(v) > 10 && v[:10] == "ephemeral-" {
				out[v] = n
			}
		}
		return out
	}
	if g := guests(); !slices.Equal(g, []string{"/dev/xvdb", "/dev/xvdc"}) {
		t.Fatalf("devices of the running instance: %v", g)
	}
	if d := disks(); len(d) != 2 || d[ephemeralID(id, 0)] != 300e9 || d[ephemeralID(id, 1)] != 300e9 {
		t.Fatalf("host disks: %v", d)
	}
	inst := e.describeInstance(t, ctx, id)
	for _, m := range inst.BlockDeviceMappings {
		if *m.DeviceName != "/dev/xvda" {
			t.Errorf("DescribeInstances lists %s; only the root device is listed, not instance store", *m.DeviceName)
		}
	}

	must[*api.StopInstancesResult](t)(e.svc.StopInstances(ctx, &api.StopInstancesRequest{InstanceIds: []string{id}}))
	e.svc.Wait()
	if g, d := guests(), disks(); len(g) != 0 || len(d) != 0 {
		t.Fatalf("after stop: devices %v, host disks %v", g, d)
	}
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(1), AvailabilityZone: inst.Placement.AvailabilityZone}).VolumeId
	e.attach(t, ctx, vol, id, "/dev/sdc")
	must[*api.StartInstancesResult](t)(e.svc.StartInstances(ctx, &api.StartInstancesRequest{InstanceIds: []string{id}}))
	e.svc.Wait()
	if st := *e.describeInstance(t, ctx, id).State.Name; st != "running" {
		t.Fatalf("after start: %s", st)
	}
	if d := disks(); len(d) != 1 || d[ephemeralID(id, 0)] != 300e9 {
		t.Fatalf("after start with a volume at /dev/sdc: host disks %v", d)
	}
	devs := e.blockDevices(t, id)
	if len(devs) != 2 || devs[0].GuestPath != "/dev/xvdb" || devs[1].GuestPath != "/dev/xvdc" || devs[1].HostPath != e.host.devices[vol] {
		t.Fatalf("after start: %+v", devs)
	}

	must[*api.TerminateInstancesResult](t)(e.svc.TerminateInstances(ctx, &api.TerminateInstancesRequest{InstanceIds: []string{id}}))
	e.svc.Wait()
	if d := disks(); len(d) != 0 {
		t.Fatalf("after termination: host disks %v", d)
	}
	e.wantAvailable(t, ctx, vol)
}

func (e *ebsEnv) describeInstance(t *testing.T, ctx context.Context, id string) api.Instance {
	t.Helper()
	out := must[*api.DescribeInstancesResult](t)(e.svc.DescribeInstances(ctx, &api.DescribeInstancesRequest{InstanceIds: []string{id}}))
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("DescribeInstances %s: %+v", id, out.Reservations)
	}
	return out.Reservations[0].Instances[0]
}
