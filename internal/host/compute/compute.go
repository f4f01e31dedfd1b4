// Package compute defines what a compute driver does: run a machine from an image with the limits of its
// instance type, on a network namespace the network layer prepared, with an init that runs user data at first
// boot and writes the console log. Drivers live beside this file: linux (namespaces, cgroups and overlayfs
// through an OCI runtime) and fake (scripted, for service tests). Every driver runs testsuite.Run.
//
// A driver names every host object (directories, mounts, cgroups, runtime containers) after the machine id,
// so that recovery and cleanup are exact.
package compute

import (
	"context"
	"errors"
	"time"
)

// Spec is what a machine is made of. Define may be called again with a changed Spec while the machine is
// stopped (a new instance type, new user data); the root disk is kept.
type Spec struct {
	ID    string // the instance id: i-0123456789abcdef0
	Image Image
	// Root, when set, is the machine's root volume: a host block device holding an ext4 filesystem, mounted
	// as the machine's "/" and shown inside it at Root.GuestPath, within Root's I/O limits. The root disk is
	// then the volume's, and Image.LowerDirs is not used. Without it the root disk is an overlay of the image.
	Root     *BlockDevice
	Hostname string // ip-172-31-5-9
	// Limits from the instance type.
	VCPUs     int
	MemoryMiB int
	PIDs      int
	// NetNS is the path of the network namespace to join; empty means a private namespace with loopback only.
	NetNS string
	// Nameservers go into /etc/resolv.conf.
	Nameservers []string
	// UserData runs once, at the first boot, as root: a #! script or #cloud-config (runcmd, bootcmd,
	// write_files). Later boots do not run it again.
	UserData    []byte
	DefaultUser string   // the AMI's default user: ec2-user, admin
	PublicKeys  []string // authorized_keys lines installed for DefaultUser
}

// Image is a root filesystem from the image store, as overlay lower directories (topmost first).
type Image struct {
	ID        string
	LowerDirs []string
}

// State is what the host says about a machine.
type State string

const (
	StateRunning State = "running"
	StateStopped State = "stopped" // defined, not running
	StateMissing State = "missing" // nothing on the host
)

// Status is a machine's state on the host.
type Status struct {
	State     State
	PID       int // the init's pid in the host's pid namespace, when running
	StartedAt time.Time
	// Reason says why a machine that should run does not: "exited 0", "killed by OOM", ...
	Reason string
}

// Driver runs machines.
type Driver interface {
	// Define creates the machine's root disk from spec.Image, or updates its spec when it exists. It does not
	// start it.
	Define(ctx context.Context, spec Spec) error
	// Start boots a defined machine. Starting a running machine is a no-op.
	Start(ctx context.Context, id string) error
	// Stop ends the machine's whole process tree: SIGTERM to init, then SIGKILL after grace. The root disk
	// is kept. Stopping a stopped machine is a no-op.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Destroy stops the machine and removes everything on the host named after it. Destroying a missing
	// machine is a no-op.
	Destroy(ctx context.Context, id string) error
	// Status reports the machine's state on the host.
	Status(ctx context.Context, id string) (Status, error)
	// ConsoleOutput returns the machine's console log so far (the init's and user data's output).
	ConsoleOutput(ctx context.Context, id string) ([]byte, error)
	// List returns the ids of every machine that has anything on the host, for recovery after a crash.
	List(ctx context.Context) ([]string, error)

	// AttachBlock gives a defined machine a host block device at dev.GuestPath (and its /dev/sdX alias).
	// A running machine sees it at once; the attachment is recorded with the machine, so every later
	// Start gives it again, until DetachBlock. The machine's root user may mount it, although it has no
	// CAP_SYS_ADMIN: the driver vets and performs such mounts. Attaching a second device at a used guest
	// path fails with ErrDeviceInUse.
	AttachBlock(ctx context.Context, id string, dev BlockDevice) error
	// DetachBlock takes the device at guestPath away. It fails with ErrBusy, leaving the device attached,
	// while the device is mounted in the running machine, and with ErrNotAttached when nothing is there.
	DetachBlock(ctx context.Context, id, guestPath string) error
	// BlockDevices returns the machine's recorded attachments, sorted by guest path.
	BlockDevices(ctx context.Context, id string) ([]BlockDevice, error)
}

// Hibernator is implemented by drivers that can hibernate a machine: keep its memory, and so its processes,
// across a stop. The EC2 service uses it for StopInstances with Hibernate.
type Hibernator interface {
	// Hibernate saves the running machine's whole process tree, memory included, on its root disk, then
	// stops it as Stop does. The next Start resumes those processes where they were instead of booting, and
	// discards the saved state; when they cannot be resumed, Start boots afresh and says why on the console.
	// A machine that cannot be hibernated is left running, and the error says why: it wraps
	// errors.ErrUnsupported when the host cannot hibernate at all, ErrNotRunning when the machine is not
	// running, and ErrBusy when an attached device is mounted in it.
	Hibernate(ctx context.Context, id string) error
	// Hibernated says whether the machine holds a hibernation that its next Start will resume.
	Hibernated(ctx context.Context, id string) (bool, error)
}

// ErrNotRunning is returned by Hibernate for a machine that is not running.
var ErrNotRunning = errors.New("compute: machine not running")

// BlockDevice is a host block device given to a machine.
type BlockDevice struct {
	HostPath  string // the device on the host: /dev/loop3
	GuestPath string // where the machine sees it: /dev/xvdf
	ReadOnly  bool
	// IOPS and MBps limit the machine's reads and its writes on the device, each; zero is no limit. They
	// are an EBS volume's provisioned performance.
	IOPS int
	MBps int
}

// Errors of AttachBlock and DetachBlock.
var (
	ErrDeviceInUse = errors.New("compute: guest device path in use")
	ErrNotAttached = errors.New("compute: no device attached at that path")
	ErrBusy        = errors.New("compute: device is mounted in the machine")
)

// ErrNotDefined is returned for operations on a machine that Define never made.
var ErrNotDefined = errors.New("compute: machine not defined")
