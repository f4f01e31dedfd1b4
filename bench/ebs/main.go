// Command ebs measures EBS as a user of this host sees it, through the EC2 API only (aws-sdk-go-v2) and from
// inside a Debian instance reached over SSH:
//
//   - time to attach: AttachVolume until the volume is in-use/attached and the device exists in the instance,
//     and back (DetachVolume until available and the device is gone), over -cycles cycles of a 1 GiB gp3;
//   - snapshot time and bytes stored: a 1 GiB volume filled with random data from inside the instance is
//     snapshotted, 1% of it is overwritten inside the instance, and it is snapshotted again; the growth of the
//     server's chunk store is read with du;
//   - CreateImage time, with NoReboot and with the reboot, until the image is available;
//   - random 4 KiB O_DIRECT IOPS inside the instance on a 10 GiB gp2 and a 60 GiB io1 at 3000 IOPS;
//   - hibernate and resume time (-hibernate): StopInstances with Hibernate until stopped, then StartInstances
//     until a counter process in the instance counts on; "not supported" when the API refuses it.
//
// What runs inside the instance is bench/ebs/guest, built static and copied in over SSH; nothing is written
// into a volume's file on the host. It must run as root from the repository root. By default it builds
// Overcast from this tree and starts it with real compute under a network prefix and public pool of its own;
// -endpoint points it at a running server instead (-data-dir then names that server's data directory, for the
// store's size). Whatever it made is deleted through the API before it exits, on failure and on
// SIGINT/SIGTERM too; a server it started is then stopped and `overcast cleanup` run.
//
// The SDK's retries are off: polls try again on the next tick and count the transport errors, which are
// printed, never hidden.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/overcast-cloud/overcast/bench/internal/benchkit"
)

const (
	instanceType = types.InstanceTypeT2Micro
	guestBin     = "./ebs-guest" // in the default user's home
)

type options struct {
	cycles        int
	iopsDuration  time.Duration
	depth         int
	hibernate     bool
	endpoint, dir string
}

func main() {
	var o options
	flag.IntVar(&o.cycles, "cycles", 20, "attach/detach cycles of the gp3 volume")
	flag.DurationVar(&o.iopsDuration, "iops-duration", 5*time.Second, "how long each random read or write run lasts")
	flag.IntVar(&o.depth, "depth", 16, "I/O requests in flight in the IOPS runs")
	flag.BoolVar(&o.hibernate, "hibernate", true, "measure hibernate and resume (printed as not supported when the API refuses it)")
	flag.StringVar(&o.endpoint, "endpoint", "", "use this running Overcast (with compute on) instead of starting one")
	flag.StringVar(&o.dir, "data-dir", "", "with -endpoint: that server's data directory, to measure its snapshot store")
	flag.Parse()
	benchkit.Main("bench/ebs", func(ctx context.Context, dir string) (benchkit.Run, error) { return start(ctx, dir, o) })
}

// bench is one run: the server it talks to, what it made there, and the instance it measures from.
type bench struct {
	o      options
	data   string           // the server's data directory, when known
	server *benchkit.Server // nil with -endpoint
	client *ec2.Client

	ami, az, pem, keyName, group string
	guest                        string // the guest program, built for the instance
	inst, ip                     string // the instance the measurements run in

	// What to delete at the end.
	instances, volumes, snapshots, images []string

	transportErrs atomic.Int64
}

// start builds the guest program into dir and, unless o.endpoint is set, Overcast, and runs Overcast from
// there with compute on, on a free port with a fresh data directory.
func start(ctx context.Context, dir string, o options) (*bench, error) {
	b := &bench{o: o, data: o.dir, guest: filepath.Join(dir, "ebs-guest"), pem: filepath.Join(dir, "key.pem")}
	if err := benchkit.GoBuild(ctx, b.guest, "./bench/ebs/guest"); err != nil {
		return b, err
	}
	url := o.endpoint
	if url == "" {
		var err error
		if b.server, err = benchkit.StartServer(ctx, dir, "s"); err != nil {
			return b, err
		}
		url, b.data = b.server.URL, b.server.Data
	} else if err := benchkit.Healthy(url); err != nil {
		return b, fmt.Errorf("-endpoint %s: %w", url, err)
	}
	b.client = ec2.NewFromConfig(benchkit.SDKConfig(url, 2*time.Minute, 0))
	return b, nil
}

