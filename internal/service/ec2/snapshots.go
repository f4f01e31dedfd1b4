package ec2

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/regions"
	"github.com/overcast-cloud/overcast/internal/store"
)

// EBS snapshots. A snapshot record (kindSnapshot, in its owner's account and region) names the stored
// snapshot on the host by DataID. CreateSnapshot stores new data under the snapshot's own id; CopySnapshot
// makes a record that shares its source's DataID, so a copy costs no bytes. The snapshot data record
// (kindSnapshotData, keyed by DataID, owned by no account) lists every snapshot record using the data, in
// whatever account or region; the host data is deleted only when that list empties.
//
// Sharing: ModifySnapshotAttribute writes, beside the owner's record, a grant record in each grantee's
// account, or a public index record for the group "all", in the same transaction. A grantee finds the shared
// snapshot through them and then reads the owner's record, which alone decides whether it may.

// Snapshot states.
const (
	snapshotPending   = "pending"
	snapshotCompleted = "completed"
	snapshotError     = "error"
)

// snapshotRecord is a snapshot as the store keeps it.
type snapshotRecord struct {
	ID             string    `json:"id"`
	OwnerID        string    `json:"ownerId"`
	Region         string    `json:"region"`
	DataID         string    `json:"dataId"`
	VolumeID       string    `json:"volumeId"`
	VolumeSize     int       `json:"volumeSize"`
	Description    string    `json:"description,omitempty"`
	State          string    `json:"state"`
	StateMessage   string    `json:"stateMessage,omitempty"`
	Progress       int       `json:"progress"`
	StartTime      time.Time `json:"startTime"`
	CompletionTime time.Time `json:"completionTime,omitzero"`
	Encrypted      bool      `json:"encrypted,omitempty"`
	KmsKeyID       string    `json:"kmsKeyId,omitempty"`
	StoredBytes    int64     `json:"storedBytes,omitempty"` // what the host added to its chunk store
	Tags           []Tag     `json:"tags,omitempty"`
	// SharedWith and Public are the createVolumePermission attribute.
	SharedWith []string `json:"sharedWith,omitempty"`
	Public     bool     `json:"public,omitempty"`
}

// snapshotIndex is a grant or public index record: where the shared snapshot's record is.
type snapshotIndex struct {
	OwnerID string `json:"ownerId"`
}

// snapshotData lists the snapshot records that use one stored snapshot.
type snapshotData struct {
	ID   string   `json:"id"`
	Refs []string `json:"refs"` // snapshotRef of each record
	// Deleting is set when the last record went: the host data is being deleted.
	Deleting bool `json:"deleting,omitempty"`
}

func snapshotRef(account, region, id string) string { return account + "/" + region + "/" + id }

func dataKey(dataID string) store.Key { return store.Key{Kind: kindSnapshotData, ID: dataID} }

func snapshotKey(account, region, id string) store.Key {
	return store.Key{Account: account, Region: region, Kind: kindSnapshot, ID: id}
}

func grantKey(grantee, region, id string) store.Key {
	return store.Key{Account: grantee, Region: region, Kind: kindSnapshotGrant, ID: id}
}

func publicKey(region, id string) store.Key {
	return store.Key{Region: region, Kind: kindSnapshotPublic, ID: id}
}

// imageUsingSnapshot names the AMI whose block device mapping refers to the snapshot, if any: DeleteSnapshot
// refuses to delete such a snapshot. The AMIs of the request's account and region are looked at (amis.go).
var imageUsingSnapshot = func(ctx context.Context, s *Service, snapshotID string) (string, error) {
	return s.imageUsingSnapshot(ctx, snapshotID)
}

