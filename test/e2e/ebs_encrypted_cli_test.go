package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// TestEBSEncryptedAtRestCLI is the acceptance "the plaintext written inside the instance is not found in the host
// files", with the AWS CLI. An encrypted volume and an unencrypted control volume are attached to one instance,
// formatted and mounted, and the same distinctive marker is written to both. Every file under the server's data
// directory is then scanned for the marker: it must be found in the control volume's file (which proves the scan
// sees what the guest wrote) and nowhere else: not in the encrypted volume's file, nor in the snapshot store after
// a snapshot of it, nor in a volume restored from that snapshot, which stays encrypted and reads the marker back.
func TestEBSEncryptedAtRestCLI(t *testing.T) {
	testutil.RequiresRoot(t)
	requireTool(t, "/usr/bin/aws")
	requireTool(t, "/usr/bin/ssh")
	s := startServer(t, "", withCompute())
	root := keys("test", "test", "")
	cli := s.cliAs(t, root)
	pem, sshGroup := s.sshAccess(t, cli, t.TempDir(), "enc")

	// 160 random bits: nothing on the host holds it by chance, ciphertext included.
	secret := make([]byte, 20)
	_, _ = rand.Read(secret)
	marker := "overcast-secret-" + hex.EncodeToString(secret)

	id, az := s.runDebian(t, cli, root, "enc", sshGroup)

	type volume struct {
		VolumeId, KmsKeyId, SnapshotId string
		Encrypted                      bool
	}
	attach := func(v volume, device string) {
		t.Helper()
		cli(nil, "ec2", "wait", "volume-available", "--volume-ids", v.VolumeId)
		cli(nil, "ec2", "attach-volume", "--volume-id", v.VolumeId, "--instance-id", id, "--device", device)
		cli(nil, "ec2", "wait", "volume-in-use", "--volume-ids", v.VolumeId)
	}
	var enc, plain volume
	cli(&enc, "ec2", "create-volume", "--size", "1", "--volume-type", "gp3", "--availability-zone", az, "--encrypted")
	if !enc.Encrypted || enc.KmsKeyId == "" {
		t.Fatalf("create-volume --encrypted answered %+v", enc)
	}
	cli(&plain, "ec2", "create-volume", "--size", "1", "--volume-type", "gp3", "--availability-zone", az)
	if plain.Encrypted {
		t.Fatalf("the control volume is encrypted: %+v", plain)
	}
	attach(enc, "/dev/sdf")
	attach(plain, "/dev/sdg")

	// The marker is only ever on the data volumes: `yes` makes it outside sudo, so no log line of the guest (on
	// its root disk, which is under the data directory too) names it.
	target := "admin@" + s.describeInstance(t, id).PublicIpAddress
	sshRun(t, pem, target, "for d in xvdf xvdg; do sudo mkfs.ext4 -q /dev/$d && sudo mkdir -p /mnt/$d && sudo mount /dev/$d /mnt/$d || exit 1; done")
	sshRun(t, pem, target, "yes "+marker+" | head -c 4M | sudo tee /mnt/xvdf/secret /mnt/xvdg/secret >/dev/null && sync")
	// Sanity: inside the instance, the encrypted volume reads back the plaintext.
	const lines = 4 * mib / 57 // 56 characters and a newline a line
	if out := sshRun(t, pem, target, "grep -c "+marker+" /mnt/xvdf/secret"); strings.TrimSpace(out) != strconv.Itoa(lines) {
		t.Fatalf("the instance reads %q lines of the marker from the encrypted volume, want %d", out, lines)
	}

	plainFile := filepath.Join(s.DataDir, "volumes", "volumes", plain.VolumeId+".img")
	encFile := filepath.Join(s.DataDir, "volumes", "volumes", enc.VolumeId+".img")
	assertOnlyIn := func(when string) {
		t.Helper()
		found, skipped := scanForMarker(t, s.DataDir, []byte(marker))
		if !slices.Equal(found, []string{plainFile}) {
			t.Errorf("%s: the marker is in %v; want it only in the unencrypted control volume %s", when, found, plainFile)
		}
		t.Logf("%s: marker only in %v; mount points not scanned (plaintext views and machine root filesystems): %v", when, found, skipped)
	}
	// The ciphertext is really on the host: the encrypted volume's file holds at least the 4 MiB written.
	if n := dataBytes(t, encFile); n < 4*mib {
		t.Fatalf("the encrypted volume's file %s holds only %d bytes of data", encFile, n)
	}
	assertOnlyIn("after the write")

	// A snapshot of the encrypted volume is stored as ciphertext chunks.
	var snap struct {
		SnapshotId string
		Encrypted  bool
	}
	cli(&snap, "ec2", "create-snapshot", "--volume-id", enc.VolumeId)
	cli(nil, "ec2", "wait", "snapshot-completed", "--snapshot-ids", snap.SnapshotId)
	if !snap.Encrypted {
		t.Errorf("the snapshot of an encrypted volume is not encrypted: %+v", snap)
	}
	if n := storeBytes(t, filepath.Join(s.DataDir, "snapshots")); n < 4*mib {
		t.Fatalf("the snapshot store holds only %d bytes", n)
	}
	assertOnlyIn("after a snapshot")

	// A volume made from it is encrypted too, and reads the plaintext in the instance.
	var restored volume
	cli(&restored, "ec2", "create-volume", "--snapshot-id", snap.SnapshotId, "--availability-zone", az)
	if !restored.Encrypted || restored.KmsKeyId != enc.KmsKeyId {
		t.Errorf("a volume from the encrypted snapshot: %+v, want encrypted under %s", restored, enc.KmsKeyId)
	}
	attach(restored, "/dev/sdh")
	sshRun(t, pem, target, "sudo mkdir -p /mnt/xvdh && sudo mount /dev/xvdh /mnt/xvdh")
	if out := sshRun(t, pem, target, "grep -c "+marker+" /mnt/xvdh/secret"); strings.TrimSpace(out) != strconv.Itoa(lines) {
		t.Fatalf("the instance reads %q lines of the marker from the restored volume, want %d", out, lines)
	}
	assertOnlyIn("after a restore")

	sshRun(t, pem, target, "sudo umount /mnt/xvdf /mnt/xvdg /mnt/xvdh")
	cli(nil, "ec2", "terminate-instances", "--instance-ids", id)
	cli(nil, "ec2", "wait", "instance-terminated", "--instance-ids", id)
	for _, v := range []string{enc.VolumeId, plain.VolumeId, restored.VolumeId} {
		cli(nil, "ec2", "wait", "volume-available", "--volume-ids", v)
		cli(nil, "ec2", "delete-volume", "--volume-id", v)
	}
	cli(nil, "ec2", "delete-snapshot", "--snapshot-id", snap.SnapshotId)
	s.assertNoHostObjectsFor(t, id)
	if out, _ := exec.Command("losetup", "-a").Output(); strings.Contains(string(out), s.DataDir) {
		t.Errorf("loop devices still use the data directory:\n%s", out)
	}
}

