package linux

// Hibernation keeps a machine's processes across a stop, as EC2's stop-hibernate keeps RAM: the runtime's
// checkpoint (CRIU underneath) saves the whole process tree, memory included, into hibernationDir on the
// machine's root disk, so the state follows the disk and counts against its size, and the processes end.
// The next Start restores them from there instead of booting, with the same pids inside the machine, then
// discards the saved state.
//
// What this takes here:
//   - CRIU 4.1 or newer on kernels from 6.13 on, whose vDSO comes in two mappings; Debian 12's 3.17 fails
//     every dump there ("Unexpected rt vDSO area bounds"). scripts/deps.sh installs a newer one when needed.
//   - CRIU reads the resource limits of every process it saves with prlimit64, which takes
//     CAP_SYS_RESOURCE for a process of another user, and the test hosts' root does not have it: the CRIU
//     that scripts/deps.sh installs preloads a shim (scripts/criu/prlimit-shim.c) that answers those reads
//     from /proc/<pid>/limits.
//   - The options runc 1.1 cannot pass: they go on the command line of a small script the runtime runs as
//     its criu (criuScript). A CRIU configuration file (the org.criu.config annotation) does not do: CRIU
//     4.1 crashes on --network-lock there, and takes --inherit-fd twice, closing the descriptor in between.
//     --tcp-close, because established connections are dropped, as a hibernated EC2 instance's are, while
//     listening sockets (sshd) are kept. With no established connection to save, the network need not be
//     locked while CRIU works (--network-lock skip): its default needs iptables, which the hosts lack, and
//     its nftables lock stays in the instance's namespace after a dump and makes the restore fail.
//   - The console log is a host file outside the machine's mounts, open as the init's stdout and stderr and
//     inherited by everything it starts: it is dumped as an external file and handed back on restore.
//   - The network namespace, the bind mounts (/.overcast, the init binary) and the device nodes are the
//     runtime's business: it marks them external and binds them again from the new config on restore.
//   - The mount guard's seccomp listener cannot come back: CRIU restores the seccomp filter without its
//     listener, and the runtime sends a listener only when it creates an init. Until the next boot, the
//     machine's mount(2) and umount2(2) of attached volumes fail with ENOSYS, as after an Overcast restart.
//     Attaching and detaching still work. A volume mounted in the machine refuses hibernation (ErrBusy):
//     CRIU would have to mount it again by itself.
//
// The saved state is on a disk the machine's root may write, and restoring runs CRIU as the host's root, so
// Overcast restores only what it saved: the digest of every image file is kept on the host, in
// StateDir/<id>/hibernation.json, and a saved state that does not match is discarded and the machine boots.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"golang.org/x/sys/unix"
)

var _ compute.Hibernator = (*Driver)(nil)

// hibernationDir is where the saved state lives on the root disk, relative to its root.
const hibernationDir = "var/lib/overcast-hibernation"

// hibernationRecord is StateDir/<id>/hibernation.json: what Hibernate saved.
type hibernationRecord struct {
	// Console is CRIU's name for the console log the processes had open: file[<mnt_id>:<inode>] in hex.
	Console string `json:"console"`
	// Images are the SHA-256 digests of the image files, by name.
	Images map[string]string `json:"images"`
	Bytes  int64             `json:"bytes"`
	At     time.Time         `json:"at"`
}

// criuCheck is whether the host's CRIU works, found out once.
type criuCheck struct {
	once sync.Once
	path string
	err  error
}

func (d *Driver) criuPath() (string, error) {
	c := &d.criu
	c.once.Do(func() {
		name := d.cfg.CRIU
		if name == "" {
			name = "criu"
		}
		path, err := exec.LookPath(name)
		if err != nil {
			c.err = fmt.Errorf("%w: hibernation needs CRIU (install criu): %v", errors.ErrUnsupported, err)
			return
		}
		if out, err := exec.Command(path, "check").CombinedOutput(); err != nil {
			c.err = fmt.Errorf("%w: `%s check` fails, so this host cannot hibernate (kernels from 6.13 on need CRIU 4.1 or newer): %s",
				errors.ErrUnsupported, path, lastLines(string(out), 2))
			return
		}
		c.path = path
	})
	return c.path, c.err
}

