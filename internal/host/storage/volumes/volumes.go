// Package volumes keeps the host's EBS volumes: each volume is a sparse file under the store's directory, shown
// to machines as a loop block device, and snapshotted into a snapshots.Store. It implements ec2.Volumes.
//
// Layout under the root:
//
//	volumes/<id>.img   the volume's bytes (ciphertext when the volume is encrypted)
//	bases/<snap>.img   the plain image of an imported filesystem's snapshot, from which restores copy (filesystem.go)
//	volumes/<id>.json  its metadata: size, wrapped data key, last snapshot; a volume exists when this does
//	plain/<id>/volume  for an encrypted volume with a device, the FUSE-served plaintext view the loop device uses
//	tmp/               files being built, renamed into place when complete
//
// Encryption at rest (there is no device-mapper on these hosts): an encrypted volume's host file holds AES-256-XTS
// ciphertext, 4 KiB sectors with the sector number as tweak, under the volume's own random data key. The data key
// is kept only wrapped by a master key (Keys). The loop device reads and writes the plaintext through a FUSE file
// this process serves. A sector that is all zeros in plaintext is stored as zeros (a hole), so volumes stay
// sparse and snapshots skip them; that reveals which sectors are zero, and nothing of the others.
//
// The package owns those files, the loop devices whose backing file is one of them, and the FUSE mounts under
// plain/. It must not touch loop devices, mounts or cgroups it did not make, nor any record: the EC2 service
// decides ids and keeps the records.
package volumes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/storage/snapshots"
)

// Errors, of the apierr classes the EC2 service maps.
var (
	ErrNotFound    = &apierr.Error{Class: apierr.NotFound, Message: "volume not found"}
	ErrExists      = &apierr.Error{Class: apierr.AlreadyExists, Message: "volume already exists"}
	ErrInvalid     = &apierr.Error{Class: apierr.Invalid, Message: "invalid volume request"}
	ErrInUse       = &apierr.Error{Class: apierr.Conflict, Message: "volume is in use"}
	ErrUnsupported = &apierr.Error{Class: apierr.Unavailable, Message: "the host cannot do this"}
)

// SectorSize is the unit of encryption; encrypted volumes are a whole number of sectors.
const SectorSize = 4096

// Options configure a store.
type Options struct {
	Keys   Keys // wraps data keys; nil means encrypted volumes are refused
	Logger *slog.Logger
}

// Store is the host's volumes.
type Store struct {
	root  string
	snaps *snapshots.Store
	keys  Keys
	log   *slog.Logger

	mu      sync.Mutex
	locks   map[string]*sync.Mutex // per volume: serializes the operations on one volume
	devices map[string]string      // volume id -> /dev/loopN
	plains  map[string]*plainMount // volume id -> FUSE plaintext view
}

// meta is a volume's metadata file.
type meta struct {
	Size         int64                 `json:"size"`
	Encryption   *snapshots.Encryption `json:"encryption,omitempty"`
	LastSnapshot string                `json:"lastSnapshot,omitempty"`
}

// Open opens the volume store at root (creating it when missing) with snaps as its snapshot store, and cleans up
// after a crash: half-built files, and FUSE mounts and loop devices whose serving process died.
func Open(root string, snaps *snapshots.Store, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"volumes", "plain", "tmp", "bases"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("volumes: %w", err)
		}
	}
	s := &Store{root: abs, snaps: snaps, keys: opts.Keys, log: opts.Logger, locks: map[string]*sync.Mutex{},
		devices: map[string]string{}, plains: map[string]*plainMount{}}
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) recover() error {
	tmp := filepath.Join(s.root, "tmp")
	es, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	for _, e := range es {
		os.RemoveAll(filepath.Join(tmp, e.Name()))
	}
	// An image without metadata is a Create or Delete that a crash cut short.
	es, err = os.ReadDir(filepath.Join(s.root, "volumes"))
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	for _, e := range es {
		if id, ok := strings.CutSuffix(e.Name(), ".img"); ok {
			if _, err := os.Stat(s.metaPath(id)); errors.Is(err, fs.ErrNotExist) {
				s.log.Info("removing the image of a volume that does not exist", "volume", id)
				os.Remove(filepath.Join(s.root, "volumes", e.Name()))
			}
		}
	}
	// Plaintext views die with the process that served them; so do the loop devices on them.
	return s.recoverPlain()
}

// Close detaches every FUSE plaintext view this process serves (their loop devices first). Plain volumes'
// loop devices stay, and a later Open finds them again.
func (s *Store) Close() error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.plains))
	for id := range s.plains {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range ids {
		errs = append(errs, s.ReleaseDevice(context.Background(), id))
	}
	return errors.Join(errs...)
}

func validID(id string) error {
	if id == "" || len(id) > 128 || strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\\\x00 ") {
		return fmt.Errorf("volume id %q: %w", id, ErrInvalid)
	}
	return nil
}

func (s *Store) imgPath(id string) string  { return filepath.Join(s.root, "volumes", id+".img") }
func (s *Store) metaPath(id string) string { return filepath.Join(s.root, "volumes", id+".json") }

