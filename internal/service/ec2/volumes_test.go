package ec2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/compute/fake"
	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/memory"
)

// memVolumes is a Volumes kept in memory: volumes and snapshots are sizes, and a volume restored from a
// snapshot remembers it. fail scripts errors: an operation name ("create", "restore", "resize", "delete",
// "snapshot", "deleteSnapshot") to the error that operation answers.
type memVolumes struct {
	mu        sync.Mutex
	volumes   map[string]int64
	restored  map[string]string // volume id -> snapshot id it was restored from
	snapshots map[string]int64
	keys      map[string]string
	fail      map[string]error
	devices   map[string]string // volume id -> its block device, while it has one (attachments_test.go)
}

func newMemVolumes() *memVolumes {
	return &memVolumes{volumes: map[string]int64{}, restored: map[string]string{}, snapshots: map[string]int64{}, keys: map[string]string{}, fail: map[string]error{}, devices: map[string]string{}}
}

func (m *memVolumes) failing(op string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.fail, op)
		return
	}
	m.fail[op] = err
}

func (m *memVolumes) Create(ctx context.Context, id string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.volumes[id]; ok {
		return fmt.Errorf("volume %s exists", id)
	}
	m.volumes[id] = size
	return m.fail["create"]
}

func (m *memVolumes) Restore(ctx context.Context, id string, size int64, snapshotID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap, ok := m.snapshots[snapshotID]
	if !ok {
		return fmt.Errorf("no snapshot %s", snapshotID)
	}
	if size < snap {
		return fmt.Errorf("volume of %d bytes is smaller than snapshot %s", size, snapshotID)
	}
	m.volumes[id], m.restored[id] = size, snapshotID
	return m.fail["restore"]
}

// CreateEncrypted and RestoreEncrypted make memVolumes a store that encrypts at rest; keys records each
// encrypted volume's KMS key.
func (m *memVolumes) CreateEncrypted(ctx context.Context, id string, size int64, keyID string) error {
	if err := m.Create(ctx, id, size); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[id] = keyID
	return nil
}

func (m *memVolumes) RestoreEncrypted(ctx context.Context, id string, size int64, snapshotID, keyID string) error {
	if err := m.Restore(ctx, id, size, snapshotID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[id] = keyID
	return nil
}

func (m *memVolumes) key(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[id]
}

// ImportFilesystem and GrowFilesystem let memVolumes make the root volumes of quick-start AMIs.
func (m *memVolumes) ImportFilesystem(ctx context.Context, snapshotID string, dirs []string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.snapshots[snapshotID]; !ok {
		m.snapshots[snapshotID] = size
	}
	return m.fail["import"]
}

func (m *memVolumes) GrowFilesystem(ctx context.Context, id string) error { return nil }

func (m *memVolumes) Resize(ctx context.Context, id string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail["resize"]; err != nil {
		return err
	}
	cur, ok := m.volumes[id]
	if !ok || size < cur {
		return fmt.Errorf("cannot resize %s from %d to %d", id, cur, size)
	}
	m.volumes[id] = size
	return nil
}

func (m *memVolumes) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail["delete"]; err != nil {
		return err
	}
	if _, ok := m.volumes[id]; !ok {
		return &apierr.Error{Class: apierr.NotFound, Message: "volume not found"}
	}
	delete(m.volumes, id)
	delete(m.restored, id)
	delete(m.keys, id)
	return nil
}

func (m *memVolumes) Snapshot(ctx context.Context, volumeID, snapshotID string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail["snapshot"]; err != nil {
		return 0, err
	}
	size, ok := m.volumes[volumeID]
	if !ok {
		return 0, fmt.Errorf("no volume %s", volumeID)
	}
	m.snapshots[snapshotID] = size
	return size / 100, nil
}

func (m *memVolumes) DeleteSnapshot(ctx context.Context, snapshotID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail["deleteSnapshot"]; err != nil {
		return err
	}
	delete(m.snapshots, snapshotID)
	return nil
}

func (m *memVolumes) volumeIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id := range m.volumes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (m *memVolumes) volumeSize(id string) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.volumes[id]
	return n, ok
}

func (m *memVolumes) hasSnapshot(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.snapshots[id]
	return ok
}

