package fake

import (
	"context"
	"os"
	"path/filepath"
	"strings"
)

// RootDiff writes the machine's in-memory root disk out as files under a directory named after the machine
// in the system's temporary directory (replacing what an earlier call wrote there) and returns it, as the
// linux driver returns its overlay's upper directory. RemoveRootDiff removes it.
func (d *Driver) RootDiff(ctx context.Context, id string) (string, error) {
	d.mu.Lock()
	m, err := d.get(id)
	files := map[string][]byte{}
	if err == nil {
		for p, b := range m.disk {
			files[p] = append([]byte(nil), b...)
		}
	}
	d.mu.Unlock()
	if err != nil {
		return "", err
	}
	dir := rootDiffDir(id)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for p, b := range files {
		dst := filepath.Join(dir, filepath.Clean("/"+strings.TrimPrefix(p, "/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// RemoveRootDiff removes what RootDiff wrote for the machine.
func (d *Driver) RemoveRootDiff(id string) error { return os.RemoveAll(rootDiffDir(id)) }

func rootDiffDir(id string) string {
	return filepath.Join(os.TempDir(), "oc-fake-rootdiff-"+filepath.Base(id))
}
