// Package snapshots keeps EBS snapshots as content-addressed chunks in one directory on the host.
//
// A snapshot is a manifest (manifests/<id>.json: the volume size, the chunk size and the ordered digests of its
// chunks) plus the chunks it names, each stored once as chunks/<ab>/<sha256> however many snapshots use it.
// A chunk that is all zeros is marked in the manifest and not stored at all, so a sparse volume costs only its
// data. Because chunks are named by content, a later snapshot of the same volume writes only the chunks that
// changed: that is what makes snapshots incremental, and the parent a manifest names is lineage, not a
// dependency.
//
// Every file appears by rename (or link) of a synced temporary, so a reader never sees half a chunk or half a
// manifest, and a crash in the middle of Put leaves no snapshot, only chunks no manifest names. The store counts
// the references to each chunk in memory, rebuilt from the manifests at Open, which also removes those orphans.
// An in-flight Put and an open reader hold references too, so deleting one snapshot never removes a chunk that
// another snapshot, a Put under way or a restore under way still needs.
//
// Encryption: the store does not encrypt. A snapshot of an encrypted volume is taken from the volume's host
// file, which holds only ciphertext (see package volumes), so its chunks are ciphertext, digested as ciphertext,
// and deduplicate only within that volume's own lineage. The manifest carries the volume's wrapped data key so
// that a restore can decrypt them; the store never sees a plaintext key.
//
// The package knows nothing of volumes, accounts or records: the caller names snapshots and decides when they go.
package snapshots

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/overcast-cloud/overcast/internal/apierr"
)

// DefaultChunkSize is the size of a chunk, and so the granularity of incremental snapshots.
const DefaultChunkSize = 1 << 20

// Errors, of the apierr classes the EC2 service maps.
var (
	ErrNotFound = &apierr.Error{Class: apierr.NotFound, Message: "snapshot not found"}
	ErrExists   = &apierr.Error{Class: apierr.AlreadyExists, Message: "snapshot already exists"}
	ErrInvalid  = &apierr.Error{Class: apierr.Invalid, Message: "invalid snapshot request"}
	ErrCorrupt  = &apierr.Error{Class: apierr.Internal, Message: "snapshot chunk is corrupt"}
)

const manifestVersion = 1

// Encryption is what a restore needs to decrypt an encrypted volume's chunks: the key the data key is wrapped
// by, and the wrapped data key. The store keeps it opaque.
type Encryption struct {
	KeyID      string `json:"keyId"`
	WrappedKey []byte `json:"wrappedKey"`
}

// Manifest describes one snapshot.
type Manifest struct {
	Version    int         `json:"version"`
	ID         string      `json:"id"`
	Parent     string      `json:"parent,omitempty"`
	Size       int64       `json:"size"`
	ChunkSize  int         `json:"chunkSize"`
	Chunks     []string    `json:"chunks"` // hex SHA-256 of each chunk's bytes, in order; "" marks an all-zero chunk
	Encryption *Encryption `json:"encryption,omitempty"`
	Created    time.Time   `json:"created"`
}

// PutOptions are the optional parts of a Put.
type PutOptions struct {
	Parent     string      // the previous snapshot of the same volume, recorded as lineage
	Encryption *Encryption // set when src is an encrypted volume's ciphertext
}

// PutStats says what one Put cost.
type PutStats struct {
	StoredBytes int64 // bytes the Put added to the store on disk (after compression)
	NewChunks   int   // chunks the store lacked
	Chunks      int   // chunks in the snapshot
	ZeroChunks  int   // all-zero chunks, not stored
}

// Options tune a store.
type Options struct {
	ChunkSize int // DefaultChunkSize when zero
}

// Store is a directory of snapshots. One process at a time may open it.
type Store struct {
	root      string
	chunkSize int
	lock      *os.File // holds the flock that keeps a second process out

	mu     sync.Mutex
	refs   map[string]int  // chunk digest -> references by manifests, Puts under way and open readers
	ids    map[string]bool // snapshots that exist or are being Put
	total  int64           // bytes of chunk files on disk
	tmpSeq int
}