func (b *bench) Server() *benchkit.Server { return b.server }

func (b *bench) Measure(ctx context.Context) error {
	o := b.o
	t0 := time.Now()
	if err := b.prepare(ctx); err != nil {
		return err
	}
	fmt.Printf("EBS on this host: Debian 12 AMI, %s, instance %s (%s); set up in %.1f s\n\n",
		instanceType, b.inst, b.ip, time.Since(t0).Seconds())

	gp3, err := b.createVolume(ctx, types.VolumeTypeGp3, 1, 0)
	if err != nil {
		return err
	}
	if err := b.attachTimes(ctx, gp3, o.cycles); err != nil {
		return err
	}
	if err := b.snapshotGrowth(ctx, gp3); err != nil {
		return err
	}
	if err := b.iopsTable(ctx, o); err != nil {
		return err
	}
	if err := b.createImageTimes(ctx); err != nil {
		return err
	}
	if o.hibernate {
		if err := b.hibernateTimes(ctx); err != nil {
			return err
		}
	}
	if n := b.transportErrs.Load(); n > 0 {
		fmt.Printf("\npolls that failed in transport and were tried again: %d\n", n)
	}
	return nil
}

// prepare finds the Debian AMI, makes a key pair and a security group that lets SSH in, launches the instance
// and copies the guest program into it.
func (b *bench) prepare(ctx context.Context) error {
	var err error
	if b.ami, err = benchkit.QuickStartAMI(ctx, b.client, "*debian-12*", "Debian 12", 10*time.Minute); err != nil {
		return err
	}
	name := fmt.Sprintf("bench-ebs-%d", time.Now().UnixNano())
	key, err := b.client.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(name)})
	if err != nil {
		return err
	}
	b.keyName = name
	if err := os.WriteFile(b.pem, []byte(aws.ToString(key.KeyMaterial)), 0o400); err != nil {
		return err
	}
	sg, err := b.client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name),
		Description: aws.String("bench/ebs: ssh")})
	if err != nil {
		return err
	}
	b.group = aws.ToString(sg.GroupId)
	if _, err := b.client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId,
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		return err
	}
	inst, err := b.launch(ctx, nil)
	if err != nil {
		return err
	}
	b.inst, b.ip = aws.ToString(inst.InstanceId), aws.ToString(inst.PublicIpAddress)
	b.az = aws.ToString(inst.Placement.AvailabilityZone)
	return b.installGuest(ctx, b.ip)
}

