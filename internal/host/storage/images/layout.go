package images

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The store keeps an OCI image layout (image-spec v1.1, "image-layout.md") so that ECR can later push and pull
// images into the same blobs. Only the few fields Overcast reads and writes are declared here.

// OCI media types used by the store.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeLayerGz  = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// Annotations the store writes on the manifests of AMIs. The ref name is the standard OCI one.
const (
	annotationRefName = "org.opencontainers.image.ref.name"
	annotationCreated = "org.opencontainers.image.created"
	annotationImageID = "cloud.overcast.image.id"
)

// Descriptor points at a blob.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Index is index.json at the root of the layout.
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Manifests     []Descriptor `json:"manifests"`
}

// Manifest is an image manifest.
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// ImageConfig is the image configuration blob.
type ImageConfig struct {
	Created      string       `json:"created,omitempty"`
	Architecture string       `json:"architecture"`
	OS           string       `json:"os"`
	Config       RunConfig    `json:"config"`
	RootFS       RootFS       `json:"rootfs"`
	History      []HistoryRow `json:"history,omitempty"`
}

// RunConfig is the part of an image config a runtime reads; AMIs use only labels.
type RunConfig struct {
	Labels map[string]string `json:"Labels,omitempty"`
}

// RootFS lists the uncompressed digests of the layers, bottom first.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// HistoryRow says how a layer was made.
type HistoryRow struct {
	Created   string `json:"created,omitempty"`
	CreatedBy string `json:"created_by,omitempty"`
}

var digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// ErrCorrupt is returned when a blob's content does not match its digest, or a blob is missing.
var ErrCorrupt = errors.New("images: blob missing or corrupt")

// layout is the on-disk OCI layout rooted at dir.
type layout struct{ dir string }

func (l layout) init() error {
	if err := os.MkdirAll(filepath.Join(l.dir, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	p := filepath.Join(l.dir, "oci-layout")
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return writeFileAtomic(p, []byte(`{"imageLayoutVersion":"1.0.0"}`+"\n"), 0o644)
	}
	return nil
}

// BlobPath is where the blob with the given digest lives; it refuses malformed digests so that a digest from
// outside (an ECR push) can never name a path outside the layout.
func (l layout) blobPath(digest string) (string, error) {
	if !digestRE.MatchString(digest) {
		return "", fmt.Errorf("images: malformed digest %q", digest)
	}
	return filepath.Join(l.dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:")), nil
}

// writeBlob stores r as a content-addressed blob and returns its descriptor. The content goes to a temporary
// file beside the final path and is renamed into place, so a blob path only ever holds complete content.
func (l layout) writeBlob(mediaType string, r io.Reader) (Descriptor, error) {
	dir := filepath.Join(l.dir, "blobs", "sha256")
	f, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return Descriptor{}, err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Descriptor{}, err
	}
	d := Descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: n}
	p, _ := l.blobPath(d.Digest)
	if err := os.Chmod(f.Name(), 0o444); err != nil {
		return Descriptor{}, err
	}
	return d, os.Rename(f.Name(), p)
}

func (l layout) writeJSONBlob(mediaType string, v any) (Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Descriptor{}, err
	}
	return l.writeBlob(mediaType, strings.NewReader(string(b)))
}

// openBlob opens a blob for reading through a verifier: the returned reader fails with ErrCorrupt at EOF if
// the content does not hash to the digest or has the wrong size.
func (l layout) openBlob(d Descriptor) (io.ReadCloser, error) {
	p, err := l.blobPath(d.Digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s not in the store", ErrCorrupt, d.Digest)
	}
	if err != nil {
		return nil, err
	}
	return &verifier{f: f, h: sha256.New(), want: d}, nil
}

// readJSONBlob reads and verifies a small blob.
func (l layout) readJSONBlob(d Descriptor, v any) error {
	rc, err := l.openBlob(d)
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// VerifyBlob reads a whole blob and checks it against its digest.
func (l layout) verifyBlob(d Descriptor) error {
	rc, err := l.openBlob(d)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

type verifier struct {
	f    *os.File
	h    hash.Hash
	n    int64
	want Descriptor
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		got := "sha256:" + hex.EncodeToString(v.h.Sum(nil))
		if got != v.want.Digest || v.n != v.want.Size {
			return n, fmt.Errorf("%w: %s has digest %s and %d bytes, want %d", ErrCorrupt, v.want.Digest, got, v.n, v.want.Size)
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.f.Close() }

// readIndex returns index.json, or an empty index when there is none yet.
func (l layout) readIndex() (Index, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return Index{SchemaVersion: 2, MediaType: MediaTypeIndex}, nil
	}
	if err != nil {
		return Index{}, err
	}
	var idx Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return Index{}, fmt.Errorf("images: index.json: %w", err)
	}
	return idx, nil
}

// updateIndex applies fn to index.json under the layout's index lock, so that processes sharing the store
// (Overcast, a second Overcast in a test, later ECR) never lose each other's entries.
func (l layout) updateIndex(fn func(*Index)) error {
	unlock, err := lockFile(filepath.Join(l.dir, "locks", "index.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := l.readIndex()
	if err != nil {
		return err
	}
	fn(&idx)
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(l.dir, "index.json"), append(b, '\n'), 0o644)
}

// writeFileAtomic writes a whole file through a temporary file and a rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), mode); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
