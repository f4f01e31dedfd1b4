package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	"github.com/overcast-cloud/overcast/internal/testutil"
)

// TestEC2SDKFlow drives the instance lifecycle with aws-sdk-go-v2: an imported key, a group, six busybox
// instances launched in one call with tags, the SDK's own waiters, filters and pagination.
func TestEC2SDKFlow(t *testing.T) {
	testutil.RequiresRoot(t)
	s := startServer(t, "", withCompute())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := ec2.NewFromConfig(s.rootConfig())

	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	imported, err := c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("laptop"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(sshPub)})
	if err != nil {
		t.Fatal(err)
	}
	wantFP := strings.TrimPrefix(ssh.FingerprintSHA256(sshPub), "SHA256:")
	if fp := aws.ToString(imported.KeyFingerprint); strings.TrimRight(fp, "=") != strings.TrimRight(wantFP, "=") {
		t.Fatalf("ed25519 fingerprint %q, ssh-keygen's is %q", fp, wantFP)
	}
	_, err = c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("laptop"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(sshPub)})
	wantCode(t, err, "InvalidKeyPair.Duplicate", 400)

	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("fleet"), Description: aws.String("fleet")})
	if err != nil {
		t.Fatal(err)
	}
	ami := s.imageID(t, "busybox")
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(ami), InstanceType: types.InstanceTypeT3Nano, MinCount: aws.Int32(6), MaxCount: aws.Int32(6),
		KeyName: aws.String("laptop"), SecurityGroupIds: []string{aws.ToString(sg.GroupId)},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("fleet")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, i := range run.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	if len(ids) != 6 || aws.ToString(run.ReservationId) == "" {
		t.Fatalf("run: %d instances, reservation %q", len(ids), aws.ToString(run.ReservationId))
	}
	if err := ec2.NewInstanceRunningWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 3*time.Minute); err != nil {
		t.Fatal(err)
	}

	// Filters and pagination.
	var seen []string
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{
		MaxResults: aws.Int32(5),
		Filters: []types.Filter{
			{Name: aws.String("tag:Name"), Values: []string{"fleet"}},
			{Name: aws.String("instance-state-name"), Values: []string{"running"}},
			{Name: aws.String("instance.group-id"), Values: []string{aws.ToString(sg.GroupId)}},
		},
	})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				seen = append(seen, aws.ToString(i.InstanceId))
				if i.State.Code == nil || *i.State.Code != 16 || aws.ToString(i.PrivateIpAddress) == "" || aws.ToString(i.KeyName) != "laptop" {
					t.Fatalf("instance: %+v", i)
				}
			}
		}
	}
	if len(seen) != 6 || pages != 2 {
		t.Fatalf("paginated %d instances in %d pages", len(seen), pages)
	}
	none, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"other"}}}})
	if err != nil || len(none.Reservations) != 0 {
		t.Fatalf("filtered out: %+v %v", none, err)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantCode(t, err, "InvalidInstanceID.NotFound", 400)
	_, err = c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids[:1]})
	if err != nil {
		t.Fatalf("starting a running instance is a no-op on AWS: %v", err)
	}

	// The machines are real: each private address answers inside its subnet's namespace.
	for _, id := range ids[:2] {
		if _, err := c.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewInstanceTerminatedWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		s.assertNoHostObjectsFor(t, id)
	}
}

// inInstanceNet runs a host command inside an instance's network namespace: what the network lets through
// depends only on the namespace, so this is how the isolation tests speak as the instance.
func (s *server) inInstanceNet(id string, args ...string) (string, error) {
	ns := s.cfg.prefix + "-" + id
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

// hostAddrs are the host's own IPv4 addresses outside loopback.
func hostAddrs(t *testing.T) []string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range ifaces {
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				out = append(out, ipn.IP.String())
			}
		}
	}
	return out
}

// TestEC2Isolation checks that instances reach each other only where a group allows it, and never the host
// apart from the metadata service.
func TestEC2Isolation(t *testing.T) {
	testutil.RequiresRoot(t)
	curl := testutil.RequiresTool(t, "curl")
	s := startServer(t, "", withCompute())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := ec2.NewFromConfig(s.rootConfig())
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("iso"), Description: aws.String("iso")})
	if err != nil {
		t.Fatal(err)
	}
	serve := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\nmkdir -p /tmp/www && hostname > /tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www\n"))
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(s.imageID(t, "busybox")), InstanceType: types.InstanceTypeT3Nano, MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		SecurityGroupIds: []string{aws.ToString(sg.GroupId)}, UserData: aws.String(serve),
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := aws.ToString(run.Instances[0].InstanceId), aws.ToString(run.Instances[1].InstanceId)
	if err := ec2.NewInstanceRunningWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{a, b}}, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	aIP := s.describeInstance(t, a).PrivateIpAddress
	fetch := func(from, url string) (string, error) {
		return s.inInstanceNet(from, curl, "-sf", "-m", "2", url)
	}
	// A serves on 8080 inside its own namespace.
	eventually(t, 30*time.Second, func() (string, error) { return fetch(a, "http://127.0.0.1:8080/") })

	if out, err := fetch(b, "http://"+aIP+":8080/"); err == nil {
		t.Fatalf("B reached A with no rule allowing it: %q", out)
	}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: []types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: sg.GroupId}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	got := eventually(t, 5*time.Second, func() (string, error) { return fetch(b, "http://"+aIP+":8080/") })
	if !strings.HasPrefix(got, "ip-") {
		t.Fatalf("B's fetch of A: %q", got)
	}

	// The host is out of reach, whatever its address; the metadata service is not.
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(conn, "HTTP/1.0 200 OK\r\n\r\nhost\n")
			conn.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, addr := range hostAddrs(t) {
		if out, err := fetch(a, fmt.Sprintf("http://%s:%d/", addr, port)); err == nil {
			t.Fatalf("instance reached the host at %s: %q", addr, out)
		}
	}
	id, err := fetch(a, "http://169.254.169.254/latest/meta-data/instance-id")
	if err != nil || id != a {
		t.Fatalf("metadata from A: %q %v", id, err)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{a, b}}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewInstanceTerminatedWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{a, b}}, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
}
