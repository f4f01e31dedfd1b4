package linux

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/testsuite"
	"github.com/overcast-cloud/overcast/internal/testutil"
	"golang.org/x/sys/unix"
)

// counterUserData starts a counter whose count lives only in the shell's memory; each step is written to
// /run (a tmpfs: memory too) for the test to watch, with the shell's own pid. The same counter runs as
// ec2-user, with open-files limits of its own, in /run/user. A second loop, writing to the console, runs
// the commands the test puts in /run/cmd.
const counterUserData = `#!/bin/sh
counter='echo $$ > counter.pid; i=0; while :; do i=$((i+1)); echo $i > counter.new; mv counter.new counter; sleep 0.1; done'
(cd /run && exec sh -c "$counter") </dev/null >/dev/null 2>&1 &
mkdir -p /run/user && chown ec2-user /run/user
(cd /run/user && ulimit -S -n 777 && ulimit -H -n 888 && exec su ec2-user -s /bin/sh -c "$counter") </dev/null >/dev/null 2>&1 &
sh -c 'while :; do if [ -e /run/cmd ]; then sh /run/cmd; rm /run/cmd; fi; sleep 0.1; done' </dev/null &
echo counter-started
`

// TestHibernate: a machine's processes, root's and another user's, survive Hibernate and Start with their
// memory, pids, users and resource limits, on an overlay root disk and on a root volume.
func TestHibernate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		root  bool
		netns bool
	}{{"overlay", false, false}, {"root-volume", true, false}, {"netns", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.RequiresRoot(t)
			img := busyboxImage(t)
			var root *compute.BlockDevice
			var rootImage string
			if tc.root {
				var dev string
				dev, rootImage = rootVolume(t, img.LowerDirs[0])
				root = &compute.BlockDevice{HostPath: dev, GuestPath: "/dev/xvda"}
			}
			d := newDriver(t)
			requiresCRIU(t, d)
			ctx := context.Background()
			netns := ""
			if tc.netns {
				netns = newNetNS(t)
			}
			spec := boot(t, d, img, counterUserData, func(s *compute.Spec) { s.Root, s.NetNS = root, netns })
			testsuite.WaitConsole(t, d, spec.ID, "counter-started", 1)
			st := testsuite.WantState(t, d, spec.ID, compute.StateRunning)
			waitCounter(t, st.PID, "/run/counter", 5)
			guestPID := readInt(t, guestFile(st.PID, "/run/counter.pid"))
			hostPID := hostPIDOf(t, st.PID, guestPID)
			// CRIU reads this one's limits through the shim (criushim.go).
			waitCounter(t, st.PID, "/run/user/counter", 5)
			userGuestPID := readInt(t, guestFile(st.PID, "/run/user/counter.pid"))
			userHostPID := hostPIDOf(t, st.PID, userGuestPID)
			checkUserCounter(t, userHostPID)
			userBefore := readInt(t, guestFile(st.PID, "/run/user/counter"))

			before := readInt(t, guestFile(st.PID, "/run/counter"))
			began := time.Now()
			if err := d.Hibernate(ctx, spec.ID); err != nil {
				t.Fatal(err)
			}
			t.Logf("hibernate took %v (counter at %d)", time.Since(began), before)

			// Nothing of the machine runs, and its root disk is not mounted.
			testsuite.WantState(t, d, spec.ID, compute.StateStopped)
			if alive(st.PID) || alive(hostPID) || alive(userHostPID) {
				t.Errorf("processes of the machine still run after Hibernate (init %d, counters %d, %d)", st.PID, hostPID, userHostPID)
			}
			if mounted(d.dir(spec.ID).rootfs()) {
				t.Error("the root disk is still mounted after Hibernate")
			}
			if h, err := d.Hibernated(ctx, spec.ID); err != nil || !h {
				t.Errorf("Hibernated = %v, %v; want true", h, err)
			}

			if tc.root {
				// The volume comes back on another loop device, as after a restart of Overcast.
				other, _ := loopOver(t, rootImage)
				exec.Command("losetup", "-d", root.HostPath).Run()
				spec.Root = &compute.BlockDevice{HostPath: other, GuestPath: "/dev/xvda"}
				if err := d.Define(ctx, spec); err != nil {
					t.Fatal(err)
				}
			}
			began = time.Now()
			if err := d.Start(ctx, spec.ID); err != nil {
				t.Fatal(err)
			}
			t.Logf("resume took %v", time.Since(began))
			st = testsuite.WantState(t, d, spec.ID, compute.StateRunning)
			if out, _ := d.ConsoleOutput(ctx, spec.ID); strings.Contains(string(out), "cannot resume") {
				t.Fatalf("not resumed:\n%s", out)
			}
			after := readInt(t, guestFile(st.PID, "/run/counter"))
			if after < before {
				t.Errorf("counter after resume is %d, below %d at hibernation", after, before)
			}
			waitCounter(t, st.PID, "/run/counter", after+3)
			if got := readInt(t, guestFile(st.PID, "/run/counter.pid")); got != guestPID {
				t.Errorf("counter pid file says %d, want %d", got, guestPID)
			}
			hostPIDOf(t, st.PID, guestPID) // the same process, by its pid inside the machine
			userAfter := readInt(t, guestFile(st.PID, "/run/user/counter"))
			if userAfter < userBefore {
				t.Errorf("ec2-user's counter after resume is %d, below %d at hibernation", userAfter, userBefore)
			}
			waitCounter(t, st.PID, "/run/user/counter", userAfter+3)
			checkUserCounter(t, hostPIDOf(t, st.PID, userGuestPID))
			if tc.root {
				want, _ := hostDevice(spec.Root.HostPath)
				for _, p := range []string{"/dev/xvda", "/dev/sda"} {
					if got, err := hostDevice(guestFile(st.PID, p)); err != nil || got != want {
						t.Errorf("%s in the resumed machine is device %d (%v), want %d", p, got, err, want)
					}
				}
			}
			if h, _ := d.Hibernated(ctx, spec.ID); h {
				t.Error("Hibernated is still true after resuming")
			}
			out := testsuite.WaitConsole(t, d, spec.ID, "overcast: resumed from hibernation", 1)
			if n := strings.Count(out, "running 'init'"); n != 1 {
				t.Errorf("the machine booted %d times, want once:\n%s", n, out)
			}
			// The resumed processes still write to the console. Their mount(2) no longer reaches the mount
			// guard, whose listener did not come back.
			cmd := "echo console-after-resume\nmkdir -p /mnt/t\nmount -t tmpfs t /mnt/t; echo mount-rc=$?\n"
			if err := os.WriteFile(guestFile(st.PID, "/run/cmd"), []byte(cmd), 0o644); err != nil {
				t.Fatal(err)
			}
			out = testsuite.WaitConsole(t, d, spec.ID, "mount-rc=", 1)
			if !strings.Contains(out, "console-after-resume") {
				t.Errorf("the resumed processes' output is not on the console:\n%s", out)
			}
			t.Logf("mount after resume: %s", out[strings.LastIndex(out, "console-after-resume"):])
			if _, err := os.Stat(filepath.Join(d.dir(spec.ID).rootfs(), hibernationDir)); err == nil {
				t.Error("the saved state is still on the root disk after resuming")
			}

			// A later stop and start boots afresh: there is no saved state any more.
			if err := d.Stop(ctx, spec.ID, 0); err != nil {
				t.Fatal(err)
			}
			if err := d.Start(ctx, spec.ID); err != nil {
				t.Fatal(err)
			}
			testsuite.WaitConsole(t, d, spec.ID, "running 'init'", 2)
		})
	}
}

