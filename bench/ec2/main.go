// Command ec2 measures EC2 instances as a user of this host sees them: how long RunInstances takes to reach
// running and to serve a user-data page on the public address, how long TerminateInstances takes to remove
// every host object, what 100 idle instances cost in memory, and how fast DescribeInstances answers with 100
// instances. It must run as root from the repository root. It builds Overcast from this tree, starts it with
// real compute under a network prefix and public pool of its own, and always terminates its instances, stops
// the server and runs `overcast cleanup` before it exits, on failure and on SIGINT/SIGTERM too. It touches no
// host object but the ones that server makes.
//
// The SDK's retries are off. Polls simply try again on the next tick; RunInstances carries a client token, so
// the one retry it gets after a transport error cannot launch twice. The count of such transport errors is
// printed, never hidden.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

const (
	imagesDir = "/var/cache/overcast-e2e/images" // the quick-start AMIs, built once and shared with the e2e tests
	poll      = 10 * time.Millisecond
)

// userData serves the instance's own id, read from the metadata service, on port 80.
const userData = `#!/bin/sh
mkdir -p /tmp/www
until wget -q -O /tmp/www/index.html http://169.254.169.254/latest/meta-data/instance-id; do usleep 20000; done
busybox httpd -p 80 -h /tmp/www
`

func main() {
	launches := flag.Int("n", 20, "sequential launches for the lifecycle timings")
	fleet := flag.Int("fleet", 100, "idle instances for the memory and DescribeInstances measurements")
	batch := flag.Int("batch", 20, "instances per RunInstances call when launching the fleet (the server allows 20)")
	concurrency := flag.Int("concurrency", 10, "concurrent DescribeInstances clients")
	duration := flag.Duration("duration", 10*time.Second, "how long to run DescribeInstances")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench/ec2 runs instances: run it as root")
		os.Exit(1)
	}
	// The first SIGINT/SIGTERM cancels the measurements; later ones are swallowed so cleanup can finish.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := start(ctx)
	if err == nil {
		err = b.measure(ctx, *launches, *fleet, *batch, *concurrency, *duration)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/ec2:", err)
		if b != nil {
			b.printLogTail()
		}
	}
	if b != nil {
		if cerr := b.close(); cerr != nil {
			fmt.Fprintln(os.Stderr, "bench/ec2: cleanup:", cerr)
			err = errors.Join(err, cerr)
		}
	}
	if err != nil {
		os.Exit(1)
	}
}

// bench is one Overcast server of this run and what it launched.
type bench struct {
	dir, data, bin, prefix, pool string
	url                          string
	cmd                          *exec.Cmd
	exited                       chan struct{}
	logPath                      string
	client                       *ec2.Client
	ami                          string
	live                         map[string]bool // instances to terminate when done
	transportErrs                atomic.Int64    // failed lifecycle calls that were polled or retried again
}

// start builds Overcast and runs it with compute on, on a free port with a fresh data directory.
func start(ctx context.Context) (*bench, error) {
	dir, err := os.MkdirTemp("", "overcast-bench-ec2-")
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, data: filepath.Join(dir, "data"), bin: filepath.Join(dir, "overcast"),
		logPath: filepath.Join(dir, "overcast.log"), live: map[string]bool{}}
	b.prefix, b.pool, err = pickNetwork()
	if err != nil {
		return b, err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/overcast")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // static: the binary is also each machine's init
	if out, err := build.CombinedOutput(); err != nil {
		return b, fmt.Errorf("build (run from the repository root): %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return b, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logFile, err := os.Create(b.logPath)
	if err != nil {
		return b, err
	}
	defer logFile.Close()
	b.cmd = exec.Command(b.bin, "serve", "--listen", addr, "--data-dir", b.data, "--compute=on",
		"--network-prefix", b.prefix, "--public-pool", b.pool, "--images-dir", imagesDir, "--log-level", "warn")
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C on the terminal reaches only this program, which then cleans up.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		return b, err
	}
	b.exited = make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(b.exited) }()
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(url + "/_overcast/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-b.exited:
			return b, errors.New("overcast exited at start")
		case <-ctx.Done():
			return b, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return b, errors.New("overcast not healthy after 30s")
		}
	}
	b.url = url
	b.client = ec2.NewFromConfig(sdkConfig(url, 4))
	return b, nil
}

