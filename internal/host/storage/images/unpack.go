package images

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// unpackLayer extracts one layer (tar, gzip or not) over the tree at root, which must exist. Layers are
// applied bottom first into one directory; OCI whiteouts (".wh.NAME", ".wh..wh..opq") delete what lower layers
// put there. Every path is resolved inside root by the kernel (openat2 with RESOLVE_IN_ROOT), so a layer whose
// symlinks point at "/" or "../.." (an ECR push can carry anything) cannot write outside it.
// It returns the layer's diff id: the digest of the uncompressed tar stream.
func unpackLayer(ctx context.Context, r io.Reader, root string) (diffID string, err error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", err
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	h := sha256.New()
	r = io.TeeReader(r, h)
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rootfd)
	u := unpacker{rootfd: rootfd, root: root}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		if err := u.entry(hdr, tr); err != nil {
			return "", fmt.Errorf("images: unpack %s: %w", hdr.Name, err)
		}
	}
	// Directory times last: creating their children changed them.
	for i := len(u.dirs) - 1; i >= 0; i-- {
		d := u.dirs[i]
		if err := u.setTimes(d.rel, d.mtime); err != nil {
			return "", err
		}
	}
	// A tar stream can end before the blob does (trailing zero blocks); read the rest so that the caller's
	// digest check sees every byte.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

type unpacker struct {
	rootfd int
	root   string
	dirs   []dirTime
}

type dirTime struct {
	rel   string
	mtime time.Time
}

func (u *unpacker) entry(hdr *tar.Header, body io.Reader) error {
	rel := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
	if rel == "" {
		return nil // the root itself
	}
	parent, base := path.Split(rel)
	pfd, err := u.mkdirAll(parent)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	if base == ".wh..wh..opq" {
		return u.clearDir(pfd)
	}
	if strings.HasPrefix(base, ".wh.") {
		return u.removeAt(pfd, strings.TrimPrefix(base, ".wh."))
	}

	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := u.removeAt(pfd, base); err != nil {
				return err
			}
		}
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
			return err
		}
		u.dirs = append(u.dirs, dirTime{rel, hdr.ModTime})
		return u.own(pfd, base, hdr, mode)
	case tar.TypeReg:
		if err := u.removeAt(pfd, base); err != nil {
			return err
		}
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), rel)
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := u.removeAt(pfd, base); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		if err := u.removeAt(pfd, base); err != nil {
			return err
		}
		target := strings.TrimPrefix(path.Clean("/"+hdr.Linkname), "/")
		tdir, tbase := path.Split(target)
		tfd, err := u.openDir(tdir)
		if err != nil {
			return err
		}
		defer unix.Close(tfd)
		// Flags 0: a hard link to a symlink links the symlink itself, never what it points at.
		return unix.Linkat(tfd, tbase, pfd, base, 0)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if err := u.removeAt(pfd, base); err != nil {
			return err
		}
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, kind|0o600, int(dev)); err != nil {
			return err
		}
	default:
		return nil // PAX/GNU bookkeeping entries are consumed by archive/tar; anything else is not a file
	}
	if err := u.own(pfd, base, hdr, mode); err != nil {
		return err
	}
	return setTimesAt(pfd, base, hdr.ModTime)
}

// own sets owner, then mode: chown clears set-id bits, so the order matters. Symlinks have no mode of their own.
func (u *unpacker) own(pfd int, base string, hdr *tar.Header, mode uint32) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return nil
	}
	return unix.Fchmodat(pfd, base, mode, 0)
}

func setTimesAt(dirfd int, base string, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func (u *unpacker) setTimes(rel string, mtime time.Time) error {
	parent, base := path.Split(rel)
	pfd, err := u.openDir(parent)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return setTimesAt(pfd, base, mtime)
}

// openDir opens a directory of the tree, resolving every component (symlinks included) inside root.
func (u *unpacker) openDir(rel string) (int, error) {
	rel = strings.Trim(rel, "/")
	if rel == "" {
		rel = "."
	}
	return unix.Openat2(u.rootfd, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// mkdirAll opens a directory of the tree, creating missing components (mode 0755, as tar does for
// directories a layer does not list).
func (u *unpacker) mkdirAll(rel string) (int, error) {
	fd, err := u.openDir(rel)
	if err != unix.ENOENT {
		return fd, err
	}
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	for i := range parts {
		pfd, err := u.openDir(strings.Join(parts[:i], "/"))
		if err != nil {
			return -1, err
		}
		err = unix.Mkdirat(pfd, parts[i], 0o755)
		unix.Close(pfd)
		if err != nil && err != unix.EEXIST {
			return -1, err
		}
	}
	return u.openDir(rel)
}

// realPath is the host path of an open directory of the tree, checked to be inside root.
func (u *unpacker) realPath(fd int) (string, error) {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", err
	}
	root, err := filepath.EvalSymlinks(u.root)
	if err != nil {
		return "", err
	}
	if p != root && !strings.HasPrefix(p, root+"/") {
		return "", fmt.Errorf("images: %s resolved outside the root filesystem", p)
	}
	return p, nil
}

// removeAt removes base (a whole tree if it is a directory) from the directory pfd; absence is fine.
func (u *unpacker) removeAt(pfd int, base string) error {
	err := unix.Unlinkat(pfd, base, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return err
	}
	dir, err := u.realPath(pfd)
	if err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(dir, base))
}

// clearDir empties a directory (an opaque whiteout hides everything lower layers put there).
func (u *unpacker) clearDir(pfd int) error {
	dir, err := u.realPath(pfd)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
