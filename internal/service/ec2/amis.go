package ec2

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/regions"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Custom AMIs: CreateImage, RegisterImage, CopyImage, DeregisterImage and the launchPermission and
// description attributes.
//
// A custom AMI is a record whose block device mappings name EBS snapshots: CreateImage snapshots every EBS
// volume of the instance (its root volume, then the others), RegisterImage names a snapshot the caller may
// restore, and CopyImage copies the snapshots into the request's region. RunInstances restores the
// instance's volumes from them (launchvolumes.go). The snapshots outlive the AMI, and DeleteSnapshot refuses
// to delete one an AMI of the account uses.
//
// Records: the AMI (kindImage, in its owner's account and region), its name (kindImageName, keyed by name,
// for uniqueness), and an index entry (kindImageIndex, account "", the region, keyed by AMI id) that says
// whose it is, so that other accounts find a shared or public AMI.

const (
	kindImage      = "ec2/image"
	kindImageName  = "ec2/image-name"  // keyed by AMI name, in the owner's account and region
	kindImageIndex = "ec2/image-index" // account "", the AMI's region, keyed by AMI id
)

// AMI states.
const (
	imagePending   = "pending"
	imageAvailable = "available"
	imageFailed    = "failed"
)

// imageRecord is a custom AMI.
type imageRecord struct {
	ID             string    `json:"id"`
	OwnerID        string    `json:"ownerId"`
	Region         string    `json:"region"`
	Name           string    `json:"name"`
	Description    string    `json:"description,omitempty"`
	State          string    `json:"state"`
	StateMessage   string    `json:"stateMessage,omitempty"`
	Created        time.Time `json:"created"`
	SourceInstance string    `json:"sourceInstance,omitempty"`
	SourceImage    string    `json:"sourceImage,omitempty"` // the AMI the instance ran, or CopyImage's source
	SourceRegion   string    `json:"sourceRegion,omitempty"`
	// SnapshotID, SizeGiB and VolumeType are the root device's mapping; Volumes are the others.
	SnapshotID  string         `json:"snapshotId"`
	SizeGiB     int            `json:"sizeGiB"`
	VolumeType  string         `json:"volumeType"`
	Encrypted   bool           `json:"encrypted,omitempty"`
	Volumes     []imageMapping `json:"volumes,omitempty"`
	DefaultUser string         `json:"defaultUser,omitempty"`
	Tags        []Tag          `json:"tags,omitempty"`
	// LaunchUsers and Public are the launchPermission attribute.
	LaunchUsers []string `json:"launchUsers,omitempty"`
	Public      bool     `json:"public,omitempty"`
}

// imageMapping is an EBS block device mapping of a custom AMI.
type imageMapping struct {
	Device              string `json:"device"`
	SnapshotID          string `json:"snapshotId"`
	SizeGiB             int    `json:"sizeGiB"`
	VolumeType          string `json:"volumeType"`
	Encrypted           bool   `json:"encrypted,omitempty"`
	DeleteOnTermination bool   `json:"deleteOnTermination,omitempty"`
}

// mappings are the AMI's EBS mappings, the root device's first.
func (r imageRecord) mappings() []imageMapping {
	root := imageMapping{Device: rootDevice, SnapshotID: r.SnapshotID, SizeGiB: r.SizeGiB, VolumeType: r.VolumeType,
		Encrypted: r.Encrypted, DeleteOnTermination: true}
	return append([]imageMapping{root}, r.Volumes...)
}

// setMappings makes ms, the root device's first, the AMI's EBS mappings.
func (r *imageRecord) setMappings(ms []imageMapping) {
	r.SnapshotID, r.SizeGiB, r.VolumeType, r.Encrypted = ms[0].SnapshotID, ms[0].SizeGiB, ms[0].VolumeType, ms[0].Encrypted
	r.Volumes = ms[1:]
}

type imageIndex struct {
	OwnerID string `json:"ownerId"`
}

type imageName struct {
	ImageID string `json:"imageId"`
}

func imageKey(account, region, id string) store.Key {
	return store.Key{Account: account, Region: region, Kind: kindImage, ID: id}
}

func imageIndexKey(region, id string) store.Key {
	return store.Key{Region: region, Kind: kindImageIndex, ID: id}
}

func imageNameKey(account, region, name string) store.Key {
	return store.Key{Account: account, Region: region, Kind: kindImageName, ID: name}
}

func init() {
	taggables["ami"] = taggable{kindImage, "image", "tags", func(id string) error { return imageNotFound(id) }}
}

