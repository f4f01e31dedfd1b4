package ec2

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/overcast-cloud/overcast/internal/store"
)

// The host work of the lifecycle. Each function runs under the instance's host-work lock, reads the record
// again (the API call recorded the state it wanted before starting it), acts on the host, then records the
// result. Each is idempotent, so Recover can run it again after a crash.

// stopGrace is how long a stop waits for the machine's init before killing it; Force skips the wait.
const stopGrace = 10 * time.Second

// errStale aborts a record update whose precondition another writer changed.
var errStale = errors.New("ec2: instance changed meanwhile")

// boot brings a pending instance up: its network namespace, firewall and public address, then the machine.
func (s *Service) boot(ctx context.Context, key store.Key) {
	r, _, err := store.Get[instanceRecord](ctx, s.st, key)
	if err != nil || r.State != statePending {
		return
	}
	if err := s.bringUp(ctx, &r); err != nil {
		s.log.Warn("instance failed to boot", "instance", r.ID, "err", err)
		s.failBoot(ctx, key, err)
		return
	}
	_, err = s.mutateInstance(ctx, key, func(r *instanceRecord) error {
		if r.State != statePending {
			return errStale // terminated or stopped meanwhile; that work cleans up
		}
		r.EverRan = true
		return r.move(stateRunning, causeBooted, "", s.clock())
	})
	if err != nil && !errors.Is(err, errStale) {
		s.log.Error("record running", "instance", r.ID, "err", err)
	}
}

func (s *Service) bringUp(ctx context.Context, r *instanceRecord) error {
	netns, err := s.attach(ctx, r)
	if err != nil {
		return err
	}
	userData, _ := base64.StdEncoding.DecodeString(r.UserData) // validated at launch
	t, _ := instanceTypeByName(r.InstanceType)
	spec := compute.Spec{
		ID:          r.ID,
		Image:       compute.Image{ID: r.ImageID},
		Hostname:    hostname(r.PrivateIP),
		VCPUs:       t.VCPUs,
		MemoryMiB:   t.MemoryMiB,
		PIDs:        pidsLimit(t.VCPUs),
		NetNS:       netns,
		UserData:    userData,
		DefaultUser: r.DefaultUser,
	}
	if s.volumes != nil {
		// The root disk is the instance's root volume (launchvolumes.go).
		if spec.Root, err = s.makeLaunchVolumes(ctx, r); err != nil {
			return err
		}
	} else {
		// A host without volumes (unit tests) boots the image's overlay.
		img, err := s.images.Get(ctx, r.ImageID)
		if err != nil {
			return err
		}
		spec.Image.LowerDirs = img.LowerDirs
	}
	if r.PublicKey != "" {
		spec.PublicKeys = []string{r.PublicKey}
	}
	if s.net != nil {
		// The VPC resolver, at AWS's link-local address (169.254.169.253).
		spec.Nameservers = []string{network.ResolverAddr.Addr().String()}
	}
	if err := s.compute.Define(ctx, spec); err != nil {
		return err
	}
	if err := s.ensureBlockDevices(ctx, r.ID); err != nil { // attachments.go
		return err
	}
	if err := s.attachInstanceStore(ctx, r); err != nil { // instancestore.go
		return err
	}
	return s.compute.Start(ctx, r.ID)
}

// pidsLimit bounds the processes of a machine: generous for real work, small enough that a fork bomb stays
// inside its instance.
func pidsLimit(vcpus int) int { return 1024 * max(vcpus, 1) }

