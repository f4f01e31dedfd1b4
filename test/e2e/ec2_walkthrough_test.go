package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// userDataPage is the tutorials' user data: read the instance id from the metadata service, write a page
// that shows it, serve it on port 80, and leave a mark of each run (user data must run once only).
const userDataPage = `#!/bin/bash
ID=$(curl -s http://169.254.169.254/latest/meta-data/instance-id)
mkdir -p /var/www
echo "<h1>Hello from $ID</h1>" > /var/www/index.html
echo run >> /var/log/user-data-runs
cd /var/www && nohup python3 -m http.server 80 >/dev/null 2>&1 &
`

// TestEC2Walkthrough is the classic EC2 tutorial, step by step, with the AWS CLI v2.
func TestEC2Walkthrough(t *testing.T) {
	testutil.RequiresRoot(t)
	requireTool(t, "/usr/bin/aws")
	requireTool(t, "/usr/bin/ssh")
	s := startServer(t, "", withCompute())
	root := keys("test", "test", "")
	dir := t.TempDir()

	cli := s.cliAs(t, root)

	// 1. A key pair, written to a .pem.
	var key struct{ KeyMaterial, KeyFingerprint, KeyPairId string }
	cli(&key, "ec2", "create-key-pair", "--key-name", "MyKey")
	pem := filepath.Join(dir, "MyKey.pem")
	if err := os.WriteFile(pem, []byte(key.KeyMaterial), 0o400); err != nil {
		t.Fatal(err)
	}

	// 2. A security group that lets SSH in from anywhere.
	var sg struct{ GroupId string }
	cli(&sg, "ec2", "create-security-group", "--group-name", "WebAccess", "--description", "web and ssh")
	cli(nil, "ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")

	// 3. A quick-start AMI as t2.micro with the key, the group and the user data.
	ami := s.imageID(t, "debian-12")
	userData := filepath.Join(dir, "user-data.sh")
	if err := os.WriteFile(userData, []byte(userDataPage), 0o644); err != nil {
		t.Fatal(err)
	}
	var run struct {
		Instances []struct {
			InstanceId string
			State      struct {
				Code int
				Name string
			}
		}
	}
	cli(&run, "ec2", "run-instances", "--image-id", ami, "--instance-type", "t2.micro", "--key-name", "MyKey",
		"--security-group-ids", sg.GroupId, "--user-data", "file://"+userData, "--count", "1")
	if len(run.Instances) != 1 || run.Instances[0].State.Name != "pending" || run.Instances[0].State.Code != 0 {
		t.Fatalf("run-instances: %+v", run)
	}
	id := run.Instances[0].InstanceId

	// 4. The waiters return.
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", id)
	cli(nil, "ec2", "wait", "instance-status-ok", "--instance-ids", id)
	inst := s.describeInstance(t, id)
	if inst.PublicIpAddress == "" || inst.State.Name != "running" || inst.State.Code != 16 {
		t.Fatalf("running instance: %+v", inst)
	}
	ip := inst.PublicIpAddress

	// 5. SSH as the AMI's default user.
	out := sshRun(t, pem, "admin@"+ip, "hostname; id -un; sudo -n id -u")
	if !strings.Contains(out, "ip-172-31-") || !strings.Contains(out, "admin") || !strings.HasSuffix(strings.TrimSpace(out), "0") {
		t.Fatalf("ssh: %q", out)
	}

	// 6. Port 80 is closed until authorized; then the page shows the instance's own id; revoked, closed again.
	page := "http://" + ip + "/"
	if body, err := httpGet(page, 2*time.Second); err == nil {
		t.Fatalf("port 80 reachable before it was authorized: %q", body)
	}
	cli(nil, "ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId, "--protocol", "tcp", "--port", "80", "--cidr", "0.0.0.0/0")
	body := eventually(t, 30*time.Second, func() (string, error) { return httpGet(page, 2*time.Second) })
	if !strings.Contains(body, "Hello from "+id) {
		t.Fatalf("page: %q", body)
	}
	cli(nil, "ec2", "revoke-security-group-ingress", "--group-id", sg.GroupId, "--protocol", "tcp", "--port", "80", "--cidr", "0.0.0.0/0")
	time.Sleep(time.Second)
	if body, err := httpGet(page, 2*time.Second); err == nil {
		t.Fatalf("port 80 reachable after revoke: %q", body)
	}

	// 7. Stop, start, reboot and terminate walk AWS's states; the root disk survives; user data runs once.
	sshRun(t, pem, "admin@"+ip, "echo kept > ~/on-root-disk")
	var change struct {
		StoppingInstances, StartingInstances, TerminatingInstances []struct {
			CurrentState, PreviousState struct {
				Code int
				Name string
			}
		}
	}
	cli(&change, "ec2", "stop-instances", "--instance-ids", id)
	if st := change.StoppingInstances[0]; st.PreviousState.Name != "running" || st.CurrentState.Name != "stopping" || st.CurrentState.Code != 64 {
		t.Fatalf("stop: %+v", change)
	}
	cli(nil, "ec2", "wait", "instance-stopped", "--instance-ids", id)
	inst = s.describeInstance(t, id)
	if inst.State.Code != 80 || !strings.HasPrefix(inst.StateTransitionReason, "User initiated (") {
		t.Fatalf("stopped: %+v", inst)
	}
	cli(&change, "ec2", "start-instances", "--instance-ids", id)
	if st := change.StartingInstances[0]; st.PreviousState.Name != "stopped" || st.CurrentState.Name != "pending" {
		t.Fatalf("start: %+v", change)
	}
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", id)
	ip = s.describeInstance(t, id).PublicIpAddress
	out = eventuallySSH(t, pem, "admin@"+ip, "cat ~/on-root-disk; sudo cat /var/log/user-data-runs | wc -l")
	if fields := strings.Fields(out); len(fields) != 2 || fields[0] != "kept" || fields[1] != "1" {
		t.Fatalf("after stop/start: %q", out)
	}
	cli(nil, "ec2", "reboot-instances", "--instance-ids", id)
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", id)
	eventuallySSH(t, pem, "admin@"+ip, "true")

	cli(&change, "ec2", "terminate-instances", "--instance-ids", id)
	if st := change.TerminatingInstances[0]; st.CurrentState.Name != "shutting-down" || st.CurrentState.Code != 32 {
		t.Fatalf("terminate: %+v", change)
	}
	cli(nil, "ec2", "wait", "instance-terminated", "--instance-ids", id)
	if inst = s.describeInstance(t, id); inst.State.Code != 48 {
		t.Fatalf("terminated: %+v", inst)
	}
	s.assertNoHostObjectsFor(t, id)
}

// describedInstance is what the tests read of DescribeInstances.
type describedInstance struct {
	InstanceId            string
	PublicIpAddress       string
	PrivateIpAddress      string
	StateTransitionReason string
	State                 struct {
		Code int
		Name string
	}
}

func (s *server) describeInstance(t *testing.T, id string) describedInstance {
	t.Helper()
	out, errOut, err := s.cli(keys("test", "test", ""), "ec2", "describe-instances", "--instance-ids", id)
	if err != nil {
		t.Fatalf("describe-instances: %v %s", err, errOut)
	}
	var resp struct {
		Reservations []struct{ Instances []describedInstance }
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Reservations) != 1 || len(resp.Reservations[0].Instances) != 1 {
		t.Fatalf("describe-instances: %v %s", err, out)
	}
	return resp.Reservations[0].Instances[0]
}

// imageID finds a quick-start AMI by name prefix, waiting for it to be built.
func (s *server) imageID(t *testing.T, name string) string {
	t.Helper()
	var id string
	eventually(t, 10*time.Minute, func() (string, error) {
		out, errOut, err := s.cli(keys("test", "test", ""), "ec2", "describe-images", "--owners", "amazon",
			"--filters", "Name=name,Values=*"+name+"*")
		if err != nil {
			return "", fmt.Errorf("%v %s", err, errOut)
		}
		var resp struct {
			Images []struct{ ImageId, State string }
		}
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			return "", err
		}
		if len(resp.Images) == 0 || resp.Images[0].State != "available" {
			return "", fmt.Errorf("image %s not available yet: %s", name, out)
		}
		id = resp.Images[0].ImageId
		return id, nil
	})
	return id
}