// launch runs one Debian instance with the key and group, changed by edit, and waits until it runs with a
// public address.
func (b *bench) launch(ctx context.Context, edit func(*ec2.RunInstancesInput)) (types.Instance, error) {
	in := &ec2.RunInstancesInput{ImageId: aws.String(b.ami), InstanceType: instanceType, KeyName: aws.String(b.keyName),
		SecurityGroupIds: []string{b.group}, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
	if edit != nil {
		edit(in)
	}
	out, err := b.client.RunInstances(ctx, in)
	if err != nil {
		return types.Instance{}, err
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	b.instances = append(b.instances, id)
	return b.untilInstance(ctx, id, types.InstanceStateNameRunning)
}

// untilInstance polls an instance every 10 ms until it is in state (running also needs a public address).
func (b *bench) untilInstance(ctx context.Context, id string, state types.InstanceStateName) (types.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		out, err := b.client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err = b.pollErr(ctx, err); err != nil {
			return types.Instance{}, fmt.Errorf("waiting for %s to be %s: %w", id, state, err)
		}
		if out != nil && len(out.Reservations) == 1 && len(out.Reservations[0].Instances) == 1 {
			i := out.Reservations[0].Instances[0]
			if i.State.Name == state && (state != types.InstanceStateNameRunning || aws.ToString(i.PublicIpAddress) != "") {
				return i, nil
			}
			if i.State.Name == types.InstanceStateNameTerminated {
				return i, fmt.Errorf("%s terminated: %s", id, aws.ToString(i.StateTransitionReason))
			}
		}
		if err := benchkit.Sleep(ctx, 10*time.Millisecond); err != nil {
			return types.Instance{}, fmt.Errorf("waiting for %s to be %s: %w", id, state, err)
		}
	}
}

// pollErr passes API errors and cancellation through, and counts and forgives transport errors, which the
// next poll retries.
func (b *bench) pollErr(ctx context.Context, err error) error {
	if err == nil || benchkit.IsAPIError(err) || ctx.Err() != nil {
		return err
	}
	b.transportErrs.Add(1)
	return nil
}

// installGuest waits for SSH and copies the guest program in through it.
func (b *bench) installGuest(ctx context.Context, ip string) error {
	data, err := os.ReadFile(b.guest)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		_, err := b.ssh(ctx, ip, "cat > "+guestBin+" && chmod +x "+guestBin, data)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("copying the guest program into %s over SSH: %w", ip, err)
		}
		if err := benchkit.Sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

func (b *bench) sshCommand(ctx context.Context, ip, command string) *exec.Cmd {
	return exec.CommandContext(ctx, "/usr/bin/ssh", "-i", b.pem, "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
		"admin@"+ip, command)
}

// ssh runs command in the instance as its default user, with stdin, and returns its output.
func (b *bench) ssh(ctx context.Context, ip, command string, stdin []byte) (string, error) {
	cmd := b.sshCommand(ctx, ip, command)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ssh %s %q: %v: %s", ip, command, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (b *bench) createVolume(ctx context.Context, vt types.VolumeType, sizeGiB, iops int32) (string, error) {
	in := &ec2.CreateVolumeInput{AvailabilityZone: aws.String(b.az), VolumeType: vt, Size: aws.Int32(sizeGiB)}
	if iops > 0 {
		in.Iops = aws.Int32(iops)
	}
	out, err := b.client.CreateVolume(ctx, in)
	if err != nil {
		return "", err
	}
	id := aws.ToString(out.VolumeId)
	b.volumes = append(b.volumes, id)
	_, err = b.untilVolume(ctx, id, func(v types.Volume) bool { return v.State == types.VolumeStateAvailable })
	return id, err
}

// untilVolume polls a volume every 5 ms until ok says so.
func (b *bench) untilVolume(ctx context.Context, id string, ok func(types.Volume) bool) (types.Volume, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		out, err := b.client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
		if err = b.pollErr(ctx, err); err != nil {
			return types.Volume{}, fmt.Errorf("volume %s: %w", id, err)
		}
		if out != nil && len(out.Volumes) == 1 && ok(out.Volumes[0]) {
			return out.Volumes[0], nil
		}
		if err := benchkit.Sleep(ctx, 5*time.Millisecond); err != nil {
			return types.Volume{}, fmt.Errorf("volume %s: %w", id, err)
		}
	}
}

func attached(v types.Volume) bool {
	return v.State == types.VolumeStateInUse && len(v.Attachments) == 1 &&
		v.Attachments[0].State == types.VolumeAttachmentStateAttached
}

func available(v types.Volume) bool {
	return v.State == types.VolumeStateAvailable && len(v.Attachments) == 0
}

// guestDevice is where a device name given to AttachVolume appears in a Linux instance: /dev/sdf is
// /dev/xvdf.
func guestDevice(device string) string {
	return "/dev/xvd" + strings.TrimPrefix(device, "/dev/sd")
}

// watcher is the guest program's wait command, running in the instance over SSH.
type watcher struct {
	cmd   *exec.Cmd
	lines chan string
}

