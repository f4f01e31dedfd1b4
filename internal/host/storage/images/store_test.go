package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRecipe is a real recipe whose build writes a small tree and counts how often it ran. Building takes
// `delay`, which widens the window in which concurrent callers could wrongly start a second build.
func fakeRecipe(name string, builds *atomic.Int32, delay time.Duration) Recipe {
	return Recipe{
		Name: name, Version: "test", ImageName: "test/" + name, Architecture: "x86_64", DefaultUser: "tester", SizeGiB: 1,
		Build: func(ctx context.Context, env BuildEnv) error {
			builds.Add(1)
			env.Progress(10, "writing files")
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := os.MkdirAll(filepath.Join(env.Dir, "etc"), 0o755); err != nil {
				return err
			}
			env.Progress(50, "writing more files")
			if err := os.Symlink("etc/hello", filepath.Join(env.Dir, "hello-link")); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(env.Dir, "etc/hello"), []byte("hello from "+name+"\n"), 0o644)
		},
	}
}

func openStore(t *testing.T, root string, opts Options) *Store {
	t.Helper()
	s, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestEnsureBuildsOnceForConcurrentCallersAndStores(t *testing.T) {
	root := t.TempDir()
	var builds atomic.Int32
	r := fakeRecipe("fake", &builds, 300*time.Millisecond)
	// Two stores on one root contend through the flock exactly as two processes do: flock locks belong to
	// the open file, not to the process.
	a := openStore(t, root, Options{Recipes: []Recipe{r}})
	b := openStore(t, root, Options{Recipes: []Recipe{r}})
	var wg sync.WaitGroup
	imgs := make([]Image, 4)
	errs := make([]error, 4)
	for i := range imgs {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			imgs[i], errs[i] = s.Ensure(context.Background(), "fake")
		}()
	}
	wg.Wait()
	for i := range imgs {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if imgs[i].State != StateAvailable || imgs[i].Digest != imgs[0].Digest {
			t.Fatalf("caller %d got %+v, caller 0 got digest %s", i, imgs[i], imgs[0].Digest)
		}
	}
	if n := builds.Load(); n != 1 {
		t.Fatalf("built %d times, want once", n)
	}
	got, err := os.ReadFile(filepath.Join(imgs[0].LowerDirs[0], "etc/hello"))
	if err != nil || string(got) != "hello from fake\n" {
		t.Fatalf("unpacked rootfs: %q, %v", got, err)
	}

	// A store opened later finds the image without building or even calling Ensure.
	c := openStore(t, root, Options{Recipes: []Recipe{r}})
	img, err := c.Get(context.Background(), r.ID())
	if err != nil || img.State != StateAvailable || img.Digest != imgs[0].Digest || img.Progress != 100 {
		t.Fatalf("reopened store: %+v, %v", img, err)
	}
	if _, err := c.Ensure(context.Background(), r.ID()); err != nil || builds.Load() != 1 {
		t.Fatalf("Ensure after reopen: %v, builds %d", err, builds.Load())
	}
}

func TestBlobsAreContentAddressedAndLayoutIsOCI(t *testing.T) {
	root := t.TempDir()
	var builds atomic.Int32
	s := openStore(t, root, Options{Recipes: []Recipe{fakeRecipe("fake", &builds, 0)}})
	img, err := s.Ensure(context.Background(), "fake")
	if err != nil {
		t.Fatal(err)
	}
	verifyLayout(t, root, img)
}

