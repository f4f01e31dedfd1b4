package linux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func netnsPath(name string) string { return filepath.Join(netnsDir, name) }

func prefixWith(a netip.Addr, cidr netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(a, cidr.Bits())
}

// Attach creates the instance's namespace with eth0 in it, plugged into the subnet's bridge, and its
// firewall chains (deny all until SetFirewall). Calling it again for an attached instance changes nothing
// that SetFirewall or SetPublicIP set.
func (n *Network) Attach(ctx context.Context, iface network.Interface) (string, error) {
	if iface.InstanceID == "" || iface.ID == "" || !iface.IP.Is4() || !iface.Prefix.Contains(iface.IP) || !iface.Prefix.Contains(iface.Gateway) {
		return "", fmt.Errorf("interface %s of %s: ip %s in %s: %w", iface.ID, iface.InstanceID, iface.IP, iface.Prefix, network.ErrInvalid)
	}
	var mac net.HardwareAddr
	if iface.MAC != "" {
		var err error
		if mac, err = net.ParseMAC(iface.MAC); err != nil {
			return "", fmt.Errorf("interface %s: mac %q: %w", iface.ID, iface.MAC, network.ErrInvalid)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	br, err := n.coreNL.LinkByName(n.names.bridge(iface.SubnetID))
	if err != nil {
		return "", fmt.Errorf("subnet %s has no bridge: %w", iface.SubnetID, network.ErrNotFound)
	}
	nsName := n.names.instanceNetns(iface.InstanceID)
	ns, err := ensureNamedNetns(nsName, func() error {
		// No IPv6 in VPCs yet: without this eth0 would speak link-local IPv6 past the groups.
		return writeSysctls("net/ipv6/conf/all/disable_ipv6", "1", "net/ipv6/conf/default/disable_ipv6", "1")
	})
	if err != nil {
		return "", err
	}
	defer ns.Close()
	nsNL, err := netlink.NewHandleAt(ns)
	if err != nil {
		return "", err
	}
	defer nsNL.Close()

	alias := portAlias{InstanceID: iface.InstanceID, IfaceID: iface.ID, SubnetID: iface.SubnetID, IP: iface.IP}
	vethName := n.names.veth(iface.InstanceID)
	veth, err := n.coreNL.LinkByName(vethName)
	if err == nil {
		if _, perr := nsNL.LinkByName("eth0"); perr != nil {
			// The peer lived in an earlier namespace of this instance: start over.
			if err := n.coreNL.LinkDel(veth); err != nil {
				return "", err
			}
			veth = nil
		}
	} else {
		veth = nil
	}
	if veth == nil {
		v := &netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: vethName, MasterIndex: br.Attrs().Index},
			PeerName:         "eth0",
			PeerHardwareAddr: mac,
			PeerNamespace:    netlink.NsFd(int(ns)),
		}
		if err := n.coreNL.LinkAdd(v); err != nil {
			return "", fmt.Errorf("create veth %s for %s: %w", vethName, iface.InstanceID, err)
		}
		if veth, err = n.coreNL.LinkByName(vethName); err != nil {
			return "", err
		}
	}
	eth0, err := nsNL.LinkByName("eth0")
	if err != nil {
		return "", err
	}
	lo, err := nsNL.LinkByName("lo")
	if err != nil {
		return "", err
	}
	err = errors.Join(
		n.coreNL.LinkSetAlias(veth, alias.String()),
		n.coreNL.LinkSetMasterByIndex(veth, br.Attrs().Index),
		n.coreNL.LinkSetUp(veth),
		nsNL.LinkSetUp(lo),
		nsNL.AddrReplace(eth0, addr(prefixWith(iface.IP, iface.Prefix))),
		nsNL.LinkSetUp(eth0),
		nsNL.RouteReplace(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: iface.Gateway.AsSlice()}),
	)
	if err != nil {
		return "", fmt.Errorf("attach %s to %s: %w", iface.InstanceID, iface.SubnetID, err)
	}
	if mac == nil {
		mac = eth0.Attrs().HardwareAddr
	}
	if err := n.addPort(alias, vethName, mac, iface.Internet); err != nil {
		return "", fmt.Errorf("firewall of %s: %w", iface.ID, err)
	}
	n.ports[iface.ID] = alias
	n.log.Debug("interface attached", "instance", iface.InstanceID, "interface", iface.ID, "ip", iface.IP, "veth", vethName)
	return netnsPath(nsName), nil
}

