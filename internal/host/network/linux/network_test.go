package linux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/overcast-cloud/overcast/internal/testutil"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var ctx = context.Background()

func TestSecurityGroupsBetweenInstances(t *testing.T) {
	t.Parallel()
	n := newTestNetwork(t, 11)
	a, aPath := attach(t, n, "a", 10, false)
	b, bPath := attach(t, n, "b", 11, false)
	serveWhoAmI(t, bPath, ":8080")
	bAddr := netip.AddrPortFrom(b.IP, 8080).String()

	// Nothing set yet: both directions denied.
	mustNotReach(t, aPath, bAddr)
	if err := n.SetFirewall(ctx, a.ID, network.Firewall{Egress: allowAll}); err != nil {
		t.Fatal(err)
	}
	mustNotReach(t, aPath, bAddr) // A may send, B does not accept
	if ping(aPath, b.IP) {
		t.Fatal("ping a -> b passed with no ingress rule on b")
	}

	// B accepts 8080 from A only, and has no egress at all: its replies pass because they are tracked.
	if err := n.SetFirewall(ctx, b.ID, network.Firewall{Ingress: []network.Rule{tcpFrom(8080, a.IP.String()+"/32")}}); err != nil {
		t.Fatal(err)
	}
	mustReach(t, aPath, bAddr, a.IP.String())
	if ping(aPath, b.IP) {
		t.Fatal("ping a -> b passed with only a tcp rule")
	}
	icmp := network.Rule{Protocol: "icmp", FromPort: 8, ToPort: -1, CIDRs: []netip.Prefix{testSubnet.CIDR}}
	if err := n.SetFirewall(ctx, b.ID, network.Firewall{Ingress: []network.Rule{tcpFrom(8080, a.IP.String()+"/32"), icmp}}); err != nil {
		t.Fatal(err)
	}
	if !ping(aPath, b.IP) {
		t.Fatal("ping a -> b blocked although icmp echo is allowed")
	}

	// B cannot open a connection to A (A allows nothing in, B allows nothing out).
	serveWhoAmI(t, aPath, ":8080")
	mustNotReach(t, bPath, netip.AddrPortFrom(a.IP, 8080).String())

	// Removing A's egress blocks A's new connections.
	if err := n.SetFirewall(ctx, a.ID, network.Firewall{}); err != nil {
		t.Fatal(err)
	}
	mustNotReach(t, aPath, bAddr)
	// A port range rule on egress lets it out again.
	rng := network.Rule{Protocol: "tcp", FromPort: 8000, ToPort: 8100, CIDRs: []netip.Prefix{netip.MustParsePrefix("172.31.0.0/16")}}
	if err := n.SetFirewall(ctx, a.ID, network.Firewall{Egress: []network.Rule{rng}}); err != nil {
		t.Fatal(err)
	}
	mustReach(t, aPath, bAddr, a.IP.String())
}

func TestHostReachesPublicIPOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	n := newTestNetwork(t, 12)
	a, aPath := attach(t, n, "a", 20, false)
	serveWhoAmI(t, aPath, ":22")
	public := netip.MustParseAddr("198.19.12.20")
	if err := n.SetPublicIP(ctx, a.ID, public); err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(public, 22).String()
	mustNotReach(t, "", addr)

	ssh := network.Firewall{Ingress: []network.Rule{tcpFrom(22, "0.0.0.0/0")}} // no egress: replies only
	if err := n.SetFirewall(ctx, a.ID, ssh); err != nil {
		t.Fatal(err)
	}
	mustReach(t, "", addr, n.upIP.String())

	if err := n.SetFirewall(ctx, a.ID, network.Firewall{}); err != nil {
		t.Fatal(err)
	}
	mustNotReach(t, "", addr) // at once, not after a delay

	// Moving the address away ends reachability through it; it is refused outside the pool.
	if err := n.SetFirewall(ctx, a.ID, ssh); err != nil {
		t.Fatal(err)
	}
	if err := n.SetPublicIP(ctx, a.ID, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	mustNotReach(t, "", addr)
	if err := n.SetPublicIP(ctx, a.ID, netip.MustParseAddr("198.19.99.1")); !errors.Is(err, network.ErrInvalid) {
		t.Fatalf("public ip outside the pool: %v, want ErrInvalid", err)
	}
}

