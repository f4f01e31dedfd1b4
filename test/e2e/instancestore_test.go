package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// TestInstanceStoreAndSnapshotSets drives an m5d.large with the AWS CLI: its instance store disk is at
// /dev/xvdb with the type's 75 GB; what is written there is gone after a stop and start while a file on the
// root disk stays. Then a data volume is written continuously while create-snapshots takes the instance's
// volumes: the snapshot, restored, holds a clean filesystem (it was frozen while read).
func TestInstanceStoreAndSnapshotSets(t *testing.T) {
	testutil.RequiresRoot(t)
	requireTool(t, "/usr/bin/aws")
	requireTool(t, "/usr/bin/ssh")
	s := startServer(t, "", withCompute())
	root := keys("test", "test", "")
	dir := t.TempDir()
	cli := s.cliAs(t, root)

	pem, sshGroup := s.sshAccess(t, cli, dir, "eph")

	var types struct {
		InstanceTypes []struct {
			InstanceStorageSupported bool
			InstanceStorageInfo      struct{ TotalSizeInGB int }
		}
	}
	cli(&types, "ec2", "describe-instance-types", "--instance-types", "m5d.large")
	if len(types.InstanceTypes) != 1 || !types.InstanceTypes[0].InstanceStorageSupported || types.InstanceTypes[0].InstanceStorageInfo.TotalSizeInGB != 75 {
		t.Fatalf("m5d.large: %+v", types)
	}

	var run struct {
		Instances []struct {
			InstanceId string
			Placement  struct{ AvailabilityZone string }
		}
	}
	cli(&run, "ec2", "run-instances", "--image-id", s.imageID(t, "debian-12"), "--instance-type", "m5d.large",
		"--key-name", "eph", "--security-group-ids", sshGroup)
	id, az := run.Instances[0].InstanceId, run.Instances[0].Placement.AvailabilityZone
	t.Cleanup(func() { // before the server stops, so that a failed test leaves no machine running
		s.cli(root, "ec2", "terminate-instances", "--instance-ids", id)
		s.cli(root, "ec2", "wait", "instance-terminated", "--instance-ids", id)
	})
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", id)
	target := "admin@" + s.describeInstance(t, id).PublicIpAddress
	out := sshRun(t, pem, target, "sudo blockdev --getsize64 /dev/xvdb && sudo mkfs.ext4 -q /dev/xvdb && sudo mkdir -p /scratch && "+
		"sudo mount /dev/xvdb /scratch && echo ephemeral | sudo tee /scratch/file && echo kept > ~/rootfile && sync && echo written")
	if !strings.Contains(out, "75000000000") || !strings.Contains(out, "written") {
		t.Fatalf("instance store in %s: %q", id, out)
	}

	cli(nil, "ec2", "stop-instances", "--instance-ids", id)
	cli(nil, "ec2", "wait", "instance-stopped", "--instance-ids", id)
	if out, _ := exec.Command("losetup", "-a").Output(); strings.Contains(string(out), "ephemeral-"+id) {
		t.Errorf("the stopped instance's store still has a loop device:\n%s", out)
	}
	cli(nil, "ec2", "start-instances", "--instance-ids", id)
	cli(nil, "ec2", "wait", "instance-running", "--instance-ids", id)
	target = "admin@" + s.describeInstance(t, id).PublicIpAddress
	out = sshRun(t, pem, target, "cat ~/rootfile; test -b /dev/xvdb && echo device; sudo blkid /dev/xvdb || echo blank")
	if f := strings.Fields(out); len(f) != 3 || f[0] != "kept" || f[1] != "device" || f[2] != "blank" {
		t.Fatalf("after stop and start: %q, want the root file kept and a blank instance store", out)
	}

	// A crash-consistent snapshot set of a volume written to all the time.
	var vol struct{ VolumeId string }
	cli(&vol, "ec2", "create-volume", "--size", "1", "--availability-zone", az, "--tag-specifications", "ResourceType=volume,Tags=[{Key=Name,Value=busy}]")
	cli(nil, "ec2", "wait", "volume-available", "--volume-ids", vol.VolumeId)
	cli(nil, "ec2", "attach-volume", "--volume-id", vol.VolumeId, "--instance-id", id, "--device", "/dev/sdf")
	cli(nil, "ec2", "wait", "volume-in-use", "--volume-ids", vol.VolumeId)
	sshRun(t, pem, target, "sudo mkfs.ext4 -q /dev/xvdf && sudo mkdir -p /data && sudo mount /dev/xvdf /data && "+
		"echo 'i=0; while [ ! -e /tmp/stop ]; do i=$((i+1)); echo $i > /data/tmp; mv /data/tmp /data/counter; mkdir -p /data/d$((i % 50)); done' > /tmp/writer.sh")
	out = sshRun(t, pem, target, "sudo setsid nohup sh /tmp/writer.sh >/dev/null 2>&1 </dev/null & sleep 1; cat /data/counter")
	if strings.TrimSpace(out) == "" {
		t.Fatalf("the writer does not write: %q", out)
	}
	var set struct {
		Snapshots []struct {
			SnapshotId, VolumeId, State string
			Tags                        []struct{ Key, Value string }
		}
	}
	cli(&set, "ec2", "create-snapshots", "--instance-specification", "InstanceId="+id+",ExcludeBootVolume=true",
		"--copy-tags-from-source", "volume", "--description", "set")
	if len(set.Snapshots) != 1 || set.Snapshots[0].VolumeId != vol.VolumeId || len(set.Snapshots[0].Tags) != 1 || set.Snapshots[0].Tags[0].Value != "busy" {
		t.Fatalf("create-snapshots: %+v", set)
	}
	snap := set.Snapshots[0].SnapshotId
	cli(nil, "ec2", "wait", "snapshot-completed", "--snapshot-ids", snap)
	if out := sshRun(t, pem, target, "a=$(cat /data/counter); sleep 0.5; b=$(cat /data/counter); test $a != $b && echo writing"); !strings.Contains(out, "writing") {
		t.Fatalf("the writer stopped after the snapshot (left frozen?): %q", out)
	}
	var copyVol struct{ VolumeId string }
	cli(&copyVol, "ec2", "create-volume", "--snapshot-id", snap, "--availability-zone", az)
	cli(nil, "ec2", "wait", "volume-available", "--volume-ids", copyVol.VolumeId)
	cli(nil, "ec2", "attach-volume", "--volume-id", copyVol.VolumeId, "--instance-id", id, "--device", "/dev/sdg")
	cli(nil, "ec2", "wait", "volume-in-use", "--volume-ids", copyVol.VolumeId)
	// Frozen, the filesystem was flushed whole: its journal needs no recovery, the checker finds nothing,
	// and the counter is on the disk.
	out = sshRun(t, pem, target, "sudo dumpe2fs -h /dev/xvdg 2>/dev/null | grep '^Filesystem features'; "+
		"sudo e2fsck -fn /dev/xvdg >/tmp/fsck 2>&1 && echo clean || cat /tmp/fsck; sudo debugfs -R 'cat /counter' /dev/xvdg 2>/dev/null")
	t.Logf("restored snapshot:\n%s", out)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || strings.Contains(lines[0], "needs_recovery") ||
		lines[1] != "clean" || strings.TrimSpace(lines[2]) == "" {
		t.Fatalf("the snapshot's filesystem is not clean, or lacks the counter:\n%s", out)
	}
	sshRun(t, pem, target, "sudo touch /tmp/stop; sleep 0.5; sudo umount /data")

	cli(nil, "ec2", "terminate-instances", "--instance-ids", id)
	cli(nil, "ec2", "wait", "instance-terminated", "--instance-ids", id)
	for _, v := range []string{vol.VolumeId, copyVol.VolumeId} {
		cli(nil, "ec2", "wait", "volume-available", "--volume-ids", v)
		cli(nil, "ec2", "delete-volume", "--volume-id", v)
	}
	cli(nil, "ec2", "delete-snapshot", "--snapshot-id", snap)
	s.assertNoHostObjectsFor(t, id)
	if out, _ := exec.Command("losetup", "-a").Output(); strings.Contains(string(out), s.DataDir) {
		t.Errorf("loop devices still use the data directory:\n%s", out)
	}
}
