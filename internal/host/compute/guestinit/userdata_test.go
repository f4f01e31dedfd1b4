package guestinit

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseScript(t *testing.T) {
	script := "#!/bin/bash\necho hello > /var/www/html/index.html\n"
	for name, data := range map[string][]byte{
		"plain":       []byte(script),
		"base64":      []byte(base64.StdEncoding.EncodeToString([]byte(script))),
		"gzip":        gz(script),
		"gzip+base64": []byte(base64.StdEncoding.EncodeToString(gz(script))),
		"wrapped b64": []byte(wrap(base64.StdEncoding.EncodeToString([]byte(script)))),
		"double b64":  []byte(base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(script))))),
	} {
		ud, err := ParseUserData(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ud.Kind != KindScript || string(ud.Script) != script {
			t.Errorf("%s: got %q %q", name, ud.Kind, ud.Script)
		}
	}
}

func TestParseKinds(t *testing.T) {
	for data, want := range map[string]Kind{
		"":                KindNone,
		"  \n":            KindNone,
		"echo hi":         KindUnknown,
		"#cloud-config\n": KindCloudConfig,
		"#!/bin/sh\ntrue": KindScript,
	} {
		ud, err := ParseUserData([]byte(data))
		if err != nil || ud.Kind != want {
			t.Errorf("%q: kind %q err %v, want %q", data, ud.Kind, err, want)
		}
	}
}