// scanForMarker reads every regular file under dir that is on dir's own filesystem and returns those holding
// marker. What is mounted under dir is skipped and returned: those are views Overcast serves (an encrypted
// volume's FUSE plaintext file, a machine's root filesystem), not bytes on the host's disk.
func scanForMarker(t *testing.T, dir string, marker []byte) (found, skipped []string) {
	t.Helper()
	top, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	dev := top.Sys().(*syscall.Stat_t).Dev
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone while walking
		}
		if err != nil {
			return err
		}
		// Lstat, not the directory entry's type: a FUSE file mounted over a regular file shows the file's type.
		info, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if info.Sys().(*syscall.Stat_t).Dev != dev {
			skipped = append(skipped, path)
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		hit, err := fileHolds(path, marker)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if hit {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", dir, err)
	}
	return found, skipped
}

// fileHolds says whether the file at path contains marker. It reads only the file's data extents: volume files
// are sparse, and their holes read as zeros.
func fileHolds(path string, marker []byte) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 4*mib)
	keep := len(marker) - 1 // the tail of one read that may begin the marker
	for off := int64(0); ; {
		start, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return false, nil // no data after off
		}
		if err != nil {
			return false, err
		}
		end, err := unix.Seek(int(f.Fd()), start, unix.SEEK_HOLE)
		if err != nil {
			return false, err
		}
		tail := 0 // buf[:tail] is the end of the previous read, which may hold the marker's beginning
		for pos := start; pos < end; {
			n, err := f.ReadAt(buf[tail:tail+int(min(int64(len(buf)-tail), end-pos))], pos)
			if bytes.Contains(buf[:tail+n], marker) {
				return true, nil
			}
			if err != nil && err != io.EOF {
				return false, err
			}
			if n == 0 {
				break
			}
			pos += int64(n)
			have := tail + n
			tail = min(keep, have)
			copy(buf, buf[have-tail:have])
		}
		off = end
	}
}

// dataBytes is how many bytes of the file at path are data rather than holes.
func dataBytes(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	for off := int64(0); ; {
		start, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return total
		}
		if err != nil {
			t.Fatal(err)
		}
		end, err := unix.Seek(int(f.Fd()), start, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		total += end - start
		off = end
	}
}
