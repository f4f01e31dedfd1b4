package linux

// The guard holder keeps a machine's seccomp notify fd alive across restarts of Overcast. The runtime
// hands the fd over once, when the machine boots (mountguard.go); were the Overcast process its only
// holder, a restart would leave the machine's mount(2) calls with nobody to answer them until its next
// boot. So Start also runs `<init binary> mount-guard-holder <socket>`, a small process in a session of
// its own, with no parent-death signal, that is given a copy of the fd and of a listening unix socket,
// StateDir/<id>/mount-guard.sock, at exec. It answers each connection with a copy of the fd (SCM_RIGHTS),
// and exits when the fd reports POLLHUP (no process uses the filter any more: the machine stopped) or on
// SIGTERM. It never reads a notification itself: it does not poll for POLLIN.
//
// A new Driver over the same StateDir (a restarted Overcast) fetches the fd of every machine whose
// holder answers and serves it. Only one process may serve a machine's fd at a time: two would race for
// each notification. The old process is dead when a new one starts; tests that run two drivers in one
// process stop the first one's serving (stopServingGuards) before making the second.
//
// Stop and Destroy end the holder by the pid recorded in StateDir/<id>/mount-guard.pid, once its command
// line shows it is that machine's holder.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MountGuardHolderCommand is the subcommand of the init binary that runs a guard holder.
const MountGuardHolderCommand = "mount-guard-holder"

// The holder's files in the machine's directory.
const (
	holderSocket = "mount-guard.sock"
	holderPID    = "mount-guard.pid"
	holderLog    = "mount-guard.log"
)

// The descriptors the holder is started with.
const holderNotifyFD, holderListenFD = 3, 4

// MountGuardHolderMain is the holder's main, given the arguments after the subcommand: the socket's path,
// which is there only so that the driver can recognise the process. The notify fd is descriptor 3 and the
// listening socket descriptor 4. It returns when the machine has stopped.
func MountGuardHolderMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: overcast mount-guard-holder <socket> (descriptor 3: the seccomp notify fd, 4: the listening socket)")
		return 2
	}
	if kind, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(holderNotifyFD)); !strings.Contains(kind, "seccomp notify") {
		fmt.Fprintf(os.Stderr, "overcast mount-guard-holder: descriptor 3 is %q, not a seccomp notify fd\n", kind)
		return 2
	}
	// SIGTERM keeps its default action: the process ends, which is all there is to do.
	for {
		// No events for the notify fd: POLLHUP is reported regardless, and POLLIN (a pending call) is
		// the serving process's business.
		fds := []unix.PollFd{{Fd: holderNotifyFD}, {Fd: holderListenFD, Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			fmt.Fprintln(os.Stderr, "overcast mount-guard-holder: poll:", err)
			return 1
		}
		if fds[0].Revents != 0 { // POLLHUP: the machine's last process has exited
			return 0
		}
		if fds[1].Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
			fmt.Fprintln(os.Stderr, "overcast mount-guard-holder: the listening socket failed")
			return 1
		}
		if fds[1].Revents&unix.POLLIN != 0 {
			handOver()
		}
	}
}

// handOver accepts one connection and sends it the notify fd, if it comes from root.
func handOver() {
	conn, _, err := unix.Accept4(holderListenFD, unix.SOCK_CLOEXEC)
	if err != nil {
		return // the client gave up meanwhile (EAGAIN, ECONNABORTED): nothing to answer
	}
	defer unix.Close(conn)
	if cred, err := unix.GetsockoptUcred(conn, unix.SOL_SOCKET, unix.SO_PEERCRED); err != nil || cred.Uid != 0 {
		return
	}
	unix.Sendmsg(conn, []byte{'!'}, unix.UnixRights(holderNotifyFD), nil, unix.MSG_NOSIGNAL)
}

// guardServers lets a driver stop serving every machine's notify fd, for tests that hand the machines
// over to a second driver in the same process.
type guardServers struct {
	once sync.Once
	stop int // an eventfd, readable once the driver stops serving; -1 when it could not be made
	wg   sync.WaitGroup
}

func (g *guardServers) stopFD() int {
	g.once.Do(func() {
		var err error
		if g.stop, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
			g.stop = -1
		}
	})
	return g.stop
}

