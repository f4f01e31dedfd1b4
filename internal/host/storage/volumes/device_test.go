package volumes

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/storage/snapshots"
	"github.com/overcast-cloud/overcast/internal/testutil"
)

// inPrivateMounts runs a shell script in a private mount namespace, so nothing it mounts is seen outside it or
// outlives it.
func inPrivateMounts(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-ec", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s\n%s: %v", script, out, err)
	}
	return string(out)
}

func mkfs(t *testing.T, dev string) {
	t.Helper()
	testutil.RequiresTool(t, "mkfs.ext4")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %s: %v", dev, out, err)
	}
}

// writeFileOn mounts dev, writes content to name and unmounts.
func writeFileOn(t *testing.T, dev, name, content string) {
	t.Helper()
	mnt := t.TempDir()
	inPrivateMounts(t, fmt.Sprintf("mount %s %s; printf '%%s' '%s' > %s/%s; sync; umount %s", dev, mnt, content, mnt, name, mnt))
}

func readFileOn(t *testing.T, dev, name string) string {
	t.Helper()
	mnt := t.TempDir()
	return inPrivateMounts(t, fmt.Sprintf("mount -o ro %s %s; cat %s/%s; umount %s", dev, mnt, mnt, name, mnt))
}

func TestDeviceMkfsMountRelease(t *testing.T) {
	testutil.RequiresRoot(t)
	testutil.RequiresTool(t, "unshare")
	f := newFixture(t)
	ctx := context.Background()
	v := f.vols
	if err := v.Create(ctx, "vol-dev", 256*mib); err != nil {
		t.Fatal(err)
	}
	dev, err := v.Device(ctx, "vol-dev")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := v.Device(ctx, "vol-dev"); err != nil || again != dev {
		t.Fatalf("second Device: %s, %v (first %s)", again, err, dev)
	}
	if got := loopBacking(dev); got != v.Path("vol-dev") {
		t.Fatalf("%s is bound to %q", dev, got)
	}
	// A restarted store finds the device through sysfs.
	v2, err := Open(v.root, f.snaps, Options{Keys: f.keys})
	if err != nil {
		t.Fatal(err)
	}
	if found, err := v2.Device(ctx, "vol-dev"); err != nil || found != dev {
		t.Fatalf("restarted store: %s, %v (want %s)", found, err, dev)
	}

	mkfs(t, dev)
	writeFileOn(t, dev, "hello.txt", "hello from a volume")
	if got := readFileOn(t, dev, "hello.txt"); got != "hello from a volume" {
		t.Fatalf("read back %q", got)
	}

	// Held mounted by another mount namespace, the device is in use: neither release nor delete takes it away.
	mnt := t.TempDir()
	holder := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-ec",
		fmt.Sprintf("mount %s %s; echo mounted; read x || true", dev, mnt))
	stdin, _ := holder.StdinPipe()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	defer holder.Process.Kill()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "mounted\n" {
		t.Fatalf("holder said %q", line)
	}
	if err := v.ReleaseDevice(ctx, "vol-dev"); !errors.Is(err, ErrInUse) {
		t.Fatalf("release of a mounted device: %v", err)
	}
	if err := v.Delete(ctx, "vol-dev"); !errors.Is(err, ErrInUse) {
		t.Fatalf("delete of a mounted volume: %v", err)
	}
	stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}

	// A snapshot of the volume restores to a volume with the same file system and file.
	if _, err := v.Snapshot(ctx, "vol-dev", "snap-fs"); err != nil {
		t.Fatal(err)
	}
	if err := v.Restore(ctx, "vol-copy", 512*mib, "snap-fs"); err != nil {
		t.Fatal(err)
	}
	cdev, err := v.Device(ctx, "vol-copy")
	if err != nil {
		t.Fatal(err)
	}
	if got := readFileOn(t, cdev, "hello.txt"); got != "hello from a volume" {
		t.Fatalf("restored volume reads %q", got)
	}

	for id, d := range map[string]string{"vol-dev": dev, "vol-copy": cdev} {
		if err := v.ReleaseDevice(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got := loopBacking(d); got != "" {
			t.Fatalf("%s still bound to %s", d, got)
		}
		if err := v.ReleaseDevice(ctx, id); err != nil {
			t.Fatalf("second release: %v", err)
		}
		if err := v.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestResizeAttachedDevice(t *testing.T) {
	testutil.RequiresRoot(t)
	f := newFixture(t)
	ctx := context.Background()
	if err := f.vols.Create(ctx, "vol-grow", 64*mib); err != nil {
		t.Fatal(err)
	}
	dev, err := f.vols.Device(ctx, "vol-grow")
	if err != nil {
		t.Fatal(err)
	}
	defer f.vols.ReleaseDevice(ctx, "vol-grow")
	if err := f.vols.Resize(ctx, "vol-grow", 128*mib); err != nil {
		t.Fatal(err)
	}
	if got := deviceSize(t, dev); got != 128*mib {
		t.Fatalf("%s is %d bytes after Resize, want %d", dev, got, 128*mib)
	}
}

func deviceSize(t *testing.T, dev string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "size"))
	if err != nil {
		t.Fatal(err)
	}
	var sectors int64
	fmt.Sscan(string(b), &sectors)
	return sectors * 512
}

