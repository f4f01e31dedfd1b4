package ec2

import (
	"context"
	"errors"
	"slices"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Crash-consistent snapshots. A volume attached to a running instance and mounted in it is read while its
// filesystem is frozen (FIFREEZE in the machine, through the compute driver): the filesystem is flushed and
// its writers wait, so that the snapshot holds what a clean stop would have left. CreateSnapshots freezes
// every volume of the set, then reads them all, then thaws them all: the snapshots are of one moment. The
// filesystems stay frozen while the volumes are read, so the instance's writes to them wait that long.
//
// A volume whose filesystem cannot be frozen (one that has no freeze, such as vfat, or a host error) is
// read as it is, which is what AWS always does: the snapshot is then what a crash would have left, at
// best. Thawing happens whatever the reads did.

// blockFreezer is a compute driver that can freeze the filesystem of a device attached to a machine (the
// linux and fake drivers can). Its thaw must be called; it is a no-op when nothing was mounted.
type blockFreezer interface {
	FreezeBlock(ctx context.Context, id, guestPath string) (thaw func() error, err error)
}

// freezeVolumes freezes the filesystems of the snapshots' volumes that are attached and mounted, and
// returns what thaws them, in the reverse order.
func (s *Service) freezeVolumes(ctx context.Context, rs []snapshotRecord) (thawAll func()) {
	freezer, ok := s.compute.(blockFreezer)
	if !ok {
		return func() {}
	}
	var thaws []func()
	for _, r := range rs {
		v, err := s.getVolume(ctx, r.VolumeID)
		if err != nil || len(v.Attachments) == 0 {
			continue
		}
		a := v.Attachments[0]
		guest, _ := guestDevice(a.Device)
		thaw, err := freezer.FreezeBlock(ctx, a.InstanceID, guest)
		if err != nil {
			if !errors.Is(err, compute.ErrNotAttached) && !errors.Is(err, compute.ErrNotDefined) {
				s.log.Warn("freeze volume for snapshot; reading it unfrozen", "snapshot", r.ID, "volume", v.ID,
					"instance", a.InstanceID, "err", err)
			}
			continue
		}
		thaws = append(thaws, func() {
			if err := thaw(); err != nil {
				s.log.Error("thaw volume after snapshot", "volume", v.ID, "instance", a.InstanceID, "err", err)
			}
		})
	}
	return func() {
		for _, thaw := range slices.Backward(thaws) {
			thaw()
		}
	}
}

// CreateSnapshots snapshots the EBS volumes attached to an instance, at one moment: one snapshot each,
// all recorded pending at once, taken together with their filesystems frozen. ExcludeBootVolume leaves the
// root volume out, ExcludeDataVolumeIds the others named. CopyTagsFromSource=volume gives each snapshot its volume's tags,
// under those of TagSpecifications.
func (s *Service) CreateSnapshots(ctx context.Context, in *api.CreateSnapshotsRequest) (*api.CreateSnapshotsResult, error) {
	if err := s.requireVolumes(); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if in.InstanceSpecification == nil || deref(in.InstanceSpecification.InstanceId) == "" {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter InstanceSpecification.InstanceId")
	}
	spec := in.InstanceSpecification
	inst, err := s.getInstance(ctx, *spec.InstanceId)
	if err != nil {
		return nil, err
	}
	for _, id := range spec.ExcludeDataVolumeIds {
		if err := checkID(id, "vol", "InvalidVolumeID.Malformed"); err != nil {
			return nil, err
		}
	}
	switch c := deref(in.CopyTagsFromSource); c {
	case "", "volume":
	default:
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter CopyTagsFromSource is invalid. Expected: 'volume'.", c)
	}
	given := tagsFromSpecs(in.TagSpecifications, "snapshot")
	if err := checkTags(given); err != nil {
		return nil, err
	}
	vols, _, err := store.List[volumeRecord](ctx, s.st, scopedPrefix(ctx, kindVolume))
	if err != nil {
		return nil, err
	}
	var (
		rs  []snapshotRecord
		ops []store.Op
	)
	for _, v := range vols {
		if !attachedTo(v, inst.ID) || slices.Contains(spec.ExcludeDataVolumeIds, v.ID) || v.State != volumeInUse {
			continue
		}
		if v.ID == inst.RootVolumeID && spec.ExcludeBootVolume != nil && *spec.ExcludeBootVolume {
			continue
		}
		var tags []Tag
		if deref(in.CopyTagsFromSource) == "volume" {
			tags = slices.Clone(v.Tags)
		}
		for _, t := range given {
			tags = setTag(tags, t)
		}
		r, vops, err := s.newSnapshot(ctx, v, deref(in.Description), tags)
		if err != nil {
			return nil, err
		}
		rs, ops = append(rs, r), append(ops, vops...)
	}
	out := &api.CreateSnapshotsResult{Snapshots: []api.SnapshotInfo{}}
	if len(rs) == 0 {
		return out, nil
	}
	if _, err := s.st.Txn(ctx, ops...); err != nil {
		return nil, err
	}
	// The volumes' locks are taken in one order, so that two sets of the same volumes cannot deadlock.
	s.async(ctx, rs[0].ID, func(ctx context.Context) {
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.VolumeID)
		}
		slices.Sort(ids)
		for _, r := range rs[1:] {
			ids = append(ids, r.ID)
		}
		for _, id := range ids {
			defer s.hw().lock(id)()
		}
		s.takeSnapshots(ctx, rs)
	})
	for _, r := range rs {
		out.Snapshots = append(out.Snapshots, api.SnapshotInfo{
			SnapshotId: str(r.ID), VolumeId: str(r.VolumeID), VolumeSize: i32(r.VolumeSize), State: str(r.State),
			Progress: str(progress(r)), StartTime: timep(r.StartTime), OwnerId: str(r.OwnerID),
			Description: str(r.Description), Encrypted: boolp(r.Encrypted), Tags: apiTags(r.Tags),
		})
	}
	return out, nil
}
