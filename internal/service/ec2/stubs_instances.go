package ec2

// Contract between the two halves of this package while they are written. The instances half owns this
// file: it moves each declaration into its own files as it implements it, keeping the signature, and deletes
// this file at the end.

import (
	"context"
	"net/netip"
)

// groupMemberAddrs returns the private addresses of the pending or running instances in the group, for rules
// that reference it.
func (s *Service) groupMemberAddrs(ctx context.Context, groupID string) ([]netip.Addr, error) {
	panic("not yet")
}

// refreshFirewalls recomputes and applies the firewall of every pending or running instance of the region;
// the security group half calls it after any rule or membership change.
func (s *Service) refreshFirewalls(ctx context.Context) error { panic("not yet") }

// instanceNetwork returns the instance's primary interface id and private address. Errors:
// InvalidInstanceID.NotFound.
func (s *Service) instanceNetwork(ctx context.Context, instanceID string) (ifaceID string, private netip.Addr, err error) {
	panic("not yet")
}

// setInstancePublicIP records the instance's public address (elastic says whether it is an Elastic IP) and
// maps it on the host; an invalid address removes it. It releases a non-elastic address it replaces.
func (s *Service) setInstancePublicIP(ctx context.Context, instanceID string, public netip.Addr, elastic bool) error {
	panic("not yet")
}