// verifyLayout checks every blob against its name, and the chain index -> manifest -> config/layer.
func verifyLayout(t *testing.T, root string, img Image) {
	t.Helper()
	blobs, _ := filepath.Glob(filepath.Join(root, "blobs/sha256/*"))
	if len(blobs) < 3 {
		t.Fatalf("want at least manifest, config and layer blobs, got %v", blobs)
	}
	for _, p := range blobs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != filepath.Base(p) {
			t.Errorf("blob %s hashes to %x", filepath.Base(p), sum)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "oci-layout")); err != nil || !strings.Contains(string(b), `"imageLayoutVersion":"1.0.0"`) {
		t.Errorf("oci-layout: %q, %v", b, err)
	}
	l := layout{dir: root}
	idx, err := l.readIndex()
	if err != nil {
		t.Fatal(err)
	}
	d, ok := findImage(idx, img.ID)
	if !ok || d.Digest != img.Digest || d.Annotations[annotationRefName] != img.Name {
		t.Fatalf("index.json has no manifest for %s: %+v", img.ID, idx)
	}
	var m Manifest
	if err := l.readJSONBlob(d, &m); err != nil {
		t.Fatal(err)
	}
	var cfg ImageConfig
	if err := l.readJSONBlob(m.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != MediaTypeConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeLayer {
		t.Fatalf("manifest: %+v", m)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != m.Layers[0].Digest {
		t.Fatalf("config: %+v", cfg)
	}
	if err := l.verifyBlob(m.Layers[0]); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "rootfs", strings.TrimPrefix(img.Digest, "sha256:")); len(img.LowerDirs) != 1 || img.LowerDirs[0] != want {
		t.Fatalf("LowerDirs %v, want [%s]", img.LowerDirs, want)
	}
}

