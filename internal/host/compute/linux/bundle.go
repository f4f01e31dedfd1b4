package linux

import (
	"path/filepath"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
)

// The subset of the OCI runtime specification (config.json) the driver writes. Field names follow
// opencontainers/runtime-spec v1.0.2, which runc 1.1 implements.
type ociSpec struct {
	OCIVersion string      `json:"ociVersion"`
	Process    ociProcess  `json:"process"`
	Root       ociRoot     `json:"root"`
	Hostname   string      `json:"hostname,omitempty"`
	Mounts     []ociMount  `json:"mounts"`
	Linux      ociLinuxCfg `json:"linux"`
}

type ociProcess struct {
	Terminal        bool            `json:"terminal"`
	User            ociUser         `json:"user"`
	Args            []string        `json:"args"`
	Env             []string        `json:"env"`
	Cwd             string          `json:"cwd"`
	Capabilities    ociCapabilities `json:"capabilities"`
	Rlimits         []ociRlimit     `json:"rlimits,omitempty"`
	NoNewPrivileges bool            `json:"noNewPrivileges"`
}

type ociUser struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

type ociCapabilities struct {
	Bounding    []string `json:"bounding"`
	Effective   []string `json:"effective"`
	Permitted   []string `json:"permitted"`
	Inheritable []string `json:"inheritable"`
	Ambient     []string `json:"ambient"`
}

type ociRlimit struct {
	Type string `json:"type"`
	Hard uint64 `json:"hard"`
	Soft uint64 `json:"soft"`
}

type ociRoot struct {
	Path     string `json:"path"`
	Readonly bool   `json:"readonly"`
}

type ociMount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
}

type ociLinuxCfg struct {
	Resources     ociResources   `json:"resources"`
	CgroupsPath   string         `json:"cgroupsPath"`
	Namespaces    []ociNamespace `json:"namespaces"`
	Devices       []ociDevice    `json:"devices,omitempty"`
	Seccomp       *ociSeccomp    `json:"seccomp,omitempty"`
	MaskedPaths   []string       `json:"maskedPaths"`
	ReadonlyPaths []string       `json:"readonlyPaths"`
}

type ociResources struct {
	Devices []ociDeviceRule `json:"devices"`
	Memory  *ociMemory      `json:"memory,omitempty"`
	CPU     *ociCPU         `json:"cpu,omitempty"`
	Pids    *ociPids        `json:"pids,omitempty"`
	BlockIO *ociBlockIO     `json:"blockIO,omitempty"`
}

type ociBlockIO struct {
	ReadBps   []ociThrottle `json:"throttleReadBpsDevice,omitempty"`
	WriteBps  []ociThrottle `json:"throttleWriteBpsDevice,omitempty"`
	ReadIOPS  []ociThrottle `json:"throttleReadIOPSDevice,omitempty"`
	WriteIOPS []ociThrottle `json:"throttleWriteIOPSDevice,omitempty"`
}

type ociThrottle struct {
	Major int64  `json:"major"`
	Minor int64  `json:"minor"`
	Rate  uint64 `json:"rate"`
}

type ociDevice struct {
	Path     string  `json:"path"`
	Type     string  `json:"type"`
	Major    int64   `json:"major"`
	Minor    int64   `json:"minor"`
	FileMode *uint32 `json:"fileMode,omitempty"`
	UID      *uint32 `json:"uid,omitempty"`
	GID      *uint32 `json:"gid,omitempty"`
}

type ociDeviceRule struct {
	Allow  bool   `json:"allow"`
	Type   string `json:"type,omitempty"`
	Major  *int64 `json:"major,omitempty"`
	Minor  *int64 `json:"minor,omitempty"`
	Access string `json:"access,omitempty"`
}

type ociMemory struct {
	Limit *int64 `json:"limit,omitempty"`
	Swap  *int64 `json:"swap,omitempty"`
}

type ociCPU struct {
	Shares *uint64 `json:"shares,omitempty"`
	Quota  *int64  `json:"quota,omitempty"`
	Period *uint64 `json:"period,omitempty"`
}

type ociPids struct {
	Limit int64 `json:"limit"`
}

type ociNamespace struct {
	Type string `json:"type"`
	Path string `json:"path,omitempty"`
}