// watch starts waiting in the instance for path to appear (or to go), and returns once the guest is polling.
func (b *bench) watch(ctx context.Context, path string, present bool) (*watcher, error) {
	cmd := b.sshCommand(ctx, b.ip, fmt.Sprintf("%s wait -path %s -present=%v", guestBin, path, present))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &watcher{cmd: cmd, lines: make(chan string, 2)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	if _, err := w.next("ready"); err != nil {
		w.stop()
		return nil, err
	}
	return w, nil
}

// next reads the guest's next line, which must be "<word> <unix ns>", and returns the time.
func (w *watcher) next(word string) (time.Time, error) {
	select {
	case line, ok := <-w.lines:
		f := strings.Fields(line)
		if !ok || len(f) != 2 || f[0] != word {
			return time.Time{}, fmt.Errorf("guest wait: want %q, got %q (ended: %v)", word, line, !ok)
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		return time.Unix(0, ns), err
	case <-time.After(time.Minute):
		return time.Time{}, fmt.Errorf("guest wait: no %q line within a minute", word)
	}
}

func (w *watcher) stop() {
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

// seenAfter is how long after t0 the guest saw its path change. The guest's clock is the host's (a machine
// shares the host kernel); a time outside [t0, now] would mean it is not, and is refused rather than printed.
func (w *watcher) seenAfter(t0 time.Time) (time.Duration, error) {
	defer w.stop()
	seen, err := w.next("seen")
	if err != nil {
		return 0, err
	}
	if seen.Before(t0) || seen.After(time.Now()) {
		return 0, fmt.Errorf("the guest saw the device at %s, outside the call's window from %s: are its clock and the host's the same?",
			seen.Format(time.RFC3339Nano), t0.Format(time.RFC3339Nano))
	}
	return seen.Sub(t0), nil
}

// attach attaches vol at device and returns the time to attached in the API and to the device in the
// instance.
func (b *bench) attach(ctx context.Context, vol, device string) (api, dev time.Duration, err error) {
	w, err := b.watch(ctx, guestDevice(device), true)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	if _, err := b.client.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(b.inst),
		Device: aws.String(device)}); err != nil {
		w.stop()
		return 0, 0, err
	}
	if _, err := b.untilVolume(ctx, vol, attached); err != nil {
		w.stop()
		return 0, 0, err
	}
	api = time.Since(t0)
	dev, err = w.seenAfter(t0)
	return api, dev, err
}

// detach is attach's reverse.
func (b *bench) detach(ctx context.Context, vol, device string) (api, dev time.Duration, err error) {
	w, err := b.watch(ctx, guestDevice(device), false)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	if _, err := b.client.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(vol)}); err != nil {
		w.stop()
		return 0, 0, err
	}
	if _, err := b.untilVolume(ctx, vol, available); err != nil {
		w.stop()
		return 0, 0, err
	}
	api = time.Since(t0)
	dev, err = w.seenAfter(t0)
	return api, dev, err
}

func (b *bench) attachTimes(ctx context.Context, vol string, cycles int) error {
	var attAPI, attDev, att, detAPI, detDev, det []time.Duration
	for i := range cycles {
		api, dev, err := b.attach(ctx, vol, "/dev/sdf")
		if err != nil {
			return fmt.Errorf("attach %d: %w", i+1, err)
		}
		attAPI, attDev, att = append(attAPI, api), append(attDev, dev), append(att, max(api, dev))
		if api, dev, err = b.detach(ctx, vol, "/dev/sdf"); err != nil {
			return fmt.Errorf("detach %d: %w", i+1, err)
		}
		detAPI, detDev, det = append(detAPI, api), append(detDev, dev), append(det, max(api, dev))
	}
	fmt.Printf("%-64s %5s %10s %10s\n", "attach and detach, 1 GiB gp3 at /dev/sdf (sequential cycles)", "n", "p50", "p99")
	row := func(name string, d []time.Duration) {
		fmt.Printf("  %-62s %5d %10s %10s\n", name, len(d),
			benchkit.MS(benchkit.Percentile(d, 0.50)), benchkit.MS(benchkit.Percentile(d, 0.99)))
	}
	row("AttachVolume -> attached and /dev/xvdf in the instance", att)
	row("  AttachVolume -> in-use, attached (DescribeVolumes)", attAPI)
	row("  AttachVolume -> /dev/xvdf exists in the instance", attDev)
	row("DetachVolume -> available and /dev/xvdf gone", det)
	row("  DetachVolume -> available (DescribeVolumes)", detAPI)
	row("  DetachVolume -> /dev/xvdf gone in the instance", detDev)
	fmt.Println()
	return nil
}

