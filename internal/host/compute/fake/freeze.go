package fake

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/overcast-cloud/overcast/internal/host/compute"
)

// frozenSet is the filesystems FreezeBlock froze, by machine id and guest path.
type frozenSet struct {
	mu  sync.Mutex
	set map[[2]string]bool
}

// errFrozen is what the kernel answers (EBUSY) to a freeze of a frozen filesystem.
var errFrozen = errors.New("fake: filesystem already frozen")

// FreezeBlock does what the linux driver's does, in memory: a device SetMounted marked as mounted in a
// running machine is frozen until the returned thaw; otherwise the thaw is a no-op.
func (d *Driver) FreezeBlock(ctx context.Context, id, guestPath string) (thaw func() error, err error) {
	d.mu.Lock()
	m, err := d.get(id)
	if err != nil {
		d.mu.Unlock()
		return nil, err
	}
	_, attached := m.devices[guestPath]
	mounted := m.running && m.mounted[guestPath]
	d.mu.Unlock()
	if !attached {
		return nil, fmt.Errorf("%w: %s on %s", compute.ErrNotAttached, guestPath, id)
	}
	if !mounted {
		return func() error { return nil }, nil
	}
	f, key := &d.frozen, [2]string{id, guestPath}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set[key] {
		return nil, errFrozen
	}
	if f.set == nil {
		f.set = map[[2]string]bool{}
	}
	f.set[key] = true
	var once sync.Once
	return func() error {
		once.Do(func() {
			f.mu.Lock()
			delete(f.set, key)
			f.mu.Unlock()
		})
		return nil
	}, nil
}

// Frozen says whether the filesystem of the device at guestPath is frozen now.
func (d *Driver) Frozen(id, guestPath string) bool {
	d.frozen.mu.Lock()
	defer d.frozen.mu.Unlock()
	return d.frozen.set[[2]string{id, guestPath}]
}
