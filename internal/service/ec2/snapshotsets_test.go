package ec2

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/host/compute/fake"
)

// freezeWatch is memVolumes that notes, at each volume read, which devices of an instance were frozen.
type freezeWatch struct {
	*memVolumes
	drv      *fake.Driver
	instance string
	mu       sync.Mutex
	frozenAt map[string][]string // volume id -> guest paths frozen while it was read
}

var watchedDevices = []string{"/dev/xvdf", "/dev/xvdg", "/dev/xvdh", "/dev/xvdi"}

func (w *freezeWatch) Snapshot(ctx context.Context, volumeID, snapshotID string) (int64, error) {
	var frozen []string
	for _, g := range watchedDevices {
		if w.drv.Frozen(w.instance, g) {
			frozen = append(frozen, g)
		}
	}
	w.mu.Lock()
	w.frozenAt[volumeID] = frozen
	w.mu.Unlock()
	return w.memVolumes.Snapshot(ctx, volumeID, snapshotID)
}

func (w *freezeWatch) noneFrozen(t *testing.T) {
	t.Helper()
	for _, g := range watchedDevices {
		if w.drv.Frozen(w.instance, g) {
			t.Errorf("%s is still frozen", g)
		}
	}
}

// newFreezeEnv is an ebsEnv whose volume reads are watched, with one running instance.
func newFreezeEnv(t *testing.T) (*ebsEnv, *freezeWatch) {
	e := newEBSEnv(t)
	w := &freezeWatch{memVolumes: e.host, drv: fake.New(), frozenAt: map[string][]string{}}
	e.svc = New(Config{Store: e.st, Clock: e.clock.Now, Compute: w.drv, Images: testImages, Volumes: w,
		Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(e.svc.Wait)
	w.instance, _ = e.launch(t, context.Background())
	return e, w
}

func snapshotState(t *testing.T, e *ebsEnv, id string) api.Snapshot {
	t.Helper()
	out := must[*api.DescribeSnapshotsResult](t)(e.svc.DescribeSnapshots(context.Background(), &api.DescribeSnapshotsRequest{SnapshotIds: []string{id}}))
	if len(out.Snapshots) != 1 {
		t.Fatalf("DescribeSnapshots %s: %d snapshots", id, len(out.Snapshots))
	}
	return out.Snapshots[0]
}

// TestCreateSnapshotsIsCrashConsistent: one snapshot per attached data volume not excluded; every mounted
// one is frozen while each of the set is read, and all are thawed afterwards.
func TestCreateSnapshotsIsCrashConsistent(t *testing.T) {
	e, w := newFreezeEnv(t)
	ctx := context.Background()
	vols := map[string]string{} // guest path -> volume id
	for _, dev := range []string{"/dev/sdf", "/dev/sdg", "/dev/sdh", "/dev/sdi"} {
		v := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(1), TagSpecifications: []api.TagSpecification{{
			ResourceType: str("volume"), Tags: []api.Tag{{Key: str("Name"), Value: str("vol" + dev)}, {Key: str("team"), Value: str("db")}}}}}).VolumeId
		e.attach(t, ctx, v, w.instance, dev)
		guest, _ := guestDevice(dev)
		vols[guest] = v
	}
	// f, g and i are mounted in the machine; h is not; i is left out of the set.
	for _, g := range []string{"/dev/xvdf", "/dev/xvdg", "/dev/xvdi"} {
		w.drv.SetMounted(w.instance, g, true)
	}
	out := must[*api.CreateSnapshotsResult](t)(e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{
		InstanceSpecification: &api.InstanceSpecification{InstanceId: &w.instance, ExcludeBootVolume: boolp(true),
			ExcludeDataVolumeIds: []string{vols["/dev/xvdi"]}},
		Description: str("nightly"), CopyTagsFromSource: str("volume"), TagSpecifications: tagSpec("snapshot", "team", "backup"),
	}))
	if len(out.Snapshots) != 3 {
		t.Fatalf("%d snapshots, want 3: %+v", len(out.Snapshots), out.Snapshots)
	}
	var got []string
	for _, sn := range out.Snapshots {
		got = append(got, *sn.VolumeId)
		if *sn.State != "pending" || *sn.Description != "nightly" || *sn.VolumeSize != 1 || *sn.OwnerId == "" {
			t.Errorf("snapshot %+v", sn)
		}
		tags := map[string]string{}
		for _, tg := range sn.Tags {
			tags[*tg.Key] = *tg.Value
		}
		if len(tags) != 2 || tags["team"] != "backup" || tags["Name"] == "" {
			t.Errorf("snapshot of %s has tags %v, want the volume's Name and team=backup", *sn.VolumeId, tags)
		}
	}
	want := []string{vols["/dev/xvdf"], vols["/dev/xvdg"], vols["/dev/xvdh"]}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("snapshots of %v, want %v", got, want)
	}
	e.svc.Wait()
	for _, sn := range out.Snapshots {
		if st := snapshotState(t, e, *sn.SnapshotId); *st.State != "completed" || *st.Progress != "100%" {
			t.Errorf("snapshot %s is %s %s", *sn.SnapshotId, *st.State, *st.Progress)
		}
		if frozen := w.frozenAt[*sn.VolumeId]; !slices.Equal(frozen, []string{"/dev/xvdf", "/dev/xvdg"}) {
			t.Errorf("while %s was read, the frozen devices were %v, want /dev/xvdf and /dev/xvdg", *sn.VolumeId, frozen)
		}
	}
	w.noneFrozen(t)
}

