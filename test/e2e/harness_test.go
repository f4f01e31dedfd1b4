// Package e2e drives a real Overcast binary with clients nobody here wrote: aws-sdk-go-v2, the AWS CLI v2
// (/usr/bin/aws from Debian's awscli) and boto3. Each test starts its own server on a free loopback port with
// its own data directory, and stops it (by its PID) when done.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// overcastBinary builds cmd/overcast once per test run.
func overcastBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "overcast-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "overcast")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		// Static, because the same binary is each machine's init.
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/overcast")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// server is one running Overcast.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	URL     string
	Addr    string
	DataDir string
	log     *bytes.Buffer
	done    chan struct{}
	cfg     serverConfig
}

// serverOption changes how a test's server runs.
type serverOption func(*serverConfig)

type serverConfig struct {
	compute bool
	prefix  string
	pool    string
}

// withCompute runs the server with real compute and networking: its own network prefix and a /24 of public
// addresses of its own, so that servers of different tests never share a host object, and the quick-start
// images from a cache shared by every test run.
func withCompute() serverOption {
	return func(c *serverConfig) {
		c.compute = true
		n := time.Now().UnixNano()
		c.prefix = fmt.Sprintf("e%03d", n%1000)
		c.pool = fmt.Sprintf("198.19.%d.0/24", 1+n%250)
	}
}

// sameNetwork runs a server with another server's network prefix and pool: the same host, restarted.
func sameNetwork(of *server) serverOption {
	return func(c *serverConfig) { *c = of.cfg }
}

// Kill ends the server with SIGKILL, as a crash would, leaving its machines and host objects behind.
func (s *server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// imagesCache is where every test's server finds the quick-start images, built once and kept between runs.
const imagesCache = "/var/cache/overcast-e2e/images"

// startServer runs Overcast on a free port over dataDir ("" for a fresh one).
func startServer(t *testing.T, dataDir string, opts ...serverOption) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var cfg serverConfig
	for _, o := range opts {
		o(&cfg)
	}
	s := &server{t: t, Addr: addr, URL: "http://" + addr, DataDir: dataDir, log: &bytes.Buffer{}, done: make(chan struct{}), cfg: cfg}
	args := []string{"serve", "--listen", addr, "--data-dir", dataDir, "--dev-clock"}
	if cfg.compute {
		args = append(args, "--compute=on", "--network-prefix", cfg.prefix, "--public-pool", cfg.pool, "--images-dir", imagesCache)
	} else {
		args = append(args, "--compute=off")
	}
	s.cmd = exec.Command(overcastBinary(t), args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.Env = append(os.Environ(), "OVERCAST_LOG_LEVEL=warn")
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.cleanupHost) // runs after Stop: cleanups run last-registered first
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/_overcast/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("overcast exited at start:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("overcast not healthy after 20s:\n%s", s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server gracefully (SIGTERM, then SIGKILL after 10 s).
func (s *server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if s.t.Failed() {
		s.t.Logf("overcast log:\n%s", s.log.String())
	}
}

// AdvanceClock moves the server's record clock forward (credential expiry and the like).
func (s *server) AdvanceClock(d time.Duration) {
	s.t.Helper()
	resp, err := http.Post(s.URL+"/_overcast/clock?advance="+d.String(), "text/plain", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("advance clock: %s", resp.Status)
	}
}

// sdkConfig is an aws-sdk-go-v2 configuration for the server with the given keys.
func (s *server) sdkConfig(akid, secret, token string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, token),
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	}
}

func (s *server) rootConfig() aws.Config { return s.sdkConfig("test", "test", "") }

// cli runs the AWS CLI v2 against the server with the given keys and returns stdout, stderr and the error.
func (s *server) cli(env []string, args ...string) (string, string, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/aws", append([]string{"--endpoint-url", s.URL, "--region", "us-east-1", "--output", "json"}, args...)...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Env = append(cmd.Env, "HOME="+s.t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// keys makes the environment of a client signing with akid and secret (and token).
func keys(akid, secret, token string) []string {
	env := []string{"AWS_ACCESS_KEY_ID=" + akid, "AWS_SECRET_ACCESS_KEY=" + secret}
	if token != "" {
		env = append(env, "AWS_SESSION_TOKEN="+token)
	}
	return env
}

// cleanEnv is the environment without any AWS settings of the machine running the tests.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true")
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
