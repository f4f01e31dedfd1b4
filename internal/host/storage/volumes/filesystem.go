package volumes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ImportFilesystem stores, as the snapshot snapshotID, an ext4 filesystem of sizeBytes that holds the tree
// of dirs (an image's root filesystem; several directories are layers, topmost first). It is how an AMI's
// root filesystem becomes the snapshot its root volumes are restored from. A snapshot that exists already
// is kept: the import is done once per image and host.
func (s *Store) ImportFilesystem(ctx context.Context, snapshotID string, dirs []string, sizeBytes int64) error {
	if len(dirs) == 0 {
		return fmt.Errorf("import of %s: no directories: %w", snapshotID, ErrInvalid)
	}
	if err := checkSize(sizeBytes, false); err != nil {
		return err
	}
	defer s.lock(snapshotID)()
	if _, err := s.snaps.Manifest(snapshotID); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "import-")
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := dirs[0]
	if len(dirs) > 1 {
		// A read-only overlay of the layers is the tree mkfs copies.
		src = filepath.Join(tmp, "tree")
		if err := os.Mkdir(src, 0o700); err != nil {
			return err
		}
		if err := unix.Mount("overlay", src, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(dirs, ":")); err != nil {
			return fmt.Errorf("volumes: mount the layers of %s: %w", snapshotID, err)
		}
		defer unix.Unmount(src, unix.MNT_DETACH)
	}
	img := filepath.Join(tmp, "fs.img")
	if err := makeFilesystem(ctx, img, src, sizeBytes); err != nil {
		return fmt.Errorf("volumes: filesystem for %s: %w", snapshotID, err)
	}
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err = s.snaps.Put(ctx, snapshotID, f, sizeBytes, ""); err != nil {
		return err
	}
	// The image stays as the snapshot's base: restores copy from it (restoreFromBase).
	if err := os.Rename(img, s.basePath(snapshotID)); err != nil {
		s.log.Warn("keep the base image of an imported filesystem", "snapshot", snapshotID, "err", err)
	}
	return nil
}

func (s *Store) basePath(snapshotID string) string {
	return filepath.Join(s.root, "bases", snapshotID+".img")
}

// restoreFromBase fills f, of size bytes, with the data extents of the plain image base, encrypting them with
// to when set. Holes stay holes; plain extents are copied by the kernel (copy_file_range).
func restoreFromBase(ctx context.Context, f, base *os.File, size int64, to *sectorCipher) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	fi, err := base.Stat()
	if err != nil {
		return err
	}
	end := min(fi.Size(), size)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := unix.Seek(int(base.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) || err == nil && data >= end {
			return nil
		}
		if err != nil {
			return err
		}
		hole, err := unix.Seek(int(base.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		hole = min(hole, end)
		if to == nil {
			if err := copyRange(f, base, data, hole); err != nil {
				return err
			}
			off = hole
			continue
		}
		for pos := data; pos < hole; {
			n := int(min(int64(len(buf)), hole-pos))
			if _, err := base.ReadAt(buf[:n], pos); err != nil {
				return err
			}
			to.encrypt(buf[:n], buf[:n], uint64(pos/SectorSize))
			if _, err := f.WriteAt(buf[:n], pos); err != nil {
				return err
			}
			pos += int64(n)
		}
		off = hole
	}
	return nil
}

// copyRange copies bytes [from, to) of src to the same offsets of dst inside the kernel.
func copyRange(dst, src *os.File, from, to int64) error {
	for from < to {
		roff, woff := from, from
		n, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), &woff, int(to-from), 0)
		if err != nil {
			return fmt.Errorf("copy_file_range: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("copy_file_range: short copy at %d", from)
		}
		from += int64(n)
	}
	return nil
}

// makeFilesystem writes an ext4 filesystem of size bytes holding the tree at src into the new sparse file path.
func makeFilesystem(ctx context.Context, path, src string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// The label is the one Debian's and Ubuntu's cloud images give their root filesystem.
	out, err := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-L", "cloudimg-rootfs", "-d", src, path).CombinedOutput()
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return fmt.Errorf("mkfs.ext4 (e2fsprogs) is needed: %w: %w", err, ErrUnsupported)
		}
		return fmt.Errorf("mkfs.ext4: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// GrowFilesystem grows the ext4 filesystem on a volume to the volume's size, as cloud-init's growpart and
// resize2fs do at an instance's first boot when its root volume is larger than its image. The volume must not
// be in use. An encrypted volume is grown through its plaintext device.
func (s *Store) GrowFilesystem(ctx context.Context, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	m, err := s.readMeta(id)
	if err != nil {
		return err
	}
	path := s.imgPath(id)
	if m.Encryption != nil {
		if path, err = s.Device(ctx, id); err != nil {
			return err
		}
	}
	out, err := exec.CommandContext(ctx, "resize2fs", "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("resize2fs %s: %v: %s", id, err, strings.TrimSpace(string(out)))
	}
	return nil
}
