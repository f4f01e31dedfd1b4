package linux

// The mount guard lets the root user of a machine mount its attached block devices, although the machine
// has no CAP_SYS_ADMIN, in the way LXD and Incus do: the seccomp profile makes mount(2) and umount2(2)
// wait for a user-space answer (SCMP_ACT_NOTIFY). The runtime sends the notification fd, with the
// container's state as JSON, over the unix socket StateDir/<id>/mount.sock (linux.seccomp.listenerPath)
// while it creates the container, once. One goroutine per running machine then receives each call, and:
//
//   - mount by uid 0 of an attached device (the source, resolved inside the machine's root, is a block
//     node with the device number of one of the machine's attachments), of a type in mountableFS, with
//     only the flags in mountFlags: the guard mounts it itself with the new mount API, on a thread in the
//     machine's mount namespace (fsopen, fsconfig, fsmount with nosuid and nodev forced, a check that the
//     new mount's device is still that attachment, so that a node swapped in meanwhile gets nowhere, then
//     move_mount at the target) and answers with the result;
//   - umount2 by uid 0 of the root of a mount of an attached device: the guard unmounts it there;
//   - anything else: the kernel carries on with the call as it was (SECCOMP_USER_NOTIF_FLAG_CONTINUE),
//     which fails with EPERM for want of CAP_SYS_ADMIN, as it would without the guard.
//
// A holder process keeps a copy of the fd, from which a restarted Overcast takes it back (guardholder.go).
// A machine resumed from hibernation has no guard until its next boot: its mount and umount2 calls then
// fail with ENOSYS (the kernel's answer when nobody listens), and attaching or detaching devices still works.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"golang.org/x/sys/unix"
)

// mountGuardSocket is the listener socket's name in the machine's directory.
const mountGuardSocket = "mount.sock"

// mountableFS are the filesystem types the guard mounts.
var mountableFS = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "vfat": true}

// mountFlags are the mount(2) flags the guard honours; any other (MS_BIND, MS_MOVE, MS_REMOUNT,
// propagation changes, ...) leaves the call to the kernel, which refuses it.
const mountFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME |
	unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME | unix.MS_LAZYTIME | unix.MS_SILENT

// umountFlags are the umount2(2) flags the guard honours.
const umountFlags = unix.MNT_DETACH | unix.UMOUNT_NOFOLLOW

// auditArchX86_64 is the seccomp_data.arch of native x86-64 calls; the guard handles only those.
const auditArchX86_64 = 0xc000003e

// seccompNotif and seccompNotifResp are struct seccomp_notif and struct seccomp_notif_resp.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

const seccompUserNotifFlagContinue = 1

// guardListener receives the notification fd the runtime sends while it creates a container.
type guardListener struct {
	ln  *net.UnixListener
	got chan guardFD
}

type guardFD struct {
	fd  int
	err error
}

func listenGuard(m machineDir) (*guardListener, error) {
	path := m.path(mountGuardSocket)
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("mount guard socket path %s is too long for a unix socket", path)
	}
	os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	g := &guardListener{ln: ln, got: make(chan guardFD, 1)}
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			g.got <- guardFD{fd: -1, err: err}
			return
		}
		defer conn.Close()
		g.got <- receiveNotifyFD(conn)
	}()
	return g, nil
}

// receiveNotifyFD reads the runtime's message: the container state (specs.ContainerProcessState) naming
// the fds it carries, with the fds themselves as SCM_RIGHTS.
func receiveNotifyFD(conn *net.UnixConn) guardFD {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf, oob := make([]byte, 1<<16), make([]byte, unix.CmsgSpace(4*8))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return guardFD{fd: -1, err: err}
	}
	var fds []int
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	for _, msg := range msgs {
		if rights, err := unix.ParseUnixRights(&msg); err == nil {
			fds = append(fds, rights...)
		}
	}
	var state struct {
		Fds []string `json:"fds"`
	}
	if err == nil {
		err = json.Unmarshal(buf[:n], &state)
	}
	fd := -1
	for i, name := range state.Fds {
		if name == "seccompFd" && i < len(fds) {
			fd = fds[i]
		}
	}
	for _, other := range fds {
		if other != fd {
			unix.Close(other)
		}
	}
	if fd < 0 && err == nil {
		err = errors.New("the runtime sent no seccompFd")
	}
	return guardFD{fd: fd, err: err}
}