// Open opens (creating when missing) the store at root and recovers it from a crash: it removes temporary
// files and every chunk no manifest names.
func Open(root string, opts Options) (*Store, error) {
	if opts.ChunkSize == 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.ChunkSize < 4096 || opts.ChunkSize%4096 != 0 {
		return nil, fmt.Errorf("snapshots: chunk size %d is not a positive multiple of 4096", opts.ChunkSize)
	}
	for _, d := range []string{"chunks", "manifests", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("snapshots: %w", err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(root, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("snapshots: %s is in use by another process: %w", root, err)
	}
	s := &Store{root: root, chunkSize: opts.ChunkSize, lock: lock, refs: map[string]int{}, ids: map[string]bool{}}
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the store's lock.
func (s *Store) Close() error { return s.lock.Close() }

// recover empties tmp, counts references from the manifests and sweeps orphan chunks.
func (s *Store) recover() error {
	tmp := filepath.Join(s.root, "tmp")
	es, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	for _, e := range es {
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return fmt.Errorf("snapshots: %w", err)
		}
	}
	es, err = os.ReadDir(filepath.Join(s.root, "manifests"))
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	for _, e := range es {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		m, err := s.readManifest(id)
		if err != nil {
			// Never sweep on doubt: a manifest we cannot read may name chunks.
			return err
		}
		s.ids[id] = true
		for _, d := range m.Chunks {
			if d != "" {
				s.refs[d]++
			}
		}
	}
	_, _, err = s.sweepLocked()
	return err
}

// Sweep removes chunks that nothing references (left by a crash) and reports how many and their bytes.
func (s *Store) Sweep() (chunks int, bytes int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sweepLocked()
}

func (s *Store) sweepLocked() (removed int, freed int64, err error) {
	s.total = 0
	err = filepath.WalkDir(filepath.Join(s.root, "chunks"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if s.refs[d.Name()] > 0 {
			s.total += info.Size()
			return nil
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		removed++
		freed += info.Size()
		return nil
	})
	if err != nil {
		return removed, freed, fmt.Errorf("snapshots: sweep: %w", err)
	}
	return removed, freed, nil
}

// StoredBytes is the size on disk of every chunk in the store.
func (s *Store) StoredBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// List returns the ids of the snapshots in the store (not those still being Put).
func (s *Store) List() ([]string, error) {
	es, err := os.ReadDir(filepath.Join(s.root, "manifests"))
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	var ids []string
	for _, e := range es {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Manifest returns a snapshot's manifest.
func (s *Store) Manifest(id string) (*Manifest, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	return s.readManifest(id)
}

func validID(id string) error {
	if id == "" || len(id) > 128 || strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\\\x00") {
		return fmt.Errorf("snapshot id %q: %w", id, ErrInvalid)
	}
	return nil
}

func (s *Store) manifestPath(id string) string { return filepath.Join(s.root, "manifests", id+".json") }

func (s *Store) chunkPath(d string) string { return filepath.Join(s.root, "chunks", d[:2], d) }

func (s *Store) readManifest(id string) (*Manifest, error) {
	b, err := os.ReadFile(s.manifestPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("snapshot %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("snapshots: manifest %s: %w", id, err)
	}
	if m.Version != manifestVersion || m.ChunkSize <= 0 || m.Size < 0 ||
		int64(len(m.Chunks)) != (m.Size+int64(m.ChunkSize)-1)/int64(m.ChunkSize) {
		return nil, fmt.Errorf("snapshots: manifest %s is inconsistent", id)
	}
	for _, d := range m.Chunks {
		if d != "" && !isDigest(d) {
			return nil, fmt.Errorf("snapshots: manifest %s names a bad digest %q", id, d)
		}
	}
	return &m, nil
}

func isDigest(d string) bool {
	if len(d) != 64 {
		return false
	}
	_, err := hex.DecodeString(d)
	return err == nil
}

// Put stores size bytes of src as snapshot id, writing only the chunks the store lacks. Bytes src lacks (it
// ends before size) read as zeros. When src is an *os.File its holes are skipped without reading.
func (s *Store) Put(ctx context.Context, id string, src io.ReaderAt, size int64, parent string) (PutStats, error) {
	return s.PutWith(ctx, id, src, size, PutOptions{Parent: parent})
}

// PutWith is Put with all options.
func (s *Store) PutWith(ctx context.Context, id string, src io.ReaderAt, size int64, opts PutOptions) (PutStats, error) {
	var st PutStats
	if err := validID(id); err != nil {
		return st, err
	}
	if size < 0 {
		return st, fmt.Errorf("snapshot size %d: %w", size, ErrInvalid)
	}
	s.mu.Lock()
	if s.ids[id] {
		s.mu.Unlock()
		return st, fmt.Errorf("snapshot %s: %w", id, ErrExists)
	}
	s.ids[id] = true
	s.mu.Unlock()

	m := &Manifest{Version: manifestVersion, ID: id, Parent: opts.Parent, Size: size, ChunkSize: s.chunkSize,
		Encryption: opts.Encryption, Created: time.Now().UTC()}
	committed := false
	var pinned []string
	defer func() {
		if committed {
			return
		}
		s.mu.Lock()
		delete(s.ids, id)
		s.mu.Unlock()
		s.unpin(pinned)
	}()

	holes := newHoleFinder(src, size)
	buf := make([]byte, s.chunkSize)
	dirs := map[string]bool{}
	compress := opts.Encryption == nil // ciphertext does not compress
	for off := int64(0); off < size; off += int64(s.chunkSize) {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n := int(min(int64(s.chunkSize), size-off))
		st.Chunks++
		if holes.isHole(off, int64(n)) {
			m.Chunks = append(m.Chunks, "")
			st.ZeroChunks++
			continue
		}
		chunk := buf[:n]
		if err := readFull(src, chunk, off); err != nil {
			return st, fmt.Errorf("snapshots: read at %d: %w", off, err)
		}
		if allZero(chunk) {
			m.Chunks = append(m.Chunks, "")
			st.ZeroChunks++
			continue
		}
		sum := sha256.Sum256(chunk)
		d := hex.EncodeToString(sum[:])
		s.mu.Lock()
		s.refs[d]++
		s.mu.Unlock()
		pinned = append(pinned, d)
		m.Chunks = append(m.Chunks, d)
		added, err := s.writeChunk(d, chunk, compress)
		if err != nil {
			return st, err
		}
		if added > 0 {
			st.NewChunks++
			st.StoredBytes += added
			dirs[filepath.Dir(s.chunkPath(d))] = true
		}
	}
	// The new chunks become durable together, before the manifest that names them: one syncfs rather than a
	// sync per chunk. A crash before it leaves chunks no manifest names, which the next Open sweeps away.
	if len(dirs) > 0 {
		if err := s.syncStore(); err != nil {
			return st, err
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return st, err
	}
	if err := s.writeFileAtomic(s.manifestPath(id), b); err != nil {
		return st, err
	}
	committed = true // the pins are now the manifest's references
	return st, nil
}

// unpin drops references and removes the chunks nothing references any more.
func (s *Store) unpin(ds []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		s.refs[d]--
		if s.refs[d] > 0 {
			continue
		}
		delete(s.refs, d)
		p := s.chunkPath(d)
		if info, err := os.Stat(p); err == nil {
			if os.Remove(p) == nil {
				s.total -= info.Size()
			}
		}
	}
}

// Chunk file format: one byte saying how the rest is encoded, then the bytes.
const (
	encRaw     = 'r'
	encDeflate = 'd'
)

// writeChunk stores data under digest d unless the store has it, and returns the bytes it added. The caller
// holds a reference to d, so no one removes the chunk meanwhile.
func (s *Store) writeChunk(d string, data []byte, compress bool) (int64, error) {
	final := s.chunkPath(d)
	if _, err := os.Stat(final); err == nil {
		return 0, nil
	}
	body := encode(data, compress)
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return 0, fmt.Errorf("snapshots: %w", err)
	}
	tmp, err := s.writeTemp(body, false)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp)
	// Link, not rename: a concurrent Put of the same chunk may have won, and then its file stays as it is.
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("snapshots: %w", err)
	}
	s.mu.Lock()
	s.total += int64(len(body))
	s.mu.Unlock()
	return int64(len(body)), nil
}

// encode is a chunk's file body. Data whose first 16 KiB do not compress (random or encrypted bytes) is
// stored raw without trying the rest.
func encode(data []byte, compress bool) []byte {
	if compress && len(data) > 64<<10 {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestSpeed)
		_, _ = w.Write(data[:16<<10])
		compress = w.Close() == nil && b.Len() < (16<<10)*15/16
	}
	if compress {
		var b bytes.Buffer
		b.WriteByte(encDeflate)
		w, _ := flate.NewWriter(&b, flate.BestSpeed)
		_, _ = w.Write(data)
		if w.Close() == nil && b.Len() < len(data)*7/8 {
			return b.Bytes()
		}
	}
	out := make([]byte, 1+len(data))
	out[0] = encRaw
	copy(out[1:], data)
	return out
}

// readChunk reads chunk d into dst, which must be the chunk's length, and checks its digest.
func (s *Store) readChunk(d string, dst []byte) error {
	body, err := os.ReadFile(s.chunkPath(d))
	if err != nil {
		return fmt.Errorf("snapshots: chunk %s: %w", d, err)
	}
	if len(body) == 0 {
		return fmt.Errorf("chunk %s is empty: %w", d, ErrCorrupt)
	}
	switch body[0] {
	case encRaw:
		if len(body)-1 != len(dst) {
			return fmt.Errorf("chunk %s has %d bytes, want %d: %w", d, len(body)-1, len(dst), ErrCorrupt)
		}
		copy(dst, body[1:])
	case encDeflate:
		r := flate.NewReader(bytes.NewReader(body[1:]))
		if _, err := io.ReadFull(r, dst); err != nil {
			return fmt.Errorf("chunk %s: %v: %w", d, err, ErrCorrupt)
		}
	default:
		return fmt.Errorf("chunk %s has encoding %q: %w", d, body[0], ErrCorrupt)
	}
	sum := sha256.Sum256(dst)
	if hex.EncodeToString(sum[:]) != d {
		return fmt.Errorf("chunk %s does not match its digest: %w", d, ErrCorrupt)
	}
	return nil
}

// writeTemp writes b to a temporary file, synced when sync is set, and returns its path.
func (s *Store) writeTemp(b []byte, sync bool) (string, error) {
	s.mu.Lock()
	s.tmpSeq++
	name := fmt.Sprintf("%d-%d", os.Getpid(), s.tmpSeq)
	s.mu.Unlock()
	p := filepath.Join(s.root, "tmp", name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("snapshots: %w", err)
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return "", fmt.Errorf("snapshots: %w", err)
	}
	return p, nil
}

// syncStore makes everything written to the store's filesystem durable.
func (s *Store) syncStore() error {
	f, err := os.Open(s.root)
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("snapshots: syncfs: %w", err)
	}
	return nil
}

