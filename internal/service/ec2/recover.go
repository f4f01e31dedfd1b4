package ec2

import (
	"context"
	"errors"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/store"
)

// hostLostReason is the StateReason of an instance whose machine did not survive a restart of Overcast.
const hostLostReason = "Overcast restarted and the instance was not running"

// Recover runs when Overcast starts: it takes back every instance its records name and cleans up what they
// do not. Each instance is compared with its machine:
//   - running, and running on the host: adopted; its network, firewall and public address are applied again.
//   - running, but not running on the host: stopped, with StateReason Server.InternalError saying so. It is
//     not restarted behind the user's back: the machine stopped for a reason Overcast cannot know, and a
//     stopped instance keeps its disk, so the user can start it.
//   - pending: the launch or start is carried on (an instance already running on the host is adopted).
//   - stopping, shutting-down: the stop or termination is finished.
//   - stopped: a machine still running on the host is stopped.
//
// Machines and network namespaces that no live record names are destroyed. Recover is idempotent.
func (s *Service) Recover(ctx context.Context) error {
	recs, raw, err := store.List[instanceRecord](ctx, s.st, store.Prefix{Kind: kindInstance, AllAccounts: true})
	if err != nil {
		return err
	}
	if s.compute == nil {
		return s.recoverWithoutCompute(ctx, recs, raw)
	}
	live := map[string]bool{}
	for i := range recs {
		if recs[i].State != stateTerminated {
			live[recs[i].ID] = true
		}
		actx := withAccount(ctx, recs[i].Account, recs[i].Region)
		unlock := s.hw().lock(recs[i].ID)
		err := s.recoverInstance(actx, raw[i].Key)
		unlock()
		if err != nil {
			s.log.Error("recover instance", "instance", recs[i].ID, "err", err)
		}
	}
	return s.removeOrphans(ctx, live)
}

func (s *Service) recoverInstance(ctx context.Context, key store.Key) error {
	r, _, err := store.Get[instanceRecord](ctx, s.st, key)
	if err != nil {
		return err
	}
	switch r.State {
	case statePending:
		if s.runningOnHost(ctx, r.ID) {
			s.log.Info("adopting instance", "instance", r.ID)
		}
		// boot is idempotent: it wires what is missing, starts a machine that is not running, then records
		// running.
		s.async(ctx, r.ID, func(ctx context.Context) { s.boot(ctx, key) })
	case stateRunning:
		if s.runningOnHost(ctx, r.ID) && s.hasEncryptedVolume(ctx, r.ID) {
			// The plaintext views of its encrypted volumes were served by the process that stopped, and
			// their devices are gone: the instance is rebooted onto new ones.
			s.log.Warn("the instance's encrypted volumes lost their devices with the restart; rebooting it", "instance", r.ID)
			s.async(ctx, r.ID, func(ctx context.Context) { s.rebootOntoNewDevices(ctx, key) })
			return nil
		}
		if s.runningOnHost(ctx, r.ID) {
			s.log.Info("adopting instance", "instance", r.ID)
			_, err := s.attach(ctx, &r)
			return err
		}
		s.log.Warn("instance was not running after restart; marking it stopped", "instance", r.ID)
		if _, err := s.mutateInstance(ctx, key, func(r *instanceRecord) error {
			if r.State != stateRunning {
				return errStale
			}
			if err := r.move(stateStopping, causeHostLost, hostLostReason, s.clock()); err != nil {
				return err
			}
			return r.move(stateStopped, causeFinished, "", s.clock())
		}); err != nil {
			return err
		}
		if err := s.compute.Stop(ctx, r.ID, 0); err != nil && !errors.Is(err, compute.ErrNotDefined) {
			return err
		}
		s.detach(ctx, r.ID)
		s.dropPublicIP(ctx, key)
	case stateStopping:
		s.stopOnHost(ctx, key, 0)
	case stateShuttingDown:
		s.terminateOnHost(ctx, key)
	case stateStopped:
		if s.runningOnHost(ctx, r.ID) {
			if err := s.compute.Stop(ctx, r.ID, stopGrace); err != nil {
				return err
			}
		}
		s.detach(ctx, r.ID)
	}
	return nil
}