// newBlkioCgroup makes a blkio cgroup for the test and removes it afterwards.
func newBlkioCgroup(t *testing.T) string {
	t.Helper()
	cg := filepath.Join("/sys/fs/cgroup/blkio", fmt.Sprintf("overcast-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Skipf("no cgroup v1 blkio hierarchy: %v", err)
	}
	t.Cleanup(func() {
		if err := os.Remove(cg); err != nil {
			t.Errorf("remove cgroup: %v", err)
		}
	})
	return cg
}

// timedDirectReads reads count 4 KiB blocks of dev with O_DIRECT from a process in the cgroup.
func timedDirectReads(t *testing.T, cg, dev string, count int) time.Duration {
	t.Helper()
	start := time.Now()
	script := fmt.Sprintf("echo $$ > %s/cgroup.procs; exec dd if=%s of=/dev/null bs=4096 count=%d iflag=direct status=none", cg, dev, count)
	if out, err := exec.Command("sh", "-ec", script).CombinedOutput(); err != nil {
		t.Fatalf("dd: %s: %v", out, err)
	}
	return time.Since(start)
}

func TestThrottle(t *testing.T) {
	testutil.RequiresRoot(t)
	testutil.RequiresTool(t, "dd")
	f := newFixture(t)
	ctx := context.Background()
	if err := f.vols.Create(ctx, "vol-slow", 64*mib); err != nil {
		t.Fatal(err)
	}
	dev, err := f.vols.Device(ctx, "vol-slow")
	if err != nil {
		t.Fatal(err)
	}
	defer f.vols.ReleaseDevice(ctx, "vol-slow")
	cg := newBlkioCgroup(t)
	fast := timedDirectReads(t, cg, dev, 60)

	if err := Throttle(cg, dev, 40, 8); err != nil {
		t.Fatal(err)
	}
	var st struct{ maj, min int }
	b, _ := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "dev"))
	fmt.Sscanf(string(b), "%d:%d", &st.maj, &st.min)
	want := map[string]string{
		"blkio.throttle.read_iops_device":  fmt.Sprintf("%d:%d 40", st.maj, st.min),
		"blkio.throttle.write_iops_device": fmt.Sprintf("%d:%d 40", st.maj, st.min),
		"blkio.throttle.read_bps_device":   fmt.Sprintf("%d:%d %d", st.maj, st.min, 8<<20),
		"blkio.throttle.write_bps_device":  fmt.Sprintf("%d:%d %d", st.maj, st.min, 8<<20),
	}
	for file, line := range want {
		got, _ := os.ReadFile(filepath.Join(cg, file))
		if strings.TrimSpace(string(got)) != line {
			t.Errorf("%s = %q, want %q", file, got, line)
		}
	}
	// 60 reads at 40 IOPS take about 1.5 s; unthrottled they take milliseconds.
	slow := timedDirectReads(t, cg, dev, 60)
	t.Logf("60 direct 4 KiB reads: %v unthrottled, %v at 40 IOPS", fast, slow)
	if slow < time.Second || fast > slow/4 {
		t.Fatalf("throttle not enforced: %v unthrottled, %v throttled", fast, slow)
	}
	// Zero lifts the limits.
	if err := Throttle(cg, dev, 0, 0); err != nil {
		t.Fatal(err)
	}
	for file := range want {
		if got, _ := os.ReadFile(filepath.Join(cg, file)); len(bytes.TrimSpace(got)) != 0 {
			t.Errorf("%s after lifting = %q", file, got)
		}
	}
	if err := Throttle(cg, f.vols.Path("vol-slow"), 1, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("throttle of a regular file: %v", err)
	}
}