// ebsEnv is a Service with a memory store, the fake compute driver and memVolumes.
type ebsEnv struct {
	svc   *Service
	host  *memVolumes
	st    store.Store
	clock *testClock
}

func newEBSEnv(t *testing.T) *ebsEnv {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	e := &ebsEnv{host: newMemVolumes(), st: st, clock: &testClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	e.svc = New(Config{Store: st, Clock: e.clock.Now, Compute: fake.New(), Images: testImages, Volumes: e.host,
		Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(e.svc.Wait)
	return e
}

// account is a context acting in another account (and region).
func account(id, region string) context.Context { return withAccount(context.Background(), id, region) }

func (e *ebsEnv) createVolume(t *testing.T, ctx context.Context, in *api.CreateVolumeRequest) api.Volume {
	t.Helper()
	if in.AvailabilityZone == nil && in.AvailabilityZoneId == nil {
		in.AvailabilityZone = str(regionOf(ctx) + "a")
	}
	v, err := e.svc.CreateVolume(ctx, in)
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	return *v
}

func (e *ebsEnv) describeVolume(t *testing.T, ctx context.Context, id string) api.Volume {
	t.Helper()
	out := must[*api.DescribeVolumesResult](t)(e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{VolumeIds: []string{id}}))
	if len(out.Volumes) != 1 {
		t.Fatalf("DescribeVolumes %s: %d volumes", id, len(out.Volumes))
	}
	return out.Volumes[0]
}

func TestCreateVolumeDefaultsToGP2(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	v := e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8), TagSpecifications: tagSpec("volume", "Name", "data")})
	if *v.State != "available" || *v.VolumeType != "gp2" || *v.Size != 8 || *v.Iops != 100 || v.Throughput != nil ||
		*v.Encrypted || v.KmsKeyId != nil || *v.AvailabilityZone != "us-east-1a" || *v.AvailabilityZoneId != "use1-az1" ||
		*v.MultiAttachEnabled || *v.SnapshotId != "" || len(v.Attachments) != 0 || !v.CreateTime.Equal(e.clock.Now()) {
		t.Fatalf("created %+v", v)
	}
	if len(v.Tags) != 1 || *v.Tags[0].Key != "Name" {
		t.Fatalf("tags %+v", v.Tags)
	}
	if n, ok := e.host.volumeSize(*v.VolumeId); !ok || n != 8<<30 {
		t.Fatalf("host volume %s: %d bytes, present %v", *v.VolumeId, n, ok)
	}
	if got := e.describeVolume(t, ctx, *v.VolumeId); *got.State != "available" || *got.Size != 8 {
		t.Fatalf("described %+v", got)
	}
}

func TestGP2IopsFollowSize(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	for size, want := range map[int]int32{1: 100, 100: 300, 1000: 3000, 5334: 16000, 16384: 16000} {
		v := e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(size)})
		if *v.Iops != want {
			t.Errorf("gp2 of %d GiB: %d IOPS, want %d", size, *v.Iops, want)
		}
	}
}

func TestCreateVolumeTypesAndDefaults(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	gp3 := e.createVolume(t, ctx, &api.CreateVolumeRequest{VolumeType: str("gp3"), Size: i32(1)})
	if *gp3.Iops != 3000 || *gp3.Throughput != 125 {
		t.Fatalf("gp3 defaults %+v", gp3)
	}
	io2 := e.createVolume(t, ctx, &api.CreateVolumeRequest{VolumeType: str("io2"), Size: i32(65536), Iops: i32(256000), MultiAttachEnabled: boolp(true)})
	if *io2.Iops != 256000 || !*io2.MultiAttachEnabled || io2.Throughput != nil {
		t.Fatalf("io2 %+v", io2)
	}
	st1 := e.createVolume(t, ctx, &api.CreateVolumeRequest{VolumeType: str("st1"), Size: i32(125), AvailabilityZoneId: str("use1-az6")})
	if st1.Iops != nil || *st1.AvailabilityZone != "us-east-1f" {
		t.Fatalf("st1 %+v", st1)
	}
	for _, typ := range []string{"sc1", "standard", "io1"} {
		in := &api.CreateVolumeRequest{VolumeType: str(typ), Size: i32(500)}
		if typ == "io1" {
			in.Iops = i32(25000)
		}
		if v := e.createVolume(t, ctx, in); *v.VolumeType != typ {
			t.Errorf("made %s, want %s", *v.VolumeType, typ)
		}
	}
}

