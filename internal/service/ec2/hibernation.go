package ec2

// Stop-hibernate. An instance launched with HibernationOptions.Configured may be stopped with Hibernate: its
// machine's memory, and so its processes, are saved on its root volume and resumed by the next start
// (compute.Hibernator). EC2's prerequisites are checked at launch and again at the stop: a type of a family
// that hibernates, at most 150 GiB of RAM, and an encrypted EBS root volume large enough for the RAM. When
// the host cannot hibernate the machine, it stops normally and the log says why, as EC2 falls back to a
// normal shutdown.

import (
	"context"
	"errors"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/compute"
)

// maxHibernationMiB is the most RAM a Linux instance may hibernate.
const maxHibernationMiB = 150 << 10

// hibernationSupported says whether instances of the type may hibernate: those of the current families on
// Intel and AMD, and T2.
func (t instanceType) hibernationSupported() bool {
	f := t.Family
	return f.hypervisor == "nitro" && t.Arch[0] != "arm64" || f.name == "t2"
}

// launchHibernation checks RunInstances' HibernationOptions against the launch and says whether the
// instances are configured for hibernation.
func launchHibernation(in *api.RunInstancesRequest, l *launch) (bool, error) {
	if in.HibernationOptions == nil || !isTrue(in.HibernationOptions.Configured) {
		return false, nil
	}
	if in.EnclaveOptions != nil && isTrue(in.EnclaveOptions.Enabled) {
		return false, apierr.InvalidParam("InvalidParameterCombination",
			"You can't enable hibernation and Nitro Enclaves on the same instance.")
	}
	var root launchVolume // the root comes first (launchVolumes)
	if len(l.volumes) > 0 {
		root = l.volumes[0]
	}
	return true, hibernationPrerequisites(l.itype, root.Encrypted, root.SizeGiB, len(l.volumes) > 0)
}

// hibernationPrerequisites are EC2's conditions on an instance that hibernates.
func hibernationPrerequisites(t instanceType, encrypted bool, rootGiB int, ebsRoot bool) error {
	switch {
	case !t.hibernationSupported():
		return apierr.InvalidParam("UnsupportedHibernationConfiguration",
			"Hibernation is not supported for the instance type '%s'.", t.Name)
	case t.MemoryMiB > maxHibernationMiB:
		return apierr.InvalidParam("UnsupportedHibernationConfiguration",
			"Hibernation is not supported for instances with more than 150 GiB of RAM; '%s' has %d MiB.", t.Name, t.MemoryMiB)
	case !ebsRoot:
		return apierr.InvalidParam("UnsupportedHibernationConfiguration",
			"For hibernation, the root device volume must be an EBS volume.")
	case !encrypted:
		return apierr.InvalidParam("UnsupportedHibernationConfiguration",
			"For hibernation, the root device volume must be encrypted.")
	case rootGiB<<10 < t.MemoryMiB:
		return apierr.InvalidParam("UnsupportedHibernationConfiguration",
			"For hibernation, the root device volume must be large enough to store the instance's RAM (%d MiB); it is %d GiB.",
			t.MemoryMiB, rootGiB)
	}
	return nil
}

// checkHibernate is StopInstances' check of an instance to hibernate.
func (s *Service) checkHibernate(ctx context.Context, r *instanceRecord) error {
	if !r.Hibernation {
		return apierr.InvalidParam("UnsupportedHibernationConfiguration",
			"The instance can't be hibernated because it was not configured at launch for hibernation: %s", r.ID)
	}
	t, _ := instanceTypeByName(r.InstanceType)
	// A root volume without a volume record counts as unencrypted.
	root, err := s.getVolume(ctx, r.RootVolumeID)
	if err != nil && !apierr.Is(err, apierr.NotFound) {
		return err
	}
	return hibernationPrerequisites(t, err == nil && root.Encrypted, root.SizeGiB, err == nil)
}

// stopMachine stops the instance's machine, hibernating it when its stop asked for that. A machine that
// cannot hibernate is stopped normally.
func (s *Service) stopMachine(ctx context.Context, r instanceRecord, grace time.Duration) error {
	if r.HibernateStop {
		h, ok := s.compute.(compute.Hibernator)
		if !ok {
			s.log.Warn("cannot hibernate: the compute driver does not hibernate; stopping", "instance", r.ID)
			return s.compute.Stop(ctx, r.ID, grace)
		}
		err := h.Hibernate(ctx, r.ID)
		if err == nil || errors.Is(err, compute.ErrNotDefined) {
			return err
		}
		s.log.Warn("cannot hibernate; stopping", "instance", r.ID, "err", err)
	}
	return s.compute.Stop(ctx, r.ID, grace)
}

// hibernated says whether the instance's machine holds a hibernation that its next start resumes.
func (s *Service) hibernated(ctx context.Context, id string) bool {
	h, ok := s.compute.(compute.Hibernator)
	if !ok {
		return false
	}
	yes, err := h.Hibernated(ctx, id)
	return err == nil && yes
}

func isTrue(b *bool) bool { return b != nil && *b }
