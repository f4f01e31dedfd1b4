// Package guestinit is the init that runs as PID 1 inside a machine: it applies the boot data the compute
// driver bind-mounts read-only at BootDir (hostname, nameservers, the default user's keys, user data), runs
// user data at first boot the way cloud-init does, starts sshd where the image has it, writes the console
// log on its stdout, and then reaps orphans and stops the machine's processes when it is asked to stop.
//
// It owns the inside of one machine and nothing on the host. It is part of the overcast binary, which must
// be static so that it runs on any image: `overcast guest-init` calls Main.
package guestinit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The boot data directory and its files, written by the driver before each start.
const (
	BootDir            = "/.overcast"
	FileInit           = "init"            // the init binary itself, run as `init guest-init`
	FileInstanceID     = "instance-id"     // the instance id
	FileHostname       = "hostname"        // the hostname
	FileNameservers    = "nameservers"     // one address per line
	FileDefaultUser    = "default-user"    // the image's default user
	FileAuthorizedKeys = "authorized_keys" // authorized_keys lines for the default user
	FileUserData       = "user-data"       // raw user data, as given
	FileFirstBoot      = "first-boot"      // present only when the root disk has never finished a boot
)

// BootFinishedPath is where the init records, on the root disk, that the first boot's user data has been
// started; cloud-init keeps the same file. The path is relative to the machine's root and names the
// instance, so that an image made from a booted machine still gives new machines a first boot. The driver
// looks for it on the root disk to decide whether the next boot is a first boot.
func BootFinishedPath(instanceID string) string {
	return filepath.Join(instanceDir(instanceID), "boot-finished")
}

func instanceDir(instanceID string) string {
	if instanceID == "" || strings.ContainsAny(instanceID, "/") || instanceID[0] == '.' {
		instanceID = "i-unknown"
	}
	return "var/lib/cloud/instances/" + instanceID
}

const version = "overcast"

// FinishedLine starts the console line that ends a boot's cloud-init work, as on EC2.
const FinishedLine = "Cloud-init v. " + version + " finished at "

var childEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root", "USER=root", "LOGNAME=root", "LANG=C.UTF-8",
}

// Main is the init's entry point; it returns the exit status. It is meant to run as PID 1 of a machine.
func Main(args []string) int {
	g := &guest{root: "/", boot: BootDir, start: time.Now(), console: os.Stdout}
	for _, a := range args {
		if a != "guest-init" {
			fmt.Fprintf(os.Stderr, "guest-init: unexpected argument %q\n", a)
			return 2
		}
	}
	g.reaper = newReaper()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPWR)
	g.boot1()
	sig := <-stop
	g.say("overcast-init: received %s, stopping all processes", sig)
	g.shutdown()
	return 0
}

// guest is one boot of a machine, seen from inside.
type guest struct {
	root       string // "/" in a machine; a temporary directory in tests
	instanceID string
	boot       string // the boot data directory
	start      time.Time
	console    io.Writer
	reaper     *reaper
	logMu      sync.Mutex
	out        io.Writer // console and cloud-init-output.log
}

func (g *guest) path(p string) string { return filepath.Join(g.root, p) }

func (g *guest) say(format string, a ...any) {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	w := g.out
	if w == nil {
		w = g.console
	}
	fmt.Fprintf(w, format+"\n", a...)
}

func (g *guest) readBoot(name string) string {
	b, _ := os.ReadFile(filepath.Join(g.boot, name))
	return strings.TrimSpace(string(b))
}

func (g *guest) up() string { return fmt.Sprintf("%.2f", time.Since(g.start).Seconds()) }

