package ec2

import (
	"context"
	"errors"
	"fmt"
	"slices"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/host/compute"
)

// Instance store. An instance type with instance store (m5d, c5d, r5d, i3: instancetypes_catalog.go) gets
// its disks as empty block devices at every boot and loses them at every stop and at termination, as on
// AWS, where their contents do not survive a stop. A reboot keeps them. Each disk is a sparse volume of the
// disk's size in the host's volume store, named ephemeral-<instance id>-<n>, given to the machine at
// /dev/xvdb, /dev/xvdc, ... (with /dev/sdb, ... beside it: ephemeral0 is /dev/sdb, as in AWS's Xen-style
// mappings). No record keeps them: DescribeInstances does not list instance store, as AWS does not. A data
// volume attached at one of those names takes it: that disk is then not given. Without a volume store
// (Config.Volumes nil) there is no instance store.

// maxInstanceStoreDisks is the most disks a catalog type has (i3.16xlarge).
const maxInstanceStoreDisks = 8

func ephemeralID(instanceID string, n int) string {
	return fmt.Sprintf("ephemeral-%s-%d", instanceID, n)
}

func ephemeralDevice(n int) string { return "/dev/xvd" + string(rune('b'+n)) }

// storageInfo is DescribeInstanceTypes' InstanceStorageInfo; nil for a type without instance store.
func (t instanceType) storageInfo() *api.InstanceStorageInfo {
	st := t.Store
	if st.disks == 0 {
		return nil
	}
	return &api.InstanceStorageInfo{
		Disks:             []api.DiskInfo{{Count: i32(st.disks), SizeInGB: i64(st.sizeGB), Type: str("ssd")}},
		TotalSizeInGB:     i64(st.disks * st.sizeGB),
		NvmeSupport:       str("required"),
		EncryptionSupport: str("required"),
	}
}

// ebsGuestPaths lists the machine device names of the data volumes attached to the instance.
func (s *Service) ebsGuestPaths(ctx context.Context, instanceID string) ([]string, error) {
	vols, err := s.volumesAttachedTo(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vols {
		if g, ok := guestDevice(v.Attachments[0].Device); ok {
			out = append(out, g)
		}
	}
	return out, nil
}

// attachInstanceStore gives a machine about to boot its instance store disks, new and empty.
func (s *Service) attachInstanceStore(ctx context.Context, r *instanceRecord) error {
	t, _ := instanceTypeByName(r.InstanceType)
	if s.volumes == nil || t.Store.disks == 0 {
		return nil
	}
	// Whatever a stop that never finished left is wiped first.
	s.dropInstanceStore(ctx, r.ID)
	ebs, err := s.ebsGuestPaths(ctx, r.ID)
	if err != nil {
		return err
	}
	size := int64(t.Store.sizeGB) * 1_000_000_000
	for n := range min(t.Store.disks, maxInstanceStoreDisks) {
		guest, id := ephemeralDevice(n), ephemeralID(r.ID, n)
		if slices.Contains(ebs, guest) {
			s.log.Info("instance store disk not given: a data volume is attached at its device", "instance", r.ID, "device", guest)
			continue
		}
		if err := s.volumes.Create(ctx, id, size); err != nil {
			return fmt.Errorf("instance store %s: %w", guest, err)
		}
		dev, err := s.volumes.Device(ctx, id)
		if err != nil {
			return fmt.Errorf("instance store %s: %w", guest, err)
		}
		if err := s.compute.AttachBlock(ctx, r.ID, compute.BlockDevice{HostPath: dev, GuestPath: guest}); err != nil {
			return fmt.Errorf("instance store %s: %w", guest, err)
		}
	}
	return nil
}

// dropInstanceStore takes a machine that no longer runs its instance store disks and deletes them with
// their contents. Every possible disk is looked for, so that a type changed since the boot leaves nothing.
func (s *Service) dropInstanceStore(ctx context.Context, instanceID string) {
	if s.volumes == nil {
		return
	}
	ebs, err := s.ebsGuestPaths(ctx, instanceID)
	if err != nil {
		s.log.Error("instance store: attached volumes", "instance", instanceID, "err", err)
		return
	}
	for n := range maxInstanceStoreDisks {
		guest := ephemeralDevice(n)
		if !slices.Contains(ebs, guest) {
			err := s.compute.DetachBlock(ctx, instanceID, guest)
			if err != nil && !errors.Is(err, compute.ErrNotAttached) && !errors.Is(err, compute.ErrNotDefined) {
				s.log.Error("instance store: detach", "instance", instanceID, "device", guest, "err", err)
				continue // the device may still be in use: keep its volume
			}
		}
		if err := s.volumes.Delete(ctx, ephemeralID(instanceID, n)); err != nil && !goneFromHost(err) {
			s.log.Error("instance store: delete", "instance", instanceID, "device", guest, "err", err)
		}
	}
}