// serveGuard serves the machine's notify fd in the background, and closes it when done.
func (d *Driver) serveGuard(id string, fd int) {
	d.guards.wg.Add(1)
	go func() {
		defer d.guards.wg.Done()
		d.serveMounts(id, fd, d.guards.stopFD())
	}()
}

// stopServingGuards makes every serveMounts of the driver return, and waits for them. The machines'
// holders keep the fds.
func (d *Driver) stopServingGuards() {
	if fd := d.guards.stopFD(); fd >= 0 {
		unix.Write(fd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
	d.guards.wg.Wait()
}

// guard serves a machine's notify fd, just received from the runtime, and starts its holder. A machine
// whose holder cannot start still has its guard, until Overcast restarts.
func (d *Driver) guard(ctx context.Context, id string, m machineDir, fd int) {
	if err := d.startHolder(m, fd); err != nil {
		d.log.WarnContext(ctx, "mount guard: no holder; mounts in the machine will fail after a restart of Overcast until it reboots",
			"instance", id, "err", err)
	}
	d.serveGuard(id, fd)
}

// startHolder starts the machine's holder with a copy of fd and of a new listening socket.
func (d *Driver) startHolder(m machineDir, fd int) error {
	d.stopHolder(m) // one left from an earlier boot, which should have ended with it
	path := m.path(holderSocket)
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return fmt.Errorf("holder socket path %s is too long for a unix socket", path)
	}
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	listener := os.NewFile(uintptr(sock), "mount-guard-listener")
	defer listener.Close()
	if err := unix.Bind(sock, &unix.SockaddrUnix{Name: path}); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	if err := unix.Listen(sock, 16); err != nil {
		return err
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	notify := os.NewFile(uintptr(dup), "seccomp-notify")
	defer notify.Close()
	log, err := os.OpenFile(m.path(holderLog), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(d.cfg.InitBinary, MountGuardHolderCommand, path)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{notify, listener} // descriptors 3 and 4
	// Its own session, so that a signal to Overcast's process group (a terminal's ^C) does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reaps it when it ends while this process runs
	if err := writeFileAtomic(m.path(holderPID), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		cmd.Process.Kill()
		return err
	}
	return nil
}

// stopHolder ends the machine's holder, if it runs, and removes its files.
func (d *Driver) stopHolder(m machineDir) {
	defer os.Remove(m.path(holderSocket))
	defer os.Remove(m.path(holderPID))
	data, err := os.ReadFile(m.path(holderPID))
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if !isHolder(pid, m.path(holderSocket)) {
		return
	}
	unix.Kill(pid, unix.SIGTERM)
	if !waitExit(context.Background(), pid, 2*time.Second) {
		unix.Kill(pid, unix.SIGKILL)
		waitExit(context.Background(), pid, 2*time.Second)
	}
}

// isHolder says whether pid is a live holder serving the socket at path: a pid file can outlive its
// process, and the pid be taken by another.
func isHolder(pid int, path string) bool {
	if pid <= 0 || !alive(pid) {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	return len(args) == 3 && args[1] == MountGuardHolderCommand && args[2] == path
}

// fetchNotifyFD asks the holder at path for a copy of the machine's notify fd.
func fetchNotifyFD(path string) (int, error) {
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(sock)
	tv := unix.NsecToTimeval((5 * time.Second).Nanoseconds())
	unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Connect(sock, &unix.SockaddrUnix{Name: path}); err != nil {
		return -1, err
	}
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("the holder sent no descriptor (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("the holder sent no single descriptor (%v)", err)
	}
	return fds[0], nil
}

// adoptGuards serves the notify fds of the machines an earlier process left running, fetched from their
// holders. A holder runs only while its machine has a process, so whichever answers is a running machine's.
func (d *Driver) adoptGuards() {
	ids, _ := d.List(context.Background())
	for _, id := range ids {
		m := d.dir(id)
		path := m.path(holderSocket)
		if !fileExists(path) {
			continue
		}
		fd, err := fetchNotifyFD(path)
		if err != nil {
			d.log.Warn("mount guard: holder did not answer; mounts in the machine fail until it reboots", "instance", id, "err", err)
			continue
		}
		d.serveGuard(id, fd)
		d.log.Info("mount guard: serving again", "instance", id)
	}
}