// snapshotGrowth fills vol inside the instance, snapshots it, overwrites 1% of it (first as 1 MiB blocks,
// then as 4 KiB blocks: the store's chunks are 1 MiB, so the pattern decides what "changed" costs) and
// snapshots after each change.
func (b *bench) snapshotGrowth(ctx context.Context, vol string) error {
	if _, _, err := b.attach(ctx, vol, "/dev/sdf"); err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := b.ssh(ctx, b.ip, "sudo "+guestBin+" fill -dev /dev/xvdf", nil); err != nil {
		return err
	}
	fmt.Printf("snapshots of a 1 GiB gp3 attached to the running instance (filled with random data inside it in %.1f s)\n",
		time.Since(t0).Seconds())
	fmt.Printf("  %-62s %10s %14s\n", "", "wall time", "store growth")
	steps := []struct{ name, change string }{
		{"first snapshot: 1 GiB of data", ""},
		{"after 1% changed as 10 x 1 MiB blocks", "-bytes 10485760 -block 1048576"},
		{"after 1% changed as 2560 x 4 KiB blocks", "-bytes 10485760 -block 4096"},
	}
	for i, s := range steps {
		if s.change != "" {
			cmd := fmt.Sprintf("sudo %s scatter -dev /dev/xvdf %s -seed %d", guestBin, s.change, i)
			if _, err := b.ssh(ctx, b.ip, cmd, nil); err != nil {
				return err
			}
		}
		before, err := b.storeSize()
		if err != nil {
			return err
		}
		took, err := b.snapshot(ctx, vol)
		if err != nil {
			return err
		}
		after, err := b.storeSize()
		if err != nil {
			return err
		}
		growth := "n/a"
		if before >= 0 {
			growth = benchkit.MiB(after - before)
		}
		fmt.Printf("  %-62s %10s %14s\n", s.name, benchkit.MS(took), growth)
	}
	fmt.Println("  (store growth: du of <data-dir>/snapshots/chunks; the store keeps 1 MiB chunks, deflated when that helps)")
	fmt.Println()
	_, _, err := b.detach(ctx, vol, "/dev/sdf")
	return err
}

// snapshot takes a snapshot of vol and returns the time from CreateSnapshot to completed.
func (b *bench) snapshot(ctx context.Context, vol string) (time.Duration, error) {
	t0 := time.Now()
	out, err := b.client.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol)})
	if err != nil {
		return 0, err
	}
	id := aws.ToString(out.SnapshotId)
	b.snapshots = append(b.snapshots, id)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		out, err := b.client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		if err = b.pollErr(ctx, err); err != nil {
			return 0, fmt.Errorf("snapshot %s: %w", id, err)
		}
		if out != nil && len(out.Snapshots) == 1 {
			switch s := out.Snapshots[0]; s.State {
			case types.SnapshotStateCompleted:
				return time.Since(t0), nil
			case types.SnapshotStateError:
				return 0, fmt.Errorf("snapshot %s failed: %s", id, aws.ToString(s.StateMessage))
			}
		}
		if err := benchkit.Sleep(ctx, 10*time.Millisecond); err != nil {
			return 0, fmt.Errorf("snapshot %s: %w", id, err)
		}
	}
}

