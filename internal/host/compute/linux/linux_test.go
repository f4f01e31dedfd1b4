package linux

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/testsuite"
	"github.com/overcast-cloud/overcast/internal/testutil"
)

// initBinary is the static guest init, built once for the package's tests.
var initBinary string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run() // the root tests skip
		}
		dir, err := os.MkdirTemp("", "overcast-init-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		initBinary = filepath.Join(dir, "init")
		build := exec.Command("go", "build", "-o", initBinary, "./testdata/init")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the guest init: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// busyboxImage makes a minimal root filesystem: a static busybox with its applets, root and ec2-user.
func busyboxImage(t *testing.T) compute.Image {
	t.Helper()
	bb := testutil.RequiresTool(t, "busybox")
	root := t.TempDir()
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "var/tmp", "home/ec2-user", "proc", "sys", "dev", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	os.Chmod(filepath.Join(root, "var/tmp"), 0o1777)
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			os.Symlink("busybox", filepath.Join(root, "bin", applet))
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/sh\n",
		"etc/group":  "root:x:0:\nec2-user:x:1000:\n",
		"etc/hosts":  "127.0.0.1 localhost\n",
	}
	for p, content := range files {
		if err := os.WriteFile(filepath.Join(root, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(filepath.Join(root, "home/ec2-user"), 1000, 1000)
	return compute.Image{ID: "ami-busybox-test", LowerDirs: []string{root}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newDriver returns a driver over a fresh state directory and checks, at the end of the test, that
// destroying every machine left nothing on the host.
func newDriver(t *testing.T) *Driver {
	t.Helper()
	testutil.RequiresRoot(t)
	testutil.RequiresTool(t, "runc")
	state := t.TempDir()
	prefix := "test-" + randomHex(4)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := New(Config{StateDir: state, InitBinary: initBinary, Prefix: prefix, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		ids, _ := d.List(ctx)
		for _, id := range ids {
			if err := d.Destroy(ctx, id); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		assertNoHostObjects(t, state, prefix)
	})
	return d
}

// assertNoHostObjects fails if a mount, cgroup, runtime container or holder process the driver made is left.
func assertNoHostObjects(t *testing.T, state, prefix string) {
	t.Helper()
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mountinfo), state) {
		t.Errorf("mounts left under %s", state)
	}
	if left, _ := filepath.Glob("/sys/fs/cgroup/*/overcast-" + prefix); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
	if entries, _ := os.ReadDir(filepath.Join(state, ".runc")); len(entries) > 0 {
		t.Errorf("runtime containers left: %d", len(entries))
	}
	if pids := holderPIDs(state); len(pids) > 0 {
		t.Errorf("mount guard holders left: %v", pids)
		killHolders(pids)
	}
	if entries, _ := os.ReadDir(state); len(entries) > 2 { // .runc and .mount-guard
		t.Errorf("machine directories left in %s: %d entries", state, len(entries))
	}
}

func TestConformance(t *testing.T) {
	testsuite.Run(t, func(t *testing.T) (compute.Driver, compute.Image) {
		return newDriver(t), busyboxImage(t)
	})
}