// lock takes the volume's lock and returns its release.
func (s *Store) lock(id string) func() {
	s.mu.Lock()
	l, ok := s.locks[id]
	if !ok {
		l = &sync.Mutex{}
		s.locks[id] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (s *Store) readMeta(id string) (*meta, error) {
	b, err := os.ReadFile(s.metaPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("volume %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("volumes: metadata of %s: %w", id, err)
	}
	return &m, nil
}

func (s *Store) writeMeta(id string, m *meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), id+".json.")
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), s.metaPath(id))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("volumes: %w", err)
	}
	return syncDir(filepath.Join(s.root, "volumes"))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	return nil
}

// Info is what the store knows of a volume.
type Info struct {
	Size         int64
	Encrypted    bool
	KeyID        string
	LastSnapshot string
}

// Info describes a volume.
func (s *Store) Info(ctx context.Context, id string) (Info, error) {
	if err := validID(id); err != nil {
		return Info{}, err
	}
	m, err := s.readMeta(id)
	if err != nil {
		return Info{}, err
	}
	in := Info{Size: m.Size, LastSnapshot: m.LastSnapshot}
	if m.Encryption != nil {
		in.Encrypted, in.KeyID = true, m.Encryption.KeyID
	}
	return in, nil
}

// Path is the volume's file on the host (ciphertext when the volume is encrypted).
func (s *Store) Path(id string) string { return s.imgPath(id) }

// Create makes an empty volume of sizeBytes: a sparse file.
func (s *Store) Create(ctx context.Context, id string, sizeBytes int64) error {
	return s.CreateEncrypted(ctx, id, sizeBytes, "")
}

// CreateEncrypted makes an empty volume encrypted under a fresh data key wrapped by keyID; keyID "" makes a
// plain volume.
func (s *Store) CreateEncrypted(ctx context.Context, id string, sizeBytes int64, keyID string) error {
	if err := validID(id); err != nil {
		return err
	}
	if err := checkSize(sizeBytes, keyID != ""); err != nil {
		return err
	}
	defer s.lock(id)()
	if _, err := os.Stat(s.metaPath(id)); err == nil {
		return fmt.Errorf("volume %s: %w", id, ErrExists)
	}
	m := &meta{Size: sizeBytes}
	if keyID != "" {
		enc, _, err := s.newDataKey(ctx, keyID)
		if err != nil {
			return err
		}
		m.Encryption = enc
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), id+".img.")
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	err = f.Truncate(sizeBytes)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return s.commit(id, f.Name(), m, err)
}

// commit renames a built image into place and writes the metadata that makes the volume exist.
func (s *Store) commit(id, tmpImg string, m *meta, err error) error {
	if err == nil {
		err = os.Rename(tmpImg, s.imgPath(id))
	}
	if err != nil {
		os.Remove(tmpImg)
		return fmt.Errorf("volumes: %w", err)
	}
	if err := s.writeMeta(id, m); err != nil {
		os.Remove(s.imgPath(id))
		return err
	}
	return nil
}

func checkSize(size int64, encrypted bool) error {
	if size <= 0 {
		return fmt.Errorf("size %d: %w", size, ErrInvalid)
	}
	if encrypted && size%SectorSize != 0 {
		return fmt.Errorf("encrypted volume size %d is not a multiple of %d: %w", size, SectorSize, ErrInvalid)
	}
	return nil
}