// attach wires the instance's interface on the host and returns its network namespace. Without a network
// (unit tests) the machine gets a private namespace.
func (s *Service) attach(ctx context.Context, r *instanceRecord) (string, error) {
	if s.net == nil {
		return "", nil
	}
	prefix, err := netip.ParsePrefix(r.SubnetCIDR)
	if err != nil {
		return "", err
	}
	gateway := prefix.Masked().Addr().Next()
	if err := s.net.EnsureSubnet(ctx, network.Subnet{ID: r.SubnetID, VPCID: r.VPCID, CIDR: prefix, Gateway: gateway}); err != nil {
		return "", err
	}
	internet, err := s.subnetHasInternet(ctx, r.SubnetID)
	if err != nil {
		return "", err
	}
	netns, err := s.net.Attach(ctx, network.Interface{ID: r.InterfaceID, InstanceID: r.ID, SubnetID: r.SubnetID,
		MAC: r.MAC, IP: r.privateAddr(), Prefix: prefix, Gateway: gateway, Internet: internet})
	if err != nil {
		return "", err
	}
	fw, err := s.firewallFor(ctx, r.groupIDs())
	if err != nil {
		return "", err
	}
	if err := s.net.SetFirewall(ctx, r.InterfaceID, fw); err != nil {
		return "", err
	}
	if pub := r.publicAddr(); pub.IsValid() {
		if err := s.net.SetPublicIP(ctx, r.InterfaceID, pub); err != nil {
			return "", err
		}
	}
	return netns, nil
}

// failBoot records a failed boot and cleans the host. A first launch ends terminated, as EC2's failed
// launches do; a start of a stopped instance goes back to stopped, keeping the disk.
func (s *Service) failBoot(ctx context.Context, key store.Key, cause error) {
	r, err := s.mutateInstance(ctx, key, func(r *instanceRecord) error {
		if r.State != statePending {
			return errStale
		}
		if r.EverRan {
			return r.move(stateStopped, causeLaunchFailed, cause.Error(), s.clock())
		}
		return r.move(stateShuttingDown, causeLaunchFailed, cause.Error(), s.clock())
	})
	if err != nil {
		return
	}
	if r.State == stateStopped {
		_ = s.compute.Stop(ctx, r.ID, 0)
		s.dropInstanceStore(ctx, r.ID) // instancestore.go
		s.detach(ctx, r.ID)
		s.dropPublicIP(ctx, key)
		return
	}
	s.terminateOnHost(ctx, key)
}

// stopOnHost finishes a stop: the machine's processes end, its disk stays, its namespace goes, and a public
// address that is not an Elastic IP is given back, as in EC2.
func (s *Service) stopOnHost(ctx context.Context, key store.Key, grace time.Duration) {
	r, _, err := store.Get[instanceRecord](ctx, s.st, key)
	if err != nil || r.State != stateStopping {
		return
	}
	if err := s.stopMachine(ctx, r, grace); err != nil && !errors.Is(err, compute.ErrNotDefined) { // hibernation.go
		// Left stopping: the next Recover finishes it.
		s.log.Error("stop machine", "instance", r.ID, "err", err)
		return
	}
	s.dropInstanceStore(ctx, r.ID) // instancestore.go: its contents do not survive a stop
	s.detach(ctx, r.ID)
	if _, err := s.mutateInstance(ctx, key, func(r *instanceRecord) error {
		if r.State != stateStopping {
			return errStale
		}
		return r.move(stateStopped, causeFinished, "", s.clock())
	}); err != nil {
		return
	}
	s.dropPublicIP(ctx, key)
}

// dropPublicIP releases the instance's public address unless it is an Elastic IP.
func (s *Service) dropPublicIP(ctx context.Context, key store.Key) {
	var old netip.Addr
	_, err := s.mutateInstance(ctx, key, func(r *instanceRecord) error {
		old = netip.Addr{}
		if r.PublicIP == "" || r.PublicElastic {
			return errStale
		}
		old, r.PublicIP = r.publicAddr(), ""
		return nil
	})
	if err == nil && old.IsValid() {
		if err := s.releasePublicIP(ctx, old); err != nil {
			s.log.Warn("release public address", "instance", key.ID, "ip", old, "err", err)
		}
	}
}

