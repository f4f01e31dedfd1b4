package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Image states, as EC2 names them.
const (
	StatePending   = "pending"
	StateAvailable = "available"
	StateFailed    = "failed"
)

var _ Catalog = (*Store)(nil)

// Options configure a Store.
type Options struct {
	// Recipes are the images the store offers; nil means Builtin(). Tests pass Busybox() alone, or a recipe
	// with their own Build, to get an image in seconds.
	Recipes []Recipe
	// Logger gets a line per build step; nil discards them.
	Logger *slog.Logger
	// OnProgress, when set, is called with the image each time its state or progress changes.
	OnProgress func(Image)
}

// Store is the image store under one directory:
//
//	oci-layout, index.json, blobs/sha256/<hex>   an OCI image layout (manifests, configs, layers)
//	rootfs/<manifest hex>/                         unpacked root filesystems (root snapshots are made of them)
//	tmp/<name>.<random>/                           builds and unpacks in progress (renamed into rootfs/)
//	cache/<name>/                                  kept across builds (debootstrap's packages)
//	locks/<name>.lock, locks/index.lock            flocks shared by every process using the store
//
// An image is built at most once: builds of one image are shared between goroutines in a process and
// serialized between processes by an flock, and whoever holds the lock first checks index.json for an image
// another process finished. A root filesystem directory exists only once it is completely unpacked (the
// unpack happens in tmp/ and is renamed into place) and the layer was verified against its digest on the way.
// The store owns everything under its root and nothing outside it; it never removes a root filesystem, since
// instances may use it as a lower directory.
type Store struct {
	root       string
	layout     layout
	log        *slog.Logger
	onProgress func(Image)
	recipes    []Recipe

	ctx    context.Context // builds outlive the callers that start them; Close ends them
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	entries map[string]*entry // by recipe name
}

type entry struct {
	recipe  Recipe
	img     Image
	running *run
}

// run is one build (or unpack) in flight, shared by every caller of Ensure for that image.
type run struct {
	done chan struct{}
	img  Image
	err  error
}