type ociSeccomp struct {
	DefaultAction   string       `json:"defaultAction"`
	DefaultErrnoRet *uint        `json:"defaultErrnoRet,omitempty"`
	Architectures   []string     `json:"architectures"`
	Syscalls        []ociSyscall `json:"syscalls"`
	// ListenerPath is the unix socket the runtime sends the seccomp notify fd to (runtime-spec 1.0.2-dev,
	// runc 1.1).
	ListenerPath string `json:"listenerPath,omitempty"`
}

type ociSyscall struct {
	Names    []string        `json:"names"`
	Action   string          `json:"action"`
	ErrnoRet *uint           `json:"errnoRet,omitempty"`
	Args     []ociSeccompArg `json:"args,omitempty"`
}

type ociSeccompArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo"`
	Op       string `json:"op"`
}

// defaultCapabilities is the set container runtimes grant by default: enough to run sshd, sudo, su and
// package managers as root in the machine, not enough to administer the host's kernel, network or mounts.
var defaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
	"CAP_KILL", "CAP_AUDIT_WRITE",
}

// maskedPaths hide kernel interfaces that leak host information or control the host.
var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
	"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

func i64(v int64) *int64 { return &v }

// allowedDevices are the device nodes a machine may use: the standard character devices and its own
// pseudo-terminals; every other device is denied.
func allowedDevices() []ociDeviceRule {
	rules := []ociDeviceRule{{Allow: false, Access: "rwm"}}
	for _, d := range []struct {
		major, minor int64
	}{
		{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, // null, zero, full, random, urandom
		{5, 0}, {5, 1}, {5, 2}, // tty, console, ptmx
		{136, -1}, // pts
	} {
		r := ociDeviceRule{Allow: true, Type: "c", Major: i64(d.major), Access: "rwm"}
		if d.minor >= 0 {
			r.Minor = i64(d.minor)
		}
		rules = append(rules, r)
	}
	return rules
}

// bundleSpec is the OCI config for one boot of a machine with its attached devices.
func (d *Driver) bundleSpec(spec compute.Spec, m machineDir, devs bootDevices) ociSpec {
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.ID
	}
	memory := int64(spec.MemoryMiB) << 20
	mem := &ociMemory{Limit: &memory}
	if d.hasMemsw {
		// memory+swap equal to memory: a machine gets no swap, as on EC2.
		mem.Swap = &memory
	}
	quota, period, shares := int64(spec.VCPUs)*100000, uint64(100000), uint64(spec.VCPUs)*1024
	ns := []ociNamespace{{Type: "pid"}, {Type: "mount"}, {Type: "uts"}, {Type: "ipc"}, {Type: "cgroup"},
		{Type: "network", Path: spec.NetNS}}
	caps := defaultCapabilities
	return ociSpec{
		OCIVersion: "1.0.2",
		Process: ociProcess{
			Args: []string{filepath.Join(guestinit.BootDir, guestinit.FileInit), "guest-init"},
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"},
			Cwd:  "/",
			Capabilities: ociCapabilities{Bounding: caps, Effective: caps, Permitted: caps,
				Inheritable: []string{}, Ambient: []string{}},
			Rlimits: []ociRlimit{d.nofile},
			// sudo is setuid root: it must be able to gain privileges.
			NoNewPrivileges: false,
		},
		Root:     ociRoot{Path: m.rootfs()},
		Hostname: hostname,
		Mounts: []ociMount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755", "size=65536k"}},
			{Destination: guestinit.BootDir, Type: "bind", Source: m.boot(), Options: []string{"rbind", "ro", "nosuid", "nodev"}},
			{Destination: filepath.Join(guestinit.BootDir, guestinit.FileInit), Type: "bind", Source: d.cfg.InitBinary, Options: []string{"bind", "ro", "nodev"}},
		},
		Linux: ociLinuxCfg{
			Resources: ociResources{
				Devices: append(allowedDevices(), devs.rules...),
				BlockIO: devs.blockIO,
				Memory:  mem,
				CPU:     &ociCPU{Shares: &shares, Quota: &quota, Period: &period},
				Pids:    &ociPids{Limit: int64(spec.PIDs)},
			},
			CgroupsPath:   d.cgroupPath(spec.ID),
			Namespaces:    ns,
			Devices:       devs.nodes,
			Seccomp:       seccompProfile(m.path(mountGuardSocket)),
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
		},
	}
}
