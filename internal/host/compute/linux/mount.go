package linux

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/overcast-cloud/overcast/internal/host/compute"
)

// mountRoot mounts the machine's root disk at rootfs: its root volume when it has one, else an overlay.
func mountRoot(spec compute.Spec, m machineDir) error {
	if spec.Root == nil {
		return mountOverlay(spec.Image.LowerDirs, m)
	}
	if mounted(m.rootfs()) {
		return nil
	}
	// Device nodes come from the runtime's /dev; setuid programs (sudo) must work.
	if err := unix.Mount(spec.Root.HostPath, m.rootfs(), "ext4", unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("mount root volume %s at %s: %w", spec.Root.HostPath, m.rootfs(), err)
	}
	return nil
}

// mountOverlay mounts the machine's root disk (its upper directory over the image's lower directories)
// at rootfs, unless it is mounted already (a start that failed half-way, or a crash).
func mountOverlay(lower []string, m machineDir) error {
	if mounted(m.rootfs()) {
		return nil
	}
	for _, l := range lower {
		if strings.ContainsAny(l, ":,") {
			return fmt.Errorf("image directory %q contains ':' or ',', which overlayfs options cannot carry", l)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lower, ":"), m.upper(), m.path("work"))
	if err := unix.Mount("overlay", m.rootfs(), "overlay", unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount overlay at %s: %w", m.rootfs(), err)
	}
	return nil
}

// unmount unmounts target if it is a mount point, having written out what the filesystem holds in memory
// first: unmounting does that only with the filesystem's last mount, and a mount namespace cloned meanwhile
// on the host (by any unshare or container start) may hold a copy of it, while a root volume's bytes must
// be on its device before a snapshot reads them or the volume is mounted through another loop device. A
// busy mount is retried for up to two seconds (processes of the machine may still be exiting, and the kernel
// tears a dead machine's mount namespace down after its last process), then detached.
func unmount(target string) error {
	if !mounted(target) {
		return nil
	}
	if fd, err := unix.Open(target, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		unix.Syncfs(fd)
		unix.Close(fd)
	}
	for i := 0; mounted(target); i++ {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil, errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
		case errors.Is(err, unix.EBUSY) && i < 200:
			time.Sleep(10 * time.Millisecond)
		case errors.Is(err, unix.EBUSY):
			return unix.Unmount(target, unix.MNT_DETACH)
		default:
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
	return nil
}

// mounted says whether target is a mount point in this process's mount namespace.
func mounted(target string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountPath(fields[4]) == target {
			return true
		}
	}
	return false
}

// unescapeMountPath undoes the octal escapes (\040 for space, ...) of /proc/self/mountinfo.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + c - '0'
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
