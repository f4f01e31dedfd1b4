package linux

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/testsuite"
	"github.com/overcast-cloud/overcast/internal/testutil"
)

// TestFreezeBlock: a machine writes a counter continuously to a mounted attached volume, each value whole
// through a rename (and, after each, to its root disk). Freezing stops the writer, and the device then holds
// exactly the last counter the machine finished writing, on a clean filesystem; thawing lets the writer go on.
func TestFreezeBlock(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	loop := newLoop(t, true)
	debugfs := testutil.RequiresTool(t, "debugfs")
	script := `#!/bin/sh
mkdir -p /mnt/data
while [ ! -b /dev/xvdf ]; do sleep 0.05; done
mount -t ext4 /dev/xvdf /mnt/data || echo mount=failed
echo writing
i=0
while true; do i=$((i+1)); echo $i > /mnt/data/counter.new; mv /mnt/data/counter.new /mnt/data/counter; echo $i > /tmp/progress; done
`
	spec := boot(t, d, busyboxImage(t), script, nil)

	// Nothing is mounted yet: a freeze is a no-op.
	if err := d.AttachBlock(ctx, spec.ID, compute.BlockDevice{HostPath: loop, GuestPath: "/dev/xvdf"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.FreezeBlock(ctx, spec.ID, "/dev/xvdg"); !errors.Is(err, compute.ErrNotAttached) {
		t.Errorf("FreezeBlock of a path with no device = %v, want ErrNotAttached", err)
	}
	if out := testsuite.WaitConsole(t, d, spec.ID, "writing", 1); strings.Contains(out, "mount=failed") {
		t.Fatalf("mount in the machine failed:\n%s", out)
	}
	progress := filepath.Join(d.dir(spec.ID).rootfs(), "tmp/progress")
	// The machine rewrites the file all the time: an empty read caught it between truncation and write.
	read := func() string {
		for {
			data, _ := os.ReadFile(progress)
			if s := strings.TrimSpace(string(data)); s != "" {
				return s
			}
			time.Sleep(time.Millisecond)
		}
	}
	advancing := func() bool {
		a := read()
		for range 100 {
			time.Sleep(50 * time.Millisecond)
			if read() != a {
				return true
			}
		}
		return false
	}
	stalled := func() bool {
		a := read()
		time.Sleep(time.Second)
		return read() == a
	}
	if !advancing() {
		t.Fatalf("the machine is not writing: progress %q", read())
	}

	start := time.Now()
	thaw, err := d.FreezeBlock(ctx, spec.ID, "/dev/xvdf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { thaw() })
	t.Logf("frozen in %v", time.Since(start))
	time.Sleep(200 * time.Millisecond) // the write that was under way when the freeze came ends
	if !stalled() {
		t.Fatalf("the writer went on while the filesystem was frozen")
	}
	last := read()
	out, err := exec.Command(debugfs, "-R", "cat /counter", loop).Output()
	if got := strings.TrimSpace(string(out)); err != nil || got != last {
		t.Errorf("counter on the frozen device = %q (%v), want the last one written, %q", got, err, last)
	}
	if out, err := exec.Command("e2fsck", "-fn", loop).CombinedOutput(); err != nil {
		t.Errorf("the frozen filesystem is not clean: %v\n%s", err, out)
	}

	if err := thaw(); err != nil {
		t.Fatal(err)
	}
	if !advancing() {
		t.Fatalf("the writer did not go on after the thaw: progress %q", read())
	}
	if err := thaw(); err != nil { // thawing twice is harmless
		t.Errorf("second thaw: %v", err)
	}

	// A stopped machine has nothing to freeze.
	if err := d.Stop(ctx, spec.ID, 0); err != nil {
		t.Fatal(err)
	}
	thaw, err = d.FreezeBlock(ctx, spec.ID, "/dev/xvdf")
	if err != nil {
		t.Fatal(err)
	}
	if err := thaw(); err != nil {
		t.Fatal(err)
	}
}
