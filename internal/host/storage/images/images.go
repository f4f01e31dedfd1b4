// Package images is the content store behind AMIs (and, later, ECR repositories): OCI image layouts of
// content-addressed blobs under the data directory, and the root filesystems unpacked from them that machines
// use as overlay lower directories. It builds the quick-start AMIs offline from Debian packages.
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
	LowerDirs []string  // unpacked root filesystem, topmost first
	HasSSH    bool      // the image runs sshd
	// Custom is set for images made from a machine (Commit, Alias) rather than a quick-start recipe.
	Custom bool
}

// Catalog is what the EC2 service needs of the image store.
type Catalog interface {
	List(ctx context.Context) ([]Image, error)
	Get(ctx context.Context, id string) (Image, error)
}

// ErrNotFound is returned for an image id the store does not have.
var ErrNotFound = errors.New("images: image not found")