func TestCreateVolumeRefusesWhatAWSRefuses(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	az := str("us-east-1b")
	for _, c := range []struct {
		name string
		in   api.CreateVolumeRequest
		code string
	}{
		{"zone of another region", api.CreateVolumeRequest{AvailabilityZone: str("us-west-2a"), Size: i32(1)}, "InvalidParameterValue"},
		{"zone that does not exist", api.CreateVolumeRequest{AvailabilityZone: str("us-east-1z"), Size: i32(1)}, "InvalidParameterValue"},
		{"zone id that does not exist", api.CreateVolumeRequest{AvailabilityZoneId: str("use1-az9"), Size: i32(1)}, "InvalidParameterValue"},
		{"no zone", api.CreateVolumeRequest{Size: i32(1)}, "MissingParameter"},
		{"zone and zone id", api.CreateVolumeRequest{AvailabilityZone: az, AvailabilityZoneId: str("use1-az2"), Size: i32(1)}, "InvalidParameterCombination"},
		{"no size", api.CreateVolumeRequest{AvailabilityZone: az}, "MissingParameter"},
		{"unknown type", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(1), VolumeType: str("gp9")}, "InvalidParameterValue"},
		{"gp2 with iops", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(100), Iops: i32(300)}, "InvalidParameterCombination"},
		{"st1 with iops", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(500), VolumeType: str("st1"), Iops: i32(500)}, "InvalidParameterCombination"},
		{"standard with iops", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(5), VolumeType: str("standard"), Iops: i32(100)}, "InvalidParameterCombination"},
		{"io1 with throughput", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(10), VolumeType: str("io1"), Iops: i32(100), Throughput: i32(200)}, "InvalidParameterCombination"},
		{"gp2 with throughput", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(10), Throughput: i32(200)}, "InvalidParameterCombination"},
		{"gp2 of 0 GiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(0)}, "InvalidParameterValue"},
		{"gp2 over 16 TiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(16385)}, "InvalidParameterValue"},
		{"gp3 over 16 TiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(16385), VolumeType: str("gp3")}, "InvalidParameterValue"},
		{"st1 under 125 GiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(124), VolumeType: str("st1")}, "InvalidParameterValue"},
		{"sc1 under 125 GiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(1), VolumeType: str("sc1")}, "InvalidParameterValue"},
		{"st1 over 16 TiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(16385), VolumeType: str("st1")}, "InvalidParameterValue"},
		{"standard over 1 TiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(1025), VolumeType: str("standard")}, "InvalidParameterValue"},
		{"io1 under 4 GiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(3), VolumeType: str("io1"), Iops: i32(100)}, "InvalidParameterValue"},
		{"io1 over 16 TiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(16385), VolumeType: str("io1"), Iops: i32(1000)}, "InvalidParameterValue"},
		{"io2 over 64 TiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(65537), VolumeType: str("io2"), Iops: i32(1000)}, "InvalidParameterValue"},
		{"io1 without iops", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(100), VolumeType: str("io1")}, "InvalidParameterCombination"},
		{"io1 over 50 IOPS per GiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(10), VolumeType: str("io1"), Iops: i32(501)}, "InvalidParameterValue"},
		{"io1 under 100 IOPS", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(10), VolumeType: str("io1"), Iops: i32(99)}, "InvalidParameterValue"},
		{"io1 over 64000 IOPS", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(16000), VolumeType: str("io1"), Iops: i32(64001)}, "InvalidParameterValue"},
		{"io2 over 1000 IOPS per GiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(10), VolumeType: str("io2"), Iops: i32(10001)}, "InvalidParameterValue"},
		{"io2 over 256000 IOPS", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(1000), VolumeType: str("io2"), Iops: i32(256001)}, "InvalidParameterValue"},
		{"gp3 under 3000 IOPS", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(100), VolumeType: str("gp3"), Iops: i32(2999)}, "InvalidParameterValue"},
		{"gp3 over 16000 IOPS", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(1000), VolumeType: str("gp3"), Iops: i32(16001)}, "InvalidParameterValue"},
		{"gp3 over 500 IOPS per GiB", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(10), VolumeType: str("gp3"), Iops: i32(5001)}, "InvalidParameterValue"},
		{"gp3 under 125 MiB/s", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(10), VolumeType: str("gp3"), Throughput: i32(124)}, "InvalidParameterValue"},
		{"gp3 over 1000 MiB/s", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(100), VolumeType: str("gp3"), Iops: i32(16000), Throughput: i32(1001)}, "InvalidParameterValue"},
		{"gp3 over 0.25 MiB/s per IOPS", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(100), VolumeType: str("gp3"), Throughput: i32(751)}, "InvalidParameterValue"},
		{"multi-attach gp3", api.CreateVolumeRequest{AvailabilityZone: az, Size: i32(10), VolumeType: str("gp3"), MultiAttachEnabled: boolp(true)}, "InvalidParameterCombination"},
		{"snapshot that does not exist", api.CreateVolumeRequest{AvailabilityZone: az, SnapshotId: str("snap-0123456789abcdef0")}, "InvalidSnapshot.NotFound"},
		{"malformed snapshot id", api.CreateVolumeRequest{AvailabilityZone: az, SnapshotId: str("ami-0123456789abcdef0")}, "InvalidSnapshotID.Malformed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.CreateVolume(ctx, &c.in)
			wantCode(t, err, c.code)
		})
	}
	if ids := e.host.volumeIDs(); len(ids) != 0 {
		t.Fatalf("refused requests left host volumes %v", ids)
	}
	vols := must[*api.DescribeVolumesResult](t)(e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{}))
	if len(vols.Volumes) != 0 {
		t.Fatalf("refused requests left records %+v", vols.Volumes)
	}
	// The boundaries themselves are accepted.
	for _, in := range []api.CreateVolumeRequest{
		{Size: i32(10), VolumeType: str("io1"), Iops: i32(500)},
		{Size: i32(10), VolumeType: str("io2"), Iops: i32(10000)},
		{Size: i32(100), VolumeType: str("gp3"), Throughput: i32(750)},
		{Size: i32(10), VolumeType: str("gp3"), Iops: i32(5000)},
		{Size: i32(32), VolumeType: str("gp3"), Iops: i32(16000), Throughput: i32(1000)},
		{Size: i32(1024), VolumeType: str("standard")},
	} {
		e.createVolume(t, ctx, &in)
	}
}