func snapshotNotFound(id string) error {
	return apierr.Missing("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
}

func checkSnapshotID(id string) error {
	if id == "" {
		return apierr.InvalidParam("MissingParameter", "The request must contain the parameter snapshotId")
	}
	return checkID(id, "snap", "InvalidSnapshotID.Malformed")
}

// canRestore reports whether the account may create volumes from (and copy) the snapshot.
func (r *snapshotRecord) canRestore(account string) bool {
	return r.OwnerID == account || r.Public || slices.Contains(r.SharedWith, account)
}

// ownSnapshot reads a snapshot of the request's account and region.
func (s *Service) ownSnapshot(ctx context.Context, id string) (snapshotRecord, store.Record, error) {
	if err := checkSnapshotID(id); err != nil {
		return snapshotRecord{}, store.Record{}, err
	}
	r, rec, err := store.Get[snapshotRecord](ctx, s.st, scopedKey(ctx, kindSnapshot, id))
	if errors.Is(err, store.ErrNotFound) {
		return r, rec, snapshotNotFound(id)
	}
	return r, rec, err
}

// restorableSnapshot finds, in region, a snapshot the caller owns or that was shared with it or with
// everyone.
func (s *Service) restorableSnapshot(ctx context.Context, region, id string) (snapshotRecord, error) {
	if err := checkSnapshotID(id); err != nil {
		return snapshotRecord{}, err
	}
	account := awsctx.From(ctx).Account
	r, _, err := store.Get[snapshotRecord](ctx, s.st, snapshotKey(account, region, id))
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return r, err
	}
	for _, k := range []store.Key{grantKey(account, region, id), publicKey(region, id)} {
		idx, _, err := store.Get[snapshotIndex](ctx, s.st, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return r, err
		}
		r, _, err = store.Get[snapshotRecord](ctx, s.st, snapshotKey(idx.OwnerID, region, id))
		if err == nil && r.canRestore(account) {
			return r, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return r, err
		}
	}
	return snapshotRecord{}, snapshotNotFound(id)
}

// visibleSnapshots lists the snapshots of the request's region the caller may see: its own, those shared
// with it, and the public ones.
func (s *Service) visibleSnapshots(ctx context.Context) ([]snapshotRecord, error) {
	rc := awsctx.From(ctx)
	own, _, err := store.List[snapshotRecord](ctx, s.st, scopedPrefix(ctx, kindSnapshot))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range own {
		seen[r.ID] = true
	}
	for _, p := range []store.Prefix{
		{Account: rc.Account, Region: rc.Region, Kind: kindSnapshotGrant},
		{Region: rc.Region, Kind: kindSnapshotPublic},
	} {
		idxs, raw, err := store.List[snapshotIndex](ctx, s.st, p)
		if err != nil {
			return nil, err
		}
		for i, idx := range idxs {
			id := raw[i].Key.ID
			if seen[id] {
				continue
			}
			r, _, err := store.Get[snapshotRecord](ctx, s.st, snapshotKey(idx.OwnerID, rc.Region, id))
			if errors.Is(err, store.ErrNotFound) {
				continue // deleted since the index was read
			}
			if err != nil {
				return nil, err
			}
			if r.canRestore(rc.Account) {
				seen[id] = true
				own = append(own, r)
			}
		}
	}
	return own, nil
}

