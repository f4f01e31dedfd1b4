package ec2

import (
	"context"
	"errors"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/store"
)

// snapshot takes a snapshot of the volume and waits until the host has stored it.
func (e *ebsEnv) snapshot(t *testing.T, ctx context.Context, volumeID, description string) api.Snapshot {
	t.Helper()
	sn := must[*api.Snapshot](t)(e.svc.CreateSnapshot(ctx, &api.CreateSnapshotRequest{VolumeId: &volumeID, Description: &description}))
	e.svc.Wait()
	return e.describeSnapshot(t, ctx, *sn.SnapshotId)
}

func (e *ebsEnv) describeSnapshot(t *testing.T, ctx context.Context, id string) api.Snapshot {
	t.Helper()
	out := must[*api.DescribeSnapshotsResult](t)(e.svc.DescribeSnapshots(ctx, &api.DescribeSnapshotsRequest{SnapshotIds: []string{id}}))
	if len(out.Snapshots) != 1 {
		t.Fatalf("DescribeSnapshots %s: %d snapshots", id, len(out.Snapshots))
	}
	return out.Snapshots[0]
}

func snapshotIDs(t *testing.T, e *ebsEnv, ctx context.Context, in *api.DescribeSnapshotsRequest) []string {
	t.Helper()
	var ids []string
	for _, s := range must[*api.DescribeSnapshotsResult](t)(e.svc.DescribeSnapshots(ctx, in)).Snapshots {
		ids = append(ids, *s.SnapshotId)
	}
	return ids
}

func TestCreateSnapshot(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8), VolumeType: str("gp3")}).VolumeId
	sn := must[*api.Snapshot](t)(e.svc.CreateSnapshot(ctx, &api.CreateSnapshotRequest{VolumeId: &vol, Description: str("nightly"),
		TagSpecifications: tagSpec("snapshot", "kind", "backup")}))
	if *sn.State != "pending" || *sn.Progress != "0%" || *sn.VolumeId != vol || *sn.VolumeSize != 8 || *sn.OwnerId != "000000000000" ||
		*sn.Description != "nightly" || *sn.Encrypted || !sn.StartTime.Equal(e.clock.Now()) || len(sn.Tags) != 1 {
		t.Fatalf("created %+v", sn)
	}
	e.svc.Wait()
	got := e.describeSnapshot(t, ctx, *sn.SnapshotId)
	if *got.State != "completed" || *got.Progress != "100%" || got.CompletionTime == nil || *got.StorageTier != "standard" {
		t.Fatalf("after the host stored it: %+v", got)
	}
	if !e.host.hasSnapshot(*sn.SnapshotId) {
		t.Fatal("the host has no snapshot data")
	}

	_, err := e.svc.CreateSnapshot(ctx, &api.CreateSnapshotRequest{VolumeId: str("vol-0123456789abcdef0")})
	wantCode(t, err, "InvalidVolume.NotFound")
	_, err = e.svc.CreateSnapshot(ctx, &api.CreateSnapshotRequest{VolumeId: str("i-0123456789abcdef0")})
	wantCode(t, err, "InvalidVolumeID.Malformed")
	_, err = e.svc.CreateSnapshot(ctx, &api.CreateSnapshotRequest{VolumeId: &vol, DryRun: boolp(true)})
	wantCode(t, err, "DryRunOperation")
}

func TestSnapshotHostFailureIsError(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8)}).VolumeId
	e.host.failing("snapshot", errors.New("chunk store unreachable"))
	sn := e.snapshot(t, ctx, vol, "")
	if *sn.State != "error" || sn.StateMessage == nil || *sn.Progress != "0%" {
		t.Fatalf("failed snapshot %+v", sn)
	}
	_, err := e.svc.CreateVolume(ctx, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), SnapshotId: sn.SnapshotId})
	wantCode(t, err, "IncorrectState")
}