// wait returns the fd once the runtime has created the container, and closes the listener.
func (g *guardListener) wait(timeout time.Duration) (int, error) {
	defer g.ln.Close()
	select {
	case r := <-g.got:
		return r.fd, r.err
	case <-time.After(timeout):
		return -1, errors.New("the runtime never sent the seccomp notify fd")
	}
}

// serveMounts answers the machine's mount and umount2 calls until the machine's last process has exited,
// or until stop (an eventfd, or -1) becomes readable.
func (d *Driver) serveMounts(id string, fd, stop int) {
	defer unix.Close(fd)
	log := d.log.With("instance", id)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stop), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			log.Error("mount guard: poll", "err", err)
			return
		}
		if fds[0].Revents&unix.POLLIN == 0 || fds[1].Revents != 0 { // POLLHUP: no process uses the filter any more
			return
		}
		var req seccompNotif
		if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&req)); err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOENT) {
				continue // interrupted, or the caller died before we read it
			}
			log.Error("mount guard: receive", "err", err)
			return
		}
		resp := d.answer(id, fd, &req)
		resp.ID = req.ID
		if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp)); err != nil && !errors.Is(err, unix.ENOENT) {
			log.Warn("mount guard: answer", "err", err)
		}
	}
}

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

// errNotOurs marks a call the guard leaves to the kernel.
var errNotOurs = errors.New("not a call the mount guard performs")

// answer decides one call.
func (d *Driver) answer(id string, fd int, req *seccompNotif) seccompNotifResp {
	var err error
	switch {
	case req.Arch != auditArchX86_64:
		err = errNotOurs
	case req.Nr == unix.SYS_MOUNT:
		err = d.guardMount(id, fd, req)
	case req.Nr == unix.SYS_UMOUNT2:
		err = d.guardUmount(id, fd, req)
	default:
		err = errNotOurs
	}
	switch {
	case err == nil:
		d.log.Info("mount guard: done", "instance", id, "syscall", req.Nr, "pid", req.Pid)
		return seccompNotifResp{}
	case errors.Is(err, errNotOurs):
		return seccompNotifResp{Flags: seccompUserNotifFlagContinue}
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		errno = unix.EINVAL
	}
	return seccompNotifResp{Error: -int32(errno)}
}

// callArgs reads the strings a call points at from the caller's memory, then checks that the
// notification is still live: the pid may otherwise name another process by now.
func callArgs(fd int, req *seccompNotif, addrs ...uint64) ([]string, error) {
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", req.Pid))
	if err != nil {
		return nil, errNotOurs
	}
	defer mem.Close()
	out := make([]string, len(addrs))
	for i, addr := range addrs {
		if addr == 0 {
			continue
		}
		buf := make([]byte, unix.PathMax)
		n, _ := mem.ReadAt(buf, int64(addr))
		s, _, ok := strings.Cut(string(buf[:n]), "\x00")
		if !ok {
			return nil, unix.EFAULT
		}
		out[i] = s
	}
	id := req.ID
	if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)); err != nil {
		return nil, errNotOurs
	}
	return out, nil
}

// callerIsRoot says whether the calling process's effective uid is 0.
func callerIsRoot(pid uint32) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:"); ok {
			f := strings.Fields(v)
			return len(f) > 1 && f[1] == "0"
		}
	}
	return false
}

type attached struct {
	compute.BlockDevice
	rdev uint64
}

// attachedDevice returns the machine's attachment with device number rdev.
func (d *Driver) attachedDevice(id string, rdev uint64) (attached, bool) {
	devs, _ := d.readDevices(id)
	for _, dev := range devs {
		if r, err := hostDevice(dev.HostPath); err == nil && r == rdev {
			return attached{dev, r}, true
		}
	}
	return attached{}, false
}