// pickNetwork chooses a network prefix no installation on this host uses and a public /24 the host does not
// route yet.
func pickNetwork() (prefix, pool string, err error) {
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	for range 100 {
		prefix = fmt.Sprintf("b%03d", rand.IntN(1000))
		n := 1 + rand.IntN(250)
		pool = fmt.Sprintf("198.19.%d.0/24", n)
		if fileExists("/var/run/netns/"+prefix+"-core") || fileExists("/sys/fs/cgroup/memory/overcast-"+prefix) ||
			strings.Contains(string(routes), fmt.Sprintf("198.19.%d.", n)) {
			continue
		}
		return prefix, pool, nil
	}
	return "", "", errors.New("no free network prefix and public pool")
}

// sdkConfig is a root client with retries off and a transport that gives each request its own copy of the
// body (HOST.md: the SDK closes the body early, and against a fast server the transport then drops calls).
func sdkConfig(url string, conns int) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: 1,
		HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: ownBody{&http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		}}},
	}
}

// ownBody hands the transport a copy of the request body that nothing else can close.
type ownBody struct{ next http.RoundTripper }

func (t ownBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	return t.next.RoundTrip(r)
}

func (b *bench) measure(ctx context.Context, launches, fleet, batch, concurrency int, duration time.Duration) error {
	if err := b.prepare(ctx); err != nil {
		return err
	}
	var toRunning, toPage, toGone []time.Duration
	for i := range launches {
		id, took, err := b.launchToRunning(ctx)
		if err != nil {
			return fmt.Errorf("launch %d: %w", i+1, err)
		}
		toRunning = append(toRunning, took)
		gone, err := b.terminateToGone(ctx, id)
		if err != nil {
			return fmt.Errorf("terminate %s: %w", id, err)
		}
		toGone = append(toGone, gone)
	}
	for i := range launches {
		id, took, err := b.launchToPage(ctx)
		if err != nil {
			return fmt.Errorf("page launch %d: %w", i+1, err)
		}
		toPage = append(toPage, took)
		gone, err := b.terminateToGone(ctx, id)
		if err != nil {
			return fmt.Errorf("terminate %s: %w", id, err)
		}
		toGone = append(toGone, gone)
	}
	fmt.Printf("EC2 on this host: busybox AMI, t3.nano, network prefix %s, public pool %s\n\n", b.prefix, b.pool)
	fmt.Printf("%-52s %5s %10s %10s\n", "lifecycle (sequential, one instance at a time)", "n", "p50", "p99")
	row := func(name string, d []time.Duration) {
		fmt.Printf("%-52s %5d %10s %10s\n", name, len(d), fmtMS(pct(d, 0.50)), fmtMS(pct(d, 0.99)))
	}
	row("RunInstances -> running (DescribeInstances)", toRunning)
	row("RunInstances -> user-data page on the public IP", toPage)
	row("TerminateInstances -> every host object gone", toGone)
	fmt.Println()

	if err := b.fleetMemory(ctx, fleet, batch); err != nil {
		return err
	}
	fmt.Println()
	if err := b.describeLoad(ctx, fleet, concurrency, duration); err != nil {
		return err
	}
	if n := b.transportErrs.Load(); n > 0 {
		fmt.Printf("\nlifecycle calls that failed in transport and were polled or retried again: %d\n", n)
	}
	return nil
}

