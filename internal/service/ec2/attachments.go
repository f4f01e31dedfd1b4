package ec2

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/compute"
)

// Volume attachments. An attached volume is a host block device (s.volumes.Device) given to the instance's
// machine (s.compute.AttachBlock) at its Linux name: /dev/sdf in the API is /dev/xvdf in the machine, with
// /dev/sdf beside it. The machine's root user may mount it although the machine has no CAP_SYS_ADMIN (the
// compute driver vets and performs such mounts). The driver keeps the attachment across stop and start;
// termination gives the volume back ("available"). Each change is recorded before the host acts, and a
// host failure rolls the record back. Host work runs under the instance's host-work lock, so that it never
// overlaps a boot, stop or termination of the same instance.

// Attachment states.
const (
	attachAttaching = "attaching"
	attachAttached  = "attached"
	attachDetaching = "detaching"
)

// ebsDeviceName is what AttachVolume accepts on Linux: /dev/sd[b-z] or /dev/xvd[b-z] (AWS recommends
// f to p). The root device takes /dev/xvda.
var ebsDeviceName = regexp.MustCompile(`^/dev/(sd|xvd)([b-z])$`)

// guestDevice is the machine's name of an API device name: /dev/sdf and /dev/xvdf are both /dev/xvdf.
func guestDevice(device string) (string, bool) {
	if device == rootDevice || device == "/dev/sda1" {
		return rootDevice, true
	}
	m := ebsDeviceName.FindStringSubmatch(device)
	if m == nil {
		return "", false
	}
	return "/dev/xvd" + m[2], true
}

