// Package network defines the host side of VPC networking: subnets as bridges inside Overcast's own network
// namespace, one network namespace per instance joined to its subnet's bridge by a veth pair, public IPv4
// addresses reachable from the host through 1:1 NAT, security groups compiled to nftables, and the listener
// the instance metadata service serves on at 169.254.169.254. Implementations: linux (netlink and nftables)
// beside this file. Every host object is named after the record it serves (subnet, instance, interface id).
package network

import (
	"context"
	"net"
	"net/netip"
)

// Subnet is a VPC subnet on the host.
type Subnet struct {
	ID      string       // subnet-...
	VPCID   string       // vpc-...
	CIDR    netip.Prefix // 172.31.0.0/20
	Gateway netip.Addr   // the VPC router, the subnet's first address + 1 (172.31.0.1)
}

// Interface is an instance's network interface.
type Interface struct {
	ID         string // eni-...
	InstanceID string // i-...
	SubnetID   string
	MAC        string // 0a:xx:xx:xx:xx:xx
	IP         netip.Addr
	Prefix     netip.Prefix // the subnet's CIDR
	Gateway    netip.Addr
	// Internet says whether the subnet's route table has a route to an internet gateway: outbound traffic
	// beyond the VPC is allowed only then.
	Internet bool
}

// Rule is one security group rule, compiled down to addresses: rules that reference a group arrive with the
// member interfaces' addresses as CIDRs.
type Rule struct {
	Protocol string // "tcp", "udp", "icmp", "icmpv6", "-1" (all) or an IP protocol number
	FromPort int    // for icmp: type; -1 for all
	ToPort   int    // for icmp: code; -1 for all
	CIDRs    []netip.Prefix
}

// Firewall is the union of an interface's security groups. Inbound is denied unless a rule allows it;
// outbound likewise (the default group's egress rule allows all). Return traffic of allowed connections is
// always allowed (stateful).
type Firewall struct {
	Ingress []Rule
	Egress  []Rule
}

// Service is a TCP service offered to instances on a link-local address.
type Service struct {
	Name string
	Addr netip.AddrPort
}

// The services instances reach. The API endpoint is how code inside an instance calls Overcast's AWS APIs
// (AWS_ENDPOINT_URL=http://169.254.169.254:4566), as it would reach AWS's public endpoints.
var (
	Metadata    = Service{"metadata", netip.MustParseAddrPort("169.254.169.254:80")}
	APIEndpoint = Service{"api", netip.MustParseAddrPort("169.254.169.254:4566")}
	// ResolverAddr is where instances find the VPC's DNS resolver (AWS's 169.254.169.253).
	ResolverAddr = netip.MustParseAddrPort("169.254.169.253:53")
	// Services are the TCP services the data plane lets instances reach.
	Services = []Service{Metadata, APIEndpoint}
)

// Network is the host's VPC data plane.
type Network interface {
	// EnsureSubnet creates the subnet's bridge (idempotent).
	EnsureSubnet(ctx context.Context, s Subnet) error
	// DeleteSubnet removes the subnet's bridge; it fails while interfaces are attached.
	DeleteSubnet(ctx context.Context, subnetID string) error
	// Attach creates the instance's network namespace with the interface in it (address, MAC, default route
	// via the gateway, loopback up) and returns the namespace's path. Idempotent.
	Attach(ctx context.Context, iface Interface) (netnsPath string, err error)
	// Detach removes the instance's namespace, its veth, NAT and firewall. Idempotent.
	Detach(ctx context.Context, instanceID string) error
	// SetPublicIP maps public to the interface's private address 1:1 (DNAT in, SNAT out); an invalid public
	// address removes the mapping.
	SetPublicIP(ctx context.Context, ifaceID string, public netip.Addr) error
	// SetFirewall replaces the interface's rules; running instances see the change within a second.
	SetFirewall(ctx context.Context, ifaceID string, fw Firewall) error
	// PublicPool is the range public addresses come from.
	PublicPool() netip.Prefix
	// ListenService returns a listener on one of the link-local service addresses every instance reaches
	// (see Services); the server sees each instance's own private address as the source. Anything else on
	// the host stays out of the instances' reach.
	ListenService(svc Service) (net.Listener, error)
	// ListenResolver returns the UDP socket of the VPC resolver at 169.254.169.253:53.
	ListenResolver() (net.PacketConn, error)
	// Instances lists the instance ids that have anything on the host, for recovery after a crash.
	Instances(ctx context.Context) ([]string, error)
	// Close tears down nothing that instances need; it releases the data plane's own resources.
	Close() error
}
