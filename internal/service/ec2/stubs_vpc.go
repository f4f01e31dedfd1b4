package ec2

// Contract between the two halves of this package while they are written. The network-resources half
// (VPCs, subnets, gateways, route tables, key pairs, security groups, addresses) owns this file: it moves each
// declaration into its own files as it implements it, keeping the signature, and deletes this file at the end.

import (
	"context"
	"net/netip"

	"github.com/overcast-cloud/overcast/internal/host/network"
)

// subnetRecord is what the instances half reads of a subnet.
type subnetRecord struct {
	ID                  string `json:"id"`
	VPCID               string `json:"vpcId"`
	CIDR                string `json:"cidr"`
	AvailabilityZone    string `json:"az"`
	AvailabilityZoneID  string `json:"azId"`
	MapPublicIPOnLaunch bool   `json:"mapPublicIp"`
	DefaultForAZ        bool   `json:"defaultForAz"`
	Tags                []Tag  `json:"tags,omitempty"`
}

// securityGroupRecord is what the instances half reads of a security group.
type securityGroupRecord struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	VPCID string `json:"vpcId"`
	Tags  []Tag  `json:"tags,omitempty"`
}

// keyPairRecord is what the instances half reads of a key pair.
type keyPairRecord struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	PublicKey string `json:"publicKey"` // the authorized_keys line
	Tags      []Tag  `json:"tags,omitempty"`
}

// ensureDefaultVPC makes the region's default VPC (172.31.0.0/16, a default subnet per AZ, an internet
// gateway, the main route table, the default security group) once, and returns its id.
func (s *Service) ensureDefaultVPC(ctx context.Context) (string, error) { panic("not yet") }

// subnetFor resolves the subnet an instance launches into: subnetID when given, else the default subnet of
// az, else the region's first default subnet. Errors: InvalidSubnetID.NotFound.
func (s *Service) subnetFor(ctx context.Context, subnetID, az string) (subnetRecord, error) {
	panic("not yet")
}

// groupsFor resolves security groups by ids or names in vpcID; none given means the VPC's default group.
// Errors: InvalidGroup.NotFound, InvalidGroupId.Malformed.
func (s *Service) groupsFor(ctx context.Context, vpcID string, ids, names []string) ([]securityGroupRecord, error) {
	panic("not yet")
}

// firewallFor compiles the union of the groups' rules, resolving group references through
// groupMemberAddrs.
func (s *Service) firewallFor(ctx context.Context, groupIDs []string) (network.Firewall, error) {
	panic("not yet")
}

// keyPairByName finds a key pair. Errors: InvalidKeyPair.NotFound.
func (s *Service) keyPairByName(ctx context.Context, name string) (keyPairRecord, error) { panic("not yet") }

// subnetHasInternet reports whether the subnet's route table routes 0.0.0.0/0 to an internet gateway.
func (s *Service) subnetHasInternet(ctx context.Context, subnetID string) (bool, error) {
	panic("not yet")
}

// allocatePrivateIP takes want (or, when want is not valid, the next free address) in the subnet. The first
// four addresses and the last are AWS's reserved ones. Errors: InvalidIPAddress.InUse,
// InvalidParameterValue (outside the subnet), InsufficientFreeAddressesInSubnet.
func (s *Service) allocatePrivateIP(ctx context.Context, subnet subnetRecord, want netip.Addr) (netip.Addr, error) {
	panic("not yet")
}

// releasePrivateIP gives an address back.
func (s *Service) releasePrivateIP(ctx context.Context, subnetID string, ip netip.Addr) error {
	panic("not yet")
}

// allocatePublicIP takes a free address of the network's public pool; releasePublicIP gives it back.
func (s *Service) allocatePublicIP(ctx context.Context) (netip.Addr, error) { panic("not yet") }
func (s *Service) releasePublicIP(ctx context.Context, ip netip.Addr) error  { panic("not yet") }
