package linux

// Attached block devices. The attachments of a machine are recorded in StateDir/<id>/devices.json, so
// that every boot gives them again (as OCI linux.devices with a matching device-cgroup rule) and so that
// the mount guard (mountguard.go) can tell a device of the machine from any other. A running machine gets
// a device at once: its node is made inside the machine's mount namespace and the machine's devices
// cgroup is told to allow it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/storage/volumes"
	"golang.org/x/sys/unix"
)

// diskGID is the group of block device nodes in the machines: "disk" is group 6 on Debian, Ubuntu,
// Amazon Linux and Fedora alike.
const diskGID = 6

func (d *Driver) readDevices(id string) ([]compute.BlockDevice, error) {
	var devs []compute.BlockDevice
	data, err := os.ReadFile(d.dir(id).path("devices.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return devs, json.Unmarshal(data, &devs)
}

func (d *Driver) writeDevices(id string, devs []compute.BlockDevice) error {
	slices.SortFunc(devs, func(a, b compute.BlockDevice) int { return strings.Compare(a.GuestPath, b.GuestPath) })
	data, err := json.Marshal(devs)
	if err != nil {
		return err
	}
	return writeFileAtomic(d.dir(id).path("devices.json"), data, 0o600)
}

// hostDevice returns the device number of a host block device.
func hostDevice(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("host device %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, fmt.Errorf("host device %s is not a block device", path)
	}
	return st.Rdev, nil
}

// BlockDevices implements compute.Driver.
func (d *Driver) BlockDevices(ctx context.Context, id string) ([]compute.BlockDevice, error) {
	if _, err := d.readSpec(id); err != nil {
		return nil, err
	}
	devs, err := d.readDevices(id)
	if devs == nil && err == nil {
		devs = []compute.BlockDevice{}
	}
	return devs, err
}

// AttachBlock implements compute.Driver. The attachment is recorded before the running machine gets the
// device, and the record is dropped again when that fails.
func (d *Driver) AttachBlock(ctx context.Context, id string, dev compute.BlockDevice) error {
	if err := dev.Validate(); err != nil {
		return err
	}
	defer d.lock(id)()
	spec, err := d.readSpec(id)
	if err != nil {
		return err
	}
	if spec.Root != nil && spec.Root.GuestPath == dev.GuestPath {
		return fmt.Errorf("%w: %s is the root volume of %s", compute.ErrDeviceInUse, dev.GuestPath, id)
	}
	devs, err := d.readDevices(id)
	if err != nil {
		return err
	}
	for _, old := range devs {
		if old.GuestPath == dev.GuestPath {
			if old == dev {
				return nil
			}
			return fmt.Errorf("%w: %s on %s", compute.ErrDeviceInUse, dev.GuestPath, id)
		}
	}
	rdev, err := hostDevice(dev.HostPath)
	if err != nil {
		return fmt.Errorf("linux: attach to %s: %w", id, err)
	}
	if err := d.writeDevices(id, append(slices.Clone(devs), dev)); err != nil {
		return err
	}
	st, err := d.runtimeState(ctx, id)
	if err == nil && st.Status == "running" {
		err = d.exposeDevice(id, st.Pid, dev, rdev)
	}
	if err != nil {
		d.hideDevice(id, st.Pid, dev, rdev)
		d.writeDevices(id, devs)
		return fmt.Errorf("linux: attach %s to %s: %w", dev.GuestPath, id, err)
	}
	d.log.InfoContext(ctx, "block device attached", "instance", id, "device", dev.GuestPath, "host", dev.HostPath)
	return nil
}

// DetachBlock implements compute.Driver.
func (d *Driver) DetachBlock(ctx context.Context, id, guestPath string) error {
	return d.detachBlock(ctx, id, guestPath, false)
}

// ForceDetachBlock takes the device away even while the running machine has it mounted, as a forced EBS
// detach does: its mounts in the machine are detached lazily first, so the machine's processes that still
// use the filesystem keep it, and the device is gone from the machine.
func (d *Driver) ForceDetachBlock(ctx context.Context, id, guestPath string) error {
	return d.detachBlock(ctx, id, guestPath, true)
}

func (d *Driver) detachBlock(ctx context.Context, id, guestPath string, force bool) error {
	defer d.lock(id)()
	if _, err := d.readSpec(id); err != nil {
		return err
	}
	devs, err := d.readDevices(id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(devs, func(b compute.BlockDevice) bool { return b.GuestPath == guestPath })
	if i < 0 {
		return fmt.Errorf("%w: %s on %s", compute.ErrNotAttached, guestPath, id)
	}
	dev := devs[i]
	st, err := d.runtimeState(ctx, id)
	if err != nil {
		return err
	}
	if st.Status == "running" {
		rdev, err := hostDevice(dev.HostPath)
		if err == nil {
			if mountedIn(st.Pid, rdev) && force {
				for _, p := range mountPoints(st.Pid, rdev) {
					err := inMountNS(st.Pid, func() error { return unix.Unmount(p, unix.MNT_DETACH) })
					if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
						return fmt.Errorf("linux: force detach %s from %s: unmount %s: %w", guestPath, id, p, err)
					}
				}
				d.log.InfoContext(ctx, "block device unmounted for a forced detach", "instance", id, "device", guestPath)
			}
			if mountedIn(st.Pid, rdev) {
				return fmt.Errorf("%w: %s on %s", compute.ErrBusy, guestPath, id)
			}
			if err := d.hideDevice(id, st.Pid, dev, rdev); err != nil {
				return fmt.Errorf("linux: detach %s from %s: %w", guestPath, id, err)
			}
		}
		// A host device that is gone already is gone from the machine too.
	}
	if err := d.writeDevices(id, slices.Delete(devs, i, i+1)); err != nil {
		return err
	}
	d.log.InfoContext(ctx, "block device detached", "instance", id, "device", guestPath)
	return nil
}

// exposeDevice gives a running machine the device: the cgroup rule first, so that the node works as soon
// as it appears.
func (d *Driver) exposeDevice(id string, pid int, dev compute.BlockDevice, rdev uint64) error {
	if err := d.deviceRule(id, "devices.allow", dev, rdev); err != nil {
		return err
	}
	if err := d.throttle(id, dev); err != nil {
		return err
	}
	return inMountNS(pid, func() error {
		unix.Unlink(dev.GuestPath) // a node the machine's root made there itself
		if err := unix.Mknod(dev.GuestPath, unix.S_IFBLK|0o660, int(rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", dev.GuestPath, err)
		}
		if err := unix.Chmod(dev.GuestPath, 0o660); err != nil {
			return err
		}
		if err := unix.Lchown(dev.GuestPath, 0, diskGID); err != nil {
			return err
		}
		return makeAlias(dev)
	})
}

// makeAlias makes the /dev/sdX symlink of a device; run in the machine's mount namespace.
func makeAlias(dev compute.BlockDevice) error {
	alias := dev.AliasPath()
	if fi, err := os.Lstat(alias); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		os.Remove(alias)
	}
	if err := os.Symlink(filepath.Base(dev.GuestPath), alias); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// hideDevice takes the device away from a running machine: nodes, then the cgroup rule.
func (d *Driver) hideDevice(id string, pid int, dev compute.BlockDevice, rdev uint64) error {
	var err error
	if pid > 0 && alive(pid) {
		err = inMountNS(pid, func() error {
			if target, err := os.Readlink(dev.AliasPath()); err == nil && target == filepath.Base(dev.GuestPath) {
				os.Remove(dev.AliasPath())
			}
			var err error
			for _, p := range []string{dev.AliasPath(), dev.GuestPath} {
				var st unix.Stat_t
				if unix.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == rdev {
					err = errors.Join(err, unix.Unlink(p))
				}
			}
			return err
		})
	}
	// Limits are dropped with the device: the next attachment of this device number brings its own.
	d.throttle(id, compute.BlockDevice{HostPath: dev.HostPath})
	return errors.Join(err, d.deviceRule(id, "devices.deny", dev, rdev))
}

// deviceRule writes a rule for the device into the machine's devices cgroup (cgroup v1).
func (d *Driver) deviceRule(id, file string, dev compute.BlockDevice, rdev uint64) error {
	access := "rw"
	if dev.ReadOnly && file == "devices.allow" {
		access = "r"
	}
	rule := fmt.Sprintf("b %d:%d %s", unix.Major(rdev), unix.Minor(rdev), access)
	p := filepath.Join("/sys/fs/cgroup/devices", d.cgroupPath(id), file)
	if err := os.WriteFile(p, []byte(rule), 0); err != nil {
		return fmt.Errorf("devices cgroup: %w", err)
	}
	return nil
}

// mountedIn says whether the device is mounted in the mount namespace of pid.
func mountedIn(pid int, rdev uint64) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		return false
	}
	want := fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev))
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[2] == want {
			return true
		}
	}
	return false
}

