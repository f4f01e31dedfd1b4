package linux

import (
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// unmapPublic queues, on c, the removal of the 1:1 mapping of private address priv, and returns the public
// address it had (invalid when none).
func (n *Network) unmapPublic(c *nftables.Conn, priv []byte) (netip.Addr, error) {
	sg := n.sgTable()
	pub, ok, err := setGet(c, addrMap(sg, setPriv2Pub), priv)
	if err != nil || !ok {
		return netip.Addr{}, err
	}
	_ = c.SetDeleteElements(addrMap(sg, setPriv2Pub), []nftables.SetElement{{Key: priv}})
	if _, ok, err := setGet(c, addrMap(sg, setPub2Priv), pub); err != nil {
		return netip.Addr{}, err
	} else if ok {
		_ = c.SetDeleteElements(addrMap(sg, setPub2Priv), []nftables.SetElement{{Key: pub}})
	}
	a, _ := netip.AddrFromSlice(pub)
	return a, nil
}

// cutConnections forgets the connections tracked through public addresses whose mapping is gone, so that a
// moved or released address stops reaching the instance now rather than when the entries time out.
func (n *Network) cutConnections(pubs ...netip.Addr) {
	var filters []netlink.CustomConntrackFilter
	for _, p := range pubs {
		if !p.IsValid() {
			continue
		}
		in, out := &netlink.ConntrackFilter{}, &netlink.ConntrackFilter{}
		_ = in.AddIP(netlink.ConntrackOrigDstIP, net.IP(p.AsSlice()))   // DNATed: host -> public
		_ = out.AddIP(netlink.ConntrackReplyDstIP, net.IP(p.AsSlice())) // SNATed: instance -> outside
		filters = append(filters, in, out)
	}
	if len(filters) > 0 {
		if _, err := n.coreNL.ConntrackDeleteFilters(netlink.ConntrackTable, netlink.FAMILY_V4, filters...); err != nil {
			n.log.Warn("cut connections of released public addresses", "error", err)
		}
	}
}
