package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Custom images (CreateImage) are layered on the image they were made from: their manifest lists the base
// image's layers and then one layer made from a machine's overlay upper directory. The new layer is unpacked
// on its own, in overlayfs form (whiteouts as 0/0 character devices, opaque directories by xattr), under
// layers/<diff hex>/, so that a machine's lower directories are that layer over the base's, and nothing of
// the base is copied. The base's own root filesystem (rootfs/<manifest hex>) is named on the custom image's
// index entry, so a custom image keeps working when its base is removed.
//
// Index entries of custom images carry their metadata, and the layer directories machines need, as
// annotations; a copy (Alias) is a second entry for the same manifest under another id. A removed image
// keeps its entry, marked removed, and its unpacked layers: instances launched from a deregistered AMI
// still start from them, so Get finds it, while List leaves it out.

// Annotations on the index entries of custom images.
const (
	annotationCustom      = "cloud.overcast.image.custom" // "true"
	annotationName        = "cloud.overcast.image.name"
	annotationDescription = "cloud.overcast.image.description"
	annotationDefaultUser = "cloud.overcast.image.default-user"
	annotationHasSSH      = "cloud.overcast.image.has-ssh"
	annotationSizeGiB     = "cloud.overcast.image.size-gib"
	annotationBaseRootfs  = "cloud.overcast.image.base-rootfs" // manifest digest whose rootfs/ holds the lower layers merged
	annotationBaseLayers  = "cloud.overcast.image.base-layers" // how many of the manifest's layers that rootfs holds
	annotationLayers      = "cloud.overcast.image.layers"      // the layers above the base rootfs, topmost first, comma-separated
	annotationRemoved     = "cloud.overcast.image.removed"     // "true": deregistered (see Remove)
)

// overlayOpaqueXattr marks an overlayfs directory that hides what lower layers have at its path.
const overlayOpaqueXattr = "trusted.overlay.opaque"

// CommitMeta describes the image Commit makes.
type CommitMeta struct {
	ID          string // ami-...; must not be in the store yet
	Name        string
	Description string
	DefaultUser string
	HasSSH      bool
	SizeGiB     int
}

// Commit stores a new image made of the base image's layers and one more layer holding diffDir, an overlayfs
// upper directory (whiteouts become OCI whiteouts). When it returns, Get and List find the image, available.
// diffDir is only read; the caller keeps it from changing while Commit runs if it wants a consistent layer.
func (s *Store) Commit(ctx context.Context, base, diffDir string, meta CommitMeta) (Image, error) {
	if !strings.HasPrefix(meta.ID, "ami-") || strings.ContainsAny(meta.ID, "/.") {
		return Image{}, fmt.Errorf("images: bad image id %q", meta.ID)
	}
	if _, err := s.Get(ctx, meta.ID); !errors.Is(err, ErrNotFound) {
		return Image{}, fmt.Errorf("images: image %s exists", meta.ID)
	}
	baseImg, err := s.Get(ctx, base)
	if err != nil {
		return Image{}, err
	}
	if baseImg.State != StateAvailable {
		return Image{}, fmt.Errorf("images: base image %s is %s", base, baseImg.State)
	}
	idx, err := s.layout.readIndex()
	if err != nil {
		return Image{}, err
	}
	bd, ok := findImage(idx, base)
	if !ok {
		return Image{}, fmt.Errorf("%w: %s is not in the index", ErrNotFound, base)
	}
	var bm Manifest
	if err := s.layout.readJSONBlob(bd, &bm); err != nil {
		return Image{}, err
	}
	var bcfg ImageConfig
	if err := s.layout.readJSONBlob(bm.Config, &bcfg); err != nil {
		return Image{}, err
	}
	baseRootfs, baseLayers, upper := bd.Digest, len(bm.Layers), ""
	if bd.Annotations[annotationCustom] == "true" {
		baseRootfs, upper = bd.Annotations[annotationBaseRootfs], bd.Annotations[annotationLayers]
		baseLayers, _ = strconv.Atoi(bd.Annotations[annotationBaseLayers])
	}

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeDiffTar(ctx, pw, diffDir)) }()
	layer, err := s.layout.writeBlob(MediaTypeLayer, pr)
	pr.Close()
	if err != nil {
		return Image{}, fmt.Errorf("images: store layer of %s: %w", meta.ID, err)
	}
	if err := s.unpackOverlayLayer(ctx, layer); err != nil {
		return Image{}, err
	}

	created := time.Now().UTC().Format(time.RFC3339)
	cfg := bcfg
	cfg.Created = created
	cfg.Config.Labels = map[string]string{annotationImageID: meta.ID, annotationName: meta.Name}
	cfg.RootFS.DiffIDs = append(append([]string{}, bcfg.RootFS.DiffIDs...), layer.Digest)
	cfg.History = append(append([]HistoryRow{}, bcfg.History...), HistoryRow{Created: created, CreatedBy: "overcast CreateImage " + meta.ID})
	cd, err := s.layout.writeJSONBlob(MediaTypeConfig, cfg)
	if err != nil {
		return Image{}, err
	}
	md, err := s.layout.writeJSONBlob(MediaTypeManifest, Manifest{
		SchemaVersion: 2, MediaType: MediaTypeManifest, Config: cd,
		Layers: append(append([]Descriptor{}, bm.Layers...), layer),
	})
	if err != nil {
		return Image{}, err
	}
	md.Annotations = map[string]string{
		annotationRefName: meta.ID, annotationCreated: created, annotationImageID: meta.ID, annotationCustom: "true",
		annotationName: meta.Name, annotationDescription: meta.Description, annotationDefaultUser: meta.DefaultUser,
		annotationHasSSH: strconv.FormatBool(meta.HasSSH), annotationSizeGiB: strconv.Itoa(meta.SizeGiB),
		annotationBaseRootfs: baseRootfs, annotationBaseLayers: strconv.Itoa(baseLayers),
		annotationLayers: strings.Trim(layer.Digest+","+upper, ","),
	}
	if err := s.layout.updateIndex(func(idx *Index) { idx.Manifests = append(idx.Manifests, md) }); err != nil {
		return Image{}, err
	}
	return s.Get(ctx, meta.ID)
}

