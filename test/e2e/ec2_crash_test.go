package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// TestEC2CrashRecovery kills Overcast with SIGKILL while an instance serves a page, starts it again on the
// same data directory, and finds the instance taken back: running, reachable at the same public address,
// still filtered by its group, and root in it mounts a volume attached after the crash (the mount guard's
// holder kept the seccomp notify fd). An instance with an encrypted root volume (whose plaintext died with
// the process) is rebooted onto new devices and serves again. Terminating them then leaves nothing behind.
func TestEC2CrashRecovery(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	s := startServer(t, dir, withCompute())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := ec2.NewFromConfig(s.rootConfig())
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId,
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), CidrIp: aws.String("0.0.0.0/0")}); err != nil {
		t.Fatal(err)
	}
	// It also formats and mounts the volume it will be given after the crash, and publishes the outcome.
	serve := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\nmkdir -p /www && wget -qO /www/index.html http://169.254.169.254/latest/meta-data/instance-id && busybox httpd -p 80 -h /www\n" +
		"(while [ ! -b /dev/xvdf ]; do sleep 0.2; done; mke2fs /dev/xvdf >/dev/null 2>&1; mkdir -p /data\n" +
		" if mount -t ext2 /dev/xvdf /data; then echo kept > /data/f; r=mounted-$(cat /data/f); umount /data; else r=mount-failed; fi\n" +
		" echo $r > /www/m.tmp && mv /www/m.tmp /www/mount.txt) &\n"))
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(s.imageID(t, "busybox")), InstanceType: types.InstanceTypeT2Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SecurityGroupIds: []string{aws.ToString(sg.GroupId)}, UserData: aws.String(serve)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	// A second instance has an encrypted root volume, whose plaintext the Overcast process serves; its page
	// is started at every boot from /etc/rc.local.
	bootServe := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\nmkdir -p /www && wget -qO /www/index.html http://169.254.169.254/latest/meta-data/instance-id\n" +
		"printf '#!/bin/sh\\nbusybox httpd -p 80 -h /www\\n' > /etc/rc.local && chmod +x /etc/rc.local && sync && /etc/rc.local\n"))
	encRun, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(s.imageID(t, "busybox")), InstanceType: types.InstanceTypeT2Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SecurityGroupIds: []string{aws.ToString(sg.GroupId)}, UserData: aws.String(bootServe),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{Encrypted: aws.Bool(true)}}}})
	if err != nil {
		t.Fatal(err)
	}
	encID := aws.ToString(encRun.Instances[0].InstanceId)
	if err := ec2.NewInstanceRunningWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id, encID}}, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	ip := s.describeInstance(t, id).PublicIpAddress
	page := "http://" + ip + "/"
	if got := eventually(t, 30*time.Second, func() (string, error) { return httpGet(page, 2*time.Second) }); strings.TrimSpace(got) != id {
		t.Fatalf("page before the crash: %q", got)
	}
	encPage := "http://" + s.describeInstance(t, encID).PublicIpAddress + "/"
	if got := eventually(t, 30*time.Second, func() (string, error) { return httpGet(encPage, 2*time.Second) }); strings.TrimSpace(got) != encID {
		t.Fatalf("page of the encrypted-root instance before the crash: %q", got)
	}

	s.Kill()
	s2 := startServer(t, dir, sameNetwork(s))
	c = ec2.NewFromConfig(s2.rootConfig())
	inst := s2.describeInstance(t, id)
	if inst.State.Name != "running" || inst.PublicIpAddress != ip {
		t.Fatalf("after the crash: %+v", inst)
	}
	if got, err := httpGet(page, 2*time.Second); err != nil || strings.TrimSpace(got) != id {
		t.Fatalf("page after the crash: %q %v", got, err)
	}
	vol, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: run.Instances[0].Placement.AvailabilityZone,
		Size: aws.Int32(1), VolumeType: types.VolumeTypeGp3})
	if err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeAvailableWaiter(c).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{*vol.VolumeId}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: vol.VolumeId, InstanceId: &id, Device: aws.String("/dev/sdf")}); err != nil {
		t.Fatal(err)
	}
	if got := eventually(t, 60*time.Second, func() (string, error) { return httpGet(page+"mount.txt", 2*time.Second) }); strings.TrimSpace(got) != "mounted-kept" {
		t.Fatalf("mount in the instance after the crash: %q", got)
	}
	// The encrypted-root instance was rebooted onto new devices: running, its disk intact, serving again.
	if inst := s2.describeInstance(t, encID); inst.State.Name != "running" {
		t.Fatalf("the encrypted-root instance after the crash: %+v", inst)
	}
	if got, err := eventuallyErr(60*time.Second, func() (string, error) { return httpGet(encPage, 2*time.Second) }); err != nil || strings.TrimSpace(got) != encID {
		con, _ := c.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: &encID, Latest: aws.Bool(true)})
		out, _ := base64.StdEncoding.DecodeString(aws.ToString(con.Output))
		t.Fatalf("page of the encrypted-root instance after the crash: %q %v; console:\n%s", got, err, out)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{encID}}); err != nil {
		t.Fatal(err)
	}
	// Still filtered: revoking the rule closes the port.
	if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: sg.GroupId,
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), CidrIp: aws.String("0.0.0.0/0")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if got, err := httpGet(page, 2*time.Second); err == nil {
		t.Fatalf("port 80 open after revoke: %q", got)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewInstanceTerminatedWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id, encID}}, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	s2.assertNoHostObjectsFor(t, id)
	s2.assertNoHostObjectsFor(t, encID)
	if err := ec2.NewVolumeAvailableWaiter(c).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{*vol.VolumeId}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: vol.VolumeId}); err != nil {
		t.Fatal(err)
	}
	// The mount guards' holders ended with their machines.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if cmdline, _ := os.ReadFile(p); bytes.Contains(cmdline, []byte("mount-guard-holder")) &&
			(bytes.Contains(cmdline, []byte(id)) || bytes.Contains(cmdline, []byte(encID))) {
			t.Errorf("a mount guard holder is left: %s", bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
}
