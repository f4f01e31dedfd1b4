package ec2

import (
	"context"
	"net/netip"
)

// What the network-resources half of the package asks of instances: group membership for rules that
// reference groups, firewall refreshes after rule changes, and the primary interface for Elastic IPs.

// groupMemberAddrs returns the private addresses of the pending or running instances in the group, for rules
// that reference it.
func (s *Service) groupMemberAddrs(ctx context.Context, groupID string) ([]netip.Addr, error) {
	recs, err := s.listInstances(ctx)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for i := range recs {
		if !onNetwork(recs[i].State) {
			continue
		}
		for _, g := range recs[i].Groups {
			if g.ID == groupID {
				if a := recs[i].privateAddr(); a.IsValid() {
					out = append(out, a)
				}
				break
			}
		}
	}
	return out, nil
}

// onNetwork: the states in which an instance's interface is wired on the host (or about to be).
func onNetwork(st instanceState) bool {
	return st == statePending || st == stateRunning || st == stateStopping
}

// refreshFirewalls recomputes and applies the firewall of every pending or running instance of the region;
// the security group half calls it after any rule or membership change.
func (s *Service) refreshFirewalls(ctx context.Context) error {
	if s.net == nil {
		return nil
	}
	recs, err := s.listInstances(ctx)
	if err != nil {
		return err
	}
	for i := range recs {
		r := &recs[i]
		if r.State != stateRunning && r.State != stateStopping {
			continue // a pending instance gets its firewall when it is attached
		}
		fw, err := s.firewallFor(ctx, r.groupIDs())
		if err != nil {
			return err
		}
		if err := s.net.SetFirewall(ctx, r.InterfaceID, fw); err != nil {
			s.log.Warn("refresh firewall", "instance", r.ID, "err", err)
		}
	}
	return nil
}

// instanceNetwork returns the instance's primary interface id and private address. Errors:
// InvalidInstanceID.NotFound.
func (s *Service) instanceNetwork(ctx context.Context, instanceID string) (ifaceID string, private netip.Addr, err error) {
	r, err := s.getInstance(ctx, instanceID)
	if err != nil {
		return "", netip.Addr{}, err
	}
	if r.State == stateTerminated {
		return "", netip.Addr{}, instanceNotFound(instanceID)
	}
	return r.InterfaceID, r.privateAddr(), nil
}

// setInstancePublicIP records the instance's public address (elastic says whether it is an Elastic IP) and
// maps it on the host; an invalid address removes it. It releases a non-elastic address it replaces. An
// instance that launched with a public address gets a new one from the pool when its Elastic IP goes, as
// in EC2.
func (s *Service) setInstancePublicIP(ctx context.Context, instanceID string, public netip.Addr, elastic bool) error {
	key := s.keyOf(ctx, instanceID)
	var replacement netip.Addr
	if !public.IsValid() {
		r, err := s.getInstance(ctx, instanceID)
		if err != nil {
			return err
		}
		if r.AutoPublicIP && r.PublicElastic && r.State != stateStopped && r.State != stateTerminated {
			if replacement, err = s.allocatePublicIP(ctx); err != nil {
				return err
			}
			public, elastic = replacement, false
		}
	}
	var old netip.Addr
	var oldElastic bool
	r, err := s.mutateInstance(ctx, key, func(r *instanceRecord) error {
		old, oldElastic = r.publicAddr(), r.PublicElastic
		r.PublicIP, r.PublicElastic = "", false
		if public.IsValid() {
			r.PublicIP, r.PublicElastic = public.String(), elastic
		}
		return nil
	})
	if err != nil {
		if replacement.IsValid() {
			_ = s.releasePublicIP(ctx, replacement)
		}
		return err
	}
	// A stopped instance's mapping is made when it starts.
	if s.net != nil && onNetwork(r.State) {
		unlock := s.hw().lock(r.ID)
		err = s.net.SetPublicIP(ctx, r.InterfaceID, public)
		unlock()
		if err != nil {
			return err
		}
	}
	if old.IsValid() && !oldElastic && old != public {
		return s.releasePublicIP(ctx, old)
	}
	return nil
}
