// Package linux is the compute driver that runs machines as Linux containers through an OCI runtime (runc
// by default): each machine gets PID, mount, UTS, IPC and cgroup namespaces, the network namespace the
// network layer prepared, its root volume (or an overlay of its image) as root disk, cgroup limits from its
// instance type, a reduced capability set, a seccomp allowlist and masked kernel paths.
//
// It owns, per machine, StateDir/<id>/ (root disk, bundle, boot data, console log), the root mount at
// StateDir/<id>/rootfs, the runtime's container <id> under StateDir/.runc, and the cgroups
// /overcast[-<prefix>]/<id>; and the mount guard holder and its files in StateDir/.mount-guard. It keeps nothing in memory that it cannot read back from those, so a new
// Driver over the same StateDir adopts the machines an earlier process left running. It does not create
// network namespaces, images or volumes.
package linux

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
	"golang.org/x/sys/unix"
)

// Config configures the driver.
type Config struct {
	// StateDir holds one directory per machine, the runtime's state in StateDir/.runc and the mount guard
	// holder's in StateDir/.mount-guard. The driver owns it: every directory in it without a leading dot is
	// taken for a machine.
	StateDir string
	// Runtime is the OCI runtime binary; runc when empty. It must accept runc's command line.
	Runtime string
	// InitBinary is a statically linked binary that runs `guestinit.Main` when started as
	// `<binary> guest-init`; it is bind-mounted read-only into every machine.
	InitBinary string
	// Prefix tells apart the host objects of several Overcast installations (and of tests): cgroups are
	// made under /overcast-<Prefix>.
	Prefix string
	// CRIU is the criu binary that hibernates machines (hibernate.go); "criu" from PATH when empty.
	CRIU   string
	Logger *slog.Logger
}

// Driver runs machines as containers. It is safe for concurrent use; operations on one machine are
// serialized.
type Driver struct {
	cfg      Config
	runcRoot string
	hasMemsw bool
	nofile   ociRlimit
	log      *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex

	criu criuCheck // hibernate.go

	guards guardServers // guardholder.go
}

var _ compute.Driver = (*Driver)(nil)

// consoleKeep is how much of a console log is kept across boots once it has grown past consoleMax.
const consoleMax, consoleKeep = 4 << 20, 256 << 10

// New checks that the host can run machines and returns a driver over cfg.StateDir.
func New(cfg Config) (*Driver, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("linux: StateDir is required")
	}
	if cfg.Runtime == "" {
		cfg.Runtime = "runc"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rt, err := exec.LookPath(cfg.Runtime)
	if err != nil {
		return nil, fmt.Errorf("linux: OCI runtime %q not found (install runc): %w", cfg.Runtime, err)
	}
	cfg.Runtime = rt
	if err := checkStatic(cfg.InitBinary); err != nil {
		return nil, err
	}
	if cfg.InitBinary, err = filepath.Abs(cfg.InitBinary); err != nil {
		return nil, err
	}
	if fss, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(fss), "\toverlay\n") {
		return nil, errors.New("linux: the kernel has no overlay filesystem")
	}
	if !fileExists("/sys/fs/cgroup/memory/memory.limit_in_bytes") && !fileExists("/sys/fs/cgroup/cgroup.controllers") {
		return nil, errors.New("linux: no memory cgroup controller at /sys/fs/cgroup")
	}
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return nil, err
	}
	d := &Driver{
		cfg:      cfg,
		runcRoot: filepath.Join(cfg.StateDir, ".runc"),
		hasMemsw: fileExists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
		log:      cfg.Logger.With("driver", "linux"),
		locks:    map[string]*sync.Mutex{},
	}
	// Open files: 1024 soft, as on EC2 images, and as many hard as this process may grant.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	d.nofile = ociRlimit{Type: "RLIMIT_NOFILE", Soft: min(1024, lim.Max), Hard: lim.Max}
	if err := os.MkdirAll(d.runcRoot, 0o700); err != nil {
		return nil, fmt.Errorf("linux: %w", err)
	}
	d.adoptGuards()
	return d, nil
}

