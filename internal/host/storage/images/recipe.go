package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// Recipe says how to build one image and what the AMI built from it is called. The AMI id is derived from the
// recipe's Name and Version, so it is the same on every host and across rebuilds; bump Version when the build
// changes what ends up in the root filesystem.
type Recipe struct {
	Name         string // short name used by Ensure and in the layout's ref names: "busybox", "debian-12"
	Version      string // recipe revision; part of the AMI id
	ImageName    string // the AMI Name
	Description  string
	Architecture string // x86_64
	DefaultUser  string
	SizeGiB      int
	HasSSH       bool
	Build        BuildFunc
}

// BuildFunc fills env.Dir (an empty directory) with the image's root filesystem. It runs as root, may take
// minutes, must stop when ctx ends and should call env.Progress as it goes.
type BuildFunc func(ctx context.Context, env BuildEnv) error

// BuildEnv is what a build gets from the store.
type BuildEnv struct {
	Dir      string // the root filesystem to fill
	CacheDir string // kept across builds of this recipe (debootstrap's package cache)
	Log      *slog.Logger
	// Progress reports how far the build is, 0..100, and what it is doing now.
	Progress func(percent int, step string)
}

// ID is the AMI id: "ami-" and 17 hex digits, like AWS's, from a digest of the recipe's name and version.
func (r Recipe) ID() string {
	sum := sha256.Sum256([]byte("overcast-image\x00" + r.Name + "\x00" + r.Version))
	return "ami-" + hex.EncodeToString(sum[:])[:17]
}

// Builtin returns the quick-start recipes: the busybox image (seconds to build) and Debian 12 (about a minute).
func Builtin() []Recipe {
	return []Recipe{Busybox(), Debian12()}
}
