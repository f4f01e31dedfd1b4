package linux

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The core netns holds two tables, each created whole in one transaction (so a table that exists is
// complete, and a restart adopts it as it is):
//
// inet <p>_sg: security groups, isolation and NAT.
//
//	map ingress, egress   private IPv4 -> jump sg-in-<eni> / sg-out-<eni>
//	set internet          private IPv4s of interfaces whose subnet routes to an internet gateway
//	map pub2priv, priv2pub  1:1 NAT of public IPs
//	forward:  ct established,related accept; ipv6 drop; ip saddr vmap @egress; ip daddr vmap @ingress;
//	          oifname <p>-dn ip saddr @internet accept; oifname <p>-dn drop; iifname <p>b* drop
//	input:    ct established,related accept; iifname <p>b* tcp to 169.254.169.254:80 accept; iifname <p>b* drop
//	prerouting (nat): dnat to ip daddr map @pub2priv
//	postrouting (nat): oifname <p>-dn snat to ip saddr map @priv2pub; oifname <p>-dn ip saddr @internet masquerade
//
// Bridged traffic between two instances of one subnet reaches the forward hook because br_netfilter is on in
// the core netns. Interfaces are told apart there by address, not by bridge port (inet hooks see the bridge
// as the device), which is sound because the bridge table below drops anything an instance sends from an
// address or MAC other than its own.
//
// bridge <p>_br: anti-spoofing on instance ports.
//
//	map ports             veth name -> jump port-<eni>
//	prerouting: iifname vmap @ports; iifname <p>v* drop
//	port-<eni>: ether saddr != MAC drop; ip saddr != IP drop; arp saddr ip != IP drop; ip6 drop; accept
//
// The host netns holds inet <p>_host: new connections from the core netns to the host itself are dropped
// (instances may not reach the host), and traffic leaving through the uplink is masqueraded.

const (
	setIngress  = "ingress"
	setEgress   = "egress"
	setInternet = "internet"
	setPub2Priv = "pub2priv"
	setPriv2Pub = "priv2pub"
	setPorts    = "ports"
)

func nftConn(ns netns.NsHandle) (*nftables.Conn, error) {
	if ns == netns.None() {
		return nftables.New()
	}
	return nftables.New(nftables.WithNetNSFd(int(ns)))
}

func tableExists(c *nftables.Conn, name string, fam nftables.TableFamily) (bool, error) {
	_, err := c.ListTableOfFamily(name, fam)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return false, err
}

func (n *Network) sgTable() *nftables.Table {
	return &nftables.Table{Name: n.names.sgTable(), Family: nftables.TableFamilyINet}
}

func (n *Network) brTable() *nftables.Table {
	return &nftables.Table{Name: n.names.brTable(), Family: nftables.TableFamilyBridge}
}

func vmap(t *nftables.Table, name string, key nftables.SetDatatype) *nftables.Set {
	return &nftables.Set{Table: t, Name: name, IsMap: true, KeyType: key, DataType: nftables.TypeVerdict}
}

func addrMap(t *nftables.Table, name string) *nftables.Set {
	return &nftables.Set{Table: t, Name: name, IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeIPAddr}
}

func addrSet(t *nftables.Table, name string) *nftables.Set {
	return &nftables.Set{Table: t, Name: name, KeyType: nftables.TypeIPAddr}
}

// lookup looks register 1 up in set s; into the verdict register for a vmap, register 1 for a map.
func lookup(s *nftables.Set, dest bool, dreg uint32) expr.Any {
	return &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID, IsDestRegSet: dest, DestRegister: dreg}
}

func baseChain(c *nftables.Conn, t *nftables.Table, name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return c.AddChain(&nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept})
}

// ensureCoreTables creates the core netns tables unless they exist.
func (n *Network) ensureCoreTables() error {
	c, err := nftConn(n.core)
	if err != nil {
		return err
	}
	if ok, err := tableExists(c, n.names.sgTable(), nftables.TableFamilyINet); err != nil {
		return err
	} else if !ok {
		n.addSGTable(c)
	}
	if ok, err := tableExists(c, n.names.brTable(), nftables.TableFamilyBridge); err != nil {
		return err
	} else if !ok {
		n.addBridgeTable(c)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables in %s: %w", n.names.core(), err)
	}
	return nil
}