func (d *Driver) guardMount(id string, fd int, req *seccompNotif) error {
	args, err := callArgs(fd, req, req.Args[0], req.Args[1], req.Args[2], req.Args[4])
	if err != nil {
		return err
	}
	source, target, fstype, data := args[0], args[1], args[2], args[3]
	flags := req.Args[3]
	if flags&0xffff0000 == unix.MS_MGC_VAL {
		flags &^= 0xffff0000 // the old magic number some callers still pass
	}
	if !mountableFS[fstype] || flags&^uint64(mountFlags) != 0 || !strings.HasPrefix(source, "/") || !callerIsRoot(req.Pid) {
		return errNotOurs
	}
	// The source is resolved inside the machine's root, symlinks included.
	root, err := os.Open(fmt.Sprintf("/proc/%d/root", req.Pid))
	if err != nil {
		return errNotOurs
	}
	defer root.Close()
	node, err := unix.Openat2(int(root.Fd()), source, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return errNotOurs
	}
	var st unix.Stat_t
	err = unix.Fstat(node, &st)
	unix.Close(node)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return errNotOurs
	}
	dev, ok := d.attachedDevice(id, st.Rdev)
	if !ok {
		return errNotOurs
	}
	if dev.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	if fstype == "btrfs" {
		// btrfs reports an anonymous device number, so its mount cannot be checked as below: it is made
		// from the host's path of the device, which /proc/mounts then shows.
		mnt, err := makeMount(fstype, dev.HostPath, data, flags)
		if err != nil {
			return err
		}
		defer unix.Close(mnt)
		return inMountNS(int(req.Pid), func() error {
			return unix.MoveMount(mnt, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
		})
	}
	// The filesystem is made from the source as the machine named it, so that /proc/mounts shows that
	// name; the machine may have swapped another node in since the check above, so the new mount's device
	// is checked again before it is attached anywhere.
	return inMountNS(int(req.Pid), func() error {
		mnt, err := makeMount(fstype, source, data, flags)
		if err != nil {
			return err
		}
		defer unix.Close(mnt)
		var st unix.Stat_t
		if err := unix.Fstat(mnt, &st); err != nil || st.Dev != dev.rdev {
			return unix.EPERM
		}
		return unix.MoveMount(mnt, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
	})
}

// makeMount makes a detached mount of the host device, with nosuid and nodev whatever was asked.
func makeMount(fstype, hostPath, data string, flags uint64) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "source", hostPath); err != nil {
		return -1, err
	}
	if flags&unix.MS_RDONLY != 0 {
		if err := unix.FsconfigSetFlag(fsfd, "ro"); err != nil {
			return -1, err
		}
	}
	for _, opt := range strings.Split(data, ",") {
		k, v, hasValue := strings.Cut(opt, "=")
		switch {
		case k == "":
		case k == "source":
			return -1, unix.EINVAL
		case hasValue:
			err = unix.FsconfigSetString(fsfd, k, v)
		default:
			err = unix.FsconfigSetFlag(fsfd, k)
		}
		if err != nil {
			return -1, err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, err
	}
	attrs := unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	for flag, attr := range map[uint64]int{unix.MS_RDONLY: unix.MOUNT_ATTR_RDONLY, unix.MS_NOEXEC: unix.MOUNT_ATTR_NOEXEC,
		unix.MS_NOATIME: unix.MOUNT_ATTR_NOATIME, unix.MS_NODIRATIME: unix.MOUNT_ATTR_NODIRATIME,
		unix.MS_STRICTATIME: unix.MOUNT_ATTR_STRICTATIME} {
		if flags&flag != 0 {
			attrs |= attr
		}
	}
	return unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
}

func (d *Driver) guardUmount(id string, fd int, req *seccompNotif) error {
	args, err := callArgs(fd, req, req.Args[0])
	if err != nil {
		return err
	}
	target, flags := args[0], int(req.Args[1])
	if flags&^umountFlags != 0 || !callerIsRoot(req.Pid) {
		return errNotOurs
	}
	devs, _ := d.readDevices(id)
	rdevs := map[uint64]bool{}
	for _, dev := range devs {
		if r, err := hostDevice(dev.HostPath); err == nil {
			rdevs[r] = true
		}
	}
	return inMountNS(int(req.Pid), func() error {
		// Only the root of a mount whose filesystem is on an attached device.
		var stx unix.Statx_t
		at := unix.AT_STATX_SYNC_AS_STAT
		if flags&unix.UMOUNT_NOFOLLOW != 0 {
			at |= unix.AT_SYMLINK_NOFOLLOW
		}
		if err := unix.Statx(unix.AT_FDCWD, target, at, unix.STATX_BASIC_STATS, &stx); err != nil {
			return errNotOurs
		}
		isRoot := stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
		if !isRoot || !rdevs[unix.Mkdev(stx.Dev_major, stx.Dev_minor)] {
			return errNotOurs
		}
		return unix.Unmount(target, flags)
	})
}

// pidOf reads the init's host pid the runtime wrote.
func pidOf(m machineDir) int {
	data, _ := os.ReadFile(m.path("init.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}
