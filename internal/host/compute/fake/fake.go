// Package fake is a compute driver that runs nothing on the host: machines are state in memory, and their
// user data is carried out by a toy interpreter (echo, cat and redirections into an in-memory root disk),
// so that the EC2 service's tests see consoles, first-boot semantics and a disk that survives stop/start
// without root. It passes the same conformance suite as the linux driver.
//
// User data may script the machine's behaviour with comment lines, in the way of Nomad's mock driver:
//
//	#fake: start_error=no capacity   Start fails with this message
//	#fake: stop_error=stuck          Stop fails with this message
//	#fake: exit_after=2s             the machine stops on its own after running this long ("init exited")
//	#fake: oom_after=2s              as exit_after, with the reason "killed by OOM"
//	#fake: hibernate_error=no room   Hibernate fails with this message, and the machine runs on
//
// It owns nothing outside its own memory.
package fake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
)

// Driver is the fake driver. It is safe for concurrent use.
type Driver struct {
	mu       sync.Mutex
	machines map[string]*machine
	nextPID  int
	frozen   frozenSet // freeze.go
}

var _ compute.Driver = (*Driver)(nil)

// New returns an empty driver.
func New() *Driver { return &Driver{machines: map[string]*machine{}, nextPID: 1000} }

type machine struct {
	spec      compute.Spec
	running   bool
	pid       int
	startedAt time.Time
	reason    string
	console   bytes.Buffer
	disk      map[string][]byte // the root disk: path -> content
	booted    bool              // the disk has finished a first boot
	exit      *time.Timer
	boots     int                            // tells a timer of an earlier boot from the current one
	devices   map[string]compute.BlockDevice // attached block devices by guest path
	mounted   map[string]bool                // guest paths the test says are mounted (SetMounted)
	asleep    bool                           // hibernated: the next Start resumes (hibernate.go)
}

// directives reads the #fake: lines of user data.
func directives(userData []byte) map[string]string {
	out := map[string]string{}
	text := string(userData)
	if ud, err := guestinit.ParseUserData(userData); err == nil && ud.Kind == guestinit.KindScript {
		text = string(ud.Script)
	}
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "#fake:")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
				out[k] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// Define implements compute.Driver.
func (d *Driver) Define(ctx context.Context, spec compute.Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if m, ok := d.machines[spec.ID]; ok {
		m.spec = spec
		return nil
	}
	d.machines[spec.ID] = &machine{spec: spec, disk: map[string][]byte{},
		devices: map[string]compute.BlockDevice{}, mounted: map[string]bool{}}
	return nil
}

func (d *Driver) get(id string) (*machine, error) {
	m, ok := d.machines[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", compute.ErrNotDefined, id)
	}
	return m, nil
}

// Start implements compute.Driver.
func (d *Driver) Start(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.get(id)
	if err != nil || m.running {
		return err
	}
	dir := directives(m.spec.UserData)
	if msg, ok := dir["start_error"]; ok {
		return fmt.Errorf("fake: start %s: %s", id, msg)
	}
	if m.asleep {
		m.resume()
		return nil
	}
	d.nextPID++
	m.running, m.pid, m.startedAt, m.reason = true, d.nextPID, time.Now(), ""
	m.boots++
	m.boot()
	for key, reason := range map[string]string{"exit_after": "init exited", "oom_after": "killed by OOM"} {
		if v, ok := dir[key]; ok {
			after, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("fake: %s=%q: %w", key, v, err)
			}
			boot := m.boots
			m.exit = time.AfterFunc(after, func() {
				d.mu.Lock()
				defer d.mu.Unlock()
				if m.running && m.boots == boot {
					m.running, m.reason = false, reason
				}
			})
		}
	}
	return nil
}

// Stop implements compute.Driver.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.get(id)
	if err != nil || !m.running {
		return err
	}
	if msg, ok := directives(m.spec.UserData)["stop_error"]; ok {
		return fmt.Errorf("fake: stop %s: %s", id, msg)
	}
	m.stop()
	return nil
}

func (m *machine) stop() {
	if m.exit != nil {
		m.exit.Stop()
	}
	m.running, m.reason = false, ""
	clear(m.mounted) // a stop unmounts everything
	m.console.WriteString("overcast-init: received terminated, stopping all processes\n")
}

// Destroy implements compute.Driver.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m, ok := d.machines[id]; ok {
		if m.running {
			m.stop()
		}
		delete(d.machines, id)
	}
	return nil
}

// Status implements compute.Driver.
func (d *Driver) Status(ctx context.Context, id string) (compute.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.machines[id]
	switch {
	case !ok:
		return compute.Status{State: compute.StateMissing}, nil
	case m.running:
		return compute.Status{State: compute.StateRunning, PID: m.pid, StartedAt: m.startedAt}, nil
	default:
		return compute.Status{State: compute.StateStopped, StartedAt: m.startedAt, Reason: m.reason}, nil
	}
}

// ConsoleOutput implements compute.Driver.
func (d *Driver) ConsoleOutput(ctx context.Context, id string) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.get(id)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(m.console.Bytes()), nil
}