// retryTxn runs the transaction fn builds until no other writer got in between.
func (s *Service) retryTxn(ctx context.Context, what string, fn func() ([]store.Op, error)) error {
	for range 64 {
		ops, err := fn()
		if err != nil {
			return err
		}
		if _, err = s.st.Txn(ctx, ops...); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return apierr.New(apierr.Unavailable, "RequestLimitExceeded", "%s is changing too fast; try again.", what)
}

// CreateSnapshot takes a point-in-time snapshot of a volume. It is answered "pending"; the host stores the
// volume's chunks in the background and the snapshot then becomes "completed" (or "error").
func (s *Service) CreateSnapshot(ctx context.Context, in *api.CreateSnapshotRequest) (*api.Snapshot, error) {
	if err := s.requireVolumes(); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	v, err := s.getVolume(ctx, deref(in.VolumeId))
	if err != nil {
		return nil, err
	}
	tags := tagsFromSpecs(in.TagSpecifications, "snapshot")
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	r, err := s.snapshotVolume(ctx, v, deref(in.Description), tags)
	if err != nil {
		return nil, err
	}
	out := snapshotOut(r, r.OwnerID)
	return &out, nil
}

// snapshotVolume records a pending snapshot of the volume and starts the host work.
func (s *Service) snapshotVolume(ctx context.Context, v volumeRecord, description string, tags []Tag) (snapshotRecord, error) {
	r, ops, err := s.newSnapshot(ctx, v, description, tags)
	if err != nil {
		return r, err
	}
	if _, err := s.st.Txn(ctx, ops...); err != nil {
		return r, err
	}
	// The volume's lock keeps the volume from being deleted under the snapshot; the snapshot's lock keeps
	// DeleteSnapshot from racing the host.
	s.async(ctx, v.ID, func(ctx context.Context) {
		unlock := s.hw().lock(r.ID)
		defer unlock()
		s.takeSnapshots(ctx, []snapshotRecord{r})
	})
	return r, nil
}

// newSnapshot makes the pending record of a snapshot of the volume and the store operations that create
// it with its data record.
func (s *Service) newSnapshot(ctx context.Context, v volumeRecord, description string, tags []Tag) (snapshotRecord, []store.Op, error) {
	if v.State != volumeAvailable && v.State != volumeInUse {
		return snapshotRecord{}, nil, apierr.New(apierr.Conflict, "IncorrectState", "The volume '%s' is '%s' and cannot be snapshotted.", v.ID, v.State)
	}
	if len(description) > 255 {
		return snapshotRecord{}, nil, apierr.InvalidParam("InvalidParameterValue", "The description exceeds the maximum length of 255 characters.")
	}
	rc := awsctx.From(ctx)
	r := snapshotRecord{
		ID: newID("snap"), OwnerID: rc.Account, Region: rc.Region, VolumeID: v.ID, VolumeSize: v.SizeGiB,
		Description: description, State: snapshotPending, StartTime: s.clock().UTC(), Encrypted: v.Encrypted,
		KmsKeyID: v.KmsKeyID, Tags: tags,
	}
	r.DataID = r.ID
	snapOp, err := store.PutOp(snapshotKey(rc.Account, rc.Region, r.ID), r, store.Absent)
	if err != nil {
		return r, nil, err
	}
	dataOp, err := store.PutOp(dataKey(r.DataID), snapshotData{ID: r.DataID, Refs: []string{snapshotRef(rc.Account, rc.Region, r.ID)}}, store.Absent)
	if err != nil {
		return r, nil, err
	}
	return r, []store.Op{snapOp, dataOp}, nil
}

// takeSnapshots stores the contents of the snapshots' volumes at one moment and records the outcomes. The
// filesystems of those volumes that a running instance has mounted are frozen first, all of them, and
// thawed once every volume has been read (snapshotsets.go), so that the set is crash-consistent.
func (s *Service) takeSnapshots(ctx context.Context, rs []snapshotRecord) {
	var pending []snapshotRecord
	for _, r := range rs {
		cur, _, err := store.Get[snapshotRecord](ctx, s.st, snapshotKey(r.OwnerID, r.Region, r.ID))
		if err == nil && cur.State == snapshotPending {
			pending = append(pending, r) // not deleted, nor settled already
		}
	}
	if len(pending) == 0 {
		return
	}
	type outcome struct {
		stored int64
		err    error
	}
	outcomes := make([]outcome, len(pending))
	func() {
		thaw := s.freezeVolumes(ctx, pending)
		defer thaw()
		for i, r := range pending {
			outcomes[i].stored, outcomes[i].err = s.volumes.Snapshot(ctx, r.VolumeID, r.DataID)
		}
	}()
	for i, r := range pending {
		s.recordSnapshot(ctx, r, outcomes[i].stored, outcomes[i].err)
	}
}

// recordSnapshot records what the host made of a pending snapshot.
func (s *Service) recordSnapshot(ctx context.Context, r snapshotRecord, stored int64, err error) {
	if err != nil {
		s.log.Error("snapshot volume on the host", "snapshot", r.ID, "volume", r.VolumeID, "err", err)
	}
	_, merr := store.Mutate(ctx, s.st, snapshotKey(r.OwnerID, r.Region, r.ID), func(cur *snapshotRecord) error {
		if cur.State != snapshotPending {
			return errors.New("the snapshot is no longer pending")
		}
		if err != nil {
			cur.State, cur.StateMessage = snapshotError, "The host could not store the snapshot: "+err.Error()
			return nil
		}
		cur.State, cur.Progress, cur.StoredBytes, cur.CompletionTime = snapshotCompleted, 100, stored, s.clock().UTC()
		return nil
	})
	if merr != nil {
		s.log.Error("record snapshot", "snapshot", r.ID, "err", merr)
	}
}

func attachedTo(v volumeRecord, instanceID string) bool {
	for _, a := range v.Attachments {
		if a.InstanceID == instanceID {
			return true
		}
	}
	return false
}

func progress(r snapshotRecord) string { return strconv.Itoa(r.Progress) + "%" }

// snapshotOut renders a snapshot for the viewing account; tags are the owner's and only it sees them.
func snapshotOut(r snapshotRecord, viewer string) api.Snapshot {
	out := api.Snapshot{
		SnapshotId: str(r.ID), OwnerId: str(r.OwnerID), VolumeId: str(r.VolumeID), VolumeSize: i32(r.VolumeSize),
		Description: str(r.Description), State: str(r.State), StateMessage: optStr(r.StateMessage), Progress: str(progress(r)),
		StartTime: timep(r.StartTime), CompletionTime: timep(r.CompletionTime), Encrypted: boolp(r.Encrypted),
		KmsKeyId: optStr(r.KmsKeyID), StorageTier: str("standard"),
	}
	if viewer == r.OwnerID {
		out.Tags = apiTags(r.Tags)
	}
	return out
}

var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// DescribeSnapshots lists the snapshots the caller may see in the region, narrowed by ids, owners, the
// accounts that may restore them, and filters.
//   - OwnerIds: "self", an account id, or "amazon"/"aws-marketplace" (which own no snapshot in Overcast).
//   - RestorableByUserIds: "self" (owned by or shared with the caller), "all" (public), or an account id
//     (the caller's own snapshots shared with that account).
func (s *Service) DescribeSnapshots(ctx context.Context, in *api.DescribeSnapshotsRequest) (*api.DescribeSnapshotsResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	for _, id := range in.SnapshotIds {
		if err := checkSnapshotID(id); err != nil {
			return nil, err
		}
	}
	for _, o := range in.OwnerIds {
		if o != "self" && o != "amazon" && o != "aws-marketplace" && !accountIDPattern.MatchString(o) {
			return nil, apierr.InvalidParam("InvalidUserID.Malformed", "Invalid user id: \"%s\"", o)
		}
	}
	for _, u := range in.RestorableByUserIds {
		if u != "self" && u != "all" && !accountIDPattern.MatchString(u) {
			return nil, apierr.InvalidParam("InvalidUserID.Malformed", "Invalid user id: \"%s\"", u)
		}
	}
	me := awsctx.From(ctx).Account
	snaps, err := s.visibleSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireIDs(in.SnapshotIds, snaps, func(r snapshotRecord) string { return r.ID }, snapshotNotFound); err != nil {
		return nil, err
	}
	ids := set(in.SnapshotIds)
	var out []api.Snapshot
	for _, r := range snaps {
		if len(ids) > 0 && !ids[r.ID] || !ownedBy(r, me, in.OwnerIds) || !restorableBy(r, me, in.RestorableByUserIds) {
			continue
		}
		ok, err := filterSet(in.Filters).match(snapshotFields(r, me, in.Filters))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, snapshotOut(r, me))
		}
	}
	page, next, err := paginate(out, func(sn api.Snapshot) string { return *sn.SnapshotId }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []api.Snapshot{}
	}
	return &api.DescribeSnapshotsResult{Snapshots: page, NextToken: next}, nil
}

