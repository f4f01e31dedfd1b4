package linux

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
	"github.com/overcast-cloud/overcast/internal/host/compute/testsuite"
	"github.com/overcast-cloud/overcast/internal/testutil"
)

const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFZ9WpvaoL3eL0zTT5LJlwOJzLIUbexJOwGH4nwnlVI0"

// TestSSHD: on an image with sshd, the init makes host keys when there are none, starts sshd in the
// foreground mode with /run/sshd present, and prints the host key fingerprints as EC2 does. Stand-ins for
// sshd and ssh-keygen record how they were called.
func TestSSHD(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	root := img.LowerDirs[0]
	scripts := map[string]string{
		"usr/sbin/sshd":      "#!/bin/sh\necho \"sshd-started $*\"\n[ -d /run/sshd ] && echo run-sshd-present\nexec sleep 100000\n",
		"usr/bin/ssh-keygen": "#!/bin/sh\necho \"keygen $*\"\nmkdir -p /etc/ssh\necho '" + hostKey + " root@build' > /etc/ssh/ssh_host_ed25519_key.pub\n",
	}
	for p, s := range scripts {
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec := boot(t, d, img, "", nil)
	// sshd starts after the keys are printed, and its line comes last.
	testsuite.WaitConsole(t, d, spec.ID, "-----END SSH HOST KEY KEYS-----", 1)
	out := testsuite.WaitConsole(t, d, spec.ID, "run-sshd-present", 1)
	fp, _ := guestinit.Fingerprint(hostKey)
	for _, want := range []string{
		"keygen -A", "sshd-started -D", "run-sshd-present",
		"ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
		"ec2: " + fp + " root@" + spec.Hostname + " (ED25519)",
		hostKey + " root@" + spec.Hostname,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
}

// TestNetworkNamespace: a machine joins the network namespace it is given.
func TestNetworkNamespace(t *testing.T) {
	d := newDriver(t)
	ip := testutil.RequiresTool(t, "ip")
	name := "oc-test-" + randomHex(4)
	if out, err := exec.Command(ip, "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command(ip, "netns", "del", name).Run() })
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "10.99.77.1/32", "dev", "lo"}} {
		if out, err := exec.Command(ip, append([]string{"-n", name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	spec := boot(t, d, busyboxImage(t), "#!/bin/sh\nip addr show lo\necho addr-done\n",
		func(s *compute.Spec) { s.NetNS = "/var/run/netns/" + name })
	out := testsuite.WaitConsole(t, d, spec.ID, "addr-done", 1)
	if !strings.Contains(out, "10.99.77.1") {
		t.Errorf("the machine is not in netns %s:\n%s", name, out)
	}
}
