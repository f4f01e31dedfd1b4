package linux

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
	"github.com/overcast-cloud/overcast/internal/host/compute/testsuite"
)

// boot defines and starts a machine with the user data and returns its spec; it is destroyed at the end.
func boot(t *testing.T, d *Driver, img compute.Image, userData string, tune func(*compute.Spec)) compute.Spec {
	t.Helper()
	ctx := context.Background()
	spec := testsuite.Spec(img, userData)
	if tune != nil {
		tune(&spec)
	}
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	testsuite.Destroy(t, d, spec.ID)
	if err := d.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	return spec
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

// consoleValue returns what follows "key=" on the console.
func consoleValue(out, key string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestConfinement checks, from inside a machine, what a user of it can see and do.
func TestConfinement(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	script := `#!/bin/sh
echo caps=$(grep CapEff /proc/self/status | cut -f2)
echo pid1=$(tr '\0' ' ' < /proc/1/cmdline)
echo procs=$(ls -d /proc/[0-9]* | wc -l)
echo timerlist=$(wc -c < /proc/timer_list)
echo host=$(hostname)
echo resolv=$(cat /etc/resolv.conf)
if mount -t tmpfs none /mnt 2>/dev/null; then echo mount=allowed; else echo mount=denied; fi
if echo x > /proc/sys/kernel/domainname 2>/dev/null; then echo procsys=writable; else echo procsys=readonly; fi
if unshare -n true 2>/dev/null; then echo unshare=allowed; else echo unshare=denied; fi
if mknod /tmp/sda b 8 0 2>/dev/null && head -c1 /tmp/sda >/dev/null 2>&1; then echo disk=readable; else echo disk=denied; fi
echo done-checks
`
	spec := boot(t, d, img, script, func(s *compute.Spec) { s.VCPUs, s.MemoryMiB, s.PIDs = 2, 300, 123 })
	out := testsuite.WaitConsole(t, d, spec.ID, "done-checks", 1)
	t.Logf("console:\n%s", out)
	want := map[string]string{
		"caps":      "00000000a80425fb", // exactly the default container set
		"pid1":      "/.overcast/init guest-init",
		"timerlist": "0", // masked: the host has a non-empty one
		"host":      spec.Hostname,
		"resolv":    "nameserver 172.31.0.2",
		"mount":     "denied",
		"procsys":   "readonly",
		"unshare":   "denied",
		"disk":      "denied",
	}
	for k, v := range want {
		if got := consoleValue(out, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// Only the machine's own processes: init, the script and its pipeline.
	if n, _ := strconv.Atoi(consoleValue(out, "procs")); n == 0 || n > 10 {
		t.Errorf("the machine sees %d processes:\n%s", n, out)
	}

	// The limits the instance type asks for are in the machine's cgroups.
	cg := d.cgroupPath(spec.ID)
	if got := readInt(t, "/sys/fs/cgroup/memory"+cg+"/memory.limit_in_bytes"); got != 300<<20 {
		t.Errorf("memory limit = %d", got)
	}
	if got := readInt(t, "/sys/fs/cgroup/cpu"+cg+"/cpu.cfs_quota_us"); got != 200000 {
		t.Errorf("cpu quota = %d", got)
	}
	if got := readInt(t, "/sys/fs/cgroup/pids"+cg+"/pids.max"); got != 123 {
		t.Errorf("pids.max = %d", got)
	}

	// The init installed the key for the default user, owned by the user, as sshd's StrictModes wants.
	keys := filepath.Join(string(d.dir(spec.ID)), "upper/home/ec2-user/.ssh/authorized_keys")
	st, err := os.Stat(keys)
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 1000 || st.Mode().Perm() != 0o600 {
		t.Errorf("authorized_keys uid %d mode %v", sys.Uid, st.Mode().Perm())
	}
	log, _ := os.ReadFile(filepath.Join(string(d.dir(spec.ID)), "upper/var/log/cloud-init-output.log"))
	if !strings.Contains(string(log), "done-checks") {
		t.Errorf("cloud-init-output.log lacks the user data's output:\n%s", log)
	}
}

// TestForkBomb: a fork bomb hits the machine's pids limit, and the host and the machine stay manageable.
func TestForkBomb(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	spec := boot(t, d, img, "#!/bin/sh\necho bomb-armed\nbomb() { bomb | bomb & }; bomb\n", func(s *compute.Spec) { s.PIDs = 64 })
	testsuite.WaitConsole(t, d, spec.ID, "bomb-armed", 1)
	events := "/sys/fs/cgroup/pids" + d.cgroupPath(spec.ID) + "/pids.events"
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(events)
		if f := strings.Fields(string(data)); len(f) == 2 && f[1] != "0" {
			break // the limit refused forks
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pids limit was never hit: %s", data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := readInt(t, "/sys/fs/cgroup/pids"+d.cgroupPath(spec.ID)+"/pids.current"); n > 64 {
		t.Errorf("pids.current = %d over the limit", n)
	}
	// The host still forks quickly.
	start := time.Now()
	if err := exec.Command("true").Run(); err != nil || time.Since(start) > 2*time.Second {
		t.Errorf("host fork: %v after %v", err, time.Since(start))
	}
	testsuite.WantState(t, d, spec.ID, compute.StateRunning)
	start = time.Now()
	if err := d.Stop(context.Background(), spec.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("stopping the bombed machine took %v", time.Since(start))
	}
	testsuite.WantState(t, d, spec.ID, compute.StateStopped)
}

// TestMemoryHog: a process that wants more memory than the instance type has is OOM-killed inside the
// machine; the machine's init survives.
func TestMemoryHog(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	script := "#!/bin/sh\necho hog-start\nx=$(head -c 400000000 /dev/zero | tr '\\0' a)\necho hog-survived ${#x}\n"
	spec := boot(t, d, img, script, func(s *compute.Spec) { s.MemoryMiB = 64 })
	out := testsuite.WaitConsole(t, d, spec.ID, guestinit.FinishedLine, 1)
	if strings.Contains(out, "hog-survived") {
		t.Fatalf("the hog got its memory:\n%s", out)
	}
	if d.oomKills(spec.ID) == 0 {
		t.Errorf("no OOM kill in the machine's cgroup:\n%s", out)
	}
	if max := readInt(t, "/sys/fs/cgroup/memory"+d.cgroupPath(spec.ID)+"/memory.max_usage_in_bytes"); max > 64<<20 {
		t.Errorf("the machine used %d bytes", max)
	}
	testsuite.WantState(t, d, spec.ID, compute.StateRunning)
}

// TestStopIsGraceful: the init passes SIGTERM on, so services can shut down within the grace period.
func TestStopIsGraceful(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	script := "#!/bin/sh\ntrap 'echo got-term; exit 0' TERM\necho waiting\nwhile true; do sleep 0.1; done\n"
	spec := boot(t, d, img, script, nil)
	testsuite.WaitConsole(t, d, spec.ID, "waiting", 1)
	start := time.Now()
	if err := d.Stop(context.Background(), spec.ID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Stop waited %v: the init did not end when its children did", took)
	}
	out, _ := d.ConsoleOutput(context.Background(), spec.ID)
	if !strings.Contains(string(out), "got-term") {
		t.Errorf("the script never saw SIGTERM:\n%s", out)
	}
	if mounted(d.dir(spec.ID).rootfs()) {
		t.Error("the root disk is still mounted after Stop")
	}
	if _, err := os.Stat(filepath.Join(string(d.dir(spec.ID)), "upper", guestinit.BootFinishedPath(spec.ID))); err != nil {
		t.Errorf("the first boot is not recorded on the root disk: %v", err)
	}
}

// TestAdoption: a new driver over the same state directory (Overcast restarted after SIGKILL) sees
// running machines running and stopped ones stopped, and can manage both.
func TestAdoption(t *testing.T) {
	d1 := newDriver(t)
	img := busyboxImage(t)
	ctx := context.Background()
	running := boot(t, d1, img, "#!/bin/sh\necho serving\nsleep 1000\n", nil)
	stopped := boot(t, d1, img, "", nil)
	if err := d1.Stop(ctx, stopped.ID, 0); err != nil {
		t.Fatal(err)
	}
	dying := boot(t, d1, img, "", nil)
	before := testsuite.WantState(t, d1, running.ID, compute.StateRunning)
	testsuite.WaitConsole(t, d1, running.ID, "serving", 1)

	d2, err := New(d1.cfg)
	if err != nil {
		t.Fatal(err)
	}
	after := testsuite.WantState(t, d2, running.ID, compute.StateRunning)
	if after.PID != before.PID || !after.StartedAt.Equal(before.StartedAt) {
		t.Errorf("adopted status %+v, was %+v", after, before)
	}
	testsuite.WantState(t, d2, stopped.ID, compute.StateStopped)
	ids, _ := d2.List(ctx)
	if fmt.Sprint(ids) == "[]" || len(ids) != 3 {
		t.Errorf("List = %v", ids)
	}

	// A machine whose init died while nobody watched is reported stopped, with a reason, and boots again.
	pid := testsuite.WantState(t, d2, dying.ID, compute.StateRunning).PID
	syscall.Kill(pid, syscall.SIGKILL)
	waitExit(ctx, pid, 5*time.Second)
	if st := testsuite.WantState(t, d2, dying.ID, compute.StateStopped); st.Reason == "" {
		t.Errorf("no reason for an unexpected stop: %+v", st)
	}
	if err := d2.Start(ctx, dying.ID); err != nil {
		t.Fatal(err)
	}
	testsuite.WantState(t, d2, dying.ID, compute.StateRunning)

	if err := d2.Stop(ctx, running.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	testsuite.WantState(t, d2, running.ID, compute.StateStopped)
	if alive(before.PID) {
		t.Errorf("init %d outlived Stop", before.PID)
	}
}
