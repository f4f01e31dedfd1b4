package linux

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inNetns runs fn on an OS thread switched into ns. Go schedules goroutines on any thread, so the thread is
// locked for the duration; if it cannot be switched back, it stays locked and the runtime discards it when
// the goroutine ends, rather than letting other goroutines run in the wrong namespace.
func inNetns(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("restore netns: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// ensureNamedNetns opens the named namespace, creating it (and running setup inside it) when it does not
// exist. A leftover file that is not a namespace mount (a crash between creating and mounting it) is replaced.
func ensureNamedNetns(name string, setup func() error) (netns.NsHandle, error) {
	path := filepath.Join(netnsDir, name)
	if isNetnsMount(path) {
		return netns.GetFromPath(path)
	}
	_ = os.Remove(path)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return netns.None(), err
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name) // unshares this thread into the new namespace
	if err == nil && setup != nil {
		if err = setup(); err != nil {
			ns.Close()
			_ = deleteNamedNetns(name)
		}
	}
	if rerr := netns.Set(orig); rerr != nil {
		// Leave the thread locked: it is in the wrong namespace and must die with this goroutine.
		return netns.None(), errors.Join(err, fmt.Errorf("restore netns: %w", rerr))
	}
	runtime.UnlockOSThread()
	if err != nil {
		return netns.None(), fmt.Errorf("create netns %s: %w", name, err)
	}
	return ns, nil
}

// deleteNamedNetns unmounts and removes a named namespace. The kernel frees the namespace, and with it every
// interface inside (the peers of its veths too), once nothing else holds it.
func deleteNamedNetns(name string) error {
	path := filepath.Join(netnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func isNetnsMount(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// listNetns returns the names under /var/run/netns.
func listNetns() ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// writeSysctls writes /proc/sys values. /proc/sys/net belongs to the network namespace of the thread that
// opens the file, so inside inNetns these are the namespace's own settings.
func writeSysctls(kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if err := os.WriteFile(filepath.Join("/proc/sys", kv[i]), []byte(kv[i+1]), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", kv[i], err)
		}
	}
	return nil
}
