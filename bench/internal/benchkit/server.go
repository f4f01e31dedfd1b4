// Package benchkit is what the benchmarks under bench/ share: building and running an Overcast server with
// real compute on a network of its own, stopping it and cleaning up after it, SDK clients with retries off,
// and the percentiles and units the reports print. It touches no host object but the ones that server makes;
// what a benchmark launches through the API stays that benchmark's to measure and delete.
package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ImagesDir holds the quick-start AMIs, built once and shared with the e2e tests.
const ImagesDir = "/var/cache/overcast-e2e/images"

// Server is one Overcast built from this tree and serving with compute on, from a directory of the run's.
type Server struct {
	URL          string // set once it is healthy
	Data         string // its data directory
	Prefix, Pool string // its network prefix and public /24; set before it starts, so Stop can clean up
	bin, logPath string
	cmd          *exec.Cmd
	exited       chan struct{}
}

// StartServer builds ./cmd/overcast into dir and serves it from there, on a free loopback port with a fresh
// data directory, a network prefix of letter and three digits, and a public /24 the host does not route yet.
// The Server it returns, on an error too, must be stopped with Stop.
func StartServer(ctx context.Context, dir, letter string) (*Server, error) {
	s := &Server{Data: filepath.Join(dir, "data"), bin: filepath.Join(dir, "overcast"),
		logPath: filepath.Join(dir, "overcast.log")}
	var err error
	if s.Prefix, s.Pool, err = pickNetwork(letter); err != nil {
		return s, err
	}
	if err := GoBuild(ctx, s.bin, "./cmd/overcast"); err != nil {
		return s, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return s, err
	}
	defer logFile.Close()
	s.cmd = exec.Command(s.bin, "serve", "--listen", addr, "--data-dir", s.Data, "--compute=on",
		"--network-prefix", s.Prefix, "--public-pool", s.Pool, "--images-dir", ImagesDir, "--log-level", "warn")
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C on the terminal reaches only the benchmark, which then cleans up.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return s, err
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		if Healthy(url) == nil {
			s.URL = url
			return s, nil
		}
		select {
		case <-s.exited:
			return s, errors.New("overcast exited at start")
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return s, errors.New("overcast not healthy after 30s")
		}
	}
}

// GoBuild builds pkg static into out: the overcast binary is also each machine's init, and a program copied
// into an instance must not need the guest's libraries.
func GoBuild(ctx context.Context, out, pkg string) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s (run from the repository root): %v\n%s", pkg, err, msg)
	}
	return nil
}

// Healthy asks the Overcast at url whether it serves.
func Healthy(url string) error {
	resp, err := http.Get(url + "/_overcast/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("health: %s", resp.Status)
	}
	return nil
}

// pickNetwork chooses a network prefix no installation on this host uses and a public /24 the host does not
// route yet.
func pickNetwork(letter string) (prefix, pool string, err error) {
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	for range 100 {
		prefix = fmt.Sprintf("%s%03d", letter, rand.IntN(1000))
		n := 1 + rand.IntN(250)
		pool = fmt.Sprintf("198.19.%d.0/24", n)
		if FileExists("/var/run/netns/"+prefix+"-core") || FileExists("/sys/fs/cgroup/memory/overcast-"+prefix) ||
			strings.Contains(string(routes), fmt.Sprintf("198.19.%d.", n)) {
			continue
		}
		return prefix, pool, nil
	}
	return "", "", errors.New("no free network prefix and public pool")
}

// PID is the server process's id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Running says whether the server process was started and has not exited.
func (s *Server) Running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return s.exited != nil
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 20 s) and runs `overcast cleanup` on its data directory
// and network prefix, which removes whatever host objects it left.
func (s *Server) Stop() error {
	if s.Running() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if !FileExists(s.bin) || s.Prefix == "" {
		return nil // never built, so it made nothing
	}
	out, err := exec.Command(s.bin, "cleanup", "--data-dir", s.Data, "--network-prefix", s.Prefix).CombinedOutput()
	if err != nil {
		return fmt.Errorf("overcast cleanup: %v: %s", err, out)
	}
	return nil
}

// PrintLogTail shows the end of the server's log on stderr, after a failure.
func (s *Server) PrintLogTail() {
	data, err := os.ReadFile(s.logPath)
	if err != nil || len(data) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	fmt.Fprintf(os.Stderr, "last lines of the overcast log:\n%s\n", strings.Join(lines[max(0, len(lines)-30):], "\n"))
}

// RemoveDir deletes the run's temporary directory, unless a mount or a loop device still uses something in
// it: deleting it then would pull files from under the kernel, so it is left for a person to look at.
func RemoveDir(dir string) error {
	if mounts, _ := os.ReadFile("/proc/mounts"); bytes.Contains(mounts, []byte(dir)) {
		return fmt.Errorf("mounts under %s remain; leaving it in place", dir)
	}
	if loops, _ := exec.Command("losetup", "-a").Output(); bytes.Contains(loops, []byte(dir)) {
		return fmt.Errorf("loop devices still use %s; leaving it in place", dir)
	}
	return os.RemoveAll(dir)
}

// FileExists says whether path exists.
func FileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