// Resize grows a volume. An attached loop device sees the new size at once.
func (s *Store) Resize(ctx context.Context, id string, sizeBytes int64) error {
	if err := validID(id); err != nil {
		return err
	}
	defer s.lock(id)()
	m, err := s.readMeta(id)
	if err != nil {
		return err
	}
	if sizeBytes < m.Size {
		return fmt.Errorf("volume %s cannot shrink from %d to %d bytes: %w", id, m.Size, sizeBytes, ErrInvalid)
	}
	if err := checkSize(sizeBytes, m.Encryption != nil); err != nil {
		return err
	}
	if sizeBytes == m.Size {
		return nil
	}
	if err := os.Truncate(s.imgPath(id), sizeBytes); err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	m.Size = sizeBytes
	if err := s.writeMeta(id, m); err != nil {
		return err
	}
	if dev := s.devices[id]; dev != "" {
		if p := s.plainFor(id); p != nil {
			p.resized()
		}
		if err := setCapacity(dev); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes a volume and its bytes. A volume whose device is in use is refused.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	defer s.lock(id)()
	if _, err := s.readMeta(id); err != nil {
		return err
	}
	if err := s.releaseLocked(id); err != nil {
		return err
	}
	// Metadata first: a crash after it leaves an image without metadata, which Open removes.
	if err := os.Remove(s.metaPath(id)); err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	if err := os.Remove(s.imgPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("volumes: %w", err)
	}
	return syncDir(filepath.Join(s.root, "volumes"))
}

// Snapshot stores the volume's current contents as snapshotID and returns the bytes it added to the snapshot
// store. The previous snapshot of the volume is recorded as its parent. The file is read as it is, so a
// snapshot of a volume in use is crash-consistent only for writes that do not race the read.
func (s *Store) Snapshot(ctx context.Context, volumeID, snapshotID string) (int64, error) {
	st, err := s.SnapshotStats(ctx, volumeID, snapshotID)
	return st.StoredBytes, err
}

// SnapshotStats is Snapshot returning all of the chunk store's figures.
func (s *Store) SnapshotStats(ctx context.Context, volumeID, snapshotID string) (snapshots.PutStats, error) {
	if err := validID(volumeID); err != nil {
		return snapshots.PutStats{}, err
	}
	defer s.lock(volumeID)()
	m, err := s.readMeta(volumeID)
	if err != nil {
		return snapshots.PutStats{}, err
	}
	f, err := os.Open(s.imgPath(volumeID))
	if err != nil {
		return snapshots.PutStats{}, fmt.Errorf("volumes: %w", err)
	}
	defer f.Close()
	parent := m.LastSnapshot
	if parent != "" {
		if _, err := s.snaps.Manifest(parent); err != nil {
			parent = "" // deleted since; lineage starts again
		}
	}
	st, err := s.snaps.PutWith(ctx, snapshotID, f, m.Size, snapshots.PutOptions{Parent: parent, Encryption: m.Encryption})
	if err != nil {
		return st, err
	}
	m.LastSnapshot = snapshotID
	if err := s.writeMeta(volumeID, m); err != nil {
		return st, err
	}
	return st, nil
}

// DeleteSnapshot drops a snapshot; chunks other snapshots use are kept.
func (s *Store) DeleteSnapshot(ctx context.Context, snapshotID string) error {
	if err := s.snaps.Delete(ctx, snapshotID); err != nil {
		return err
	}
	if err := os.Remove(s.basePath(snapshotID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("volumes: %w", err)
	}
	return nil
}

// Restore makes a volume of sizeBytes holding the snapshot's contents. A volume restored from an encrypted
// snapshot is encrypted under the same key id, with a data key of its own.
func (s *Store) Restore(ctx context.Context, id string, sizeBytes int64, snapshotID string) error {
	return s.RestoreEncrypted(ctx, id, sizeBytes, snapshotID, "")
}

// RestoreEncrypted is Restore with the volume encrypted under keyID (a fresh data key). keyID "" keeps the
// snapshot's: none for a plain snapshot, its key id for an encrypted one.
func (s *Store) RestoreEncrypted(ctx context.Context, id string, sizeBytes int64, snapshotID, keyID string) error {
	if err := validID(id); err != nil {
		return err
	}
	snap, err := s.snaps.Open(snapshotID)
	if err != nil {
		return err
	}
	defer snap.Close()
	sm := snap.Manifest()
	if sizeBytes < sm.Size {
		return fmt.Errorf("volume size %d is smaller than snapshot %s (%d bytes): %w", sizeBytes, snapshotID, sm.Size, ErrInvalid)
	}
	var from *sectorCipher
	if sm.Encryption != nil {
		if keyID == "" {
			keyID = sm.Encryption.KeyID
		}
		key, err := s.unwrap(ctx, sm.Encryption)
		if err != nil {
			return err
		}
		if from, err = newSectorCipher(key); err != nil {
			return err
		}
		if sm.ChunkSize%SectorSize != 0 {
			return fmt.Errorf("snapshot %s has chunks of %d bytes: %w", snapshotID, sm.ChunkSize, ErrInvalid)
		}
	}
	if err := checkSize(sizeBytes, keyID != ""); err != nil {
		return err
	}
	defer s.lock(id)()
	if _, err := os.Stat(s.metaPath(id)); err == nil {
		return fmt.Errorf("volume %s: %w", id, ErrExists)
	}
	m := &meta{Size: sizeBytes}
	var to *sectorCipher
	if keyID != "" {
		enc, key, err := s.newDataKey(ctx, keyID)
		if err != nil {
			return err
		}
		m.Encryption = enc
		if to, err = newSectorCipher(key); err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), id+".img.")
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	if base, berr := os.Open(s.basePath(snapshotID)); berr == nil {
		// An imported filesystem's image is still on the host: its data extents are copied in the kernel
		// rather than decompressed and verified chunk by chunk.
		err = restoreFromBase(ctx, f, base, sizeBytes, to)
		base.Close()
	} else {
		err = restoreInto(ctx, f, snap, sizeBytes, from, to)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return s.commit(id, f.Name(), m, err)
}

// restoreInto copies the snapshot's non-zero chunks into f, decrypting with from and encrypting with to when set.
// Zero chunks stay holes.
func restoreInto(ctx context.Context, f *os.File, snap *snapshots.Snapshot, size int64, from, to *sectorCipher) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	sm := snap.Manifest()
	for i := range sm.Chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := snap.Chunk(i)
		if err != nil || data == nil {
			if err != nil {
				return err
			}
			continue
		}
		off := int64(i) * int64(sm.ChunkSize)
		first := uint64(off / SectorSize)
		if from != nil {
			from.decrypt(data, data, first)
		}
		if to != nil {
			to.encrypt(data, data, first)
		}
		if _, err := f.WriteAt(data, off); err != nil {
			return err
		}
	}
	return nil
}
