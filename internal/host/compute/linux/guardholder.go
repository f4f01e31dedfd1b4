package linux

// The guard holder keeps the machines' seccomp notify fds alive across restarts of Overcast. The runtime
// hands a machine's fd over once, when it boots (mountguard.go); were the Overcast process its only holder,
// a restart would leave the machine's mount(2) calls with nobody to answer them until its next boot.
//
// One holder serves every machine of a state directory: `<init binary> mount-guard-holder <socket>`, a small
// process in a session of its own, with no parent-death signal, given at exec the listening unix socket
// StateDir/.mount-guard/holder.sock (descriptor 3). Over it the driver puts a machine's fd (SCM_RIGHTS), gets a copy
// back, or drops it, one request per connection: "put <id>", "get <id>", "drop <id>", answered "ok" or
// "no". The holder never reads a notification itself. It closes a machine's fd when the fd reports POLLHUP
// (no process uses the filter any more: the machine stopped), and ends when it holds none after a drop or a
// hang-up, or on SIGTERM. The driver starts it again when it is needed and not answering.
//
// A new Driver over the same StateDir (a restarted Overcast) gets the fd of every machine the holder has and
// serves it. Only one process may serve a machine's fd at a time: two would race for each notification. The
// old process is dead when a new one starts; tests that run two drivers in one process stop the first one's
// serving (stopServingGuards) before making the second.

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

// MountGuardHolderCommand is the subcommand of the init binary that runs the guard holder.
const MountGuardHolderCommand = "mount-guard-holder"

// The holder's files, in StateDir/.mount-guard (a dot name is no machine's).
const (
	holderDir    = ".mount-guard"
	holderSocket = "holder.sock"
	holderPID    = "holder.pid"
	holderLog    = "holder.log"
)

// holderListenFD is the descriptor the holder's listening socket is given at.
const holderListenFD = 3

// MountGuardHolderMain is the holder's main, given the arguments after the subcommand: the socket's path,
// which is there only so that the driver can recognise the process. It returns when it holds nothing more.
func MountGuardHolderMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: overcast mount-guard-holder <socket> (descriptor 3: the listening socket)")
		return 2
	}
	held := map[string]int{} // machine id -> its notify fd
	// SIGTERM keeps its default action: the process ends, which is all there is to do.
	for {
		ids := make([]string, 0, len(held))
		// No events for the notify fds: POLLHUP is reported regardless, and POLLIN (a pending call) is
		// the serving process's business.
		fds := []unix.PollFd{{Fd: holderListenFD, Events: unix.POLLIN}}
		for id, fd := range held {
			ids = append(ids, id)
			fds = append(fds, unix.PollFd{Fd: int32(fd)})
		}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			fmt.Fprintln(os.Stderr, "overcast mount-guard-holder: poll:", err)
			return 1
		}
		released := false
		for i, id := range ids {
			if fds[i+1].Revents != 0 { // POLLHUP: the machine's last process has exited
				unix.Close(held[id])
				delete(held, id)
				released = true
			}
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
			fmt.Fprintln(os.Stderr, "overcast mount-guard-holder: the listening socket failed")
			return 1
		}
		if fds[0].Revents&unix.POLLIN != 0 && answer(held) {
			released = true
		}
		if released && len(held) == 0 {
			return 0
		}
	}
}

// answer accepts one connection and carries out its request; it says whether a machine's fd was dropped.
func answer(held map[string]int) (dropped bool) {
	conn, _, err := unix.Accept4(holderListenFD, unix.SOCK_CLOEXEC)
	if err != nil {
		return false // the client gave up meanwhile (EAGAIN, ECONNABORTED): nothing to answer
	}
	defer unix.Close(conn)
	if cred, err := unix.GetsockoptUcred(conn, unix.SOL_SOCKET, unix.SO_PEERCRED); err != nil || cred.Uid != 0 {
		return false
	}
	tv := unix.NsecToTimeval((2 * time.Second).Nanoseconds())
	unix.SetsockoptTimeval(conn, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	req, got, err := recvWithFD(conn)
	if err != nil {
		return false
	}
	reply := func(msg string, fd int) {
		var oob []byte
		if fd >= 0 {
			oob = unix.UnixRights(fd)
		}
		unix.Sendmsg(conn, []byte(msg), oob, nil, unix.MSG_NOSIGNAL)
	}
	op, id, _ := strings.Cut(req, " ")
	have, holding := held[id]
	switch {
	case op == "put" && id != "" && got >= 0:
		if holding {
			unix.Close(have)
		}
		held[id] = got
		reply("ok", -1)
	case op == "get" && holding:
		reply("ok", have)
	case op == "drop":
		if holding {
			unix.Close(have)
			delete(held, id)
		}
		reply("ok", -1)
		return holding
	default:
		if got >= 0 {
			unix.Close(got)
		}
		reply("no", -1)
	}
	return false
}

// recvWithFD reads one message and the descriptor that came with it (-1 when none did).
func recvWithFD(sock int) (string, int, error) {
	buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return "", -1, err
	}
	fd := -1
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
		if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil {
			for i, f := range fds {
				if i == 0 {
					fd = f
				} else {
					unix.Close(f)
				}
			}
		}
	}
	return string(buf[:n]), fd, nil
}