// addPort wires an interface into the nftables tables in one transaction.
func (n *Network) addPort(a portAlias, vethName string, mac net.HardwareAddr, internet bool) error {
	c, err := nftConn(n.core)
	if err != nil {
		return err
	}
	sg, br := n.sgTable(), n.brTable()
	in, out := &nftables.Chain{Name: ingressChain(a.IfaceID), Table: sg}, &nftables.Chain{Name: egressChain(a.IfaceID), Table: sg}
	if _, err := c.ListChain(sg, in.Name); err != nil {
		// New interface: deny both ways until SetFirewall says otherwise.
		c.AddChain(in)
		c.AddChain(out)
		n.fillChain(c, in, nil)
		n.fillChain(c, out, nil)
	}
	internetSet := addrSet(sg, setInternet)
	ip := a.IP.AsSlice()
	if internet {
		_ = c.SetAddElements(internetSet, []nftables.SetElement{{Key: ip}})
	} else if has, err := setHas(c, internetSet, ip); err != nil {
		return err
	} else if has {
		_ = c.SetDeleteElements(internetSet, []nftables.SetElement{{Key: ip}})
	}
	_ = c.SetAddElements(vmap(sg, setIngress, nftables.TypeIPAddr), []nftables.SetElement{{Key: ip, VerdictData: jump(in.Name)}})
	_ = c.SetAddElements(vmap(sg, setEgress, nftables.TypeIPAddr), []nftables.SetElement{{Key: ip, VerdictData: jump(out.Name)}})

	// Anti-spoofing, stateless, so it is rebuilt whole each time.
	port := c.AddChain(&nftables.Chain{Name: portChain(a.IfaceID), Table: br})
	c.FlushChain(port)
	add := func(e []expr.Any) { c.AddRule(&nftables.Rule{Table: br, Chain: port, Exprs: e}) }
	drop := one(verdict(expr.VerdictDrop))
	add(rule(one(load(expr.PayloadBaseLLHeader, 6, 6)), one(cmp(expr.CmpOpNeq, mac)), drop))
	add(rule(ethertype(unix.ETH_P_IP), one(load(expr.PayloadBaseNetworkHeader, ip4Src, 4)), one(cmp(expr.CmpOpNeq, ip)), drop))
	add(rule(ethertype(unix.ETH_P_ARP), one(load(expr.PayloadBaseNetworkHeader, arpSPA, 4)), one(cmp(expr.CmpOpNeq, ip)), drop))
	add(rule(ethertype(unix.ETH_P_IPV6), drop))
	add(one(verdict(expr.VerdictAccept))) // not return: the base chain drops ports it did not jump for
	_ = c.SetAddElements(vmap(br, setPorts, nftables.TypeIFName), []nftables.SetElement{{Key: ifname(vethName), VerdictData: jump(port.Name)}})
	return c.Flush()
}

func jump(chain string) *expr.Verdict { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

func setHas(c *nftables.Conn, s *nftables.Set, key []byte) (bool, error) {
	_, ok, err := setGet(c, s, key)
	return ok, err
}

// setGet returns the value of key in map s.
func setGet(c *nftables.Conn, s *nftables.Set, key []byte) ([]byte, bool, error) {
	els, err := c.GetSetElements(s)
	if err != nil {
		return nil, false, err
	}
	for _, e := range els {
		if string(e.Key) == string(key) {
			return e.Val, true, nil
		}
	}
	return nil, false, nil
}

// Detach removes the instance's firewall, NAT and namespace. The kernel removes the veth with the namespace;
// if something still holds the namespace, the veth stays behind but carries no traffic (the bridge table
// drops every port of ours it does not know).
func (n *Network) Detach(ctx context.Context, instanceID string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var a portAlias
	var found bool
	for _, p := range n.ports {
		if p.InstanceID == instanceID {
			a, found = p, true
		}
	}
	if !found { // perhaps attached by an earlier run and not yet loaded
		if l, err := n.coreNL.LinkByName(n.names.veth(instanceID)); err == nil {
			a, found = parsePortAlias(l.Attrs().Alias)
		}
	}
	if found {
		if err := n.removePort(a); err != nil {
			return fmt.Errorf("detach %s: %w", instanceID, err)
		}
		delete(n.ports, a.IfaceID)
	}
	return deleteNamedNetns(n.names.instanceNetns(instanceID))
}

// removePort undoes addPort and any public IP mapping, in one transaction.
func (n *Network) removePort(a portAlias) error {
	c, err := nftConn(n.core)
	if err != nil {
		return err
	}
	sg, br := n.sgTable(), n.brTable()
	ip := a.IP.AsSlice()
	pub, err := n.unmapPublic(c, ip)
	if err != nil {
		return err
	}
	for _, s := range []*nftables.Set{vmap(sg, setIngress, nftables.TypeIPAddr), vmap(sg, setEgress, nftables.TypeIPAddr), addrSet(sg, setInternet)} {
		if has, err := setHas(c, s, ip); err != nil {
			return err
		} else if has {
			_ = c.SetDeleteElements(s, []nftables.SetElement{{Key: ip}})
		}
	}
	ports := vmap(br, setPorts, nftables.TypeIFName)
	if has, err := setHas(c, ports, ifname(n.names.veth(a.InstanceID))); err != nil {
		return err
	} else if has {
		_ = c.SetDeleteElements(ports, []nftables.SetElement{{Key: ifname(n.names.veth(a.InstanceID))}})
	}
	for _, ch := range []*nftables.Chain{{Name: ingressChain(a.IfaceID), Table: sg}, {Name: egressChain(a.IfaceID), Table: sg}, {Name: portChain(a.IfaceID), Table: br}} {
		if _, err := c.ListChain(ch.Table, ch.Name); err == nil {
			c.FlushChain(ch)
			c.DelChain(ch)
		}
	}
	if err := c.Flush(); err != nil {
		return err
	}
	n.cutConnections(pub)
	return nil
}
