package imds

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func twoInstances(t *testing.T, clock *fakeClock) (*testServer, *fakeSource) {
	t.Helper()
	src := &fakeSource{}
	src.put(instanceA())
	src.put(instanceB())
	cfg := Config{Source: src}
	if clock != nil {
		cfg.Clock = clock.Now
	}
	return serve(t, cfg), src
}

func TestIMDSv1(t *testing.T) {
	ts, _ := twoInstances(t, nil)
	a := ts.client(t, ipA)
	r := a.get(t, "/latest/meta-data/instance-id")
	want(t, "v1 instance-id", r, 200, "i-0aaaaaaaaaaaaaaa1")
	if ct := r.header.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	if r.header.Get("Server") != "EC2ws" {
		t.Errorf("Server = %q, want EC2ws", r.header.Get("Server"))
	}
	// A dated version serves the same tree; an unknown one does not exist.
	want(t, "dated version", a.get(t, "/2009-04-04/meta-data/instance-id"), 200, "i-0aaaaaaaaaaaaaaa1")
	wantStatus(t, "unknown version", a.get(t, "/1999-01-01/meta-data/instance-id"), 404)
}

func TestIMDSv2(t *testing.T) {
	ts, _ := twoInstances(t, nil)
	b := ts.client(t, ipB) // B requires tokens
	wantStatus(t, "B v1", b.get(t, "/latest/meta-data/instance-id"), 401)
	wantStatus(t, "B v1 listing", b.get(t, "/latest/meta-data/"), 401)

	r := b.do(t, http.MethodPut, "/latest/api/token", "X-aws-ec2-metadata-token-ttl-seconds", "21600")
	if r.status != 200 || r.header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != "21600" {
		t.Fatalf("PUT token = %d %q ttl header %q", r.status, r.body, r.header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
	}
	tok := r.body
	r = b.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", tok)
	want(t, "B v2 instance-id", r, 200, "i-0bbbbbbbbbbbbbbb2")
	if left, _ := strconv.Atoi(r.header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds")); left < 21590 || left > 21600 {
		t.Errorf("remaining ttl header = %q", r.header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
	}

	// A forged or mangled token is refused even where tokens are optional.
	a := ts.client(t, ipA)
	wantStatus(t, "A garbage token", a.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", "not-a-token"), 401)
	mangled := []byte(a.token(t, "60"))
	mangled[5] ^= 1
	wantStatus(t, "A mangled token", a.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", string(mangled)), 401)
	wantStatus(t, "A empty token", a.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", ""), 401)
}

func TestTokenRequestValidation(t *testing.T) {
	ts, _ := twoInstances(t, nil)
	a := ts.client(t, ipA)
	put := func(headers ...string) response {
		return a.do(t, http.MethodPut, "/latest/api/token", headers...)
	}
	wantStatus(t, "no ttl", put(), 400)
	for _, ttl := range []string{"0", "-1", "21601", "abc", "1.5", ""} {
		wantStatus(t, "ttl "+ttl, put("X-aws-ec2-metadata-token-ttl-seconds", ttl), 400)
	}
	for _, ttl := range []string{"1", "21600"} {
		wantStatus(t, "ttl "+ttl, put("X-aws-ec2-metadata-token-ttl-seconds", ttl), 200)
	}
	// A token request that went through a proxy is refused, as AWS refuses it.
	wantStatus(t, "X-Forwarded-For", put("X-aws-ec2-metadata-token-ttl-seconds", "60", "X-Forwarded-For", "10.0.0.9"), 403)

	r := a.get(t, "/latest/api/token")
	wantStatus(t, "GET token", r, 405)
	if r.header.Get("Allow") != "OPTIONS, PUT" {
		t.Errorf("Allow = %q", r.header.Get("Allow"))
	}
	wantStatus(t, "POST metadata", a.do(t, http.MethodPost, "/latest/meta-data/instance-id"), 405)
}

func TestTokenExpires(t *testing.T) {
	clock := newClock()
	ts, _ := twoInstances(t, clock)
	b := ts.client(t, ipB)
	tok := b.token(t, "60")
	clock.Advance(59 * time.Second)
	r := b.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", tok)
	want(t, "after 59s", r, 200, "i-0bbbbbbbbbbbbbbb2")
	if r.header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != "1" {
		t.Errorf("remaining ttl = %q, want 1", r.header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
	}
	clock.Advance(time.Second)
	wantStatus(t, "after 60s", b.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", tok), 401)
	// A fresh token works again.
	want(t, "new token", b.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", b.token(t, "60")), 200, "i-0bbbbbbbbbbbbbbb2")
}

// One instance can never read another's data: which instance asks is the source address, and a token from
// one instance presented from another's address is refused.
func TestSpoofing(t *testing.T) {
	ts, _ := twoInstances(t, nil)
	a, b := ts.client(t, ipA), ts.client(t, ipB)
	tokA := a.token(t, "600")
	wantStatus(t, "A's token from B", b.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", tokA), 401)
	wantStatus(t, "A's token from B, user-data", b.get(t, "/latest/user-data", "X-aws-ec2-metadata-token", tokA), 401)
	tokB := b.token(t, "600")
	wantStatus(t, "B's token from A", a.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", tokB), 401)
	want(t, "A's token from A", a.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", tokA), 200, "i-0aaaaaaaaaaaaaaa1")
	// B has its own answers, never A's.
	want(t, "B's local-ipv4", b.get(t, "/latest/meta-data/local-ipv4", "X-aws-ec2-metadata-token", tokB), 200, "127.0.0.3")
	wantStatus(t, "B's user-data", b.get(t, "/latest/user-data", "X-aws-ec2-metadata-token", tokB), 404)

	// An address no instance owns gets nothing.
	stranger := ts.client(t, netip.MustParseAddr("127.0.0.9"))
	wantStatus(t, "stranger", stranger.get(t, "/latest/meta-data/instance-id"), 403)
	wantStatus(t, "stranger token", stranger.do(t, http.MethodPut, "/latest/api/token", "X-aws-ec2-metadata-token-ttl-seconds", "60"), 403)
}

func TestHopLimit(t *testing.T) {
	ts, src := twoInstances(t, nil)
	src.update(ipA, func(i *Instance) { i.HopLimit = 3 })
	a := ts.client(t, ipA) // one keep-alive connection
	// Before any PUT the connection has the system's default TTL.
	a.get(t, "/latest/meta-data/instance-id")
	conn := ts.serverConn(t, ipA)
	def, err := sockHops(conn)
	if err != nil {
		t.Fatal(err)
	}
	if def == 3 {
		t.Fatalf("default TTL is already 3; the test cannot tell")
	}
	tok := a.token(t, "60")
	if got, _ := sockHops(ts.serverConn(t, ipA)); got != 3 {
		t.Fatalf("TTL after PUT = %d, want the hop limit 3", got)
	}
	if ts.serverConn(t, ipA) != conn {
		t.Fatal("the client opened a second connection; the test needs keep-alive")
	}
	// Only the PUT response is limited: the next GET on the same connection leaves with the default again.
	a.get(t, "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token", tok)
	if got, _ := sockHops(conn); got != def {
		t.Fatalf("TTL after GET = %d, want the default %d", got, def)
	}

	b := ts.client(t, ipB)
	b.token(t, "60")
	if got, _ := sockHops(ts.serverConn(t, ipB)); got != 2 {
		t.Fatalf("B's TTL after PUT = %d, want 2", got)
	}
}

func TestEndpointDisabled(t *testing.T) {
	ts, src := twoInstances(t, nil)
	src.update(ipA, func(i *Instance) { i.HTTPEndpoint = "disabled" })
	a := ts.client(t, ipA)
	wantStatus(t, "disabled GET", a.get(t, "/latest/meta-data/instance-id"), 403)
	wantStatus(t, "disabled PUT", a.do(t, http.MethodPut, "/latest/api/token", "X-aws-ec2-metadata-token-ttl-seconds", "60"), 403)
	// Turning it back on takes effect at once.
	src.update(ipA, func(i *Instance) { i.HTTPEndpoint = "enabled" })
	want(t, "enabled again", a.get(t, "/latest/meta-data/instance-id"), 200, "i-0aaaaaaaaaaaaaaa1")
}

func TestCategories(t *testing.T) {
	ts, _ := twoInstances(t, nil)
	a := ts.client(t, ipA)
	md := "/latest/meta-data/"
	for _, c := range []struct{ path, body string }{
		{"/", strings.Join(versions, "\n")},
		{"/latest", "dynamic\nmeta-data\nuser-data"},
		{"/latest/", "dynamic\nmeta-data\nuser-data"},
		{md, "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nhostname\ninstance-action\n" +
			"instance-id\ninstance-life-cycle\ninstance-type\nlocal-hostname\nlocal-ipv4\nmac\nmetrics/\nnetwork/\n" +
			"placement/\nprofile\npublic-hostname\npublic-ipv4\npublic-keys/\nreservation-id\nsecurity-groups\nservices/"},
		{"/latest/meta-data", ""}, // same listing, checked below
		{md + "ami-id", "ami-0abcdef1234567890"},
		{md + "ami-launch-index", "0"},
		{md + "ami-manifest-path", "(unknown)"},
		{md + "block-device-mapping/", "ami\nroot"},
		{md + "block-device-mapping/ami", "/dev/xvda"},
		{md + "block-device-mapping/root", "/dev/xvda"},
		{md + "hostname", "ip-127-0-0-2.ec2.internal"},
		{md + "instance-action", "none"},
		{md + "instance-id", "i-0aaaaaaaaaaaaaaa1"},
		{md + "instance-life-cycle", "on-demand"},
		{md + "instance-type", "t2.micro"},
		{md + "local-hostname", "ip-127-0-0-2.ec2.internal"},
		{md + "local-ipv4", "127.0.0.2"},
		{md + "mac", "0e:00:00:00:00:0a"},
		{md + "metrics/", "vhostmd"},
		{md + "metrics/vhostmd", `<?xml version="1.0" encoding="UTF-8"?>`},
		{md + "network/", "interfaces/"},
		{md + "network/interfaces/", "macs/"},
		{md + "network/interfaces/macs/", "0e:00:00:00:00:0a/"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/", "device-number\ninterface-id\nipv4-associations/\n" +
			"local-hostname\nlocal-ipv4s\nmac\nowner-id\npublic-hostname\npublic-ipv4s\nsecurity-group-ids\n" +
			"security-groups\nsubnet-id\nsubnet-ipv4-cidr-block\nvpc-id\nvpc-ipv4-cidr-block\nvpc-ipv4-cidr-blocks"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/device-number", "0"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/interface-id", "eni-0aaaaaaaaaaaaaaa1"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/ipv4-associations/203.0.113.10", "127.0.0.2"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/local-hostname", "ip-127-0-0-2.ec2.internal"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/local-ipv4s", "127.0.0.2"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/mac", "0e:00:00:00:00:0a"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/owner-id", "123456789012"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/public-hostname", "ec2-203-0-113-10.compute-1.amazonaws.com"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/public-ipv4s", "203.0.113.10"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/security-group-ids", "sg-0aaaaaaaaaaaaaaa1\nsg-0aaaaaaaaaaaaaaa2"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/security-groups", "WebAccess\ndefault"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/subnet-id", "subnet-0aaaaaaaaaaaaaaa1"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/subnet-ipv4-cidr-block", "172.31.0.0/20"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/vpc-id", "vpc-0aaaaaaaaaaaaaaa1"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/vpc-ipv4-cidr-block", "172.31.0.0/16"},
		{md + "network/interfaces/macs/0e:00:00:00:00:0a/vpc-ipv4-cidr-blocks", "172.31.0.0/16"},
		{md + "placement/", "availability-zone\navailability-zone-id\nregion"},
		{md + "placement/availability-zone", "us-east-1a"},
		{md + "placement/availability-zone-id", "use1-az6"},
		{md + "placement/region", "us-east-1"},
		{md + "profile", "default-hvm"},
		{md + "public-hostname", "ec2-203-0-113-10.compute-1.amazonaws.com"},
		{md + "public-ipv4", "203.0.113.10"},
		{md + "public-keys/", "0=my-key"},
		{md + "public-keys/0/", "openssh-key"},
		{md + "public-keys/0/openssh-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA my-key\n"},
		{md + "reservation-id", "r-0aaaaaaaaaaaaaaa1"},
		{md + "security-groups", "WebAccess\ndefault"},
		{md + "services/", "domain\npartition"},
		{md + "services/domain", "amazonaws.com"},
		{md + "services/partition", "aws"},
		{"/latest/user-data", "#!/bin/sh\necho hello\n"},
		{"/latest/dynamic/", "instance-identity/"},
		{"/latest/dynamic/instance-identity/", "document"},
	} {
		r := a.get(t, c.path)
		if c.path == "/latest/meta-data" {
			want(t, c.path, r, 200, a.get(t, md).body)
			continue
		}
		want(t, c.path, r, 200, c.body)
	}
	if ct := a.get(t, "/latest/user-data").header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("user-data Content-Type = %q", ct)
	}

	// Every listing AWS serves is in alphabetical order.
	lines := strings.Split(a.get(t, md).body, "\n")
	if !slices.IsSorted(lines) {
		t.Errorf("meta-data listing is not sorted: %q", lines)
	}

	for _, p := range []string{md + "nope", md + "instance-id/extra", md + "iam/", md + "iam/info",
		"/latest/dynamic/instance-identity/signature", "/latest/nope", "/latest/user-data/x"} {
		r := a.get(t, p)
		wantStatus(t, p, r, 404)
		if !strings.Contains(r.body, "<title>404 - Not Found</title>") || r.header.Get("Content-Type") != "text/html" {
			t.Errorf("%s: 404 body %q (%s)", p, r.body, r.header.Get("Content-Type"))
		}
	}
}

func TestIdentityDocument(t *testing.T) {
	ts, _ := twoInstances(t, nil)
	a := ts.client(t, ipA)
	r := a.get(t, "/latest/dynamic/instance-identity/document")
	wantStatus(t, "document", r, 200)
	if !strings.HasPrefix(r.body, "{\n  \"accountId\" : \"123456789012\",\n") {
		t.Errorf("document is not laid out as AWS's:\n%s", r.body)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatalf("document is not JSON: %v\n%s", err, r.body)
	}
	wantDoc := map[string]any{
		"accountId": "123456789012", "architecture": "x86_64", "availabilityZone": "us-east-1a",
		"billingProducts": nil, "devpayProductCodes": nil, "marketplaceProductCodes": nil,
		"imageId": "ami-0abcdef1234567890", "instanceId": "i-0aaaaaaaaaaaaaaa1", "instanceType": "t2.micro",
		"kernelId": nil, "pendingTime": "2025-06-01T11:59:30Z", "privateIp": "127.0.0.2", "ramdiskId": nil,
		"region": "us-east-1", "version": "2017-09-30",
	}
	for k, v := range wantDoc {
		got, ok := doc[k]
		if !ok || got != v {
			t.Errorf("document[%s] = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if len(doc) != len(wantDoc) {
		t.Errorf("document has %d fields, want %d: %s", len(doc), len(wantDoc), r.body)
	}
}

// What an instance without a public address, key pair, user data or zone id sees: those categories are
// absent from the listings and 404.
func TestCategoriesAbsent(t *testing.T) {
	ts, _ := twoInstances(t, nil)
	b := ts.client(t, ipB)
	tok := b.token(t, "60")
	get := func(p string) response { return b.get(t, p, "X-aws-ec2-metadata-token", tok) }
	listing := get("/latest/meta-data/").body
	for _, absent := range []string{"public-ipv4", "public-hostname", "public-keys/", "iam/"} {
		if slices.Contains(strings.Split(listing, "\n"), absent) {
			t.Errorf("listing has %s:\n%s", absent, listing)
		}
	}
	for _, p := range []string{"public-ipv4", "public-hostname", "public-keys/", "placement/availability-zone-id",
		"network/interfaces/macs/0e:00:00:00:00:0b/public-ipv4s", "network/interfaces/macs/0e:00:00:00:00:0b/ipv4-associations/"} {
		wantStatus(t, p, get("/latest/meta-data/"+p), 404)
	}
	wantStatus(t, "user-data", get("/latest/user-data"), 404)
	want(t, "/latest", get("/latest"), 200, "dynamic\nmeta-data")
	want(t, "placement", get("/latest/meta-data/placement/"), 200, "availability-zone\nregion")
}

func TestServeStopsWithContext(t *testing.T) {
	src := &fakeSource{}
	src.put(instanceA())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- New(Config{Source: src}).Serve(ctx, l) }()
	ts := &testServer{addr: l.Addr().String()}
	a := ts.client(t, ipA)
	want(t, "via Serve", a.get(t, "/latest/meta-data/instance-id"), 200, "i-0aaaaaaaaaaaaaaa1")
	// Serve sets the hop limit hook itself: a PUT through it succeeds rather than failing for want of a socket.
	a.token(t, "60")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
}