// guardServers lets a driver stop serving every machine's notify fd, for tests that hand the machines
// over to a second driver in the same process.
type guardServers struct {
	once sync.Once
	stop int // an eventfd, readable once the driver stops serving; -1 when it could not be made
	wg   sync.WaitGroup
	mu   sync.Mutex // serializes the driver's requests to the holder, and its start
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

// stopServingGuards makes every serveMounts of the driver return, and waits for them. The holder keeps the
// fds.
func (d *Driver) stopServingGuards() {
	if fd := d.guards.stopFD(); fd >= 0 {
		unix.Write(fd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
	d.guards.wg.Wait()
}

// guard serves a machine's notify fd, just received from the runtime, and gives the holder a copy. A machine
// the holder does not keep still has its guard, until Overcast restarts.
func (d *Driver) guard(ctx context.Context, id string, m machineDir, fd int) {
	if err := d.holdFD(id, fd); err != nil {
		d.log.WarnContext(ctx, "mount guard: not held; mounts in the machine will fail after a restart of Overcast until it reboots",
			"instance", id, "err", err)
	}
	d.serveGuard(id, fd)
}

func (d *Driver) holderPath(name string) string { return d.cfg.StateDir + "/" + holderDir + "/" + name }

// holdFD puts a copy of the machine's fd in the holder, starting the holder when none answers.
func (d *Driver) holdFD(id string, fd int) error {
	d.guards.mu.Lock()
	defer d.guards.mu.Unlock()
	if _, _, err := d.askHolder("put "+id, fd); err == nil {
		return nil
	}
	if err := d.startHolder(); err != nil {
		return err
	}
	_, _, err := d.askHolder("put "+id, fd)
	return err
}

// stopHolder drops the machine's fd from the holder, which ends once it holds none. A holder that is not
// there has nothing of the machine.
func (d *Driver) stopHolder(id string) {
	d.guards.mu.Lock()
	defer d.guards.mu.Unlock()
	d.askHolder("drop "+id, -1)
}

// askHolder sends one request, with fd when it is not -1, and returns the holder's answer and the
// descriptor that came with it (-1 when none did).
func (d *Driver) askHolder(req string, fd int) (string, int, error) {
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", -1, err
	}
	defer unix.Close(sock)
	tv := unix.NsecToTimeval((5 * time.Second).Nanoseconds())
	unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Connect(sock, &unix.SockaddrUnix{Name: d.holderPath(holderSocket)}); err != nil {
		return "", -1, err
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	if err := unix.Sendmsg(sock, []byte(req), oob, nil, unix.MSG_NOSIGNAL); err != nil {
		return "", -1, err
	}
	answer, got, err := recvWithFD(sock)
	switch {
	case err != nil:
		return "", -1, err
	case answer != "ok":
		if got >= 0 {
			unix.Close(got)
		}
		return answer, -1, fmt.Errorf("the mount guard holder answered %q to %q", answer, req)
	}
	return answer, got, nil
}

// startHolder starts the holder with a new listening socket, ending one that runs but does not answer.
func (d *Driver) startHolder() error {
	d.killHolder()
	path := d.holderPath(holderSocket)
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return fmt.Errorf("holder socket path %s is too long for a unix socket", path)
	}
	if err := os.MkdirAll(d.holderPath(""), 0o700); err != nil {
		return err
	}
	os.Remove(path)
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
	if err := unix.Listen(sock, 64); err != nil {
		return err
	}
	log, err := os.OpenFile(d.holderPath(holderLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(d.cfg.InitBinary, MountGuardHolderCommand, path)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{listener} // descriptor 3
	// Its own session, so that a signal to Overcast's process group (a terminal's ^C) does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reaps it when it ends while this process runs
	if err := writeFileAtomic(d.holderPath(holderPID), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		cmd.Process.Kill()
		return err
	}
	return nil
}

// killHolder ends the holder named by the pid file, if that process is this state directory's holder.
func (d *Driver) killHolder() {
	data, err := os.ReadFile(d.holderPath(holderPID))
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if !isHolder(pid, d.holderPath(holderSocket)) {
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

// adoptGuards serves the notify fds of the machines an earlier process left running, got from the holder.
// The holder keeps a machine's fd only while the machine has a process, so each it has is a running one's.
func (d *Driver) adoptGuards() {
	ids, _ := d.List(context.Background())
	for _, id := range ids {
		d.guards.mu.Lock()
		_, fd, err := d.askHolder("get "+id, -1)
		d.guards.mu.Unlock()
		if err != nil || fd < 0 {
			continue
		}
		d.serveGuard(id, fd)
		d.log.Info("mount guard: serving again", "instance", id)
	}
}