// httpGet fetches url on a new connection: as on AWS, a revoked rule does not cut connections it already let
// through, so each check must open its own.
func httpGet(url string, timeout time.Duration) (string, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if resp.StatusCode != 200 {
		return b.String(), fmt.Errorf("status %s", resp.Status)
	}
	return b.String(), nil
}

// eventually retries f until it succeeds or the time is up.
func eventually(t *testing.T, limit time.Duration, f func() (string, error)) string {
	t.Helper()
	v, err := eventuallyErr(limit, f)
	if err != nil {
		t.Fatalf("not within %s: %v", limit, err)
	}
	return v
}

// eventuallyErr calls f until it succeeds or limit passes, and returns its last answer.
func eventuallyErr(limit time.Duration, f func() (string, error)) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		v, err := f()
		if err == nil || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func sshArgs(pem, target, command string) []string {
	return []string{"-i", pem, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", target, command}
}

func sshRun(t *testing.T, pem, target, command string) string {
	t.Helper()
	return eventuallySSH(t, pem, target, command)
}

// eventuallySSH runs a command over SSH, retrying while sshd is still coming up.
func eventuallySSH(t *testing.T, pem, target, command string) string {
	t.Helper()
	return eventually(t, 60*time.Second, func() (string, error) {
		out, err := exec.Command("/usr/bin/ssh", sshArgs(pem, target, command)...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("ssh %s %q: %v: %s", target, command, err, out)
		}
		return string(out), nil
	})
}

// cliAs returns a runner of the AWS CLI with the given keys that decodes the JSON answer into v (nil: drop
// it); a failing command fails the test.
func (s *server) cliAs(t *testing.T, env []string) func(v any, args ...string) {
	return func(v any, args ...string) {
		t.Helper()
		out, errOut, err := s.cli(env, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
}

// sshAccess makes what SSH to an instance needs, as the tutorials do: a key pair written to <dir>/<name>.pem
// and a security group that lets port 22 in. It returns the key file and the group id.
func (s *server) sshAccess(t *testing.T, cli func(any, ...string), dir, name string) (pem, groupID string) {
	t.Helper()
	var key struct{ KeyMaterial string }
	cli(&key, "ec2", "create-key-pair", "--key-name", name)
	pem = filepath.Join(dir, name+".pem")
	if err := os.WriteFile(pem, []byte(key.KeyMaterial), 0o400); err != nil {
		t.Fatal(err)
	}
	var sg struct{ GroupId string }
	cli(&sg, "ec2", "create-security-group", "--group-name", name+"-ssh", "--description", "ssh")
	cli(nil, "ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	return pem, sg.GroupId
}

// runDebian launches one Debian 12 instance with the CLI, with the key and group sshAccess made and any
// extra run-instances arguments, waits until it runs and returns its id and zone. The instance is terminated
// at cleanup, before the server stops, so that a failed test leaves no machine running.
func (s *server) runDebian(t *testing.T, cli func(any, ...string), root []string, key, group string, extra ...string) (id, az string) {
	t.Helper()
	var run struct {
		Instances []struct {
			InstanceId string
			Placement  struct{ AvailabilityZone string }
		}
	}
	args := append([]string{"ec2", "run-instances", "--image-id", s.imageID(t, "debian-12"), "--instance-type", "t2.micro",
		"--key-name", key, "--security-group-ids", group}, extra...)
	cli(&run, args...)
	id, az = run.Instances[0].InstanceId, run.Instances[0].Placement.AvailabilityZone
	t.Cleanup(func() {
		s.cli(root, "ec2", "terminate-instances", "--instance-ids", id)
		s.cli(root, "ec2", "wait", "instance-terminated", "--instance-ids", id)
	})
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", id)
	return id, az
}
