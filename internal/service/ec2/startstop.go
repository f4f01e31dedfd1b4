package ec2

import (
	"context"
	"errors"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/store"
)

// StartInstances boots stopped instances again from their kept root disks.
func (s *Service) StartInstances(ctx context.Context, in *api.StartInstancesRequest) (*api.StartInstancesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	changes, moved, err := s.changeStates(ctx, in.InstanceIds, opStart, causeLaunch, nil)
	if err != nil {
		return nil, err
	}
	for _, key := range moved {
		if err := s.takePublicIP(ctx, key); err != nil {
			s.log.Warn("public address for started instance", "instance", key.ID, "err", err)
		}
		s.async(ctx, key.ID, func(ctx context.Context) { s.boot(ctx, key) })
	}
	return &api.StartInstancesResult{StartingInstances: changes}, nil
}

// takePublicIP gives a started instance a new public address when it launched with one, as EC2 does (an
// Elastic IP stays with it through the stop).
func (s *Service) takePublicIP(ctx context.Context, key store.Key) error {
	r, _, err := store.Get[instanceRecord](ctx, s.st, key)
	if err != nil || !r.AutoPublicIP || r.PublicIP != "" {
		return err
	}
	pub, err := s.allocatePublicIP(ctx)
	if err != nil {
		return err
	}
	_, err = s.mutateInstance(ctx, key, func(r *instanceRecord) error {
		if r.State != statePending || r.PublicIP != "" {
			return errStale
		}
		r.PublicIP, r.PublicElastic = pub.String(), false
		return nil
	})
	if err != nil {
		_ = s.releasePublicIP(ctx, pub)
	}
	if errors.Is(err, errStale) {
		return nil
	}
	return err
}

// StopInstances ends the instances' processes and keeps their root disks.
func (s *Service) StopInstances(ctx context.Context, in *api.StopInstancesRequest) (*api.StopInstancesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	hibernate, c := in.Hibernate != nil && *in.Hibernate, causeUser
	if hibernate {
		c = causeUserHibernate
	}
	changes, moved, err := s.changeStates(ctx, in.InstanceIds, opStop, c, func(r *instanceRecord) error {
		if r.DisableApiStop && r.State == stateRunning {
			return apierr.New(apierr.Conflict, "OperationNotPermitted",
				"The instance '%s' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.", r.ID)
		}
		if hibernate {
			return s.checkHibernate(ctx, r) // hibernation.go
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	grace := stopGrace
	if in.Force != nil && *in.Force {
		grace = 0
	}
	for _, key := range moved {
		s.async(ctx, key.ID, func(ctx context.Context) { s.stopOnHost(ctx, key, grace) })
	}
	return &api.StopInstancesResult{StoppingInstances: changes}, nil
}

// RebootInstances restarts the instances' processes; they stay running.
func (s *Service) RebootInstances(ctx context.Context, in *api.RebootInstancesRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	_, moved, err := s.changeStates(ctx, in.InstanceIds, opReboot, causeUser, nil)
	if err != nil {
		return nil, err
	}
	for _, key := range moved {
		s.async(ctx, key.ID, func(ctx context.Context) { s.rebootOnHost(ctx, key) })
	}
	return &wire.Empty{}, nil
}

// TerminateInstances deletes the instances: machine, disk, network and addresses.
func (s *Service) TerminateInstances(ctx context.Context, in *api.TerminateInstancesRequest) (*api.TerminateInstancesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	changes, moved, err := s.changeStates(ctx, in.InstanceIds, opTerminate, causeUser, func(r *instanceRecord) error {
		if r.DisableApiTerm && r.State != stateTerminated && r.State != stateShuttingDown {
			return apierr.New(apierr.Conflict, "OperationNotPermitted",
				"The instance '%s' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.", r.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, key := range moved {
		s.async(ctx, key.ID, func(ctx context.Context) { s.terminateOnHost(ctx, key) })
	}
	return &api.TerminateInstancesResult{TerminatingInstances: changes}, nil
}

// changeStates applies op to every named instance: all must exist and every one must accept op (and pass
// check) before any changes. It records the moves and returns the keys of the instances that moved; the
// caller starts their host work.
func (s *Service) changeStates(ctx context.Context, ids []string, op lifecycleOp, c cause, check func(*instanceRecord) error) ([]api.InstanceStateChange, []store.Key, error) {
	recs, err := s.getInstances(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	for i := range recs {
		if check != nil {
			if err := check(&recs[i]); err != nil {
				return nil, nil, err
			}
		}
		if _, _, err := op.target(recs[i].ID, recs[i].State); err != nil {
			return nil, nil, err
		}
	}
	changes := make([]api.InstanceStateChange, 0, len(recs))
	var moved []store.Key
	for i := range recs {
		key := s.keyOf(ctx, recs[i].ID)
		var prev instanceState
		var didMove bool
		r, err := s.mutateInstance(ctx, key, func(r *instanceRecord) error {
			prev, didMove = r.State, false
			to, move, err := op.target(r.ID, r.State)
			if err != nil || !move {
				return err
			}
			didMove = true
			return r.move(to, c, "", s.clock())
		})
		if err != nil {
			return nil, nil, err
		}
		if didMove {
			moved = append(moved, key)
			s.log.Info("instance state change", "instance", r.ID, "from", prev, "to", r.State)
		}
		changes = append(changes, api.InstanceStateChange{InstanceId: str(r.ID), PreviousState: prev.api(), CurrentState: r.State.api()})
	}
	return changes, moved, nil
}