func ownedBy(r snapshotRecord, me string, owners []string) bool {
	if len(owners) == 0 {
		return true
	}
	for _, o := range owners {
		if o == "self" && r.OwnerID == me || o == r.OwnerID {
			return true
		}
	}
	return false
}

func restorableBy(r snapshotRecord, me string, users []string) bool {
	if len(users) == 0 {
		return true
	}
	for _, u := range users {
		switch {
		case u == "self" && (r.OwnerID == me || slices.Contains(r.SharedWith, me)):
			return true
		case u == "all" && r.Public:
			return true
		case r.OwnerID == me && slices.Contains(r.SharedWith, u):
			return true
		}
	}
	return false
}

func snapshotFields(r snapshotRecord, viewer string, filters []api.Filter) map[string][]string {
	f := map[string][]string{
		"snapshot-id": {r.ID}, "volume-id": {r.VolumeID}, "status": {r.State}, "owner-id": {r.OwnerID},
		"owner-alias": nil, "description": {r.Description}, "encrypted": boolField(r.Encrypted),
		"progress": {progress(r)}, "start-time": {awsTime(r.StartTime)}, "volume-size": {strconv.Itoa(r.VolumeSize)},
		"storage-tier": {"standard"},
	}
	var tags []Tag
	if viewer == r.OwnerID {
		tags = r.Tags
	}
	return tagFields(f, tags, filters)
}