func TestCreateVolumeErrorMessagesAreAWSs(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	for _, c := range []struct {
		in   api.CreateVolumeRequest
		want string
	}{
		{api.CreateVolumeRequest{AvailabilityZone: str("us-east-1z"), Size: i32(1)}, "Invalid availability zone: [us-east-1z]"},
		{api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(100), Iops: i32(300)}, "The parameter iops is not supported for gp2 volumes."},
		{api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(10), VolumeType: str("io1"), Iops: i32(1000)},
			"Iops to volume size ratio of 100.000000 is too high; maximum is 50.000000."},
		{api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(100), VolumeType: str("st1")}, "Volume of 100GiB is too small; minimum is 125GiB."},
		{api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(100), VolumeType: str("gp3"), Throughput: i32(1000)},
			"Throughput (MiBps) to iops ratio of 0.333333 is too high; maximum is 0.250000 MiBps per iops."},
	} {
		_, err := e.svc.CreateVolume(ctx, &c.in)
		if err == nil || !containsMsg(err, c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func containsMsg(err error, msg string) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if len(err.Error()) >= len(msg) && err.Error()[len(err.Error())-len(msg):] == msg {
			return true
		}
	}
	return false
}

func TestCreateVolumeIdempotentAndDryRun(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	_, err := e.svc.CreateVolume(ctx, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(1), DryRun: boolp(true)})
	wantCode(t, err, "DryRunOperation")
	in := api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(5), ClientToken: str("tok-1")}
	a := e.createVolume(t, ctx, &in)
	again := in
	b := e.createVolume(t, ctx, &again)
	if *a.VolumeId != *b.VolumeId {
		t.Fatalf("same token made %s and %s", *a.VolumeId, *b.VolumeId)
	}
	_, err = e.svc.CreateVolume(ctx, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(6), ClientToken: str("tok-1")})
	wantCode(t, err, "IdempotentParameterMismatch")
	if ids := e.host.volumeIDs(); len(ids) != 1 {
		t.Fatalf("host volumes %v, want one", ids)
	}
}