// storeSize is the disk space (as du counts it) of the snapshot store's chunks, or -1 when the data
// directory is unknown.
func (b *bench) storeSize() (int64, error) {
	if b.data == "" {
		return -1, nil
	}
	var total int64
	err := filepath.WalkDir(filepath.Join(b.data, "snapshots", "chunks"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

// iopsTable measures random 4 KiB I/O inside the instance on a small gp2 and an io1 at 3000 IOPS.
func (b *bench) iopsTable(ctx context.Context, o options) error {
	vols := []struct {
		vt     types.VolumeType
		size   int32
		iops   int32
		device string
	}{
		{types.VolumeTypeGp2, 10, 0, "/dev/sdg"},
		{types.VolumeTypeIo1, 60, 3000, "/dev/sdh"},
	}
	fmt.Printf("random 4 KiB O_DIRECT I/O inside the instance, %d in flight, %s per run\n", o.depth, o.iopsDuration)
	fmt.Printf("  %-30s %10s %12s %18s %12s %18s\n", "volume", "IOPS (API)", "read IOPS", "read p50/p99", "write IOPS", "write p50/p99")
	for _, v := range vols {
		id, err := b.createVolume(ctx, v.vt, v.size, v.iops)
		if err != nil {
			return err
		}
		if _, _, err := b.attach(ctx, id, v.device); err != nil {
			return err
		}
		desc, err := b.untilVolume(ctx, id, attached)
		if err != nil {
			return err
		}
		var res [2]map[string]string
		for i, rw := range []string{"randread", "randwrite"} {
			out, err := b.ssh(ctx, b.ip, fmt.Sprintf("sudo %s iops -dev %s -rw %s -bs 4096 -depth %d -duration %s",
				guestBin, guestDevice(v.device), rw, o.depth, o.iopsDuration), nil)
			if err != nil {
				return err
			}
			res[i] = fields(out)
		}
		fmt.Printf("  %-30s %10d %12s %18s %12s %18s\n", fmt.Sprintf("%s %d GiB", v.vt, v.size), aws.ToInt32(desc.Iops),
			res[0]["iops"], res[0]["p50ms"]+"/"+res[0]["p99ms"]+" ms", res[1]["iops"], res[1]["p50ms"]+"/"+res[1]["p99ms"]+" ms")
		if _, _, err := b.detach(ctx, id, v.device); err != nil {
			return err
		}
	}
	fmt.Println("  (gp2 is held to its baseline, 3 IOPS/GiB and at least 100: Overcast does not model gp2's burst credits)")
	fmt.Println()
	return nil
}

// fields parses the guest's "key=value ..." result line.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(out) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// createImageTimes makes an AMI of the running instance without and with the reboot. The data volumes are
// detached by now, so each image is of the root disk alone.
func (b *bench) createImageTimes(ctx context.Context) error {
	fmt.Printf("CreateImage of the running instance (root disk only)\n")
	for _, noReboot := range []bool{true, false} {
		t0 := time.Now()
		out, err := b.client.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(b.inst),
			Name: aws.String(fmt.Sprintf("bench-ebs-%v-%d", noReboot, time.Now().UnixNano())), NoReboot: aws.Bool(noReboot)})
		if err != nil {
			return err
		}
		id := aws.ToString(out.ImageId)
		b.images = append(b.images, id)
		if err := b.untilImage(ctx, id); err != nil {
			return err
		}
		name := "CreateImage -> available, with the reboot"
		if noReboot {
			name = "CreateImage -> available, NoReboot"
		}
		fmt.Printf("  %-62s %10s\n", name, benchkit.MS(time.Since(t0)))
	}
	fmt.Println()
	_, err := b.untilInstance(ctx, b.inst, types.InstanceStateNameRunning)
	return err
}

func (b *bench) untilImage(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		out, err := b.client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if err = b.pollErr(ctx, err); err != nil {
			return fmt.Errorf("image %s: %w", id, err)
		}
		if out != nil && len(out.Images) == 1 {
			switch i := out.Images[0]; i.State {
			case types.ImageStateAvailable:
				return nil
			case types.ImageStateFailed, types.ImageStateError, types.ImageStateInvalid:
				reason := ""
				if i.StateReason != nil {
					reason = aws.ToString(i.StateReason.Message)
				}
				return fmt.Errorf("image %s is %s: %s", id, i.State, reason)
			}
		}
		if err := benchkit.Sleep(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("image %s: %w", id, err)
		}
	}
}

// counter counts in the background, a tenth of a second per step, into ~/counter (whole, through a rename),
// and prints its pid.
const counter = `nohup sh -c 'i=0; while :; do i=$((i+1)); echo $i > counter.tmp && mv counter.tmp counter; sleep 0.1; done' >/dev/null 2>&1 & echo $!`

