package volumes

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/storage/snapshots"
	"github.com/overcast-cloud/overcast/internal/service/ec2"
)

var _ ec2.Volumes = (*Store)(nil)

const mib = int64(1) << 20

type fixture struct {
	root  string
	snaps *snapshots.Store
	vols  *Store
	keys  *FileKeys
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	snaps, err := snapshots.Open(filepath.Join(root, "snapshots"), snapshots.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snaps.Close() })
	keys, err := NewFileKeys(filepath.Join(root, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	vols, err := Open(filepath.Join(root, "ebs"), snaps, Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	// Runs before the temporary directory goes: no loop device or mount outlives the test.
	t.Cleanup(func() {
		if err := vols.Close(); err != nil {
			t.Error(err)
		}
		releaseAll(t, vols)
	})
	return &fixture{root: root, snaps: snaps, vols: vols, keys: keys}
}

// releaseAll detaches any loop device still bound to a file of the store.
func releaseAll(t *testing.T, s *Store) {
	for _, dir := range []string{filepath.Join(s.root, "volumes"), filepath.Join(s.root, "plain")} {
		devs, _ := loopsUnder(dir, true)
		for _, dev := range devs {
			t.Errorf("loop device %s left bound to %s", dev, loopBacking(dev))
			detachLoop(dev, false)
		}
	}
	if mps, _ := mountsUnder(s.root); len(mps) > 0 {
		t.Errorf("mounts left: %v", mps)
		for _, mp := range mps {
			unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
}

func randomBytes(n int64) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func writeAt(t *testing.T, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func TestCreateResizeDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v := f.vols
	if err := v.Create(ctx, "vol-1", 1<<30); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(v.Path("vol-1"))
	if err != nil || info.Size() != 1<<30 {
		t.Fatalf("volume file: %v, %v", info, err)
	}
	if a := allocated(t, v.Path("vol-1")); a != 0 {
		t.Fatalf("a new 1 GiB volume allocates %d bytes; want a sparse file", a)
	}
	if err := v.Create(ctx, "vol-1", 1<<30); !apierr.Is(err, apierr.AlreadyExists) {
		t.Fatalf("second Create: %v", err)
	}
	if err := v.Resize(ctx, "vol-1", 1<<29); !errors.Is(err, ErrInvalid) {
		t.Fatalf("shrink: %v", err)
	}
	if err := v.Resize(ctx, "vol-1", 2<<30); err != nil {
		t.Fatal(err)
	}
	if in, _ := v.Info(ctx, "vol-1"); in.Size != 2<<30 {
		t.Fatalf("size after Resize: %d", in.Size)
	}
	if info, _ := os.Stat(v.Path("vol-1")); info.Size() != 2<<30 {
		t.Fatalf("file size after Resize: %d", info.Size())
	}
	if err := v.Resize(ctx, "vol-404", 1<<30); !apierr.Is(err, apierr.NotFound) {
		t.Fatalf("Resize of a missing volume: %v", err)
	}
	if err := v.Create(ctx, "../x", 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("path as id: %v", err)
	}
	if err := v.Create(ctx, "vol-0", 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero size: %v", err)
	}
	if err := v.Delete(ctx, "vol-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(v.Path("vol-1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("volume file after Delete: %v", err)
	}
	if err := v.Delete(ctx, "vol-1"); !apierr.Is(err, apierr.NotFound) {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestRecoverRemovesHalfMadeVolumes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.vols.Create(ctx, "vol-ok", mib); err != nil {
		t.Fatal(err)
	}
	ebs := filepath.Join(f.root, "ebs")
	os.WriteFile(filepath.Join(ebs, "volumes", "vol-half.img"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(ebs, "tmp", "vol-tmp.img.123"), []byte("x"), 0o600)
	v2, err := Open(ebs, f.snaps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	es, _ := os.ReadDir(filepath.Join(ebs, "volumes"))
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	if len(names) != 2 || names[0] != "vol-ok.img" || names[1] != "vol-ok.json" {
		t.Fatalf("after recovery: %v", names)
	}
	if es, _ := os.ReadDir(filepath.Join(ebs, "tmp")); len(es) != 0 {
		t.Fatalf("tmp not emptied: %d files", len(es))
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v := f.vols
	size := 64 * mib
	if err := v.Create(ctx, "vol-src", size); err != nil {
		t.Fatal(err)
	}
	// 8 MiB of data in the middle, a little at the end.
	writeAt(t, v.Path("vol-src"), randomBytes(8*mib), 16*mib)
	writeAt(t, v.Path("vol-src"), []byte("the end"), size-7)
	want1, _ := os.ReadFile(v.Path("vol-src"))
	stored1, err := v.Snapshot(ctx, "vol-src", "snap-1")
	if err != nil {
		t.Fatal(err)
	}
	if stored1 < 8*mib || stored1 > 9*mib+mib {
		t.Fatalf("first snapshot stored %d bytes, want about 9 MiB", stored1)
	}
	// Change one chunk.
	writeAt(t, v.Path("vol-src"), randomBytes(mib), 20*mib)
	want2, _ := os.ReadFile(v.Path("vol-src"))
	st2, err := v.SnapshotStats(ctx, "vol-src", "snap-2")
	if err != nil {
		t.Fatal(err)
	}
	if st2.NewChunks != 1 || st2.StoredBytes > mib+mib/8 {
		t.Fatalf("second snapshot after a 1 MiB change: %+v", st2)
	}
	if m, _ := f.snaps.Manifest("snap-2"); m.Parent != "snap-1" {
		t.Fatalf("snap-2's parent is %q", m.Parent)
	}
	if _, err := v.Snapshot(ctx, "vol-404", "snap-x"); !apierr.Is(err, apierr.NotFound) {
		t.Fatalf("Snapshot of a missing volume: %v", err)
	}

	// Restore snap-1 into a bigger volume: its contents, then zeros.
	if err := v.Restore(ctx, "vol-r1", 2*size, "snap-1"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(v.Path("vol-r1"))
	if int64(len(got)) != 2*size || !bytes.Equal(got[:size], want1) || !isZero(got[size:]) {
		t.Fatal("vol-r1 is not snap-1 followed by zeros")
	}
	if a := allocated(t, v.Path("vol-r1")); a > 10*mib {
		t.Fatalf("restored volume allocates %d bytes: zero chunks were written", a)
	}
	if err := v.Restore(ctx, "vol-small", size/2, "snap-1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Restore into a smaller volume: %v", err)
	}
	if err := v.Restore(ctx, "vol-x", size, "snap-404"); !apierr.Is(err, apierr.NotFound) {
		t.Fatalf("Restore of a missing snapshot: %v", err)
	}
	if err := v.Restore(ctx, "vol-r1", size, "snap-1"); !apierr.Is(err, apierr.AlreadyExists) {
		t.Fatalf("Restore over a volume: %v", err)
	}
	// Deleting snap-1 leaves snap-2 whole.
	if err := v.DeleteSnapshot(ctx, "snap-1"); err != nil {
		t.Fatal(err)
	}
	if err := v.Restore(ctx, "vol-r2", size, "snap-2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(v.Path("vol-r2")); !bytes.Equal(got, want2) {
		t.Fatal("vol-r2 is not snap-2")
	}
	// The restored volume is a volume like any other: its next snapshot stores nothing new.
	if stored, err := v.Snapshot(ctx, "vol-r2", "snap-3"); err != nil || stored != 0 {
		t.Fatalf("snapshot of an unchanged restored volume stored %d bytes: %v", stored, err)
	}
	if err := v.DeleteSnapshot(ctx, "snap-1"); !apierr.Is(err, apierr.NotFound) {
		t.Fatalf("second DeleteSnapshot: %v", err)
	}
}

// decryptFile reads an encrypted volume's host file and decrypts it, as the FUSE view would.
func decryptFile(t *testing.T, v *Store, id string) []byte {
	t.Helper()
	m, err := v.readMeta(id)
	if err != nil || m.Encryption == nil {
		t.Fatalf("%s is not an encrypted volume: %v", id, err)
	}
	key, err := v.unwrap(context.Background(), m.Encryption)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newSectorCipher(key)
	b, _ := os.ReadFile(v.Path(id))
	c.decrypt(b, b, 0)
	return b
}

func TestEncryptedRestoreAndSnapshot(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v := f.vols
	size := 16 * mib
	marker := bytes.Repeat([]byte("PLAINTEXT-MARKER "), 1000)
	if err := v.Create(ctx, "vol-plain", size); err != nil {
		t.Fatal(err)
	}
	writeAt(t, v.Path("vol-plain"), marker, 3*mib+100)
	want, _ := os.ReadFile(v.Path("vol-plain"))
	if _, err := v.Snapshot(ctx, "vol-plain", "snap-plain"); err != nil {
		t.Fatal(err)
	}
	const keyID = "111122223333/alias/aws/ebs"
	if err := v.RestoreEncrypted(ctx, "vol-enc", size, "snap-plain", keyID); err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile(v.Path("vol-enc"))
	if bytes.Contains(host, []byte("PLAINTEXT-MARKER")) {
		t.Fatal("the encrypted volume's host file holds plaintext")
	}
	if !bytes.Equal(decryptFile(t, v, "vol-enc"), want) {
		t.Fatal("vol-enc does not decrypt to the snapshot")
	}
	if in, _ := v.Info(ctx, "vol-enc"); !in.Encrypted || in.KeyID != keyID {
		t.Fatalf("info %+v", in)
	}
	// A snapshot of it stores ciphertext; a volume restored from that stays encrypted, under its own data key.
	if _, err := v.Snapshot(ctx, "vol-enc", "snap-enc"); err != nil {
		t.Fatal(err)
	}
	if m, _ := f.snaps.Manifest("snap-enc"); m.Encryption == nil || m.Encryption.KeyID != keyID {
		t.Fatalf("snap-enc manifest: %+v", m)
	}
	snap, err := f.snaps.Open("snap-enc")
	if err != nil {
		t.Fatal(err)
	}
	for i := range snap.Manifest().Chunks {
		if b, _ := snap.Chunk(i); bytes.Contains(b, []byte("PLAINTEXT-MARKER")) {
			t.Fatalf("chunk %d of snap-enc holds plaintext", i)
		}
	}
	snap.Close()
	if err := v.Restore(ctx, "vol-enc2", size, "snap-enc"); err != nil {
		t.Fatal(err)
	}
	host2, _ := os.ReadFile(v.Path("vol-enc2"))
	if bytes.Contains(host2, []byte("PLAINTEXT-MARKER")) || bytes.Equal(host2, host) {
		t.Fatal("vol-enc2 is plaintext or shares vol-enc's data key")
	}
	if !bytes.Equal(decryptFile(t, v, "vol-enc2"), want) {
		t.Fatal("vol-enc2 does not decrypt to the original")
	}
	// The master key file is private.
	es, _ := os.ReadDir(filepath.Join(f.root, "keys"))
	if len(es) != 1 {
		t.Fatalf("%d master key files, want 1", len(es))
	}
	if info, _ := es[0].Info(); info.Mode().Perm() != 0o600 {
		t.Fatalf("master key file mode %v", info.Mode())
	}
	// Encrypted volumes are whole sectors, and need a key store.
	if err := v.CreateEncrypted(ctx, "vol-odd", 4097, keyID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("odd-sized encrypted volume: %v", err)
	}
	nokeys, err := Open(filepath.Join(f.root, "ebs2"), f.snaps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := nokeys.CreateEncrypted(ctx, "vol-k", mib, keyID); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("encrypted volume without keys: %v", err)
	}
}
