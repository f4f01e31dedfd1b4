package ec2

import (
	"context"
	"errors"
	"fmt"
	"slices"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/storage/images"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Launch volumes. An instance boots from an EBS volume of its own, restored from its AMI's root snapshot, and
// gets a volume for each other EBS mapping of its AMI and of RunInstances' BlockDeviceMappings. RunInstances
// records these volumes with the instances, "creating" and attaching at their devices, each naming the stored
// snapshot it is made from (RestoreData); the instance's first boot makes them on the host (makeLaunchVolumes),
// and from then on they are ordinary volumes: DescribeVolumes shows them, CreateSnapshot and CreateImage take
// them, and DeleteOnTermination decides whether they outlive the instance (releaseVolumes).
//
// A quick-start AMI of the image store has no snapshot record: its root filesystem becomes a stored snapshot,
// named as DescribeImages names its root snapshot, the first time an instance is launched from it on the host.

// launchVolume is a volume a launch gives each instance.
type launchVolume struct {
	Device string
	volumeConfig
	SnapshotID          string // shown on the volume; "" for an empty volume
	DataID              string // the stored snapshot it is restored from; "" for an empty volume
	SnapshotGiB         int    // the snapshot's size: the least the volume may have
	Encrypted           bool
	KmsKeyID            string
	DeleteOnTermination bool
}

// amiInfo is what a launch needs of an AMI: a quick-start one of the image store, or a custom one.
type amiInfo struct {
	ID, Architecture, DefaultUser string
	Root                          launchVolume
	Volumes                       []launchVolume // the AMI's other EBS mappings
	Quick                         *images.Image  // its root filesystem is imported into Root.DataID on first use
}

// quickStartSnapshot is the id of the stored root snapshot of a quick-start AMI, as DescribeImages shows it.
func quickStartSnapshot(amiID string) string { return "snap-" + amiID[len("ami-"):] }

// quickStartAMI describes a quick-start AMI for a launch.
func quickStartAMI(img images.Image) amiInfo {
	size := max(img.SizeGiB, 1)
	return amiInfo{
		ID: img.ID, Architecture: img.Architecture, DefaultUser: img.DefaultUser, Quick: &img,
		Root: launchVolume{Device: rootDevice, volumeConfig: defaultConfig("gp3", size), SnapshotID: quickStartSnapshot(img.ID),
			DataID: quickStartSnapshot(img.ID), SnapshotGiB: size, DeleteOnTermination: true},
	}
}

// defaultConfig is a volume of the type and size with the type's default performance.
func defaultConfig(typeName string, sizeGiB int) volumeConfig {
	t := volumeTypes[typeName]
	return volumeConfig{Type: typeName, SizeGiB: sizeGiB, Iops: t.defaultIops, Throughput: t.defaultThroughput}
}

// customAMI describes a custom AMI for a launch: its mappings name snapshots of its owner.
func (s *Service) customAMI(ctx context.Context, r imageRecord) (amiInfo, error) {
	info := amiInfo{ID: r.ID, Architecture: "x86_64", DefaultUser: r.DefaultUser}
	for i, m := range r.mappings() {
		snap, _, err := store.Get[snapshotRecord](ctx, s.st, snapshotKey(r.OwnerID, r.Region, m.SnapshotID))
		if err != nil {
			return info, apierr.InvalidParam("InvalidAMIID.Unavailable", "AMI '%s' cannot be run: its snapshot %s is gone.", r.ID, m.SnapshotID)
		}
		lv := launchVolume{Device: m.Device, volumeConfig: defaultConfig(m.VolumeType, m.SizeGiB), SnapshotID: snap.ID,
			DataID: snap.DataID, SnapshotGiB: snap.VolumeSize, Encrypted: snap.Encrypted, KmsKeyID: snap.KmsKeyID,
			DeleteOnTermination: m.DeleteOnTermination}
		if i == 0 {
			info.Root = lv
		} else {
			info.Volumes = append(info.Volumes, lv)
		}
	}
	return info, nil
}

// launchVolumes applies RunInstances' block device mappings to the AMI's: the root may be made larger, of
// another type or performance, encrypted, and kept after termination; other devices get new volumes, empty or
// from a snapshot; NoDevice drops one of the AMI's. Instance-store (VirtualName) mappings are the instance
// type's business (instancestore.go).
func (s *Service) launchVolumes(ctx context.Context, ami amiInfo, bdms []api.BlockDeviceMapping) ([]launchVolume, error) {
	vols := append([]launchVolume{ami.Root}, ami.Volumes...)
	for _, m := range bdms {
		dev := deref(m.DeviceName)
		if dev == "" {
			return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter BlockDeviceMapping.DeviceName")
		}
		if dev == "/dev/sda1" {
			dev = rootDevice
		}
		if _, ok := guestDevice(dev); !ok && dev != rootDevice {
			return nil, apierr.InvalidParam("InvalidBlockDeviceMapping", "Invalid device name %s", dev)
		}
		i := slices.IndexFunc(vols, func(v launchVolume) bool { return v.Device == dev })
		switch {
		case m.NoDevice != nil:
			if i == 0 {
				return nil, apierr.InvalidParam("InvalidBlockDeviceMapping", "The device %s is the root device and cannot be suppressed.", dev)
			}
			if i > 0 {
				vols = slices.Delete(vols, i, i+1)
			}
			continue
		case m.VirtualName != nil || m.Ebs == nil:
			continue
		}
		var v launchVolume
		if i >= 0 {
			v = vols[i]
		} else {
			v = launchVolume{Device: dev, DeleteOnTermination: true}
		}
		if err := s.applyMapping(ctx, &v, m.Ebs, i == 0); err != nil {
			return nil, err
		}
		if i >= 0 {
			vols[i] = v
		} else {
			vols = append(vols, v)
		}
	}
	return vols, nil
}

// applyMapping changes a launch volume as an EBS mapping asks.
func (s *Service) applyMapping(ctx context.Context, v *launchVolume, ebs *api.EbsBlockDevice, root bool) error {
	var snap *snapshotRecord
	if id := deref(ebs.SnapshotId); id != "" && id != v.SnapshotID {
		if root {
			return apierr.InvalidParam("InvalidBlockDeviceMapping", "The snapshot of the root device %s is the AMI's, %s.", rootDevice, v.SnapshotID)
		}
		sn, err := s.volumeSource(ctx, id)
		if err != nil {
			return err
		}
		snap = &sn
		v.SnapshotID, v.DataID, v.SnapshotGiB, v.Encrypted, v.KmsKeyID = sn.ID, sn.DataID, sn.VolumeSize, sn.Encrypted, sn.KmsKeyID
		if v.SizeGiB == 0 {
			v.SizeGiB = sn.VolumeSize
		}
	}
	typeName := v.Type
	if t := deref(ebs.VolumeType); t != "" {
		typeName = t
	}
	if typeName == "" {
		typeName = "gp2"
	}
	t, err := lookupVolumeType(typeName)
	if err != nil {
		return err
	}
	if root && !t.bootable {
		return apierr.InvalidParam("InvalidBlockDeviceMapping", "The volume type %s is not compatible with root volumes.", t.name)
	}
	if err := refuseUnsupported(t, ebs.Iops, ebs.Throughput); err != nil {
		return err
	}
	if typeName != v.Type {
		v.Type, v.Iops, v.Throughput = t.name, t.defaultIops, t.defaultThroughput
	}
	if ebs.VolumeSize != nil {
		v.SizeGiB = int(*ebs.VolumeSize)
	}
	switch {
	case v.SizeGiB == 0:
		return apierr.InvalidParam("InvalidBlockDeviceMapping", "The request must contain the parameter size or snapshotId for %s.", v.Device)
	case v.SizeGiB < v.SnapshotGiB:
		return apierr.InvalidParam("InvalidBlockDeviceMapping", "Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB",
			v.SizeGiB, v.SnapshotID, v.SnapshotGiB)
	}
	if ebs.Iops != nil {
		v.Iops = int(*ebs.Iops)
	} else if t.requiresIops {
		return apierr.InvalidParam("InvalidParameterCombination", "The parameter iops must be specified for %s volumes.", t.name)
	}
	if ebs.Throughput != nil {
		v.Throughput = int(*ebs.Throughput)
	}
	if err := checkVolumeConfig(v.volumeConfig); err != nil {
		return err
	}
	if ebs.DeleteOnTermination != nil {
		v.DeleteOnTermination = *ebs.DeleteOnTermination
	}
	if snap == nil && v.DataID != "" {
		snap = &snapshotRecord{ID: v.SnapshotID, Encrypted: v.Encrypted, KmsKeyID: v.KmsKeyID}
	}
	v.Encrypted, v.KmsKeyID, err = s.volumeEncryption(ctx, ebs.Encrypted, ebs.KmsKeyId, snap)
	if err != nil {
		return err
	}
	if v.Encrypted {
		return s.requireEncryption()
	}
	return nil
}

// settleLaunchVolumes makes the default encryption apply to launch volumes no mapping named: EBS
// encryption by default covers every new volume.
func (s *Service) settleLaunchVolumes(ctx context.Context, vols []launchVolume) error {
	for i := range vols {
		v := &vols[i]
		if v.Encrypted {
			continue
		}
		var snap *snapshotRecord
		if v.DataID != "" {
			snap = &snapshotRecord{ID: v.SnapshotID}
		}
		enc, key, err := s.volumeEncryption(ctx, nil, nil, snap)
		if err != nil {
			return err
		}
		if enc {
			if err := s.requireEncryption(); err != nil {
				return err
			}
			v.Encrypted, v.KmsKeyID = enc, key
		}
	}
	return nil
}

// launchVolumeRecords are the records of an instance's launch volumes, the root's id being the instance's
// RootVolumeID.
func launchVolumeRecords(r instanceRecord, vols []launchVolume) []volumeRecord {
	out := make([]volumeRecord, len(vols))
	for i, lv := range vols {
		id := r.RootVolumeID
		if i > 0 {
			id = newID("vol")
		}
		out[i] = volumeRecord{
			ID: id, Account: r.Account, Region: r.Region, AvailabilityZone: r.AvailabilityZone, AvailabilityZoneID: r.AvailabilityZoneID,
			volumeConfig: lv.volumeConfig, SnapshotID: lv.SnapshotID, RestoreData: lv.DataID, RestoreGiB: lv.SnapshotGiB, Encrypted: lv.Encrypted,
			KmsKeyID: lv.KmsKeyID, State: volumeCreating, CreateTime: r.LaunchTime.UTC(), Tags: r.VolumeTags,
			Attachments: []volumeAttachment{{InstanceID: r.ID, Device: lv.Device, State: attachAttaching,
				AttachTime: r.LaunchTime.UTC(), DeleteOnTermination: lv.DeleteOnTermination}},
		}
	}
	return out
}

// makeLaunchVolumes makes on the host the instance's volumes that its launch recorded and that are not made
// yet, and returns its root volume's device. A volume the host fails to make is removed, with its record.
func (s *Service) makeLaunchVolumes(ctx context.Context, r *instanceRecord) (*compute.BlockDevice, error) {
	vols, err := s.volumesAttachedTo(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	var root *volumeRecord
	for i := range vols {
		v := &vols[i]
		if v.State == volumeCreating {
			if err := s.makeLaunchVolume(ctx, r, v); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.ID, err)
			}
		}
		if v.ID == r.RootVolumeID {
			root = v
		}
	}
	if root == nil {
		return nil, fmt.Errorf("the root volume %s is not attached", r.RootVolumeID)
	}
	dev, err := s.volumes.Device(ctx, root.ID)
	if err != nil {
		return nil, fmt.Errorf("root volume %s: %w", root.ID, err)
	}
	iops, mbps := volumeLimits(root.volumeConfig)
	return &compute.BlockDevice{HostPath: dev, GuestPath: rootDevice, IOPS: iops, MBps: mbps}, nil
}

