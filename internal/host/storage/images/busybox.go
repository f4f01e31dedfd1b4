package images

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Busybox is the tiny quick-start image: Debian's busybox-static (1.35 in bookworm) with its applet links, a
// root account and the default user ec2-user (uid 1000, in wheel). It builds in about a second and has no sshd.
//
// sudo: Debian has no static sudo, and busybox's su asks for a password. The image's /usr/bin/sudo is a
// script that runs the command through a second copy of busybox, /usr/libexec/sudo/busybox, which is set-uid
// root and executable only by the wheel group; /etc/busybox.conf lets wheel run that copy's start-stop-daemon
// applet as root, and "start-stop-daemon -c USER" sets the real and effective ids before it execs the
// command. Members of wheel thus run any command as root (or -u USER) without a password, as Amazon Linux's
// "%wheel ALL=(ALL) NOPASSWD: ALL" allows. /bin/busybox itself stays unprivileged: busybox 1.35 built with
// FEATURE_SUID_CONFIG crashes in applets the config does not list when it runs set-uid, so su, passwd and
// ping do not work for ec2-user (sudo does). The instance needs /proc mounted and no_new_privs unset.
func Busybox() Recipe {
	return Recipe{
		Name:         "busybox",
		Version:      "1",
		ImageName:    "overcast/images/busybox-1.35-amd64",
		Description:  "Overcast Busybox 1.35 (Debian busybox-static), a tiny Linux with ec2-user and sudo; no SSH",
		Architecture: "x86_64",
		DefaultUser:  "ec2-user",
		SizeGiB:      8,
		HasSSH:       false,
		Build:        buildBusybox,
	}
}

func buildBusybox(ctx context.Context, env BuildEnv) error {
	env.Progress(5, "finding busybox-static")
	src, err := staticBusybox(ctx, env)
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755}, {"usr/libexec/sudo", 0o755},
		{"etc", 0o755}, {"root", 0o700}, {"home", 0o755}, {"tmp", 0o777 | os.ModeSticky}, {"var/log", 0o755},
		{"var/tmp", 0o777 | os.ModeSticky}, {"run", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}, {"mnt", 0o755},
	} {
		p := filepath.Join(env.Dir, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode); err != nil { // MkdirAll's mode is masked by the umask
			return err
		}
	}
	env.Progress(30, "installing /bin/busybox and its applet links")
	if err := os.WriteFile(filepath.Join(env.Dir, "bin/busybox"), bin, 0o755); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, src, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("images: busybox --list-full: %w", err)
	}
	for _, l := range strings.Fields(string(out)) {
		if l == "bin/busybox" || strings.Contains(l, "..") {
			continue
		}
		if err := os.Symlink("/bin/busybox", filepath.Join(env.Dir, l)); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	// The sudo helper: set-uid root, group wheel (gid 10), mode 4750; chown before chmod, which keeps set-uid.
	helper := filepath.Join(env.Dir, "usr/libexec/sudo/busybox")
	if err := os.WriteFile(helper, bin, 0o700); err != nil {
		return err
	}
	if err := os.Chown(helper, 0, 10); err != nil {
		return err
	}
	if err := os.Chmod(helper, 0o750|os.ModeSetuid); err != nil {
		return err
	}

	env.Progress(60, "writing accounts and /etc")
	for _, f := range busyboxFiles {
		p := filepath.Join(env.Dir, f.path)
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(env.Dir, "home/ec2-user"), 0o700); err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(env.Dir, "home/ec2-user"), 1000, 1000); err != nil {
		return err
	}
	env.Progress(100, "done")
	return nil
}

// staticBusybox returns the path of a statically linked busybox: the installed busybox-static package's, or
// one unpacked from the package that apt downloads into the cache directory.
func staticBusybox(ctx context.Context, env BuildEnv) (string, error) {
	if out, err := exec.CommandContext(ctx, "dpkg-query", "-L", "busybox-static").Output(); err == nil {
		for _, p := range strings.Fields(string(out)) {
			if strings.HasSuffix(p, "/bin/busybox") && isStatic(p) {
				return p, nil
			}
		}
	}
	extracted := filepath.Join(env.CacheDir, "busybox-static", "bin", "busybox")
	if isStatic(extracted) {
		return extracted, nil
	}
	env.Log.Info("busybox-static is not installed; downloading the package")
	dl := filepath.Join(env.CacheDir, "download")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "apt-get", "download", "busybox-static")
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("images: apt-get download busybox-static: %w: %s", err, bytes.TrimSpace(out))
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "busybox-static_*.deb"))
	if len(debs) == 0 {
		return "", errors.New("images: apt-get download busybox-static left no package")
	}
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[len(debs)-1], filepath.Join(env.CacheDir, "busybox-static")).CombinedOutput(); err != nil {
		return "", fmt.Errorf("images: dpkg-deb -x: %w: %s", err, bytes.TrimSpace(out))
	}
	if !isStatic(extracted) {
		return "", fmt.Errorf("images: %s is not a static executable", extracted)
	}
	return extracted, nil
}

