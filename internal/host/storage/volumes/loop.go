package volumes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Device attaches the volume to a loop device and returns its path (/dev/loopN). It is idempotent, and after a
// restart it finds the loop device already attached to the volume's file through sysfs. An encrypted volume's
// loop device sits on its FUSE plaintext view, which this process serves.
func (s *Store) Device(ctx context.Context, id string) (string, error) {
	if err := validID(id); err != nil {
		return "", err
	}
	defer s.lock(id)()
	m, err := s.readMeta(id)
	if err != nil {
		return "", err
	}
	backing := s.imgPath(id)
	if m.Encryption != nil {
		backing = s.plainPath(id)
	}
	if dev := s.device(id); dev != "" && loopBacking(dev) == backing {
		return dev, nil
	}
	// A plaintext view from before a restart is gone (Open cleared it), so only look when this process serves one.
	if m.Encryption == nil || s.plainFor(id) != nil {
		if dev, err := findLoop(backing); err != nil {
			return "", err
		} else if dev != "" {
			s.setDevice(id, dev)
			return dev, nil
		}
	}
	if m.Encryption != nil && s.plainFor(id) == nil {
		if err := s.mountPlain(ctx, id, m); err != nil {
			return "", err
		}
	}
	dev, err := attachLoop(backing, id)
	if err != nil {
		if m.Encryption != nil {
			s.unmountPlain(id)
		}
		return "", err
	}
	s.setDevice(id, dev)
	s.log.Info("volume attached to a loop device", "volume", id, "device", dev)
	return dev, nil
}

// releaseTries is how many times, 20 ms apart, ReleaseDevice tries again a device that is still in use.
const releaseTries = 100

// ReleaseDevice detaches the volume's loop device. A device still in use (mounted, say) after two seconds is
// refused with ErrInUse. Releasing a volume without a device does nothing.
func (s *Store) ReleaseDevice(ctx context.Context, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	defer s.lock(id)()
	return s.releaseLocked(id)
}

func (s *Store) releaseLocked(id string) error {
	dev := s.device(id)
	if dev == "" {
		var err error
		if dev, err = findLoop(s.imgPath(id)); err != nil {
			return err
		}
	}
	if dev == "" && s.plainFor(id) != nil {
		var err error
		if dev, err = findLoop(s.plainPath(id)); err != nil {
			return err
		}
	}
	if dev != "" {
		// A filesystem that a machine's dying mount namespace still holds is let go within moments: the
		// kernel tears the namespace down after its last process, and a lazy unmount completes then.
		err := detachLoop(dev, true)
		for i := 0; errors.Is(err, ErrInUse) && i < releaseTries; i++ {
			time.Sleep(20 * time.Millisecond)
			err = detachLoop(dev, true)
		}
		if err != nil {
			return fmt.Errorf("volume %s on %s: %w", id, dev, err)
		}
		s.log.Info("volume released its loop device", "volume", id, "device", dev)
	}
	s.setDevice(id, "")
	return s.unmountPlain(id)
}

func (s *Store) device(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.devices[id]
}

func (s *Store) setDevice(id, dev string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dev == "" {
		delete(s.devices, id)
	} else {
		s.devices[id] = dev
	}
}

// attachLoop binds a free loop device to the file at path, naming it after the volume.
func attachLoop(path, name string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("volumes: %w", err)
	}
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("volumes: no loop devices on this host: %v: %w", err, ErrUnsupported)
	}
	defer ctl.Close()
	for attempt := 0; attempt < 20; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", fmt.Errorf("volumes: LOOP_CTL_GET_FREE: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		lf, err := openDevice(dev, os.O_RDWR)
		if err != nil {
			return "", err
		}
		cfg := unix.LoopConfig{Fd: uint32(f.Fd())}
		copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], name)
		err = unix.IoctlLoopConfigure(int(lf.Fd()), &cfg)
		lf.Close()
		if errors.Is(err, unix.EBUSY) {
			continue // another process took it between GET_FREE and CONFIGURE
		}
		if err != nil {
			return "", fmt.Errorf("volumes: LOOP_CONFIGURE %s: %w", dev, err)
		}
		return dev, nil
	}
	return "", fmt.Errorf("volumes: no free loop device after 20 tries: %w", ErrInUse)
}