func TestCreateVolumeHostFailureLeavesNothing(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	e.host.failing("create", errors.New("disk full"))
	_, err := e.svc.CreateVolume(ctx, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(5)})
	if err == nil {
		t.Fatal("CreateVolume succeeded though the host failed")
	}
	if ids := e.host.volumeIDs(); len(ids) != 0 {
		t.Fatalf("host keeps %v after a failed create", ids)
	}
	if vols := must[*api.DescribeVolumesResult](t)(e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{})); len(vols.Volumes) != 0 {
		t.Fatalf("records %+v after a failed create", vols.Volumes)
	}
}

func TestVolumesUnsupportedWithoutVolumeStore(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	s := New(Config{Store: e.st, Clock: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	_, err := s.CreateVolume(ctx, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(1)})
	wantCode(t, err, "Unsupported")
	_, err = s.CreateSnapshot(ctx, &api.CreateSnapshotRequest{VolumeId: str("vol-0123456789abcdef0")})
	wantCode(t, err, "Unsupported")
	if out := must[*api.DescribeVolumesResult](t)(s.DescribeVolumes(ctx, &api.DescribeVolumesRequest{})); len(out.Volumes) != 0 {
		t.Fatalf("volumes %+v", out.Volumes)
	}
}

func TestDescribeVolumesFiltersAndPages(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	var ids []string
	for i := range 7 {
		in := &api.CreateVolumeRequest{Size: i32(10 + i), TagSpecifications: tagSpec("volume", "team", []string{"red", "blue"}[i%2])}
		if i == 3 {
			in.VolumeType, in.AvailabilityZone = str("gp3"), str("us-east-1c")
		}
		ids = append(ids, *e.createVolume(t, ctx, in).VolumeId)
	}
	other := account("111122223333", "us-east-1")
	e.createVolume(t, other, &api.CreateVolumeRequest{Size: i32(10)})
	e.createVolume(t, account("000000000000", "eu-west-1"), &api.CreateVolumeRequest{Size: i32(10)})

	count := func(filters ...api.Filter) int {
		t.Helper()
		return len(must[*api.DescribeVolumesResult](t)(e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{Filters: filters})).Volumes)
	}
	for _, c := range []struct {
		f    []api.Filter
		want int
	}{
		{nil, 7},
		{[]api.Filter{flt("volume-type", "gp3")}, 1},
		{[]api.Filter{flt("availability-zone", "us-east-1a")}, 6},
		{[]api.Filter{flt("tag:team", "red")}, 4},
		{[]api.Filter{flt("tag-key", "team"), flt("size", "10", "11")}, 2},
		{[]api.Filter{flt("status", "available"), flt("encrypted", "false")}, 7},
		{[]api.Filter{flt("attachment.instance-id", "i-0123456789abcdef0")}, 0},
		{[]api.Filter{flt("volume-id", ids[2])}, 1},
		{[]api.Filter{flt("create-time", "2026-01-02T*")}, 7},
		{[]api.Filter{flt("multi-attach-enabled", "true")}, 0},
	} {
		if n := count(c.f...); n != c.want {
			t.Errorf("filters %v: %d volumes, want %d", c.f, n, c.want)
		}
	}
	_, err := e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{Filters: []api.Filter{flt("colour", "red")}})
	wantCode(t, err, "InvalidParameterValue")

	var seen []string
	var token *string
	for pages := 0; ; pages++ {
		out := must[*api.DescribeVolumesResult](t)(e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{MaxResults: i32(5), NextToken: token}))
		for _, v := range out.Volumes {
			seen = append(seen, *v.VolumeId)
		}
		if token = out.NextToken; token == nil {
			if pages != 1 {
				t.Errorf("%d pages, want 2", pages+1)
			}
			break
		}
	}
	sort.Strings(ids)
	if fmt.Sprint(seen) != fmt.Sprint(ids) {
		t.Fatalf("pages gave %v, want %v", seen, ids)
	}
	// The AWS CLI pages describe-volumes by 1000 (awscli's EC2PageSizeInjector), so EC2 must take it.
	if _, err := e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{MaxResults: i32(1000)}); err != nil {
		t.Fatalf("MaxResults 1000: %v", err)
	}
	_, err = e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{MaxResults: i32(1001)})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{MaxResults: i32(5), VolumeIds: ids[:1]})
	wantCode(t, err, "InvalidParameterCombination")
	_, err = e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{VolumeIds: []string{"volume-1"}})
	wantCode(t, err, "InvalidVolumeID.Malformed")
	_, err = e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{VolumeIds: []string{ids[0], "vol-0123456789abcdef0"}})
	wantCode(t, err, "InvalidVolume.NotFound")
}