// TestHibernateTampered: a saved state changed on the root disk while the machine was stopped is not
// restored: the machine boots afresh and says why.
func TestHibernateTampered(t *testing.T) {
	d := newDriver(t)
	requiresCRIU(t, d)
	ctx := context.Background()
	spec := boot(t, d, busyboxImage(t), counterUserData, nil)
	testsuite.WaitConsole(t, d, spec.ID, "counter-started", 1)
	if err := d.Hibernate(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	// The overlay's upper directory is the root disk's content.
	pstree := filepath.Join(d.dir(spec.ID).upper(), hibernationDir, "pstree.img")
	if err := os.WriteFile(pstree, []byte("not a process tree"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	out := testsuite.WaitConsole(t, d, spec.ID, "running 'init'", 2)
	if !strings.Contains(out, "cannot resume from hibernation") {
		t.Errorf("console does not say why the machine booted:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(d.dir(spec.ID).rootfs(), hibernationDir)); err == nil {
		t.Error("the tampered state is still on the root disk")
	}
}

// TestHibernateRefused: a machine that is not running, or that has a volume mounted, is not hibernated,
// and one with a mounted volume keeps running.
func TestHibernateRefused(t *testing.T) {
	dev := newLoop(t, true)
	d := newDriver(t)
	requiresCRIU(t, d)
	ctx := context.Background()
	spec := testsuite.Spec(busyboxImage(t), "#!/bin/sh\nmkdir -p /data\nmount /dev/xvdf /data && echo mounted-data\n")
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	testsuite.Destroy(t, d, spec.ID)
	if err := d.AttachBlock(ctx, spec.ID, compute.BlockDevice{HostPath: dev, GuestPath: "/dev/xvdf"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Hibernate(ctx, spec.ID); !errors.Is(err, compute.ErrNotRunning) {
		t.Errorf("Hibernate of a stopped machine: %v, want ErrNotRunning", err)
	}
	if err := d.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	testsuite.WaitConsole(t, d, spec.ID, "mounted-data", 1)
	if err := d.Hibernate(ctx, spec.ID); !errors.Is(err, compute.ErrBusy) {
		t.Errorf("Hibernate with a mounted volume: %v, want ErrBusy", err)
	}
	testsuite.WantState(t, d, spec.ID, compute.StateRunning)
}

// requiresCRIU fails the test when the host's CRIU cannot checkpoint: scripts/deps.sh installs one that can.
func requiresCRIU(t *testing.T, d *Driver) {
	t.Helper()
	if _, err := d.criuPath(); err != nil {
		t.Fatalf("%v (run scripts/deps.sh)", err)
	}
}

// rootVolume makes a loop device over an ext4 image holding the tree at dir, and returns it and the image;
// it is detached at the end of the test.
func rootVolume(t *testing.T, dir string) (string, string) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "root.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 128<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(testutil.RequiresTool(t, "mkfs.ext4"), "-q", "-F", "-d", dir, img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	return loopOver(t, img)
}

// loopOver makes a loop device over the file img, detached at the end of the test.
func loopOver(t *testing.T, img string) (string, string) {
	t.Helper()
	losetup := testutil.RequiresTool(t, "losetup")
	out, err := exec.Command(losetup, "--find", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(losetup, "-d", dev).Run() })
	return dev, img
}

// guestFile is the host path of a file in the mount namespace of the machine whose init is initPID.
func guestFile(initPID int, path string) string {
	return fmt.Sprintf("/proc/%d/root%s", initPID, path)
}

// waitCounter waits until the machine's counter, written at path, reaches n.
func waitCounter(t *testing.T, initPID int, path string, n int64) {
	t.Helper()
	deadline := time.Now().Add(testsuite.Timeout)
	for {
		data, _ := os.ReadFile(guestFile(initPID, path))
		v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err == nil && v >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the counter never reached %d (it is %q)", n, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkUserCounter checks that the host process pid is ec2-user's counter of counterUserData: it runs as
// uid 1000 with its own open-files limits.
func checkUserCounter(t *testing.T, pid int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nUid:\t1000\t1000\t1000\t1000\n") {
		t.Errorf("ec2-user's counter does not run as uid 1000:\n%s", status)
	}
	if cur, max, err := procLimit(pid, unix.RLIMIT_NOFILE); err != nil || cur != 777 || max != 888 {
		t.Errorf("ec2-user's counter's open-files limits are %d and %d (%v), want 777 and 888", cur, max, err)
	}
}

// hostPIDOf finds the host pid of the process that has guestPID in the pid namespace of initPID.
func hostPIDOf(t *testing.T, initPID int, guestPID int64) int {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", initPID))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if other, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); other != ns {
			continue
		}
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
				f := strings.Fields(v)
				if len(f) > 1 && f[len(f)-1] == strconv.FormatInt(guestPID, 10) {
					return pid
				}
			}
		}
	}
	t.Fatalf("no process has pid %d in the machine", guestPID)
	return 0
}

// newNetNS makes a named network namespace, as the network layer does for an instance, and returns its
// path; it is deleted at the end of the test.
func newNetNS(t *testing.T) string {
	t.Helper()
	ip := testutil.RequiresTool(t, "ip")
	name := "oc-test-" + randomHex(4)
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command(ip, "netns", "del", name).Run() })
	return "/var/run/netns/" + name
}

// procLimit reads a resource's soft and hard limits of pid from /proc/<pid>/limits (only RLIMIT_NOFILE here).
func procLimit(pid int, resource int) (cur, max uint64, err error) {
	if resource != unix.RLIMIT_NOFILE {
		return 0, 0, fmt.Errorf("procLimit: resource %d not supported", resource)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) < 2 {
				break
			}
			if cur, err = strconv.ParseUint(f[0], 10, 64); err != nil {
				return 0, 0, err
			}
			max, err = strconv.ParseUint(f[1], 10, 64)
			return cur, max, err
		}
	}
	return 0, 0, fmt.Errorf("no open-files limit for %d", pid)
}
