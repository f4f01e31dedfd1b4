package ec2

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/overcast-cloud/overcast/internal/store"
)

// recordingNet is a network.Network that keeps what it is told: the subnets, the public address mapped to
// each interface and each interface's firewall. The embedded interface is nil: a method these tests do not
// expect to be called panics.
type recordingNet struct {
	network.Network
	mu        sync.Mutex
	subnets   map[string]network.Subnet
	public    map[string]netip.Addr
	firewalls map[string]network.Firewall
}

func newRecordingNet() *recordingNet {
	return &recordingNet{subnets: map[string]network.Subnet{}, public: map[string]netip.Addr{}, firewalls: map[string]network.Firewall{}}
}

func (n *recordingNet) EnsureSubnet(ctx context.Context, s network.Subnet) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.subnets[s.ID] = s
	return nil
}
func (n *recordingNet) DeleteSubnet(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.subnets, id)
	return nil
}
func (n *recordingNet) Attach(ctx context.Context, iface network.Interface) (string, error) {
	return "/var/run/netns/oc-" + iface.InstanceID, nil
}
func (n *recordingNet) Detach(ctx context.Context, instanceID string) error { return nil }
func (n *recordingNet) SetPublicIP(ctx context.Context, ifaceID string, public netip.Addr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.public[ifaceID] = public
	return nil
}
func (n *recordingNet) SetFirewall(ctx context.Context, ifaceID string, fw network.Firewall) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.firewalls[ifaceID] = fw
	return nil
}
func (n *recordingNet) PublicPool() netip.Prefix                        { return netip.MustParsePrefix("203.0.113.0/24") }
func (n *recordingNet) Instances(ctx context.Context) ([]string, error) { return nil, nil }
func (n *recordingNet) Close() error                                    { return nil }

func (n *recordingNet) firewall(iface string) network.Firewall {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.firewalls[iface]
}

func (n *recordingNet) publicOf(iface string) netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.public[iface]
}

// netEnv is the instances half's test environment with a recording network under it.
func netEnv(t *testing.T) (*env, *recordingNet) {
	e := newEnv(t)
	hostNet := newRecordingNet()
	e.svc = New(Config{Store: e.st, Clock: e.clock.Now, Compute: e.machines, Images: testImages, Network: hostNet,
		Logger: slog.New(slog.DiscardHandler)})
	return e, hostNet
}