func imageNotFound(id string) error {
	return apierr.Missing("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
}

func checkImageID(id string) error {
	if id == "" {
		return apierr.InvalidParam("MissingParameter", "The request must contain the parameter ImageId")
	}
	if !amiIDPattern.MatchString(id) {
		return apierr.InvalidParam("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
	}
	return nil
}

// amiNameRE is what EC2 allows in an AMI name.
var amiNameRE = regexp.MustCompile(`^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$`)

func checkImageName(name string) error {
	if name == "" {
		return apierr.InvalidParam("MissingParameter", "The request must contain the parameter name")
	}
	if !amiNameRE.MatchString(name) {
		return apierr.InvalidParam("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long, and may contain "+
			"letters, numbers, '(', ')', '.', '-', '/', '_', ' ', '[', ']', '@' and '''")
	}
	return nil
}

// ownImage reads an AMI of the request's account and region.
func (s *Service) ownImage(ctx context.Context, id string) (imageRecord, store.Record, error) {
	if err := checkImageID(id); err != nil {
		return imageRecord{}, store.Record{}, err
	}
	r, rec, err := store.Get[imageRecord](ctx, s.st, scopedKey(ctx, kindImage, id))
	if errors.Is(err, store.ErrNotFound) {
		return r, rec, imageNotFound(id)
	}
	return r, rec, err
}

// canLaunch reports whether the account may launch (and see, and copy) the AMI.
func (r *imageRecord) canLaunch(account string) bool {
	return r.OwnerID == account || r.Public || slices.Contains(r.LaunchUsers, account)
}

// visibleImage finds, in region, a custom AMI the caller may launch. found is false for ids no custom AMI
// of the region has (a quick-start AMI, or nothing).
func (s *Service) visibleImage(ctx context.Context, region, id string) (r imageRecord, found bool, err error) {
	idx, _, err := store.Get[imageIndex](ctx, s.st, imageIndexKey(region, id))
	if errors.Is(err, store.ErrNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	r, _, err = store.Get[imageRecord](ctx, s.st, imageKey(idx.OwnerID, region, id))
	if errors.Is(err, store.ErrNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if !r.canLaunch(awsctx.From(ctx).Account) {
		return r, true, imageNotFound(id)
	}
	return r, true, nil
}

// launchCustomImage describes, for RunInstances, a custom AMI of the request's region that the caller owns
// or may launch.
func (s *Service) launchCustomImage(ctx context.Context, id string) (amiInfo, error) {
	r, found, err := s.visibleImage(ctx, regionOf(ctx), id)
	if err != nil && found {
		return amiInfo{}, apierr.InvalidParam("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	}
	if err != nil {
		return amiInfo{}, err
	}
	if !found {
		return amiInfo{}, apierr.InvalidParam("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	}
	if r.State != imageAvailable {
		return amiInfo{}, apierr.InvalidParam("InvalidAMIID.Unavailable", "AMI '%s' is %s, and cannot be run", r.ID, r.State)
	}
	return s.customAMI(ctx, r)
}

// imageUsingSnapshot names the caller's AMI in the request's region whose root mapping is the snapshot.
func (s *Service) imageUsingSnapshot(ctx context.Context, snapshotID string) (string, error) {
	recs, _, err := store.List[imageRecord](ctx, s.st, scopedPrefix(ctx, kindImage))
	if err != nil {
		return "", err
	}
	for _, r := range recs {
		for _, m := range r.mappings() {
			if m.SnapshotID == snapshotID {
				return r.ID, nil
			}
		}
	}
	return "", nil
}

// CreateImage makes an AMI of an instance's EBS volumes. It answers at once with the AMI pending; each volume
// is snapshotted in the background, then the AMI is available (or failed). Without NoReboot the instance's
// processes are stopped while the snapshots are taken and started again, as EC2 reboots it; with NoReboot
// the mounted filesystems are frozen while they are read, so the AMI is crash-consistent.
func (s *Service) CreateImage(ctx context.Context, in *api.CreateImageRequest) (*api.CreateImageResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if err := s.requireVolumes(); err != nil {
		return nil, err
	}
	if deref(in.InstanceId) == "" {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter InstanceId")
	}
	name, description := deref(in.Name), deref(in.Description)
	if err := checkImageName(name); err != nil {
		return nil, err
	}
	if len(description) > 255 {
		return nil, apierr.InvalidParam("InvalidParameterValue", "The description exceeds the maximum length of 255 characters.")
	}
	inst, err := s.getInstance(ctx, *in.InstanceId)
	if err != nil {
		return nil, err
	}
	if inst.State != stateRunning && inst.State != stateStopped {
		return nil, apierr.New(apierr.Conflict, "IncorrectInstanceState",
			"The instance '%s' is not in a state from which it can be imaged: it is %s.", inst.ID, inst.State)
	}
	vols, err := s.volumesAttachedTo(ctx, inst.ID)
	if err != nil {
		return nil, err
	}
	rootAt := slices.IndexFunc(vols, func(v volumeRecord) bool { return v.ID == inst.RootVolumeID })
	if rootAt < 0 || vols[rootAt].State != volumeInUse {
		return nil, apierr.New(apierr.Conflict, "IncorrectInstanceState", "The instance '%s' has no root volume to image yet.", inst.ID)
	}
	vols[0], vols[rootAt] = vols[rootAt], vols[0]
	root := vols[0]
	size, volType, err := rootMapping(in.BlockDeviceMappings, root.SizeGiB, root.Type)
	if err != nil {
		return nil, err
	}
	imageTags, snapTags := tagsFromSpecs(in.TagSpecifications, "image"), tagsFromSpecs(in.TagSpecifications, "snapshot")
	for _, sp := range in.TagSpecifications {
		if t := deref(sp.ResourceType); t != "image" && t != "snapshot" {
			return nil, apierr.InvalidParam("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", t)
		}
	}
	if err := checkTags(imageTags); err != nil {
		return nil, err
	}
	if err := checkTags(snapTags); err != nil {
		return nil, err
	}
	rc := awsctx.From(ctx)
	r := imageRecord{
		ID: newID("ami"), OwnerID: rc.Account, Region: rc.Region, Name: name, Description: description, State: imagePending,
		Created: s.clock().UTC(), SourceInstance: inst.ID, SourceImage: inst.ImageID, SizeGiB: size, VolumeType: volType,
		Encrypted: root.Encrypted, DefaultUser: inst.DefaultUser, Tags: imageTags,
	}
	var snaps []snapshotRecord
	var ops []store.Op
	for i, v := range vols {
		if v.State != volumeInUse {
			continue // still being made
		}
		snap, snapOps, err := s.newSnapshot(ctx, v, fmt.Sprintf("Created by CreateImage(%s) for %s", inst.ID, r.ID), snapTags)
		if err != nil {
			return nil, err
		}
		snaps, ops = append(snaps, snap), append(ops, snapOps...)
		if i == 0 {
			r.SnapshotID = snap.ID
			continue
		}
		r.Volumes = append(r.Volumes, imageMapping{Device: v.Attachments[0].Device, SnapshotID: snap.ID, SizeGiB: v.SizeGiB,
			VolumeType: v.Type, Encrypted: v.Encrypted, DeleteOnTermination: v.Attachments[0].DeleteOnTermination})
	}
	if err := s.putImage(ctx, r, ops...); err != nil {
		return nil, err
	}
	reboot := inst.State == stateRunning && (in.NoReboot == nil || !*in.NoReboot)
	s.async(ctx, inst.ID, func(ctx context.Context) {
		s.settleImage(ctx, r, s.buildImage(ctx, inst, snaps, reboot))
	})
	return &api.CreateImageResult{ImageId: str(r.ID)}, nil
}

// rootMapping checks CreateImage's block device mappings: only the root device may be given, to set its
// size (not below the volume's) and type.
func rootMapping(bdms []api.BlockDeviceMapping, size int, volType string) (int, string, error) {
	for _, m := range bdms {
		dev := deref(m.DeviceName)
		if dev != rootDevice && dev != "/dev/sda1" || m.VirtualName != nil || m.NoDevice != nil {
			return 0, "", apierr.InvalidParam("InvalidBlockDeviceMapping",
				"Only the root device (%s) can be mapped in CreateImage on Overcast; %q cannot.", rootDevice, dev)
		}
		if m.Ebs == nil {
			continue
		}
		if m.Ebs.SnapshotId != nil {
			return 0, "", apierr.InvalidParam("InvalidBlockDeviceMapping", "The root device's snapshot is the instance's root volume; it cannot be given.")
		}
		if v := m.Ebs.VolumeSize; v != nil {
			if int(*v) < size {
				return 0, "", apierr.InvalidParam("InvalidBlockDeviceMapping",
					"Volume of size %dGB is smaller than snapshot, expect size >= %dGB", *v, size)
			}
			size = int(*v)
		}
		if t := deref(m.Ebs.VolumeType); t != "" {
			vt, err := lookupVolumeType(t)
			if err != nil {
				return 0, "", err
			}
			if !vt.bootable {
				return 0, "", apierr.InvalidParam("InvalidBlockDeviceMapping", "The volume type %s is not compatible with root volumes.", t)
			}
			volType = t
		}
		if m.Ebs.Encrypted != nil {
			return 0, "", apierr.InvalidParam("InvalidBlockDeviceMapping",
				"The root device's encryption is its volume's; CreateImage cannot change it (CopyImage can).")
		}
	}
	return size, volType, nil
}

// putImage records a new AMI, its name, its index entry and more (its snapshots) at once.
func (s *Service) putImage(ctx context.Context, r imageRecord, more ...store.Op) error {
	var ops []store.Op
	for _, put := range []struct {
		key store.Key
		v   any
	}{
		{imageKey(r.OwnerID, r.Region, r.ID), r},
		{imageNameKey(r.OwnerID, r.Region, r.Name), imageName{r.ID}},
		{imageIndexKey(r.Region, r.ID), imageIndex{r.OwnerID}},
	} {
		op, err := store.PutOp(put.key, put.v, store.Absent)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	_, err := s.st.Txn(ctx, append(ops, more...)...)
	if errors.Is(err, store.ErrConflict) {
		return apierr.InvalidParam("InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s", r.Name, s.imageNamed(ctx, r))
	}
	return err
}

func (s *Service) imageNamed(ctx context.Context, r imageRecord) string {
	n, _, err := store.Get[imageName](ctx, s.st, imageNameKey(r.OwnerID, r.Region, r.Name))
	if err != nil {
		return "another AMI"
	}
	return n.ImageID
}

// buildImage takes the snapshots of an AMI. With reboot, the machine is stopped while they are taken, so
// that they are consistent, and started again.
func (s *Service) buildImage(ctx context.Context, inst instanceRecord, snaps []snapshotRecord, reboot bool) error {
	cur, _, err := store.Get[instanceRecord](ctx, s.st, instanceKey(inst.Account, inst.Region, inst.ID))
	if err != nil {
		return fmt.Errorf("the instance is gone: %w", err)
	}
	if cur.State != stateRunning && cur.State != stateStopped {
		return fmt.Errorf("the instance is %s", cur.State)
	}
	if reboot && cur.State == stateRunning {
		if err := s.compute.Stop(ctx, inst.ID, stopGrace); err != nil {
			return fmt.Errorf("stop the instance: %w", err)
		}
		defer func() {
			if err := s.compute.Start(ctx, inst.ID); err != nil {
				s.log.Error("CreateImage: start the instance again", "instance", inst.ID, "err", err)
			}
		}()
	}
	for _, sn := range snaps {
		defer s.hw().lock(sn.ID)()
	}
	s.takeSnapshots(ctx, snaps)
	for _, sn := range snaps {
		got, _, err := store.Get[snapshotRecord](ctx, s.st, snapshotKey(sn.OwnerID, sn.Region, sn.ID))
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", sn.ID, err)
		}
		if got.State != snapshotCompleted {
			return fmt.Errorf("snapshot %s is %s: %s", sn.ID, got.State, got.StateMessage)
		}
	}
	return nil
}

// settleImage records how the build of an AMI ended.
func (s *Service) settleImage(ctx context.Context, r imageRecord, buildErr error) {
	if buildErr != nil {
		s.log.Error("CreateImage", "image", r.ID, "err", buildErr)
	}
	_, err := store.Mutate(ctx, s.st, imageKey(r.OwnerID, r.Region, r.ID), func(cur *imageRecord) error {
		if cur.State != imagePending {
			return errors.New("the image is no longer pending")
		}
		cur.State = imageAvailable
		if buildErr != nil {
			cur.State, cur.StateMessage = imageFailed, buildErr.Error()
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("record image", "image", r.ID, "err", err)
	}
}

// CopyImage copies an AMI of SourceRegion (the caller's, or one it may launch) into the request's region:
// each of its snapshots is copied into the caller's account and the region (sharing the stored data), and
// the copy's mappings name those copies. Encrypted (with KmsKeyId) encrypts the copies as CopySnapshot does.
func (s *Service) CopyImage(ctx context.Context, in *api.CopyImageRequest) (*api.CopyImageResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	srcRegion, srcID, name := deref(in.SourceRegion), deref(in.SourceImageId), deref(in.Name)
	switch {
	case srcRegion == "":
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter SourceRegion")
	case !regions.Valid(srcRegion):
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter SourceRegion is invalid.", srcRegion)
	}
	if err := checkImageID(srcID); err != nil {
		return nil, err
	}
	if err := checkImageName(name); err != nil {
		return nil, err
	}
	src, found, err := s.visibleImage(ctx, srcRegion, srcID)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, apierr.InvalidParam("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", srcID)
	}
	if src.State != imageAvailable {
		return nil, apierr.New(apierr.Conflict, "IncorrectState", "The image '%s' is %s and cannot be copied.", srcID, src.State)
	}
	rc := awsctx.From(ctx)
	description := src.Description
	if in.Description != nil {
		description = *in.Description
	}
	tags := tagsFromSpecs(in.TagSpecifications, "image")
	if in.CopyImageTags != nil && *in.CopyImageTags && src.OwnerID == rc.Account {
		tags = append(slices.Clone(src.Tags), tags...)
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	r := imageRecord{
		ID: newID("ami"), OwnerID: rc.Account, Region: rc.Region, Name: name, Description: description, State: imageAvailable,
		Created: s.clock().UTC(), SourceImage: src.ID, SourceRegion: srcRegion, DefaultUser: src.DefaultUser, Tags: tags,
	}
	var copies []string
	undo := func() {
		for _, id := range copies {
			if _, err := s.DeleteSnapshot(ctx, &api.DeleteSnapshotRequest{SnapshotId: str(id)}); err != nil {
				s.log.Error("CopyImage: delete a copied snapshot", "snapshot", id, "err", err)
			}
		}
	}
	ms := src.mappings()
	for i, m := range ms {
		snap, err := s.copyImageSnapshot(ctx, src, m.SnapshotID, r.ID, in)
		if err != nil {
			undo()
			return nil, err
		}
		copies = append(copies, snap.ID)
		ms[i].SnapshotID, ms[i].Encrypted = snap.ID, snap.Encrypted
	}
	r.setMappings(ms)
	if err := s.putImage(ctx, r); err != nil {
		undo()
		return nil, err
	}
	return &api.CopyImageResult{ImageId: str(r.ID)}, nil
}

// copyImageSnapshot copies one snapshot of the AMI src into the request's account and region for the copy
// amiID, encrypted as CopyImage asks.
func (s *Service) copyImageSnapshot(ctx context.Context, src imageRecord, snapshotID, amiID string, in *api.CopyImageRequest) (snapshotRecord, error) {
	snap, _, err := store.Get[snapshotRecord](ctx, s.st, snapshotKey(src.OwnerID, src.Region, snapshotID))
	if err != nil {
		return snap, err
	}
	encrypted, keyID, err := s.volumeEncryption(ctx, in.Encrypted, in.KmsKeyId, &snap)
	if err != nil {
		return snap, err
	}
	return s.copySnapshot(ctx, snap, fmt.Sprintf("Copied for DestinationAmi %s from SourceAmi %s for SourceSnapshot %s",
		amiID, src.ID, snap.ID), nil, encrypted, keyID)
}

// DeregisterImage deletes one of the caller's AMIs. Instances launched from it keep running (their disks'
// lower layers stay on the host); its snapshot stays unless DeleteAssociatedSnapshots says otherwise.
func (s *Service) DeregisterImage(ctx context.Context, in *api.DeregisterImageRequest) (*api.DeregisterImageResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.ImageId)
	r, rec, err := s.ownImage(ctx, id)
	if err != nil {
		return nil, err
	}
	unlock := s.hw().lock(id)
	defer unlock()
	_, err = s.st.Txn(ctx, store.DeleteOp(rec.Key, rec.ModRevision),
		store.DeleteOp(imageNameKey(r.OwnerID, r.Region, r.Name), store.Any),
		store.DeleteOp(imageIndexKey(r.Region, r.ID), store.Any))
	if errors.Is(err, store.ErrConflict) {
		return nil, apierr.New(apierr.Unavailable, "RequestLimitExceeded", "The image is changing; try again.")
	}
	if err != nil {
		return nil, err
	}
	out := &api.DeregisterImageResult{Return: boolp(true)}
	if in.DeleteAssociatedSnapshots == nil || !*in.DeleteAssociatedSnapshots {
		return out, nil
	}
	for _, m := range r.mappings() {
		code := "success"
		if _, err := s.DeleteSnapshot(ctx, &api.DeleteSnapshotRequest{SnapshotId: str(m.SnapshotID)}); err != nil {
			code = "error"
			var ae *apierr.Error
			if errors.As(err, &ae) {
				code = ae.Code
			}
		}
		out.DeleteSnapshotResults = append(out.DeleteSnapshotResults, api.DeleteSnapshotReturnCode{SnapshotId: str(m.SnapshotID), ReturnCode: str(code)})
	}
	return out, nil
}

// DescribeImageAttribute answers launchPermission, description and blockDeviceMapping of an AMI the caller
// owns (a shared AMI's attributes are its owner's to read).
func (s *Service) DescribeImageAttribute(ctx context.Context, in *api.DescribeImageAttributeRequest) (*api.ImageAttribute, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	r, _, err := s.ownImage(ctx, deref(in.ImageId))
	if err != nil {
		return nil, err
	}
	out := &api.ImageAttribute{ImageId: str(r.ID)}
	switch attr := deref(in.Attribute); attr {
	case "launchPermission":
		out.LaunchPermissions = launchPermissionsOut(r)
	case "description":
		out.Description = &api.AttributeValue{Value: str(r.Description)}
	case "blockDeviceMapping":
		out.BlockDeviceMappings = customImageOut(r, r.OwnerID).BlockDeviceMappings
	case "kernel", "ramdisk", "productCodes", "sriovNetSupport", "bootMode", "tpmSupport", "uefiData", "lastLaunchedTime",
		"imdsSupport", "deregistrationProtection":
	case "":
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter Attribute")
	default:
		return nil, apierr.InvalidParam("InvalidRequest", "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
	}
	return out, nil
}

func launchPermissionsOut(r imageRecord) []api.LaunchPermission {
	var out []api.LaunchPermission
	if r.Public {
		out = append(out, api.LaunchPermission{Group: str("all")})
	}
	for _, u := range r.LaunchUsers {
		out = append(out, api.LaunchPermission{UserId: str(u)})
	}
	return out
}

// ModifyImageAttribute changes an AMI's launchPermission (accounts, or the group "all") or description.
func (s *Service) ModifyImageAttribute(ctx context.Context, in *api.ModifyImageAttributeRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.ImageId)
	if _, _, err := s.ownImage(ctx, id); err != nil {
		return nil, err
	}
	var add, remove []api.LaunchPermission
	description := in.Description
	switch attr := deref(in.Attribute); {
	case in.LaunchPermission != nil:
		add, remove = in.LaunchPermission.Add, in.LaunchPermission.Remove
	case attr == "launchPermission" || len(in.UserIds) > 0 || len(in.UserGroups) > 0:
		var perms []api.LaunchPermission
		for _, u := range in.UserIds {
			perms = append(perms, api.LaunchPermission{UserId: str(u)})
		}
		for _, g := range in.UserGroups {
			perms = append(perms, api.LaunchPermission{Group: str(g)})
		}
		switch deref(in.OperationType) {
		case "add":
			add = perms
		case "remove":
			remove = perms
		default:
			return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter operationType is invalid.", deref(in.OperationType))
		}
	case attr == "description" && in.Value != nil:
		description = &api.AttributeValue{Value: in.Value}
	case description != nil:
	case len(in.ProductCodes) > 0:
		return nil, apierr.InvalidParam("InvalidParameterValue", "Product codes cannot be added to Overcast AMIs.")
	default:
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter attribute")
	}
	for _, p := range append(slices.Clone(add), remove...) {
		switch {
		case p.Group != nil && *p.Group != "all":
			return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter group is invalid.", *p.Group)
		case p.UserId != nil && !accountIDRE.MatchString(*p.UserId):
			return nil, apierr.InvalidParam("InvalidAMIAttributeItemValue", "Invalid attribute item value \"%s\" for userId item type.", *p.UserId)
		case p.OrganizationArn != nil || p.OrganizationalUnitArn != nil:
			return nil, apierr.InvalidParam("InvalidParameterValue", "Organizations are not supported by Overcast.")
		}
	}
	_, err := store.Mutate(ctx, s.st, scopedKey(ctx, kindImage, id), func(r *imageRecord) error {
		if description != nil {
			r.Description = deref(description.Value)
		}
		for _, p := range add {
			if p.Group != nil {
				r.Public = true
			} else if p.UserId != nil && !slices.Contains(r.LaunchUsers, *p.UserId) {
				r.LaunchUsers = append(r.LaunchUsers, *p.UserId)
			}
		}
		for _, p := range remove {
			if p.Group != nil {
				r.Public = false
			} else if p.UserId != nil {
				r.LaunchUsers = slices.DeleteFunc(r.LaunchUsers, func(u string) bool { return u == *p.UserId })
			}
		}
		sort.Strings(r.LaunchUsers)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, imageNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

var accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)

// ResetImageAttribute makes an AMI private again (launchPermission is the one attribute it resets).
func (s *Service) ResetImageAttribute(ctx context.Context, in *api.ResetImageAttributeRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.ImageId)
	if _, _, err := s.ownImage(ctx, id); err != nil {
		return nil, err
	}
	if attr := deref(in.Attribute); attr != "launchPermission" {
		return nil, apierr.InvalidParam("InvalidRequest", "Value (%s) for parameter attribute is invalid. Only launchPermission can be reset.", attr)
	}
	_, err := store.Mutate(ctx, s.st, scopedKey(ctx, kindImage, id), func(r *imageRecord) error {
		r.Public, r.LaunchUsers = false, nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// visibleImages lists the custom AMIs of the request's region the caller may see: its own, those shared
// with it, and the public ones.
func (s *Service) visibleImages(ctx context.Context) ([]imageRecord, error) {
	rc := awsctx.From(ctx)
	idxs, raw, err := store.List[imageIndex](ctx, s.st, store.Prefix{Region: rc.Region, Kind: kindImageIndex})
	if err != nil {
		return nil, err
	}
	var out []imageRecord
	for i, idx := range idxs {
		r, _, err := store.Get[imageRecord](ctx, s.st, imageKey(idx.OwnerID, rc.Region, raw[i].Key.ID))
		if errors.Is(err, store.ErrNotFound) {
			continue // deregistered since the index was read
		}
		if err != nil {
			return nil, err
		}
		if r.canLaunch(rc.Account) {
			out = append(out, r)
		}
	}
	return out, nil
}

// customImageOut renders a custom AMI for viewer. Tags and block device details are the owner's to see,
// as EC2 shows them.
func customImageOut(r imageRecord, viewer string) api.Image {
	var bdms []api.BlockDeviceMapping
	for _, m := range r.mappings() {
		ebs := &api.EbsBlockDevice{
			DeleteOnTermination: boolp(m.DeleteOnTermination), Encrypted: boolp(m.Encrypted), VolumeSize: i32(m.SizeGiB),
			VolumeType: str(m.VolumeType), SnapshotId: str(m.SnapshotID),
		}
		if m.VolumeType == "gp3" {
			ebs.Iops, ebs.Throughput = i32(3000), i32(125)
		}
		bdms = append(bdms, api.BlockDeviceMapping{DeviceName: str(m.Device), Ebs: ebs})
	}
	out := api.Image{
		ImageId: str(r.ID), Name: str(r.Name), Description: optStr(r.Description), Architecture: str("x86_64"),
		CreationDate: str(awsTime(r.Created)), ImageLocation: str(r.OwnerID + "/" + r.Name), OwnerId: str(r.OwnerID),
		ImageType: str("machine"), Public: boolp(r.Public), State: str(r.State), Hypervisor: str("xen"),
		VirtualizationType: str("hvm"), RootDeviceName: str(rootDevice), RootDeviceType: str("ebs"), EnaSupport: boolp(true),
		SriovNetSupport: str("simple"), PlatformDetails: str("Linux/UNIX"), UsageOperation: str("RunInstances"),
		BootMode: str("uefi-preferred"), SourceInstanceId: optStr(r.SourceInstance),
		BlockDeviceMappings: bdms,
	}
	if viewer == r.OwnerID {
		out.Tags = apiTags(r.Tags)
	}
	if r.State == imageFailed {
		out.StateReason = &api.StateReason{Code: str("Server.InternalError"), Message: str(r.StateMessage)}
	}
	return out
}

// customImageFields are the DescribeImages filter fields of a custom AMI.
func customImageFields(r imageRecord, ai api.Image, filters []api.Filter) map[string][]string {
	f := imageFields(ai)
	f["owner-alias"] = nil
	f["owner-id"] = []string{r.OwnerID}
	f["is-public"] = []string{strconv.FormatBool(r.Public)}
	f["free-tier-eligible"] = []string{"false"}
	f["block-device-mapping.volume-type"] = []string{r.VolumeType}
	f["source-instance-id"] = nonEmpty(r.SourceInstance)
	f["source-image-id"] = nonEmpty(r.SourceImage)
	f["source-image-region"] = nonEmpty(r.SourceRegion)
	f["state-reason-message"] = nonEmpty(r.StateMessage)
	return tagFields(f, r.Tags, filters)
}

// errImageInterrupted is why an AMI still pending at start failed: its build ran in the process that stopped.
var errImageInterrupted = errors.New("Server.InternalError: Overcast restarted while the image was being created")

// RecoverImages settles AMIs whose build a restart cut short: they fail, with the reason, rather than stay
// pending for ever.
func (s *Service) RecoverImages(ctx context.Context) error {
	recs, _, err := store.List[imageRecord](ctx, s.st, store.Prefix{Kind: kindImage, AllAccounts: true})
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.State == imagePending {
			s.settleImage(withAccount(ctx, r.OwnerID, r.Region), r, errImageInterrupted)
		}
	}
	return nil
}

// RegisterImage makes an AMI of snapshots the caller owns: the mapping at RootDeviceName is its root, and
// every mapping names a snapshot (instance-store AMIs, ImageLocation, do not exist here).
func (s *Service) RegisterImage(ctx context.Context, in *api.RegisterImageRequest) (*api.RegisterImageResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if err := s.requireVolumes(); err != nil {
		return nil, err
	}
	name, description := deref(in.Name), deref(in.Description)
	if err := checkImageName(name); err != nil {
		return nil, err
	}
	switch {
	case len(description) > 255:
		return nil, apierr.InvalidParam("InvalidParameterValue", "The description exceeds the maximum length of 255 characters.")
	case in.ImageLocation != nil:
		return nil, apierr.InvalidParam("InvalidParameterValue",
			"Overcast registers EBS-backed AMIs from snapshots; instance-store AMIs (ImageLocation) are not supported.")
	case deref(in.Architecture) != "" && *in.Architecture != "x86_64":
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter architecture is invalid. Overcast runs x86_64.", *in.Architecture)
	case deref(in.RootDeviceName) == "":
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter rootDeviceName")
	}
	tags := tagsFromSpecs(in.TagSpecifications, "image")
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	rc := awsctx.From(ctx)
	r := imageRecord{ID: newID("ami"), OwnerID: rc.Account, Region: rc.Region, Name: name, Description: description,
		State: imageAvailable, Created: s.clock().UTC(), DefaultUser: "ec2-user", Tags: tags}
	rootName, _ := guestDevice(*in.RootDeviceName)
	for _, m := range in.BlockDeviceMappings {
		if m.VirtualName != nil || m.NoDevice != nil || m.Ebs == nil {
			continue
		}
		dev := deref(m.DeviceName)
		guest, ok := guestDevice(dev)
		if !ok {
			return nil, apierr.InvalidParam("InvalidBlockDeviceMapping", "Invalid device name %s", dev)
		}
		if deref(m.Ebs.SnapshotId) == "" {
			return nil, apierr.InvalidParam("InvalidBlockDeviceMapping", "The mapping of %s must name a snapshot.", dev)
		}
		snap, _, err := s.ownSnapshot(ctx, *m.Ebs.SnapshotId)
		if err != nil {
			return nil, err
		}
		if snap.State != snapshotCompleted {
			return nil, apierr.New(apierr.Conflict, "IncorrectState", "Snapshot '%s' is in state '%s'.", snap.ID, snap.State)
		}
		im := imageMapping{Device: dev, SnapshotID: snap.ID, SizeGiB: snap.VolumeSize, VolumeType: "gp2",
			Encrypted: snap.Encrypted, DeleteOnTermination: true}
		if v := m.Ebs.VolumeSize; v != nil {
			if int(*v) < snap.VolumeSize {
				return nil, apierr.InvalidParam("InvalidBlockDeviceMapping", "Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB",
					*v, snap.ID, snap.VolumeSize)
			}
			im.SizeGiB = int(*v)
		}
		if t := deref(m.Ebs.VolumeType); t != "" {
			vt, err := lookupVolumeType(t)
			if err != nil {
				return nil, err
			}
			if guest == rootName && !vt.bootable {
				return nil, apierr.InvalidParam("InvalidBlockDeviceMapping", "The volume type %s is not compatible with root volumes.", t)
			}
			im.VolumeType = t
		}
		if d := m.Ebs.DeleteOnTermination; d != nil {
			im.DeleteOnTermination = *d
		}
		if guest != rootName {
			r.Volumes = append(r.Volumes, im)
			continue
		}
		if r.SnapshotID != "" {
			return nil, apierr.InvalidParam("InvalidBlockDeviceMapping", "The root device %s is mapped twice.", dev)
		}
		r.SnapshotID, r.SizeGiB, r.VolumeType, r.Encrypted = im.SnapshotID, im.SizeGiB, im.VolumeType, im.Encrypted
		r.DefaultUser = s.snapshotUser(ctx, snap)
	}
	if r.SnapshotID == "" {
		return nil, apierr.InvalidParam("InvalidBlockDeviceMapping", "The root device %s must be mapped to a snapshot.", *in.RootDeviceName)
	}
	if err := s.putImage(ctx, r); err != nil {
		return nil, err
	}
	return &api.RegisterImageResult{ImageId: str(r.ID)}, nil
}

// snapshotUser is the default user of the system on a root snapshot: that of the instance whose root volume
// it was taken from, when Overcast knows it, else Amazon Linux's.
func (s *Service) snapshotUser(ctx context.Context, snap snapshotRecord) string {
	recs, _, err := store.List[instanceRecord](ctx, s.st, scopedPrefix(ctx, kindInstance))
	if err == nil {
		for _, r := range recs {
			if r.RootVolumeID == snap.VolumeID && r.DefaultUser != "" {
				return r.DefaultUser
			}
		}
	}
	return "ec2-user"
}
