// Package testutil holds the one guard for tests that need host capabilities. A test that needs root,
// network namespaces, cgroups or overlayfs calls RequiresRoot; it skips only where the capability is truly
// absent (not root), and CI runs as root, so those tests always run there.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// RequiresRoot skips the test unless it runs as root.
func RequiresRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root, and CI must run it")
		}
		t.Skip("needs root")
	}
}

// RequiresTool fails the test when a host tool the project installs (scripts/deps.sh) is missing.
func RequiresTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed; run scripts/deps.sh", name)
	}
	return p
}
