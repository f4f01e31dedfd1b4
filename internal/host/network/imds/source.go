// Package imds is the instance metadata service at 169.254.169.254: IMDSv1 and v2 (session tokens with a
// TTL, the PUT response hop limit, 401 without a token where tokens are required), the categories AWS serves,
// and the role credentials of the instance's profile, issued as STS temporary credentials that rotate before
// they expire. It knows which instance asks from the source address alone; one instance can never read
// another's data. Instance facts come from the EC2 service through Source; credentials are STS sessions in
// the IAM directory. It does not own the 169.254.169.254 address or the listener (the network layer hands one
// over) and never writes EC2 or IAM records other than the sessions it issues.
package imds

import (
	"context"
	"net/netip"
	"time"
)

// Instance is what the metadata service serves about one instance.
type Instance struct {
	Account          string
	Region           string
	AvailabilityZone string
	// AvailabilityZoneID is the zone's account-independent id (use1-az1); placement/availability-zone-id is
	// served only when it is set.
	AvailabilityZoneID string
	InstanceID         string
	ImageID            string
	InstanceType       string
	ReservationID      string
	LaunchTime         time.Time
	LaunchIndex        int    // ami-launch-index: the instance's position in its RunInstances call
	Architecture       string // x86_64 or arm64, as the image says; "" is x86_64
	Hostname           string // ip-172-31-5-9.ec2.internal
	LocalIPv4          netip.Addr
	PublicIPv4         netip.Addr // invalid when none
	PublicHostname     string     // ec2-3-4-5-6.compute-1.amazonaws.com, "" when none
	MAC                string
	InterfaceID        string
	VPCID              string
	VPCCIDR            string
	SubnetID           string
	SubnetCIDR         string
	SecurityGroups     []string // names
	SecurityGroupIDs   []string
	PublicKeys         []PublicKey
	UserData           []byte
	// InstanceProfileARN and RoleName are empty when the instance has no profile (or its profile no role).
	InstanceProfileARN string
	InstanceProfileID  string
	RoleName           string
	// MetadataOptions.
	HTTPTokens   string            // "optional" or "required"
	HopLimit     int               // 1..64
	HTTPEndpoint string            // "enabled" or "disabled"
	BlockDevices map[string]string // block-device-mapping: "ami" -> "/dev/xvda", "root" -> "/dev/xvda"
}

// PublicKey is a key pair installed at launch.
type PublicKey struct {
	Name    string
	OpenSSH string
}

// Source finds the instance that owns a private address. It returns nil and no error when none does.
type Source interface {
	InstanceByPrivateIP(ctx context.Context, ip netip.Addr) (*Instance, error)
}
