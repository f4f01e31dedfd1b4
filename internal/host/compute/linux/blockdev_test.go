package linux

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/testsuite"
	"github.com/overcast-cloud/overcast/internal/testutil"
	"golang.org/x/sys/unix"
)

// newLoop makes a loop device over a sparse 64 MiB file, with an ext4 filesystem when mkfs is set; it is
// detached at the end of the test.
func newLoop(t *testing.T, mkfs bool) string {
	t.Helper()
	losetup := testutil.RequiresTool(t, "losetup")
	img := filepath.Join(t.TempDir(), "volume.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	if mkfs {
		if out, err := exec.Command(testutil.RequiresTool(t, "mkfs.ext4"), "-q", "-F", img).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v: %s", err, out)
		}
	}
	out, err := exec.Command(losetup, "--find", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(losetup, "-d", dev).Run() })
	return dev
}

func TestBlockDeviceConformance(t *testing.T) {
	testsuite.RunBlockDevices(t, func(t *testing.T) (compute.Driver, compute.Image) {
		return newDriver(t), busyboxImage(t)
	}, func(t *testing.T) string { return newLoop(t, false) })
}

// TestAttachedAtBoot: a device attached to a stopped machine is there at its next boot, at the xvd and the
// sd name, usable by root and group disk.
func TestAttachedAtBoot(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	spec := testsuite.Spec(busyboxImage(t), "#!/bin/sh\nls -ln /dev/xvdg /dev/sdg\necho read=$(head -c 4096 /dev/sdg | wc -c)\necho done-checks\n")
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	testsuite.Destroy(t, d, spec.ID)
	loop := newLoop(t, false)
	if err := d.AttachBlock(ctx, spec.ID, compute.BlockDevice{HostPath: loop, GuestPath: "/dev/xvdg", IOPS: 200}); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	wantThrottle(t, d, spec.ID, loop, "blkio.throttle.read_iops_device", "200")
	out := testsuite.WaitConsole(t, d, spec.ID, "done-checks", 1)
	for _, want := range []string{"brw-rw----    1 0        6           7", "/dev/xvdg", "/dev/sdg", "read=4096"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
}

// TestMountGuard: root in a machine without CAP_SYS_ADMIN mounts an attached device and writes to it;
// every other mount stays denied; the device cannot be detached while mounted; what was written is on
// the host's device afterwards.
func TestMountGuard(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	loop := newLoop(t, true)
	script := `#!/bin/sh
mkdir -p /mnt
while [ ! -b /dev/xvdf ]; do sleep 0.05; done
echo caps=$(grep CapEff /proc/self/status | cut -f2)
try() { if "$@" 2>/dev/null; then echo "$1-$2=allowed"; umount /mnt 2>/dev/null; else echo "$1-$2=denied"; fi; }
try su ec2-user -c 'mount -t ext4 /dev/xvdf /mnt'
try mount -t tmpfs x /mnt
try mount -o bind / /mnt
mknod /tmp/sda b 8 0
try mount -t ext4 /tmp/sda /mnt
try umount /dev/shm
if mount -t ext4 /dev/sdf /mnt; then echo mount=ok; else echo mount=failed; fi
grep ' /mnt ' /proc/mounts
echo written-in-machine > /mnt/file && echo write=ok
echo mounted-ready
while [ ! -e /tmp/umount-now ]; do sleep 0.05; done
if umount /mnt; then echo umount=ok; else echo umount=failed; fi
while [ -b /dev/xvdf ] || [ -L /dev/sdf ]; do sleep 0.05; done
echo device-gone
`
	spec := boot(t, d, busyboxImage(t), script, nil)
	if err := d.AttachBlock(ctx, spec.ID, compute.BlockDevice{HostPath: loop, GuestPath: "/dev/xvdf", IOPS: 100, MBps: 10}); err != nil {
		t.Fatal(err)
	}
	wantThrottle(t, d, spec.ID, loop, "blkio.throttle.write_iops_device", "100")
	wantThrottle(t, d, spec.ID, loop, "blkio.throttle.write_bps_device", "10485760")
	out := testsuite.WaitConsole(t, d, spec.ID, "mounted-ready", 1)
	t.Logf("console:\n%s", out)
	for _, want := range []string{
		"caps=00000000a80425fb",
		"su-ec2-user=denied", "mount--t=denied", "mount--o=denied", "umount-/dev/shm=denied",
		"mount=ok", "write=ok", "/dev/sdf /mnt ext4 rw,nosuid,nodev",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	// Both the tmpfs and the ext4 mount of /tmp/sda (8:0, the host's first disk, not attached) print
	// "mount--t"; both must be denied.
	if strings.Count(out, "mount--t=denied") != 2 {
		t.Errorf("a mount of a device that is not attached was allowed:\n%s", out)
	}
	if err := d.DetachBlock(ctx, spec.ID, "/dev/xvdf"); !errors.Is(err, compute.ErrBusy) {
		t.Fatalf("DetachBlock of a mounted device = %v, want ErrBusy", err)
	}
	if err := os.WriteFile(filepath.Join(d.dir(spec.ID).rootfs(), "tmp/umount-now"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testsuite.WaitConsole(t, d, spec.ID, "umount=", 1)
	if err := d.DetachBlock(ctx, spec.ID, "/dev/xvdf"); err != nil {
		t.Fatalf("DetachBlock after umount: %v", err)
	}
	out = testsuite.WaitConsole(t, d, spec.ID, "device-gone", 1)
	if !strings.Contains(out, "umount=ok") {
		t.Errorf("umount in the machine failed:\n%s", out)
	}
	// What the machine wrote is on the device.
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "ro", loop, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount on the host: %v: %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	data, err := os.ReadFile(filepath.Join(mnt, "file"))
	if err != nil || string(data) != "written-in-machine\n" {
		t.Errorf("file on the device = %q, %v", data, err)
	}
}

// wantThrottle checks a blkio limit of the machine's cgroup on the host device.
func wantThrottle(t *testing.T, d *Driver, id, dev, file, want string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("%d:%d %s", unix.Major(st.Rdev), unix.Minor(st.Rdev), want)
	data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/blkio", d.cgroupPath(id), file))
	if err != nil || !strings.Contains(string(data), line) {
		t.Errorf("%s = %q, %v; want a line %q", file, data, err, line)
	}
}