func (s *Store) writeFileAtomic(path string, b []byte) error {
	tmp, err := s.writeTemp(b, true)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("snapshots: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	return nil
}

// Delete removes a snapshot. Its chunks go unless another snapshot, a Put or a reader still holds them.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	s.mu.Lock()
	if !s.ids[id] {
		s.mu.Unlock()
		return fmt.Errorf("snapshot %s: %w", id, ErrNotFound)
	}
	s.mu.Unlock()
	m, err := s.readManifest(id)
	if err != nil {
		return err // still being Put, or gone
	}
	s.mu.Lock()
	if !s.ids[id] {
		s.mu.Unlock()
		return fmt.Errorf("snapshot %s: %w", id, ErrNotFound)
	}
	// The manifest goes first: a crash after this leaves orphan chunks, which Open sweeps, and never a
	// manifest naming chunks that are gone.
	if err := os.Remove(s.manifestPath(id)); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("snapshots: %w", err)
	}
	delete(s.ids, id)
	s.mu.Unlock()
	if err := syncDir(filepath.Join(s.root, "manifests")); err != nil {
		return err
	}
	var ds []string
	for _, d := range m.Chunks {
		if d != "" {
			ds = append(ds, d)
		}
	}
	s.unpin(ds)
	return nil
}

// Snapshot is an open snapshot: an io.ReaderAt over its contents, which holds its chunks until Close.
type Snapshot struct {
	s      *Store
	m      *Manifest
	pinned []string

	mu     sync.Mutex
	closed bool
	cached int // index of the chunk in buf, -1 when none
	buf    []byte
}