func TestCreateVolumeFromSnapshot(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(20)}).VolumeId
	sn := e.snapshot(t, ctx, vol, "base")

	v := e.createVolume(t, ctx, &api.CreateVolumeRequest{SnapshotId: sn.SnapshotId, AvailabilityZone: str("us-east-1d")})
	if *v.Size != 20 || *v.SnapshotId != *sn.SnapshotId || *v.AvailabilityZone != "us-east-1d" {
		t.Fatalf("restored %+v", v)
	}
	if e.host.restored[*v.VolumeId] != *sn.SnapshotId {
		t.Fatalf("the host restored %q", e.host.restored[*v.VolumeId])
	}
	big := e.createVolume(t, ctx, &api.CreateVolumeRequest{SnapshotId: sn.SnapshotId, Size: i32(40), VolumeType: str("gp3")})
	if *big.Size != 40 {
		t.Fatalf("restored into %d GiB", *big.Size)
	}
	_, err := e.svc.CreateVolume(ctx, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), SnapshotId: sn.SnapshotId, Size: i32(10)})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.svc.CreateVolume(ctx, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), SnapshotId: sn.SnapshotId, VolumeType: str("st1")})
	wantCode(t, err, "InvalidParameterValue") // 20 GiB is too small for st1

	// A snapshot of another region is not found here.
	_, err = e.svc.CreateVolume(account("000000000000", "us-west-2"), &api.CreateVolumeRequest{AvailabilityZone: str("us-west-2a"), SnapshotId: sn.SnapshotId})
	wantCode(t, err, "InvalidSnapshot.NotFound")
}

func TestEncryptedSnapshotMakesEncryptedVolumes(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	v := e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8), Encrypted: boolp(true)})
	if !*v.Encrypted || *v.KmsKeyId != awsEBSKeyARN(ctx) {
		t.Fatalf("encrypted volume %+v", v)
	}
	sn := e.snapshot(t, ctx, *v.VolumeId, "")
	if !*sn.Encrypted || *sn.KmsKeyId != *v.KmsKeyId {
		t.Fatalf("snapshot of an encrypted volume %+v", sn)
	}
	restored := e.createVolume(t, ctx, &api.CreateVolumeRequest{SnapshotId: sn.SnapshotId, Encrypted: boolp(false)})
	if !*restored.Encrypted || *restored.KmsKeyId != *v.KmsKeyId || e.host.key(*restored.VolumeId) != *v.KmsKeyId {
		t.Fatalf("volume from an encrypted snapshot %+v", restored)
	}
	const key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	rekeyed := e.createVolume(t, ctx, &api.CreateVolumeRequest{SnapshotId: sn.SnapshotId, KmsKeyId: str(key)})
	if *rekeyed.KmsKeyId != key {
		t.Fatalf("re-keyed volume under %s", *rekeyed.KmsKeyId)
	}
}

