package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// TestEBSAttach walks the AWS CLI through a data volume's life: made in the instances' zone, attached at
// /dev/sdf, formatted and mounted with sudo by the AMI's default user, refused a detach while mounted,
// detached, attached to a second instance that reads what the first wrote, detached by force while mounted
// there, and deleted with nothing left on the host.
func TestEBSAttach(t *testing.T) {
	testutil.RequiresRoot(t)
	requireTool(t, "/usr/bin/aws")
	requireTool(t, "/usr/bin/ssh")
	s := startServer(t, "", withCompute())
	root := keys("test", "test", "")
	dir := t.TempDir()
	cli := s.cliAs(t, root)

	pem, sshGroup := s.sshAccess(t, cli, dir, "ebs")
	var run struct {
		Instances []struct {
			InstanceId string
			Placement  struct{ AvailabilityZone string }
		}
	}
	cli(&run, "ec2", "run-instances", "--image-id", s.imageID(t, "debian-12"), "--instance-type", "t2.micro",
		"--key-name", "ebs", "--security-group-ids", sshGroup, "--count", "2")
	first, second := run.Instances[0].InstanceId, run.Instances[1].InstanceId
	az := run.Instances[0].Placement.AvailabilityZone
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", first, second)

	var vol struct{ VolumeId, State string }
	cli(&vol, "ec2", "create-volume", "--size", "1", "--volume-type", "gp3", "--availability-zone", az)
	cli(nil, "ec2", "wait", "volume-available", "--volume-ids", vol.VolumeId)

	var att struct{ State, Device, InstanceId string }
	cli(&att, "ec2", "attach-volume", "--volume-id", vol.VolumeId, "--instance-id", first, "--device", "/dev/sdf")
	if att.State != "attaching" || att.Device != "/dev/sdf" || att.InstanceId != first {
		t.Fatalf("attach-volume answered %+v", att)
	}
	cli(nil, "ec2", "wait", "volume-in-use", "--volume-ids", vol.VolumeId)

	target := "admin@" + s.describeInstance(t, first).PublicIpAddress
	out := sshRun(t, pem, target, "test -b /dev/xvdf && test -e /dev/sdf && sudo mkfs.ext4 -q /dev/xvdf && "+
		"sudo mkdir -p /data && sudo mount /dev/xvdf /data && echo kept | sudo tee /data/file && sudo umount /data && echo formatted")
	if !strings.Contains(out, "formatted") {
		t.Fatalf("format and write on %s: %q", first, out)
	}
	// Mounted, it cannot be detached; the volume stays attached.
	sshRun(t, pem, target, "sudo mount /dev/sdf /data")
	if _, errOut, err := s.cli(root, "ec2", "detach-volume", "--volume-id", vol.VolumeId); err == nil || !strings.Contains(errOut, "VolumeInUse") {
		t.Fatalf("detach-volume of a mounted volume: %v %s", err, errOut)
	}
	if out := sshRun(t, pem, target, "cat /data/file; sudo umount /data"); strings.TrimSpace(out) != "kept" {
		t.Fatalf("after a refused detach: %q", out)
	}
	// Other mounts stay denied.
	if out, err := exec.Command("/usr/bin/ssh", sshArgs(pem, target, "sudo mount -t tmpfs x /mnt")...).CombinedOutput(); err == nil {
		t.Fatalf("a tmpfs mount was allowed: %s", out)
	}

	cli(&att, "ec2", "detach-volume", "--volume-id", vol.VolumeId)
	if att.State != "detaching" {
		t.Fatalf("detach-volume answered %+v", att)
	}
	cli(nil, "ec2", "wait", "volume-available", "--volume-ids", vol.VolumeId)
	if out := sshRun(t, pem, target, "test -e /dev/xvdf || test -e /dev/sdf || echo gone"); strings.TrimSpace(out) != "gone" {
		t.Fatalf("the device is still in %s after detach: %q", first, out)
	}

	cli(&att, "ec2", "attach-volume", "--volume-id", vol.VolumeId, "--instance-id", second, "--device", "/dev/sdf")
	cli(nil, "ec2", "wait", "volume-in-use", "--volume-ids", vol.VolumeId)
	target = "admin@" + s.describeInstance(t, second).PublicIpAddress
	out = sshRun(t, pem, target, "sudo mkdir -p /data && sudo mount /dev/xvdf /data && cat /data/file && sudo umount /data")
	if strings.TrimSpace(out) != "kept" {
		t.Fatalf("the second instance reads %q", out)
	}

	// A forced detach takes it even while mounted: the instance's mount goes with it.
	sshRun(t, pem, target, "sudo mount /dev/xvdf /data")
	cli(&att, "ec2", "detach-volume", "--volume-id", vol.VolumeId, "--force")
	cli(nil, "ec2", "wait", "volume-available", "--volume-ids", vol.VolumeId)
	if out := sshRun(t, pem, target, "mountpoint -q /data || test -e /dev/xvdf || echo unmounted"); strings.TrimSpace(out) != "unmounted" {
		t.Fatalf("after a forced detach: %q", out)
	}
	// Termination gives an attached volume back; then it is deleted.
	cli(nil, "ec2", "attach-volume", "--volume-id", vol.VolumeId, "--instance-id", second, "--device", "/dev/sdf")
	cli(nil, "ec2", "wait", "volume-in-use", "--volume-ids", vol.VolumeId)
	cli(nil, "ec2", "terminate-instances", "--instance-ids", first, second)
	cli(nil, "ec2", "wait", "instance-terminated", "--instance-ids", first, second)
	cli(nil, "ec2", "wait", "volume-available", "--volume-ids", vol.VolumeId)
	cli(nil, "ec2", "delete-volume", "--volume-id", vol.VolumeId)
	for _, id := range []string{first, second} {
		s.assertNoHostObjectsFor(t, id)
	}
	if out, _ := exec.Command("losetup", "-a").Output(); strings.Contains(string(out), s.DataDir) {
		t.Errorf("loop devices still use the data directory:\n%s", out)
	}
}
