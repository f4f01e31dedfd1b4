package compute

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate says whether a spec can be defined. Every driver calls it, so that a spec the fake driver
// accepts is one the linux driver accepts too.
func (s Spec) Validate() error {
	switch {
	case !validID.MatchString(s.ID):
		return fmt.Errorf("compute: machine id %q must be 1-64 letters, digits, '_', '.' or '-'", s.ID)
	case s.Root == nil && len(s.Image.LowerDirs) == 0:
		return fmt.Errorf("compute: machine %s: image %q has no root filesystem", s.ID, s.Image.ID)
	case s.Root != nil && s.Root.Validate() != nil:
		return fmt.Errorf("compute: machine %s: root volume: %w", s.ID, s.Root.Validate())
	case s.VCPUs <= 0 || s.MemoryMiB <= 0 || s.PIDs <= 0:
		return fmt.Errorf("compute: machine %s: VCPUs, MemoryMiB and PIDs must be positive (got %d, %d, %d)",
			s.ID, s.VCPUs, s.MemoryMiB, s.PIDs)
	}
	return nil
}

// Validate checks a block device: an absolute host path, and a guest path /dev/xvd<letters> (the name
// Linux gives an EBS volume on Xen instances; AWS's /dev/sdX name becomes an alias of it).
func (b BlockDevice) Validate() error {
	if !filepath.IsAbs(b.HostPath) {
		return fmt.Errorf("compute: host device %q is not an absolute path", b.HostPath)
	}
	suffix, ok := strings.CutPrefix(b.GuestPath, "/dev/xvd")
	if !ok || suffix == "" || len(suffix) > 2 || strings.Trim(suffix, "abcdefghijklmnopqrstuvwxyz") != "" {
		return fmt.Errorf("compute: guest device %q is not /dev/xvd<letters>", b.GuestPath)
	}
	return nil
}

// AliasPath is the /dev/sdX name of the device, as the EC2 API shows it.
func (b BlockDevice) AliasPath() string {
	return "/dev/sd" + strings.TrimPrefix(b.GuestPath, "/dev/xvd")
}