func TestDescribeSnapshotsFiltersOwnersAndPages(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8)}).VolumeId
	other := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(16)}).VolumeId
	var ids []string
	for i := range 6 {
		ids = append(ids, *e.snapshot(t, ctx, vol, []string{"daily", "weekly"}[i%2]).SnapshotId)
	}
	ids = append(ids, *e.snapshot(t, ctx, other, "daily").SnapshotId)

	for _, c := range []struct {
		in   api.DescribeSnapshotsRequest
		want int
	}{
		{api.DescribeSnapshotsRequest{}, 7},
		{api.DescribeSnapshotsRequest{OwnerIds: []string{"self"}}, 7},
		{api.DescribeSnapshotsRequest{OwnerIds: []string{"000000000000"}}, 7},
		{api.DescribeSnapshotsRequest{OwnerIds: []string{"amazon"}}, 0},
		{api.DescribeSnapshotsRequest{OwnerIds: []string{"111122223333"}}, 0},
		{api.DescribeSnapshotsRequest{RestorableByUserIds: []string{"self"}}, 7},
		{api.DescribeSnapshotsRequest{RestorableByUserIds: []string{"all"}}, 0},
		{api.DescribeSnapshotsRequest{Filters: []api.Filter{flt("volume-id", other)}}, 1},
		{api.DescribeSnapshotsRequest{Filters: []api.Filter{flt("description", "week*")}}, 3},
		{api.DescribeSnapshotsRequest{Filters: []api.Filter{flt("volume-size", "8"), flt("description", "daily")}}, 3},
		{api.DescribeSnapshotsRequest{Filters: []api.Filter{flt("status", "completed"), flt("progress", "100%"), flt("encrypted", "false")}}, 7},
		{api.DescribeSnapshotsRequest{Filters: []api.Filter{flt("owner-id", "000000000000"), flt("start-time", "2026-01-02T03:04:05.000Z")}}, 7},
		{api.DescribeSnapshotsRequest{Filters: []api.Filter{flt("snapshot-id", ids[0], ids[1])}}, 2},
		{api.DescribeSnapshotsRequest{Filters: []api.Filter{flt("owner-alias", "amazon")}}, 0},
	} {
		if got := snapshotIDs(t, e, ctx, &c.in); len(got) != c.want {
			t.Errorf("%+v: %d snapshots, want %d", c.in, len(got), c.want)
		}
	}
	_, err := e.svc.DescribeSnapshots(ctx, &api.DescribeSnapshotsRequest{Filters: []api.Filter{flt("size", "8")}})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.svc.DescribeSnapshots(ctx, &api.DescribeSnapshotsRequest{SnapshotIds: []string{"snap-0123456789abcdef0"}})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	_, err = e.svc.DescribeSnapshots(ctx, &api.DescribeSnapshotsRequest{SnapshotIds: []string{"vol-0123456789abcdef0"}})
	wantCode(t, err, "InvalidSnapshotID.Malformed")
	_, err = e.svc.DescribeSnapshots(ctx, &api.DescribeSnapshotsRequest{OwnerIds: []string{"me"}})
	wantCode(t, err, "InvalidUserID.Malformed")

	first := must[*api.DescribeSnapshotsResult](t)(e.svc.DescribeSnapshots(ctx, &api.DescribeSnapshotsRequest{MaxResults: i32(5)}))
	second := must[*api.DescribeSnapshotsResult](t)(e.svc.DescribeSnapshots(ctx, &api.DescribeSnapshotsRequest{MaxResults: i32(5), NextToken: first.NextToken}))
	if len(first.Snapshots) != 5 || first.NextToken == nil || len(second.Snapshots) != 2 || second.NextToken != nil {
		t.Fatalf("pages of %d and %d", len(first.Snapshots), len(second.Snapshots))
	}
	// Another account sees none of them.
	if got := snapshotIDs(t, e, account("111122223333", "us-east-1"), &api.DescribeSnapshotsRequest{}); len(got) != 0 {
		t.Fatalf("another account sees %v", got)
	}
}

func TestDeleteSnapshot(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8)}).VolumeId
	sn := *e.snapshot(t, ctx, vol, "").SnapshotId

	_, err := e.svc.DeleteSnapshot(account("111122223333", "us-east-1"), &api.DeleteSnapshotRequest{SnapshotId: &sn})
	wantCode(t, err, "InvalidSnapshot.NotFound")

	orig := imageUsingSnapshot
	imageUsingSnapshot = func(ctx context.Context, s *Service, id string) (string, error) {
		if id == sn {
			return "ami-0123456789abcdef0", nil
		}
		return "", nil
	}
	_, err = e.svc.DeleteSnapshot(ctx, &api.DeleteSnapshotRequest{SnapshotId: &sn})
	imageUsingSnapshot = orig
	wantCode(t, err, "InvalidSnapshot.InUse")
	if !e.host.hasSnapshot(sn) {
		t.Fatal("a snapshot in use lost its data")
	}

	must[any](t)(e.svc.DeleteSnapshot(ctx, &api.DeleteSnapshotRequest{SnapshotId: &sn}))
	if e.host.hasSnapshot(sn) {
		t.Fatal("the host keeps the data of a deleted snapshot")
	}
	_, err = e.svc.DeleteSnapshot(ctx, &api.DeleteSnapshotRequest{SnapshotId: &sn})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	if _, err := e.st.Get(ctx, dataKey(sn)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("data record after delete: %v", err)
	}
	// The volume a snapshot was taken of can go first; the snapshot stays usable.
	sn2 := *e.snapshot(t, ctx, vol, "").SnapshotId
	must[any](t)(e.svc.DeleteVolume(ctx, &api.DeleteVolumeRequest{VolumeId: &vol}))
	e.createVolume(t, ctx, &api.CreateVolumeRequest{SnapshotId: &sn2})
}