func TestEncryptedDevice(t *testing.T) {
	testutil.RequiresRoot(t)
	testutil.RequiresTool(t, "unshare")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	f := newFixture(t)
	ctx := context.Background()
	v := f.vols
	const keyID = "111122223333/alias/aws/ebs"
	if err := v.CreateEncrypted(ctx, "vol-enc", 64*mib, keyID); err != nil {
		t.Fatal(err)
	}
	dev, err := v.Device(ctx, "vol-enc")
	if err != nil {
		t.Fatal(err)
	}
	if got := loopBacking(dev); got != v.plainPath("vol-enc") {
		t.Fatalf("%s is bound to %q, want the plaintext view", dev, got)
	}
	mkfs(t, dev)
	secret := strings.Repeat("TOP-SECRET-PLAINTEXT ", 200)
	writeFileOn(t, dev, "secret.txt", secret)
	if got := readFileOn(t, dev, "secret.txt"); got != secret {
		t.Fatal("the file does not read back through the encrypted device")
	}
	host, _ := os.ReadFile(v.Path("vol-enc"))
	if bytes.Contains(host, []byte("TOP-SECRET")) {
		t.Fatal("plaintext found in the encrypted volume's host file")
	}
	if !bytes.Contains(decryptFile(t, v, "vol-enc"), []byte("TOP-SECRET")) {
		t.Fatal("the host file does not decrypt to what was written")
	}

	// Snapshot while attached, restore, attach the copy: same file, no plaintext in the store.
	if _, err := v.Snapshot(ctx, "vol-enc", "snap-enc"); err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(filepath.Join(f.root, "snapshots", "chunks"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("TOP-SECRET")) {
			t.Errorf("plaintext in chunk %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Restore(ctx, "vol-enc-copy", 64*mib, "snap-enc"); err != nil {
		t.Fatal(err)
	}
	cdev, err := v.Device(ctx, "vol-enc-copy")
	if err != nil {
		t.Fatal(err)
	}
	if got := readFileOn(t, cdev, "secret.txt"); got != secret {
		t.Fatal("the restored encrypted volume lost the file")
	}

	// Grow it while attached.
	if err := v.Resize(ctx, "vol-enc-copy", 128*mib); err != nil {
		t.Fatal(err)
	}
	if got := deviceSize(t, cdev); got != 128*mib {
		t.Fatalf("encrypted device is %d bytes after Resize", got)
	}

	for _, id := range []string{"vol-enc", "vol-enc-copy"} {
		if err := v.ReleaseDevice(ctx, id); err != nil {
			t.Fatal(err)
		}
		if mps, _ := mountsUnder(filepath.Join(v.root, "plain")); len(mps) > 0 && id == "vol-enc-copy" {
			t.Fatalf("plaintext views still mounted: %v", mps)
		}
		if err := v.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRestartAfterCrashWithEncryptedDevice kills the process serving an encrypted volume's plaintext view, then
// checks that reopening the store clears the dead mount and loop device, and that the volume attaches again with
// its data.
func TestRestartAfterCrashWithEncryptedDevice(t *testing.T) {
	if root := os.Getenv("VOLUMES_CRASH_ROOT"); root != "" {
		crashHelper(root)
		return
	}
	testutil.RequiresRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	f := newFixture(t)
	ctx := context.Background()
	const keyID = "111122223333/alias/aws/ebs"
	if err := f.vols.CreateEncrypted(ctx, "vol-crash", 32*mib, keyID); err != nil {
		t.Fatal(err)
	}
	dev, err := f.vols.Device(ctx, "vol-crash")
	if err != nil {
		t.Fatal(err)
	}
	mkfs(t, dev)
	writeFileOn(t, dev, "note.txt", "survives a crash")
	if err := f.vols.ReleaseDevice(ctx, "vol-crash"); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestRestartAfterCrashWithEncryptedDevice$")
	cmd.Env = append(os.Environ(), "VOLUMES_CRASH_ROOT="+f.root)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, _ := bufio.NewReader(out).ReadString('\n')
	deadDev := strings.TrimSpace(line)
	if !strings.HasPrefix(deadDev, "/dev/loop") {
		t.Fatalf("helper said %q", line)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if mps, _ := mountsUnder(filepath.Join(f.vols.root, "plain")); len(mps) != 1 {
		t.Fatalf("after the crash the plaintext view should be a dead mount; mounts: %v", mps)
	}

	v2, err := Open(f.vols.root, f.snaps, Options{Keys: f.keys})
	if err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountsUnder(filepath.Join(f.vols.root, "plain")); len(mps) != 0 {
		t.Fatalf("reopen left mounts: %v", mps)
	}
	if got := loopBacking(deadDev); got != "" {
		t.Fatalf("reopen left %s bound to %s", deadDev, got)
	}
	dev2, err := v2.Device(ctx, "vol-crash")
	if err != nil {
		t.Fatal(err)
	}
	if got := readFileOn(t, dev2, "note.txt"); got != "survives a crash" {
		t.Fatalf("after the crash the volume reads %q", got)
	}
	if err := v2.ReleaseDevice(ctx, "vol-crash"); err != nil {
		t.Fatal(err)
	}
}

func crashHelper(root string) {
	snaps, err := snapshots.Open(filepath.Join(root, "snapshots-helper"), snapshots.Options{})
	if err != nil {
		os.Exit(1)
	}
	keys, _ := NewFileKeys(filepath.Join(root, "keys"))
	v, err := Open(filepath.Join(root, "ebs"), snaps, Options{Keys: keys})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	dev, err := v.Device(context.Background(), "vol-crash")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(dev)
	time.Sleep(time.Minute)
	os.Exit(0)
}