// checkStatic refuses an init binary that needs a dynamic loader: the images it runs on do not have ours.
func checkStatic(path string) error {
	if path == "" {
		return errors.New("linux: InitBinary is required")
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("linux: init binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("linux: init binary %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// machineDir is StateDir/<id>: the bundle of one machine.
//
//	spec.json     the compute.Spec last defined
//	upper/ work/  the overlay's upper and work directories: the root disk, without a root volume
//	rootfs/       where the root volume or the overlay is mounted while the machine runs
//	boot/         boot data, bind-mounted read-only at /.overcast
//	config.json   the OCI config of the current boot
//	console.log   the init's stdout and stderr, across boots
//	runc.log      the runtime's own log
//	init.pid      the init's host pid
//	devices.json  the attached block devices (blockdev.go)
//	mount.sock    where the runtime hands over the seccomp notify fd (mountguard.go)
//	hibernation.json, criu.sh, criu/   a hibernation's record, CRIU's options and its logs (hibernate.go)
type machineDir string

func (m machineDir) path(name string) string { return filepath.Join(string(m), name) }
func (m machineDir) rootfs() string          { return m.path("rootfs") }
func (m machineDir) upper() string           { return m.path("upper") }
func (m machineDir) boot() string            { return m.path("boot") }

func (d *Driver) dir(id string) machineDir { return machineDir(filepath.Join(d.cfg.StateDir, id)) }

func (d *Driver) cgroupParent() string {
	if d.cfg.Prefix == "" {
		return "overcast"
	}
	return "overcast-" + d.cfg.Prefix
}

func (d *Driver) cgroupPath(id string) string { return "/" + d.cgroupParent() + "/" + id }

func (d *Driver) lock(id string) func() {
	d.mu.Lock()
	l, ok := d.locks[id]
	if !ok {
		l = &sync.Mutex{}
		d.locks[id] = l
	}
	d.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Define implements compute.Driver.
func (d *Driver) Define(ctx context.Context, spec compute.Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	defer d.lock(spec.ID)()
	m := d.dir(spec.ID)
	for _, sub := range []string{"", "upper", "work", "rootfs", "boot"} {
		if err := os.MkdirAll(m.path(sub), 0o700); err != nil {
			return fmt.Errorf("linux: define %s: %w", spec.ID, err)
		}
	}
	// The upper directory's mode is the mode of the machine's "/": users other than root must traverse it.
	if err := os.Chmod(m.upper(), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return writeFileAtomic(m.path("spec.json"), data, 0o600)
}

func (d *Driver) readSpec(id string) (compute.Spec, error) {
	var spec compute.Spec
	data, err := os.ReadFile(d.dir(id).path("spec.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return spec, fmt.Errorf("%w: %s", compute.ErrNotDefined, id)
	}
	if err != nil {
		return spec, err
	}
	return spec, json.Unmarshal(data, &spec)
}

// Start implements compute.Driver.
func (d *Driver) Start(ctx context.Context, id string) error {
	defer d.lock(id)()
	spec, err := d.readSpec(id)
	if err != nil {
		return err
	}
	st, err := d.runtimeState(ctx, id)
	if err != nil {
		return err
	}
	switch st.Status {
	case "running":
		return nil
	case "":
	default:
		// A container left behind by a machine that stopped on its own, or by a crash between create and
		// start: clear it before booting again.
		if err := d.deleteContainer(ctx, id); err != nil {
			return err
		}
	}
	m := d.dir(id)
	devices, err := d.ociDevices(spec)
	if err != nil {
		return fmt.Errorf("linux: start %s: %w", id, err)
	}
	if err := mountRoot(spec, m); err != nil {
		return fmt.Errorf("linux: start %s: %w", id, err)
	}
	if err := d.writeBootData(spec, m); err != nil {
		unmount(m.rootfs())
		return fmt.Errorf("linux: start %s: boot data: %w", id, err)
	}
	// A hibernated machine resumes instead of booting (hibernate.go); when it cannot, it boots afresh.
	if d.resume(ctx, spec, m, devices) {
		return nil
	}
	guard, err := listenGuard(m)
	if err != nil {
		unmount(m.rootfs())
		return fmt.Errorf("linux: start %s: %w", id, err)
	}
	cfg, err := json.MarshalIndent(d.bundleSpec(spec, m, devices), "", "\t")
	if err == nil {
		err = writeFileAtomic(m.path("config.json"), cfg, 0o600)
	}
	if err == nil {
		err = d.run(ctx, id, m)
	}
	// The runtime has sent the notify fd by the time `run --detach` returns.
	var notifyFD int
	if err == nil {
		notifyFD, err = guard.wait(5 * time.Second)
	} else {
		guard.wait(0)
	}
	if err != nil {
		d.deleteContainer(context.WithoutCancel(ctx), id)
		unmount(m.rootfs())
		return fmt.Errorf("linux: start %s: %w", id, err)
	}
	d.guard(ctx, id, m, notifyFD)
	d.log.InfoContext(ctx, "machine started", "instance", id)
	return nil
}

// run starts the container detached. Its stdout and stderr are the console log file itself: a pipe would
// need a reader for the machine's whole life and never see EOF.
func (d *Driver) run(ctx context.Context, id string, m machineDir) error {
	trimConsole(m.path("console.log"))
	console, err := os.OpenFile(m.path("console.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer console.Close()
	runcLog := m.path("runc.log")
	os.Remove(runcLog)
	cmd := exec.CommandContext(ctx, d.cfg.Runtime, "--root", d.runcRoot, "--log", runcLog, "--log-format", "json",
		"run", "--detach", "--bundle", string(m), "--pid-file", m.path("init.pid"), id)
	cmd.Stdout, cmd.Stderr = console, console
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s run: %v: %s", filepath.Base(d.cfg.Runtime), err, runtimeError(runcLog))
	}
	return nil
}

// runtimeError is the last error the runtime logged.
func runtimeError(logFile string) string {
	data, _ := os.ReadFile(logFile)
	msg := ""
	for _, l := range strings.Split(string(data), "\n") {
		var e struct{ Level, Msg string }
		if json.Unmarshal([]byte(l), &e) == nil && (e.Level == "error" || e.Level == "fatal") {
			msg = e.Msg
		}
	}
	return msg
}

func trimConsole(p string) {
	st, err := os.Stat(p)
	if err != nil || st.Size() <= consoleMax {
		return
	}
	f, err := os.Open(p)
	if err != nil {
		return
	}
	tail := make([]byte, consoleKeep)
	n, _ := f.ReadAt(tail, st.Size()-consoleKeep)
	f.Close()
	writeFileAtomic(p, tail[:n], 0o600)
}

// writeBootData fills the directory the init reads at /.overcast.
func (d *Driver) writeBootData(spec compute.Spec, m machineDir) error {
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.ID
	}
	files := map[string]string{
		guestinit.FileInstanceID:     spec.ID,
		guestinit.FileHostname:       hostname,
		guestinit.FileNameservers:    strings.Join(spec.Nameservers, "\n"),
		guestinit.FileDefaultUser:    spec.DefaultUser,
		guestinit.FileAuthorizedKeys: strings.Join(spec.PublicKeys, "\n"),
		guestinit.FileUserData:       string(spec.UserData),
		// The mount point of the init binary: it must exist, because /.overcast is read-only by then.
		guestinit.FileInit: "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(m.boot(), name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	// Whether the root disk has finished a first boot is recorded on the root disk itself, so that it
	// follows the disk and not the driver.
	first := filepath.Join(m.boot(), guestinit.FileFirstBoot)
	if existsIn(m.rootfs(), guestinit.BootFinishedPath(spec.ID)) {
		if err := os.Remove(first); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return os.WriteFile(first, nil, 0o644)
}

// existsIn says whether path exists in the tree at root, resolving every link as the machine would, inside
// that tree: the root disk is the guest's to shape.
func existsIn(root, path string) bool {
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, strings.TrimPrefix(path, "/"), &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// Stop implements compute.Driver.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	defer d.lock(id)()
	return d.stop(ctx, id, grace)
}

func (d *Driver) stop(ctx context.Context, id string, grace time.Duration) error {
	if _, err := os.Stat(string(d.dir(id))); errors.Is(err, fs.ErrNotExist) && !d.hasContainer(id) {
		return fmt.Errorf("%w: %s", compute.ErrNotDefined, id)
	}
	st, err := d.runtimeState(ctx, id)
	if err != nil {
		return err
	}
	if st.Status == "running" || st.Status == "paused" || st.Status == "created" {
		if grace > 0 && st.Status == "running" {
			d.runtime(ctx, "kill", id, "TERM")
			waitExit(ctx, st.Pid, grace)
		}
		if alive(st.Pid) {
			// Killing the init of a PID namespace kills every process in it.
			d.runtime(ctx, "kill", id, "KILL")
			if !waitExit(ctx, st.Pid, 10*time.Second) {
				return fmt.Errorf("linux: stop %s: init %d survived SIGKILL", id, st.Pid)
			}
		}
	}
	if st.Status != "" {
		if err := d.deleteContainer(ctx, id); err != nil {
			return err
		}
	}
	d.stopHolder(id)
	if err := unmount(d.dir(id).rootfs()); err != nil {
		return fmt.Errorf("linux: stop %s: %w", id, err)
	}
	d.log.InfoContext(ctx, "machine stopped", "instance", id)
	return nil
}

// Destroy implements compute.Driver.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	defer d.lock(id)()
	m := d.dir(id)
	if err := d.stop(ctx, id, 0); err != nil && !errors.Is(err, compute.ErrNotDefined) {
		return err
	}
	// Never remove a directory with a mount under it: that would walk into the mount.
	if mounted(m.rootfs()) {
		return fmt.Errorf("linux: destroy %s: %s is still mounted", id, m.rootfs())
	}
	if err := os.RemoveAll(string(m)); err != nil {
		return fmt.Errorf("linux: destroy %s: %w", id, err)
	}
	d.removeCgroups(id)
	d.mu.Lock()
	delete(d.locks, id)
	d.mu.Unlock()
	d.log.InfoContext(ctx, "machine destroyed", "instance", id)
	return nil
}

// removeCgroups removes what the runtime may have left of the machine's cgroups, and the shared parent
// once it is empty.
func (d *Driver) removeCgroups(id string) {
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	for _, h := range hierarchies {
		parent := filepath.Join(h, d.cgroupParent())
		// A cgroup whose last processes are still exiting (in I/O, say) is busy for a moment.
		dir := filepath.Join(parent, id)
		for i := 0; i < 100 && errors.Is(os.Remove(dir), unix.EBUSY); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		os.Remove(parent) // fails while other machines use it, which is what we want
	}
}

// Status implements compute.Driver.
func (d *Driver) Status(ctx context.Context, id string) (compute.Status, error) {
	st, err := d.runtimeState(ctx, id)
	if err != nil {
		return compute.Status{}, err
	}
	switch st.Status {
	case "running":
		return compute.Status{State: compute.StateRunning, PID: st.Pid, StartedAt: st.Created}, nil
	case "":
		if _, err := os.Stat(d.dir(id).path("spec.json")); err == nil {
			return compute.Status{State: compute.StateStopped}, nil
		}
		if _, err := os.Stat(string(d.dir(id))); err == nil {
			return compute.Status{State: compute.StateStopped, Reason: "not fully defined"}, nil
		}
		return compute.Status{State: compute.StateMissing}, nil
	case "stopped":
		reason := "init exited"
		if d.oomKills(id) > 0 {
			reason = "killed by OOM"
		}
		return compute.Status{State: compute.StateStopped, StartedAt: st.Created, Reason: reason}, nil
	default:
		return compute.Status{State: compute.StateStopped, StartedAt: st.Created, Reason: "runtime state " + st.Status}, nil
	}
}

// oomKills reads how many processes the memory cgroup's OOM killer ended (cgroup v1).
func (d *Driver) oomKills(id string) int {
	data, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", d.cgroupParent(), id, "memory.oom_control"))
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// ConsoleOutput implements compute.Driver.
func (d *Driver) ConsoleOutput(ctx context.Context, id string) ([]byte, error) {
	data, err := os.ReadFile(d.dir(id).path("console.log"))
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(string(d.dir(id))); err != nil {
			return nil, fmt.Errorf("%w: %s", compute.ErrNotDefined, id)
		}
		return nil, nil
	}
	return data, err
}

// List implements compute.Driver: machine directories and runtime containers, whichever exist.
func (d *Driver) List(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	for _, dir := range []string{d.cfg.StateDir, d.runcRoot} {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				seen[e.Name()] = true
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// runtimeStatus is what `runc state` prints.
type runtimeStatus struct {
	Status  string    `json:"status"` // created, running, paused, stopped; "" when there is no container
	Pid     int       `json:"pid"`
	Created time.Time `json:"created"`
}

func (d *Driver) hasContainer(id string) bool {
	return fileExists(filepath.Join(d.runcRoot, id))
}

func (d *Driver) runtimeState(ctx context.Context, id string) (runtimeStatus, error) {
	var st runtimeStatus
	if !d.hasContainer(id) {
		return st, nil
	}
	out, err := d.runtime(ctx, "state", id)
	if err != nil {
		if !d.hasContainer(id) { // deleted meanwhile
			return runtimeStatus{}, nil
		}
		return st, err
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("linux: %s state %s: %w", d.cfg.Runtime, id, err)
	}
	if st.Status == "running" && !alive(st.Pid) {
		st.Status = "stopped"
	}
	return st, nil
}

func (d *Driver) deleteContainer(ctx context.Context, id string) error {
	if !d.hasContainer(id) {
		return nil
	}
	if _, err := d.runtime(ctx, "delete", "--force", id); err != nil && d.hasContainer(id) {
		return err
	}
	return nil
}

// runtime runs a short runtime command and returns its stdout.
func (d *Driver) runtime(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, d.cfg.Runtime, append([]string{"--root", d.runcRoot}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("linux: %s %s: %v: %s", filepath.Base(d.cfg.Runtime), strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// alive says whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may contain anything.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

func waitExit(ctx context.Context, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func writeFileAtomic(p string, data []byte, perm os.FileMode) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