func TestCopySnapshotSharesDataUntilTheLastCopyGoes(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	west := account("000000000000", "us-west-2")
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8)}).VolumeId
	src := e.snapshot(t, ctx, vol, "")

	cp := must[*api.CopySnapshotResult](t)(e.svc.CopySnapshot(west, &api.CopySnapshotRequest{SourceRegion: str("us-east-1"),
		SourceSnapshotId: src.SnapshotId, TagSpecifications: tagSpec("snapshot", "copy", "yes")}))
	if len(cp.Tags) != 1 {
		t.Fatalf("copy tags %+v", cp.Tags)
	}
	got := e.describeSnapshot(t, west, *cp.SnapshotId)
	if *got.State != "completed" || *got.VolumeSize != 8 || *got.VolumeId != "vol-ffffffff" ||
		*got.Description != "[Copied "+*src.SnapshotId+" from us-east-1]" {
		t.Fatalf("copy %+v", got)
	}
	// The copy lives in us-west-2 only, and makes volumes there.
	_, err := e.svc.DescribeSnapshots(ctx, &api.DescribeSnapshotsRequest{SnapshotIds: []string{*cp.SnapshotId}})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	restored := e.createVolume(t, west, &api.CreateVolumeRequest{SnapshotId: cp.SnapshotId})
	if e.host.restored[*restored.VolumeId] != *src.SnapshotId {
		t.Fatal("the copy does not restore the source's stored data")
	}
	// A copy in the same region works too.
	same := must[*api.CopySnapshotResult](t)(e.svc.CopySnapshot(ctx, &api.CopySnapshotRequest{SourceRegion: str("us-east-1"),
		SourceSnapshotId: src.SnapshotId, Description: str("mine")}))

	must[any](t)(e.svc.DeleteSnapshot(ctx, &api.DeleteSnapshotRequest{SnapshotId: src.SnapshotId}))
	if !e.host.hasSnapshot(*src.SnapshotId) {
		t.Fatal("deleting the source dropped data its copies use")
	}
	must[any](t)(e.svc.DeleteSnapshot(west, &api.DeleteSnapshotRequest{SnapshotId: cp.SnapshotId}))
	if !e.host.hasSnapshot(*src.SnapshotId) {
		t.Fatal("deleting one copy dropped data the other uses")
	}
	must[any](t)(e.svc.DeleteSnapshot(ctx, &api.DeleteSnapshotRequest{SnapshotId: same.SnapshotId}))
	if e.host.hasSnapshot(*src.SnapshotId) {
		t.Fatal("the data outlived every snapshot that used it")
	}

	_, err = e.svc.CopySnapshot(west, &api.CopySnapshotRequest{SourceRegion: str("us-east-1"), SourceSnapshotId: src.SnapshotId})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	_, err = e.svc.CopySnapshot(west, &api.CopySnapshotRequest{SourceSnapshotId: src.SnapshotId})
	wantCode(t, err, "MissingParameter")
	_, err = e.svc.CopySnapshot(west, &api.CopySnapshotRequest{SourceRegion: str("moon-1"), SourceSnapshotId: src.SnapshotId})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.svc.CopySnapshot(west, &api.CopySnapshotRequest{SourceRegion: str("us-east-1"), SourceSnapshotId: src.SnapshotId, DestinationRegion: str("eu-west-1")})
	wantCode(t, err, "InvalidParameterValue")
}

