package volumes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// plainMount is an encrypted volume's plaintext view: a FUSE file system at plain/<id> holding one file,
// "volume", whose reads decrypt the host file and whose writes encrypt into it.
type plainMount struct {
	server *fuse.Server
	file   *plainFile
	dir    string
}

func (s *Store) plainPath(id string) string { return filepath.Join(s.root, "plain", id, "volume") }

func (s *Store) plainFor(id string) *plainMount {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.plains[id]
}

// mountPlain serves the volume's plaintext view. The caller holds the volume's lock.
func (s *Store) mountPlain(ctx context.Context, id string, m *meta) error {
	key, err := s.unwrap(ctx, m.Encryption)
	if err != nil {
		return err
	}
	c, err := newSectorCipher(key)
	if err != nil {
		return err
	}
	img, err := os.OpenFile(s.imgPath(id), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	dir := filepath.Join(s.root, "plain", id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		img.Close()
		return fmt.Errorf("volumes: %w", err)
	}
	file := &plainFile{img: img, c: c}
	root := &fs.Inode{}
	zero := time.Duration(0)
	server, err := fs.Mount(dir, root, &fs.Options{
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true, // no fusermount on these hosts; we are root
			AllowOther:        true, // the loop device's I/O comes from kernel threads
			FsName:            "overcast-" + id,
			Name:              "overcast-volume",
			MaxWrite:          1 << 20,
		},
		// Sizes change under Resize; never let the kernel trust a stale one.
		AttrTimeout:  &zero,
		EntryTimeout: &zero,
		OnAdd: func(ctx context.Context) {
			ch := root.NewPersistentInode(ctx, file, fs.StableAttr{Mode: syscall.S_IFREG, Ino: 2})
			root.AddChild("volume", ch, true)
		},
	})
	if err != nil {
		img.Close()
		os.Remove(dir)
		return fmt.Errorf("volumes: FUSE mount of the plaintext view of %s: %v: %w", id, err, ErrUnsupported)
	}
	s.mu.Lock()
	s.plains[id] = &plainMount{server: server, file: file, dir: dir}
	s.mu.Unlock()
	return nil
}

// unmountPlain stops serving the volume's plaintext view, if it is served. Its loop device must be gone.
func (s *Store) unmountPlain(id string) error {
	p := s.plainFor(id)
	if p == nil {
		return nil
	}
	if err := p.server.Unmount(); err != nil {
		return fmt.Errorf("volumes: unmount %s: %w", p.dir, err)
	}
	p.file.img.Close()
	os.Remove(p.dir)
	s.mu.Lock()
	delete(s.plains, id)
	s.mu.Unlock()
	return nil
}

// resized makes the kernel see the host file's new size before the loop device is told.
func (p *plainMount) resized() {
	p.file.NotifyContent(0, 0)
	var st unix.Stat_t
	unix.Stat(filepath.Join(p.dir, "volume"), &st)
}

// recoverPlain clears what a dead process left under plain/: loop devices on its FUSE files (their I/O can only
// fail now) and the dead mounts.
func (s *Store) recoverPlain() error {
	dir := filepath.Join(s.root, "plain")
	devs, err := loopsUnder(dir, true)
	if err != nil {
		return err
	}
	for _, dev := range devs {
		s.log.Warn("detaching a loop device whose plaintext view died with its process", "device", dev)
		if err := detachLoop(dev, false); err != nil {
			return err
		}
	}
	mps, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, mp := range mps {
		if mp == dir {
			continue
		}
		s.log.Warn("unmounting a dead plaintext view", "mount", mp)
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("volumes: unmount %s: %w", mp, err)
		}
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	for _, e := range es {
		os.Remove(filepath.Join(dir, e.Name()))
	}
	return nil
}

// plainFile is the FUSE file: plaintext over the ciphertext host file. Reads and writes are in whole sectors on
// the host file; a write of part of a sector reads, changes and rewrites the sector under the lock.
type plainFile struct {
	fs.Inode
	img *os.File
	c   *sectorCipher
	mu  sync.RWMutex
}

var (
	_ fs.NodeGetattrer = (*plainFile)(nil)
	_ fs.NodeOpener    = (*plainFile)(nil)
	_ fs.NodeReader    = (*plainFile)(nil)
	_ fs.NodeWriter    = (*plainFile)(nil)
	_ fs.NodeFsyncer   = (*plainFile)(nil)
	_ fs.NodeSetattrer = (*plainFile)(nil)
)

func (f *plainFile) size() (int64, syscall.Errno) {
	info, err := f.img.Stat()
	if err != nil {
		return 0, fs.ToErrno(err)
	}
	return info.Size(), 0
}

func (f *plainFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	size, errno := f.size()
	if errno != 0 {
		return errno
	}
	out.Mode = syscall.S_IFREG | 0o600
	out.Size = uint64(size)
	out.Blocks = (uint64(size) + 511) / 512
	return 0
}

// Setattr accepts what the loop driver and tools ask (times, the same size) but never a size change: the
// volume's size is the store's to change.
func (f *plainFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok {
		if cur, errno := f.size(); errno != 0 || uint64(cur) != sz {
			return syscall.EPERM
		}
	}
	return f.Getattr(ctx, fh, out)
}

func (f *plainFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return nil, 0, 0
}

// span is the sector-aligned range covering [off, off+n) within size.
func span(off int64, n int, size int64) (start, end int64) {
	start = off &^ (SectorSize - 1)
	end = min((off+int64(n)+SectorSize-1)&^(SectorSize-1), size)
	return start, end
}

func (f *plainFile) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	size, errno := f.size()
	if errno != 0 {
		return nil, errno
	}
	if off >= size {
		return fuse.ReadResultData(nil), 0
	}
	start, end := span(off, len(dest), size)
	buf := make([]byte, end-start)
	if _, err := f.img.ReadAt(buf, start); err != nil {
		return nil, fs.ToErrno(err)
	}
	f.c.decrypt(buf, buf, uint64(start/SectorSize))
	lo := off - start
	hi := min(lo+int64(len(dest)), int64(len(buf)))
	return fuse.ReadResultData(buf[lo:hi]), 0
}

func (f *plainFile) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	size, errno := f.size()
	if errno != 0 {
		return 0, errno
	}
	if off < 0 || off+int64(len(data)) > size {
		return 0, syscall.ENOSPC
	}
	start, end := span(off, len(data), size)
	buf := make([]byte, end-start)
	if start != off || end != off+int64(len(data)) {
		// Part of a sector: start from the current plaintext of the sectors.
		if _, err := f.img.ReadAt(buf, start); err != nil {
			return 0, fs.ToErrno(err)
		}
		f.c.decrypt(buf, buf, uint64(start/SectorSize))
	}
	copy(buf[off-start:], data)
	f.c.encrypt(buf, buf, uint64(start/SectorSize))
	if _, err := f.img.WriteAt(buf, start); err != nil {
		return 0, fs.ToErrno(err)
	}
	return uint32(len(data)), 0
}

func (f *plainFile) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	return fs.ToErrno(f.img.Sync())
}
