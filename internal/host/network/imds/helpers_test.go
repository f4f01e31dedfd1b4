package imds

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSource is a Source scripted by the instances it is given, keyed by private address.
type fakeSource struct {
	mu    sync.Mutex
	byIP  map[netip.Addr]Instance
	calls int
}

func (s *fakeSource) InstanceByPrivateIP(_ context.Context, ip netip.Addr) (*Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	inst, ok := s.byIP[ip]
	if !ok {
		return nil, nil
	}
	return &inst, nil
}

func (s *fakeSource) put(inst Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byIP == nil {
		s.byIP = map[netip.Addr]Instance{}
	}
	s.byIP[inst.LocalIPv4] = inst
}

// update changes the instance at ip, as a Modify* call or a profile disassociation would.
func (s *fakeSource) update(ip netip.Addr, f func(*Instance)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.byIP[ip]
	f(&inst)
	s.byIP[ip] = inst
}

// fakeClock is a clock the test drives.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Instances are told apart by their loopback source address: 127.0.0.2 is A, 127.0.0.3 is B.
var (
	ipA = netip.MustParseAddr("127.0.0.2")
	ipB = netip.MustParseAddr("127.0.0.3")
)

func instanceA() Instance {
	return Instance{
		Account: "123456789012", Region: "us-east-1", AvailabilityZone: "us-east-1a", AvailabilityZoneID: "use1-az6",
		InstanceID: "i-0aaaaaaaaaaaaaaa1", ImageID: "ami-0abcdef1234567890", InstanceType: "t2.micro",
		ReservationID: "r-0aaaaaaaaaaaaaaa1", LaunchTime: time.Date(2025, 6, 1, 11, 59, 30, 0, time.UTC),
		Hostname: "ip-127-0-0-2.ec2.internal", LocalIPv4: ipA,
		PublicIPv4: netip.MustParseAddr("203.0.113.10"), PublicHostname: "ec2-203-0-113-10.compute-1.amazonaws.com",
		MAC: "0e:00:00:00:00:0a", InterfaceID: "eni-0aaaaaaaaaaaaaaa1", VPCID: "vpc-0aaaaaaaaaaaaaaa1",
		VPCCIDR: "172.31.0.0/16", SubnetID: "subnet-0aaaaaaaaaaaaaaa1", SubnetCIDR: "172.31.0.0/20",
		SecurityGroups: []string{"WebAccess", "default"}, SecurityGroupIDs: []string{"sg-0aaaaaaaaaaaaaaa1", "sg-0aaaaaaaaaaaaaaa2"},
		PublicKeys: []PublicKey{{Name: "my-key", OpenSSH: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA my-key\n"}},
		UserData:   []byte("#!/bin/sh\necho hello\n"),
		HTTPTokens: "optional", HopLimit: 1, HTTPEndpoint: "enabled",
	}
}

func instanceB() Instance {
	return Instance{
		Account: "123456789012", Region: "us-east-1", AvailabilityZone: "us-east-1b",
		InstanceID: "i-0bbbbbbbbbbbbbbb2", ImageID: "ami-0bbbbbbbbbbbbbbb2", InstanceType: "m5.large",
		ReservationID: "r-0bbbbbbbbbbbbbbb2", LaunchTime: time.Date(2025, 6, 1, 11, 0, 0, 0, time.UTC),
		Hostname: "ip-127-0-0-3.ec2.internal", LocalIPv4: ipB, MAC: "0e:00:00:00:00:0b",
		InterfaceID: "eni-0bbbbbbbbbbbbbbb2", VPCID: "vpc-0aaaaaaaaaaaaaaa1", VPCCIDR: "172.31.0.0/16",
		SubnetID: "subnet-0bbbbbbbbbbbbbbb2", SubnetCIDR: "172.31.16.0/20",
		SecurityGroups: []string{"default"}, SecurityGroupIDs: []string{"sg-0bbbbbbbbbbbbbbb1"},
		HTTPTokens: "required", HopLimit: 2, HTTPEndpoint: "enabled",
	}
}

// testServer is a metadata service on a loopback port, with the server side of each connection kept by
// the client address it came from, so that tests can read its socket options.
type testServer struct {
	addr string
	mu   sync.Mutex
	conn map[netip.Addr]net.Conn // the latest connection from each address
}

func serve(t *testing.T, cfg Config) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	h := New(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: l.Addr().String(), conn: map[netip.Addr]net.Conn{}}
	srv := h.Server()
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if s != http.StateNew {
			return
		}
		ap := netip.MustParseAddrPort(c.RemoteAddr().String())
		ts.mu.Lock()
		ts.conn[ap.Addr().Unmap()] = c
		ts.mu.Unlock()
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ts
}

func (ts *testServer) serverConn(t *testing.T, from netip.Addr) net.Conn {
	t.Helper()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	c := ts.conn[from]
	if c == nil {
		t.Fatalf("no connection from %s", from)
	}
	return c
}

// client is an instance's view of the service: its requests leave from the instance's address.
type client struct {
	ts *testServer
	hc *http.Client
}

func (ts *testServer) client(t *testing.T, from netip.Addr) *client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
	tr := &http.Transport{DialContext: d.DialContext, MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{ts: ts, hc: &http.Client{Transport: tr}}
}

type response struct {
	status int
	body   string
	header http.Header
}

// do sends a request; headers come in name, value pairs.
func (c *client) do(t *testing.T, method, path string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+c.ts.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func (c *client) get(t *testing.T, path string, headers ...string) response {
	t.Helper()
	return c.do(t, http.MethodGet, path, headers...)
}

// token fetches an IMDSv2 token with ttl seconds.
func (c *client) token(t *testing.T, ttl string) string {
	t.Helper()
	r := c.do(t, http.MethodPut, "/latest/api/token", "X-aws-ec2-metadata-token-ttl-seconds", ttl)
	if r.status != http.StatusOK || r.body == "" {
		t.Fatalf("PUT token: %d %q", r.status, r.body)
	}
	return r.body
}

// want asserts status and body of a response.
func want(t *testing.T, what string, r response, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Fatalf("%s = %d %q, want %d %q", what, r.status, r.body, status, body)
	}
}

func wantStatus(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s = %d %q, want %d", what, r.status, r.body, status)
	}
	if status >= 400 && !strings.Contains(r.body, "<title>") {
		t.Fatalf("%s: error body %q is not AWS's error page", what, r.body)
	}
}