// AttachVolume attaches an available volume to a running or stopped instance in its Availability Zone.
func (s *Service) AttachVolume(ctx context.Context, in *api.AttachVolumeRequest) (*api.VolumeAttachment, error) {
	if err := s.requireVolumes(); err != nil {
		return nil, err
	}
	if s.compute == nil {
		return nil, apierr.InvalidParam("Unsupported", "Volumes cannot be attached on this Overcast host: it runs no instances.")
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	device := deref(in.Device)
	if device == "" {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter device")
	}
	guest, ok := guestDevice(device)
	if !ok {
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter device is invalid. %s is not a valid EBS device name.", device, device)
	}
	v, err := s.getVolume(ctx, deref(in.VolumeId))
	if err != nil {
		return nil, err
	}
	if deref(in.InstanceId) == "" {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter instanceId")
	}
	unlock := s.hw().lock(deref(in.InstanceId))
	defer unlock()
	r, err := s.getInstance(ctx, deref(in.InstanceId))
	if err != nil {
		return nil, err
	}
	switch {
	case r.State != stateRunning && r.State != stateStopped:
		return nil, apierr.New(apierr.Conflict, "IncorrectInstanceState", "Instance '%s' is not 'running' or 'stopped'.", r.ID)
	case v.AvailabilityZone != r.AvailabilityZone:
		return nil, apierr.InvalidParam("InvalidVolume.ZoneMismatch",
			"The volume '%s' is not in the same availability zone as instance '%s'", v.ID, r.ID)
	case len(v.Attachments) > 0:
		return nil, apierr.New(apierr.Conflict, "VolumeInUse", "%s is already attached to an instance", v.ID)
	case v.State != volumeAvailable:
		return nil, apierr.New(apierr.Conflict, "IncorrectState", "The volume '%s' is not 'available'.", v.ID)
	}
	attached, err := s.volumesAttachedTo(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	inUse := func() error {
		return apierr.InvalidParam("InvalidParameterValue", "Attachment point %s is already in use", device)
	}
	if guest == rootDevice {
		return nil, inUse()
	}
	for _, other := range attached {
		if g, _ := guestDevice(other.Attachments[0].Device); g == guest {
			return nil, inUse()
		}
	}

	// Record first: the volume is in use, attaching.
	now := s.clock()
	v, err = s.mutateVolume(ctx, v.ID, func(v *volumeRecord) error {
		if len(v.Attachments) > 0 {
			return apierr.New(apierr.Conflict, "VolumeInUse", "%s is already attached to an instance", v.ID)
		}
		if err := v.setState(volumeInUse); err != nil {
			return err
		}
		v.Attachments = []volumeAttachment{{InstanceID: r.ID, Device: device, State: attachAttaching, AttachTime: now}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	answer := attachmentOut(v.ID, v.Attachments[0])
	if err := s.attachOnHost(ctx, v, guest); err != nil {
		s.log.Warn("attach volume", "volume", v.ID, "instance", r.ID, "err", err)
		s.rollBackAttach(ctx, v.ID, r.ID)
		if errors.Is(err, compute.ErrDeviceInUse) {
			return nil, inUse()
		}
		return nil, hostError("attaching the volume", err)
	}
	if _, err := s.mutateVolume(ctx, v.ID, func(v *volumeRecord) error {
		if len(v.Attachments) != 1 || v.Attachments[0].InstanceID != r.ID {
			return errStale
		}
		v.Attachments[0].State = attachAttached
		return nil
	}); err != nil && !errors.Is(err, errStale) {
		return nil, err
	}
	s.log.Info("volume attached", "volume", v.ID, "instance", r.ID, "device", device)
	return &answer, nil
}

// attachOnHost gives the machine the volume's block device, with the volume's performance as I/O limits.
func (s *Service) attachOnHost(ctx context.Context, v volumeRecord, guest string) error {
	hostPath, err := s.volumes.Device(ctx, v.ID)
	if err != nil {
		return err
	}
	iops, mbps := volumeLimits(v.volumeConfig)
	err = s.compute.AttachBlock(ctx, v.Attachments[0].InstanceID,
		compute.BlockDevice{HostPath: hostPath, GuestPath: guest, IOPS: iops, MBps: mbps})
	if err != nil {
		if rerr := s.volumes.ReleaseDevice(ctx, v.ID); rerr != nil {
			s.log.Warn("release volume device", "volume", v.ID, "err", rerr)
		}
	}
	return err
}

// volumeLimits are the I/O limits of a volume: gp2's baseline of 3 IOPS per GiB (at least 100), gp3's
// provisioned IOPS and throughput, io1 and io2's provisioned IOPS. Zero is no limit.
func volumeLimits(c volumeConfig) (iops, mbps int) {
	return c.shownIops(), c.Throughput
}

// rollBackAttach makes the volume available again after a failed attachment.
func (s *Service) rollBackAttach(ctx context.Context, volumeID, instanceID string) {
	_, err := s.mutateVolume(ctx, volumeID, func(v *volumeRecord) error {
		if len(v.Attachments) != 1 || v.Attachments[0].InstanceID != instanceID {
			return errStale
		}
		v.Attachments = nil
		return v.setState(volumeAvailable)
	})
	if err != nil && !errors.Is(err, errStale) {
		s.log.Error("roll back volume attachment", "volume", volumeID, "err", err)
	}
}

// DetachVolume takes a volume away from its instance. A volume still mounted in the running instance is
// not detached (AWS would wait until it is unmounted): the call fails and the volume stays attached, unless
// Force is set, which unmounts it in the instance first, as a forced detach leaves the instance's filesystem.
func (s *Service) DetachVolume(ctx context.Context, in *api.DetachVolumeRequest) (*api.VolumeAttachment, error) {
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
	if len(v.Attachments) == 0 {
		return nil, apierr.New(apierr.Conflict, "IncorrectState", "Volume '%s' is in the '%s' state.", v.ID, v.State)
	}
	a := v.Attachments[0]
	if g, _ := guestDevice(a.Device); g == rootDevice {
		// The root volume goes with its instance (DeleteOnTermination decides whether it outlives it).
		return nil, apierr.New(apierr.Conflict, "IncorrectState", "Unable to detach root volume '%s' from instance '%s'", v.ID, a.InstanceID)
	}
	if id := deref(in.InstanceId); id != "" && id != a.InstanceID {
		return nil, apierr.Missing("InvalidAttachment.NotFound", "The volume %s is not attached to instance %s.", v.ID, id)
	}
	if dev := deref(in.Device); dev != "" && dev != a.Device {
		return nil, apierr.Missing("InvalidAttachment.NotFound", "The volume %s is not attached at %s.", v.ID, dev)
	}
	unlock := s.hw().lock(a.InstanceID)
	defer unlock()
	v, err = s.mutateVolume(ctx, v.ID, func(v *volumeRecord) error {
		if len(v.Attachments) != 1 || v.Attachments[0].InstanceID != a.InstanceID {
			return apierr.New(apierr.Conflict, "IncorrectState", "Volume '%s' is in the '%s' state.", v.ID, v.State)
		}
		v.Attachments[0].State = attachDetaching
		return nil
	})
	if err != nil {
		return nil, err
	}
	answer := attachmentOut(v.ID, v.Attachments[0])
	if err := s.detachOnHost(ctx, v.ID, a, in.Force != nil && *in.Force); err != nil {
		s.setAttachmentState(ctx, v.ID, a.InstanceID, attachAttached)
		if errors.Is(err, compute.ErrBusy) {
			return nil, apierr.New(apierr.Conflict, "VolumeInUse",
				"Volume %s is mounted in instance %s; unmount it there before detaching it.", v.ID, a.InstanceID)
		}
		return nil, hostError("detaching the volume", err)
	}
	if err := s.finishDetach(ctx, v.ID, a.InstanceID); err != nil {
		return nil, err
	}
	s.log.Info("volume detached", "volume", v.ID, "instance", a.InstanceID)
	return &answer, nil
}

// forceDetacher is a compute driver that can take a device from a machine that has it mounted.
type forceDetacher interface {
	ForceDetachBlock(ctx context.Context, id, guestPath string) error
}

// detachOnHost takes the device from the machine (a machine that is gone has nothing to give back) and
// releases the volume's block device. With force, a device the machine has mounted is taken all the same,
// where the driver can.
func (s *Service) detachOnHost(ctx context.Context, volumeID string, a volumeAttachment, force bool) error {
	guest, _ := guestDevice(a.Device)
	detach := s.compute.DetachBlock
	if fd, ok := s.compute.(forceDetacher); ok && force {
		detach = fd.ForceDetachBlock
	}
	err := detach(ctx, a.InstanceID, guest)
	if err != nil && !errors.Is(err, compute.ErrNotAttached) && !errors.Is(err, compute.ErrNotDefined) {
		return err
	}
	if err := s.volumes.ReleaseDevice(ctx, volumeID); err != nil {
		// The record still says available: the device is taken again by the next attachment.
		s.log.Warn("release volume device", "volume", volumeID, "err", err)
	}
	return nil
}

// finishDetach records the volume available.
func (s *Service) finishDetach(ctx context.Context, volumeID, instanceID string) error {
	_, err := s.mutateVolume(ctx, volumeID, func(v *volumeRecord) error {
		if len(v.Attachments) != 1 || v.Attachments[0].InstanceID != instanceID {
			return errStale
		}
		v.Attachments = nil
		return v.setState(volumeAvailable)
	})
	if errors.Is(err, errStale) {
		return nil
	}
	return err
}

func (s *Service) setAttachmentState(ctx context.Context, volumeID, instanceID, state string) {
	_, err := s.mutateVolume(ctx, volumeID, func(v *volumeRecord) error {
		if len(v.Attachments) != 1 || v.Attachments[0].InstanceID != instanceID {
			return errStale
		}
		v.Attachments[0].State = state
		return nil
	})
	if err != nil && !errors.Is(err, errStale) {
		s.log.Error("record volume attachment", "volume", volumeID, "err", err)
	}
}

// volumesAttachedTo lists the volumes attached to an instance.
func (s *Service) volumesAttachedTo(ctx context.Context, instanceID string) ([]volumeRecord, error) {
	filters := []api.Filter{{Name: str("attachment.instance-id"), Values: []string{instanceID}}}
	return s.listVolumes(ctx, nil, filters, func(v volumeRecord) map[string][]string { return volumeFields(v, filters) })
}

// ensureBlockDevices runs before a machine boots: every attached volume gets its host block device (again,
// after a host restart its loop device may be another one), and the machine's attachment follows it.
func (s *Service) ensureBlockDevices(ctx context.Context, instanceID string) error {
	if s.volumes == nil {
		return nil
	}
	vols, err := s.volumesAttachedTo(ctx, instanceID)
	if err != nil || len(vols) == 0 {
		return err
	}
	have, err := s.compute.BlockDevices(ctx, instanceID)
	if err != nil {
		return err
	}
	for _, v := range vols {
		guest, _ := guestDevice(v.Attachments[0].Device)
		if guest == rootDevice {
			continue // the root volume is the machine's root disk (launchvolumes.go)
		}
		hostPath, err := s.volumes.Device(ctx, v.ID)
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.ID, err)
		}
		iops, mbps := volumeLimits(v.volumeConfig)
		want := compute.BlockDevice{HostPath: hostPath, GuestPath: guest, IOPS: iops, MBps: mbps}
		for _, h := range have {
			if h.GuestPath == guest && h != want {
				if err := s.compute.DetachBlock(ctx, instanceID, guest); err != nil {
					return err
				}
			}
		}
		if err := s.compute.AttachBlock(ctx, instanceID, want); err != nil {
			return fmt.Errorf("volume %s: %w", v.ID, err)
		}
	}
	return nil
}

// releaseVolumes runs once a terminated instance's machine is gone: its volumes are detached. A volume
// attached with DeleteOnTermination is deleted; the others become available.
func (s *Service) releaseVolumes(ctx context.Context, instanceID string) {
	if s.volumes == nil {
		return
	}
	vols, err := s.volumesAttachedTo(ctx, instanceID)
	if err != nil {
		s.log.Error("volumes of terminated instance", "instance", instanceID, "err", err)
		return
	}
	for _, v := range vols {
		if err := s.volumes.ReleaseDevice(ctx, v.ID); err != nil {
			s.log.Warn("release volume device", "volume", v.ID, "err", err)
		}
		if v.Attachments[0].DeleteOnTermination {
			s.deleteTerminatedVolume(ctx, v.ID, instanceID)
			continue
		}
		if err := s.finishDetach(ctx, v.ID, instanceID); err != nil {
			s.log.Error("detach volume of terminated instance", "volume", v.ID, "err", err)
		}
	}
}

// deleteTerminatedVolume deletes a volume that goes with its instance.
func (s *Service) deleteTerminatedVolume(ctx context.Context, volumeID, instanceID string) {
	if err := s.finishDetach(ctx, volumeID, instanceID); err != nil {
		s.log.Error("detach volume of terminated instance", "volume", volumeID, "err", err)
		return
	}
	if _, err := s.DeleteVolume(ctx, &api.DeleteVolumeRequest{VolumeId: &volumeID}); err != nil {
		s.log.Error("delete volume of terminated instance", "volume", volumeID, "err", err)
	}
}

// recoverAttachment settles an attachment that a crash left attaching or detaching, from what the machine
// has: a device that is there is attached (a detach that never happened may be asked again); one that is
// not is given back.
func (s *Service) recoverAttachment(ctx context.Context, v volumeRecord) error {
	if s.compute == nil {
		return nil
	}
	a := v.Attachments[0]
	guest, _ := guestDevice(a.Device)
	devs, err := s.compute.BlockDevices(ctx, a.InstanceID)
	if err != nil && !errors.Is(err, compute.ErrNotDefined) {
		return err
	}
	if slices.ContainsFunc(devs, func(d compute.BlockDevice) bool { return d.GuestPath == guest }) {
		s.setAttachmentState(ctx, v.ID, a.InstanceID, attachAttached)
		return nil
	}
	if err := s.volumes.ReleaseDevice(ctx, v.ID); err != nil {
		s.log.Warn("release volume device", "volume", v.ID, "err", err)
	}
	return s.finishDetach(ctx, v.ID, a.InstanceID)
}

func attachmentOut(volumeID string, a volumeAttachment) api.VolumeAttachment {
	return api.VolumeAttachment{VolumeId: str(volumeID), InstanceId: str(a.InstanceID), Device: str(a.Device),
		State: str(a.State), AttachTime: timep(a.AttachTime), DeleteOnTermination: boolp(a.DeleteOnTermination)}
}