// DeleteSnapshot deletes one of the caller's snapshots. The stored data goes only when no other snapshot
// record (a copy, in any account or region) uses it, and a snapshot an AMI uses cannot be deleted.
func (s *Service) DeleteSnapshot(ctx context.Context, in *api.DeleteSnapshotRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.SnapshotId)
	if _, _, err := s.ownSnapshot(ctx, id); err != nil {
		return nil, err
	}
	if ami, err := imageUsingSnapshot(ctx, s, id); err != nil {
		return nil, err
	} else if ami != "" {
		return nil, apierr.New(apierr.Conflict, "InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", id, ami)
	}
	unlock := s.hw().lock(id)
	defer unlock()
	rc := awsctx.From(ctx)
	var dropData string
	err := s.retryTxn(ctx, "The snapshot", func() ([]store.Op, error) {
		r, rec, err := s.ownSnapshot(ctx, id)
		if err != nil {
			return nil, err
		}
		ops := []store.Op{store.DeleteOp(rec.Key, rec.ModRevision)}
		for _, u := range r.SharedWith {
			ops = append(ops, store.DeleteOp(grantKey(u, r.Region, r.ID), store.Any))
		}
		if r.Public {
			ops = append(ops, store.DeleteOp(publicKey(r.Region, r.ID), store.Any))
		}
		if r.DataID == "" {
			return ops, nil // an AMI's snapshot: its data is the image's, released by DeregisterImage
		}
		d, drec, err := store.Get[snapshotData](ctx, s.st, dataKey(r.DataID))
		if errors.Is(err, store.ErrNotFound) {
			return ops, nil // no data record: nothing else to release
		}
		if err != nil {
			return nil, err
		}
		d.Refs = slices.DeleteFunc(d.Refs, func(ref string) bool { return ref == snapshotRef(rc.Account, rc.Region, r.ID) })
		dropData = ""
		if len(d.Refs) == 0 {
			d.Deleting, dropData = true, d.ID
		}
		op, err := store.PutOp(drec.Key, d, drec.ModRevision)
		return append(ops, op), err
	})
	if err != nil {
		return nil, err
	}
	if dropData != "" {
		s.deleteSnapshotData(ctx, dropData)
	}
	return &wire.Empty{}, nil
}

// deleteSnapshotData deletes stored data no snapshot record uses, then its data record. A failure is
// logged and left for RecoverEBS: the records are already gone, so the user sees the snapshot deleted.
func (s *Service) deleteSnapshotData(ctx context.Context, dataID string) {
	if s.volumes == nil {
		return
	}
	if err := s.volumes.DeleteSnapshot(ctx, dataID); err != nil && !goneFromHost(err) {
		s.log.Error("delete snapshot data on the host", "snapshot", dataID, "err", err)
		return
	}
	if _, err := store.Delete(ctx, s.st, dataKey(dataID), store.Any); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("delete snapshot data record", "snapshot", dataID, "err", err)
	}
}