// Open opens a snapshot for reading.
func (s *Store) Open(id string) (*Snapshot, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ids[id] {
		return nil, fmt.Errorf("snapshot %s: %w", id, ErrNotFound)
	}
	m, err := s.readManifest(id) // a Put under way has no manifest yet, so this says not found
	if err != nil {
		return nil, err
	}
	var ds []string
	for _, d := range m.Chunks {
		if d != "" {
			s.refs[d]++
			ds = append(ds, d)
		}
	}
	return &Snapshot{s: s, m: m, pinned: ds, cached: -1}, nil
}

// Manifest is the snapshot's manifest.
func (r *Snapshot) Manifest() *Manifest { return r.m }

// Size is the snapshot's size in bytes.
func (r *Snapshot) Size() int64 { return r.m.Size }

// Chunk returns chunk i's bytes, or nil when the chunk is all zeros. The slice is the caller's.
func (r *Snapshot) Chunk(i int) ([]byte, error) {
	if i < 0 || i >= len(r.m.Chunks) {
		return nil, fmt.Errorf("chunk %d of %d: %w", i, len(r.m.Chunks), ErrInvalid)
	}
	d := r.m.Chunks[i]
	if d == "" {
		return nil, nil
	}
	out := make([]byte, r.chunkLen(i))
	if err := r.s.readChunk(d, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (r *Snapshot) chunkLen(i int) int {
	cs := int64(r.m.ChunkSize)
	return int(min(cs, r.m.Size-int64(i)*cs))
}

// ReadAt reads the snapshot's contents; all-zero chunks read as zeros.
func (r *Snapshot) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, os.ErrClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("negative offset: %w", ErrInvalid)
	}
	n := 0
	cs := int64(r.m.ChunkSize)
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.m.Size {
			return n, io.EOF
		}
		i := int(pos / cs)
		within := int(pos - int64(i)*cs)
		if r.m.Chunks[i] == "" {
			k := min(len(p)-n, r.chunkLen(i)-within)
			clear(p[n : n+k])
			n += k
			continue
		}
		if r.cached != i {
			if r.buf == nil {
				r.buf = make([]byte, cs)
			}
			r.cached = -1
			if err := r.s.readChunk(r.m.Chunks[i], r.buf[:r.chunkLen(i)]); err != nil {
				return n, err
			}
			r.cached = i
		}
		n += copy(p[n:], r.buf[within:r.chunkLen(i)])
	}
	return n, nil
}

