package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cleanupHost removes every host object the server made (machines, mounts, namespaces, nft tables, routes),
// after it has stopped: `overcast cleanup` destroys exactly what the data directory and prefix name.
func (s *server) cleanupHost() {
	if !s.cfg.compute {
		return
	}
	out, err := exec.Command(binary, "cleanup", "--data-dir", s.DataDir, "--network-prefix", s.cfg.prefix).CombinedOutput()
	if err != nil {
		s.t.Errorf("overcast cleanup: %v\n%s", err, out)
	}
	s.assertNoHostObjects(s.t, s.cfg.prefix)
}

// assertNoHostObjectsFor fails if anything on the host still carries the instance id: a namespace, a mount,
// a cgroup, a machine directory.
func (s *server) assertNoHostObjectsFor(t *testing.T, id string) {
	t.Helper()
	s.assertNoHostObjects(t, id)
	if _, err := os.Stat(filepath.Join(s.DataDir, "instances", id)); err == nil {
		t.Errorf("machine directory of %s is still there", id)
	}
}

func (s *server) assertNoHostObjects(t *testing.T, name string) {
	t.Helper()
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), name) {
		t.Errorf("network namespaces still name %s:\n%s", name, out)
	}
	if mounts, _ := os.ReadFile("/proc/mounts"); strings.Contains(string(mounts), name) {
		t.Errorf("mounts still name %s", name)
	}
	if out, _ := exec.Command("ip", "-o", "link").Output(); strings.Contains(string(out), name+"-") {
		t.Errorf("links still name %s", name)
	}
	if out, _ := exec.Command("nft", "list", "tables").Output(); strings.Contains(string(out), name) {
		t.Errorf("nft tables still name %s:\n%s", name, out)
	}
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/*" + name + "*")
	deeper, _ := filepath.Glob("/sys/fs/cgroup/*/*/*" + name + "*")
	if all := append(matches, deeper...); len(all) > 0 {
		t.Errorf("cgroups still name %s: %v", name, all)
	}
}