// Alias adds an image that is a copy of a custom image (CopyImage): the same manifest under another id,
// name and description. Removing either leaves the other whole.
func (s *Store) Alias(ctx context.Context, id, source, name, description string) (Image, error) {
	if !strings.HasPrefix(id, "ami-") || strings.ContainsAny(id, "/.") {
		return Image{}, fmt.Errorf("images: bad image id %q", id)
	}
	err := s.layout.updateIndex(func(idx *Index) {
		if _, ok := findImage(*idx, id); ok {
			return
		}
		d, ok := findImage(*idx, source)
		if !ok || d.Annotations[annotationCustom] != "true" || d.Annotations[annotationRemoved] == "true" {
			return
		}
		ann := map[string]string{}
		for k, v := range d.Annotations {
			ann[k] = v
		}
		ann[annotationImageID], ann[annotationRefName], ann[annotationName], ann[annotationDescription] = id, id, name, description
		ann[annotationCreated] = time.Now().UTC().Format(time.RFC3339)
		d.Annotations = ann
		idx.Manifests = append(idx.Manifests, d)
	})
	if err != nil {
		return Image{}, err
	}
	return s.Get(ctx, id)
}

// Remove removes a custom image from List, and deletes the blobs no other image uses. Get still finds it
// and its unpacked layers stay: instances launched from the image start from them. Quick-start images
// cannot be removed; removing an image the store does not have is not an error.
func (s *Store) Remove(ctx context.Context, id string) error {
	var dropped []Descriptor
	var keep map[string]bool
	err := s.layout.updateIndex(func(idx *Index) {
		for i, d := range idx.Manifests {
			if d.Annotations[annotationImageID] == id && d.Annotations[annotationCustom] == "true" && d.Annotations[annotationRemoved] != "true" {
				dropped = append(dropped, d)
				ann := map[string]string{}
				for k, v := range d.Annotations {
					ann[k] = v
				}
				ann[annotationRemoved] = "true"
				idx.Manifests[i].Annotations = ann
			}
		}
		keep = s.referencedBlobs(*idx)
	})
	if err != nil {
		return err
	}
	for _, d := range dropped {
		for _, b := range s.blobsOf(d) {
			if keep[b] {
				continue
			}
			if p, err := s.layout.blobPath(b); err == nil {
				if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
	}
	return nil
}

// referencedBlobs is every blob the index's images use.
func (s *Store) referencedBlobs(idx Index) map[string]bool {
	out := map[string]bool{}
	for _, d := range idx.Manifests {
		if d.Annotations[annotationRemoved] == "true" {
			continue
		}
		for _, b := range s.blobsOf(d) {
			out[b] = true
		}
	}
	return out
}

// blobsOf is a manifest's digest, its config's and its layers'. A manifest that cannot be read counts only
// itself.
func (s *Store) blobsOf(d Descriptor) []string {
	out := []string{d.Digest}
	var m Manifest
	if err := s.layout.readJSONBlob(d, &m); err != nil {
		return out
	}
	out = append(out, m.Config.Digest)
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

func (s *Store) layerDir(digest string) string {
	return filepath.Join(s.root, "layers", strings.TrimPrefix(digest, "sha256:"))
}

// unpackOverlayLayer unpacks a layer blob, in overlayfs form, into layers/<hex> unless it is there already.
func (s *Store) unpackOverlayLayer(ctx context.Context, l Descriptor) error {
	dest := s.layerDir(l.Digest)
	if isDir(dest) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(s.root, "tmp", "layer."+randomSuffix())
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return err
	}
	defer removeTree(tmp)
	rc, err := s.layout.openBlob(l)
	if err != nil {
		return err
	}
	defer rc.Close()
	diffID, err := unpackLayerMode(ctx, rc, tmp, true)
	if err != nil {
		return fmt.Errorf("images: unpack layer %s: %w", l.Digest, err)
	}
	if diffID != l.Digest {
		return fmt.Errorf("%w: layer %s unpacked to %s", ErrCorrupt, l.Digest, diffID)
	}
	if err := os.Rename(tmp, dest); err != nil && !isDir(dest) {
		return err
	}
	return nil
}

// customImages lists the custom images in the index.
func (s *Store) customImages() ([]Image, error) {
	idx, err := s.layout.readIndex()
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, d := range idx.Manifests {
		if d.Annotations[annotationCustom] == "true" && d.Annotations[annotationRemoved] != "true" &&
			d.MediaType == MediaTypeManifest && digestRE.MatchString(d.Digest) {
			out = append(out, s.customImage(d))
		}
	}
	return out, nil
}

// customImage is the Image of a custom image's index entry; one whose layers are not unpacked is failed.
func (s *Store) customImage(d Descriptor) Image {
	a := d.Annotations
	size, _ := strconv.Atoi(a[annotationSizeGiB])
	img := Image{
		ID: a[annotationImageID], Name: a[annotationName], Description: a[annotationDescription], Architecture: "x86_64",
		DefaultUser: a[annotationDefaultUser], SizeGiB: size, HasSSH: a[annotationHasSSH] == "true",
		State: StateAvailable, Progress: 100, Digest: d.Digest, Custom: true,
	}
	img.Created, _ = time.Parse(time.RFC3339, a[annotationCreated])
	fail := func(reason string) Image {
		img.State, img.Reason, img.Progress, img.LowerDirs = StateFailed, reason, 0, nil
		return img
	}
	for _, l := range strings.Split(a[annotationLayers], ",") {
		if !digestRE.MatchString(l) || !isDir(s.layerDir(l)) {
			return fail("layer " + l + " is not unpacked")
		}
		img.LowerDirs = append(img.LowerDirs, s.layerDir(l))
	}
	if base := s.rootfsDir(a[annotationBaseRootfs]); isDir(base) {
		img.LowerDirs = append(img.LowerDirs, base)
	} else {
		return fail("base root filesystem " + a[annotationBaseRootfs] + " is missing")
	}
	return img
}

// findCustom returns the custom image with the id, if the index has it.
func (s *Store) findCustom(id string) (Image, bool, error) {
	idx, err := s.layout.readIndex()
	if err != nil {
		return Image{}, false, err
	}
	d, ok := findImage(idx, id)
	if !ok || d.Annotations[annotationCustom] != "true" {
		return Image{}, false, nil
	}
	return s.customImage(d), true, nil
}

// overlayWhiteout writes an OCI whiteout the way overlayfs reads it in a lower directory.
func (u *unpacker) overlayWhiteout(pfd int, base string) error {
	if base == ".wh..wh..opq" {
		dir, err := u.realPath(pfd)
		if err != nil {
			return err
		}
		return unix.Lsetxattr(dir, overlayOpaqueXattr, []byte("y"), 0)
	}
	name := strings.TrimPrefix(base, ".wh.")
	if err := u.removeAt(pfd, name); err != nil {
		return err
	}
	return unix.Mknodat(pfd, name, unix.S_IFCHR, 0)
}

// writeDiffTar writes an overlayfs upper directory as an OCI layer: whiteouts (0/0 character devices)
// become ".wh.<name>" entries and opaque directories get a ".wh..wh..opq" entry.
func writeDiffTar(ctx context.Context, w io.Writer, dir string) error {
	return writeTarMode(ctx, w, dir, true)
}
