package linux

import (
	"context"
	"fmt"
	"os"

	"github.com/overcast-cloud/overcast/internal/host/compute"
)

// RootDiff returns the directory holding what the machine changed on its root disk: the overlay's upper
// directory, in overlayfs form (whiteouts, opaque directories). It stays the machine's: the caller only
// reads it, and stops the machine first if it wants a consistent copy (CreateImage without NoReboot).
func (d *Driver) RootDiff(ctx context.Context, id string) (string, error) {
	if _, err := d.readSpec(id); err != nil {
		return "", err
	}
	up := d.dir(id).upper()
	if fi, err := os.Stat(up); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: %s has no root disk", compute.ErrNotDefined, id)
	}
	return up, nil
}