// CopySnapshot copies a completed snapshot of SourceRegion (the caller's own, or one shared with it) into
// the request's region. The copy shares the stored data with its source; only its record is new. It can
// add encryption, or change the key, but never remove it.
func (s *Service) CopySnapshot(ctx context.Context, in *api.CopySnapshotRequest) (*api.CopySnapshotResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	rc := awsctx.From(ctx)
	srcRegion := deref(in.SourceRegion)
	switch {
	case srcRegion == "":
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter SourceRegion")
	case deref(in.SourceSnapshotId) == "":
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter SourceSnapshotId")
	case !regions.Valid(srcRegion):
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter SourceRegion is invalid.", srcRegion)
	case in.DestinationRegion != nil && *in.DestinationRegion != rc.Region:
		return nil, apierr.InvalidParam("InvalidParameterValue",
			"Value (%s) for parameter DestinationRegion is invalid. The copy is made in the region of the request, %s.", *in.DestinationRegion, rc.Region)
	}
	src, err := s.restorableSnapshot(ctx, srcRegion, *in.SourceSnapshotId)
	if err != nil {
		return nil, err
	}
	if src.State != snapshotCompleted {
		return nil, apierr.New(apierr.Conflict, "IncorrectState", "Snapshot '%s' is in state '%s'; only a completed snapshot can be copied.", src.ID, src.State)
	}
	if len(deref(in.Description)) > 255 {
		return nil, apierr.InvalidParam("InvalidParameterValue", "The description exceeds the maximum length of 255 characters.")
	}
	tags := tagsFromSpecs(in.TagSpecifications, "snapshot")
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	// A copy is encrypted as a volume made from its source would be. It shares the source's stored bytes, so
	// a copy under another key re-wraps nothing yet: per-volume data keys come with encryption at rest.
	encrypted, keyID, err := s.volumeEncryption(ctx, in.Encrypted, in.KmsKeyId, &src)
	if err != nil {
		return nil, err
	}
	description := deref(in.Description)
	if in.Description == nil {
		description = fmt.Sprintf("[Copied %s from %s]", src.ID, srcRegion)
	}
	r, err := s.copySnapshot(ctx, src, description, tags, encrypted, keyID)
	if err != nil {
		return nil, err
	}
	return &api.CopySnapshotResult{SnapshotId: str(r.ID), Tags: apiTags(r.Tags)}, nil
}

// copySnapshot records, in the request's account and region, a completed copy of src sharing its stored data.
func (s *Service) copySnapshot(ctx context.Context, src snapshotRecord, description string, tags []Tag, encrypted bool, keyID string) (snapshotRecord, error) {
	rc := awsctx.From(ctx)
	now := s.clock().UTC()
	r := snapshotRecord{
		ID: newID("snap"), OwnerID: rc.Account, Region: rc.Region, DataID: src.DataID, VolumeID: copiedVolumeID,
		VolumeSize: src.VolumeSize, Description: description, State: snapshotCompleted, Progress: 100,
		StartTime: now, CompletionTime: now, Encrypted: encrypted, KmsKeyID: keyID, Tags: tags,
	}
	err := s.retryTxn(ctx, "The source snapshot", func() ([]store.Op, error) {
		d, drec, err := store.Get[snapshotData](ctx, s.st, dataKey(r.DataID))
		if errors.Is(err, store.ErrNotFound) || err == nil && d.Deleting {
			return nil, snapshotNotFound(src.ID)
		}
		if err != nil {
			return nil, err
		}
		d.Refs = append(d.Refs, snapshotRef(r.OwnerID, r.Region, r.ID))
		dataOp, err := store.PutOp(drec.Key, d, drec.ModRevision)
		if err != nil {
			return nil, err
		}
		snapOp, err := store.PutOp(snapshotKey(r.OwnerID, r.Region, r.ID), r, store.Absent)
		return []store.Op{snapOp, dataOp}, err
	})
	return r, err
}

// createVolumePermission is a permission change as ModifySnapshotAttribute gives it.
type createVolumePermission struct {
	users  []string
	public *bool // set or cleared when the group "all" is named
}

