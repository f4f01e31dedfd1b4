// Package images is the content store behind the quick-start AMIs (and, later, ECR repositories): an OCI
// image layout of content-addressed blobs under the data directory, and the root filesystems unpacked from it,
// which the EC2 service imports as the AMIs' root snapshots (and hosts without EBS volumes boot as overlay
// lower directories). It builds the quick-start AMIs offline from Debian packages. Custom AMIs are not kept
// here: they are EBS snapshots (internal/service/ec2/amis.go).
package images

import (
	"context"
	"errors"
	"time"
)

// Image is an AMI as the host knows it.
type Image struct {
	ID           string // ami-... (stable for a given quick-start image and region-independent)
	Name         string
	Description  string
	Architecture string // x86_64
	DefaultUser  string // ec2-user, admin
	// SizeGiB is the root volume size the image asks for.
	SizeGiB int
	// State is pending while the image is being built, then available, or failed.
	State     string
	Reason    string    // why a build failed
	Progress  int       // 0..100 while pending
	Created   time.Time // when the build finished
	Digest    string    // the manifest digest in the content store
	LowerDirs []string  // the unpacked root filesystem (one directory)
	HasSSH    bool      // the image runs sshd
}

// Catalog is what the EC2 service needs of the image store.
type Catalog interface {
	List(ctx context.Context) ([]Image, error)
	Get(ctx context.Context, id string) (Image, error)
}

// ErrNotFound is returned for an image id the store does not have.
var ErrNotFound = errors.New("images: image not found")