func TestInstanceCannotReachHostButReachesMetadata(t *testing.T) {
	t.Parallel()
	n := newTestNetwork(t, 13)
	a, aPath := attach(t, n, "a", 30, true) // internet on and all egress allowed: the widest an instance gets
	if err := n.SetFirewall(ctx, a.ID, network.Firewall{Egress: allowAll}); err != nil {
		t.Fatal(err)
	}
	host := serveWhoAmI(t, "", "0.0.0.0:0")
	port := host.Addr().(*net.TCPAddr).Port
	mustReach(t, "", fmt.Sprintf("127.0.0.1:%d", port), "") // the listener works
	for _, ip := range []netip.Addr{n.upIP, n.downIP, testSubnet.Gateway} {
		mustNotReach(t, aPath, netip.AddrPortFrom(ip, uint16(port)).String())
	}
	if ping(aPath, n.upIP) {
		t.Fatal("instance pinged the host")
	}

	l, err := n.ListenService(network.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, _ := netip.ParseAddrPort(r.RemoteAddr)
		fmt.Fprint(w, ap.Addr())
	}))
	body, err := httpGet(t, aPath, "169.254.169.254:80")
	if err != nil || body != a.IP.String() {
		t.Fatalf("metadata from the instance: %q, %v; want its own address %s", body, err, a.IP)
	}
	// Only port 80 of the metadata address is open.
	mustNotReach(t, aPath, "169.254.169.254:81")

	// An instance that takes another address (here B's, unattached) cannot pass for it.
	ns, err := netns.GetFromPath(aPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	eth0, _ := h.LinkByName("eth0")
	if err := h.AddrAdd(eth0, addr(netip.MustParsePrefix("172.31.0.99/32"))); err != nil {
		t.Fatal(err)
	}
	inNS(t, aPath, func() {
		d := net.Dialer{Timeout: 400 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP("172.31.0.99")}}
		if c, err := d.Dial("tcp4", "169.254.169.254:80"); err == nil {
			c.Close()
			t.Error("a spoofed source address reached the metadata service")
		}
	})
}

func TestPoolOverlappingHostRoutesIsRefused(t *testing.T) {
	t.Parallel()
	n := newTestNetwork(t, 14)
	_ = n
	for _, pool := range []string{"198.19.14.0/25", "198.19.0.0/16", "127.0.0.0/30"} {
		prefix := "t14x"
		t.Cleanup(func() { Teardown(ctx, prefix) })
		_, err := New(ctx, Config{Prefix: prefix, PublicPool: netip.MustParsePrefix(pool)})
		if err == nil || !strings.Contains(err.Error(), "public pool refused") {
			t.Fatalf("pool %s overlapping the host's routes: %v, want refusal", pool, err)
		}
		if _, err := netlink.LinkByName(prefix + "-up"); err == nil {
			t.Fatalf("refused New left %s-up behind", prefix)
		}
	}
}

func TestDeleteSubnetWhileAttached(t *testing.T) {
	t.Parallel()
	n := newTestNetwork(t, 15)
	_, _ = attach(t, n, "a", 40, false)
	if err := n.DeleteSubnet(ctx, testSubnet.ID); !errors.Is(err, network.ErrInUse) {
		t.Fatalf("delete subnet with an instance: %v, want ErrInUse", err)
	}
	if err := n.Detach(ctx, "i-a"); err != nil {
		t.Fatal(err)
	}
	if err := n.Detach(ctx, "i-a"); err != nil {
		t.Fatalf("second detach: %v", err)
	}
	if err := n.DeleteSubnet(ctx, testSubnet.ID); err != nil {
		t.Fatal(err)
	}
	links, _ := n.coreNL.LinkList()
	for _, l := range links {
		if name := l.Attrs().Name; strings.HasPrefix(name, n.names.bridgePrefix()) || strings.HasPrefix(name, n.names.vethPrefix()) {
			t.Errorf("%s left in the core netns", name)
		}
	}
	if ids, _ := n.Instances(ctx); len(ids) != 0 {
		t.Errorf("instances after detach: %v", ids)
	}
	if c, _ := nftConn(n.core); c != nil {
		chains, _ := c.ListChains()
		for _, ch := range chains {
			if strings.HasSuffix(ch.Name, "eni-a") {
				t.Errorf("chain %s/%s left after detach", ch.Table.Name, ch.Name)
			}
		}
	}
}

