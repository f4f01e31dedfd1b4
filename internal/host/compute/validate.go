package compute

import (
	"fmt"
	"regexp"
)

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate says whether a spec can be defined. Every driver calls it, so that a spec the fake driver
// accepts is one the linux driver accepts too.
func (s Spec) Validate() error {
	switch {
	case !validID.MatchString(s.ID):
		return fmt.Errorf("compute: machine id %q must be 1-64 letters, digits, '_', '.' or '-'", s.ID)
	case len(s.Image.LowerDirs) == 0:
		return fmt.Errorf("compute: machine %s: image %q has no root filesystem", s.ID, s.Image.ID)
	case s.VCPUs <= 0 || s.MemoryMiB <= 0 || s.PIDs <= 0:
		return fmt.Errorf("compute: machine %s: VCPUs, MemoryMiB and PIDs must be positive (got %d, %d, %d)",
			s.ID, s.VCPUs, s.MemoryMiB, s.PIDs)
	}
	return nil
}