func TestCopySnapshotEncryption(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	west := account("000000000000", "us-west-2")
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8)}).VolumeId
	src := e.snapshot(t, ctx, vol, "")
	enc := must[*api.CopySnapshotResult](t)(e.svc.CopySnapshot(west, &api.CopySnapshotRequest{SourceRegion: str("us-east-1"),
		SourceSnapshotId: src.SnapshotId, Encrypted: boolp(true)}))
	if got := e.describeSnapshot(t, west, *enc.SnapshotId); !*got.Encrypted || *got.KmsKeyId != awsEBSKeyARN(west) {
		t.Fatalf("encrypted copy %+v", got)
	}
	_, err := e.svc.CopySnapshot(west, &api.CopySnapshotRequest{SourceRegion: str("us-east-1"), SourceSnapshotId: src.SnapshotId,
		KmsKeyId: str("alias/aws/ebs")})
	wantCode(t, err, "InvalidParameterDependency")
}

func TestShareSnapshotAcrossAccounts(t *testing.T) {
	e := newEBSEnv(t)
	a, b, c := account("111111111111", "us-east-1"), account("222222222222", "us-east-1"), account("333333333333", "us-east-1")
	vol := *e.createVolume(t, a, &api.CreateVolumeRequest{Size: i32(8)}).VolumeId
	sn := *e.snapshot(t, a, vol, "golden").SnapshotId
	must[any](t)(e.svc.CreateTags(a, &api.CreateTagsRequest{Resources: []string{sn}, Tags: []api.Tag{{Key: str("secret"), Value: str("x")}}}))

	_, err := e.svc.CreateVolume(b, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), SnapshotId: &sn})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	_, err = e.svc.ModifySnapshotAttribute(b, &api.ModifySnapshotAttributeRequest{SnapshotId: &sn, Attribute: str("createVolumePermission"),
		OperationType: str("add"), UserIds: []string{"222222222222"}})
	wantCode(t, err, "InvalidSnapshot.NotFound") // only the owner shares

	must[any](t)(e.svc.ModifySnapshotAttribute(a, &api.ModifySnapshotAttributeRequest{SnapshotId: &sn, Attribute: str("createVolumePermission"),
		OperationType: str("add"), UserIds: []string{"222222222222"}}))
	if got := snapshotIDs(t, e, b, &api.DescribeSnapshotsRequest{RestorableByUserIds: []string{"self"}}); len(got) != 1 || got[0] != sn {
		t.Fatalf("B restorable-by self: %v", got)
	}
	if got := snapshotIDs(t, e, b, &api.DescribeSnapshotsRequest{OwnerIds: []string{"self"}}); len(got) != 0 {
		t.Fatalf("B owns %v", got)
	}
	if got := snapshotIDs(t, e, b, &api.DescribeSnapshotsRequest{OwnerIds: []string{"111111111111"}}); len(got) != 1 {
		t.Fatalf("B sees of A's: %v", got)
	}
	seen := e.describeSnapshot(t, b, sn)
	if *seen.OwnerId != "111111111111" || len(seen.Tags) != 0 {
		t.Fatalf("B sees %+v", seen)
	}
	if got := snapshotIDs(t, e, c, &api.DescribeSnapshotsRequest{}); len(got) != 0 {
		t.Fatalf("C sees %v", got)
	}
	if got := snapshotIDs(t, e, a, &api.DescribeSnapshotsRequest{RestorableByUserIds: []string{"222222222222"}}); len(got) != 1 {
		t.Fatalf("A's snapshots restorable by B: %v", got)
	}
	v := e.createVolume(t, b, &api.CreateVolumeRequest{SnapshotId: &sn})
	if *v.SnapshotId != sn || e.host.restored[*v.VolumeId] != sn {
		t.Fatalf("B's volume %+v", v)
	}
	attr := must[*api.DescribeSnapshotAttributeResult](t)(e.svc.DescribeSnapshotAttribute(a, &api.DescribeSnapshotAttributeRequest{
		SnapshotId: &sn, Attribute: str("createVolumePermission")}))
	if len(attr.CreateVolumePermissions) != 1 || *attr.CreateVolumePermissions[0].UserId != "222222222222" {
		t.Fatalf("permissions %+v", attr.CreateVolumePermissions)
	}
	// B may copy it into its own account; the copy outlives A's snapshot.
	cp := must[*api.CopySnapshotResult](t)(e.svc.CopySnapshot(b, &api.CopySnapshotRequest{SourceRegion: str("us-east-1"), SourceSnapshotId: &sn}))

	// Public: everyone sees it.
	must[any](t)(e.svc.ModifySnapshotAttribute(a, &api.ModifySnapshotAttributeRequest{SnapshotId: &sn,
		CreateVolumePermission: &api.CreateVolumePermissionModifications{Add: []api.CreateVolumePermission{{Group: str("all")}},
			Remove: []api.CreateVolumePermission{{UserId: str("222222222222")}}}}))
	if got := snapshotIDs(t, e, c, &api.DescribeSnapshotsRequest{RestorableByUserIds: []string{"all"}}); len(got) != 1 {
		t.Fatalf("C sees public %v", got)
	}
	if got := snapshotIDs(t, e, b, &api.DescribeSnapshotsRequest{RestorableByUserIds: []string{"self"}}); len(got) != 1 || got[0] != *cp.SnapshotId {
		t.Fatalf("B's own and explicitly shared after removal: %v", got)
	}
	e.createVolume(t, c, &api.CreateVolumeRequest{SnapshotId: &sn})

	must[any](t)(e.svc.ResetSnapshotAttribute(a, &api.ResetSnapshotAttributeRequest{SnapshotId: &sn, Attribute: str("createVolumePermission")}))
	_, err = e.svc.CreateVolume(c, &api.CreateVolumeRequest{AvailabilityZone: str("us-east-1a"), SnapshotId: &sn})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	attr = must[*api.DescribeSnapshotAttributeResult](t)(e.svc.DescribeSnapshotAttribute(a, &api.DescribeSnapshotAttributeRequest{
		SnapshotId: &sn, Attribute: str("createVolumePermission")}))
	if len(attr.CreateVolumePermissions) != 0 {
		t.Fatalf("permissions after reset %+v", attr.CreateVolumePermissions)
	}

	must[any](t)(e.svc.DeleteSnapshot(a, &api.DeleteSnapshotRequest{SnapshotId: &sn}))
	if !e.host.hasSnapshot(sn) {
		t.Fatal("A's delete dropped data B's copy uses")
	}
	e.createVolume(t, b, &api.CreateVolumeRequest{SnapshotId: cp.SnapshotId})
	must[any](t)(e.svc.DeleteSnapshot(b, &api.DeleteSnapshotRequest{SnapshotId: cp.SnapshotId}))
	if e.host.hasSnapshot(sn) {
		t.Fatal("the data outlived both snapshots")
	}
	// No grant or index record is left behind.
	for _, p := range []store.Prefix{{Kind: kindSnapshotGrant, AllAccounts: true}, {Kind: kindSnapshotPublic, AllAccounts: true}, {Kind: kindSnapshotData, AllAccounts: true}} {
		if recs, _ := e.st.List(context.Background(), p); len(recs) != 0 {
			t.Fatalf("%s records left: %d", p.Kind, len(recs))
		}
	}
}