// Hibernate implements compute.Hibernator.
func (d *Driver) Hibernate(ctx context.Context, id string) error {
	defer d.lock(id)()
	// The dump must not be cut short: CRIU killed half-way can leave the machine frozen.
	ctx = context.WithoutCancel(ctx)
	if _, err := d.readSpec(id); err != nil {
		return err
	}
	st, err := d.runtimeState(ctx, id)
	if err != nil {
		return err
	}
	if st.Status != "running" {
		return fmt.Errorf("%w: %s", compute.ErrNotRunning, id)
	}
	criu, err := d.criuPath()
	if err != nil {
		return fmt.Errorf("linux: hibernate %s: %w", id, err)
	}
	devs, err := d.readDevices(id)
	if err != nil {
		return err
	}
	for _, dev := range devs {
		if rdev, err := hostDevice(dev.HostPath); err == nil && mountedIn(st.Pid, rdev) {
			return fmt.Errorf("%w: %s on %s: unmount it to hibernate", compute.ErrBusy, dev.GuestPath, id)
		}
	}
	m := d.dir(id)
	console, err := consoleFileID(st.Pid)
	if err != nil {
		return fmt.Errorf("linux: hibernate %s: console: %w", id, err)
	}
	os.Remove(m.path("hibernation.json"))
	dir, err := openHibernationDir(m.rootfs(), true)
	if err != nil {
		return fmt.Errorf("linux: hibernate %s: %w", id, err)
	}
	defer dir.Close()
	script, err := writeCRIUScript(m, criu, "--external", console)
	if err != nil {
		return err
	}
	appendConsole(m, "overcast: hibernating")
	began := time.Now()
	// The image directory is handed over open, so that no link the machine made can redirect it.
	err = d.runtimeCRIU(ctx, m, script, nil, dir, "checkpoint", "--image-path", "/proc/self/fd/3",
		"--work-path", m.path("criu"), "--file-locks", id)
	if err != nil {
		// A failed dump lets the processes run on.
		discardHibernationDir(m.rootfs())
		return fmt.Errorf("linux: hibernate %s: %w", id, err)
	}
	// The processes are gone from here on: whatever fails, the machine is stopped.
	rec, err := digestImages(dir)
	dir.Close() // before the root disk is unmounted
	if err == nil {
		rec.Console, rec.At = console, time.Now().UTC()
		var data []byte
		if data, err = json.Marshal(rec); err == nil {
			err = writeFileAtomic(m.path("hibernation.json"), data, 0o600)
		}
	}
	if stopErr := d.stop(ctx, id, 0); stopErr != nil {
		return errors.Join(err, stopErr)
	}
	if err != nil {
		discardHibernationDir(m.rootfs())
		return fmt.Errorf("linux: hibernate %s: the machine stopped, but its state was not kept: %w", id, err)
	}
	d.log.InfoContext(ctx, "machine hibernated", "instance", id, "bytes", rec.Bytes, "duration", time.Since(began))
	return nil
}

// Hibernated implements compute.Hibernator.
func (d *Driver) Hibernated(ctx context.Context, id string) (bool, error) {
	if _, err := d.readSpec(id); err != nil {
		return false, err
	}
	return fileExists(d.dir(id).path("hibernation.json")), nil
}

// resume restores the machine from its hibernation, when it has one, with the root disk mounted and the
// boot data written, and reports whether the machine now runs. A hibernation that cannot be resumed is
// discarded and said so on the console and in the log: the machine then boots, as an EC2 instance does.
func (d *Driver) resume(ctx context.Context, spec compute.Spec, m machineDir, devices bootDevices) bool {
	data, err := os.ReadFile(m.path("hibernation.json"))
	if errors.Is(err, fs.ErrNotExist) {
		// Anything at hibernationDir now is not a state Overcast saved (a hibernation cut short, or the
		// machine's own files): it is never restored, and goes.
		discardHibernationDir(m.rootfs())
		return false
	}
	ctx = context.WithoutCancel(ctx)
	began := time.Now()
	var rec hibernationRecord
	if err == nil {
		err = json.Unmarshal(data, &rec)
	}
	if err == nil {
		err = d.restore(ctx, spec, m, devices, rec)
	}
	os.Remove(m.path("hibernation.json"))
	discardHibernationDir(m.rootfs())
	if err != nil {
		d.deleteContainer(ctx, spec.ID)
		appendConsole(m, fmt.Sprintf("overcast: cannot resume from hibernation, booting afresh: %v", err))
		d.log.WarnContext(ctx, "hibernation not resumed; booting", "instance", spec.ID, "err", err)
		return false
	}
	d.renewDeviceNodes(spec, pidOf(m))
	appendConsole(m, "overcast: resumed from hibernation")
	d.log.InfoContext(ctx, "machine resumed", "instance", spec.ID, "duration", time.Since(began))
	return true
}