func TestElasticIPs(t *testing.T) {
	e, hostNet := netEnv(t)
	s, ctx := e.svc, e.ctx
	a := e.run(t, &api.RunInstancesRequest{})[0]
	b := e.run(t, &api.RunInstancesRequest{})[0]
	aDynamic := netip.MustParseAddr(*e.describe(t, *a.InstanceId).PublicIpAddress)

	eip := must[*api.AllocateAddressResult](t)(s.AllocateAddress(ctx, &api.AllocateAddressRequest{Domain: str("vpc"),
		TagSpecifications: tagSpec("elastic-ip", "Name", "web")}))
	if !netip.MustParsePrefix("203.0.113.0/24").Contains(netip.MustParseAddr(*eip.PublicIp)) || *eip.Domain != "vpc" {
		t.Fatalf("allocated %+v outside the host's pool", eip)
	}

	assoc := must[*api.AssociateAddressResult](t)(s.AssociateAddress(ctx, &api.AssociateAddressRequest{AllocationId: eip.AllocationId, InstanceId: a.InstanceId}))
	if got := *e.describe(t, *a.InstanceId).PublicIpAddress; got != *eip.PublicIp {
		t.Fatalf("instance shows %s, want the Elastic IP %s", got, *eip.PublicIp)
	}
	if got := hostNet.publicOf(*a.NetworkInterfaces[0].NetworkInterfaceId); got.String() != *eip.PublicIp {
		t.Fatalf("host maps %s to the interface, want %s", got, *eip.PublicIp)
	}
	// The dynamic address went back to the pool.
	if _, _, err := store.Get[publicIPRecord](ctx, s.st, publicIPKey(aDynamic)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replaced dynamic address %s still allocated: %v", aDynamic, err)
	}
	addrs := must[*api.DescribeAddressesResult](t)(s.DescribeAddresses(ctx, &api.DescribeAddressesRequest{
		Filters: []api.Filter{flt("instance-id", *a.InstanceId), flt("tag:Name", "web")}})).Addresses
	if len(addrs) != 1 || *addrs[0].AssociationId != *assoc.AssociationId || *addrs[0].PrivateIpAddress != *a.PrivateIpAddress {
		t.Fatalf("described %+v", addrs)
	}

	_, err := s.ReleaseAddress(ctx, &api.ReleaseAddressRequest{AllocationId: eip.AllocationId})
	wantCode(t, err, "InvalidIPAddress.InUse")
	_, err = s.AssociateAddress(ctx, &api.AssociateAddressRequest{AllocationId: eip.AllocationId, InstanceId: b.InstanceId})
	wantCode(t, err, "Resource.AlreadyAssociated")
	must[*api.AssociateAddressResult](t)(s.AssociateAddress(ctx, &api.AssociateAddressRequest{AllocationId: eip.AllocationId,
		InstanceId: b.InstanceId, AllowReassociation: ptr(true)}))
	if got := *e.describe(t, *b.InstanceId).PublicIpAddress; got != *eip.PublicIp {
		t.Fatalf("reassociated to %s, which shows %s", *b.InstanceId, got)
	}
	if got := e.describe(t, *a.InstanceId).PublicIpAddress; got == nil || *got == *eip.PublicIp {
		t.Fatalf("the earlier instance still shows the Elastic IP: %v", got)
	}

	_, err = s.DisassociateAddress(ctx, &api.DisassociateAddressRequest{AssociationId: assoc.AssociationId})
	wantCode(t, err, "InvalidAssociationID.NotFound") // that association ended with the move
	must[any](t)(s.DisassociateAddress(ctx, &api.DisassociateAddressRequest{PublicIp: eip.PublicIp}))
	if got := e.describe(t, *b.InstanceId).PublicIpAddress; got != nil && *got == *eip.PublicIp {
		t.Fatal("disassociated Elastic IP still on the instance")
	}
	must[any](t)(s.ReleaseAddress(ctx, &api.ReleaseAddressRequest{AllocationId: eip.AllocationId}))
	_, err = s.ReleaseAddress(ctx, &api.ReleaseAddressRequest{AllocationId: eip.AllocationId})
	wantCode(t, err, "InvalidAllocationID.NotFound")
	_, err = s.AssociateAddress(ctx, &api.AssociateAddressRequest{AllocationId: eip.AllocationId, InstanceId: a.InstanceId})
	wantCode(t, err, "InvalidAllocationID.NotFound")
}

func TestElasticIPsOfOtherAccounts(t *testing.T) {
	s := newNetService(t)
	mine, theirs := inRegion("000000000000", "us-east-1"), inRegion("333333333333", "us-east-1")
	eip := must[*api.AllocateAddressResult](t)(s.AllocateAddress(mine, &api.AllocateAddressRequest{}))
	_, err := s.ReleaseAddress(theirs, &api.ReleaseAddressRequest{PublicIp: eip.PublicIp})
	wantCode(t, err, "AuthFailure")
	_, err = s.ReleaseAddress(theirs, &api.ReleaseAddressRequest{AllocationId: eip.AllocationId})
	wantCode(t, err, "InvalidAllocationID.NotFound")
	_, err = s.DescribeAddresses(mine, &api.DescribeAddressesRequest{PublicIps: []string{"198.19.9.9"}})
	wantCode(t, err, "InvalidAddress.NotFound")
	if got := must[*api.DescribeAddressesResult](t)(s.DescribeAddresses(theirs, &api.DescribeAddressesRequest{})).Addresses; len(got) != 0 {
		t.Fatalf("another account sees %+v", got)
	}
	must[any](t)(s.ReleaseAddress(mine, &api.ReleaseAddressRequest{PublicIp: eip.PublicIp}))
}