// prepare finds the busybox AMI and opens port 80 in the default security group.
func (b *bench) prepare(ctx context.Context) error {
	for deadline := time.Now().Add(5 * time.Minute); b.ami == ""; {
		out, err := b.client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"},
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"*busybox*"}}}})
		if err == nil && len(out.Images) > 0 && out.Images[0].State == types.ImageStateAvailable {
			b.ami = aws.ToString(out.Images[0].ImageId)
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("busybox AMI not available: %v", err)
		}
		time.Sleep(time.Second)
	}
	groups, err := b.client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil {
		return err
	}
	if len(groups.SecurityGroups) != 1 {
		return fmt.Errorf("%d default security groups, want 1", len(groups.SecurityGroups))
	}
	_, err = b.client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: groups.SecurityGroups[0].GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80),
			IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}},
	})
	return err
}

// run launches count instances in one call. A transport error gets one retry with the same client token,
// which returns the first call's reservation if the server had received it.
func (b *bench) run(ctx context.Context, count int, userData string) ([]string, error) {
	in := &ec2.RunInstancesInput{ImageId: aws.String(b.ami), InstanceType: types.InstanceTypeT3Nano,
		MinCount: aws.Int32(int32(count)), MaxCount: aws.Int32(int32(count)),
		ClientToken: aws.String(fmt.Sprintf("bench-%d", time.Now().UnixNano()))}
	if userData != "" {
		in.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))
	}
	out, err := b.client.RunInstances(ctx, in)
	if err != nil && !isAPIError(err) && ctx.Err() == nil {
		b.transportErrs.Add(1)
		out, err = b.client.RunInstances(ctx, in)
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, i := range out.Instances {
		id := aws.ToString(i.InstanceId)
		b.live[id] = true
		ids = append(ids, id)
	}
	if len(ids) != count {
		return ids, fmt.Errorf("RunInstances launched %d instances, want %d", len(ids), count)
	}
	return ids, nil
}

// instances describes ids; a transport error is counted and reported as no answer.
func (b *bench) instances(ctx context.Context, ids []string) ([]types.Instance, error) {
	out, err := b.client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		if isAPIError(err) || ctx.Err() != nil {
			return nil, err
		}
		b.transportErrs.Add(1)
		return nil, nil
	}
	var all []types.Instance
	for _, r := range out.Reservations {
		all = append(all, r.Instances...)
	}
	return all, nil
}

// untilRunning polls one instance every 10 ms until it runs (and, with needIP, has a public address).
func (b *bench) untilRunning(ctx context.Context, id string, needIP bool) (types.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		got, err := b.instances(ctx, []string{id})
		if err != nil {
			return types.Instance{}, err
		}
		if len(got) == 1 && got[0].State != nil {
			switch got[0].State.Name {
			case types.InstanceStateNameRunning:
				if !needIP || aws.ToString(got[0].PublicIpAddress) != "" {
					return got[0], nil
				}
			case types.InstanceStateNamePending:
			default:
				return got[0], fmt.Errorf("%s is %s: %s", id, got[0].State.Name, aws.ToString(got[0].StateTransitionReason))
			}
		}
		if err := sleep(ctx, poll); err != nil {
			return types.Instance{}, fmt.Errorf("%s not running: %w", id, err)
		}
	}
}

func (b *bench) launchToRunning(ctx context.Context) (string, time.Duration, error) {
	t0 := time.Now()
	ids, err := b.run(ctx, 1, "")
	if err != nil {
		return "", 0, err
	}
	if _, err := b.untilRunning(ctx, ids[0], false); err != nil {
		return ids[0], 0, err
	}
	return ids[0], time.Since(t0), nil
}

// launchToPage launches an instance whose user data serves its id, and fetches http://<public ip>/ on a
// new connection every 10 ms until the page shows that id.
func (b *bench) launchToPage(ctx context.Context) (string, time.Duration, error) {
	t0 := time.Now()
	ids, err := b.run(ctx, 1, userData)
	if err != nil {
		return "", 0, err
	}
	id := ids[0]
	inst, err := b.untilRunning(ctx, id, true)
	if err != nil {
		return id, 0, err
	}
	url := "http://" + aws.ToString(inst.PublicIpAddress) + "/"
	web := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(time.Minute)
	last := ""
	for {
		body, err := get(web, url)
		if err == nil && strings.TrimSpace(body) == id {
			return id, time.Since(t0), nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("page %q", body)
		}
		if time.Now().After(deadline) {
			return id, 0, fmt.Errorf("%s did not serve its id within a minute: %s", url, last)
		}
		if err := sleep(ctx, poll); err != nil {
			return id, 0, err
		}
	}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return string(body), err
}