func TestDeleteVolume(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	v := e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(4)})
	id := *v.VolumeId
	_, err := e.svc.DeleteVolume(account("111122223333", "us-east-1"), &api.DeleteVolumeRequest{VolumeId: &id})
	wantCode(t, err, "InvalidVolume.NotFound")

	e.host.failing("delete", errors.New("device busy"))
	if _, err := e.svc.DeleteVolume(ctx, &api.DeleteVolumeRequest{VolumeId: &id}); err == nil {
		t.Fatal("DeleteVolume succeeded though the host failed")
	}
	if got := e.describeVolume(t, ctx, id); *got.State != "error" {
		t.Fatalf("after a failed delete the volume is %s, want error", *got.State)
	}
	e.host.failing("delete", nil)
	must[any](t)(e.svc.DeleteVolume(ctx, &api.DeleteVolumeRequest{VolumeId: &id}))
	if _, ok := e.host.volumeSize(id); ok {
		t.Fatal("the host still has the deleted volume")
	}
	_, err = e.svc.DeleteVolume(ctx, &api.DeleteVolumeRequest{VolumeId: &id})
	wantCode(t, err, "InvalidVolume.NotFound")
	_, err = e.svc.DescribeVolumes(ctx, &api.DescribeVolumesRequest{VolumeIds: []string{id}})
	wantCode(t, err, "InvalidVolume.NotFound")
}

func TestDeleteAttachedVolumeIsInUse(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	id := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(4)}).VolumeId
	// AttachVolume comes later; attach by hand the way it will record it.
	_, err := store.Mutate(ctx, e.st, scopedKey(ctx, kindVolume, id), func(v *volumeRecord) error {
		v.Attachments = []volumeAttachment{{InstanceID: "i-0123456789abcdef0", Device: "/dev/sdf", State: "attached"}}
		return v.setState(volumeInUse)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.DeleteVolume(ctx, &api.DeleteVolumeRequest{VolumeId: &id})
	wantCode(t, err, "VolumeInUse")
	if _, ok := e.host.volumeSize(id); !ok {
		t.Fatal("an in-use volume was removed from the host")
	}
}

func TestModifyVolume(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	id := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(100)}).VolumeId

	_, err := e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{VolumeId: &id, Size: i32(50)})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{VolumeId: &id, Iops: i32(3000)})
	wantCode(t, err, "InvalidParameterCombination") // gp2 takes no iops
	_, err = e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{VolumeId: &id, VolumeType: str("io1"), Iops: i32(6000)})
	wantCode(t, err, "InvalidParameterValue") // 60 IOPS per GiB
	_, err = e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{VolumeId: &id})
	wantCode(t, err, "InvalidParameterCombination") // changes nothing

	m := must[*api.ModifyVolumeResult](t)(e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{
		VolumeId: &id, Size: i32(200), VolumeType: str("gp3"), Iops: i32(6000), Throughput: i32(500)})).VolumeModification
	if *m.ModificationState != "modifying" || *m.OriginalSize != 100 || *m.TargetSize != 200 || *m.OriginalVolumeType != "gp2" ||
		*m.TargetVolumeType != "gp3" || *m.OriginalIops != 300 || *m.TargetIops != 6000 || *m.TargetThroughput != 500 ||
		m.OriginalThroughput != nil || *m.Progress != 0 {
		t.Fatalf("modification %+v", m)
	}
	e.svc.Wait()
	if n, _ := e.host.volumeSize(id); n != 200<<30 {
		t.Fatalf("host volume of %d bytes, want 200 GiB", n)
	}
	v := e.describeVolume(t, ctx, id)
	if *v.Size != 200 || *v.VolumeType != "gp3" || *v.Iops != 6000 || *v.Throughput != 500 {
		t.Fatalf("modified volume %+v", v)
	}
	mods := must[*api.DescribeVolumesModificationsResult](t)(e.svc.DescribeVolumesModifications(ctx, &api.DescribeVolumesModificationsRequest{
		VolumeIds: []string{id}})).VolumesModifications
	if len(mods) != 1 || *mods[0].ModificationState != "completed" || *mods[0].Progress != 100 || mods[0].EndTime == nil {
		t.Fatalf("modifications %+v", mods)
	}

	// AWS allows one modification per volume every six hours.
	_, err = e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{VolumeId: &id, Size: i32(300)})
	wantCode(t, err, "VolumeModificationRateExceeded")
	e.clock.Add(6 * time.Hour)
	must[*api.ModifyVolumeResult](t)(e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{VolumeId: &id, VolumeType: str("gp2")}))
	e.svc.Wait()
	if v := e.describeVolume(t, ctx, id); *v.VolumeType != "gp2" || *v.Iops != 600 || v.Throughput != nil {
		t.Fatalf("back to gp2: %+v", v)
	}

	other := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(10)}).VolumeId
	byState := func(state string) int {
		return len(must[*api.DescribeVolumesModificationsResult](t)(e.svc.DescribeVolumesModifications(ctx, &api.DescribeVolumesModificationsRequest{
			Filters: []api.Filter{flt("modification-state", state)}})).VolumesModifications)
	}
	if byState("completed") != 1 || byState("modifying") != 0 {
		t.Fatal("modification-state filter")
	}
	_, err = e.svc.DescribeVolumesModifications(ctx, &api.DescribeVolumesModificationsRequest{VolumeIds: []string{other}})
	wantCode(t, err, "InvalidVolumeModification.NotFound")

	// A host failure fails the modification and keeps the volume as it was.
	e.host.failing("resize", errors.New("no space"))
	must[*api.ModifyVolumeResult](t)(e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{VolumeId: &other, Size: i32(20)}))
	e.svc.Wait()
	mods = must[*api.DescribeVolumesModificationsResult](t)(e.svc.DescribeVolumesModifications(ctx, &api.DescribeVolumesModificationsRequest{
		VolumeIds: []string{other}})).VolumesModifications
	if *mods[0].ModificationState != "failed" || mods[0].StatusMessage == nil {
		t.Fatalf("failed modification %+v", mods[0])
	}
	if v := e.describeVolume(t, ctx, other); *v.Size != 10 {
		t.Fatalf("size %d after a failed modification", *v.Size)
	}
}

