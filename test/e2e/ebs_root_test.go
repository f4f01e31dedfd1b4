package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// TestEBSRootVolume is the root volume as the AWS CLI shows it: an EBS volume of the mapping's size and type,
// the instance's real root device, kept after termination when DeleteOnTermination is false (and then mounted
// by another instance, with what the first wrote), while a data volume that a guest is still writing to when
// its instance is terminated is deleted with nothing left on the host.
func TestEBSRootVolume(t *testing.T) {
	testutil.RequiresRoot(t)
	requireTool(t, "/usr/bin/aws")
	requireTool(t, "/usr/bin/ssh")
	s := startServer(t, "", withCompute())
	root := keys("test", "test", "")
	dir := t.TempDir()
	cli := s.cliAs(t, root)
	pem, sshGroup := s.sshAccess(t, cli, dir, "rootvol")

	var run struct {
		Instances []struct {
			InstanceId string
			Placement  struct{ AvailabilityZone string }
		}
	}
	cli(&run, "ec2", "run-instances", "--image-id", s.imageID(t, "debian-12"), "--instance-type", "t3.micro",
		"--key-name", "rootvol", "--security-group-ids", sshGroup, "--block-device-mappings",
		`[{"DeviceName":"/dev/xvda","Ebs":{"VolumeSize":12,"VolumeType":"gp2","DeleteOnTermination":false}},`+
			`{"DeviceName":"/dev/sdf","Ebs":{"VolumeSize":2,"VolumeType":"gp3"}}]`)
	first := run.Instances[0].InstanceId
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", first)

	inst := s.describeInstance(t, first)
	var vols struct {
		Volumes []struct {
			VolumeId, VolumeType, State, SnapshotId string
			Size                                    int
			Attachments                             []struct {
				Device              string
				DeleteOnTermination bool
			}
		}
	}
	cli(&vols, "ec2", "describe-volumes", "--filters", "Name=attachment.instance-id,Values="+first)
	var rootVol, dataVol string
	for _, v := range vols.Volumes {
		switch {
		case v.Attachments[0].Device == "/dev/xvda" && v.Size == 12 && v.VolumeType == "gp2" && !v.Attachments[0].DeleteOnTermination &&
			strings.HasPrefix(v.SnapshotId, "snap-"):
			rootVol = v.VolumeId
		case v.Attachments[0].Device == "/dev/sdf" && v.Size == 2 && v.Attachments[0].DeleteOnTermination:
			dataVol = v.VolumeId
		}
	}
	if rootVol == "" || dataVol == "" {
		t.Fatalf("describe-volumes of the instance: %+v", vols.Volumes)
	}

	// Inside: / is the root volume, grown to its 12 GiB; the data volume is at /dev/xvdf.
	target := "admin@" + inst.PublicIpAddress
	out := sshRun(t, pem, target, "test -b /dev/xvda && test -b /dev/xvdf && df -BG --output=size,source / | tail -1 && "+
		"echo precious | sudo tee /root-marker >/dev/null && sync && "+
		"sudo mkfs.ext4 -q /dev/xvdf && sudo mkdir -p /data && sudo mount /dev/xvdf /data && "+
		"(sudo sh -c 'while :; do dd if=/dev/urandom of=/data/f bs=1M count=8 conv=fsync 2>/dev/null; done' >/dev/null 2>&1 &) ; echo writing")
	if !strings.Contains(out, "writing") || !strings.Contains(out, "12G") {
		t.Fatalf("inside the instance: %q", out)
	}

	// Terminated mid-write: the data volume goes, the root volume stays, available.
	cli(nil, "ec2", "terminate-instances", "--instance-ids", first)
	cli(nil, "ec2", "wait", "instance-terminated", "--instance-ids", first)
	cli(nil, "ec2", "wait", "volume-available", "--volume-ids", rootVol)
	if _, errOut, err := s.cli(root, "ec2", "describe-volumes", "--volume-ids", dataVol); err == nil || !strings.Contains(errOut, "InvalidVolume.NotFound") {
		t.Fatalf("the data volume outlived its instance: %v %s", err, errOut)
	}
	s.assertNoHostObjectsFor(t, first)

	// Another instance mounts the old root volume and finds the file.
	cli(&run, "ec2", "run-instances", "--image-id", s.imageID(t, "debian-12"), "--instance-type", "t3.micro",
		"--key-name", "rootvol", "--security-group-ids", sshGroup, "--placement", "AvailabilityZone="+run.Instances[0].Placement.AvailabilityZone)
	second := run.Instances[0].InstanceId
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", second)
	cli(nil, "ec2", "attach-volume", "--volume-id", rootVol, "--instance-id", second, "--device", "/dev/sdg")
	cli(nil, "ec2", "wait", "volume-in-use", "--volume-ids", rootVol)
	target = "admin@" + s.describeInstance(t, second).PublicIpAddress
	if out := sshRun(t, pem, target, "sudo mkdir -p /old && sudo mount /dev/xvdg /old && cat /old/root-marker && sudo umount /old"); strings.TrimSpace(out) != "precious" {
		t.Fatalf("the old root volume reads %q", out)
	}
	cli(nil, "ec2", "terminate-instances", "--instance-ids", second)
	cli(nil, "ec2", "wait", "instance-terminated", "--instance-ids", second)
	cli(nil, "ec2", "wait", "volume-available", "--volume-ids", rootVol)
	cli(nil, "ec2", "delete-volume", "--volume-id", rootVol)
	s.assertNoHostObjectsFor(t, second)
	if out, _ := exec.Command("losetup", "-a").Output(); strings.Contains(string(out), s.DataDir) {
		t.Errorf("loop devices still use the data directory:\n%s", out)
	}
}