func TestHalfUnpackIsNotUsedAndCorruptBlobIsRebuilt(t *testing.T) {
	root := t.TempDir()
	var builds atomic.Int32
	r := fakeRecipe("fake", &builds, 0)
	s := openStore(t, root, Options{Recipes: []Recipe{r}})
	img, err := s.Ensure(context.Background(), "fake")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A crash in the middle of an unpack: the finished directory is gone, a half-written one is in tmp/.
	if err := os.RemoveAll(img.LowerDirs[0]); err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(root, "tmp", "fake.unpack.deadbeef")
	if err := os.MkdirAll(filepath.Join(half, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, root, Options{Recipes: []Recipe{r}})
	if got, _ := s2.Get(context.Background(), img.ID); got.State != StatePending {
		t.Fatalf("an image without its unpacked rootfs is %s, want pending", got.State)
	}
	img2, err := s2.Ensure(context.Background(), "fake")
	if err != nil {
		t.Fatal(err)
	}
	if builds.Load() != 1 || img2.Digest != img.Digest {
		t.Fatalf("re-unpack rebuilt: builds %d, digest %s want %s", builds.Load(), img2.Digest, img.Digest)
	}
	if _, err := os.Stat(half); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("half unpack left behind: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(img2.LowerDirs[0], "etc/hello")); err != nil || string(b) != "hello from fake\n" {
		t.Fatalf("re-unpacked rootfs: %q, %v", b, err)
	}

	// A layer blob that no longer matches its digest is never unpacked: the image is built again. Both a
	// change that keeps the tar readable and one that breaks it.
	for i, corrupt := range []func([]byte) []byte{
		func(b []byte) []byte { return bytes.Replace(b, []byte("hello from"), []byte("jello from"), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte("hello from"), []byte("HACKED from"), 1) },
	} {
		l := layout{dir: root}
		idx, _ := l.readIndex()
		d, _ := findImage(idx, img.ID)
		var m Manifest
		if err := l.readJSONBlob(d, &m); err != nil {
			t.Fatal(err)
		}
		p, _ := l.blobPath(m.Layers[0].Digest)
		b, _ := os.ReadFile(p)
		os.Chmod(p, 0o644)
		if err := os.WriteFile(p, corrupt(b), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(root, "rootfs", strings.TrimPrefix(d.Digest, "sha256:"))); err != nil {
			t.Fatal(err)
		}
		s3 := openStore(t, root, Options{Recipes: []Recipe{r}})
		img3, err := s3.Ensure(context.Background(), "fake")
		if err != nil {
			t.Fatal(err)
		}
		s3.Close()
		if want := int32(2 + i); builds.Load() != want {
			t.Fatalf("builds = %d, want %d: a rebuild after corruption", builds.Load(), want)
		}
		if got, _ := os.ReadFile(filepath.Join(img3.LowerDirs[0], "etc/hello")); string(got) != "hello from fake\n" {
			t.Fatalf("rootfs after rebuild: %q", got)
		}
		if img3.ID != img.ID {
			t.Fatalf("AMI id changed across rebuilds: %s -> %s", img.ID, img3.ID)
		}
	}
}

func TestProgressAndFailure(t *testing.T) {
	var mu sync.Mutex
	var seen []Image
	good := fakeRecipe("good", new(atomic.Int32), 50*time.Millisecond)
	bad := Recipe{Name: "bad", Version: "1", ImageName: "test/bad", Build: func(ctx context.Context, env BuildEnv) error {
		env.Progress(40, "about to fail")
		return errors.New("mirror unreachable")
	}}
	s := openStore(t, t.TempDir(), Options{Recipes: []Recipe{good, bad}, OnProgress: func(img Image) {
		mu.Lock()
		seen = append(seen, img)
		mu.Unlock()
	}})
	list, err := s.List(context.Background())
	if err != nil || len(list) != 2 || list[0].State != StatePending || list[0].Progress != 0 {
		t.Fatalf("before building: %+v, %v", list, err)
	}
	s.EnsureAll(context.Background())
	if _, err := s.Ensure(context.Background(), "good"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ensure(context.Background(), "bad"); err == nil || !strings.Contains(err.Error(), "mirror unreachable") {
		t.Fatalf("Ensure(bad) = %v", err)
	}
	img, _ := s.Get(context.Background(), bad.ID())
	if img.State != StateFailed || !strings.Contains(img.Reason, "mirror unreachable") {
		t.Fatalf("failed image: %+v", img)
	}
	mu.Lock()
	defer mu.Unlock()
	last := -1
	var sawMiddle bool
	var final Image
	for _, img := range seen {
		if img.ID != good.ID() {
			continue
		}
		final = img
		if img.State == StatePending {
			if img.Progress < last {
				t.Fatalf("progress went back: %d after %d", img.Progress, last)
			}
			last = img.Progress
			sawMiddle = sawMiddle || (img.Progress > 0 && img.Progress < 100)
		}
	}
	if !sawMiddle || final.State != StateAvailable {
		t.Fatalf("progress seen: %+v", seen)
	}
	if _, err := s.Get(context.Background(), "ami-00000000000000000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

func TestImageIDsAreStableAndAWSShaped(t *testing.T) {
	re := regexp.MustCompile(`^ami-[0-9a-f]{17}$`)
	seen := map[string]bool{}
	for _, r := range Builtin() {
		if !re.MatchString(r.ID()) || r.ID() != r.ID() || seen[r.ID()] {
			t.Fatalf("%s: id %s", r.Name, r.ID())
		}
		seen[r.ID()] = true
	}
	if Busybox().ID() != Busybox().ID() {
		t.Fatal("busybox id is not stable")
	}
}

func TestUnpackStaysInsideRoot(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	add(&tar.Header{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: outside}, "")
	add(&tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../" + outside}, "")
	add(&tar.Header{Name: "abs/pwned", Typeflag: tar.TypeReg}, "x")
	add(&tar.Header{Name: "up/pwned2", Typeflag: tar.TypeReg}, "x")
	add(&tar.Header{Name: "../../pwned3", Typeflag: tar.TypeReg}, "x")
	add(&tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "../../../etc/hostname"}, "")
	tw.Close()
	// Errors are fine (the link target is missing); writing outside is not.
	_, _ = unpackLayer(context.Background(), &buf, root)
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Fatalf("unpack wrote outside its root: %v", entries)
	}
}

func TestWhiteoutsRemoveLowerFiles(t *testing.T) {
	root := t.TempDir()
	layer := func(entries ...string) *bytes.Buffer {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, name := range entries {
			if strings.HasSuffix(name, "/") {
				tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755})
				continue
			}
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
			tw.Write([]byte("x"))
		}
		tw.Close()
		return &buf
	}
	if _, err := unpackLayer(context.Background(), layer("a/", "a/1", "a/2", "b/", "b/1", "c"), root); err != nil {
		t.Fatal(err)
	}
	if _, err := unpackLayer(context.Background(), layer("a/.wh..wh..opq", "a/3", ".wh.c", "b/.wh.1"), root); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		got = append(got, rel)
		return nil
	})
	if strings.Join(got, " ") != ". a a/3 b" {
		t.Fatalf("after whiteouts: %v", got)
	}
}