// inMountNS runs fn on a thread of its own that has joined the mount namespace of pid, with the working
// directory of pid. A multi-threaded process cannot join a mount namespace, but one thread can once it
// stops sharing its filesystem attributes (CLONE_FS) with the others. The thread is never handed back to
// the Go scheduler: it ends with fn, namespace and all. The main thread is never used: the runtime does
// not end it but parks it, and it is the thread /proc/self names, so it must stay in the host's namespace.
func inMountNS(pid int, fn func() error) error {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return err
	}
	defer ns.Close()
	cwd, err := os.Open(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return err
	}
	defer cwd.Close()
	errc := make(chan error, 1)
	var enter func()
	enter = func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Hold the main thread while another one does the work, so that it cannot be that one.
			done := make(chan struct{})
			go func() { enter(); close(done) }()
			<-done
			runtime.UnlockOSThread()
			return
		}
		// No UnlockOSThread from here: the thread exits with this goroutine.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare CLONE_FS: %w", err)
			return
		}
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("join the mount namespace of %d: %w", pid, err)
			return
		}
		if err := unix.Fchdir(int(cwd.Fd())); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}
	go enter()
	return <-errc
}

// bootDevices is what the OCI config says about the attached devices.
type bootDevices struct {
	nodes   []ociDevice
	rules   []ociDeviceRule
	blockIO *ociBlockIO
}