func (n *Network) addSGTable(c *nftables.Conn) {
	t := c.AddTable(n.sgTable())
	ingress, egress := vmap(t, setIngress, nftables.TypeIPAddr), vmap(t, setEgress, nftables.TypeIPAddr)
	internet := addrSet(t, setInternet)
	pub2priv, priv2pub := addrMap(t, setPub2Priv), addrMap(t, setPriv2Pub)
	for _, s := range []*nftables.Set{ingress, egress, internet, pub2priv, priv2pub} {
		_ = c.AddSet(s, nil) // errors only for anonymous sets
	}
	add := func(ch *nftables.Chain, e []expr.Any) { c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e}) }
	down, bridges := n.names.down(), n.names.bridgePrefix()

	fw := baseChain(c, t, "forward", nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter)
	add(fw, rule(ctEstablished(), one(verdict(expr.VerdictAccept))))
	// VPCs are IPv4 only for now; this also keeps IPv6 link-local traffic from bypassing the groups.
	add(fw, rule(nfproto(unix.NFPROTO_IPV6), one(verdict(expr.VerdictDrop))))
	add(fw, rule(nfproto(unix.NFPROTO_IPV4), one(load(expr.PayloadBaseNetworkHeader, ip4Src, 4)), one(lookup(egress, true, 0))))
	add(fw, rule(nfproto(unix.NFPROTO_IPV4), one(load(expr.PayloadBaseNetworkHeader, ip4Dst, 4)), one(lookup(ingress, true, 0))))
	add(fw, rule(oifIs(down), one(load(expr.PayloadBaseNetworkHeader, ip4Src, 4)), one(lookup(internet, false, 0)), one(verdict(expr.VerdictAccept))))
	add(fw, rule(oifIs(down), one(verdict(expr.VerdictDrop))))
	add(fw, rule(iifHas(bridges), one(verdict(expr.VerdictDrop))))

	in := baseChain(c, t, "input", nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter)
	add(in, rule(ctEstablished(), one(verdict(expr.VerdictAccept))))
	for _, svc := range network.Services {
		add(in, rule(iifHas(bridges), addrIn(netip.PrefixFrom(svc.Addr.Addr(), 32), false), l4proto(unix.IPPROTO_TCP),
			dportRange(int(svc.Addr.Port()), int(svc.Addr.Port())), one(verdict(expr.VerdictAccept))))
	}
	resolver := netip.PrefixFrom(network.ResolverAddr.Addr(), 32)
	for _, proto := range []byte{unix.IPPROTO_UDP, unix.IPPROTO_TCP} {
		add(in, rule(iifHas(bridges), addrIn(resolver, false), l4proto(proto),
			dportRange(int(network.ResolverAddr.Port()), int(network.ResolverAddr.Port())), one(verdict(expr.VerdictAccept))))
	}
	add(in, rule(iifHas(bridges), one(verdict(expr.VerdictDrop))))

	pre := baseChain(c, t, "prerouting", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	add(pre, rule(nfproto(unix.NFPROTO_IPV4), one(load(expr.PayloadBaseNetworkHeader, ip4Dst, 4)), one(lookup(pub2priv, true, 1)),
		one(&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})))

	post := baseChain(c, t, "postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	add(post, rule(oifIs(down), nfproto(unix.NFPROTO_IPV4), one(load(expr.PayloadBaseNetworkHeader, ip4Src, 4)), one(lookup(priv2pub, true, 1)),
		one(&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})))
	add(post, rule(oifIs(down), nfproto(unix.NFPROTO_IPV4), one(load(expr.PayloadBaseNetworkHeader, ip4Src, 4)), one(lookup(internet, false, 0)),
		one(&expr.Masq{})))
}

func (n *Network) addBridgeTable(c *nftables.Conn) {
	t := c.AddTable(n.brTable())
	ports := vmap(t, setPorts, nftables.TypeIFName)
	ports.KeyByteOrder = binaryutil.NativeEndian // how nft stores strings, so that it lists the names
	_ = c.AddSet(ports, nil)
	pre := baseChain(c, t, "prerouting", nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRef(-200))
	c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: rule(
		one(&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}), one(lookup(ports, true, 0)))})
	// A veth of ours that is not in the map belongs to a detached instance whose namespace is still held.
	c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: rule(iifHas(n.names.vethPrefix()), one(verdict(expr.VerdictDrop)))})
}

// ensureHostTable creates inet <p>_host in the host netns unless it exists.
func (n *Network) ensureHostTable() error {
	c, err := nftConn(netns.None())
	if err != nil {
		return err
	}
	if ok, err := tableExists(c, n.names.hostTable(), nftables.TableFamilyINet); err != nil || ok {
		return err
	}
	t := c.AddTable(&nftables.Table{Name: n.names.hostTable(), Family: nftables.TableFamilyINet})
	add := func(ch *nftables.Chain, e []expr.Any) { c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e}) }
	up := n.names.up()
	in := baseChain(c, t, "input", nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter)
	add(in, rule(iifIs(up), ctEstablished(), one(verdict(expr.VerdictAccept))))
	add(in, rule(iifIs(up), one(verdict(expr.VerdictDrop))))
	post := baseChain(c, t, "postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	for _, p := range []netip.Prefix{n.linkNet, n.pool} {
		add(post, rule(metaIs(expr.MetaKeyOIFNAME, expr.CmpOpNeq, ifname(up)), addrIn(p, true), one(&expr.Masq{})))
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables in the host netns: %w", err)
	}
	return nil
}

// deleteTable removes a table if it exists.
func deleteTable(ns netns.NsHandle, name string, fam nftables.TableFamily) error {
	c, err := nftConn(ns)
	if err != nil {
		return err
	}
	if ok, err := tableExists(c, name, fam); err != nil || !ok {
		return err
	}
	c.DelTable(&nftables.Table{Name: name, Family: fam})
	return c.Flush()
}
