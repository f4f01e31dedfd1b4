package linux

// Freezing an attached device's filesystem for a crash-consistent snapshot. The filesystem is frozen
// through a directory of it that the driver opens inside the machine's mount namespace: FIFREEZE flushes
// it to the device and blocks every writer until FITHAW. The driver keeps that directory open until the
// thaw, so the thaw reaches the filesystem even when the machine stops meanwhile and its mount namespace
// goes (a frozen filesystem without a mount could never be thawed, and its device never released).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"golang.org/x/sys/unix"
)

// The ioctls of linux/fs.h: _IOWR('X', 119, int) and _IOWR('X', 120, int).
const (
	ioctlFIFREEZE = 0xc0045877
	ioctlFITHAW   = 0xc0045878
)

// FreezeBlock freezes the filesystem of the device attached at guestPath (or of the root volume) while the
// running machine has it mounted, and returns the function that thaws it; the caller must call it. A machine that is not
// running, or that has not mounted the device, has nothing to freeze: the thaw is then a no-op. A
// filesystem that cannot be frozen (vfat) fails with an error wrapping errors.ErrUnsupported.
func (d *Driver) FreezeBlock(ctx context.Context, id, guestPath string) (thaw func() error, err error) {
	noop := func() error { return nil }
	defer d.lock(id)()
	spec, err := d.readSpec(id)
	if err != nil {
		return nil, err
	}
	devs, err := d.machineDevices(spec)
	if err != nil {
		return nil, err
	}
	var hostPath string
	for _, dev := range devs {
		if dev.GuestPath == guestPath {
			hostPath = dev.HostPath
		}
	}
	if hostPath == "" {
		return nil, fmt.Errorf("%w: %s on %s", compute.ErrNotAttached, guestPath, id)
	}
	rdev, err := hostDevice(hostPath)
	if err != nil {
		return nil, err
	}
	st, err := d.runtimeState(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.Status != "running" {
		return noop, nil
	}
	points := mountPoints(st.Pid, rdev)
	if len(points) == 0 {
		return noop, nil
	}
	dir, err := openFilesystem(st.Pid, points, rdev)
	if err != nil || dir == nil {
		return noop, err
	}
	if err := unix.IoctlSetInt(int(dir.Fd()), ioctlFIFREEZE, 0); err != nil {
		dir.Close()
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) {
			err = fmt.Errorf("%w: %w", errors.ErrUnsupported, err)
		}
		return nil, fmt.Errorf("linux: freeze %s of %s: %w", guestPath, id, err)
	}
	d.log.InfoContext(ctx, "filesystem frozen", "instance", id, "device", guestPath, "mountpoint", points[0])
	var once sync.Once
	var thawErr error
	return func() error {
		once.Do(func() {
			thawErr = unix.IoctlSetInt(int(dir.Fd()), ioctlFITHAW, 0)
			dir.Close()
			if thawErr != nil {
				thawErr = fmt.Errorf("linux: thaw %s of %s: %w", guestPath, id, thawErr)
				return
			}
			d.log.Info("filesystem thawed", "instance", id, "device", guestPath)
		})
		return thawErr
	}, nil
}

// mountPoints lists where the device is mounted in the mount namespace of pid, as paths under the
// process's root (from its mountinfo, whose third field is the major:minor of the filesystem's device).
func mountPoints(pid int, rdev uint64) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		return nil
	}
	want := fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev))
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[2] == want {
			out = append(out, unescapeMountPath(f[4]))
		}
	}
	return out
}

// openFilesystem opens, inside the machine's mount namespace, the first of the mount points that really
// is on the device: the machine's root could have put a symbolic link to another filesystem on the path
// since its mountinfo was read, so what was opened is checked. It returns nil when none is.
func openFilesystem(pid int, points []string, rdev uint64) (*os.File, error) {
	var dir *os.File
	err := inMountNS(pid, func() error {
		for _, p := range points {
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			var st unix.Stat_t
			if unix.Fstat(fd, &st) == nil && st.Dev == rdev {
				dir = os.NewFile(uintptr(fd), p)
				return nil
			}
			unix.Close(fd)
		}
		return nil
	})
	return dir, err
}
