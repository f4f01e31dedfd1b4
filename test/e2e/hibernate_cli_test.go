package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// counterScript counts in a shell variable, which lives only in the process's memory; each step goes to a
// file (through a rename, so that a reader never sees it half written) for the test to read.
const counterScript = `i=0; while :; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/c; sleep 0.2; done`

// TestHibernateCLI is stop-hibernate with the AWS CLI: a counter started over SSH in an instance launched
// with hibernation configured keeps its count and its pid across stop --hibernate and start, while nothing
// of the machine runs on the host in between. It also checks EC2's refusals: an unencrypted root at launch,
// and hibernating an instance not configured for it.
func TestHibernateCLI(t *testing.T) {
	testutil.RequiresRoot(t)
	requireTool(t, "/usr/bin/aws")
	requireTool(t, "/usr/bin/ssh")
	s := startServer(t, "", withCompute())
	root := keys("test", "test", "")
	cli := s.cliAs(t, root)
	pem, sshGroup := s.sshAccess(t, cli, t.TempDir(), "hib")
	debian := s.imageID(t, "debian-12")
	launch := func(v any, args ...string) (string, error) {
		out, errOut, err := s.cli(root, append([]string{"ec2", "run-instances", "--image-id", debian,
			"--instance-type", "t3.micro", "--key-name", "hib", "--security-group-ids", sshGroup}, args...)...)
		if v != nil && err == nil {
			err = json.Unmarshal([]byte(out), v)
		}
		return errOut, err
	}

	// An unencrypted root cannot hold a hibernation.
	if errOut, err := launch(nil, "--hibernation-options", "Configured=true", "--block-device-mappings",
		`[{"DeviceName":"/dev/xvda","Ebs":{"VolumeSize":8}}]`); err == nil || !strings.Contains(errOut, "UnsupportedHibernationConfiguration") {
		t.Fatalf("run-instances with hibernation and an unencrypted root: %v %s", err, errOut)
	}

	var run struct{ Instances []struct{ InstanceId string } }
	if errOut, err := launch(&run, "--hibernation-options", "Configured=true", "--block-device-mappings",
		`[{"DeviceName":"/dev/xvda","Ebs":{"Encrypted":true,"VolumeSize":8}}]`); err != nil {
		t.Fatalf("run-instances with hibernation: %v %s", err, errOut)
	}
	id := run.Instances[0].InstanceId
	if errOut, err := launch(&run); err != nil {
		t.Fatalf("run-instances: %v %s", err, errOut)
	}
	plain := run.Instances[0].InstanceId
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", id, plain)

	// An instance launched without hibernation refuses it, and keeps running.
	if _, errOut, err := s.cli(root, "ec2", "stop-instances", "--hibernate", "--instance-ids", plain); err == nil ||
		!strings.Contains(errOut, "UnsupportedHibernationConfiguration") {
		t.Fatalf("stop-instances --hibernate of %s, launched without hibernation: %v %s", plain, err, errOut)
	}
	if st := s.describeInstance(t, plain).State.Name; st != "running" {
		t.Fatalf("%s is %s after a refused hibernation", plain, st)
	}
	cli(nil, "ec2", "terminate-instances", "--instance-ids", plain)

	// The counter runs on after the SSH session ends, as the default user (CRIU reads the resource limits of
	// such a process through the prlimit shim scripts/deps.sh installs; see scripts/criu/prlimit-shim.c).
	target := "admin@" + s.describeInstance(t, id).PublicIpAddress
	out := sshRun(t, pem, target, "echo '"+counterScript+"' > /tmp/counter.sh && "+
		"sh -c 'nohup sh /tmp/counter.sh </dev/null >/dev/null 2>&1 & echo $!'")
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("counter pid: %q", out)
	}
	time.Sleep(time.Second)
	before := readCounter(t, pem, target, pid)
	hostPIDs := machineProcesses(t, s, id)
	if len(hostPIDs) == 0 {
		t.Fatalf("no process of %s found on the host", id)
	}

	// Hibernate: the machine's processes end on the host, and EC2 says why it stopped.
	c := ec2.NewFromConfig(s.rootConfig())
	began := time.Now()
	var change struct {
		StoppingInstances []struct{ CurrentState struct{ Name string } }
	}
	cli(&change, "ec2", "stop-instances", "--hibernate", "--instance-ids", id)
	if st := change.StoppingInstances[0].CurrentState.Name; st != "stopping" {
		t.Fatalf("stop-instances --hibernate answered %s", st)
	}
	stopped := reachState(t, c, id, types.InstanceStateNameStopped, began)
	cli(nil, "ec2", "wait", "instance-stopped", "--instance-ids", id)
	var desc struct {
		Reservations []struct {
			Instances []struct {
				StateReason        struct{ Code string }
				HibernationOptions struct{ Configured bool }
			}
		}
	}
	cli(&desc, "ec2", "describe-instances", "--instance-ids", id)
	if inst := desc.Reservations[0].Instances[0]; inst.StateReason.Code != "Client.UserInitiatedHibernate" || !inst.HibernationOptions.Configured {
		t.Fatalf("hibernated instance: %+v", inst)
	}
	for _, p := range hostPIDs {
		if inMachine(p, id) {
			t.Errorf("process %d of %s still runs on the host after hibernation", p, id)
		}
	}

	// Start: the machine resumes, and the same process counts on from where it was.
	began = time.Now()
	cli(nil, "ec2", "start-instances", "--instance-ids", id)
	running := reachState(t, c, id, types.InstanceStateNameRunning, began)
	target = "admin@" + s.describeInstance(t, id).PublicIpAddress
	eventuallySSH(t, pem, target, "true")
	sshAt := time.Since(began)
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", id)
	var console struct{ Output string }
	cli(&console, "ec2", "get-console-output", "--instance-id", id, "--latest")
	if !strings.Contains(console.Output, "overcast: resumed from hibernation") {
		t.Fatalf("the instance did not resume from hibernation (the overcast log says why); console:\n%s", console.Output)
	}
	after := readCounter(t, pem, target, pid)
	if after < before {
		t.Fatalf("the counter is at %d after resuming, below %d before hibernation: it started over", after, before)
	}
	time.Sleep(time.Second)
	if later := readCounter(t, pem, target, pid); later <= after {
		t.Fatalf("the counter stays at %d after resuming", later)
	}
	t.Logf("counter %d before hibernation, %d after; stop --hibernate → stopped %s; start → running %s, → ssh %s",
		before, after, stopped.Round(10*time.Millisecond), running.Round(10*time.Millisecond), sshAt.Round(10*time.Millisecond))

	cli(nil, "ec2", "terminate-instances", "--instance-ids", id)
	cli(nil, "ec2", "wait", "instance-terminated", "--instance-ids", id, plain)
	s.assertNoHostObjectsFor(t, id)
	s.assertNoHostObjectsFor(t, plain)
}

