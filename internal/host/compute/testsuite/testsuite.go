// Package testsuite is the conformance suite every compute driver runs: what the EC2 service relies on,
// observed only through compute.Driver. It touches nothing on the host itself; a driver's own tests check
// its host objects.
package testsuite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
)

// NewDriver returns a driver to test and an image its machines can boot. It registers its own cleanup.
type NewDriver func(t *testing.T) (compute.Driver, compute.Image)

// Run runs the suite.
func Run(t *testing.T, newDriver NewDriver) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, compute.Driver, compute.Image)
	}{
		{"Lifecycle", testLifecycle},
		{"UserDataRunsOnce", testUserDataRunsOnce},
		{"Script", testScript},
		{"Undefined", testUndefined},
		{"InvalidSpec", testInvalidSpec},
		{"List", testList},
		{"Concurrent", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, img := newDriver(t)
			tc.fn(t, d, img)
		})
	}
}

// Timeout bounds every wait of the suite: booting a machine and running its user data.
const Timeout = 20 * time.Second

// NewID returns a fresh instance id.
func NewID() string {
	b := make([]byte, 9)
	rand.Read(b)
	return "i-" + hex.EncodeToString(b)[:17]
}

// Spec is a small machine of img.
func Spec(img compute.Image, userData string) compute.Spec {
	id := NewID()
	return compute.Spec{
		ID: id, Image: img, Hostname: "ip-172-31-0-" + id[len(id)-2:], VCPUs: 1, MemoryMiB: 256, PIDs: 256,
		Nameservers: []string{"172.31.0.2"}, UserData: []byte(userData), DefaultUser: "ec2-user",
		PublicKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFZ9WpvaoL3eL0zTT5LJlwOJzLIUbexJOwGH4nwnlVI0 suite"},
	}
}