func TestVolumeStatusAndAttributes(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	gp2 := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(10)}).VolumeId
	io1 := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(10), VolumeType: str("io1"), Iops: i32(500)}).VolumeId
	st := must[*api.DescribeVolumeStatusResult](t)(e.svc.DescribeVolumeStatus(ctx, &api.DescribeVolumeStatusRequest{})).VolumeStatuses
	if len(st) != 2 || *st[0].VolumeStatus.Status != "ok" || len(st[0].VolumeStatus.Details) != 2 {
		t.Fatalf("statuses %+v", st)
	}
	perf := must[*api.DescribeVolumeStatusResult](t)(e.svc.DescribeVolumeStatus(ctx, &api.DescribeVolumeStatusRequest{
		Filters: []api.Filter{flt("volume-status.details-status", "normal")}})).VolumeStatuses
	if len(perf) != 1 || *perf[0].VolumeId != io1 {
		t.Fatalf("io-performance normal: %+v", perf)
	}

	attr := must[*api.DescribeVolumeAttributeResult](t)(e.svc.DescribeVolumeAttribute(ctx, &api.DescribeVolumeAttributeRequest{
		VolumeId: &gp2, Attribute: str("autoEnableIO")}))
	if *attr.AutoEnableIO.Value {
		t.Fatal("autoEnableIO starts on")
	}
	must[any](t)(e.svc.ModifyVolumeAttribute(ctx, &api.ModifyVolumeAttributeRequest{VolumeId: &gp2, AutoEnableIO: &api.AttributeBooleanValue{Value: boolp(true)}}))
	attr = must[*api.DescribeVolumeAttributeResult](t)(e.svc.DescribeVolumeAttribute(ctx, &api.DescribeVolumeAttributeRequest{
		VolumeId: &gp2, Attribute: str("autoEnableIO")}))
	if !*attr.AutoEnableIO.Value {
		t.Fatal("autoEnableIO not set")
	}
	_, err := e.svc.DescribeVolumeAttribute(ctx, &api.DescribeVolumeAttributeRequest{VolumeId: &gp2, Attribute: str("size")})
	wantCode(t, err, "InvalidParameterValue")
}

