package images

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/overcast-cloud/overcast/internal/testutil"
	"golang.org/x/sys/unix"
)

// layeredRecipe builds a base with a file to delete, a directory to make opaque and a file to keep.
func layeredRecipe() Recipe {
	return Recipe{
		Name: "base", Version: "test", ImageName: "test/base", Architecture: "x86_64", DefaultUser: "tester", SizeGiB: 1,
		Build: func(ctx context.Context, env BuildEnv) error {
			for p, c := range map[string]string{"etc/hello": "hello\n", "etc/keep": "keep\n", "opaq/old": "old\n", "gone/inner": "x\n"} {
				if err := os.MkdirAll(filepath.Join(env.Dir, filepath.Dir(p)), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(env.Dir, p), []byte(c), 0o644); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// upperDir makes what overlayfs leaves in an upper directory after: rm etc/hello, rm -r gone,
// rm -r opaq && mkdir opaq && echo > opaq/newer, echo > etc/new.
func upperDir(t *testing.T) string {
	t.Helper()
	up := t.TempDir()
	for _, d := range []string{"etc", "opaq"} {
		if err := os.Mkdir(filepath.Join(up, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []string{"etc/hello", "gone"} {
		if err := unix.Mknod(filepath.Join(up, w), unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Lsetxattr(filepath.Join(up, "opaq"), overlayOpaqueXattr, []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	for p, c := range map[string]string{"etc/new": "new\n", "opaq/newer": "newer\n"} {
		if err := os.WriteFile(filepath.Join(up, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return up
}

// mountLowers mounts the image's lower directories read-only, as a machine would see its first boot.
func mountLowers(t *testing.T, img Image) string {
	t.Helper()
	target := t.TempDir()
	lowers := img.LowerDirs
	if len(lowers) == 1 { // overlayfs wants two lower directories when it has no upper one
		lowers = append(lowers, t.TempDir())
	}
	if err := unix.Mount("overlay", target, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lowers, ":")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	return target
}

func layerEntries(t *testing.T, s *Store, img Image) []string {
	t.Helper()
	idx, err := s.layout.readIndex()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := findImage(idx, img.ID)
	var m Manifest
	if err := s.layout.readJSONBlob(d, &m); err != nil {
		t.Fatal(err)
	}
	rc, err := s.layout.openBlob(m.Layers[len(m.Layers)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func TestCommitConvertsWhiteoutsAndLayersOnTheBase(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s := openStore(t, t.TempDir(), Options{Recipes: []Recipe{layeredRecipe()}})
	base, err := s.Ensure(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Commit(ctx, base.ID, upperDir(t), CommitMeta{ID: "ami-0123456789abcdef0", Name: "mine", DefaultUser: "tester", SizeGiB: 2})
	if err != nil {
		t.Fatal(err)
	}
	if img.State != StateAvailable || !img.Custom || img.Name != "mine" || img.SizeGiB != 2 || len(img.LowerDirs) != 2 || img.LowerDirs[1] != base.LowerDirs[0] {
		t.Fatalf("committed image = %+v (base lower dirs %v)", img, base.LowerDirs)
	}
	names := layerEntries(t, s, img)
	for _, want := range []string{"etc/.wh.hello", ".wh.gone", "opaq/.wh..wh..opq", "etc/new"} {
		if !slices.Contains(names, want) {
			t.Errorf("layer lacks %s: %v", want, names)
		}
	}

	root := mountLowers(t, img)
	for p, want := range map[string]string{"etc/keep": "keep\n", "etc/new": "new\n", "opaq/newer": "newer\n"} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	for _, p := range []string{"etc/hello", "gone", "opaq/old"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was deleted in the machine but is in the image: %v", p, err)
		}
	}

	// Get and List find it; a second process (a new Store on the same root) too.
	list, err := s.List(ctx)
	if err != nil || len(list) != 2 || !list[1].Custom || list[1].ID != img.ID {
		t.Fatalf("List = %+v, %v", list, err)
	}
	other := openStore(t, s.Root(), Options{Recipes: []Recipe{layeredRecipe()}})
	if got, err := other.Get(ctx, img.ID); err != nil || !slices.Equal(got.LowerDirs, img.LowerDirs) {
		t.Fatalf("Get from another store = %+v, %v", got, err)
	}
	if _, err := s.Commit(ctx, base.ID, t.TempDir(), CommitMeta{ID: img.ID}); err == nil {
		t.Fatal("a second Commit with the same id succeeded")
	}
}

func TestCommitOnCustomAliasAndRemove(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s := openStore(t, t.TempDir(), Options{Recipes: []Recipe{layeredRecipe()}})
	base, err := s.Ensure(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Commit(ctx, base.ID, upperDir(t), CommitMeta{ID: "ami-00000000000000001", Name: "first"})
	if err != nil {
		t.Fatal(err)
	}
	// A machine of the first image deletes etc/new and writes etc/second.
	up := t.TempDir()
	os.Mkdir(filepath.Join(up, "etc"), 0o755)
	unix.Mknod(filepath.Join(up, "etc/new"), unix.S_IFCHR, 0)
	os.WriteFile(filepath.Join(up, "etc/second"), []byte("2\n"), 0o644)
	second, err := s.Commit(ctx, first.ID, up, CommitMeta{ID: "ami-00000000000000002", Name: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.LowerDirs) != 3 {
		t.Fatalf("second image lower dirs = %v", second.LowerDirs)
	}
	cp, err := s.Alias(ctx, "ami-00000000000000003", second.ID, "copy", "a copy")
	if err != nil || cp.Name != "copy" || cp.Description != "a copy" || !slices.Equal(cp.LowerDirs, second.LowerDirs) {
		t.Fatalf("Alias = %+v, %v", cp, err)
	}
	// Removing the images a copy was made from leaves the copy whole.
	if err := s.Remove(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	// A removed image is no longer listed, but instances of it still start: Get finds its layers.
	if got, err := s.Get(ctx, second.ID); err != nil || got.State != StateAvailable || !slices.Equal(got.LowerDirs, second.LowerDirs) {
		t.Fatalf("Get of a removed image = %+v, %v", got, err)
	}
	if list, _ := s.List(ctx); len(list) != 2 || list[1].ID != cp.ID {
		t.Fatalf("List after removing two of three custom images = %+v", list)
	}
	if _, err := s.Alias(ctx, "ami-00000000000000004", second.ID, "x", ""); err == nil {
		t.Fatal("Alias of a removed image succeeded")
	}
	root := mountLowers(t, must(s.Get(ctx, cp.ID)))
	if b, err := os.ReadFile(filepath.Join(root, "etc/second")); err != nil || string(b) != "2\n" {
		t.Fatalf("copy's etc/second = %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/new")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("etc/new deleted by the second layer is in the copy: %v", err)
	}
	blobsBefore := countBlobs(t, s)
	if err := s.Remove(ctx, cp.ID); err != nil {
		t.Fatal(err)
	}
	// Left: the base's manifest, config and layer.
	if n := countBlobs(t, s); n != 3 {
		t.Fatalf("%d blobs after removing every custom image (had %d), want the base's 3", n, blobsBefore)
	}
	if _, err := s.Get(ctx, base.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, base.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, base.ID); err != nil {
		t.Fatalf("Remove took a quick-start image away: %v", err)
	}
}

func must(img Image, err error) Image {
	if err != nil {
		panic(err)
	}
	return img
}

func countBlobs(t *testing.T, s *Store) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Root(), "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