// List implements compute.Driver.
func (d *Driver) List(ctx context.Context) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ids := make([]string, 0, len(d.machines))
	for id := range d.machines {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// AttachBlock implements compute.Driver: the attachment is only recorded.
func (d *Driver) AttachBlock(ctx context.Context, id string, dev compute.BlockDevice) error {
	if err := dev.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.get(id)
	if err != nil {
		return err
	}
	if m.spec.Root != nil && m.spec.Root.GuestPath == dev.GuestPath {
		return fmt.Errorf("%w: %s is the root volume of %s", compute.ErrDeviceInUse, dev.GuestPath, id)
	}
	if old, ok := m.devices[dev.GuestPath]; ok {
		if old == dev {
			return nil
		}
		return fmt.Errorf("%w: %s on %s", compute.ErrDeviceInUse, dev.GuestPath, id)
	}
	m.devices[dev.GuestPath] = dev
	return nil
}

// DetachBlock implements compute.Driver. A device SetMounted marked as mounted in a running machine is
// busy.
func (d *Driver) DetachBlock(ctx context.Context, id, guestPath string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.get(id)
	if err != nil {
		return err
	}
	if _, ok := m.devices[guestPath]; !ok {
		return fmt.Errorf("%w: %s on %s", compute.ErrNotAttached, guestPath, id)
	}
	if m.running && m.mounted[guestPath] {
		return fmt.Errorf("%w: %s on %s", compute.ErrBusy, guestPath, id)
	}
	delete(m.devices, guestPath)
	delete(m.mounted, guestPath)
	return nil
}

// BlockDevices implements compute.Driver.
func (d *Driver) BlockDevices(ctx context.Context, id string) ([]compute.BlockDevice, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.get(id)
	if err != nil {
		return nil, err
	}
	out := make([]compute.BlockDevice, 0, len(m.devices))
	for _, dev := range m.devices {
		out = append(out, dev)
	}
	slices.SortFunc(out, func(a, b compute.BlockDevice) int { return strings.Compare(a.GuestPath, b.GuestPath) })
	return out, nil
}

// SetMounted says whether the device at guestPath is mounted inside the machine, as a guest's mount would
// make it, so that tests see DetachBlock refuse a busy device.
func (d *Driver) SetMounted(id, guestPath string, mounted bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m, ok := d.machines[id]; ok {
		m.mounted[guestPath] = mounted
	}
}

// ReadFile returns a file of a machine's root disk, for tests that check what user data wrote.
func (d *Driver) ReadFile(id, path string) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, err := d.get(id)
	if err != nil {
		return nil, err
	}
	data, ok := m.disk[path]
	if !ok {
		return nil, errors.New("fake: no such file: " + path)
	}
	return bytes.Clone(data), nil
}

// boot does what the guest init does, in its order, with the toy interpreter.
func (m *machine) boot() {
	stamp := time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700")
	fmt.Fprintf(&m.console, "Cloud-init v. overcast running 'init' at %s. Up 0.00 seconds.\n", stamp)
	ud, err := guestinit.ParseUserData(m.spec.UserData)
	if err != nil {
		fmt.Fprintf(&m.console, "overcast-init: user data: %v\n", err)
	}
	if ud.Kind == guestinit.KindCloudConfig {
		for _, c := range ud.Config.BootCmd {
			m.sh(c.ShellLine())
		}
	}
	if !m.booted {
		switch ud.Kind {
		case guestinit.KindScript:
			m.sh(string(ud.Script))
		case guestinit.KindCloudConfig:
			for _, wf := range ud.Config.WriteFiles {
				if wf.Append {
					m.disk[wf.Path] = append(m.disk[wf.Path], wf.Content...)
				} else {
					m.disk[wf.Path] = bytes.Clone(wf.Content)
				}
			}
			for _, c := range ud.Config.RunCmd {
				m.sh(c.ShellLine())
			}
		}
		m.booted = true
	}
	fmt.Fprintf(&m.console, "%s%s. Datasource DataSourceEc2.  Up 0.01 seconds\n", guestinit.FinishedLine, stamp)
}

// sh interprets the few shell commands the fake understands: echo and cat, with > and >> into the disk.
// Anything else is reported on the console and otherwise ignored.
func (m *machine) sh(script string) {
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, cmd := range strings.FieldsFunc(line, func(r rune) bool { return r == ';' }) {
			for _, part := range strings.Split(cmd, "&&") {
				m.run(words(part))
			}
		}
	}
}

func (m *machine) run(argv []string) {
	var target string
	var appendTo bool
	var rest []string
	for i := 0; i < len(argv); i++ {
		w := argv[i]
		switch {
		case w == ">" || w == ">>":
			if i+1 < len(argv) {
				target, appendTo = argv[i+1], w == ">>"
				i++
			}
		case strings.HasPrefix(w, "2>"):
			// stderr of the toy commands goes to the console anyway
		case strings.HasPrefix(w, ">>"):
			target, appendTo = w[2:], true
		case strings.HasPrefix(w, ">"):
			target = w[1:]
		default:
			rest = append(rest, w)
		}
	}
	argv = rest
	if len(argv) == 0 {
		return
	}
	var out bytes.Buffer
	switch argv[0] {
	case "echo":
		out.WriteString(strings.Join(argv[1:], " ") + "\n")
	case "cat":
		for _, p := range argv[1:] {
			if data, ok := m.disk[p]; ok {
				out.Write(data)
			} else {
				fmt.Fprintf(&m.console, "cat: can't open '%s': No such file or directory\n", p)
			}
		}
	case "true", ":", "sleep", "exit":
	default:
		fmt.Fprintf(&m.console, "fake: %s: not simulated\n", argv[0])
	}
	switch {
	case target == "":
		m.console.Write(out.Bytes())
	case appendTo:
		m.disk[target] = append(m.disk[target], out.Bytes()...)
	default:
		m.disk[target] = out.Bytes()
	}
}

// words splits a command line into words, honouring single and double quotes.
func words(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// Spec returns the spec the machine was last defined with.
func (d *Driver) Spec(id string) (compute.Spec, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.machines[id]
	if !ok {
		return compute.Spec{}, false
	}
	return m.spec, true
}