// TestSnapshotThawsOnError: a read that fails leaves the snapshot in error and the filesystem thawed.
func TestSnapshotThawsOnError(t *testing.T) {
	e, w := newFreezeEnv(t)
	ctx := context.Background()
	v := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(1)}).VolumeId
	e.attach(t, ctx, v, w.instance, "/dev/sdf")
	w.drv.SetMounted(w.instance, "/dev/xvdf", true)
	e.host.failing("snapshot", errors.New("disk on fire"))
	sn := must[*api.Snapshot](t)(e.svc.CreateSnapshot(ctx, &api.CreateSnapshotRequest{VolumeId: &v}))
	e.svc.Wait()
	if st := snapshotState(t, e, *sn.SnapshotId); *st.State != "error" {
		t.Errorf("snapshot is %s, want error", *st.State)
	}
	if frozen := w.frozenAt[v]; !slices.Equal(frozen, []string{"/dev/xvdf"}) {
		t.Errorf("frozen while read: %v, want /dev/xvdf", frozen)
	}
	w.noneFrozen(t)

	// Once the machine has stopped there is nothing to freeze; the snapshot is taken all the same.
	e.host.failing("snapshot", nil)
	must[*api.StopInstancesResult](t)(e.svc.StopInstances(ctx, &api.StopInstancesRequest{InstanceIds: []string{w.instance}}))
	e.svc.Wait()
	out := must[*api.CreateSnapshotsResult](t)(e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{
		InstanceSpecification: &api.InstanceSpecification{InstanceId: &w.instance, ExcludeBootVolume: boolp(true)}}))
	e.svc.Wait()
	if len(out.Snapshots) != 1 || *snapshotState(t, e, *out.Snapshots[0].SnapshotId).State != "completed" {
		t.Fatalf("snapshots of the stopped instance: %+v", out.Snapshots)
	}
	if frozen := w.frozenAt[v]; len(frozen) != 0 {
		t.Errorf("frozen while the stopped machine's volume was read: %v", frozen)
	}
}

func TestCreateSnapshotsErrors(t *testing.T) {
	e, w := newFreezeEnv(t)
	ctx := context.Background()
	spec := func(id string, exclude ...string) *api.InstanceSpecification {
		return &api.InstanceSpecification{InstanceId: &id, ExcludeDataVolumeIds: exclude}
	}
	_, err := e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{InstanceSpecification: spec("i-0123456789abcdef0")})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	_, err = e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{InstanceSpecification: spec("i-nope")})
	wantCode(t, err, "InvalidInstanceID.Malformed")
	_, err = e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{InstanceSpecification: spec(w.instance, "volume-1")})
	wantCode(t, err, "InvalidVolumeID.Malformed")
	_, err = e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{InstanceSpecification: spec(w.instance), CopyTagsFromSource: str("instance")})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{InstanceSpecification: spec(w.instance), TagSpecifications: tagSpec("snapshot", "aws:x", "y")})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{InstanceSpecification: spec(w.instance), DryRun: boolp(true)})
	wantCode(t, err, "DryRunOperation")
	// An instance with no data volume gets an empty set without its boot volume.
	noBoot := spec(w.instance)
	noBoot.ExcludeBootVolume = boolp(true)
	out := must[*api.CreateSnapshotsResult](t)(e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{InstanceSpecification: noBoot}))
	if out.Snapshots == nil || len(out.Snapshots) != 0 {
		t.Fatalf("snapshots %+v", out.Snapshots)
	}
}