// filesystemImporter is the volume store's way of making an AMI's root filesystem a stored snapshot, and of
// growing a restored filesystem to its volume's size.
type filesystemImporter interface {
	ImportFilesystem(ctx context.Context, snapshotID string, dirs []string, sizeBytes int64) error
	GrowFilesystem(ctx context.Context, id string) error
}

func (s *Service) makeLaunchVolume(ctx context.Context, r *instanceRecord, v *volumeRecord) error {
	fsi, _ := s.volumes.(filesystemImporter)
	err := func() error {
		// What a boot that a crash cut short made of the volume is not known to be whole.
		if err := s.volumes.Delete(ctx, v.ID); err != nil && !goneFromHost(err) {
			return err
		}
		if v.ID == r.RootVolumeID && v.RestoreData == quickStartSnapshot(r.ImageID) {
			img, err := s.images.Get(ctx, r.ImageID)
			if err != nil {
				return err
			}
			if fsi == nil {
				return errors.New("the host's volume store cannot import an image")
			}
			if err := fsi.ImportFilesystem(ctx, v.RestoreData, img.LowerDirs, int64(max(img.SizeGiB, 1))*gib); err != nil {
				return err
			}
		}
		err := s.makeHostVolume(ctx, *v, v.RestoreData)
		if err != nil || v.ID != r.RootVolumeID || v.RestoreGiB >= v.SizeGiB || fsi == nil {
			return err
		}
		// The image's filesystem grows to the root volume, as cloud-init grows it at first boot.
		return fsi.GrowFilesystem(ctx, v.ID)
	}()
	if err != nil {
		s.log.Error("make launch volume", "volume", v.ID, "instance", r.ID, "err", err)
		s.dropFailedVolume(ctx, v.ID)
		return err
	}
	rec, err := s.mutateVolume(ctx, v.ID, func(cur *volumeRecord) error {
		if cur.State != volumeCreating {
			return errStale
		}
		cur.State, cur.RestoreData, cur.RestoreGiB = volumeInUse, "", 0
		if len(cur.Attachments) == 1 {
			cur.Attachments[0].State = attachAttached
		}
		return nil
	})
	if err != nil {
		return err
	}
	*v = rec
	return nil
}
