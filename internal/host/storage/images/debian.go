package images

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Debian12 is Debian bookworm built by debootstrap (minbase plus openssh-server, curl, python3, sudo,
// ca-certificates, iproute2, procps and netbase) from the host's configured Debian mirror, with Debian's AWS
// default user "admin" (uid 1000, NOPASSWD sudo, as cloud-init writes it) and sshd for key-only login. The
// image has no ssh host keys and an empty /etc/machine-id: the guest init generates both at first boot
// (ssh-keygen -A), so no two instances share them. It takes about a minute, less when the package cache under
// the store's root is warm.
func Debian12() Recipe {
	return Recipe{
		Name:         "debian-12",
		Version:      "1",
		ImageName:    "debian-12-amd64-overcast",
		Description:  "Debian 12 (bookworm) minbase with openssh-server, curl, python3 and sudo; default user admin",
		Architecture: "x86_64",
		DefaultUser:  "admin",
		SizeGiB:      8,
		HasSSH:       true,
		Build:        buildDebian12,
	}
}

const debianPackages = "openssh-server,curl,python3,sudo,ca-certificates,iproute2,procps,netbase"

func buildDebian12(ctx context.Context, env BuildEnv) error {
	mirror := debianMirror()
	debootstrap, err := exec.LookPath("debootstrap")
	if err != nil {
		debootstrap = "/usr/sbin/debootstrap"
		if _, err := os.Stat(debootstrap); err != nil {
			return errors.New("images: debootstrap is not installed (apt-get install debootstrap)")
		}
	}
	if err := os.MkdirAll(env.CacheDir, 0o755); err != nil {
		return err
	}
	env.Progress(1, "debootstrap bookworm from "+mirror)
	cmd := exec.CommandContext(ctx, debootstrap, "--variant=minbase", "--include="+debianPackages,
		"--cache-dir="+env.CacheDir, "bookworm", env.Dir, mirror)
	// debootstrap mounts /proc and /sys inside the target and unmounts them only if it exits normally. In a
	// private mount namespace those mounts die with it, so a killed build never leaves mounts in the store.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	if err := runDebootstrap(cmd, env); err != nil {
		return err
	}

	env.Progress(92, "configuring the admin user, sudo and sshd")
	if err := chrootRun(ctx, env.Dir, "/usr/sbin/useradd", "--create-home", "--uid", "1000", "--user-group",
		"--groups", "adm,dialout,cdrom,floppy,sudo,audio,dip,video,plugdev", "--shell", "/bin/bash",
		"--comment", "Debian", "admin"); err != nil {
		return err
	}
	// "*" rather than useradd's "!": no password works, and sshd without PAM would treat "!" as locked.
	if err := chrootRun(ctx, env.Dir, "/usr/sbin/usermod", "--password", "*", "admin"); err != nil {
		return err
	}
	for _, f := range debianFiles {
		p := filepath.Join(env.Dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	// pam_loginuid fails without CAP_AUDIT_CONTROL, which instances do not get; "required" would refuse
	// every ssh login.
	if err := editFile(filepath.Join(env.Dir, "etc/pam.d/sshd"), func(s string) string {
		return strings.ReplaceAll(s, "session    required     pam_loginuid.so", "session    optional     pam_loginuid.so")
	}); err != nil {
		return err
	}

	env.Progress(96, "removing host keys, machine id and apt lists")
	keys, _ := filepath.Glob(filepath.Join(env.Dir, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return err
		}
	}
	for _, p := range []string{"etc/machine-id", "var/lib/dbus/machine-id"} {
		if err := os.Truncate(filepath.Join(env.Dir, p), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	for _, pattern := range []string{"var/lib/apt/lists/*_*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/log/bootstrap.log"} {
		matches, _ := filepath.Glob(filepath.Join(env.Dir, pattern))
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	env.Progress(100, "done")
	return nil
}

// debootstrapLines is about how many "I: " lines debootstrap prints for this package set with a cold cache
// (a line per package retrieved, validated, extracted, unpacked and configured). Progress is the share of
// them seen so far; with a warm cache there are fewer and the bar jumps at the end.
const debootstrapLines = 700

// runDebootstrap runs debootstrap and turns its output into progress. The last lines of output go into the
// error when it fails.
func runDebootstrap(cmd *exec.Cmd, env BuildEnv) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("images: debootstrap: %w", err)
	}
	pw.Close()
	var tail []string
	lines := 0
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		env.Log.Debug("debootstrap", "line", line)
		if tail = append(tail, line); len(tail) > 20 {
			tail = tail[1:]
		}
		if msg, ok := strings.CutPrefix(line, "I: "); ok {
			lines++
			env.Progress(min(1+lines*89/debootstrapLines, 89), "debootstrap: "+strings.TrimSuffix(strings.TrimSpace(msg), "..."))
		}
	}
	pr.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("images: debootstrap: %w\n%s", err, strings.Join(tail, "\n"))
	}
	return nil
}

// debianMirror is the first bookworm mirror in the host's apt sources (deb822 or one-line), or Debian's
// default mirror when none is configured.
func debianMirror() string {
	if b, err := os.ReadFile("/etc/apt/sources.list.d/debian.sources"); err == nil {
		for _, stanza := range strings.Split(string(b), "\n\n") {
			fields := map[string]string{}
			for _, l := range strings.Split(stanza, "\n") {
				if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, "#") {
					fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
				}
			}
			if slices.Contains(strings.Fields(fields["Types"]), "deb") && slices.Contains(strings.Fields(fields["Suites"]), "bookworm") {
				if uris := strings.Fields(fields["URIs"]); len(uris) > 0 {
					return uris[0]
				}
			}
		}
	}
	if b, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 0 && f[0] == "deb" {
				f = f[1:]
				if len(f) > 0 && strings.HasPrefix(f[0], "[") { // options
					for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
						f = f[1:]
					}
					f = f[1:]
				}
				if len(f) >= 2 && f[1] == "bookworm" {
					return f[0]
				}
			}
		}
	}
	return "http://deb.debian.org/debian"
}

// chrootRun runs a program of the new root filesystem inside it.
func chrootRun(ctx context.Context, root, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("images: %s in the image: %w: %s", prog, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func editFile(path string, edit func(string) string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(edit(string(b))), fi.Mode().Perm())
}

var debianFiles = []struct {
	path string
	mode os.FileMode
	data string
}{
	// The file name cloud-init uses for the default user's sudo rule on Debian's AWS images.
	{"etc/sudoers.d/90-cloud-init-users", 0o440, "# User rules for admin, the default user\nadmin ALL=(ALL) NOPASSWD:ALL\n"},
	// Included before the main sshd_config's own settings, and sshd keeps the first value it reads.
	{"etc/ssh/sshd_config.d/60-overcast.conf", 0o644, `# Key-only login, as on Debian's AWS images.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
`},
	{"etc/hostname", 0o644, "localhost\n"},
	{"etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
	// debootstrap copies the build host's resolver; an instance gets its own from the guest init.
	{"etc/resolv.conf", 0o644, ""},
}
