package ec2

import (
	"context"
	"errors"
	"fmt"
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

// EBS volumes: records of kindVolume, each backed by a volume of the host's volume store (s.volumes) named by
// the volume id. Every host change is recorded first: a volume is recorded "creating" before the host makes
// it, "deleting" before the host removes it, and a modification "modifying" before the host resizes it, so
// RecoverEBS can finish or undo what a crash interrupted.

// Volume states, as DescribeVolumes shows them.
const (
	volumeCreating  = "creating"
	volumeAvailable = "available"
	volumeInUse     = "in-use"
	volumeDeleting  = "deleting"
	volumeError     = "error"
)

// volumeTransitions names every legal change of a volume's state; any other is refused. A volume whose
// creation fails is removed rather than kept in "error"; a deletion that fails leaves it in "error", from
// which it can be deleted again.
var volumeTransitions = map[string][]string{
	volumeCreating:  {volumeAvailable, volumeInUse}, // launch volumes are in use once made (launchvolumes.go)
	volumeAvailable: {volumeInUse, volumeDeleting},
	volumeInUse:     {volumeAvailable},
	volumeDeleting:  {volumeError},
	volumeError:     {volumeDeleting},
}

// Volume modification states.
const (
	modModifying  = "modifying"
	modOptimizing = "optimizing"
	modCompleted  = "completed"
	modFailed     = "failed"
)

// modificationInterval is AWS's wait between two modifications of one volume.
const modificationInterval = 6 * time.Hour

// volumeRecord is an EBS volume as the store keeps it.
type volumeRecord struct {
	ID                 string `json:"id"`
	Account            string `json:"account"`
	Region             string `json:"region"`
	AvailabilityZone   string `json:"az"`
	AvailabilityZoneID string `json:"azId"`
	volumeConfig
	SnapshotID   string    `json:"snapshotId,omitempty"`
	Encrypted    bool      `json:"encrypted,omitempty"`
	KmsKeyID     string    `json:"kmsKeyId,omitempty"`
	State        string    `json:"state"`
	CreateTime   time.Time `json:"createTime"`
	Tags         []Tag     `json:"tags,omitempty"`
	AutoEnableIO bool      `json:"autoEnableIO,omitempty"`
	// ClientToken and Request make CreateVolume idempotent: the same token with the same request answers
	// the volume it made.
	ClientToken  string              `json:"clientToken,omitempty"`
	Request      string              `json:"request,omitempty"`
	Modification *volumeModification `json:"modification,omitempty"` // the latest one
	// RestoreData and RestoreGiB name the stored snapshot, and its size, that a launch volume still to be made
	// is restored from (launchvolumes.go).
	RestoreData string `json:"restoreData,omitempty"`
	RestoreGiB  int    `json:"restoreGiB,omitempty"`
	// Attachments has at most one attachment (Multi-Attach is not supported): attachments.go.
	Attachments []volumeAttachment `json:"attachments,omitempty"`
}

// volumeAttachment is the volume attached to an instance.
type volumeAttachment struct {
	InstanceID          string    `json:"instanceId"`
	Device              string    `json:"device"`
	State               string    `json:"state"`
	AttachTime          time.Time `json:"attachTime"`
	DeleteOnTermination bool      `json:"deleteOnTermination,omitempty"`
}

// volumeModification is one ModifyVolume request and its progress.
type volumeModification struct {
	State         string       `json:"state"`
	StatusMessage string       `json:"statusMessage,omitempty"`
	Original      volumeConfig `json:"original"`
	Target        volumeConfig `json:"target"`
	Progress      int          `json:"progress"`
	StartTime     time.Time    `json:"startTime"`
	EndTime       time.Time    `json:"endTime,omitzero"`
}

func (m *volumeModification) active() bool {
	return m != nil && (m.State == modModifying || m.State == modOptimizing)
}

// setState moves the volume to state when that transition is legal.
func (v *volumeRecord) setState(state string) error {
	if !slices.Contains(volumeTransitions[v.State], state) {
		return apierr.New(apierr.Conflict, "IncorrectState", "The volume '%s' is '%s' and cannot become '%s'.", v.ID, v.State, state)
	}
	v.State = state
	return nil
}

func volumeNotFound(id string) error {
	return apierr.Missing("InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
}

// requireVolumes answers Unsupported on a host that keeps no volumes, as RunInstances does without compute.
func (s *Service) requireVolumes() error {
	if s.volumes == nil {
		return apierr.InvalidParam("Unsupported",
			"EBS volumes cannot be kept on this Overcast host: it was started without a volume store.")
	}
	return nil
}

// getVolume reads one volume of the request's account and region.
func (s *Service) getVolume(ctx context.Context, id string) (volumeRecord, error) {
	if id == "" {
		return volumeRecord{}, apierr.InvalidParam("MissingParameter", "The request must contain the parameter volumeId")
	}
	v, _, err := getResource[volumeRecord](ctx, s, kindVolume, "vol", "InvalidVolumeID.Malformed", volumeNotFound, id)
	return v, err
}

// mutateVolume changes a volume's record under optimistic concurrency.
func (s *Service) mutateVolume(ctx context.Context, id string, fn func(*volumeRecord) error) (volumeRecord, error) {
	v, err := store.Mutate(ctx, s.st, scopedKey(ctx, kindVolume, id), fn)
	if errors.Is(err, store.ErrNotFound) {
		return v, volumeNotFound(id)
	}
	return v, err
}

const gib = int64(1) << 30

// CreateVolume makes an empty volume, or one holding a snapshot's contents, in an Availability Zone of the
// request's region. The host work (a sparse file, or a restore that may load lazily) is done before the call
// returns, so the volume is answered "available".
func (s *Service) CreateVolume(ctx context.Context, in *api.CreateVolumeRequest) (*api.Volume, error) {
	if err := s.requireVolumes(); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	rc := awsctx.From(ctx)
	zone, err := volumeZone(rc.Region, deref(in.AvailabilityZone), deref(in.AvailabilityZoneId))
	if err != nil {
		return nil, err
	}
	typeName := deref(in.VolumeType)
	if typeName == "" {
		typeName = "gp2"
	}
	t, err := lookupVolumeType(typeName)
	if err != nil {
		return nil, err
	}
	if err := refuseUnsupported(t, in.Iops, in.Throughput); err != nil {
		return nil, err
	}
	if t.requiresIops && in.Iops == nil {
		// AWS's answer, as its users quote it (kubernetes-sigs/aws-ebs-csi-driver#766).
		return nil, apierr.InvalidParam("InvalidParameterCombination", "The parameter iops must be specified for %s volumes.", t.name)
	}
	var snap *snapshotRecord
	if id := deref(in.SnapshotId); id != "" {
		sn, err := s.volumeSource(ctx, id)
		if err != nil {
			return nil, err
		}
		snap = &sn
	}
	cfg := volumeConfig{Type: t.name, Iops: t.defaultIops, Throughput: t.defaultThroughput, MultiAttach: in.MultiAttachEnabled != nil && *in.MultiAttachEnabled}
	switch {
	case in.Size != nil:
		cfg.SizeGiB = int(*in.Size)
	case snap != nil:
		cfg.SizeGiB = snap.VolumeSize
	default:
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter size or snapshotId")
	}
	if snap != nil && cfg.SizeGiB < snap.VolumeSize {
		return nil, apierr.InvalidParam("InvalidParameterValue", "Volume of %dGiB is smaller than snapshot '%s', expect size >= %dGiB",
			cfg.SizeGiB, snap.ID, snap.VolumeSize)
	}
	if in.Iops != nil {
		cfg.Iops = int(*in.Iops)
	}
	if in.Throughput != nil {
		cfg.Throughput = int(*in.Throughput)
	}
	if err := checkVolumeConfig(cfg); err != nil {
		return nil, err
	}
	encrypted, keyID, err := s.volumeEncryption(ctx, in.Encrypted, in.KmsKeyId, snap)
	if err != nil {
		return nil, err
	}
	if encrypted {
		if err := s.requireEncryption(); err != nil {
			return nil, err
		}
	}
	tags := tagsFromSpecs(in.TagSpecifications, "volume")
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	v := volumeRecord{
		ID: newID("vol"), Account: rc.Account, Region: rc.Region, AvailabilityZone: zone.Name, AvailabilityZoneID: zone.ID,
		volumeConfig: cfg, Encrypted: encrypted, KmsKeyID: keyID, State: volumeCreating, CreateTime: s.clock().UTC(),
		Tags: tags, ClientToken: deref(in.ClientToken),
	}
	if snap != nil {
		v.SnapshotID = snap.ID
	}
	if v.ClientToken != "" {
		v.Request = fmt.Sprintf("%s|%+v|%s|%t|%s", zone.Name, cfg, v.SnapshotID, encrypted, keyID)
		if prior, found, err := s.volumeByToken(ctx, v.ClientToken); err != nil || found {
			if err == nil && prior.Request != v.Request {
				err = apierr.InvalidParam("IdempotentParameterMismatch",
					"The client token '%s' was used before with different parameters.", v.ClientToken)
			}
			out := volumeOut(prior)
			return &out, err
		}
	}
	if err := s.createHostVolume(ctx, &v, snap); err != nil {
		return nil, err
	}
	out := volumeOut(v)
	return &out, nil
}

// createHostVolume records the volume creating, makes it on the host and records it available. When the host
// fails, what it made is removed and so is the record.
func (s *Service) createHostVolume(ctx context.Context, v *volumeRecord, snap *snapshotRecord) error {
	key := scopedKey(ctx, kindVolume, v.ID)
	unlock := s.hw().lock(v.ID)
	defer unlock()
	if _, err := store.Create(ctx, s.st, key, *v); err != nil {
		return err
	}
	dataID := ""
	if snap != nil {
		dataID = snap.DataID
	}
	if err := s.makeHostVolume(ctx, *v, dataID); err != nil {
		s.log.Error("create volume on the host", "volume", v.ID, "err", err)
		s.dropFailedVolume(ctx, v.ID)
		return hostError("The volume could not be created", err)
	}
	rec, err := s.mutateVolume(ctx, v.ID, func(r *volumeRecord) error { return r.setState(volumeAvailable) })
	if err != nil {
		return err
	}
	*v = rec
	return nil
}

// volumeSource finds, in the request's region, a snapshot the caller may make a volume from: its own or one
// shared with it, and completed.
func (s *Service) volumeSource(ctx context.Context, id string) (snapshotRecord, error) {
	sn, err := s.restorableSnapshot(ctx, regionOf(ctx), id)
	if err == nil && sn.State != snapshotCompleted {
		err = apierr.New(apierr.Conflict, "IncorrectState", "Snapshot '%s' is in state '%s'; a volume can be created only from a completed snapshot.", id, sn.State)
	}
	return sn, err
}

// makeHostVolume makes the volume's bytes on the host: restored from the stored snapshot dataID, or empty
// when dataID is "", and encrypted under the volume's KMS key when the volume is encrypted.
func (s *Service) makeHostVolume(ctx context.Context, v volumeRecord, dataID string) error {
	size := int64(v.SizeGiB) * gib
	enc, _ := s.volumes.(encryptingVolumes)
	switch {
	case dataID != "" && v.Encrypted:
		return enc.RestoreEncrypted(ctx, v.ID, size, dataID, v.KmsKeyID)
	case dataID != "":
		return s.volumes.Restore(ctx, v.ID, size, dataID)
	case v.Encrypted:
		return enc.CreateEncrypted(ctx, v.ID, size, v.KmsKeyID)
	default:
		return s.volumes.Create(ctx, v.ID, size)
	}
}

// dropFailedVolume removes what the host made of a volume it failed to make, and the volume's record.
func (s *Service) dropFailedVolume(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	if err := s.volumes.Delete(ctx, id); err != nil && !goneFromHost(err) {
		s.log.Error("remove the half-made volume", "volume", id, "err", err)
	}
	if _, err := store.Delete(ctx, s.st, scopedKey(ctx, kindVolume, id), store.Any); err != nil {
		s.log.Error("remove the record of a failed volume", "volume", id, "err", err)
	}
}

// encryptingVolumes is what a volume store that encrypts at rest offers beside Volumes: volumes whose host
// bytes are ciphertext under a data key of their own, wrapped by the KMS key keyID.
type encryptingVolumes interface {
	CreateEncrypted(ctx context.Context, id string, sizeBytes int64, keyID string) error
	RestoreEncrypted(ctx context.Context, id string, sizeBytes int64, snapshotID, keyID string) error
}

// requireEncryption refuses an encrypted volume on a host whose volume store cannot encrypt: its bytes would
// be plaintext on the host, which an encrypted EBS volume's never are.
func (s *Service) requireEncryption() error {
	if _, ok := s.volumes.(encryptingVolumes); !ok {
		return apierr.InvalidParam("Unsupported",
			"Encrypted volumes cannot be kept on this Overcast host: its volume store does not encrypt at rest.")
	}
	return nil
}

// hostError passes on a host error that names its AWS code, and makes any other an internal error: the
// host's classes (a volume not found on the host, say) are not the user's.
func hostError(what string, err error) error {
	if e, ok := apierr.As(err); ok && e.Code != "" {
		return err
	}
	return apierr.New(apierr.Internal, "InternalError", "%s on the host: %v", what, err)
}

// goneFromHost reports whether a host deletion found nothing to delete, which is what it was asked for.
func goneFromHost(err error) bool { return apierr.Is(err, apierr.NotFound) }

// volumeByToken finds the volume a CreateVolume with this client token made.
func (s *Service) volumeByToken(ctx context.Context, token string) (volumeRecord, bool, error) {
	vols, _, err := store.List[volumeRecord](ctx, s.st, scopedPrefix(ctx, kindVolume))
	if err != nil {
		return volumeRecord{}, false, err
	}
	for _, v := range vols {
		if v.ClientToken == token {
			return v, true, nil
		}
	}
	return volumeRecord{}, false, nil
}

// volumeZone checks that the named Availability Zone (or zone id) is one of the request's region.
func volumeZone(region, name, id string) (regions.Zone, error) {
	switch {
	case name == "" && id == "":
		return regions.Zone{}, apierr.InvalidParam("MissingParameter", "The request must contain the parameter availabilityZone")
	case name != "" && id != "":
		return regions.Zone{}, apierr.InvalidParam("InvalidParameterCombination",
			"Only one of the parameters availabilityZone and availabilityZoneId can be given.")
	}
	r, _ := regions.Lookup(region)
	for _, z := range r.ZoneList() {
		if z.Name == name || z.ID == id {
			return z, nil
		}
	}
	if name == "" {
		return regions.Zone{}, apierr.InvalidParam("InvalidParameterValue", "Invalid availability zone ID: [%s]", id)
	}
	return regions.Zone{}, apierr.InvalidParam("InvalidParameterValue", "Invalid availability zone: [%s]", name)
}

// volumeEncryption decides whether a new volume is encrypted and with which key. A volume is encrypted when
// the request asks, when the account encrypts by default, or when its snapshot is encrypted: encryption is
// never removed. Its key is the one named, else the snapshot's when the snapshot is the caller's own, else
// the account's default EBS key.
func (s *Service) volumeEncryption(ctx context.Context, encryptedParam *bool, keyParam *string, snap *snapshotRecord) (bool, string, error) {
	defaults, err := s.ebsDefaults(ctx)
	if err != nil {
		return false, "", err
	}
	encrypted := encryptedParam != nil && *encryptedParam || defaults.EncryptionByDefault || snap != nil && snap.Encrypted
	if !encrypted {
		if keyParam != nil {
			return false, "", apierr.InvalidParam("InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
		}
		return false, "", nil
	}
	switch {
	case keyParam != nil:
		key, err := s.ebsKey(ctx, *keyParam)
		return true, key, err
	case snap != nil && snap.Encrypted && snap.OwnerID == awsctx.From(ctx).Account && snap.Region == awsctx.From(ctx).Region:
		if s.keys != nil {
			// The snapshot's key must still be usable to make a volume of it.
			if _, err := s.ebsKey(ctx, snap.KmsKeyID); err != nil {
				return false, "", err
			}
		}
		return true, snap.KmsKeyID, nil
	}
	key, err := s.defaultKMSKey(ctx)
	return true, key, err
}

// volumeOut renders a volume as DescribeVolumes shows it.
func volumeOut(v volumeRecord) api.Volume {
	out := api.Volume{
		VolumeId: str(v.ID), AvailabilityZone: str(v.AvailabilityZone), AvailabilityZoneId: str(v.AvailabilityZoneID),
		CreateTime: timep(v.CreateTime), Encrypted: boolp(v.Encrypted), KmsKeyId: optStr(v.KmsKeyID),
		Size: i32(v.SizeGiB), SnapshotId: str(v.SnapshotID), State: str(v.State), VolumeType: str(v.Type),
		MultiAttachEnabled: boolp(v.MultiAttach), FastRestored: boolp(false), Tags: apiTags(v.Tags),
		Attachments: []api.VolumeAttachment{},
	}
	if n := v.shownIops(); n > 0 {
		out.Iops = i32(n)
	}
	if v.Throughput > 0 {
		out.Throughput = i32(v.Throughput)
	}
	for _, a := range v.Attachments {
		out.Attachments = append(out.Attachments, api.VolumeAttachment{
			VolumeId: str(v.ID), InstanceId: str(a.InstanceID), Device: str(a.Device), State: str(a.State),
			AttachTime: timep(a.AttachTime), DeleteOnTermination: boolp(a.DeleteOnTermination),
		})
	}
	return out
}

// volumeFields are the filter fields DescribeVolumes knows.
func volumeFields(v volumeRecord, filters []api.Filter) map[string][]string {
	f := map[string][]string{
		"volume-id": {v.ID}, "volume-type": {v.Type}, "size": {strconv.Itoa(v.SizeGiB)}, "status": {v.State},
		"availability-zone": {v.AvailabilityZone}, "create-time": {awsTime(v.CreateTime)}, "encrypted": boolField(v.Encrypted),
		"snapshot-id": optField(v.SnapshotID), "multi-attach-enabled": boolField(v.MultiAttach), "fast-restored": boolField(false),
		"operator.managed": boolField(false), "operator.principal": nil,
		"attachment.attach-time": nil, "attachment.delete-on-termination": nil, "attachment.device": nil,
		"attachment.instance-id": nil, "attachment.status": nil,
	}
	for _, a := range v.Attachments {
		f["attachment.attach-time"] = append(f["attachment.attach-time"], awsTime(a.AttachTime))
		f["attachment.delete-on-termination"] = append(f["attachment.delete-on-termination"], strconv.FormatBool(a.DeleteOnTermination))
		f["attachment.device"] = append(f["attachment.device"], a.Device)
		f["attachment.instance-id"] = append(f["attachment.instance-id"], a.InstanceID)
		f["attachment.status"] = append(f["attachment.status"], a.State)
	}
	return tagFields(f, v.Tags, filters)
}

func optField(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// checkMaxResults answers EC2's errors for a MaxResults out of the call's range, or given with ids.
func checkMaxResults(maxResults *int32, hi int, ids []string, idsParam string) error {
	if maxResults == nil {
		return nil
	}
	if len(ids) > 0 {
		return apierr.InvalidParam("InvalidParameterCombination", "The parameter %s cannot be used with the parameter maxResults", idsParam)
	}
	if n := int(*maxResults); n < 5 || n > hi {
		return apierr.InvalidParam("InvalidParameterValue",
			"Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and %d.", n, hi)
	}
	return nil
}

// listVolumes reads the volumes of the request's account and region that are named (all when ids is empty)
// and pass the filters; every named volume must exist.
func (s *Service) listVolumes(ctx context.Context, ids []string, filters []api.Filter, fields func(volumeRecord) map[string][]string) ([]volumeRecord, error) {
	for _, id := range ids {
		if err := checkID(id, "vol", "InvalidVolumeID.Malformed"); err != nil {
			return nil, err
		}
	}
	vols, _, err := store.List[volumeRecord](ctx, s.st, scopedPrefix(ctx, kindVolume))
	if err != nil {
		return nil, err
	}
	if err := requireIDs(ids, vols, func(v volumeRecord) string { return v.ID }, volumeNotFound); err != nil {
		return nil, err
	}
	want := set(ids)
	var out []volumeRecord
	for _, v := range vols {
		if len(want) > 0 && !want[v.ID] {
			continue
		}
		ok, err := filterSet(filters).match(fields(v))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// DescribeVolumes lists the EBS volumes of the account and region.
func (s *Service) DescribeVolumes(ctx context.Context, in *api.DescribeVolumesRequest) (*api.DescribeVolumesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	// 1000, not the documented 500: the AWS CLI asks every describe-volumes for pages of 1000, and EC2 takes it.
	if err := checkMaxResults(in.MaxResults, 1000, in.VolumeIds, "volumeSet"); err != nil {
		return nil, err
	}
	vols, err := s.listVolumes(ctx, in.VolumeIds, in.Filters, func(v volumeRecord) map[string][]string { return volumeFields(v, in.Filters) })
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(vols, func(v volumeRecord) string { return v.ID }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &api.DescribeVolumesResult{Volumes: []api.Volume{}, NextToken: next}
	for _, v := range page {
		out.Volumes = append(out.Volumes, volumeOut(v))
	}
	return out, nil
}

// DeleteVolume removes an available volume and its bytes. Snapshots of it stay.
func (s *Service) DeleteVolume(ctx context.Context, in *api.DeleteVolumeRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.VolumeId)
	if _, err := s.getVolume(ctx, id); err != nil {
		return nil, err
	}
	if err := s.requireVolumes(); err != nil {
		return nil, err
	}
	// The lock waits for host work on the volume, such as a snapshot being taken, to finish.
	unlock := s.hw().lock(id)
	defer unlock()
	_, err := s.mutateVolume(ctx, id, func(v *volumeRecord) error {
		if len(v.Attachments) > 0 {
			return apierr.New(apierr.Conflict, "VolumeInUse", "Volume %s is currently attached to %s", v.ID, v.Attachments[0].InstanceID)
		}
		return v.setState(volumeDeleting)
	})
	if err != nil {
		return nil, err
	}
	if err := s.deleteHostVolume(ctx, id); err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// deleteHostVolume removes a volume recorded deleting from the host, then its record. When the host fails
// the volume is left in "error", from which DeleteVolume can try again.
func (s *Service) deleteHostVolume(ctx context.Context, id string) error {
	if err := s.volumes.Delete(ctx, id); err != nil && !goneFromHost(err) {
		s.log.Error("delete volume on the host", "volume", id, "err", err)
		if _, merr := s.mutateVolume(context.WithoutCancel(ctx), id, func(v *volumeRecord) error { return v.setState(volumeError) }); merr != nil {
			s.log.Error("record a failed volume deletion", "volume", id, "err", merr)
		}
		return hostError("The volume could not be deleted", err)
	}
	_, err := store.Delete(ctx, s.st, scopedKey(ctx, kindVolume, id), store.Any)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// ModifyVolume grows a volume or changes its type, IOPS, throughput or Multi-Attach. The modification is
// answered "modifying"; the host resize follows, then the volume takes its new configuration ("optimizing")
// and the modification completes.
func (s *Service) ModifyVolume(ctx context.Context, in *api.ModifyVolumeRequest) (*api.ModifyVolumeResult, error) {
	if err := s.requireVolumes(); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.VolumeId)
	if _, err := s.getVolume(ctx, id); err != nil {
		return nil, err
	}
	now := s.clock().UTC()
	v, err := s.mutateVolume(ctx, id, func(v *volumeRecord) error {
		if v.State != volumeAvailable && v.State != volumeInUse {
			return apierr.New(apierr.Conflict, "IncorrectState", "The volume '%s' is '%s' and cannot be modified.", v.ID, v.State)
		}
		if m := v.Modification; m.active() {
			return apierr.New(apierr.Conflict, "IncorrectModificationState",
				"Volume %s is already being modified; wait until its modification completes.", v.ID)
		} else if m != nil && m.State != modFailed && now.Before(m.StartTime.Add(modificationInterval)) {
			return apierr.New(apierr.LimitExceeded, "VolumeModificationRateExceeded",
				"You've reached the maximum modification rate per volume limit. Wait at least 6 hours between modifications per EBS volume.")
		}
		target, err := modificationTarget(v.volumeConfig, in)
		if err != nil {
			return err
		}
		v.Modification = &volumeModification{State: modModifying, Original: v.volumeConfig, Target: target, StartTime: now}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.async(ctx, id, func(ctx context.Context) { s.applyModification(ctx, id) })
	out := modificationOut(v.ID, *v.Modification)
	return &api.ModifyVolumeResult{VolumeModification: &out}, nil
}

// modificationTarget is the configuration a ModifyVolume asks for: what it names, the rest kept from the
// volume (or the new type's defaults where the old type has no such setting).
func modificationTarget(cur volumeConfig, in *api.ModifyVolumeRequest) (volumeConfig, error) {
	target := cur
	if in.VolumeType != nil {
		target.Type = *in.VolumeType
	}
	t, err := lookupVolumeType(target.Type)
	if err != nil {
		return target, err
	}
	if err := refuseUnsupported(t, in.Iops, in.Throughput); err != nil {
		return target, err
	}
	if in.Size != nil {
		if int(*in.Size) < cur.SizeGiB {
			return target, apierr.InvalidParam("InvalidParameterValue", "New size cannot be smaller than existing size")
		}
		target.SizeGiB = int(*in.Size)
	}
	switch {
	case in.Iops != nil:
		target.Iops = int(*in.Iops)
	case !t.takesIops:
		target.Iops = 0
	case target.Type == cur.Type:
		// the provisioned IOPS stay
	case t.defaultIops > 0:
		target.Iops = t.defaultIops
	case cur.shownIops() > 0:
		target.Iops = cur.shownIops() // what the volume delivers now carries over
	default:
		return target, apierr.InvalidParam("MissingParameter", "The request must contain the parameter iops")
	}
	switch {
	case in.Throughput != nil:
		target.Throughput = int(*in.Throughput)
	case !t.takesThroughput:
		target.Throughput = 0
	case cur.Throughput == 0:
		target.Throughput = t.defaultThroughput
	}
	if in.MultiAttachEnabled != nil {
		target.MultiAttach = *in.MultiAttachEnabled
	}
	if target == cur {
		return target, apierr.InvalidParam("InvalidParameterCombination",
			"The modification does not change the volume's size, type, iops, throughput or Multi-Attach setting.")
	}
	return target, checkVolumeConfig(target)
}

// applyModification carries a recorded modification out on the host. It is idempotent, so RecoverEBS can run
// it again after a crash.
func (s *Service) applyModification(ctx context.Context, id string) {
	v, err := s.getVolume(ctx, id)
	if err != nil || !v.Modification.active() {
		return
	}
	m := *v.Modification
	if m.Target.SizeGiB > m.Original.SizeGiB {
		err = s.volumes.Resize(ctx, id, int64(m.Target.SizeGiB)*gib)
	}
	if err != nil {
		s.log.Error("resize volume on the host", "volume", id, "err", err)
		s.recordModification(ctx, id, func(v *volumeRecord) {
			v.Modification.State, v.Modification.StatusMessage = modFailed, "The host could not resize the volume: "+err.Error()
			v.Modification.EndTime = s.clock().UTC()
		})
		return
	}
	s.recordModification(ctx, id, func(v *volumeRecord) {
		v.volumeConfig = v.Modification.Target
		v.Modification.State, v.Modification.Progress = modOptimizing, 50
	})
	s.recordModification(ctx, id, func(v *volumeRecord) {
		v.Modification.State, v.Modification.Progress, v.Modification.EndTime = modCompleted, 100, s.clock().UTC()
	})
}

func (s *Service) recordModification(ctx context.Context, id string, fn func(*volumeRecord)) {
	_, err := s.mutateVolume(ctx, id, func(v *volumeRecord) error {
		if v.Modification == nil {
			return errors.New("the volume has no modification")
		}
		fn(v)
		return nil
	})
	if err != nil {
		s.log.Error("record volume modification", "volume", id, "err", err)
	}
}

func modificationOut(id string, m volumeModification) api.VolumeModification {
	out := api.VolumeModification{
		VolumeId: str(id), ModificationState: str(m.State), StatusMessage: optStr(m.StatusMessage),
		Progress: i64(m.Progress), StartTime: timep(m.StartTime), EndTime: timep(m.EndTime),
		OriginalSize: i32(m.Original.SizeGiB), OriginalVolumeType: str(m.Original.Type),
		OriginalMultiAttachEnabled: boolp(m.Original.MultiAttach),
		TargetSize:                 i32(m.Target.SizeGiB), TargetVolumeType: str(m.Target.Type),
		TargetMultiAttachEnabled: boolp(m.Target.MultiAttach),
	}
	if n := m.Original.shownIops(); n > 0 {
		out.OriginalIops = i32(n)
	}
	if n := m.Target.shownIops(); n > 0 {
		out.TargetIops = i32(n)
	}
	if m.Original.Throughput > 0 {
		out.OriginalThroughput = i32(m.Original.Throughput)
	}
	if m.Target.Throughput > 0 {
		out.TargetThroughput = i32(m.Target.Throughput)
	}
	return out
}

// DescribeVolumesModifications shows each volume's latest modification.
func (s *Service) DescribeVolumesModifications(ctx context.Context, in *api.DescribeVolumesModificationsRequest) (*api.DescribeVolumesModificationsResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	vols, err := s.listVolumes(ctx, in.VolumeIds, nil, func(volumeRecord) map[string][]string { return nil })
	if err != nil {
		return nil, err
	}
	var mods []api.VolumeModification
	for _, v := range vols {
		if v.Modification == nil {
			if len(in.VolumeIds) > 0 {
				return nil, apierr.Missing("InvalidVolumeModification.NotFound", "Modification for volume '%s' does not exist.", v.ID)
			}
			continue
		}
		m := *v.Modification
		ok, err := filterSet(in.Filters).match(map[string][]string{
			"volume-id": {v.ID}, "modification-state": {m.State}, "start-time": {awsTime(m.StartTime)},
			"original-size": {strconv.Itoa(m.Original.SizeGiB)}, "original-volume-type": {m.Original.Type},
			"original-iops": optField(itoaPos(m.Original.shownIops())), "original-multi-attach-enabled": boolField(m.Original.MultiAttach),
			"target-size": {strconv.Itoa(m.Target.SizeGiB)}, "target-volume-type": {m.Target.Type},
			"target-iops": optField(itoaPos(m.Target.shownIops())), "target-throughput": optField(itoaPos(m.Target.Throughput)),
			"target-multi-attach-enabled": boolField(m.Target.MultiAttach),
		})
		if err != nil {
			return nil, err
		}
		if ok {
			mods = append(mods, modificationOut(v.ID, m))
		}
	}
	page, next, err := paginate(mods, func(m api.VolumeModification) string { return *m.VolumeId }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []api.VolumeModification{}
	}
	return &api.DescribeVolumesModificationsResult{VolumesModifications: page, NextToken: next}, nil
}

func itoaPos(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// DescribeVolumeStatus reports every volume healthy: Overcast's volumes are files on the host, with no
// degraded I/O to report and no scheduled events.
func (s *Service) DescribeVolumeStatus(ctx context.Context, in *api.DescribeVolumeStatusRequest) (*api.DescribeVolumeStatusResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if err := checkMaxResults(in.MaxResults, 1000, in.VolumeIds, "volumeSet"); err != nil {
		return nil, err
	}
	ioPerf := func(v volumeRecord) string {
		if v.Type == "io1" || v.Type == "io2" {
			return "normal"
		}
		return "not-applicable"
	}
	vols, err := s.listVolumes(ctx, in.VolumeIds, in.Filters, func(v volumeRecord) map[string][]string {
		return map[string][]string{
			"availability-zone": {v.AvailabilityZone}, "volume-status.status": {"ok"},
			"volume-status.details-name": {"io-enabled", "io-performance"}, "volume-status.details-status": {"passed", ioPerf(v)},
			"action.code": nil, "action.description": nil, "action.event-id": nil, "event.description": nil,
			"event.event-id": nil, "event.event-type": nil, "event.not-after": nil, "event.not-before": nil,
		}
	})
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(vols, func(v volumeRecord) string { return v.ID }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &api.DescribeVolumeStatusResult{VolumeStatuses: []api.VolumeStatusItem{}, NextToken: next}
	for _, v := range page {
		out.VolumeStatuses = append(out.VolumeStatuses, api.VolumeStatusItem{
			VolumeId: str(v.ID), AvailabilityZone: str(v.AvailabilityZone), AvailabilityZoneId: str(v.AvailabilityZoneID),
			VolumeStatus: &api.VolumeStatusInfo{Status: str("ok"), Details: []api.VolumeStatusDetails{
				{Name: str("io-enabled"), Status: str("passed")}, {Name: str("io-performance"), Status: str(ioPerf(v))},
			}},
			Actions: []api.VolumeStatusAction{}, Events: []api.VolumeStatusEvent{},
		})
	}
	return out, nil
}

// DescribeVolumeAttribute shows autoEnableIO or the (always empty) productCodes.
func (s *Service) DescribeVolumeAttribute(ctx context.Context, in *api.DescribeVolumeAttributeRequest) (*api.DescribeVolumeAttributeResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	v, err := s.getVolume(ctx, deref(in.VolumeId))
	if err != nil {
		return nil, err
	}
	out := &api.DescribeVolumeAttributeResult{VolumeId: str(v.ID)}
	switch attr := deref(in.Attribute); attr {
	case "autoEnableIO":
		out.AutoEnableIO = &api.AttributeBooleanValue{Value: boolp(v.AutoEnableIO)}
	case "productCodes":
		out.ProductCodes = []api.ProductCode{}
	case "":
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter attribute")
	default:
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
	}
	return out, nil
}

// ModifyVolumeAttribute sets autoEnableIO.
func (s *Service) ModifyVolumeAttribute(ctx context.Context, in *api.ModifyVolumeAttributeRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.getVolume(ctx, deref(in.VolumeId)); err != nil {
		return nil, err
	}
	if in.AutoEnableIO == nil || in.AutoEnableIO.Value == nil {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter autoEnableIO")
	}
	_, err := s.mutateVolume(ctx, *in.VolumeId, func(v *volumeRecord) error {
		v.AutoEnableIO = *in.AutoEnableIO.Value
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// RecoverEBS runs when Overcast starts, after the host's volume store is up. It finishes or undoes the host
// work a crash interrupted: a volume still "creating" or "deleting" is removed (nothing half-made stays), a
// modification still under way is applied again, a snapshot still "pending" is marked "error" (the moment
// it was to capture is gone), and stored snapshot data no record uses any more is deleted. It is idempotent.
func (s *Service) RecoverEBS(ctx context.Context) error {
	if s.volumes == nil {
		return nil
	}
	vols, raw, err := store.List[volumeRecord](ctx, s.st, store.Prefix{Kind: kindVolume, AllAccounts: true})
	if err != nil {
		return err
	}
	var errs []error
	for i, v := range vols {
		actx := withAccount(ctx, raw[i].Key.Account, raw[i].Key.Region)
		switch {
		case v.State == volumeCreating && len(v.Attachments) > 0:
			// A launch volume: its instance's boot makes it (launchvolumes.go).
		case v.State == volumeCreating || v.State == volumeDeleting:
			if err := s.volumes.Delete(actx, v.ID); err != nil && !goneFromHost(err) {
				errs = append(errs, fmt.Errorf("volume %s: %w", v.ID, err))
				continue
			}
			if _, err := store.Delete(actx, s.st, raw[i].Key, raw[i].ModRevision); err != nil && !errors.Is(err, store.ErrNotFound) {
				errs = append(errs, err)
			}
		case v.Modification.active():
			s.async(actx, v.ID, func(ctx context.Context) { s.applyModification(ctx, v.ID) })
		case len(v.Attachments) == 1 && v.Attachments[0].State != attachAttached:
			if err := s.recoverAttachment(actx, v); err != nil {
				errs = append(errs, fmt.Errorf("volume %s: %w", v.ID, err))
			}
		}
	}
	if err := s.recoverSnapshots(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
