package objects

import (
	"crypto/md5"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteCommitOpen(t *testing.T) {
	root := t.TempDir()
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	if sum := md5.Sum([]byte("hello")); w.Size() != 5 || string(w.MD5()) != string(sum[:]) {
		t.Errorf("size %d md5 %x", w.Size(), w.MD5())
	}
	// Until Commit the body has no name.
	if _, err := d.Open("b1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open before commit: %v", err)
	}
	if err := w.Commit("b1"); err != nil {
		t.Fatal(err)
	}
	w.Abort() // a no-op after Commit
	f, err := d.Open("b1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "hello" || len(entries(t, filepath.Join(root, tmpDir))) != 0 {
		t.Errorf("body %q, tmp %v", b, entries(t, filepath.Join(root, tmpDir)))
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	root := t.TempDir()
	d, _ := Open(root)
	w, _ := d.Create()
	w.Write([]byte("partial"))
	w.Abort()
	if got := entries(t, root); !slices.Equal(got, []string{tmpDir}) || len(entries(t, filepath.Join(root, tmpDir))) != 0 {
		t.Errorf("after Abort: %v", got)
	}
}

func TestLinkAndRemove(t *testing.T) {
	d, _ := Open(t.TempDir())
	w, _ := d.Create()
	w.Write([]byte("shared"))
	if err := w.Commit("a"); err != nil {
		t.Fatal(err)
	}
	if err := d.Link("a", "b"); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove("a"); err != nil {
		t.Errorf("removing twice: %v", err)
	}
	f, err := d.Open("b")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "shared" {
		t.Errorf("link reads %q", b)
	}
	if err := d.Link("gone", "c"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("link of a missing body: %v", err)
	}
}

func TestSweep(t *testing.T) {
	root := t.TempDir()
	d, _ := Open(root)
	for _, id := range []string{"keep", "orphan"} {
		w, _ := d.Create()
		w.Write([]byte(id))
		w.Commit(id)
	}
	pending, _ := d.Create()
	pending.Write([]byte("in flight at the crash"))
	removed, err := d.Sweep(func(id string) bool { return id == "keep" })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{"orphan"}) || !slices.Equal(entries(t, root), []string{tmpDir, "keep"}) ||
		len(entries(t, filepath.Join(root, tmpDir))) != 0 {
		t.Errorf("removed %v, left %v", removed, entries(t, root))
	}
}

func TestIDsStayInside(t *testing.T) {
	d, _ := Open(t.TempDir())
	for _, id := range []string{"", ".tmp", "../x", "a/b"} {
		if _, err := d.Open(id); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q): %v", id, err)
		}
	}
}