// renewDeviceNodes makes the device nodes of the root volume and the attached devices again in the
// resumed machine: its /dev came back from the saved state, and the host devices may have other numbers
// now (a loop device is taken anew at every start).
func (d *Driver) renewDeviceNodes(spec compute.Spec, pid int) {
	devs, _ := d.readDevices(spec.ID)
	if spec.Root != nil {
		devs = append(devs, *spec.Root)
	}
	for _, dev := range devs {
		rdev, err := hostDevice(dev.HostPath)
		if err == nil {
			// The /dev/sdX name is a node of its own when made at boot, and exposeDevice keeps a node there.
			err = inMountNS(pid, func() error {
				var st unix.Stat_t
				if unix.Lstat(dev.AliasPath(), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
					return unix.Unlink(dev.AliasPath())
				}
				return nil
			})
		}
		if err == nil {
			err = d.exposeDevice(spec.ID, pid, dev, rdev)
		}
		if err != nil {
			d.log.Warn("resumed machine: device node", "instance", spec.ID, "device", dev.GuestPath, "err", err)
		}
	}
}

func (d *Driver) restore(ctx context.Context, spec compute.Spec, m machineDir, devices bootDevices, rec hibernationRecord) error {
	criu, err := d.criuPath()
	if err != nil {
		return err
	}
	dir, err := openHibernationDir(m.rootfs(), false)
	if err != nil {
		return err
	}
	defer dir.Close()
	found, err := digestImages(dir)
	if err != nil {
		return err
	}
	if !sameImages(found.Images, rec.Images) {
		return errors.New("the saved state on the root disk is not the one Overcast saved")
	}
	cfg, err := json.MarshalIndent(d.bundleSpec(spec, m, devices), "", "\t")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(m.path("config.json"), cfg, 0o600); err != nil {
		return err
	}
	// The console log is the restorer's stdout; CRIU gives it to every descriptor that had it.
	script, err := writeCRIUScript(m, criu, "--inherit-fd", "fd[1]:"+rec.Console)
	if err != nil {
		return err
	}
	console, err := os.OpenFile(m.path("console.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer console.Close()
	return d.runtimeCRIU(ctx, m, script, console, dir, "restore", "--detach", "--bundle", string(m),
		"--image-path", "/proc/self/fd/3", "--work-path", m.path("criu"), "--file-locks",
		"--pid-file", m.path("init.pid"), spec.ID)
}

// runtimeCRIU runs a runtime command that uses CRIU, with images open as the runtime's fd 3 and stdio as
// its stdout and stderr (the restored machine's console).
func (d *Driver) runtimeCRIU(ctx context.Context, m machineDir, script string, stdio, images *os.File, args ...string) error {
	runcLog := m.path("runc.log")
	os.Remove(runcLog)
	cmd := exec.CommandContext(ctx, d.cfg.Runtime, append([]string{"--root", d.runcRoot, "--log", runcLog,
		"--log-format", "json", "--criu", script}, args...)...)
	cmd.ExtraFiles = []*os.File{images}
	var out strings.Builder
	if stdio != nil {
		cmd.Stdout, cmd.Stderr = stdio, stdio
	} else {
		cmd.Stdout, cmd.Stderr = &out, &out
	}
	if err := cmd.Run(); err != nil {
		msg := runtimeError(runcLog)
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return fmt.Errorf("%s %s: %v: %s%s", filepath.Base(d.cfg.Runtime), args[0], err, msg, criuErrors(m.path("criu")))
	}
	return nil
}

// writeCRIUScript writes StateDir/<id>/criu.sh, which runs criu with the options the runtime cannot pass.
func writeCRIUScript(m machineDir, criu string, extra ...string) (string, error) {
	args := []string{criu, "--network-lock", "skip", "--tcp-close"}
	args = append(args, extra...)
	for i, a := range args {
		args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	p := m.path("criu.sh")
	script := "#!/bin/sh\nexec " + strings.Join(args, " ") + " \"$@\"\n"
	if err := writeFileAtomic(p, []byte(script), 0o700); err != nil {
		return "", fmt.Errorf("linux: %w", err)
	}
	return p, nil
}

// criuErrors are the error lines of CRIU's logs in its work directory.
func criuErrors(workDir string) string {
	var errs []string
	for _, name := range []string{"dump.log", "restore.log"} {
		data, _ := os.ReadFile(filepath.Join(workDir, name))
		for _, l := range strings.Split(string(data), "\n") {
			// CRIU always complains that it cannot raise its own open-files limit; it does not matter.
			if strings.Contains(l, "Error (") && !strings.Contains(l, "RLIMIT_NOFILE") {
				errs = append(errs, strings.TrimSpace(l))
			}
		}
	}
	if len(errs) == 0 {
		return ""
	}
	if len(errs) > 3 {
		errs = errs[:3]
	}
	return " (criu: " + strings.Join(errs, "; ") + ")"
}

// consoleFileID names the console log, the init's stdout, as CRIU names an external file.
func consoleFileID(pid int) (string, error) {
	fdinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/1", pid))
	if err != nil {
		return "", err
	}
	mnt := -1
	for _, l := range strings.Split(string(fdinfo), "\n") {
		if v, ok := strings.CutPrefix(l, "mnt_id:"); ok {
			mnt, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/fd/1", pid), &st); err != nil {
		return "", err
	}
	if mnt < 0 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return "", fmt.Errorf("the init's stdout is not the console log file")
	}
	return fmt.Sprintf("file[%x:%x]", mnt, st.Ino), nil
}

// openHibernationDir opens hibernationDir on the root disk mounted at rootfs, resolving every link inside
// the root disk as the machine would. With fresh, whatever was there is removed and an empty directory
// only root may enter is made, with any missing parents.
func openHibernationDir(rootfs string, fresh bool) (*os.File, error) {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	parentPath, name := filepath.Split(hibernationDir)
	parent, err := openDirIn(root, parentPath, fresh)
	if err != nil {
		return nil, fmt.Errorf("hibernation directory: %w", err)
	}
	defer unix.Close(parent)
	if fresh {
		// Through the open parent, so that the removal stays on the root disk.
		if err := os.RemoveAll(fmt.Sprintf("/proc/self/fd/%d/%s", parent, name)); err != nil {
			return nil, err
		}
		if err := unix.Mkdirat(parent, name, 0o700); err != nil {
			return nil, fmt.Errorf("hibernation directory: %w", err)
		}
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("hibernation directory: %w", err)
	}
	if fresh {
		if err := errors.Join(unix.Fchown(fd, 0, 0), unix.Fchmod(fd, 0o700)); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return os.NewFile(uintptr(fd), "/"+hibernationDir), nil
}

// openDirIn opens the directory path under root (an O_PATH fd), resolving inside root, and makes the
// missing ones on the way when create is set.
func openDirIn(root int, path string, create bool) (int, error) {
	path = strings.Trim(path, "/")
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT}
	fd, err := unix.Openat2(root, path, how)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) || path == "" {
		return fd, err
	}
	parentPath, name := filepath.Split(path)
	parent, err := openDirIn(root, parentPath, true)
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	if err := unix.Mkdirat(parent, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	return unix.Openat2(root, path, how)
}

// discardHibernationDir removes hibernationDir from the root disk mounted at rootfs, if it is there.
func discardHibernationDir(rootfs string) {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(root)
	parentPath, name := filepath.Split(hibernationDir)
	parent, err := openDirIn(root, parentPath, false)
	if err != nil {
		return
	}
	defer unix.Close(parent)
	os.RemoveAll(fmt.Sprintf("/proc/self/fd/%d/%s", parent, name))
}

// digestImages hashes every file in the image directory. Anything but a regular file fails.
func digestImages(dir *os.File) (hibernationRecord, error) {
	rec := hibernationRecord{Images: map[string]string{}}
	names, err := dir.Readdirnames(-1)
	if _, serr := dir.Seek(0, io.SeekStart); err == nil {
		err = serr
	}
	if err != nil {
		return rec, err
	}
	for _, name := range names {
		fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return rec, fmt.Errorf("image %s: %w", name, err)
		}
		f := os.NewFile(uintptr(fd), name)
		st, err := f.Stat()
		if err == nil && !st.Mode().IsRegular() {
			err = fmt.Errorf("image %s is not a regular file", name)
		}
		h := sha256.New()
		var n int64
		if err == nil {
			n, err = io.Copy(h, f)
		}
		f.Close()
		if err != nil {
			return rec, err
		}
		rec.Images[name] = hex.EncodeToString(h.Sum(nil))
		rec.Bytes += n
	}
	return rec, nil
}

func sameImages(a, b map[string]string) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// appendConsole adds a line of Overcast's own to the machine's console log.
func appendConsole(m machineDir, line string) {
	f, err := os.OpenFile(m.path("console.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintln(f, line)
	f.Close()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