// Close releases the snapshot's chunks.
func (r *Snapshot) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.s.unpin(r.pinned)
	return nil
}

// readFull reads len(p) bytes at off; bytes past the end of src read as zeros.
func readFull(src io.ReaderAt, p []byte, off int64) error {
	n, err := src.ReadAt(p, off)
	if err == io.EOF || (err == nil && n == len(p)) {
		clear(p[n:])
		return nil
	}
	return err
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// holeFinder skips the holes of a sparse file with SEEK_DATA, so an empty 1 TiB volume costs no reads.
type holeFinder struct {
	fd       int // -1 when src is not a file
	size     int64
	nextData int64 // the first data offset at or after the last query; -1 unknown
}

func newHoleFinder(src io.ReaderAt, size int64) *holeFinder {
	h := &holeFinder{fd: -1, size: size, nextData: -1}
	if f, ok := src.(*os.File); ok {
		h.fd = int(f.Fd())
	}
	return h
}

// isHole reports whether [off, off+n) is certainly a hole.
func (h *holeFinder) isHole(off, n int64) bool {
	if h.fd < 0 {
		return false
	}
	if h.nextData < off {
		// lseek moves the file offset, which ReadAt (pread) does not use.
		d, err := unix.Seek(h.fd, off, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO):
			d = h.size // no data from off to the end of the file
		case err != nil:
			h.fd = -1 // the file system cannot tell; read everything
			return false
		}
		h.nextData = d
	}
	return h.nextData >= off+n
}
