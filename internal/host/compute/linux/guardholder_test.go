package linux

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/testsuite"
	"golang.org/x/sys/unix"
)

// TestMountGuardAfterRestart: the driver that started a machine goes away (as Overcast does when it
// restarts); a mount the machine makes meanwhile waits, and a new driver over the same state directory
// answers it: root in the machine mounts its attached volume, writes to it and unmounts it. Stopping the
// machine ends its holder.
func TestMountGuardAfterRestart(t *testing.T) {
	a := newDriver(t)
	ctx := context.Background()
	loop := newLoop(t, true)
	script := `#!/bin/sh
mkdir -p /mnt
while [ ! -b /dev/xvdf ]; do sleep 0.05; done
echo device-ready
while [ ! -e /tmp/mount-now ]; do sleep 0.05; done
if mount -t ext4 /dev/xvdf /mnt; then echo mount=ok; else echo mount=failed; fi
echo after-restart > /mnt/file && echo write=ok
if umount /mnt; then echo umount=ok; else echo umount=failed; fi
echo checks-done
`
	spec := boot(t, a, busyboxImage(t), script, nil)
	if err := a.AttachBlock(ctx, spec.ID, compute.BlockDevice{HostPath: loop, GuestPath: "/dev/xvdf"}); err != nil {
		t.Fatal(err)
	}
	testsuite.WaitConsole(t, a, spec.ID, "device-ready", 1)
	m := a.dir(spec.ID)
	pid := holderOf(t, a)

	a.stopServingGuards() // Overcast "dies"; the holder keeps the fd
	if err := os.WriteFile(filepath.Join(m.rootfs(), "tmp/mount-now"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if out, _ := a.ConsoleOutput(ctx, spec.ID); bytes.Contains(out, []byte("mount=")) {
		t.Fatalf("the mount was answered while no driver served the machine:\n%s", out)
	}

	began := time.Now()
	b, err := New(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("New adopted the guard in %v", time.Since(began))
	out := testsuite.WaitConsole(t, b, spec.ID, "checks-done", 1)
	for _, want := range []string{"mount=ok", "write=ok", "umount=ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	if err := b.Stop(ctx, spec.ID, 0); err != nil {
		t.Fatal(err)
	}
	if !waitExit(ctx, pid, 5*time.Second) {
		t.Errorf("holder %d still runs after its only machine stopped", pid)
	}
	b.stopServingGuards() // returns only once the guard of the stopped machine has returned
}

// TestMountGuardHolderEndsWithMachine: the holder lets a machine's fd go when the machine's processes are
// gone without the driver (the machine's init died), and ends when that was the last one it held.
func TestMountGuardHolderEndsWithMachine(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	spec := boot(t, d, busyboxImage(t), "#!/bin/sh\necho booted\n", nil)
	testsuite.WaitConsole(t, d, spec.ID, "booted", 1)
	pid := holderOf(t, d)
	if _, err := d.runtime(ctx, "kill", spec.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	if !waitExit(ctx, pid, 10*time.Second) {
		t.Fatalf("holder %d survived its machine", pid)
	}
	d.stopServingGuards()
	if _, _, err := d.askHolder("get "+spec.ID, -1); err == nil {
		t.Error("a holder answered for a machine that stopped")
	}
}

// holderOf returns the pid of the driver's running holder.
func holderOf(t *testing.T, d *Driver) int {
	t.Helper()
	data, err := os.ReadFile(d.holderPath(holderPID))
	if err != nil {
		t.Fatalf("no holder pid: %v", err)
	}
	pid, _ := strconv.Atoi(string(data))
	if !isHolder(pid, d.holderPath(holderSocket)) {
		t.Fatalf("pid %d is not the state directory's holder", pid)
	}
	return pid
}

// holderPIDs lists the live holders of machines under stateDir.
func holderPIDs(stateDir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := bytes.Split(cmdline, []byte{0})
		if len(args) >= 3 && string(args[1]) == MountGuardHolderCommand && strings.HasPrefix(string(args[2]), stateDir+"/") && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killHolders ends the holders a failed test left, by pid.
func killHolders(pids []int) {
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
	}
}
