package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// amiSourceUserData customizes the tutorial's "golden" instance: an app under /opt/app and a service that
// serves it on 8080, installed the Debian way, as an executable /etc/rc.local that every boot runs.
const amiSourceUserData = `#!/bin/bash
mkdir -p /opt/app
echo "app v1" > /opt/app/version
cat > /etc/rc.local <<'RC'
#!/bin/sh
nohup python3 -m http.server 8080 -d /opt/app >/dev/null 2>&1 &
exit 0
RC
chmod +x /etc/rc.local
/etc/rc.local
`

// amiCopyUserData runs at the first boot of each instance launched from the custom AMI: a mark of its
// own, also put where the service shows it.
const amiCopyUserData = `#!/bin/bash
ID=$(curl -s http://169.254.169.254/latest/meta-data/instance-id)
echo "first boot of $ID" > /tmp/marker
cp /tmp/marker /opt/app/marker
`

// TestCustomAMI is the tutorials' "customize an instance, create an AMI, launch copies", with the AWS CLI.
func TestCustomAMI(t *testing.T) {
	testutil.RequiresRoot(t)
	requireTool(t, "/usr/bin/aws")
	s := startServer(t, "", withCompute())
	root := keys("test", "test", "")
	dir := t.TempDir()
	cli := s.cliAs(t, root)
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return "file://" + p
	}
	var sg struct{ GroupId string }
	cli(&sg, "ec2", "create-security-group", "--group-name", "app", "--description", "the app on 8080")
	cli(nil, "ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId, "--protocol", "tcp", "--port", "8080", "--cidr", "0.0.0.0/0")
	type runOut struct{ Instances []struct{ InstanceId string } }
	launch := func(ami, userData string, count int) []string {
		t.Helper()
		var run runOut
		cli(&run, "ec2", "run-instances", "--image-id", ami, "--instance-type", "t2.micro", "--security-group-ids", sg.GroupId,
			"--user-data", userData, "--count", strconv.Itoa(count))
		var ids []string
		for _, i := range run.Instances {
			ids = append(ids, i.InstanceId)
		}
		if len(ids) != count {
			t.Fatalf("run-instances started %d instances, want %d", len(ids), count)
		}
		cli(nil, append([]string{"ec2", "wait", "instance-running", "--instance-ids"}, ids...)...)
		return ids
	}
	page := func(id, path string) string {
		t.Helper()
		ip := s.describeInstance(t, id).PublicIpAddress
		return eventually(t, 90*time.Second, func() (string, error) { return httpGet("http://"+ip+":8080/"+path, 2*time.Second) })
	}

	// 1. The golden instance, customized by its user data.
	start := time.Now()
	src := launch(s.imageID(t, "debian-12"), file("source.sh", amiSourceUserData), 1)[0]
	if v := page(src, "version"); v != "app v1\n" {
		t.Fatalf("golden instance's version page = %q", v)
	}
	t.Logf("golden instance serving after %s", time.Since(start).Round(time.Second))

	// 2. CreateImage (rebooting it), answered pending, then available; the golden instance serves again.
	start = time.Now()
	var created struct{ ImageId string }
	cli(&created, "ec2", "create-image", "--instance-id", src, "--name", "my-app v1", "--description", "app on 8080",
		"--tag-specifications", "ResourceType=image,Tags=[{Key=app,Value=v1}]", "ResourceType=snapshot,Tags=[{Key=app,Value=v1-root}]")
	ami := created.ImageId
	if !strings.HasPrefix(ami, "ami-") {
		t.Fatalf("create-image answered %q", ami)
	}
	if _, errOut, err := s.cli(root, "ec2", "create-image", "--instance-id", src, "--name", "my-app v1"); err == nil ||
		!strings.Contains(errOut, "InvalidAMIName.Duplicate") {
		t.Fatalf("a second image with the same name: %v %s", err, errOut)
	}
	cli(nil, "ec2", "wait", "image-available", "--image-ids", ami)
	t.Logf("image available after %s", time.Since(start).Round(time.Second))
	var imgs struct {
		Images []struct {
			ImageId, Name, State, OwnerId string
			Public                        bool
			BlockDeviceMappings           []struct {
				DeviceName string
				Ebs        struct {
					SnapshotId          string
					VolumeSize          int
					DeleteOnTermination bool
				}
			}
		}
	}
	cli(&imgs, "ec2", "describe-images", "--owners", "self", "--filters", "Name=tag:app,Values=v1")
	if len(imgs.Images) != 1 || imgs.Images[0].ImageId != ami || imgs.Images[0].State != "available" || imgs.Images[0].Public ||
		len(imgs.Images[0].BlockDeviceMappings) != 1 || imgs.Images[0].BlockDeviceMappings[0].DeviceName != "/dev/xvda" {
		t.Fatalf("describe-images --owners self: %+v", imgs)
	}
	snap := imgs.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId
	var snaps struct {
		Snapshots []struct{ SnapshotId, State string }
	}
	cli(&snaps, "ec2", "describe-snapshots", "--owner-ids", "self", "--filters", "Name=tag:app,Values=v1-root")
	if len(snaps.Snapshots) != 1 || snaps.Snapshots[0].SnapshotId != snap || snaps.Snapshots[0].State != "completed" {
		t.Fatalf("the image's snapshot: %+v (want %s)", snaps, snap)
	}
	if _, errOut, err := s.cli(root, "ec2", "delete-snapshot", "--snapshot-id", snap); err == nil || !strings.Contains(errOut, "InvalidSnapshot.InUse") {
		t.Fatalf("delete-snapshot of the AMI's snapshot: %v %s", err, errOut)
	}
	if v := page(src, "version"); v != "app v1\n" {
		t.Fatalf("golden instance after its reboot: %q", v)
	}
	// CreateImage rebooted it: only a boot after the first finds /etc/rc.local to run.
	var console struct{ Output string }
	cli(&console, "ec2", "get-console-output", "--instance-id", src, "--latest")
	if !strings.Contains(console.Output, "running /etc/rc.local") {
		t.Fatalf("the golden instance was not rebooted by create-image; console:\n%s", console.Output)
	}

	// 3. Two copies: each has the app, runs the service from rc.local, and ran its own user data.
	start = time.Now()
	copies := launch(ami, file("copy.sh", amiCopyUserData), 2)
	for _, id := range copies {
		if v := page(id, "version"); v != "app v1\n" {
			t.Errorf("%s: version page = %q", id, v)
		}
		if m := page(id, "marker"); m != "first boot of "+id+"\n" {
			t.Errorf("%s: marker page = %q", id, m)
		}
	}
	t.Logf("copies serving after %s", time.Since(start).Round(time.Second))

	// 4. Nothing left: instances, AMI, snapshot.
	all := append([]string{src}, copies...)
	cli(nil, append([]string{"ec2", "terminate-instances", "--instance-ids"}, all...)...)
	cli(nil, append([]string{"ec2", "wait", "instance-terminated", "--instance-ids"}, all...)...)
	cli(nil, "ec2", "deregister-image", "--image-id", ami)
	cli(nil, "ec2", "delete-snapshot", "--snapshot-id", snap)
	imgs.Images, snaps.Snapshots = nil, nil
	cli(&imgs, "ec2", "describe-images", "--owners", "self")
	cli(&snaps, "ec2", "describe-snapshots", "--owner-ids", "self")
	if len(imgs.Images) != 0 || len(snaps.Snapshots) != 0 {
		t.Fatalf("left after cleanup: images %+v snapshots %+v", imgs.Images, snaps.Snapshots)
	}
	if _, errOut, err := s.cli(root, "ec2", "run-instances", "--image-id", ami, "--instance-type", "t2.micro"); err == nil ||
		!strings.Contains(errOut, "InvalidAMIID.NotFound") {
		t.Fatalf("run-instances of a deregistered AMI: %v %s", err, errOut)
	}
	for _, id := range all {
		s.assertNoHostObjectsFor(t, id)
	}
}