// readCounter reads the counter over SSH, checking that the process pid inside the instance is the counter.
func readCounter(t *testing.T, pem, target string, pid int) int {
	t.Helper()
	out := sshRun(t, pem, target, fmt.Sprintf("tr '\\0' ' ' </proc/%d/cmdline; echo; cat /tmp/c", pid))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.TrimSpace(lines[0]) != "sh /tmp/counter.sh" {
		t.Fatalf("process %d is not the counter: %q", pid, out)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil {
		t.Fatalf("counter: %q", out)
	}
	return n
}

// reachState polls the instance until it is in state, and returns how long after since that took. The
// CLI's waiters poll every 15 s, too seldom to time a transition.
func reachState(t *testing.T, c *ec2.Client, id string, state types.InstanceStateName, since time.Time) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatalf("waiting for %s to be %s: %v", id, state, err)
		}
		if got := out.Reservations[0].Instances[0].State.Name; got == state {
			return time.Since(since)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// machineProcesses lists the host pids of the instance's processes, from its memory cgroup.
func machineProcesses(t *testing.T, s *server, id string) []int {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/memory", "overcast-"+s.cfg.prefix, id, "cgroup.procs"))
	var pids []int
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Fields(string(data)) {
			n, _ := strconv.Atoi(f)
			pids = append(pids, n)
		}
	}
	return pids
}

// inMachine says whether the host process pid runs and belongs to the instance's cgroups: a pid taken again
// by another process does not, nor does a zombie.
func inMachine(pid int, id string) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	_, state, _ := strings.Cut(string(stat), ") ")
	return err == nil && strings.Contains(string(data), "/"+id) && !strings.HasPrefix(state, "Z")
}
