// Command iam-getuser measures the gateway's hot path: a SigV4-signed IAM GetUser by a non-root user, whose
// policies are evaluated on every call. It starts its own Overcast (built from this tree) on a free loopback
// port unless -endpoint is given, runs -concurrency workers for -duration, and prints requests per second and
// the p50/p99 latencies. Retries are off and errors are counted, so a hidden retry cannot flatter the numbers.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

func main() {
	endpoint := flag.String("endpoint", "", "a running Overcast; empty starts one")
	concurrency := flag.Int("concurrency", 50, "concurrent connections")
	duration := flag.Duration("duration", 10*time.Second, "how long to measure")
	flag.Parse()
	serverPID := 0
	if *endpoint == "" {
		url, pid, stop, err := startOvercast()
		serverPID = pid
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer stop()
		*endpoint = url
	}
	ctx := context.Background()
	root := iam.NewFromConfig(config(*endpoint, "test", "test", *concurrency))
	_, _ = root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bench")})
	_, err := root.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("bench"), PolicyName: aws.String("self"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::*:user/${aws:username}"},{"Effect":"Deny","Action":"iam:DeleteUser","Resource":"*"}]}`)})
	must(err)
	key, err := root.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bench")})
	must(err)
	client := iam.NewFromConfig(config(*endpoint, *key.AccessKey.AccessKeyId, *key.AccessKey.SecretAccessKey, *concurrency))
	if _, err := client.GetUser(ctx, &iam.GetUserInput{}); err != nil {
		must(fmt.Errorf("warm-up GetUser: %w", err))
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      atomic.Int64
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(*duration)
	cpuBefore := processCPU(serverPID)
	start := time.Now()
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				_, err := client.GetUser(ctx, &iam.GetUserInput{})
				if err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpuUsed := processCPU(serverPID) - cpuBefore
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(float64(len(latencies)-1)*p)]
	}
	fmt.Printf("iam GetUser (non-root, SigV4 + IAM evaluation), %d connections, %s\n", *concurrency, duration.String())
	fmt.Printf("requests: %d ok, %d errors\n", len(latencies), errs.Load())
	fmt.Printf("throughput: %.0f req/s\n", float64(len(latencies))/elapsed.Seconds())
	fmt.Printf("latency: p50 %.2f ms, p99 %.2f ms\n", ms(pct(0.50)), ms(pct(0.99)))
	if serverPID != 0 && len(latencies) > 0 {
		fmt.Printf("server CPU: %.0f µs per request (the rest of the 2 cores goes to the SDK load generator)\n",
			float64(cpuUsed.Microseconds())/float64(len(latencies)))
	}
}

// processCPU is the user+system CPU time a process has used, from /proc; zero when unknown.
func processCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func config(endpoint, akid, secret string, conns int) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1,
		HTTPClient: &http.Client{Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		}},
	}
}

// startOvercast builds and starts Overcast on a free port with a fresh data directory.
func startOvercast() (string, int, func(), error) {
	dir, err := os.MkdirTemp("", "overcast-bench-")
	if err != nil {
		return "", 0, nil, err
	}
	bin := filepath.Join(dir, "overcast")
	build := exec.Command("go", "build", "-o", bin, "./cmd/overcast")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", 0, nil, fmt.Errorf("build (run from the repository root): %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--log-level", "error", "--compute=off")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	url := "http://" + addr
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(url + "/_overcast/health"); err == nil {
			resp.Body.Close()
			return url, cmd.Process.Pid, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", 0, nil, fmt.Errorf("overcast did not start")
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
