package ec2

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// Address management. Every allocated address is a record created with store.Absent, so two concurrent
// allocations can never hand out one address: the loser's create fails and it moves on to the next.

// privateIPRecord is one allocated private address, keyed "<subnet-id>/<ip>".
type privateIPRecord struct {
	SubnetID string `json:"subnetId"`
	IP       string `json:"ip"`
}

// publicIPRecord is one allocated address of the host's public pool. The pool is the host's, not an
// account's, so these records are global (no account, no region) and say whose the address is.
type publicIPRecord struct {
	IP      string `json:"ip"`
	Account string `json:"account"`
	Region  string `json:"region"`
}

// defaultPublicPool is the pool when no host network is wired (unit tests): a benchmarking range
// (RFC 2544) that is never routed on the internet.
var defaultPublicPool = netip.MustParsePrefix("198.19.0.0/16")

// allocatePrivateIP takes want (or, when want is not valid, the next free address) in the subnet. The first
// four addresses and the last are AWS's reserved ones. Errors: InvalidIPAddress.InUse,
// InvalidParameterValue (outside the subnet or reserved), InsufficientFreeAddressesInSubnet.
func (s *Service) allocatePrivateIP(ctx context.Context, subnet subnetRecord, want netip.Addr) (netip.Addr, error) {
	p := subnet.prefix()
	first, last := usableRange(p, 4)
	create := func(ip netip.Addr) error {
		_, err := store.Create(ctx, s.st, scopedKey(ctx, kindPrivateIP, privateIPKey(subnet.ID, ip)),
			privateIPRecord{SubnetID: subnet.ID, IP: ip.String()})
		return err
	}
	if want.IsValid() {
		if !p.Contains(want) {
			return netip.Addr{}, apierr.InvalidParam("InvalidParameterValue",
				"Address %s does not fall within the subnet's address range", want)
		}
		if want.Less(first) || last.Less(want) {
			return netip.Addr{}, apierr.InvalidParam("InvalidParameterValue",
				"Address %s is in subnet's reserved address range", want)
		}
		if err := create(want); errors.Is(err, store.ErrExists) {
			return netip.Addr{}, apierr.New(apierr.Conflict, "InvalidIPAddress.InUse", "Address %s is in use.", want)
		} else if err != nil {
			return netip.Addr{}, err
		}
		return want, nil
	}
	taken, err := s.privateIPs(ctx, subnet.ID)
	if err != nil {
		return netip.Addr{}, err
	}
	for ip := first; !last.Less(ip); ip = ip.Next() {
		if taken[ip] {
			continue
		}
		err := create(ip)
		if err == nil {
			return ip, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return netip.Addr{}, err
		}
	}
	return netip.Addr{}, apierr.New(apierr.LimitExceeded, "InsufficientFreeAddressesInSubnet",
		"There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", subnet.ID)
}

// releasePrivateIP gives an address back; giving back one that is not allocated is not an error.
func (s *Service) releasePrivateIP(ctx context.Context, subnetID string, ip netip.Addr) error {
	_, err := store.Delete(ctx, s.st, scopedKey(ctx, kindPrivateIP, privateIPKey(subnetID, ip)), store.Any)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func privateIPKey(subnetID string, ip netip.Addr) string { return subnetID + "/" + ip.String() }

// privateIPs returns the subnet's allocated addresses.
func (s *Service) privateIPs(ctx context.Context, subnetID string) (map[netip.Addr]bool, error) {
	pfx := scopedPrefix(ctx, kindPrivateIP)
	pfx.IDPrefix = subnetID + "/"
	recs, err := s.st.List(ctx, pfx)
	if err != nil {
		return nil, err
	}
	taken := make(map[netip.Addr]bool, len(recs))
	for _, r := range recs {
		if ip, err := netip.ParseAddr(strings.TrimPrefix(r.Key.ID, pfx.IDPrefix)); err == nil {
			taken[ip] = true
		}
	}
	return taken, nil
}

func (s *Service) privateIPsInUse(ctx context.Context, subnetID string) (int, error) {
	taken, err := s.privateIPs(ctx, subnetID)
	return len(taken), err
}

// allocatePublicIP takes a free address of the network's public pool, skipping the network address, the
// host's own first address and the broadcast address. Errors: InsufficientAddressCapacity.
func (s *Service) allocatePublicIP(ctx context.Context) (netip.Addr, error) {
	pool := s.publicPool()
	recs, err := s.st.List(ctx, store.Prefix{Kind: kindPublicIP})
	if err != nil {
		return netip.Addr{}, err
	}
	taken := make(map[string]bool, len(recs))
	for _, r := range recs {
		taken[r.Key.ID] = true
	}
	r := awsctx.From(ctx)
	first, last := usableRange(pool, 2)
	for ip := first; !last.Less(ip); ip = ip.Next() {
		if taken[ip.String()] {
			continue
		}
		_, err := store.Create(ctx, s.st, publicIPKey(ip), publicIPRecord{IP: ip.String(), Account: r.Account, Region: r.Region})
		if err == nil {
			return ip, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return netip.Addr{}, err
		}
	}
	return netip.Addr{}, apierr.New(apierr.LimitExceeded, "InsufficientAddressCapacity",
		"There are no free addresses left in the public pool %s.", pool)
}

// releasePublicIP gives a public address back to the pool; one that is not allocated is not an error.
func (s *Service) releasePublicIP(ctx context.Context, ip netip.Addr) error {
	_, err := store.Delete(ctx, s.st, publicIPKey(ip), store.Any)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func publicIPKey(ip netip.Addr) store.Key { return store.Key{Kind: kindPublicIP, ID: ip.String()} }

func (s *Service) publicPool() netip.Prefix {
	if s.net == nil {
		return defaultPublicPool
	}
	return s.net.PublicPool()
}

// usableRange is the prefix's first and last address that may be handed out: reserved addresses at the
// start (the network address included) and the broadcast address at the end are left out.
func usableRange(p netip.Prefix, reserved int) (first, last netip.Addr) {
	first = p.Masked().Addr()
	for range reserved {
		first = first.Next()
	}
	last = lastAddr(p).Prev()
	return first, last
}

// lastAddr is the prefix's last (broadcast) address.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// subnetSize is the number of addresses in an IPv4 prefix.
func subnetSize(p netip.Prefix) int { return 1 << (32 - p.Bits()) }