// WaitConsole waits until the machine's console log contains want at least n times, and returns it.
func WaitConsole(t *testing.T, d compute.Driver, id, want string, n int) string {
	t.Helper()
	out, err := waitConsole(d, id, want, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func waitConsole(d compute.Driver, id, want string, n int) (string, error) {
	deadline := time.Now().Add(Timeout)
	for {
		out, err := d.ConsoleOutput(context.Background(), id)
		if err != nil {
			return "", fmt.Errorf("ConsoleOutput(%s): %w", id, err)
		}
		if strings.Count(string(out), want) >= n {
			return string(out), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("console of %s never showed %q %d times; it is:\n%s", id, want, n, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WantState fails the test unless the machine is in state want, and returns its status.
func WantState(t *testing.T, d compute.Driver, id string, want compute.State) compute.Status {
	t.Helper()
	st, err := d.Status(context.Background(), id)
	if err != nil {
		t.Fatalf("Status(%s): %v", id, err)
	}
	if st.State != want {
		t.Fatalf("Status(%s) = %+v, want %s", id, st, want)
	}
	return st
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Destroy registers the machine's destruction at the end of the test, whatever happens.
func Destroy(t *testing.T, d compute.Driver, id string) {
	t.Cleanup(func() {
		if err := d.Destroy(context.Background(), id); err != nil {
			t.Errorf("cleanup: Destroy(%s): %v", id, err)
		}
	})
}

// persistUserData writes a file on the root disk at first boot, and prints it at every boot.
func persistUserData(token string) string {
	return fmt.Sprintf(`#cloud-config
bootcmd:
  - echo boot-%[1]s
  - cat /var/tmp/suite-disk
write_files:
  - path: /var/tmp/suite-disk
    content: |
      disk-%[1]s
runcmd:
  - echo user-data-%[1]s
`, token)
}

func testLifecycle(t *testing.T, d compute.Driver, img compute.Image) {
	ctx := context.Background()
	token := NewID()[2:]
	spec := Spec(img, persistUserData(token))
	id := spec.ID
	must(t, "Define", d.Define(ctx, spec))
	Destroy(t, d, id)
	WantState(t, d, id, compute.StateStopped)

	must(t, "Start", d.Start(ctx, id))
	st := WantState(t, d, id, compute.StateRunning)
	if st.PID <= 0 || st.StartedAt.IsZero() {
		t.Errorf("running status lacks pid or start time: %+v", st)
	}
	must(t, "Start again", d.Start(ctx, id))
	if again := WantState(t, d, id, compute.StateRunning); again.PID != st.PID {
		t.Errorf("starting a running machine restarted it: pid %d, then %d", st.PID, again.PID)
	}
	WaitConsole(t, d, id, "user-data-"+token, 1)
	WaitConsole(t, d, id, guestinit.FinishedLine, 1)

	must(t, "Stop", d.Stop(ctx, id, 5*time.Second))
	WantState(t, d, id, compute.StateStopped)
	must(t, "Stop again", d.Stop(ctx, id, 5*time.Second))
	if ids, _ := d.List(ctx); !slices.Contains(ids, id) {
		t.Errorf("List after Stop = %v, lacks %s", ids, id)
	}

	// The second boot finds the file the first wrote: the root disk survived.
	must(t, "Start after Stop", d.Start(ctx, id))
	WantState(t, d, id, compute.StateRunning)
	out := WaitConsole(t, d, id, "disk-"+token, 1)
	out = WaitConsole(t, d, id, guestinit.FinishedLine, 2)
	if n := strings.Count(out, "boot-"+token); n != 2 {
		t.Errorf("bootcmd ran %d times in two boots", n)
	}

	must(t, "Destroy", d.Destroy(ctx, id))
	WantState(t, d, id, compute.StateMissing)
	must(t, "Destroy again", d.Destroy(ctx, id))
	if ids, _ := d.List(ctx); slices.Contains(ids, id) {
		t.Errorf("List after Destroy = %v, still has %s", ids, id)
	}
	if _, err := d.ConsoleOutput(ctx, id); !errors.Is(err, compute.ErrNotDefined) {
		t.Errorf("ConsoleOutput after Destroy: %v, want ErrNotDefined", err)
	}
	if err := d.Start(ctx, id); !errors.Is(err, compute.ErrNotDefined) {
		t.Errorf("Start after Destroy: %v, want ErrNotDefined", err)
	}
}

// testUserDataRunsOnce redefines a stopped machine with new user data: as on EC2, user data does not run
// again on the same root disk, but bootcmd does.
func testUserDataRunsOnce(t *testing.T, d compute.Driver, img compute.Image) {
	ctx := context.Background()
	first, second := NewID()[2:], NewID()[2:]
	spec := Spec(img, persistUserData(first))
	must(t, "Define", d.Define(ctx, spec))
	Destroy(t, d, spec.ID)
	must(t, "Start", d.Start(ctx, spec.ID))
	WaitConsole(t, d, spec.ID, guestinit.FinishedLine, 1)
	must(t, "Stop", d.Stop(ctx, spec.ID, time.Second))

	spec.UserData = []byte(persistUserData(second))
	spec.VCPUs, spec.MemoryMiB = 2, 512
	must(t, "Define again", d.Define(ctx, spec))
	must(t, "Start", d.Start(ctx, spec.ID))
	out := WaitConsole(t, d, spec.ID, guestinit.FinishedLine, 2)
	out = WaitConsole(t, d, spec.ID, "boot-"+second, 1)
	if strings.Contains(out, "user-data-"+second) {
		t.Errorf("new user data ran on a disk that had booted:\n%s", out)
	}
	if n := strings.Count(out, "user-data-"+first); n != 1 {
		t.Errorf("first user data ran %d times", n)
	}
	if !strings.Contains(out, "disk-"+first) {
		t.Errorf("the first boot's file is not on the disk:\n%s", out)
	}
}

func testScript(t *testing.T, d compute.Driver, img compute.Image) {
	ctx := context.Background()
	token := NewID()[2:]
	spec := Spec(img, "#!/bin/sh\necho script-"+token+"\n")
	must(t, "Define", d.Define(ctx, spec))
	Destroy(t, d, spec.ID)
	must(t, "Start", d.Start(ctx, spec.ID))
	WaitConsole(t, d, spec.ID, "script-"+token, 1)
}

func testUndefined(t *testing.T, d compute.Driver, img compute.Image) {
	ctx := context.Background()
	id := NewID()
	if err := d.Start(ctx, id); !errors.Is(err, compute.ErrNotDefined) {
		t.Errorf("Start of an undefined machine: %v, want ErrNotDefined", err)
	}
	if _, err := d.ConsoleOutput(ctx, id); !errors.Is(err, compute.ErrNotDefined) {
		t.Errorf("ConsoleOutput of an undefined machine: %v, want ErrNotDefined", err)
	}
	WantState(t, d, id, compute.StateMissing)
	must(t, "Destroy of a missing machine", d.Destroy(ctx, id))
}

func testInvalidSpec(t *testing.T, d compute.Driver, img compute.Image) {
	ctx := context.Background()
	for name, mutate := range map[string]func(*compute.Spec){
		"empty id":     func(s *compute.Spec) { s.ID = "" },
		"id with path": func(s *compute.Spec) { s.ID = "../etc" },
		"no image":     func(s *compute.Spec) { s.Image = compute.Image{} },
		"no memory":    func(s *compute.Spec) { s.MemoryMiB = 0 },
	} {
		spec := Spec(img, "")
		mutate(&spec)
		if err := d.Define(ctx, spec); err == nil {
			d.Destroy(ctx, spec.ID)
			t.Errorf("%s: Define accepted %+v", name, spec)
		}
	}
}

func testList(t *testing.T, d compute.Driver, img compute.Image) {
	ctx := context.Background()
	var ids []string
	for range 3 {
		spec := Spec(img, "")
		must(t, "Define", d.Define(ctx, spec))
		Destroy(t, d, spec.ID)
		ids = append(ids, spec.ID)
	}
	must(t, "Start", d.Start(ctx, ids[0]))
	got, err := d.List(ctx)
	must(t, "List", err)
	for _, id := range ids {
		if !slices.Contains(got, id) {
			t.Errorf("List = %v, lacks %s", got, id)
		}
	}
	must(t, "Destroy", d.Destroy(ctx, ids[0]))
	if got, _ := d.List(ctx); slices.Contains(got, ids[0]) {
		t.Errorf("List after Destroy = %v", got)
	}
}

func testConcurrent(t *testing.T, d compute.Driver, img compute.Image) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := NewID()[2:]
			spec := Spec(img, "#!/bin/sh\necho hello-"+token+"\n")
			if err := d.Define(ctx, spec); err != nil {
				errs <- err
				return
			}
			defer func() {
				if err := d.Destroy(ctx, spec.ID); err != nil {
					errs <- err
				}
			}()
			if err := d.Start(ctx, spec.ID); err != nil {
				errs <- err
				return
			}
			if _, err := waitConsole(d, spec.ID, "hello-"+token, 1); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// NewDevice returns the host path of a block device a machine may be given; it registers its own cleanup.
type NewDevice func(t *testing.T) string

// RunBlockDevices runs the suite's part about attached block devices.
func RunBlockDevices(t *testing.T, newDriver NewDriver, newDevice NewDevice) {
	t.Run("BlockDevices", func(t *testing.T) {
		d, img := newDriver(t)
		testBlockDevices(t, d, img, newDevice(t), newDevice(t))
	})
}

func testBlockDevices(t *testing.T, d compute.Driver, img compute.Image, host1, host2 string) {
	ctx := context.Background()
	xvdf := compute.BlockDevice{HostPath: host1, GuestPath: "/dev/xvdf"}
	if err := d.AttachBlock(ctx, NewID(), xvdf); !errors.Is(err, compute.ErrNotDefined) {
		t.Errorf("AttachBlock on an undefined machine = %v, want ErrNotDefined", err)
	}
	spec := Spec(img, "#cloud-config\nbootcmd:\n  - echo booted\n")
	must(t, "Define", d.Define(ctx, spec))
	Destroy(t, d, spec.ID)
	if err := d.AttachBlock(ctx, spec.ID, compute.BlockDevice{HostPath: host1, GuestPath: "/dev/sda1"}); err == nil {
		t.Error("AttachBlock at /dev/sda1 succeeded; want an invalid guest path")
	}
	wantDevices := func(want ...compute.BlockDevice) {
		t.Helper()
		got, err := d.BlockDevices(ctx, spec.ID)
		if err != nil {
			t.Fatalf("BlockDevices: %v", err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("BlockDevices = %+v, want %+v", got, want)
		}
	}
	// Attached while stopped: recorded, and still there after a boot.
	must(t, "AttachBlock (stopped)", d.AttachBlock(ctx, spec.ID, xvdf))
	must(t, "AttachBlock again (same device)", d.AttachBlock(ctx, spec.ID, xvdf))
	must(t, "Start", d.Start(ctx, spec.ID))
	WaitConsole(t, d, spec.ID, "booted", 1)
	wantDevices(xvdf)
	if err := d.AttachBlock(ctx, spec.ID, compute.BlockDevice{HostPath: host2, GuestPath: "/dev/xvdf"}); !errors.Is(err, compute.ErrDeviceInUse) {
		t.Errorf("AttachBlock of a second device at /dev/xvdf = %v, want ErrDeviceInUse", err)
	}
	// Attached while running, kept across stop and start.
	xvdg := compute.BlockDevice{HostPath: host2, GuestPath: "/dev/xvdg", ReadOnly: true, IOPS: 3000, MBps: 125}
	must(t, "AttachBlock (running)", d.AttachBlock(ctx, spec.ID, xvdg))
	must(t, "Stop", d.Stop(ctx, spec.ID, 5*time.Second))
	must(t, "Start", d.Start(ctx, spec.ID))
	WaitConsole(t, d, spec.ID, "booted", 2)
	wantDevices(xvdf, xvdg)
	must(t, "DetachBlock (running)", d.DetachBlock(ctx, spec.ID, "/dev/xvdf"))
	if err := d.DetachBlock(ctx, spec.ID, "/dev/xvdf"); !errors.Is(err, compute.ErrNotAttached) {
		t.Errorf("DetachBlock twice = %v, want ErrNotAttached", err)
	}
	must(t, "Stop", d.Stop(ctx, spec.ID, 5*time.Second))
	must(t, "DetachBlock (stopped)", d.DetachBlock(ctx, spec.ID, "/dev/xvdg"))
	wantDevices()
}