func TestShareSnapshotRefusals(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	vol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8)}).VolumeId
	sn := *e.snapshot(t, ctx, vol, "").SnapshotId
	for _, c := range []struct {
		in   api.ModifySnapshotAttributeRequest
		code string
	}{
		{api.ModifySnapshotAttributeRequest{Attribute: str("createVolumePermission"), OperationType: str("add"), UserIds: []string{"bob"}}, "InvalidUserID.Malformed"},
		{api.ModifySnapshotAttributeRequest{Attribute: str("createVolumePermission"), OperationType: str("add"), GroupNames: []string{"friends"}}, "InvalidParameterValue"},
		{api.ModifySnapshotAttributeRequest{Attribute: str("createVolumePermission"), OperationType: str("share"), UserIds: []string{"222222222222"}}, "InvalidParameterValue"},
		{api.ModifySnapshotAttributeRequest{Attribute: str("productCodes"), OperationType: str("add"), UserIds: []string{"222222222222"}}, "InvalidParameterValue"},
		{api.ModifySnapshotAttributeRequest{Attribute: str("createVolumePermission")}, "MissingParameter"},
	} {
		c.in.SnapshotId = &sn
		_, err := e.svc.ModifySnapshotAttribute(ctx, &c.in)
		wantCode(t, err, c.code)
	}
	// Snapshots under aws/ebs cannot be shared, and no encrypted snapshot can be public.
	encVol := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8), Encrypted: boolp(true)}).VolumeId
	enc := *e.snapshot(t, ctx, encVol, "").SnapshotId
	_, err := e.svc.ModifySnapshotAttribute(ctx, &api.ModifySnapshotAttributeRequest{SnapshotId: &enc, Attribute: str("createVolumePermission"),
		OperationType: str("add"), UserIds: []string{"222222222222"}})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.svc.ModifySnapshotAttribute(ctx, &api.ModifySnapshotAttributeRequest{SnapshotId: &enc, Attribute: str("createVolumePermission"),
		OperationType: str("add"), GroupNames: []string{"all"}})
	wantCode(t, err, "InvalidParameterValue")
}