// permissionChange reads the change from either of ModifySnapshotAttribute's forms: CreateVolumePermission
// (Add and Remove), or OperationType with UserIds and GroupNames.
func permissionChange(in *api.ModifySnapshotAttributeRequest) (add, remove createVolumePermission, err error) {
	read := func(perms []api.CreateVolumePermission, into *createVolumePermission, value bool) error {
		for _, p := range perms {
			if p.Group != nil {
				if *p.Group != "all" {
					return apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter group is invalid. The only group is 'all'.", *p.Group)
				}
				into.public = boolp(value)
			}
			if p.UserId != nil {
				if !accountIDPattern.MatchString(*p.UserId) {
					return apierr.InvalidParam("InvalidUserID.Malformed", "Invalid user id: \"%s\"", *p.UserId)
				}
				into.users = append(into.users, *p.UserId)
			}
		}
		return nil
	}
	if c := in.CreateVolumePermission; c != nil {
		if err := read(c.Add, &add, true); err != nil {
			return add, remove, err
		}
		if err := read(c.Remove, &remove, false); err != nil {
			return add, remove, err
		}
	}
	if len(in.UserIds) > 0 || len(in.GroupNames) > 0 || in.OperationType != nil {
		var perms []api.CreateVolumePermission
		for _, u := range in.UserIds {
			perms = append(perms, api.CreateVolumePermission{UserId: str(u)})
		}
		for _, g := range in.GroupNames {
			perms = append(perms, api.CreateVolumePermission{Group: str(g)})
		}
		switch op := deref(in.OperationType); op {
		case "add":
			err = read(perms, &add, true)
		case "remove":
			err = read(perms, &remove, false)
		case "":
			err = apierr.InvalidParam("MissingParameter", "The request must contain the parameter operationType")
		default:
			err = apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter operationType is invalid. Expected: 'add' or 'remove'.", op)
		}
	}
	if err == nil && len(add.users)+len(remove.users) == 0 && add.public == nil && remove.public == nil {
		err = apierr.InvalidParam("MissingParameter", "The request must contain the parameter createVolumePermission")
	}
	return add, remove, err
}

// checkSnapshotAttribute answers EC2's errors for an attribute other than createVolumePermission (and
// productCodes where allowed).
func checkSnapshotAttribute(attr *string, productCodes bool) error {
	switch a := deref(attr); {
	case a == "createVolumePermission", a == "productCodes" && productCodes:
		return nil
	case a == "":
		return apierr.InvalidParam("MissingParameter", "The request must contain the parameter attribute")
	default:
		return apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", a)
	}
}