func TestVolumeAndSnapshotTags(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(10)}).VolumeId
	snap := must[*api.Snapshot](t)(e.svc.CreateSnapshot(ctx, &api.CreateSnapshotRequest{VolumeId: &vol}))
	e.svc.Wait()
	must[any](t)(e.svc.CreateTags(ctx, &api.CreateTagsRequest{Resources: []string{vol, *snap.SnapshotId},
		Tags: []api.Tag{{Key: str("env"), Value: str("prod")}}}))
	if v := e.describeVolume(t, ctx, vol); len(v.Tags) != 1 || *v.Tags[0].Value != "prod" {
		t.Fatalf("volume tags %+v", v.Tags)
	}
	tags := must[*api.DescribeTagsResult](t)(e.svc.DescribeTags(ctx, &api.DescribeTagsRequest{Filters: []api.Filter{flt("key", "env")}})).Tags
	types := map[string]string{}
	for _, tg := range tags {
		types[*tg.ResourceId] = *tg.ResourceType
	}
	if types[vol] != "volume" || types[*snap.SnapshotId] != "snapshot" || len(types) != 2 {
		t.Fatalf("DescribeTags %v", types)
	}
	must[any](t)(e.svc.DeleteTags(ctx, &api.DeleteTagsRequest{Resources: []string{*snap.SnapshotId}}))
	snaps := must[*api.DescribeSnapshotsResult](t)(e.svc.DescribeSnapshots(ctx, &api.DescribeSnapshotsRequest{Filters: []api.Filter{flt("tag-key", "env")}}))
	if len(snaps.Snapshots) != 0 {
		t.Fatalf("the snapshot's tags were not deleted: %+v", snaps.Snapshots)
	}
	_, err := e.svc.CreateTags(ctx, &api.CreateTagsRequest{Resources: []string{"snap-0123456789abcdef0"}, Tags: []api.Tag{{Key: str("a"), Value: str("b")}}})
	wantCode(t, err, "InvalidSnapshot.NotFound")
}

// plainVolumes is a volume store that cannot encrypt: only the Volumes methods of the one it wraps.
type plainVolumes struct{ Volumes }

func TestEncryptedVolumesNeedAnEncryptingStore(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	v := e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8), Encrypted: boolp(true)})
	if got := e.host.key(*v.VolumeId); got != *v.KmsKeyId {
		t.Fatalf("the host encrypts under %q, the volume says %s", got, *v.KmsKeyId)
	}
	if got := e.host.key(*e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8)}).VolumeId); got != "" {
		t.Fatalf("a plain volume encrypted under %q", got)
	}
	s := New(Config{Store: e.st, Clock: e.clock.Now, Volumes: plainVolumes{e.host}, Logger: slog.New(slog.DiscardHandler)})
	_, err := s.CreateVolume(ctx, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(8), Encrypted: boolp(true)})
	wantCode(t, err, "Unsupported")
	must[*api.Volume](t)(s.CreateVolume(ctx, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), Size: i32(8)}))
}

func TestModifyVolumeTypeCarriesIops(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	id := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(100)}).VolumeId
	m := must[*api.ModifyVolumeResult](t)(e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{VolumeId: &id, VolumeType: str("io1")})).VolumeModification
	if *m.TargetIops != 300 {
		t.Fatalf("gp2 to io1 without iops: target %d IOPS, want gp2's 300", *m.TargetIops)
	}
	e.svc.Wait()
	if v := e.describeVolume(t, ctx, id); *v.VolumeType != "io1" || *v.Iops != 300 {
		t.Fatalf("volume %+v", v)
	}
	st1 := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(500), VolumeType: str("st1")}).VolumeId
	_, err := e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{VolumeId: &st1, VolumeType: str("io2")})
	wantCode(t, err, "MissingParameter")
	small := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(100)}).VolumeId
	_, err = e.svc.ModifyVolume(ctx, &api.ModifyVolumeRequest{VolumeId: &small, VolumeType: str("sc1")})
	wantCode(t, err, "InvalidParameterValue") // 100 GiB is too small for sc1
}