// hibernateTimes is the place for hibernate and resume: an instance launched with hibernation configured (and
// an encrypted root, as AWS requires) runs a counter; StopInstances with Hibernate until stopped, then
// StartInstances until running and until the same counter process counts on from where it was. A refusal
// by the API prints "not supported" with its error code.
func (b *bench) hibernateTimes(ctx context.Context) error {
	fmt.Println("hibernate and resume (t2.micro, hibernation configured, encrypted root)")
	unsupported := func(call string, err error) error {
		var api smithy.APIError
		if !errors.As(err, &api) {
			return err
		}
		fmt.Printf("  %-62s %s\n", "StopInstances --hibernate", fmt.Sprintf("not supported (%s: %s)", call, api.ErrorCode()))
		return nil
	}
	images, err := b.client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{b.ami}})
	if err != nil || len(images.Images) != 1 {
		return fmt.Errorf("describing %s: %v", b.ami, err)
	}
	root := images.Images[0].RootDeviceName
	inst, err := b.launch(ctx, func(in *ec2.RunInstancesInput) {
		in.HibernationOptions = &types.HibernationOptionsRequest{Configured: aws.Bool(true)}
		in.BlockDeviceMappings = []types.BlockDeviceMapping{{DeviceName: root, Ebs: &types.EbsBlockDevice{Encrypted: aws.Bool(true)}}}
	})
	if err != nil {
		return unsupported("RunInstances", err)
	}
	id, ip := aws.ToString(inst.InstanceId), aws.ToString(inst.PublicIpAddress)
	pid, err := b.sshRetry(ctx, ip, counter)
	if err != nil {
		return err
	}
	pid = strings.TrimSpace(pid)
	if err := benchkit.Sleep(ctx, time.Second); err != nil {
		return err
	}
	before, err := b.readCounter(ctx, ip, pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := b.client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}, Hibernate: aws.Bool(true)}); err != nil {
		return unsupported("StopInstances", err)
	}
	if _, err := b.untilInstance(ctx, id, types.InstanceStateNameStopped); err != nil {
		return err
	}
	stopped := time.Since(t0)
	t0 = time.Now()
	if _, err := b.client.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		return err
	}
	inst, err = b.untilInstance(ctx, id, types.InstanceStateNameRunning)
	if err != nil {
		return err
	}
	running := time.Since(t0)
	fmt.Printf("  %-62s %10s\n", "StopInstances --hibernate -> stopped", benchkit.MS(stopped))
	fmt.Printf("  %-62s %10s\n", "StartInstances -> running", benchkit.MS(running))
	ip = aws.ToString(inst.PublicIpAddress)
	const resumeRow = "StartInstances -> the same counter process counts on (over SSH)"
	for deadline := time.Now().Add(30 * time.Second); ; {
		n, err := b.readCounter(ctx, ip, pid)
		if err == nil && n > before {
			fmt.Printf("  %-62s %10s\n", resumeRow, benchkit.MS(time.Since(t0)))
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Printf("  %-62s did not resume within 30 s (the counter was at %d; last: %v)\n", resumeRow, before, err)
			return nil
		}
		if err := benchkit.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// readCounter reads the counter, failing unless process pid is still the one counting.
func (b *bench) readCounter(ctx context.Context, ip, pid string) (int, error) {
	out, err := b.ssh(ctx, ip, "kill -0 "+pid+" && cat counter", nil)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// sshRetry runs command once SSH answers.
func (b *bench) sshRetry(ctx context.Context, ip, command string) (string, error) {
	for deadline := time.Now().Add(2 * time.Minute); ; {
		out, err := b.ssh(ctx, ip, command, nil)
		if err == nil || time.Now().After(deadline) {
			return out, err
		}
		if err := benchkit.Sleep(ctx, 500*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// Close deletes, through the API, everything the run made: instances, then the volumes they released,
// images, snapshots, the key pair and the group. Then it stops a server it started and runs `overcast
// cleanup`.
func (b *bench) Close() error {
	var errs []error
	note := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if b.client != nil && (b.server == nil || b.server.Running()) {
		if len(b.instances) > 0 {
			_, err := b.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: b.instances})
			if err == nil {
				err = ec2.NewInstanceTerminatedWaiter(b.client).Wait(ctx,
					&ec2.DescribeInstancesInput{InstanceIds: b.instances}, 3*time.Minute)
			}
			note("terminate instances", err)
		}
		for _, id := range b.volumes {
			// Termination detaches; a volume is deletable once it is available again.
			_, err := b.untilVolume(ctx, id, available)
			if err == nil {
				_, err = b.client.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(id)})
			}
			note("delete "+id, err)
		}
		for _, id := range b.images {
			// The image's own snapshots go with it: DeregisterImage leaves them, as on AWS.
			out, err := b.client.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
			if err == nil && len(out.Images) == 1 {
				for _, m := range out.Images[0].BlockDeviceMappings {
					if m.Ebs != nil && aws.ToString(m.Ebs.SnapshotId) != "" {
						b.snapshots = append(b.snapshots, aws.ToString(m.Ebs.SnapshotId))
					}
				}
			}
			_, err = b.client.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)})
			note("deregister "+id, err)
		}
		for _, id := range b.snapshots {
			_, err := b.client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
			note("delete "+id, err)
		}
		if b.keyName != "" {
			_, err := b.client.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(b.keyName)})
			note("delete key pair", err)
		}
		if b.group != "" {
			_, err := b.client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(b.group)})
			note("delete security group", err)
		}
	}
	if b.server != nil {
		if err := b.server.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