// Open opens (creating if needed) the image store at root. It builds nothing: call Ensure or EnsureAll.
func Open(root string, opts Options) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	recipes := opts.Recipes
	if recipes == nil {
		recipes = Builtin()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{root: root, layout: layout{dir: root}, log: log, onProgress: opts.OnProgress, entries: map[string]*entry{}}
	for _, r := range recipes {
		if r.Name == "" || strings.ContainsAny(r.Name, "/.") || r.Build == nil {
			return nil, fmt.Errorf("images: recipe %q needs a plain name and a Build", r.Name)
		}
		if _, dup := s.entries[r.Name]; dup {
			return nil, fmt.Errorf("images: two recipes named %q", r.Name)
		}
		s.recipes = append(s.recipes, r)
		s.entries[r.Name] = &entry{recipe: r, img: baseImage(r)}
	}
	if err := s.layout.init(); err != nil {
		return nil, err
	}
	for _, d := range []string{"rootfs", "tmp", "cache", "locks"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.refresh(); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

// Close stops builds in progress (their images become failed) and waits for them to end.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func baseImage(r Recipe) Image {
	return Image{
		ID: r.ID(), Name: r.ImageName, Description: r.Description, Architecture: r.Architecture,
		DefaultUser: r.DefaultUser, SizeGiB: r.SizeGiB, HasSSH: r.HasSSH, State: StatePending,
	}
}

// List returns every image the store offers, whatever its state, in recipe order.
func (s *Store) List(ctx context.Context) ([]Image, error) {
	if err := s.refresh(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Image, 0, len(s.recipes))
	for _, r := range s.recipes {
		out = append(out, s.entries[r.Name].img)
	}
	return out, nil
}

// Get returns the image with the given AMI id.
func (s *Store) Get(ctx context.Context, id string) (Image, error) {
	if err := s.refresh(); err != nil {
		return Image{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.lookup(id); e != nil {
		return e.img, nil
	}
	return Image{}, fmt.Errorf("%w: %s", ErrNotFound, id)
}

func (s *Store) lookup(nameOrID string) *entry {
	if e, ok := s.entries[nameOrID]; ok {
		return e
	}
	for _, e := range s.entries {
		if e.img.ID == nameOrID {
			return e
		}
	}
	return nil
}

// refresh marks available the images that are in index.json and unpacked: built by this process before it
// restarted, or by another process sharing the store.
func (s *Store) refresh() error {
	s.mu.Lock()
	stale := false
	for _, e := range s.entries {
		stale = stale || (e.img.State != StateAvailable && e.running == nil)
	}
	s.mu.Unlock()
	if !stale {
		return nil
	}
	idx, err := s.layout.readIndex()
	if err != nil {
		return err
	}
	var changed []Image
	s.mu.Lock()
	for _, e := range s.entries {
		if e.img.State == StateAvailable || e.running != nil {
			continue
		}
		if d, ok := findImage(idx, e.img.ID); ok && isDir(s.rootfsDir(d.Digest)) {
			e.img = s.availableImage(e.recipe, d)
			changed = append(changed, e.img)
		}
	}
	s.mu.Unlock()
	for _, img := range changed {
		s.notify(img)
	}
	return nil
}

// Ensure returns the image named by recipe name or AMI id once it is available, building it first if the
// store does not have it. Concurrent callers share one build. If ctx ends first, Ensure returns ctx's error and
// the build goes on (Close stops it).
func (s *Store) Ensure(ctx context.Context, name string) (Image, error) {
	s.mu.Lock()
	e := s.lookup(name)
	if e == nil {
		s.mu.Unlock()
		return Image{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if e.img.State == StateAvailable && e.running == nil && isDir(e.img.LowerDirs[0]) {
		img := e.img
		s.mu.Unlock()
		return img, nil
	}
	r := s.startLocked(e)
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.img, r.err
	case <-ctx.Done():
		img, _ := s.Get(context.Background(), e.img.ID)
		return img, ctx.Err()
	}
}

// EnsureAll starts building, in the background, every image the store does not have yet. Progress shows in
// List, Get, the log and OnProgress; failures end as State failed with a Reason.
func (s *Store) EnsureAll(ctx context.Context) {
	_ = s.refresh()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recipes {
		if e := s.entries[r.Name]; e.img.State != StateAvailable {
			s.startLocked(e)
		}
	}
}

// startLocked returns the run in flight for e, starting one if there is none. s.mu is held.
func (s *Store) startLocked(e *entry) *run {
	if e.running != nil {
		return e.running
	}
	r := &run{done: make(chan struct{})}
	e.running = r
	e.img = baseImage(e.recipe)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		start := time.Now()
		img, err := s.ensure(s.ctx, e.recipe)
		if err != nil {
			img = baseImage(e.recipe)
			img.State, img.Reason = StateFailed, err.Error()
			s.log.Error("image build failed", "image", img.ID, "name", e.recipe.Name, "error", err)
		} else {
			s.log.Info("image available", "image", img.ID, "name", e.recipe.Name, "digest", img.Digest,
				"elapsed", time.Since(start).Round(time.Millisecond))
		}
		s.mu.Lock()
		e.img, e.running = img, nil
		s.mu.Unlock()
		r.img, r.err = img, err
		s.notify(img) // before done, so that a caller of Ensure has seen the last notification
		close(r.done)
	}()
	return r
}

// progress records how far a pending image is. Percent never goes back.
func (s *Store) progress(r Recipe, percent int, step string) {
	percent = max(0, min(percent, 99)) // 100 only when available
	s.mu.Lock()
	e := s.entries[r.Name]
	if e.img.State != StatePending || percent <= e.img.Progress {
		s.mu.Unlock()
		return
	}
	e.img.Progress = percent
	img := e.img
	s.mu.Unlock()
	s.log.Info("image build", "image", img.ID, "name", r.Name, "progress", percent, "step", step)
	s.notify(img)
}

func (s *Store) notify(img Image) {
	if s.onProgress != nil {
		s.onProgress(img)
	}
}

// ensure makes the image available: under the image's lock, it takes what another process (or an earlier
// run) stored, unpacking it again if needed, and builds only when the store has no sound copy.
func (s *Store) ensure(ctx context.Context, r Recipe) (Image, error) {
	unlock, err := lockFileCtx(ctx, filepath.Join(s.root, "locks", r.Name+".lock"), func() {
		s.log.Info("waiting for another process building the image", "image", r.ID(), "name", r.Name)
	})
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	// Whatever is in tmp/ for this image belongs to a build that died: the lock was free.
	if err := s.removeTemps(r.Name); err != nil {
		return Image{}, err
	}
	idx, err := s.layout.readIndex()
	if err != nil {
		return Image{}, err
	}
	if d, ok := findImage(idx, r.ID()); ok {
		img, err := s.unpack(ctx, r, d, 0)
		if err == nil || !errors.Is(err, ErrCorrupt) {
			return img, err
		}
		s.log.Warn("stored image is corrupt; building it again", "image", r.ID(), "name", r.Name, "error", err)
		if err := s.layout.updateIndex(func(idx *Index) { dropImage(idx, r.ID()) }); err != nil {
			return Image{}, err
		}
	}
	return s.build(ctx, r)
}

// build runs the recipe, stores the result as a one-layer OCI image and unpacks it.
func (s *Store) build(ctx context.Context, r Recipe) (Image, error) {
	work := filepath.Join(s.root, "tmp", r.Name+".build."+randomSuffix())
	dir := filepath.Join(work, "rootfs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Image{}, err
	}
	defer removeTree(work)
	cache := filepath.Join(s.root, "cache", r.Name)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return Image{}, err
	}
	s.log.Info("building image", "image", r.ID(), "name", r.Name)
	env := BuildEnv{
		Dir: dir, CacheDir: cache, Log: s.log.With("image", r.ID(), "name", r.Name),
		Progress: func(p int, step string) { s.progress(r, p*79/100, step) },
	}
	if err := r.Build(ctx, env); err != nil {
		return Image{}, fmt.Errorf("build %s: %w", r.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return Image{}, err
	}

	s.progress(r, 80, "storing the root filesystem as a layer")
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(ctx, pw, dir)) }()
	layer, err := s.layout.writeBlob(MediaTypeLayer, pr)
	pr.Close()
	if err != nil {
		return Image{}, fmt.Errorf("store layer: %w", err)
	}
	created := time.Now().UTC().Format(time.RFC3339)
	cfg, err := s.layout.writeJSONBlob(MediaTypeConfig, ImageConfig{
		Created: created, Architecture: "amd64", OS: "linux",
		Config:  RunConfig{Labels: map[string]string{annotationImageID: r.ID(), "cloud.overcast.image.name": r.ImageName}},
		RootFS:  RootFS{Type: "layers", DiffIDs: []string{layer.Digest}}, // an uncompressed layer is its own diff id
		History: []HistoryRow{{Created: created, CreatedBy: "overcast image recipe " + r.Name + " version " + r.Version}},
	})
	if err != nil {
		return Image{}, err
	}
	ann := map[string]string{annotationRefName: r.ImageName, annotationCreated: created, annotationImageID: r.ID()}
	m, err := s.layout.writeJSONBlob(MediaTypeManifest, Manifest{
		SchemaVersion: 2, MediaType: MediaTypeManifest, Config: cfg, Layers: []Descriptor{layer}, Annotations: ann,
	})
	if err != nil {
		return Image{}, err
	}
	m.Annotations = ann
	// Index first, unpack second: a crash in between leaves an image that the next Ensure unpacks again
	// rather than a root filesystem that nothing refers to.
	if err := s.layout.updateIndex(func(idx *Index) {
		dropImage(idx, r.ID())
		idx.Manifests = append(idx.Manifests, m)
	}); err != nil {
		return Image{}, err
	}
	return s.unpack(ctx, r, m, 85)
}

// unpack makes sure the image's root filesystem is unpacked, verifying every blob it reads. Progress runs
// from `from` to 99 as the layers are read.
func (s *Store) unpack(ctx context.Context, r Recipe, d Descriptor, from int) (Image, error) {
	dest := s.rootfsDir(d.Digest)
	if isDir(dest) {
		return s.availableImage(r, d), nil
	}
	var m Manifest
	if err := s.layout.readJSONBlob(d, &m); err != nil {
		return Image{}, err
	}
	var cfg ImageConfig
	if err := s.layout.readJSONBlob(m.Config, &cfg); err != nil {
		return Image{}, err
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return Image{}, fmt.Errorf("%w: manifest %s has %d layers and %d diff ids", ErrCorrupt, d.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	tmp := filepath.Join(s.root, "tmp", r.Name+".unpack."+randomSuffix())
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return Image{}, err
	}
	defer removeTree(tmp)
	var total, done int64
	for _, l := range m.Layers {
		total += l.Size
	}
	for i, l := range m.Layers {
		rc, err := s.layout.openBlob(l)
		if err != nil {
			return Image{}, err
		}
		pr := &progressReader{r: rc, step: func(n int64) {
			if total > 0 {
				s.progress(r, from+int((done+n)*int64(99-from)/total), "unpacking the root filesystem")
			}
		}}
		diffID, err := unpackLayer(ctx, pr, tmp)
		rc.Close()
		if err != nil && !errors.Is(err, ErrCorrupt) {
			// A damaged blob can fail as a bad tar header before its digest is checked at EOF; say which.
			if verr := s.layout.verifyBlob(l); verr != nil {
				err = verr
			}
		}
		if err != nil {
			return Image{}, fmt.Errorf("unpack layer %s: %w", l.Digest, err)
		}
		if diffID != cfg.RootFS.DiffIDs[i] {
			return Image{}, fmt.Errorf("%w: layer %s unpacked to %s, config says %s", ErrCorrupt, l.Digest, diffID, cfg.RootFS.DiffIDs[i])
		}
		done += l.Size
	}
	if err := os.Rename(tmp, dest); err != nil {
		return Image{}, err
	}
	return s.availableImage(r, d), nil
}

func (s *Store) rootfsDir(digest string) string {
	return filepath.Join(s.root, "rootfs", strings.TrimPrefix(digest, "sha256:"))
}

func (s *Store) availableImage(r Recipe, d Descriptor) Image {
	img := baseImage(r)
	img.State, img.Progress, img.Digest = StateAvailable, 100, d.Digest
	img.Created, _ = time.Parse(time.RFC3339, d.Annotations[annotationCreated])
	img.LowerDirs = []string{s.rootfsDir(d.Digest)}
	return img
}

// removeTemps removes what dead builds and unpacks of one image left in tmp/. The caller holds its lock.
func (s *Store) removeTemps(name string) error {
	matches, err := filepath.Glob(filepath.Join(s.root, "tmp", name+".*"))
	if err != nil {
		return err
	}
	for _, m := range matches {
		s.log.Info("removing an interrupted build", "path", m)
		if err := removeTree(m); err != nil {
			return err
		}
	}
	return nil
}

func findImage(idx Index, id string) (Descriptor, bool) {
	for i := len(idx.Manifests) - 1; i >= 0; i-- {
		if d := idx.Manifests[i]; d.Annotations[annotationImageID] == id && d.MediaType == MediaTypeManifest && digestRE.MatchString(d.Digest) {
			return d, true
		}
	}
	return Descriptor{}, false
}

func dropImage(idx *Index, id string) {
	kept := idx.Manifests[:0]
	for _, d := range idx.Manifests {
		if d.Annotations[annotationImageID] != id {
			kept = append(kept, d)
		}
	}
	idx.Manifests = kept
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// removeTree removes a build or unpack directory. A build that was killed may have left mounts inside it
// (debootstrap mounts /proc and /sys in its target); they are detached first so that removing the tree can
// never reach into a mounted filesystem.
func removeTree(dir string) error {
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var mounts []string
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
				mounts = append(mounts, f[4])
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(mounts))) // deepest first
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
				return fmt.Errorf("images: unmount %s before removing it: %w", m, err)
			}
		}
	}
	return os.RemoveAll(dir)
}

// progressReader reports how many bytes went through it, about every 4 MiB.
type progressReader struct {
	r    io.Reader
	n    int64
	last int64
	step func(n int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.last >= 4<<20 {
		p.last = p.n
		p.step(p.n)
	}
	return n, err
}