// isStatic says whether path is an ELF executable with no program interpreter (so it runs in an empty root).
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

var busyboxFiles = []struct {
	path string
	mode os.FileMode
	data string
}{
	{"etc/passwd", 0o644, `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
ec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/sh
`},
	{"etc/group", 0o644, `root:x:0:
adm:x:4:ec2-user
wheel:x:10:ec2-user
nogroup:x:65534:
ec2-user:x:1000:
`},
	// "*": no password can log in; the guest init installs the key pair for ec2-user.
	{"etc/shadow", 0o600, `root:*:19800:0:99999:7:::
nobody:*:19800:0:99999:7:::
ec2-user:*:19800:0:99999:7:::
`},
	{"etc/nsswitch.conf", 0o644, "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"},
	{"etc/shells", 0o644, "/bin/sh\n/bin/ash\n"},
	{"etc/hostname", 0o644, "localhost\n"},
	{"etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
	{"etc/os-release", 0o644, `NAME="Overcast Busybox"
VERSION="1.35"
ID=overcast-busybox
VERSION_ID="1.35"
PRETTY_NAME="Overcast Busybox 1.35"
`},
	{"etc/profile", 0o644, `export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PS1='\u@\h:\w\$ '
`},
	// Only the set-uid copy in /usr/libexec/sudo reads this (busybox reads it only when it runs set-uid).
	{"etc/busybox.conf", 0o600, "[SUID]\nstart-stop-daemon = ssx root.wheel\n"},
	{"usr/bin/sudo", 0o755, busyboxSudo},
}

const busyboxSudo = `#!/bin/sh
# sudo for the Overcast busybox image: members of wheel run commands as root (or -u USER) without a password.
# /usr/libexec/sudo/busybox is busybox set-uid root, executable by wheel only; /etc/busybox.conf lets wheel run
# its start-stop-daemon as root, and start-stop-daemon -c sets the real and effective ids before exec.
# Supported: sudo [-u USER] [-i | -s] [-n] [-E] [-H] [--] [COMMAND [ARG...]]
usage() { echo "usage: sudo [-u user] [-i | -s] [command [arg ...]]" >&2; exit 1; }
user=root mode=
while [ $# -gt 0 ]; do
	case $1 in
	-u) [ $# -ge 2 ] || usage; user=$2; shift 2 ;;
	-u?*) user=${1#-u}; shift ;;
	-i|-s) mode=$1; shift ;;
	-n|-E|-H|-k|-S) shift ;;
	--) shift; break ;;
	-*) echo "sudo: unsupported option $1" >&2; usage ;;
	*) break ;;
	esac
done
home=$(awk -F: -v u="$user" '$1 == u { print $6 }' /etc/passwd)
[ -n "$home" ] || { echo "sudo: unknown user: $user" >&2; exit 1; }
case $mode in
-i) cd "$home" 2>/dev/null; if [ $# -gt 0 ]; then set -- /bin/sh -l -c "$*"; else set -- /bin/sh -l; fi ;;
-s) if [ $# -gt 0 ]; then set -- /bin/sh -c "$*"; else set -- /bin/sh; fi ;;
*) [ $# -gt 0 ] || usage ;;
esac
case $1 in
*/*) prog=$1 ;;
*) prog=$(which "$1") || { echo "sudo: $1: command not found" >&2; exit 1; } ;;
esac
shift
export SUDO_USER="$(whoami)" SUDO_UID="$(id -u)" SUDO_GID="$(id -g)" HOME="$home" USER="$user" LOGNAME="$user"
# The -n name is longer than a process name can be, so start-stop-daemon never finds the command "running".
exec /usr/libexec/sudo/busybox start-stop-daemon -S -c "$user" -n overcast-sudo-never-a-process -a "$prog" -- "$@"
`
