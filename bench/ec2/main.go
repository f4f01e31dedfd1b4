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
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/overcast-cloud/overcast/bench/internal/benchkit"
)

const poll = 10 * time.Millisecond

// userData serves the instance's own id, read from the metadata service, on port 80.
const userData = `#!/bin/sh
mkdir -p /tmp/www
until wget -q -O /tmp/www/index.html http://169.254.169.254/latest/meta-data/instance-id; do usleep 20000; done
busybox httpd -p 80 -h /tmp/www
`

type options struct {
	launches, fleet, batch, concurrency int
	duration                            time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.launches, "n", 20, "sequential launches for the lifecycle timings")
	flag.IntVar(&o.fleet, "fleet", 100, "idle instances for the memory and DescribeInstances measurements")
	flag.IntVar(&o.batch, "batch", 20, "instances per RunInstances call when launching the fleet (the server allows 20)")
	flag.IntVar(&o.concurrency, "concurrency", 10, "concurrent DescribeInstances clients")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run DescribeInstances")
	flag.Parse()
	benchkit.Main("bench/ec2", func(ctx context.Context, dir string) (benchkit.Run, error) { return start(ctx, dir, o) })
}

// bench is one Overcast server of this run and what it launched.
type bench struct {
	o             options
	server        *benchkit.Server
	client        *ec2.Client
	ami           string
	live          map[string]bool // instances to terminate when done
	transportErrs atomic.Int64    // failed lifecycle calls that were polled or retried again
}

// start builds Overcast into dir and runs it with compute on, on a free port with a fresh data directory.
func start(ctx context.Context, dir string, o options) (*bench, error) {
	b := &bench{o: o, live: map[string]bool{}}
	var err error
	if b.server, err = benchkit.StartServer(ctx, dir, "b"); err != nil {
		return b, err
	}
	b.client = ec2.NewFromConfig(benchkit.SDKConfig(b.server.URL, 30*time.Second, 4))
	return b, nil
}

func (b *bench) Server() *benchkit.Server { return b.server }

