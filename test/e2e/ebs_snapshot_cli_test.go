package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

const mib = 1 << 20

// TestEBSSnapshotIncrementalCLI is the acceptance "snapshot twice, with a small change in between", with the AWS
// CLI. A gp3 volume mounted in a running instance gets 64 MiB of pseudo-random data and a marker file and is
// snapshotted; then 1 MiB of the data and the marker change and it is snapshotted again. The growth of the
// server's snapshot store on disk is measured across each snapshot: the first must store at least the data (it is
// random, so it cannot compress), the second only about the changed bytes. A volume restored from each snapshot
// then holds exactly the content of its moment.
func TestEBSSnapshotIncrementalCLI(t *testing.T) {
	testutil.RequiresRoot(t)
	requireTool(t, "/usr/bin/aws")
	requireTool(t, "/usr/bin/ssh")
	s := startServer(t, "", withCompute())
	root := keys("test", "test", "")
	cli := s.cliAs(t, root)
	pem, sshGroup := s.sshAccess(t, cli, t.TempDir(), "snap")

	// The data is made here, from fixed seeds, so that the test knows every byte of both versions.
	const size, changeAt, changeLen = 64 * mib, 20*mib + 3*4096, 1 * mib
	v1 := pseudoRandom(1, size)
	change := pseudoRandom(2, changeLen)
	v2 := bytes.Clone(v1)
	copy(v2[changeAt:], change)

	id, az := s.runDebian(t, cli, root, "snap", sshGroup)

	var vol struct{ VolumeId string }
	cli(&vol, "ec2", "create-volume", "--size", "1", "--volume-type", "gp3", "--availability-zone", az)
	cli(nil, "ec2", "wait", "volume-available", "--volume-ids", vol.VolumeId)
	cli(nil, "ec2", "attach-volume", "--volume-id", vol.VolumeId, "--instance-id", id, "--device", "/dev/sdf")
	cli(nil, "ec2", "wait", "volume-in-use", "--volume-ids", vol.VolumeId)

	target := "admin@" + s.describeInstance(t, id).PublicIpAddress
	sshRun(t, pem, target, "sudo mkfs.ext4 -q /dev/xvdf && sudo mkdir -p /data && sudo mount /dev/xvdf /data")
	sshInput(t, pem, target, v1, "sudo dd of=/data/big bs=1M iflag=fullblock status=none && echo v1 | sudo tee /data/marker >/dev/null && sync")

	snapshot := func(description string) (snapID string, added int64) {
		t.Helper()
		before := storeBytes(t, filepath.Join(s.DataDir, "snapshots"))
		start := time.Now()
		var snap struct{ SnapshotId, State string }
		cli(&snap, "ec2", "create-snapshot", "--volume-id", vol.VolumeId, "--description", description)
		cli(nil, "ec2", "wait", "snapshot-completed", "--snapshot-ids", snap.SnapshotId)
		added = storeBytes(t, filepath.Join(s.DataDir, "snapshots")) - before
		t.Logf("%s (%s): completed in %s, the store grew by %.2f MiB", snap.SnapshotId, description,
			time.Since(start).Round(time.Millisecond), float64(added)/mib)
		return snap.SnapshotId, added
	}
	first, addedFirst := snapshot("before the change")

	// The small change: 1 MiB of the big file, not aligned to the store's 1 MiB chunks, and the marker.
	sshInput(t, pem, target, change, "sudo dd of=/data/big bs=4096 seek="+strconv.Itoa(changeAt/4096)+
		" conv=notrunc iflag=fullblock status=none && echo v2 | sudo tee /data/marker >/dev/null && sync")
	second, addedSecond := snapshot("after the change")

	// The first snapshot holds the random data, which does not compress: at least 64 MiB stored. The rest of the
	// 1 GiB volume is zeros or ext4 metadata that deflates, so not much more.
	if addedFirst < size || addedFirst > size+4*mib {
		t.Errorf("the first snapshot added %.2f MiB to the store, want the 64 MiB of random data written and at most 4 MiB more",
			float64(addedFirst)/mib)
	}
	// The second stores only chunks whose bytes differ. The changed MiB of random data lies in at most 2 chunks
	// (2 here, as it is not aligned to them): at most 2 MiB that cannot compress. ext4 also rewrites a few metadata blocks (the marker's inode and data
	// block, bitmaps, group descriptors, the journal's blocks), each in a chunk that then differs; those chunks
	// are mostly zeros and deflate to a few KiB. So at least the changed MiB, and at most 4 MiB: the 2 data
	// chunks plus as much again for metadata. A store that copied the volume, or the data, would add ≥64 MiB.
	if addedSecond < changeLen || addedSecond > 4*mib {
		t.Errorf("the second snapshot added %.2f MiB to the store, want between 1 and 4 MiB (about the 1 MiB changed)", float64(addedSecond)/mib)
	}

	// A volume restored from each snapshot has the content of its moment.
	restore := func(snap, device string) string {
		t.Helper()
		var v struct {
			VolumeId, SnapshotId string
			Size                 int
		}
		cli(&v, "ec2", "create-volume", "--snapshot-id", snap, "--availability-zone", az, "--volume-type", "gp3")
		if v.SnapshotId != snap || v.Size != 1 {
			t.Fatalf("create-volume from %s answered %+v", snap, v)
		}
		cli(nil, "ec2", "wait", "volume-available", "--volume-ids", v.VolumeId)
		cli(nil, "ec2", "attach-volume", "--volume-id", v.VolumeId, "--instance-id", id, "--device", device)
		cli(nil, "ec2", "wait", "volume-in-use", "--volume-ids", v.VolumeId)
		return v.VolumeId
	}
	fromFirst, fromSecond := restore(first, "/dev/sdg"), restore(second, "/dev/sdh")
	out := sshRun(t, pem, target, "sudo mkdir -p /r1 /r2 && sudo mount /dev/xvdg /r1 && sudo mount /dev/xvdh /r2 && "+
		"cat /r1/marker /r2/marker && sha256sum /r1/big /r2/big | cut -d' ' -f1 && sudo umount /r1 /r2 /data")
	want := []string{"v1", "v2", sha256Hex(v1), sha256Hex(v2)}
	if got := strings.Fields(out); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("restored volumes read %q, want markers v1, v2 and the checksums %s, %s", out, want[2], want[3])
	}

	// Nothing left: the instance gives the volumes back, then they and the snapshots are deleted.
	cli(nil, "ec2", "terminate-instances", "--instance-ids", id)
	cli(nil, "ec2", "wait", "instance-terminated", "--instance-ids", id)
	for _, v := range []string{vol.VolumeId, fromFirst, fromSecond} {
		cli(nil, "ec2", "wait", "volume-available", "--volume-ids", v)
		cli(nil, "ec2", "delete-volume", "--volume-id", v)
	}
	cli(nil, "ec2", "delete-snapshot", "--snapshot-id", first)
	cli(nil, "ec2", "delete-snapshot", "--snapshot-id", second)
	s.assertNoHostObjectsFor(t, id)
	if out, _ := exec.Command("losetup", "-a").Output(); strings.Contains(string(out), s.DataDir) {
		t.Errorf("loop devices still use the data directory:\n%s", out)
	}
}

// pseudoRandom is n bytes that do not compress, the same for the same seed.
func pseudoRandom(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sshInput runs command on target with input on its standard input. The instance's sshd is already known to be up.
func sshInput(t *testing.T, pem, target string, input []byte, command string) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/ssh", sshArgs(pem, target, command)...)
	cmd.Stdin = bytes.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh %s %q: %v: %s", target, command, err, out)
	}
	return string(out)
}

// storeBytes is the size of the files of the snapshot store at dir: what its chunks and manifests take on disk.
// Its tmp directory holds only files being written, so it is left out.
func storeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "tmp" && filepath.Dir(path) == dir {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("measuring the snapshot store: %v", err)
	}
	return total
}