// machineDevices are the machine's root volume, when it has one, and its recorded attachments.
func (d *Driver) machineDevices(spec compute.Spec) ([]compute.BlockDevice, error) {
	devs, err := d.readDevices(spec.ID)
	if err != nil || spec.Root == nil {
		return devs, err
	}
	return append([]compute.BlockDevice{*spec.Root}, devs...), nil
}

// ociDevices is the OCI config of a machine's root volume and attached devices for one boot. A recorded
// device whose host node is gone fails the boot: the volume store must give it again.
func (d *Driver) ociDevices(spec compute.Spec) (bootDevices, error) {
	var out bootDevices
	devs, err := d.machineDevices(spec)
	if err != nil {
		return out, err
	}
	for _, dev := range devs {
		rdev, err := hostDevice(dev.HostPath)
		if err != nil {
			return out, fmt.Errorf("attached device %s: %w", dev.GuestPath, err)
		}
		major, minor := int64(unix.Major(rdev)), int64(unix.Minor(rdev))
		mode, uid, gid := uint32(0o660), uint32(0), uint32(diskGID)
		// The runtime makes device nodes only, so the /dev/sdX name is a second node at boot rather than
		// the symlink an attachment to a running machine makes.
		for _, p := range []string{dev.GuestPath, dev.AliasPath()} {
			out.nodes = append(out.nodes, ociDevice{Path: p, Type: "b", Major: major, Minor: minor,
				FileMode: &mode, UID: &uid, GID: &gid})
		}
		access := "rw"
		if dev.ReadOnly {
			access = "r"
		}
		out.rules = append(out.rules, ociDeviceRule{Allow: true, Type: "b", Major: i64(major), Minor: i64(minor), Access: access})
		if dev.IOPS > 0 || dev.MBps > 0 {
			if out.blockIO == nil {
				out.blockIO = &ociBlockIO{}
			}
			b := out.blockIO
			if dev.IOPS > 0 {
				t := ociThrottle{Major: major, Minor: minor, Rate: uint64(dev.IOPS)}
				b.ReadIOPS, b.WriteIOPS = append(b.ReadIOPS, t), append(b.WriteIOPS, t)
			}
			if dev.MBps > 0 {
				t := ociThrottle{Major: major, Minor: minor, Rate: uint64(dev.MBps) << 20}
				b.ReadBps, b.WriteBps = append(b.ReadBps, t), append(b.WriteBps, t)
			}
		}
	}
	return out, nil
}

// throttle limits the running machine's I/O on the device (cgroup v1 blkio).
func (d *Driver) throttle(id string, dev compute.BlockDevice) error {
	if dev.IOPS < 0 || dev.MBps < 0 {
		return fmt.Errorf("throttle of %s: negative limit", dev.GuestPath)
	}
	return volumes.Throttle(filepath.Join("/sys/fs/cgroup/blkio", d.cgroupPath(id)), dev.HostPath, dev.IOPS, dev.MBps)
}