// hostObjects lists what on the host still belongs to instance id: its netns, mounts, cgroups and machine
// directory.
func (b *bench) hostObjects(id string) []string {
	var left []string
	if ns := "/var/run/netns/" + b.prefix + "-" + id; fileExists(ns) {
		left = append(left, ns)
	}
	if mounts, _ := os.ReadFile("/proc/mounts"); bytes.Contains(mounts, []byte(id)) {
		left = append(left, "mount")
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/overcast-" + b.prefix + "/" + id)
	left = append(left, cgroups...)
	if dir := filepath.Join(b.data, "instances", id); fileExists(dir) {
		left = append(left, dir)
	}
	return left
}

// terminateToGone terminates id and polls every 10 ms until none of its host objects is left.
func (b *bench) terminateToGone(ctx context.Context, id string) (time.Duration, error) {
	before := b.hostObjects(id)
	if !slices.ContainsFunc(before, func(s string) bool { return strings.HasPrefix(s, "/var/run/netns/") }) ||
		!slices.Contains(before, "mount") || !slices.Contains(before, filepath.Join(b.data, "instances", id)) ||
		!slices.ContainsFunc(before, func(s string) bool { return strings.HasPrefix(s, "/sys/fs/cgroup/") }) {
		return 0, fmt.Errorf("a running instance should have a netns, a mount, cgroups and a machine dir; found %v", before)
	}
	t0 := time.Now()
	_, err := b.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if err != nil && !isAPIError(err) && ctx.Err() == nil {
		b.transportErrs.Add(1)
		_, err = b.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	}
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		left := b.hostObjects(id)
		if len(left) == 0 {
			took := time.Since(t0)
			delete(b.live, id)
			return took, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("still on the host a minute after TerminateInstances: %v", left)
		}
		if err := sleep(ctx, poll); err != nil {
			return 0, err
		}
	}
}