// openDevice opens a device node, waiting briefly for devtmpfs to make a new one.
func openDevice(dev string, flag int) (*os.File, error) {
	for i := 0; ; i++ {
		f, err := os.OpenFile(dev, flag, 0)
		if err == nil || !errors.Is(err, os.ErrNotExist) || i == 50 {
			if err != nil {
				return nil, fmt.Errorf("volumes: %w", err)
			}
			return f, nil
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// detachLoop unbinds a loop device. With exclusive set it refuses a device something holds exclusively (a
// mounted file system); otherwise the kernel detaches a busy device when its last user closes it.
func detachLoop(dev string, exclusive bool) error {
	flag := os.O_RDWR
	if exclusive {
		flag |= unix.O_EXCL
	}
	f, err := os.OpenFile(dev, flag, 0)
	if errors.Is(err, unix.EBUSY) {
		return ErrInUse
	}
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	defer f.Close()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0); err != nil && !errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("volumes: LOOP_CLR_FD %s: %w", dev, err)
	}
	return nil
}

func setCapacity(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	defer f.Close()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_SET_CAPACITY, 0); err != nil {
		return fmt.Errorf("volumes: LOOP_SET_CAPACITY %s: %w", dev, err)
	}
	return nil
}

// loopBacking is the file a loop device is bound to, or "" when it is unbound.
func loopBacking(dev string) string {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop", "backing_file"))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// findLoop returns the loop device bound to the file at path, or "".
func findLoop(path string) (string, error) {
	devs, err := loopsUnder(path, false)
	if err != nil || len(devs) == 0 {
		return "", err
	}
	return devs[0], nil
}

// loopsUnder lists the loop devices bound to path, or with prefix set to any file under path.
func loopsUnder(path string, prefix bool) ([]string, error) {
	ms, err := filepath.Glob("/sys/block/loop*/loop/backing_file")
	if err != nil {
		return nil, err
	}
	var devs []string
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil {
			continue // detached meanwhile
		}
		bf := strings.TrimSuffix(string(b), "\n")
		if bf == path || (prefix && strings.HasPrefix(bf, path+"/")) {
			devs = append(devs, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(m))))
		}
	}
	return devs, nil
}

// Throttle limits the I/O of the processes in the blkio cgroup at cgroupPath (a directory of the cgroup v1 blkio
// hierarchy) on the block device dev: iops operations per second and mbps MiB per second, each for reads and for
// writes. Zero removes that limit.
func Throttle(cgroupPath, dev string, iops, mbps int) error {
	if iops < 0 || mbps < 0 {
		return fmt.Errorf("throttle %d IOPS, %d MiB/s: %w", iops, mbps, ErrInvalid)
	}
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return fmt.Errorf("volumes: %s: %w", dev, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return fmt.Errorf("%s is not a block device: %w", dev, ErrInvalid)
	}
	mm := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	limits := []struct {
		file  string
		value int64
	}{
		{"blkio.throttle.read_iops_device", int64(iops)},
		{"blkio.throttle.write_iops_device", int64(iops)},
		{"blkio.throttle.read_bps_device", int64(mbps) << 20},
		{"blkio.throttle.write_bps_device", int64(mbps) << 20},
	}
	for _, l := range limits {
		p := filepath.Join(cgroupPath, l.file)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("volumes: no blkio throttling at %s: %v: %w", cgroupPath, err, ErrUnsupported)
		}
		if err := os.WriteFile(p, fmt.Appendf(nil, "%s %d\n", mm, l.value), 0); err != nil {
			return fmt.Errorf("volumes: %s: %w", p, err)
		}
	}
	return nil
}

// mountsUnder lists the mount points at or under dir, from this process's mount table.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space and the like).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
