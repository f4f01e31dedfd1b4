package linux

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/overcast-cloud/overcast/internal/testutil"
	"github.com/vishvananda/netns"
)

// newTestNetwork starts a data plane with its own prefix and a /24 of 198.19.0.0/16, torn down at the end.
func newTestNetwork(t *testing.T, id int) *Network {
	t.Helper()
	testutil.RequiresRoot(t)
	prefix := fmt.Sprintf("t%d", id)
	_ = Teardown(context.Background(), prefix) // leftovers of an interrupted run
	n, err := New(context.Background(), Config{Prefix: prefix, PublicPool: testPool(id)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	return n
}

func testPool(id int) netip.Prefix { return netip.MustParsePrefix(fmt.Sprintf("198.19.%d.0/24", id)) }

var testSubnet = network.Subnet{
	ID: "subnet-0a1", VPCID: "vpc-01",
	CIDR: netip.MustParsePrefix("172.31.0.0/20"), Gateway: netip.MustParseAddr("172.31.0.1"),
}

// attach plugs instance i-<name> with address 172.31.0.<host> into testSubnet.
func attach(t *testing.T, n *Network, name string, host byte, internet bool) (network.Interface, string) {
	t.Helper()
	if err := n.EnsureSubnet(context.Background(), testSubnet); err != nil {
		t.Fatal(err)
	}
	iface := network.Interface{
		ID: "eni-" + name, InstanceID: "i-" + name, SubnetID: testSubnet.ID,
		MAC: fmt.Sprintf("0a:00:00:00:00:%02x", host), IP: netip.AddrFrom4([4]byte{172, 31, 0, host}),
		Prefix: testSubnet.CIDR, Gateway: testSubnet.Gateway, Internet: internet,
	}
	path, err := n.Attach(context.Background(), iface)
	if err != nil {
		t.Fatal(err)
	}
	return iface, path
}

// inNS runs fn on a thread inside the namespace at path; sockets made there stay in it.
func inNS(t *testing.T, path string, fn func()) {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(err) // the thread must not go back to the pool in the wrong namespace
		}
	}()
	fn()
}

// serveWhoAmI listens on addr inside the namespace at path ("" for the host) and answers every connection
// with the caller's IP address.
func serveWhoAmI(t *testing.T, path, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	var err error
	listen := func() { l, err = net.Listen("tcp4", addr) }
	if path == "" {
		listen()
	} else {
		inNS(t, path, listen)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s\n", ap.Addr())
			c.Close()
		}
	}()
	return l
}

// whoAmI connects from the namespace at path ("" for the host) to addr and returns what the server says.
func whoAmI(t *testing.T, path, addr string) (string, error) {
	t.Helper()
	var c net.Conn
	var err error
	dial := func() { c, err = net.DialTimeout("tcp4", addr, 400*time.Millisecond) }
	if path == "" {
		dial()
	} else {
		inNS(t, path, dial)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func mustReach(t *testing.T, from, addr, wantSource string) {
	t.Helper()
	got, err := whoAmI(t, from, addr)
	if err != nil {
		t.Fatalf("%s -> %s: %v, want a connection", nsLabel(from), addr, err)
	}
	if wantSource != "" && got != wantSource {
		t.Fatalf("%s -> %s: server saw source %s, want %s", nsLabel(from), addr, got, wantSource)
	}
}

func mustNotReach(t *testing.T, from, addr string) {
	t.Helper()
	if got, err := whoAmI(t, from, addr); err == nil {
		t.Fatalf("%s -> %s: connected (server saw %s), want it blocked", nsLabel(from), addr, got)
	}
}

func nsLabel(path string) string {
	if path == "" {
		return "host"
	}
	return path
}

// ping sends one ICMP echo from the namespace with busybox.
func ping(path string, ip netip.Addr) bool {
	name := path[strings.LastIndex(path, "/")+1:]
	return exec.Command("ip", "netns", "exec", name, "/usr/bin/busybox", "ping", "-c", "1", "-W", "1", ip.String()).Run() == nil
}

// httpGet does a raw HTTP/1.0 GET from inside a namespace (net/http would dial from another goroutine).
func httpGet(t *testing.T, path, addr string) (string, error) {
	t.Helper()
	var body string
	var err error
	inNS(t, path, func() {
		var c net.Conn
		if c, err = net.DialTimeout("tcp4", addr, time.Second); err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", addr)
		var b []byte
		b, err = io.ReadAll(c)
		_, body, _ = strings.Cut(string(b), "\r\n\r\n")
	})
	return body, err
}

var allowAll = []network.Rule{{Protocol: "-1", FromPort: -1, ToPort: -1, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}}

func tcpFrom(port int, cidr string) network.Rule {
	return network.Rule{Protocol: "tcp", FromPort: port, ToPort: port, CIDRs: []netip.Prefix{netip.MustParsePrefix(cidr)}}
}
