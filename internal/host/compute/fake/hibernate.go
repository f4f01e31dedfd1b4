package fake

import (
	"context"
	"fmt"

	"github.com/overcast-cloud/overcast/internal/host/compute"
)

var _ compute.Hibernator = (*Driver)(nil)

// Hibernate implements compute.Hibernator as the linux driver behaves: a running machine without a mounted
// device stops keeping its processes, and its next Start resumes them, with the same pid and without a
// boot.
func (d *Driver) Hibernate(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.get(id)
	if err != nil {
		return err
	}
	if !m.running {
		return fmt.Errorf("%w: %s", compute.ErrNotRunning, id)
	}
	if msg, ok := directives(m.spec.UserData)["hibernate_error"]; ok {
		return fmt.Errorf("fake: hibernate %s: %s", id, msg)
	}
	for guestPath, mounted := range m.mounted {
		if mounted {
			return fmt.Errorf("%w: %s on %s: unmount it to hibernate", compute.ErrBusy, guestPath, id)
		}
	}
	if m.exit != nil {
		m.exit.Stop()
	}
	m.console.WriteString("overcast: hibernating\n")
	m.running, m.reason, m.asleep = false, "", true
	return nil
}

// Hibernated implements compute.Hibernator.
func (d *Driver) Hibernated(ctx context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.get(id)
	if err != nil {
		return false, err
	}
	return m.asleep, nil
}

// resume is Start of a hibernated machine.
func (m *machine) resume() {
	m.running, m.asleep = true, false
	m.console.WriteString("overcast: resumed from hibernation\n")
}
