// Package objects keeps the bodies of S3 objects and multipart parts as immutable files named by id in one
// directory. A body is streamed into a temporary file (hashing it with MD5 on the way, since S3's ETag is an
// MD5), synced, and renamed into place under its id only when it is complete, so a reader never sees half a
// body and a failed write leaves nothing behind but, after a crash, a temporary file that Sweep removes.
//
// The package knows nothing of buckets, keys or records: the S3 service decides the ids, records them, and
// tells Sweep which ids its records still name.
package objects

import (
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tmpDir is the subdirectory of temporary files. Ids never start with a dot, so it cannot clash with one.
const tmpDir = ".tmp"

// Dir is a directory of bodies.
type Dir struct {
	root string
}

// Open returns the Dir rooted at root, creating it when missing.
func Open(root string) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(root, tmpDir), 0o750); err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	return &Dir{root: root}, nil
}

// Path is the file of id.
func (d *Dir) Path(id string) string { return filepath.Join(d.root, id) }

// Open opens the body id for reading. A missing body is an error matching fs.ErrNotExist.
func (d *Dir) Open(id string) (*os.File, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	return os.Open(d.Path(id))
}

// Remove deletes the body id; a body already gone is not an error.
func (d *Dir) Remove(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := os.Remove(d.Path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Link makes dst a second name of the body src without copying it; bodies are immutable, so sharing the
// inode is safe, and removing one name leaves the other. When the file system cannot link, it copies.
func (d *Dir) Link(src, dst string) error {
	if err := checkID(src); err != nil {
		return err
	}
	if err := checkID(dst); err != nil {
		return err
	}
	err := os.Link(d.Path(src), d.Path(dst))
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := d.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := d.Create()
	if err != nil {
		return err
	}
	if _, err := w.ReadFrom(f); err != nil {
		w.Abort()
		return err
	}
	return w.Commit(dst)
}

// Create starts a new body in a temporary file. The caller ends it with Commit or Abort.
func (d *Dir) Create() (*Writer, error) {
	f, err := os.CreateTemp(filepath.Join(d.root, tmpDir), "body-")
	if err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	return &Writer{dir: d, f: f, md5: md5.New()}, nil
}

// Sweep removes every temporary file and every body whose id keep rejects, and returns the ids it removed.
// It is for startup, before any write is under way: a write in flight has a temporary file that Sweep would
// remove.
func (d *Dir) Sweep(keep func(id string) bool) ([]string, error) {
	tmp := filepath.Join(d.root, tmpDir)
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	entries, err := os.ReadDir(d.root)
	if err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	var removed []string
	for _, e := range entries {
		id := e.Name()
		if e.IsDir() || checkID(id) != nil || keep(id) {
			continue
		}
		if err := d.Remove(id); err != nil {
			return removed, fmt.Errorf("objects: %w", err)
		}
		removed = append(removed, id)
	}
	return removed, nil
}

// checkID refuses ids that would name a file outside the directory or the temporary subdirectory.
func checkID(id string) error {
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, `/\`) {
		return fmt.Errorf("objects: invalid id %q", id)
	}
	return nil
}

// Writer is a body being written. It is not safe for concurrent use.
type Writer struct {
	dir  *Dir
	f    *os.File
	md5  hash.Hash
	size int64
	done bool
}

// copyBuffer is large enough that a 5 GiB body does not cost a million small writes.
const copyBuffer = 1 << 20

// ReadFrom streams r into the body until EOF.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, copyBuffer)
	var n int64
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// Write appends p to the body.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.md5.Write(p[:n])
	w.size += int64(n)
	return n, err
}

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.size }

// MD5 is the digest of the bytes written so far.
func (w *Writer) MD5() []byte { return w.md5.Sum(nil) }

// Commit makes the body durable and names it id. After Commit the Writer is spent.
func (w *Writer) Commit(id string) error {
	if err := checkID(id); err != nil {
		w.Abort()
		return err
	}
	w.done = true
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.dir.Path(id))
	}
	if err == nil {
		// The record that names id is written next; the name must survive a crash as well as the data.
		err = syncDir(w.dir.root)
	}
	if err != nil {
		// Ids are fresh, so whatever is under id now is this body, renamed before the failure.
		os.Remove(w.f.Name())
		os.Remove(w.dir.Path(id))
		return fmt.Errorf("objects: %w", err)
	}
	return nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abort discards the body. It is safe to call after Commit, which makes deferring it the easy way to clean
// up on every error path.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}