func TestParseCloudConfig(t *testing.T) {
	src := `#cloud-config
# a comment
package_update: true
packages: [nginx, curl]
bootcmd:
  - echo booting  # trailing comment
  - [ sh, -c, "echo $(hostname) > /run/name" ]
write_files:
  - path: /etc/motd
    content: |
      Welcome.
        Indented line.

      After a blank line.
    permissions: '0600'
    owner: ec2-user:ec2-user
  - path: /opt/blob
    encoding: b64
    content: aGVsbG8gd29ybGQ=
  - content: "quoted\tvalue\n"
    path: "/opt/quoted"
    append: true
  - path: /opt/folded
    content: >-
      one
      two
runcmd:
- 'echo "runcmd: ran" >> /var/log/out' 
- - ls
  - -l
  - /tmp dir
- 'single ''quoted'''
- curl http://169.254.169.254/latest/meta-data/instance-id
`
	cfg, err := ParseCloudConfig([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	wantBoot := []Command{{Shell: "echo booting"}, {Argv: []string{"sh", "-c", "echo $(hostname) > /run/name"}}}
	if !reflect.DeepEqual(cfg.BootCmd, wantBoot) {
		t.Errorf("bootcmd = %#v", cfg.BootCmd)
	}
	wantRun := []Command{
		{Shell: `echo "runcmd: ran" >> /var/log/out`},
		{Argv: []string{"ls", "-l", "/tmp dir"}},
		{Shell: "single 'quoted'"},
		{Shell: "curl http://169.254.169.254/latest/meta-data/instance-id"},
	}
	if !reflect.DeepEqual(cfg.RunCmd, wantRun) {
		t.Errorf("runcmd = %#v", cfg.RunCmd)
	}
	wantFiles := []WriteFile{
		{Path: "/etc/motd", Content: []byte("Welcome.\n  Indented line.\n\nAfter a blank line.\n"), Permissions: 0o600, Owner: "ec2-user:ec2-user"},
		{Path: "/opt/blob", Content: []byte("hello world")},
		{Path: "/opt/quoted", Content: []byte("quoted\tvalue\n"), Append: true},
		{Path: "/opt/folded", Content: []byte("one two")},
	}
	if !reflect.DeepEqual(cfg.WriteFiles, wantFiles) {
		for _, f := range cfg.WriteFiles {
			t.Logf("%+v %q", f, f.Content)
		}
		t.Errorf("write_files differ")
	}
	if !reflect.DeepEqual(cfg.Ignored, []string{"package_update", "packages"}) {
		t.Errorf("ignored = %v", cfg.Ignored)
	}
	if got := cfg.RunCmd[1].ShellLine(); got != "ls -l '/tmp dir'" {
		t.Errorf("ShellLine = %q", got)
	}
}

func TestParseCloudConfigErrors(t *testing.T) {
	for _, src := range []string{
		"#cloud-config\nruncmd: echo hi\n",
		"#cloud-config\nwrite_files:\n  - content: x\n",
		"#cloud-config\nwrite_files:\n  - path: /x\n    permissions: rw\n",
		"#cloud-config\nwrite_files:\n  - path: /x\n    encoding: rot13\n",
		"#cloud-config\nruncmd: [a, b\n",
	} {
		if _, err := ParseCloudConfig([]byte(src)); err == nil {
			t.Errorf("no error for %q", src)
		}
	}
}

func TestFingerprint(t *testing.T) {
	// ssh-keygen -l -f of this key prints "256 SHA256:RdE0SuQz9dNJBgn1RxNyR3VzMyh6L+ccIXqK06pT7HI".
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFZ9WpvaoL3eL0zTT5LJlwOJzLIUbexJOwGH4nwnlVI0 test"
	got, err := Fingerprint(key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "256 SHA256:") || len(got) != len("256 SHA256:")+43 {
		t.Errorf("Fingerprint = %q", got)
	}
}

func TestBootFiles(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nec2-user:x:1000:1000::/home/ec2-user:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("127.0.0.1 localhost\n127.0.1.1 old-name\n"), 0o644))
	must(t, os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(root, "etc/resolv.conf")))
	g := &guest{root: root, console: &bytes.Buffer{}, instanceID: "i-0123"}
	must(t, g.writeHostname("ip-172-31-5-9"))
	must(t, g.writeResolvConf([]string{"172.31.0.2"}))
	must(t, g.installKeys("ec2-user", []string{"ssh-ed25519 AAAA one"}))
	must(t, g.installKeys("ec2-user", []string{"ssh-ed25519 AAAA one", "ssh-rsa BBBB two"}))

	check := func(p, want string) {
		t.Helper()
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q (%v), want %q", p, got, err, want)
		}
	}
	check("etc/hostname", "ip-172-31-5-9\n")
	check("etc/hosts", "127.0.0.1 localhost\n127.0.1.1 ip-172-31-5-9\n")
	check("etc/resolv.conf", "nameserver 172.31.0.2\n")
	check("home/ec2-user/.ssh/authorized_keys", "ssh-ed25519 AAAA one\nssh-rsa BBBB two\n")
	for p, mode := range map[string]os.FileMode{"home/ec2-user/.ssh": 0o700, "home/ec2-user/.ssh/authorized_keys": 0o600} {
		st, err := os.Stat(filepath.Join(root, p))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s mode = %v (%v), want %v", p, st.Mode().Perm(), err, mode)
		}
	}
	if err := g.installKeys("nobody", []string{"k"}); err == nil {
		t.Error("installKeys for a missing user succeeded")
	}

	ud, err := ParseUserData([]byte("#cloud-config\nruncmd:\n - echo hi\n - [touch, /tmp/a b]\n"))
	must(t, err)
	script, err := g.userScript(ud)
	must(t, err)
	if script != "/var/lib/cloud/instances/i-0123/scripts/runcmd" {
		t.Errorf("script = %s", script)
	}
	check(strings.TrimPrefix(script, "/"), "#!/bin/sh\necho hi\ntouch '/tmp/a b'\n")
	must(t, g.linkInstanceDir())
	must(t, g.linkInstanceDir())
	check("var/lib/cloud/instance/scripts/runcmd", "#!/bin/sh\necho hi\ntouch '/tmp/a b'\n")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 20 {
		b.WriteString(s[:20] + "\n")
		s = s[20:]
	}
	return b.String() + s
}
