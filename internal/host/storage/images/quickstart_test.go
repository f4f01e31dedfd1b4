package images

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// inImage runs a command chrooted into rootfs as uid:gid with groups, in a private mount namespace with
// /proc (sudo needs it) and a tmpfs /run mounted, and in its own UTS namespace named localhost (sudo
// resolves the host name, as the guest init's /etc/hosts will let it); the namespaces die with the command.
func inImage(t *testing.T, rootfs, userspec, groups string, args ...string) (string, error) {
	t.Helper()
	script := `hostname localhost && mount -t proc proc "$1/proc" && mount -t tmpfs tmpfs "$1/run" && exec /usr/sbin/chroot --userspec="$2" --groups="$3" "$1" "${@:4}"`
	cmdArgs := append([]string{"--mount", "--uts", "--propagation", "private", "bash", "-c", script, "bash", rootfs, userspec, groups}, args...)
	out, err := exec.Command("unshare", cmdArgs...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestBusyboxImage(t *testing.T) {
	testutil.RequiresRoot(t)
	root := t.TempDir()
	s := openStore(t, root, Options{Recipes: []Recipe{Busybox()}, Logger: testLogger(t)})
	start := time.Now()
	img, err := s.Ensure(context.Background(), "busybox")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("busybox image built in %v", time.Since(start))
	if img.State != StateAvailable || img.Name != "overcast/images/busybox-1.35-amd64" || img.DefaultUser != "ec2-user" ||
		img.HasSSH || img.SizeGiB != 8 || img.Architecture != "x86_64" || img.ID != Busybox().ID() {
		t.Fatalf("image: %+v", img)
	}
	verifyLayout(t, root, img)
	dir := img.LowerDirs[0]

	if out, err := exec.Command("/usr/sbin/chroot", dir, "/bin/sh", "-c", "echo ok").CombinedOutput(); err != nil || string(out) != "ok\n" {
		t.Fatalf("chroot /bin/sh: %q, %v", out, err)
	}
	passwd, _ := os.ReadFile(filepath.Join(dir, "etc/passwd"))
	if !strings.Contains(string(passwd), "ec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/sh\n") {
		t.Fatalf("/etc/passwd:\n%s", passwd)
	}
	osRelease, _ := os.ReadFile(filepath.Join(dir, "etc/os-release"))
	if !strings.Contains(string(osRelease), `NAME="Overcast Busybox"`) {
		t.Fatalf("/etc/os-release:\n%s", osRelease)
	}
	if fi, err := os.Stat(filepath.Join(dir, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Fatalf("/tmp: %v, %v", fi.Mode(), err)
	}
	for _, p := range []string{"var/log", "root", "home/ec2-user", "etc/hostname", "etc/hosts", "etc/shadow", "etc/group", "bin/ls", "usr/bin/wget"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing /%s", p)
		}
	}

	// The default user: who they are, and sudo to root without a password.
	if out, err := inImage(t, dir, "1000:1000", "1000,10", "/bin/sh", "-c", "whoami; touch /home/ec2-user/f && echo home ok"); err != nil || out != "ec2-user\nhome ok" {
		t.Fatalf("as ec2-user: %q, %v", out, err)
	}
	if out, err := inImage(t, dir, "1000:1000", "1000,10", "/usr/bin/sudo", "id", "-u"); err != nil || out != "0" {
		t.Fatalf("sudo id -u: %q, %v", out, err)
	}
	if out, err := inImage(t, dir, "1000:1000", "1000,10", "/usr/bin/sudo", "sh", "-c", "touch /root/made-by-sudo && id -un"); err != nil || out != "root" {
		t.Fatalf("sudo sh -c: %q, %v", out, err)
	}
	os.Remove(filepath.Join(dir, "root/made-by-sudo"))
	if out, err := inImage(t, dir, "1000:1000", "1000,10", "/usr/bin/sudo", "-u", "nobody", "id", "-u"); err != nil || out != "65534" {
		t.Fatalf("sudo -u nobody: %q, %v", out, err)
	}
	// Someone outside wheel gets nothing.
	if out, err := inImage(t, dir, "65534:65534", "65534", "/usr/bin/sudo", "id", "-u"); err == nil || strings.HasSuffix(out, "\n0") || out == "0" {
		t.Fatalf("sudo as nobody succeeded: %q", out)
	}
}

func TestDebian12Image(t *testing.T) {
	testutil.RequiresRoot(t)
	if testing.Short() {
		t.Skip("builds Debian with debootstrap (about 1-2 minutes)")
	}
	root := t.TempDir()
	s := openStore(t, root, Options{Recipes: []Recipe{Debian12()}, Logger: testLogger(t)})
	start := time.Now()
	img, err := s.Ensure(context.Background(), "debian-12")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("debian-12 image built in %v", time.Since(start))
	if img.State != StateAvailable || img.Name != "debian-12-amd64-overcast" || img.DefaultUser != "admin" || !img.HasSSH {
		t.Fatalf("image: %+v", img)
	}
	dir := img.LowerDirs[0]
	for _, p := range []string{"usr/sbin/sshd", "usr/bin/sudo", "usr/bin/python3", "usr/bin/curl", "usr/sbin/ip", "usr/bin/ps", "usr/bin/ssh-keygen", "etc/ssl/certs/ca-certificates.crt"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing /%s", p)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "usr/bin/sudo")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("sudo is not set-uid: %v", fi.Mode())
	}
	if keys, _ := filepath.Glob(filepath.Join(dir, "etc/ssh/ssh_host_*")); len(keys) != 0 {
		t.Errorf("host keys baked into the image: %v", keys)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc/machine-id")); err == nil && len(b) != 0 {
		t.Errorf("machine-id is %q", b)
	}
	if lists, _ := filepath.Glob(filepath.Join(dir, "var/lib/apt/lists/*_*")); len(lists) != 0 {
		t.Errorf("apt lists left: %v", lists)
	}
	if out, err := inImage(t, dir, "0:0", "0", "/usr/bin/python3", "-c", "print('py ok')"); err != nil || out != "py ok" {
		t.Errorf("python3: %q, %v", out, err)
	}
	if out, err := inImage(t, dir, "0:0", "0", "/usr/bin/curl", "--version"); err != nil || !strings.HasPrefix(out, "curl ") {
		t.Errorf("curl: %q, %v", out, err)
	}
	if out, err := inImage(t, dir, "0:0", "0", "/usr/bin/id", "admin"); err != nil || !strings.HasPrefix(out, "uid=1000(admin) gid=1000(admin)") || !strings.Contains(out, "(sudo)") {
		t.Errorf("admin: %q, %v", out, err)
	}
	if out, err := inImage(t, dir, "admin:admin", "admin,sudo", "/usr/bin/sudo", "-n", "id", "-u"); err != nil || out != "0" {
		t.Errorf("admin's passwordless sudo: %q, %v", out, err)
	}
	// The effective sshd configuration, with a throwaway host key outside the image.
	key := filepath.Join(t.TempDir(), "hostkey")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %s", out)
	}
	if err := exec.Command("cp", key, filepath.Join(dir, "tmp/hostkey")).Run(); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(filepath.Join(dir, "tmp/hostkey"))
	out, err := inImage(t, dir, "0:0", "0", "/bin/sh", "-c", "mkdir /run/sshd && /usr/sbin/sshd -T -h /tmp/hostkey")
	if err != nil {
		t.Fatalf("sshd -T: %s, %v", out, err)
	}
	for _, want := range []string{"passwordauthentication no", "permitrootlogin without-password", "kbdinteractiveauthentication no", "pubkeyauthentication yes"} {
		if !strings.Contains(out, "\n"+want+"\n") {
			t.Errorf("sshd -T lacks %q", want)
		}
	}
}