// A rule change reaches running instances' firewalls, and rules that reference a group follow its members.
func TestRuleChangesReachRunningInstances(t *testing.T) {
	e, hostNet := netEnv(t)
	s, ctx := e.svc, e.ctx
	web := *must[*api.CreateSecurityGroupResult](t)(s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{GroupName: str("web"), Description: str("web")})).GroupId
	db := *must[*api.CreateSecurityGroupResult](t)(s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{GroupName: str("db"), Description: str("db")})).GroupId
	w := e.run(t, &api.RunInstancesRequest{SecurityGroupIds: []string{web}})[0]
	d := e.run(t, &api.RunInstancesRequest{SecurityGroupIds: []string{db}})[0]
	wIface, dIface := *w.NetworkInterfaces[0].NetworkInterfaceId, *d.NetworkInterfaces[0].NetworkInterfaceId
	if fw := hostNet.firewall(wIface); len(fw.Ingress) != 0 || len(fw.Egress) != 1 {
		t.Fatalf("a new group's firewall %+v, want no ingress and the default egress", fw)
	}

	must[*api.AuthorizeSecurityGroupIngressResult](t)(s.AuthorizeSecurityGroupIngress(ctx, &api.AuthorizeSecurityGroupIngressRequest{
		GroupId: &web, IpPermissions: sshFromAnywhere()}))
	if fw := hostNet.firewall(wIface); len(fw.Ingress) != 1 || fw.Ingress[0].FromPort != 22 {
		t.Fatalf("after authorize the firewall is %+v", fw)
	}
	must[*api.AuthorizeSecurityGroupIngressResult](t)(s.AuthorizeSecurityGroupIngress(ctx, &api.AuthorizeSecurityGroupIngressRequest{
		GroupId: &db, IpPermissions: []api.IpPermission{{IpProtocol: str("tcp"), FromPort: ptr(int32(5432)), ToPort: ptr(int32(5432)),
			UserIdGroupPairs: []api.UserIdGroupPair{{GroupId: &web}}}}}))
	fw := hostNet.firewall(dIface)
	want := netip.PrefixFrom(netip.MustParseAddr(*w.PrivateIpAddress), 32)
	if len(fw.Ingress) != 1 || len(fw.Ingress[0].CIDRs) != 1 || fw.Ingress[0].CIDRs[0] != want {
		t.Fatalf("db firewall %+v, want 5432 from %s", fw, want)
	}
	_, err := s.DeleteSecurityGroup(ctx, &api.DeleteSecurityGroupRequest{GroupId: &web})
	wantCode(t, err, "DependencyViolation")

	must[*api.RevokeSecurityGroupIngressResult](t)(s.RevokeSecurityGroupIngress(ctx, &api.RevokeSecurityGroupIngressRequest{
		GroupId: &web, IpPermissions: sshFromAnywhere()}))
	if fw := hostNet.firewall(wIface); len(fw.Ingress) != 0 {
		t.Fatalf("after revoke the firewall is %+v", fw)
	}
	// An instance's address in use keeps its subnet.
	_, err = s.DeleteSubnet(ctx, &api.DeleteSubnetRequest{SubnetId: w.SubnetId})
	wantCode(t, err, "DependencyViolation")
	if _, ok := hostNet.subnets[*w.SubnetId]; !ok {
		t.Error("the instance's subnet was never made on the host")
	}
}

// Terminating an instance ends its Elastic IP's association; the address stays allocated.
func TestElasticIPOfATerminatedInstance(t *testing.T) {
	e, _ := netEnv(t)
	s, ctx := e.svc, e.ctx
	a := e.run(t, &api.RunInstancesRequest{})[0]
	eip := must[*api.AllocateAddressResult](t)(s.AllocateAddress(ctx, &api.AllocateAddressRequest{}))
	must[*api.AssociateAddressResult](t)(s.AssociateAddress(ctx, &api.AssociateAddressRequest{AllocationId: eip.AllocationId, InstanceId: a.InstanceId}))
	must[*api.TerminateInstancesResult](t)(s.TerminateInstances(ctx, &api.TerminateInstancesRequest{InstanceIds: []string{*a.InstanceId}}))
	e.svc.Wait()
	addrs := must[*api.DescribeAddressesResult](t)(s.DescribeAddresses(ctx, &api.DescribeAddressesRequest{AllocationIds: []string{*eip.AllocationId}})).Addresses
	if len(addrs) != 1 || addrs[0].AssociationId != nil || addrs[0].InstanceId != nil {
		t.Fatalf("after terminate the address is %+v", addrs)
	}
	must[any](t)(s.ReleaseAddress(ctx, &api.ReleaseAddressRequest{AllocationId: eip.AllocationId}))
}