// ModifySnapshotAttribute shares one of the caller's snapshots with other accounts, or with everyone, or
// stops sharing it.
func (s *Service) ModifySnapshotAttribute(ctx context.Context, in *api.ModifySnapshotAttributeRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if in.Attribute != nil || in.CreateVolumePermission == nil {
		if err := checkSnapshotAttribute(in.Attribute, false); err != nil {
			return nil, err
		}
	}
	id := deref(in.SnapshotId)
	if _, _, err := s.ownSnapshot(ctx, id); err != nil {
		return nil, err
	}
	add, remove, err := permissionChange(in)
	if err != nil {
		return nil, err
	}
	err = s.editPermissions(ctx, id, func(r *snapshotRecord) error {
		if r.Encrypted && (len(add.users) > 0 || add.public != nil) {
			if add.public != nil {
				return apierr.InvalidParam("InvalidParameterValue", "Encrypted snapshots cannot be made public.")
			}
			if r.KmsKeyID == awsEBSKeyARN(withAccount(ctx, r.OwnerID, r.Region)) {
				return apierr.InvalidParam("InvalidParameterValue",
					"Snapshots encrypted with the AWS managed key aws/ebs cannot be shared; copy the snapshot under a customer managed key first.")
			}
		}
		for _, u := range add.users {
			if u != r.OwnerID && !slices.Contains(r.SharedWith, u) {
				r.SharedWith = append(r.SharedWith, u)
			}
		}
		r.SharedWith = slices.DeleteFunc(r.SharedWith, func(u string) bool { return slices.Contains(remove.users, u) })
		if add.public != nil {
			r.Public = true
		}
		if remove.public != nil {
			r.Public = false
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// editPermissions changes a snapshot's createVolumePermission and, in the same transaction, the grant and
// public index records that follow from it.
func (s *Service) editPermissions(ctx context.Context, id string, fn func(*snapshotRecord) error) error {
	return s.retryTxn(ctx, "The snapshot", func() ([]store.Op, error) {
		r, rec, err := s.ownSnapshot(ctx, id)
		if err != nil {
			return nil, err
		}
		before := r
		before.SharedWith = slices.Clone(r.SharedWith)
		if err := fn(&r); err != nil {
			return nil, err
		}
		op, err := store.PutOp(rec.Key, r, rec.ModRevision)
		if err != nil {
			return nil, err
		}
		ops := []store.Op{op}
		idx := snapshotIndex{OwnerID: r.OwnerID}
		for _, u := range r.SharedWith {
			if !slices.Contains(before.SharedWith, u) {
				op, err := store.PutOp(grantKey(u, r.Region, r.ID), idx, store.Any)
				if err != nil {
					return nil, err
				}
				ops = append(ops, op)
			}
		}
		for _, u := range before.SharedWith {
			if !slices.Contains(r.SharedWith, u) {
				ops = append(ops, store.DeleteOp(grantKey(u, r.Region, r.ID), store.Any))
			}
		}
		switch {
		case r.Public && !before.Public:
			op, err := store.PutOp(publicKey(r.Region, r.ID), idx, store.Any)
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		case !r.Public && before.Public:
			ops = append(ops, store.DeleteOp(publicKey(r.Region, r.ID), store.Any))
		}
		return ops, nil
	})
}

// DescribeSnapshotAttribute shows who may create volumes from one of the caller's snapshots.
func (s *Service) DescribeSnapshotAttribute(ctx context.Context, in *api.DescribeSnapshotAttributeRequest) (*api.DescribeSnapshotAttributeResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if err := checkSnapshotAttribute(in.Attribute, true); err != nil {
		return nil, err
	}
	r, _, err := s.ownSnapshot(ctx, deref(in.SnapshotId))
	if err != nil {
		return nil, err
	}
	out := &api.DescribeSnapshotAttributeResult{SnapshotId: str(r.ID)}
	if *in.Attribute == "productCodes" {
		out.ProductCodes = []api.ProductCode{}
		return out, nil
	}
	out.CreateVolumePermissions = []api.CreateVolumePermission{}
	if r.Public {
		out.CreateVolumePermissions = append(out.CreateVolumePermissions, api.CreateVolumePermission{Group: str("all")})
	}
	for _, u := range r.SharedWith {
		out.CreateVolumePermissions = append(out.CreateVolumePermissions, api.CreateVolumePermission{UserId: str(u)})
	}
	return out, nil
}

// ResetSnapshotAttribute stops sharing one of the caller's snapshots.
func (s *Service) ResetSnapshotAttribute(ctx context.Context, in *api.ResetSnapshotAttributeRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if err := checkSnapshotAttribute(in.Attribute, false); err != nil {
		return nil, err
	}
	id := deref(in.SnapshotId)
	if _, _, err := s.ownSnapshot(ctx, id); err != nil {
		return nil, err
	}
	err := s.editPermissions(ctx, id, func(r *snapshotRecord) error {
		r.SharedWith, r.Public = nil, false
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// recoverSnapshots settles what a crash interrupted: a pending snapshot becomes "error", and stored data
// whose last record went is deleted.
func (s *Service) recoverSnapshots(ctx context.Context) error {
	snaps, raw, err := store.List[snapshotRecord](ctx, s.st, store.Prefix{Kind: kindSnapshot, AllAccounts: true})
	if err != nil {
		return err
	}
	var errs []error
	for i, r := range snaps {
		if r.State != snapshotPending {
			continue
		}
		_, err := store.Mutate(ctx, s.st, raw[i].Key, func(cur *snapshotRecord) error {
			if cur.State == snapshotPending {
				cur.State, cur.StateMessage = snapshotError, "Overcast restarted while the snapshot was being taken."
			}
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	datas, _, err := store.List[snapshotData](ctx, s.st, store.Prefix{Kind: kindSnapshotData, AllAccounts: true})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, d := range datas {
		if d.Deleting {
			s.deleteSnapshotData(ctx, d.ID)
		}
	}
	return errors.Join(errs...)
}
