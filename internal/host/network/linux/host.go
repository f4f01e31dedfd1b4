package linux

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ensureLink creates (or adopts) the veth pair <p>-up (host) / <p>-dn (core) with the link /30, the core
// netns's default route through it, and 169.254.169.254 on the core loopback.
func (n *Network) ensureLink(want netip.Prefix) error {
	up, err := n.hostNL.LinkByName(n.names.up())
	if err == nil {
		if _, perr := n.coreNL.LinkByName(n.names.down()); perr == nil {
			n.linkNet = n.linkAddr(up)
		}
		if !n.linkNet.IsValid() { // half made: start the pair again
			if err := n.hostNL.LinkDel(up); err != nil {
				return fmt.Errorf("replace %s: %w", n.names.up(), err)
			}
			up = nil
		}
	} else {
		up = nil
	}
	if up == nil {
		if n.linkNet = want; !n.linkNet.IsValid() {
			if n.linkNet, err = n.freeLinkNet(); err != nil {
				return err
			}
		} else if err := n.checkFree(n.linkNet, -1); err != nil {
			return err
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n.names.up()}, PeerName: n.names.down(),
			PeerNamespace: netlink.NsFd(int(n.core))}
		if err := n.hostNL.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s: %w", n.names.up(), err)
		}
		if up, err = n.hostNL.LinkByName(n.names.up()); err != nil {
			return err
		}
	}
	n.upIP = n.linkNet.Addr().Next()
	n.downIP = n.upIP.Next()

	down, err := n.coreNL.LinkByName(n.names.down())
	if err != nil {
		return err
	}
	lo, err := n.coreNL.LinkByName("lo")
	if err != nil {
		return err
	}
	steps := []error{
		n.hostNL.AddrReplace(up, addr(netip.PrefixFrom(n.upIP, 30))),
		n.hostNL.LinkSetUp(up),
		n.coreNL.AddrReplace(down, addr(netip.PrefixFrom(n.downIP, 30))),
		n.coreNL.LinkSetUp(down),
		n.coreNL.LinkSetUp(lo),
		// On loopback it is local to the core netns for every bridge at once, and exists before any subnet.
		n.coreNL.AddrReplace(lo, addr(netip.PrefixFrom(network.Metadata.Addr.Addr(), 32))),
		n.coreNL.AddrReplace(lo, addr(netip.PrefixFrom(network.ResolverAddr.Addr(), 32))),
		n.coreNL.RouteReplace(&netlink.Route{LinkIndex: down.Attrs().Index, Gw: n.upIP.AsSlice()}),
		// Only packets arriving on <p>-up are forwarded by this setting; the global switch is the host's.
		writeSysctls("net/ipv4/conf/"+n.names.up()+"/forwarding", "1"),
	}
	if err := errors.Join(steps...); err != nil {
		return fmt.Errorf("link %s/%s: %w", n.names.up(), n.names.down(), err)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		n.log.Info("net.ipv4.ip_forward is 0 on the host: instances cannot reach beyond the host")
	}
	return nil
}

// linkAddr returns the /30 configured on the host side of the link, if any.
func (n *Network) linkAddr(up netlink.Link) netip.Prefix {
	addrs, _ := n.hostNL.AddrList(up, netlink.FAMILY_V4)
	for _, a := range addrs {
		if p := prefixOf(a.IPNet); p.Bits() == 30 {
			return p.Masked()
		}
	}
	return netip.Prefix{}
}

// freeLinkNet picks the first /30 of linkNetRange, starting at a slot derived from the prefix, that no host
// address or route touches.
func (n *Network) freeLinkNet() (netip.Prefix, error) {
	slots := 1 << (30 - linkNetRange.Bits())
	var h uint32
	for _, c := range []byte(hash8(n.names.p)) {
		h = h*31 + uint32(c)
	}
	base := linkNetRange.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for i := 0; i < slots; i++ {
		a := start + 4*((h+uint32(i))%uint32(slots))
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), 30)
		if n.checkFree(p, -1) == nil {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /30 for the host link in %s", linkNetRange)
}

// checkFree refuses p if a host route other than a default route, or a host address, overlaps it. Routes and
// addresses on the link with index ours are the data plane's own.
func (n *Network) checkFree(p netip.Prefix, ours int) error {
	routes, err := n.hostNL.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return err
	}
	for _, r := range routes {
		d := prefixOf(r.Dst)
		if !d.IsValid() || d.Bits() == 0 || r.LinkIndex == ours || !d.Overlaps(p) {
			continue
		}
		return fmt.Errorf("%s overlaps the host route %s (table %d, %s)", p, d, r.Table, n.linkName(r.LinkIndex))
	}
	addrs, err := n.hostNL.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if d := prefixOf(a.IPNet); a.LinkIndex != ours && d.IsValid() && d.Overlaps(p) {
			return fmt.Errorf("%s overlaps the host address %s on %s", p, d, n.linkName(a.LinkIndex))
		}
	}
	return nil
}

// ensurePoolRoute routes the public pool to the core netns, after checking that the host does not already
// route or address any of it, and then that the kernel really chooses the new route for it. Without these
// checks a public IP could be answered by, or sent out to, a real network.
func (n *Network) ensurePoolRoute() error {
	up, err := n.hostNL.LinkByName(n.names.up())
	if err != nil {
		return err
	}
	idx := up.Attrs().Index
	if err := n.checkFree(n.pool, idx); err != nil {
		return fmt.Errorf("public pool refused: %w", err)
	}
	route := &netlink.Route{LinkIndex: idx, Dst: ipnet(n.pool), Gw: n.downIP.AsSlice()}
	if err := n.hostNL.RouteReplace(route); err != nil {
		return fmt.Errorf("route %s via %s: %w", n.pool, n.names.up(), err)
	}
	for _, a := range []netip.Addr{n.pool.Addr(), lastAddr(n.pool)} {
		if err := n.checkRouted(a, idx); err != nil {
			_ = n.hostNL.RouteDel(route)
			return fmt.Errorf("public pool refused: %w", err)
		}
	}
	return nil
}

// checkRouted fails unless the host sends packets for a through link index idx (policy routing could
// still send them elsewhere).
func (n *Network) checkRouted(a netip.Addr, idx int) error {
	rs, err := n.hostNL.RouteGet(a.AsSlice())
	if err != nil {
		return fmt.Errorf("route to %s: %w", a, err)
	}
	for _, r := range rs {
		if r.LinkIndex != idx {
			return fmt.Errorf("the host routes %s through %s, not %s", a, n.linkName(r.LinkIndex), n.names.up())
		}
	}
	return nil
}

func (n *Network) linkName(idx int) string {
	if l, err := n.hostNL.LinkByIndex(idx); err == nil {
		return l.Attrs().Name
	}
	return fmt.Sprintf("link %d", idx)
}

func addr(p netip.Prefix) *netlink.Addr { return &netlink.Addr{IPNet: ipnet(p)} }

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | (1<<host - 1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