// hasEncryptedVolume says whether an encrypted EBS volume is attached to the instance.
func (s *Service) hasEncryptedVolume(ctx context.Context, id string) bool {
	if s.volumes == nil {
		return false
	}
	vols, err := s.volumesAttachedTo(ctx, id)
	if err != nil {
		return false
	}
	for _, v := range vols {
		if v.Encrypted {
			return true
		}
	}
	return false
}

// rebootOntoNewDevices stops a running instance's machine and brings it up again, with its volumes' devices
// made anew. An instance that cannot come up is recorded stopped, with the reason.
func (s *Service) rebootOntoNewDevices(ctx context.Context, key store.Key) {
	r, _, err := store.Get[instanceRecord](ctx, s.st, key)
	if err != nil || r.State != stateRunning {
		return
	}
	err = s.compute.Stop(ctx, r.ID, 0)
	if err == nil {
		err = s.bringUp(ctx, &r)
	}
	if err == nil {
		return
	}
	s.log.Error("reboot after restart", "instance", r.ID, "err", err)
	if _, merr := s.mutateInstance(ctx, key, func(r *instanceRecord) error {
		if r.State != stateRunning {
			return errStale
		}
		if err := r.move(stateStopping, causeHostLost, hostLostReason+": "+err.Error(), s.clock()); err != nil {
			return err
		}
		return r.move(stateStopped, causeFinished, "", s.clock())
	}); merr != nil {
		return
	}
	_ = s.compute.Stop(ctx, r.ID, 0)
	s.detach(ctx, r.ID)
	s.dropPublicIP(ctx, key)
}

// recoverWithoutCompute reports truthfully what a host without compute cannot run: every instance that was
// pending, running or on its way down is stopped, with the reason.
func (s *Service) recoverWithoutCompute(ctx context.Context, recs []instanceRecord, raw []store.Record) error {
	var errs []error
	for i := range recs {
		switch recs[i].State {
		case stateStopped, stateTerminated:
			continue
		}
		actx := withAccount(ctx, recs[i].Account, recs[i].Region)
		_, err := s.mutateInstance(actx, raw[i].Key, func(r *instanceRecord) error {
			switch r.State {
			case stateShuttingDown:
				return r.move(stateTerminated, causeFinished, "", s.clock())
			case statePending: // nothing ran
				return r.move(stateStopped, causeHostLost, computeOffReason, s.clock())
			case stateRunning:
				if err := r.move(stateStopping, causeHostLost, computeOffReason, s.clock()); err != nil {
					return err
				}
			}
			return r.move(stateStopped, causeFinished, "", s.clock())
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// computeOffReason is the StateReason of instances a host without compute cannot run.
const computeOffReason = "compute is off on this Overcast host, so the instance is not running"

func (s *Service) runningOnHost(ctx context.Context, id string) bool {
	st, err := s.compute.Status(ctx, id)
	return err == nil && st.State == compute.StateRunning
}

// removeOrphans destroys the machines and network namespaces that no live instance record names: what a
// crash left between a record's deletion and the host's cleanup, or a terminated instance's leftovers.
func (s *Service) removeOrphans(ctx context.Context, live map[string]bool) error {
	machines, err := s.compute.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range machines {
		if !live[id] {
			s.log.Info("destroying orphaned machine", "instance", id)
			errs = append(errs, s.compute.Destroy(ctx, id))
		}
	}
	if s.net != nil {
		attached, err := s.net.Instances(ctx)
		if err != nil {
			return err
		}
		for _, id := range attached {
			if !live[id] {
				s.log.Info("detaching orphaned network", "instance", id)
				errs = append(errs, s.net.Detach(ctx, id))
			}
		}
	}
	return errors.Join(errs...)
}