func TestRestartAdoptsTheDataPlane(t *testing.T) {
	t.Parallel()
	n := newTestNetwork(t, 16)
	a, aPath := attach(t, n, "a", 50, false)
	serveWhoAmI(t, aPath, ":22")
	public := netip.MustParseAddr("198.19.16.50")
	if err := n.SetPublicIP(ctx, a.ID, public); err != nil {
		t.Fatal(err)
	}
	if err := n.SetFirewall(ctx, a.ID, network.Firewall{Ingress: []network.Rule{tcpFrom(22, "0.0.0.0/0")}}); err != nil {
		t.Fatal(err)
	}
	rulesBefore := countRules(t, n)
	n.Close() // as if killed: nothing is torn down

	n2, err := New(ctx, Config{Prefix: "t16", PublicPool: testPool(16)})
	if err != nil {
		t.Fatalf("restart over an existing data plane: %v", err)
	}
	t.Cleanup(func() { n2.Teardown(ctx) })
	if got := countRules(t, n2); got != rulesBefore {
		t.Fatalf("rules after restart: %d, before %d", got, rulesBefore)
	}
	if ids, err := n2.Instances(ctx); err != nil || len(ids) != 1 || ids[0] != "i-a" {
		t.Fatalf("instances after restart: %v, %v", ids, err)
	}
	addr := netip.AddrPortFrom(public, 22).String()
	mustReach(t, "", addr, n2.upIP.String())
	// The adopted interface is managed as before, and Attach again is harmless.
	if _, err := n2.Attach(ctx, a); err != nil {
		t.Fatal(err)
	}
	mustReach(t, "", addr, "")
	if err := n2.SetFirewall(ctx, a.ID, network.Firewall{}); err != nil {
		t.Fatal(err)
	}
	mustNotReach(t, "", addr)
}

func countRules(t *testing.T, n *Network) int {
	t.Helper()
	c, err := nftConn(n.core)
	if err != nil {
		t.Fatal(err)
	}
	chains, err := c.ListChains()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			t.Fatal(err)
		}
		total += len(rules)
	}
	return total
}

func TestTeardownLeavesNothing(t *testing.T) {
	t.Parallel()
	n := newTestNetwork(t, 17)
	a, _ := attach(t, n, "a", 60, true)
	if err := n.SetPublicIP(ctx, a.ID, netip.MustParseAddr("198.19.17.60")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.ListenService(network.Metadata); err != nil {
		t.Fatal(err)
	}
	if err := n.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "t17-") {
			t.Errorf("netns %s left", e.Name())
		}
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "t17") {
			t.Errorf("link %s left", l.Attrs().Name)
		}
	}
	routes, _ := netlink.RouteGet(net.ParseIP("198.19.17.60"))
	for _, r := range routes {
		if r.Dst != nil && prefixOf(r.Dst) == testPool(17) {
			t.Errorf("route %s left", r.Dst)
		}
	}
	all, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range all {
		if prefixOf(r.Dst) == testPool(17) {
			t.Errorf("route %s left", r.Dst)
		}
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, _ := c.ListTables()
	for _, tb := range tables {
		if strings.HasPrefix(tb.Name, "t17_") {
			t.Errorf("nft table %s left", tb.Name)
		}
	}
}

// BenchmarkAttachDetach measures plugging an instance in (namespace, veth, address, route, chains) and
// taking it out again.
func BenchmarkAttachDetach(b *testing.B) {
	testutil.RequiresRoot(b)
	_ = Teardown(ctx, "tb")
	n, err := New(ctx, Config{Prefix: "tb", PublicPool: testPool(200)})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Teardown(ctx)
	if err := n.EnsureSubnet(ctx, testSubnet); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		iface := network.Interface{ID: fmt.Sprintf("eni-%d", i), InstanceID: fmt.Sprintf("i-%d", i), SubnetID: testSubnet.ID,
			IP: netip.MustParseAddr("172.31.1.1"), Prefix: testSubnet.CIDR, Gateway: testSubnet.Gateway}
		if _, err := n.Attach(ctx, iface); err != nil {
			b.Fatal(err)
		}
		if err := n.Detach(ctx, iface.InstanceID); err != nil {
			b.Fatal(err)
		}
	}
}