func TestCreateSnapshotsOfAnInstance(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	res := must[*api.Reservation](t)(e.svc.RunInstances(ctx, &api.RunInstancesRequest{ImageId: str(testAMI), InstanceType: str("t2.micro"),
		MinCount: i32(1), MaxCount: i32(1)}))
	e.svc.Wait()
	// Nothing is attached: the root volume is the only one to snapshot, unless it is excluded.
	out := must[*api.CreateSnapshotsResult](t)(e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{
		InstanceSpecification: &api.InstanceSpecification{InstanceId: res.Instances[0].InstanceId}}))
	e.svc.Wait()
	root := res.Instances[0].BlockDeviceMappings[0].Ebs.VolumeId
	if len(out.Snapshots) != 1 || *out.Snapshots[0].VolumeId != *root {
		t.Fatalf("snapshots %+v, want one of the root volume %s", out.Snapshots, *root)
	}
	out = must[*api.CreateSnapshotsResult](t)(e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{
		InstanceSpecification: &api.InstanceSpecification{InstanceId: res.Instances[0].InstanceId, ExcludeBootVolume: boolp(true)}}))
	if out.Snapshots == nil || len(out.Snapshots) != 0 {
		t.Fatalf("snapshots %+v", out.Snapshots)
	}
	_, err := e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{InstanceSpecification: &api.InstanceSpecification{InstanceId: str("i-0123456789abcdef0")}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	_, err = e.svc.CreateSnapshots(ctx, &api.CreateSnapshotsRequest{})
	wantCode(t, err, "MissingParameter")
}

func TestRecoverEBS(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	keep := *e.createVolume(t, ctx, &api.CreateVolumeRequest{Size: i32(8)}).VolumeId
	// A crash between the record and the host: a volume recorded creating, half made on the host.
	half := volumeRecord{ID: "vol-0aaaaaaaaaaaaaaaa", Account: "000000000000", Region: "us-east-1", volumeConfig: volumeConfig{Type: "gp2", SizeGiB: 1}, State: volumeCreating}
	if _, err := store.Create(ctx, e.st, scopedKey(ctx, kindVolume, half.ID), half); err != nil {
		t.Fatal(err)
	}
	_ = e.host.Create(ctx, half.ID, 1<<30)
	// A snapshot recorded pending whose host work never ran.
	pending := snapshotRecord{ID: "snap-0aaaaaaaaaaaaaaaa", OwnerID: "000000000000", Region: "us-east-1", DataID: "snap-0aaaaaaaaaaaaaaaa", VolumeID: keep, State: snapshotPending}
	if _, err := store.Create(ctx, e.st, snapshotKey(pending.OwnerID, pending.Region, pending.ID), pending); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RecoverEBS(ctx); err != nil {
		t.Fatal(err)
	}
	e.svc.Wait()
	if ids := e.host.volumeIDs(); len(ids) != 1 || ids[0] != keep {
		t.Fatalf("host volumes after recovery %v", ids)
	}
	if got := e.describeSnapshot(t, ctx, pending.ID); *got.State != "error" || got.StateMessage == nil {
		t.Fatalf("pending snapshot after recovery %+v", got)
	}
}