func stamp() string { return time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700") }

// boot1 does everything a boot does, in cloud-init's order. A failing step is reported on the console and
// the boot goes on: an init that gives up leaves a machine nobody can log in to.
func (g *guest) boot1() {
	g.openOutputLog()
	g.say("Cloud-init v. %s running 'init' at %s. Up %s seconds.", version, stamp(), g.up())
	firstBoot := fileExists(filepath.Join(g.boot, FileFirstBoot))
	g.instanceID = g.readBoot(FileInstanceID)
	if err := g.linkInstanceDir(); err != nil {
		g.say("overcast-init: %v", err)
	}
	hostname := g.readBoot(FileHostname)
	if err := g.writeHostname(hostname); err != nil {
		g.say("overcast-init: hostname: %v", err)
	}
	if err := g.writeResolvConf(lines(g.readBoot(FileNameservers))); err != nil {
		g.say("overcast-init: resolv.conf: %v", err)
	}
	if user := g.readBoot(FileDefaultUser); user != "" {
		if err := g.installKeys(user, lines(g.readBoot(FileAuthorizedKeys))); err != nil {
			g.say("overcast-init: authorized keys for %s: %v", user, err)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(g.boot, FileUserData))
	ud, err := ParseUserData(raw)
	if err != nil {
		g.say("overcast-init: user data: %v", err)
	}
	if ud.Kind == KindCloudConfig {
		for _, key := range ud.Config.Ignored {
			g.say("overcast-init: cloud-config key %q is not supported; ignored", key)
		}
		for _, c := range ud.Config.BootCmd {
			g.runSync(c)
		}
		if firstBoot {
			for _, wf := range ud.Config.WriteFiles {
				if err := g.writeFile(wf); err != nil {
					g.say("overcast-init: write_files %s: %v", wf.Path, err)
				}
			}
		}
	}
	g.startSSHD(hostname)
	g.rcLocal() // rclocal.go
	var script string
	if firstBoot {
		script, err = g.userScript(ud)
		if err != nil {
			g.say("overcast-init: user data: %v", err)
		}
		if err := g.markBootFinished(); err != nil {
			g.say("overcast-init: %v", err)
		}
	}
	if script == "" {
		g.finished()
		return
	}
	// User data runs in the background: a script that ends by serving forever must not hold up the init.
	pid, done, err := g.spawn(script, []string{script})
	if err != nil {
		g.say("overcast-init: running %s: %v", script, err)
		g.finished()
		return
	}
	go func() {
		ws := <-done
		if !ws.Exited() || ws.ExitStatus() != 0 {
			g.say("overcast-init: user data (pid %d) ended with %s", pid, describe(ws))
		}
		g.finished()
	}()
}

func (g *guest) finished() {
	g.say("%s%s. Datasource DataSourceEc2.  Up %s seconds", FinishedLine, stamp(), g.up())
}

// openOutputLog makes everything the init and user data print go to the console and to
// /var/log/cloud-init-output.log, as on EC2.
func (g *guest) openOutputLog() {
	g.out = g.console
	p := g.path("var/log/cloud-init-output.log")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	g.out = io.MultiWriter(g.console, f)
}

// spawn starts a child whose output goes where the init's goes.
func (g *guest) spawn(path string, argv []string) (int, <-chan syscall.WaitStatus, error) {
	files := g.childFiles()
	defer func() {
		for _, f := range files[:2] {
			f.Close()
		}
	}()
	return g.reaper.start(path, argv, files)
}

// childFiles gives a child /dev/null as stdin and a pipe into the init's output as stdout and stderr. A
// pipe rather than the console file, so that the output also reaches cloud-init-output.log.
func (g *guest) childFiles() []*os.File {
	null, _ := os.Open(os.DevNull)
	r, w, err := os.Pipe()
	if err != nil {
		return []*os.File{null, null, null}
	}
	go func() {
		defer r.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				g.logMu.Lock()
				g.out.Write(buf[:n])
				g.logMu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
	return []*os.File{null, w, w}
}

// runSync runs a bootcmd entry and waits for it.
func (g *guest) runSync(c Command) {
	argv := c.Argv
	if argv == nil {
		argv = []string{"/bin/sh", "-c", c.Shell}
	}
	if err := g.run(argv...); err != nil {
		g.say("overcast-init: %s: %v", c.ShellLine(), err)
	}
}

func (g *guest) run(argv ...string) error {
	bin, err := lookPath(g.root, argv[0])
	if err != nil {
		return err
	}
	_, done, err := g.spawn(bin, argv)
	if err != nil {
		return err
	}
	if ws := <-done; !ws.Exited() || ws.ExitStatus() != 0 {
		return errors.New(describe(ws))
	}
	return nil
}

func lookPath(root, name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(filepath.Join(root, p)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found", name)
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}

// userScript writes the first boot's user script where cloud-init keeps it and returns its path in the
// machine, or "" when the user data has nothing to run.
func (g *guest) userScript(ud UserData) (string, error) {
	var name string
	var body []byte
	switch ud.Kind {
	case KindScript:
		name, body = "part-001", ud.Script
	case KindCloudConfig:
		if len(ud.Config.RunCmd) == 0 {
			return "", nil
		}
		var b bytes.Buffer
		b.WriteString("#!/bin/sh\n")
		for _, c := range ud.Config.RunCmd {
			b.WriteString(c.ShellLine() + "\n")
		}
		name, body = "runcmd", b.Bytes()
	case KindUnknown:
		g.say("overcast-init: unhandled non-multipart user data; it starts with neither #! nor #cloud-config")
		return "", nil
	default:
		return "", nil
	}
	script := "/" + instanceDir(g.instanceID) + "/scripts/" + name
	if err := os.MkdirAll(g.path(filepath.Dir(script)), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(g.path(script), body, 0o700); err != nil {
		return "", err
	}
	return script, os.Chmod(g.path(script), 0o700)
}

// linkInstanceDir points /var/lib/cloud/instance at this instance's directory, as cloud-init does.
func (g *guest) linkInstanceDir() error {
	dir := g.path(instanceDir(g.instanceID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	link := g.path("var/lib/cloud/instance")
	target := strings.TrimPrefix(instanceDir(g.instanceID), "var/lib/cloud/")
	st, err := os.Lstat(link)
	switch {
	case err == nil && st.Mode()&os.ModeSymlink == 0:
		return nil // a directory the image brought: leave it
	case err == nil:
		if old, _ := os.Readlink(link); old == target {
			return nil
		}
		os.Remove(link)
	}
	return os.Symlink(target, link)
}

func (g *guest) markBootFinished() error {
	p := g.path(BootFinishedPath(g.instanceID))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, fmt.Appendf(nil, "%s - %s\n", time.Now().UTC().Format(time.RFC3339), version), 0o644)
}

func (g *guest) writeHostname(hostname string) error {
	if hostname == "" {
		return nil
	}
	if err := os.MkdirAll(g.path("etc"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(g.path("etc/hostname"), []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	// 127.0.1.1 lets sudo and friends resolve the machine's own name without DNS, as Debian does.
	old, _ := os.ReadFile(g.path("etc/hosts"))
	var out []string
	hasLocalhost := false
	for _, l := range lines(string(old)) {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "127.0.1.1" {
			continue
		}
		if len(f) > 1 && f[0] == "127.0.0.1" {
			hasLocalhost = true
		}
		out = append(out, l)
	}
	if !hasLocalhost {
		out = append([]string{"127.0.0.1 localhost"}, out...)
	}
	out = append(out, "127.0.1.1 "+hostname)
	return os.WriteFile(g.path("etc/hosts"), []byte(strings.Join(out, "\n")+"\n"), 0o644)
}

func (g *guest) writeResolvConf(nameservers []string) error {
	if len(nameservers) == 0 {
		return nil
	}
	var b strings.Builder
	for _, ns := range nameservers {
		b.WriteString("nameserver " + ns + "\n")
	}
	p := g.path("etc/resolv.conf")
	// A symlink into systemd-resolved's directory would point nowhere here.
	if st, err := os.Lstat(p); err == nil && st.Mode()&os.ModeSymlink != 0 {
		os.Remove(p)
	}
	return os.WriteFile(p, []byte(b.String()), 0o644)
}

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	uid, gid int
	home     string
}

func (g *guest) lookupUser(name string) (passwdEntry, error) {
	data, err := os.ReadFile(g.path("etc/passwd"))
	if err != nil {
		return passwdEntry{}, err
	}
	for _, l := range lines(string(data)) {
		f := strings.Split(l, ":")
		if len(f) < 7 || f[0] != name {
			continue
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			return passwdEntry{}, fmt.Errorf("bad /etc/passwd line for %s", name)
		}
		return passwdEntry{uid: uid, gid: gid, home: f[5]}, nil
	}
	return passwdEntry{}, fmt.Errorf("no user %s in /etc/passwd", name)
}

// installKeys adds the keys the user does not have yet to ~/.ssh/authorized_keys, keeping the ones the
// user added.
func (g *guest) installKeys(user string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	u, err := g.lookupUser(user)
	if err != nil {
		return err
	}
	dir := g.path(filepath.Join(u.home, ".ssh"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	file := filepath.Join(dir, "authorized_keys")
	old, _ := os.ReadFile(file)
	have := map[string]bool{}
	for _, l := range lines(string(old)) {
		have[l] = true
	}
	content := string(old)
	if content != "" && !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	for _, k := range keys {
		if !have[k] {
			content += k + "\n"
			have[k] = true
		}
	}
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		return err
	}
	// sshd's StrictModes refuses keys in a directory or file others could write.
	for _, p := range []string{dir, file} {
		mode := os.FileMode(0o700)
		if p == file {
			mode = 0o600
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
		if err := os.Lchown(p, u.uid, u.gid); err != nil && os.Geteuid() == 0 {
			return err
		}
	}
	return nil
}

func (g *guest) writeFile(wf WriteFile) error {
	p := g.path(wf.Path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	perm := os.FileMode(wf.Permissions)
	if perm == 0 {
		perm = 0o644
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if wf.Append {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(p, flags, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(wf.Content); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(p, perm); err != nil {
		return err
	}
	if wf.Owner != "" && wf.Owner != "root:root" && wf.Owner != "root" {
		return g.run("chown", wf.Owner, wf.Path)
	}
	return nil
}

// startSSHD starts the image's sshd, creating its host keys on the first boot, and prints the keys'
// fingerprints to the console as EC2 does, so that users can check them before trusting the host.
func (g *guest) startSSHD(hostname string) {
	if !fileExists(g.path("usr/sbin/sshd")) {
		return
	}
	keys, _ := filepath.Glob(g.path("etc/ssh/ssh_host_*_key.pub"))
	if len(keys) == 0 {
		if err := g.run("ssh-keygen", "-A"); err != nil {
			g.say("overcast-init: ssh-keygen -A: %v", err)
		}
		keys, _ = filepath.Glob(g.path("etc/ssh/ssh_host_*_key.pub"))
	}
	if err := os.MkdirAll(g.path("run/sshd"), 0o755); err != nil {
		g.say("overcast-init: /run/sshd: %v", err)
	}
	_, done, err := g.spawn("/usr/sbin/sshd", []string{"/usr/sbin/sshd", "-D"})
	if err != nil {
		g.say("overcast-init: sshd: %v", err)
		return
	}
	go func() {
		ws := <-done
		g.say("overcast-init: sshd ended with %s", describe(ws))
	}()
	var fps, pubs []string
	for _, k := range keys {
		data, err := os.ReadFile(k)
		if err != nil {
			continue
		}
		line := strings.TrimSpace(string(data))
		if fp, err := Fingerprint(line); err == nil {
			fps = append(fps, fp+" root@"+hostname+" ("+keyTypeName(line)+")")
		}
		if f := strings.Fields(line); len(f) >= 2 {
			pubs = append(pubs, f[0]+" "+f[1]+" root@"+hostname)
		}
	}
	g.say("ec2: \nec2: #############################################################")
	g.say("ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----")
	for _, fp := range fps {
		g.say("ec2: %s", fp)
	}
	g.say("ec2: -----END SSH HOST KEY FINGERPRINTS-----")
	g.say("ec2: #############################################################")
	g.say("-----BEGIN SSH HOST KEY KEYS-----")
	for _, p := range pubs {
		g.say("%s", p)
	}
	g.say("-----END SSH HOST KEY KEYS-----")
}

// Fingerprint returns an OpenSSH public key's size and SHA256 fingerprint as ssh-keygen -l prints them:
// "256 SHA256:...".
func Fingerprint(authorizedKey string) (string, error) {
	f := strings.Fields(authorizedKey)
	if len(f) < 2 {
		return "", errors.New("not a public key line")
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(blob)
	return fmt.Sprintf("%d SHA256:%s", keyBits(blob), base64.RawStdEncoding.EncodeToString(sum[:])), nil
}

// keyBits reads the key size out of the SSH wire encoding of a public key.
func keyBits(blob []byte) int {
	var fields [][]byte
	for len(blob) >= 4 {
		n := binary.BigEndian.Uint32(blob)
		if uint64(n) > uint64(len(blob)-4) {
			break
		}
		fields = append(fields, blob[4:4+n])
		blob = blob[4+n:]
	}
	if len(fields) == 0 {
		return 0
	}
	switch t := string(fields[0]); {
	case t == "ssh-ed25519":
		return 256
	case t == "ssh-rsa" && len(fields) >= 3: // e, n
		return new(big.Int).SetBytes(fields[2]).BitLen()
	case t == "ssh-dss" && len(fields) >= 2: // p
		return new(big.Int).SetBytes(fields[1]).BitLen()
	case strings.HasPrefix(t, "ecdsa-sha2-nistp"):
		n, _ := strconv.Atoi(strings.TrimPrefix(t, "ecdsa-sha2-nistp"))
		return n
	}
	return 0
}

func keyTypeName(line string) string {
	switch t := strings.Fields(line)[0]; {
	case t == "ssh-ed25519":
		return "ED25519"
	case t == "ssh-rsa":
		return "RSA"
	case t == "ssh-dss":
		return "DSA"
	case strings.HasPrefix(t, "ecdsa"):
		return "ECDSA"
	default:
		return t
	}
}

// shutdown asks every process to stop and waits until they are gone. The driver SIGKILLs the machine when
// its grace period runs out; when this returns, the init exits and the kernel ends whatever is left.
func (g *guest) shutdown() {
	syscall.Kill(-1, syscall.SIGTERM)
	for {
		if err := syscall.Kill(-1, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
