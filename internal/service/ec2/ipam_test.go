package ec2

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	"github.com/overcast-cloud/overcast/internal/store"
)

func TestPrivateIPsOfASlash28(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	sn := subnetRecord{ID: "subnet-0000000000000000a", VPCID: "vpc-1", CIDR: "10.0.0.16/28"}
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }

	// AWS reserves .16-.19 (network, router, DNS, future) and .31 (broadcast): .20 to .30 are the 11 usable.
	for _, ip := range []string{"10.0.0.16", "10.0.0.17", "10.0.0.18", "10.0.0.19", "10.0.0.31"} {
		_, err := s.allocatePrivateIP(ctx, sn, a(ip))
		wantCode(t, err, "InvalidParameterValue")
	}
	_, err := s.allocatePrivateIP(ctx, sn, a("10.0.0.32"))
	wantCode(t, err, "InvalidParameterValue")

	got := must[netip.Addr](t)(s.allocatePrivateIP(ctx, sn, a("10.0.0.25")))
	if got != a("10.0.0.25") {
		t.Fatalf("asked for .25, got %s", got)
	}
	_, err = s.allocatePrivateIP(ctx, sn, a("10.0.0.25"))
	wantCode(t, err, "InvalidIPAddress.InUse")

	// The other ten come out in order and concurrently without a double.
	var mu sync.Mutex
	seen := map[netip.Addr]bool{got: true}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip, err := s.allocatePrivateIP(ctx, sn, netip.Addr{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil || seen[ip] {
				t.Errorf("allocation gave %s, %v", ip, err)
			}
			seen[ip] = true
		}()
	}
	wg.Wait()
	for ip := a("10.0.0.20"); ip != a("10.0.0.31"); ip = ip.Next() {
		if !seen[ip] {
			t.Errorf("%s never handed out", ip)
		}
	}
	_, err = s.allocatePrivateIP(ctx, sn, netip.Addr{})
	wantCode(t, err, "InsufficientFreeAddressesInSubnet")

	must[any](t)(nil, s.releasePrivateIP(ctx, sn.ID, a("10.0.0.22")))
	must[any](t)(nil, s.releasePrivateIP(ctx, sn.ID, a("10.0.0.22"))) // twice is fine
	if ip := must[netip.Addr](t)(s.allocatePrivateIP(ctx, sn, netip.Addr{})); ip != a("10.0.0.22") {
		t.Errorf("after a release got %s, want the freed 10.0.0.22", ip)
	}
}

func TestPublicPool(t *testing.T) {
	s := newNetService(t)
	east, west := inRegion("000000000000", "us-east-1"), inRegion("222222222222", "eu-west-1")
	first := must[netip.Addr](t)(s.allocatePublicIP(east))
	second := must[netip.Addr](t)(s.allocatePublicIP(west))
	if first != netip.MustParseAddr("198.19.0.2") || second != netip.MustParseAddr("198.19.0.3") {
		t.Fatalf("first addresses %s, %s: want 198.19.0.2 and .3 (the pool is shared by every account)", first, second)
	}
	// The records belong to the host, not to an account or region.
	rec, _, err := store.Get[publicIPRecord](east, s.st, store.Key{Kind: kindPublicIP, ID: "198.19.0.3"})
	if err != nil || rec.Account != "222222222222" || rec.Region != "eu-west-1" {
		t.Fatalf("public IP record %+v, %v", rec, err)
	}
	must[any](t)(nil, s.releasePublicIP(east, first))
	if again := must[netip.Addr](t)(s.allocatePublicIP(west)); again != first {
		t.Errorf("after a release got %s, want %s back", again, first)
	}
}

func TestUsableRangeOfAPool(t *testing.T) {
	first, last := usableRange(netip.MustParsePrefix("203.0.113.0/24"), 2)
	if first.String() != "203.0.113.2" || last.String() != "203.0.113.254" {
		t.Errorf("usable pool range %s-%s", first, last)
	}
}