// fleetMemory launches fleet idle instances and reports what they cost in memory.
func (b *bench) fleetMemory(ctx context.Context, fleet, batch int) error {
	availBefore := meminfo("MemAvailable")
	rssBefore := statusKB(b.cmd.Process.Pid, "VmRSS")
	t0 := time.Now()
	var ids []string
	for len(ids) < fleet {
		got, err := b.run(ctx, min(batch, fleet-len(ids)), "")
		ids = append(ids, got...)
		if err != nil {
			return fmt.Errorf("launching the fleet (%d so far): %w", len(ids), err)
		}
	}
	for deadline := time.Now().Add(5 * time.Minute); ; {
		got, err := b.instances(ctx, ids)
		if err != nil {
			return err
		}
		running := 0
		for _, i := range got {
			if i.State != nil && i.State.Name == types.InstanceStateNameRunning {
				running++
			}
		}
		if running == fleet {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d instances running after 5 minutes", running, fleet)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	launched := time.Since(t0)
	// Let first boots settle so the figures are of idle machines; the server's CPU meanwhile is its idle cost.
	const settle = 5 * time.Second
	cpu0 := processCPU(b.cmd.Process.Pid)
	if err := sleep(ctx, settle); err != nil {
		return err
	}
	idleCPU := processCPU(b.cmd.Process.Pid) - cpu0

	var usage, rss, cache, outside, initAnon, initFile int64
	var outsideProcs []string
	for _, id := range ids {
		cg := filepath.Join("/sys/fs/cgroup/memory/overcast-"+b.prefix, id)
		u, err := readInt(filepath.Join(cg, "memory.usage_in_bytes"))
		if err != nil {
			return fmt.Errorf("memory cgroup of %s: %w", id, err)
		}
		usage += u
		stat := keyValues(filepath.Join(cg, "memory.stat"))
		rss += stat["total_rss"]
		cache += stat["total_cache"]
		// The init should be inside the cgroup; count it if it is not, since then the cgroup misses it.
		pid, _ := readInt(filepath.Join(b.data, "instances", id, "init.pid"))
		initAnon += statusKB(int(pid), "RssAnon") * 1024
		initFile += statusKB(int(pid), "RssFile") * 1024
		if pid > 0 && memoryCgroup(int(pid)) != "/overcast-"+b.prefix+"/"+id {
			outside += statusKB(int(pid), "VmRSS") * 1024
			outsideProcs = append(outsideProcs, fmt.Sprintf("init of %s[%d] in %s", id, pid, memoryCgroup(int(pid))))
		}
	}
	// Host-side helpers (a runtime left running, say) name the data directory on their command line.
	helpers, helperRSS := helperProcesses(b.data, b.cmd.Process.Pid, "/overcast-"+b.prefix+"/")
	outside += helperRSS
	outsideProcs = append(outsideProcs, helpers...)
	availAfter := meminfo("MemAvailable")
	rssAfter := statusKB(b.cmd.Process.Pid, "VmRSS")
	n := int64(fleet)
	fmt.Printf("memory with %d idle instances (all running %.1f s after the first RunInstances, %d per call)\n",
		fleet, launched.Seconds(), batch)
	fmt.Printf("  %-50s %s (%s before the fleet)\n", "overcast server RSS", fmtMiB(rssAfter*1024), fmtMiB(rssBefore*1024))
	fmt.Printf("  %-50s %s (rss %s, cache %s)\n", "per instance: memory cgroup usage_in_bytes, mean", fmtMiB(usage/n), fmtMiB(rss/n), fmtMiB(cache/n))
	// The init is the overcast binary; its file pages are shared by every machine, so only RssAnon is its own.
	fmt.Printf("  %-50s %s anon, %s file (shared)\n", "per instance: RSS of its init (overcast), mean", fmtMiB(initAnon/n), fmtMiB(initFile/n))
	fmt.Printf("  %-50s %s (%d processes in all)\n", "per instance: RSS outside its cgroup, mean", fmtMiB(outside/n), len(outsideProcs))
	for _, p := range outsideProcs[:min(5, len(outsideProcs))] {
		fmt.Printf("  %-50s %s\n", "", p)
	}
	drop := (availBefore - availAfter) * 1024
	fmt.Printf("  %-50s %s (%s per instance)\n", "host MemAvailable drop", fmtMiB(drop), fmtMiB(drop/n))
	fmt.Printf("  %-50s %.1f ms/s\n", "server CPU while the fleet idles", float64(idleCPU.Microseconds())/1000/settle.Seconds())
	return nil
}

// describeLoad runs DescribeInstances (every instance, one page) from concurrency clients for duration.
func (b *bench) describeLoad(ctx context.Context, fleet, concurrency int, duration time.Duration) error {
	client := ec2.NewFromConfig(sdkConfig(b.url, concurrency))
	first, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		return fmt.Errorf("warm-up DescribeInstances: %w", err)
	}
	count := 0
	for _, r := range first.Reservations {
		for _, i := range r.Instances {
			if i.State != nil && i.State.Name == types.InstanceStateNameRunning {
				count++
			}
		}
	}
	if count != fleet {
		return fmt.Errorf("DescribeInstances shows %d running instances, want %d", count, fleet)
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      atomic.Int64
		firstErr  atomic.Value
		wg        sync.WaitGroup
	)
	pid := b.cmd.Process.Pid
	deadline := time.Now().Add(duration)
	cpu0 := processCPU(pid)
	t0 := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				start := time.Now()
				if _, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	elapsed := time.Since(t0)
	cpu := processCPU(pid) - cpu0
	fmt.Printf("DescribeInstances, %d instances in the reply, %d clients for %s (retries off)\n", fleet, concurrency, duration)
	fmt.Printf("  %-50s %d ok, %d errors\n", "requests", len(latencies), errs.Load())
	if e := firstErr.Load(); e != nil {
		fmt.Printf("  %-50s %s\n", "first error", e)
	}
	fmt.Printf("  %-50s %.1f req/s\n", "throughput", float64(len(latencies))/elapsed.Seconds())
	fmt.Printf("  %-50s p50 %s, p99 %s\n", "latency", fmtMS(pct(latencies, 0.50)), fmtMS(pct(latencies, 0.99)))
	if len(latencies) > 0 {
		fmt.Printf("  %-50s %.2f ms per request (%.0f%% of one core; the SDK's decoding takes the rest)\n", "server CPU",
			float64(cpu.Microseconds())/1000/float64(len(latencies)), 100*cpu.Seconds()/elapsed.Seconds())
	}
	return nil
}

// close terminates what is left, stops the server, removes every host object with `overcast cleanup`, and
// deletes the temporary directory once nothing is mounted under it.
func (b *bench) close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if b.client != nil && len(b.live) > 0 && b.running() {
		var ids []string
		for id := range b.live {
			ids = append(ids, id)
		}
		if _, err := b.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
			errs = append(errs, fmt.Errorf("terminate: %w", err))
		} else {
			err := ec2.NewInstanceTerminatedWaiter(b.client).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 3*time.Minute)
			if err != nil {
				errs = append(errs, fmt.Errorf("waiting for termination: %w", err))
			}
		}
	}
	if b.cmd != nil && b.running() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(20 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	}
	if fileExists(b.bin) && b.prefix != "" {
		if out, err := exec.Command(b.bin, "cleanup", "--data-dir", b.data, "--network-prefix", b.prefix).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("overcast cleanup: %v: %s", err, out))
		}
	}
	if mounts, _ := os.ReadFile("/proc/mounts"); bytes.Contains(mounts, []byte(b.dir)) {
		errs = append(errs, fmt.Errorf("mounts under %s remain; leaving it in place", b.dir))
	} else if err := os.RemoveAll(b.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (b *bench) running() bool {
	select {
	case <-b.exited:
		return false
	default:
		return b.exited != nil
	}
}

// printLogTail shows the end of the server's log after a failure.
func (b *bench) printLogTail() {
	data, err := os.ReadFile(b.logPath)
	if err != nil || len(data) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	fmt.Fprintf(os.Stderr, "last lines of the overcast log:\n%s\n", strings.Join(lines[max(0, len(lines)-30):], "\n"))
}

func isAPIError(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// pct is the nearest-rank percentile: with 20 samples, p99 is the largest.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[max(0, int(math.Ceil(p*float64(len(s))))-1)]
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func fmtMiB(bytes int64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }

// processCPU is the user+system CPU time a process has used, from /proc; zero when unknown.
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// statusKB reads a "Key: N kB" line of /proc/<pid>/status.
func statusKB(pid int, key string) int64 {
	return colonKB(fmt.Sprintf("/proc/%d/status", pid), key)
}

// meminfo reads a /proc/meminfo value in kB.
func meminfo(key string) int64 { return colonKB("/proc/meminfo", key) }

func colonKB(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// keyValues reads a cgroup "key value" file such as memory.stat.
func keyValues(path string) map[string]int64 {
	out := map[string]int64{}
	data, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			out[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return out
}

func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}

// memoryCgroup is pid's memory cgroup (v1), or "" when unknown.
func memoryCgroup(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), "memory") {
			return parts[2]
		}
	}
	return ""
}

// helperProcesses counts the processes, other than the server and those in the instances' memory cgroups
// (under cgroupParent), whose command line names dir, and their RSS.
func helperProcesses(dir string, server int, cgroupParent string) ([]string, int64) {
	entries, _ := os.ReadDir("/proc")
	var names []string
	rss := int64(0)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == server {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte(dir)) && !strings.HasPrefix(memoryCgroup(pid), cgroupParent) {
			comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
			names = append(names, fmt.Sprintf("%s[%d] in %s", strings.TrimSpace(string(comm)), pid, memoryCgroup(pid)))
			rss += statusKB(pid, "VmRSS") * 1024
		}
	}
	return names, rss
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
