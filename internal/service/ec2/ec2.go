// Package ec2 is the EC2 API: AWS semantics, validation, state machines and records for EC2's resources.
// It carries nothing out on the host itself: machines run through a compute.Driver, networks through a
// network.Network, images come from an images.Catalog. It never shells out or touches netlink.
package ec2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/overcast-cloud/overcast/internal/host/storage/images"
	"github.com/overcast-cloud/overcast/internal/iam"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Profiles is what EC2 needs of IAM: instance profiles, for IamInstanceProfile.
type Profiles interface {
	InstanceProfileByName(ctx context.Context, account, name string) (*iam.InstanceProfile, error)
}

// Volumes is what EC2 needs of the EBS volume store: volumes as real, persistent block-device images on the
// host, and snapshots of them kept as content-addressed chunks.
type Volumes interface {
	// Create makes an empty volume of sizeBytes.
	Create(ctx context.Context, id string, sizeBytes int64) error
	// Restore makes a volume of sizeBytes holding the snapshot's contents (the rest zero).
	Restore(ctx context.Context, id string, sizeBytes int64, snapshotID string) error
	// Resize grows a volume.
	Resize(ctx context.Context, id string, sizeBytes int64) error
	// Delete removes a volume and its bytes.
	Delete(ctx context.Context, id string) error
	// Snapshot stores the volume's current contents as snapshotID, writing only the chunks the store lacks,
	// and returns how many bytes it added to the store.
	Snapshot(ctx context.Context, volumeID, snapshotID string) (storedBytes int64, err error)
	// DeleteSnapshot drops a snapshot; chunks other snapshots still use are kept.
	DeleteSnapshot(ctx context.Context, snapshotID string) error
	// Device gives the volume a host block device and returns its path (/dev/loop3); it is idempotent.
	Device(ctx context.Context, id string) (string, error)
	// ReleaseDevice gives the volume's block device back; a device still in use is refused.
	ReleaseDevice(ctx context.Context, id string) error
}

// Config wires the service.
type Config struct {
	Store    store.Store
	Clock    func() time.Time
	Compute  compute.Driver
	Network  network.Network
	Images   images.Catalog
	Profiles Profiles
	Volumes  Volumes // nil when the host keeps no volumes
	Keys     Keys    // KMS for EBS encryption; nil: key ids are taken as given and aws/ebs is derived
	Logger   *slog.Logger
}

// Service implements api/ec2.Service. What it does not override answers NotImplemented.
type Service struct {
	api.Unimplemented
	st       store.Store
	clock    func() time.Time
	compute  compute.Driver
	net      network.Network
	images   images.Catalog
	profiles Profiles
	volumes  Volumes
	keys     Keys
	log      *slog.Logger

	work hostWork // in-memory state of the instances' host work (instances.go)
}

// New returns the EC2 service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{st: cfg.Store, clock: cfg.Clock, compute: cfg.Compute, net: cfg.Network, images: cfg.Images,
		profiles: cfg.Profiles, volumes: cfg.Volumes, keys: cfg.Keys, log: cfg.Logger}
}

var _ api.Service = (*Service)(nil)

// Record kinds. Every EC2 record is scoped by account and region and keyed by its resource id.
const (
	kindVPC             = "ec2/vpc"
	kindSubnet          = "ec2/subnet"
	kindInternetGateway = "ec2/internet-gateway"
	kindRouteTable      = "ec2/route-table"
	kindKeyPair         = "ec2/key-pair" // keyed by key name
	kindSecurityGroup   = "ec2/security-group"
	kindInstance        = "ec2/instance"
	kindAddress         = "ec2/address"     // Elastic IPs, keyed by allocation id
	kindPrivateIP       = "ec2/private-ip"  // one per allocated private address, keyed "<subnet-id>/<ip>"
	kindPublicIP        = "ec2/public-ip"   // one per allocated public address, keyed by the address (global to the host)
	kindDefaultVPC      = "ec2/default-vpc" // marks that the region's default VPC was made, keyed "default"
)

// Tag is a resource tag as records keep it.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// getResource reads the record of kind keyed by id in the request's account and region, once id has the
// prefix's form (else the malformed code); a record that is not there is notFound(id).
func getResource[T any](ctx context.Context, s *Service, kind, prefix, malformed string, notFound func(string) error, id string) (T, store.Record, error) {
	if err := checkID(id, prefix, malformed); err != nil {
		var zero T
		return zero, store.Record{}, err
	}
	r, rec, err := store.Get[T](ctx, s.st, scopedKey(ctx, kind, id))
	if errors.Is(err, store.ErrNotFound) {
		return r, rec, notFound(id)
	}
	return r, rec, err
}

// newID returns an EC2 resource id: the prefix, a dash and 17 hex digits.
func newID(prefix string) string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}

// dryRun answers a DryRun request the way EC2 does once the caller is known to be allowed: with an error.
func dryRun(flag *bool) error {
	if flag != nil && *flag {
		return (&apierr.Error{Class: apierr.Invalid, Code: "DryRunOperation",
			Message: "Request would have succeeded, but DryRun flag is set."}).WithStatus(412)
	}
	return nil
}

func str(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