func (b *bench) Measure(ctx context.Context) error {
	if err := b.prepare(ctx); err != nil {
		return err
	}
	var toRunning, toPage, toGone []time.Duration
	for i := range b.o.launches {
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
	for i := range b.o.launches {
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
	fmt.Printf("EC2 on this host: busybox AMI, t3.nano, network prefix %s, public pool %s\n\n",
		b.server.Prefix, b.server.Pool)
	fmt.Printf("%-52s %5s %10s %10s\n", "lifecycle (sequential, one instance at a time)", "n", "p50", "p99")
	row := func(name string, d []time.Duration) {
		fmt.Printf("%-52s %5d %10s %10s\n", name, len(d),
			benchkit.MS(benchkit.Percentile(d, 0.50)), benchkit.MS(benchkit.Percentile(d, 0.99)))
	}
	row("RunInstances -> running (DescribeInstances)", toRunning)
	row("RunInstances -> user-data page on the public IP", toPage)
	row("TerminateInstances -> every host object gone", toGone)
	fmt.Println()

	if err := b.fleetMemory(ctx, b.o.fleet, b.o.batch); err != nil {
		return err
	}
	fmt.Println()
	if err := b.describeLoad(ctx, b.o.fleet, b.o.concurrency, b.o.duration); err != nil {
		return err
	}
	if n := b.transportErrs.Load(); n > 0 {
		fmt.Printf("\nlifecycle calls that failed in transport and were polled or retried again: %d\n", n)
	}
	return nil
}

// prepare finds the busybox AMI and opens port 80 in the default security group.
func (b *bench) prepare(ctx context.Context) error {
	var err error
	if b.ami, err = benchkit.QuickStartAMI(ctx, b.client, "*busybox*", "busybox", 5*time.Minute); err != nil {
		return err
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
	if err != nil && !benchkit.IsAPIError(err) && ctx.Err() == nil {
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
		if benchkit.IsAPIError(err) || ctx.Err() != nil {
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
		if err := benchkit.Sleep(ctx, poll); err != nil {
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
		if err := benchkit.Sleep(ctx, poll); err != nil {
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
	if ns := "/var/run/netns/" + b.server.Prefix + "-" + id; benchkit.FileExists(ns) {
		left = append(left, ns)
	}
	if mounts, _ := os.ReadFile("/proc/mounts"); bytes.Contains(mounts, []byte(id)) {
		left = append(left, "mount")
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/overcast-" + b.server.Prefix + "/" + id)
	left = append(left, cgroups...)
	if dir := filepath.Join(b.server.Data, "instances", id); benchkit.FileExists(dir) {
		left = append(left, dir)
	}
	return left
}

// terminateToGone terminates id and polls every 10 ms until none of its host objects is left.
func (b *bench) terminateToGone(ctx context.Context, id string) (time.Duration, error) {
	before := b.hostObjects(id)
	if !slices.ContainsFunc(before, func(s string) bool { return strings.HasPrefix(s, "/var/run/netns/") }) ||
		!slices.Contains(before, "mount") || !slices.Contains(before, filepath.Join(b.server.Data, "instances", id)) ||
		!slices.ContainsFunc(before, func(s string) bool { return strings.HasPrefix(s, "/sys/fs/cgroup/") }) {
		return 0, fmt.Errorf("a running instance should have a netns, a mount, cgroups and a machine dir; found %v", before)
	}
	t0 := time.Now()
	_, err := b.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if err != nil && !benchkit.IsAPIError(err) && ctx.Err() == nil {
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
		if err := benchkit.Sleep(ctx, poll); err != nil {
			return 0, err
		}
	}
}

// fleetMemory launches fleet idle instances and reports what they cost in memory.
func (b *bench) fleetMemory(ctx context.Context, fleet, batch int) error {
	availBefore := meminfo("MemAvailable")
	rssBefore := statusKB(b.server.PID(), "VmRSS")
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
		if err := benchkit.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	launched := time.Since(t0)
	// Let first boots settle so the figures are of idle machines; the server's CPU meanwhile is its idle cost.
	const settle = 5 * time.Second
	cpu0 := processCPU(b.server.PID())
	if err := benchkit.Sleep(ctx, settle); err != nil {
		return err
	}
	idleCPU := processCPU(b.server.PID()) - cpu0

	var usage, rss, cache, outside, initAnon, initFile int64
	var outsideProcs []string
	for _, id := range ids {
		cg := filepath.Join("/sys/fs/cgroup/memory/overcast-"+b.server.Prefix, id)
		u, err := readInt(filepath.Join(cg, "memory.usage_in_bytes"))
		if err != nil {
			return fmt.Errorf("memory cgroup of %s: %w", id, err)
		}
		usage += u
		stat := keyValues(filepath.Join(cg, "memory.stat"))
		rss += stat["total_rss"]
		cache += stat["total_cache"]
		// The init should be inside the cgroup; count it if it is not, since then the cgroup misses it.
		pid, _ := readInt(filepath.Join(b.server.Data, "instances", id, "init.pid"))
		initAnon += statusKB(int(pid), "RssAnon") * 1024
		initFile += statusKB(int(pid), "RssFile") * 1024
		if pid > 0 && memoryCgroup(int(pid)) != "/overcast-"+b.server.Prefix+"/"+id {
			outside += statusKB(int(pid), "VmRSS") * 1024
			outsideProcs = append(outsideProcs, fmt.Sprintf("init of %s[%d] in %s", id, pid, memoryCgroup(int(pid))))
		}
	}
	// Host-side helpers (a runtime left running, say) name the data directory on their command line.
	helpers, helperRSS := helperProcesses(b.server.Data, b.server.PID(), "/overcast-"+b.server.Prefix+"/")
	outside += helperRSS
	outsideProcs = append(outsideProcs, helpers...)
	availAfter := meminfo("MemAvailable")
	rssAfter := statusKB(b.server.PID(), "VmRSS")
	n := int64(fleet)
	fmt.Printf("memory with %d idle instances (all running %.1f s after the first RunInstances, %d per call)\n",
		fleet, launched.Seconds(), batch)
	fmt.Printf("  %-50s %s (%s before the fleet)\n", "overcast server RSS", benchkit.MiB(rssAfter*1024), benchkit.MiB(rssBefore*1024))
	fmt.Printf("  %-50s %s (rss %s, cache %s)\n", "per instance: memory cgroup usage_in_bytes, mean", benchkit.MiB(usage/n), benchkit.MiB(rss/n), benchkit.MiB(cache/n))
	// The init is the overcast binary; its file pages are shared by every machine, so only RssAnon is its own.
	fmt.Printf("  %-50s %s anon, %s file (shared)\n", "per instance: RSS of its init (overcast), mean", benchkit.MiB(initAnon/n), benchkit.MiB(initFile/n))
	fmt.Printf("  %-50s %s (%d processes in all)\n", "per instance: RSS outside its cgroup, mean", benchkit.MiB(outside/n), len(outsideProcs))
	for _, p := range outsideProcs[:min(5, len(outsideProcs))] {
		fmt.Printf("  %-50s %s\n", "", p)
	}
	drop := (availBefore - availAfter) * 1024
	fmt.Printf("  %-50s %s (%s per instance)\n", "host MemAvailable drop", benchkit.MiB(drop), benchkit.MiB(drop/n))
	fmt.Printf("  %-50s %.1f ms/s\n", "server CPU while the fleet idles", float64(idleCPU.Microseconds())/1000/settle.Seconds())
	return nil
}

// describeLoad runs DescribeInstances (every instance, one page) from concurrency clients for duration.
func (b *bench) describeLoad(ctx context.Context, fleet, concurrency int, duration time.Duration) error {
	client := ec2.NewFromConfig(benchkit.SDKConfig(b.server.URL, 30*time.Second, concurrency))
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
	pid := b.server.PID()
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
	fmt.Printf("  %-50s p50 %s, p99 %s\n", "latency",
		benchkit.MS(benchkit.Percentile(latencies, 0.50)), benchkit.MS(benchkit.Percentile(latencies, 0.99)))
	if len(latencies) > 0 {
		fmt.Printf("  %-50s %.2f ms per request (%.0f%% of one core; the SDK's decoding takes the rest)\n", "server CPU",
			float64(cpu.Microseconds())/1000/float64(len(latencies)), 100*cpu.Seconds()/elapsed.Seconds())
	}
	return nil
}

// Close terminates what is left, stops the server and removes every host object with `overcast cleanup`.
func (b *bench) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if b.client != nil && len(b.live) > 0 && b.server.Running() {
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
	if err := b.server.Stop(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

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