// terminateOnHost finishes a termination: the machine and its disk go, the namespace goes, the addresses
// are given back, then the record says terminated.
func (s *Service) terminateOnHost(ctx context.Context, key store.Key) {
	r, _, err := store.Get[instanceRecord](ctx, s.st, key)
	if err != nil || r.State != stateShuttingDown {
		return
	}
	if err := s.compute.Destroy(ctx, r.ID); err != nil {
		s.log.Error("destroy machine", "instance", r.ID, "err", err)
		return // left shutting-down: the next Recover finishes it
	}
	s.releaseVolumes(ctx, r.ID)    // attachments.go
	s.dropInstanceStore(ctx, r.ID) // instancestore.go
	s.detach(ctx, r.ID)
	if ip := r.privateAddr(); ip.IsValid() {
		if err := s.releasePrivateIP(ctx, r.SubnetID, ip); err != nil {
			s.log.Warn("release private address", "instance", r.ID, "ip", ip, "err", err)
		}
	}
	s.dropPublicIP(ctx, key)
	if r.PublicElastic {
		if err := s.disassociateInstanceAddresses(ctx, r.ID); err != nil {
			s.log.Warn("disassociate elastic IP", "instance", r.ID, "err", err)
		}
	}
	_, _ = s.mutateInstance(ctx, key, func(r *instanceRecord) error {
		if r.State != stateShuttingDown {
			return errStale
		}
		r.PublicIP, r.PublicElastic = "", false
		if r.Profile != nil {
			r.Profile.State = "disassociated"
		}
		return r.move(stateTerminated, causeFinished, "", s.clock())
	})
}

// rebootOnHost restarts the machine's processes; the record stays running.
func (s *Service) rebootOnHost(ctx context.Context, key store.Key) {
	r, _, err := store.Get[instanceRecord](ctx, s.st, key)
	if err != nil || r.State != stateRunning {
		return
	}
	if err := s.compute.Stop(ctx, r.ID, stopGrace); err != nil {
		s.log.Error("reboot: stop machine", "instance", r.ID, "err", err)
	}
	if err := s.compute.Start(ctx, r.ID); err != nil {
		s.log.Error("reboot: start machine", "instance", r.ID, "err", err)
	}
}

func (s *Service) detach(ctx context.Context, id string) {
	if s.net == nil {
		return
	}
	if err := s.net.Detach(ctx, id); err != nil {
		s.log.Warn("detach network", "instance", id, "err", err)
	}
}

// CheckMachines compares every running instance with its machine: one that is no longer running on the host
// shut itself down (its init exited, or it was killed), and follows its InstanceInitiatedShutdownBehavior.
func (s *Service) CheckMachines(ctx context.Context) error {
	recs, raw, err := store.List[instanceRecord](ctx, s.st, store.Prefix{Kind: kindInstance, AllAccounts: true})
	if err != nil {
		return err
	}
	for i := range recs {
		if recs[i].State != stateRunning {
			continue
		}
		unlock, ok := s.hw().tryLock(recs[i].ID)
		if !ok {
			continue // host work in progress; it decides
		}
		s.checkMachine(withAccount(ctx, recs[i].Account, recs[i].Region), raw[i].Key)
		unlock()
	}
	return nil
}

func (s *Service) checkMachine(ctx context.Context, key store.Key) {
	r, _, err := store.Get[instanceRecord](ctx, s.st, key)
	if err != nil || r.State != stateRunning {
		return
	}
	st, err := s.compute.Status(ctx, r.ID)
	if err != nil || st.State == compute.StateRunning {
		return
	}
	to := stateStopping
	if r.ShutdownBehavior == "terminate" {
		to = stateShuttingDown
	}
	if _, err := s.mutateInstance(ctx, key, func(r *instanceRecord) error {
		if r.State != stateRunning {
			return errStale
		}
		return r.move(to, causeInstanceShutdown, "", s.clock())
	}); err != nil {
		return
	}
	s.log.Info("instance shut itself down", "instance", r.ID, "reason", st.Reason, "behavior", r.ShutdownBehavior)
	if to == stateShuttingDown {
		s.terminateOnHost(ctx, key)
		return
	}
	s.stopOnHost(ctx, key, 0)
}

// Monitor runs CheckMachines every interval until ctx ends.
func (s *Service) Monitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.CheckMachines(ctx); err != nil {
				s.log.Warn("check machines", "err", err)
			}
		}
	}
}
