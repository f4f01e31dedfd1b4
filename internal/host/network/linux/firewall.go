package linux

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"golang.org/x/sys/unix"
)

// SetFirewall replaces the interface's ingress and egress chains in one transaction: the kernel applies the
// whole new rule set at once, for the next packet. Connections already tracked keep flowing, as in AWS.
func (n *Network) SetFirewall(ctx context.Context, ifaceID string, fw network.Firewall) error {
	// Compile first, so that an invalid rule changes nothing.
	ingress, err := compileRules(fw.Ingress, true)
	if err != nil {
		return fmt.Errorf("ingress of %s: %w", ifaceID, err)
	}
	egress, err := compileRules(fw.Egress, false)
	if err != nil {
		return fmt.Errorf("egress of %s: %w", ifaceID, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.ports[ifaceID]; !ok {
		return fmt.Errorf("interface %s: %w", ifaceID, network.ErrNotFound)
	}
	c, err := nftConn(n.core)
	if err != nil {
		return err
	}
	sg := n.sgTable()
	in := c.AddChain(&nftables.Chain{Name: ingressChain(ifaceID), Table: sg})
	out := c.AddChain(&nftables.Chain{Name: egressChain(ifaceID), Table: sg})
	c.FlushChain(in)
	c.FlushChain(out)
	n.fillChain(c, in, ingress)
	n.fillChain(c, out, egress)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("firewall of %s: %w", ifaceID, err)
	}
	return nil
}

// fillChain writes a per-interface chain: replies first, then the allow rules, then drop.
func (n *Network) fillChain(c *nftables.Conn, ch *nftables.Chain, rules [][]expr.Any) {
	add := func(e []expr.Any) { c.AddRule(&nftables.Rule{Table: ch.Table, Chain: ch, Exprs: e}) }
	add(rule(ctEstablished(), one(verdict(expr.VerdictAccept))))
	for _, r := range rules {
		add(r)
	}
	add(one(verdict(expr.VerdictDrop)))
}

// compileRules turns rules into nftables rules, one per CIDR. Ingress rules match the source and accept.
// Egress rules match the destination and return to the forward chain, which then applies the destination's
// ingress rules when it is another instance: both ends' groups must allow a connection, as in AWS.
func compileRules(rules []network.Rule, ingress bool) ([][]expr.Any, error) {
	v := expr.VerdictReturn
	if ingress {
		v = expr.VerdictAccept
	}
	var out [][]expr.Any
	for _, r := range rules {
		match, err := compileMatch(r)
		if err != nil {
			return nil, err
		}
		for _, p := range r.CIDRs {
			if !p.IsValid() {
				return nil, fmt.Errorf("cidr %v: %w", p, network.ErrInvalid)
			}
			out = append(out, rule(addrIn(p, ingress), match, one(verdict(v))))
		}
	}
	return out, nil
}

// compileMatch compiles the protocol and port part of a rule.
func compileMatch(r network.Rule) ([]expr.Any, error) {
	proto, err := protocolNumber(r.Protocol)
	if err != nil {
		return nil, err
	}
	if proto < 0 {
		return nil, nil
	}
	m := l4proto(byte(proto))
	switch proto {
	case unix.IPPROTO_TCP, unix.IPPROTO_UDP:
		from, to := r.FromPort, r.ToPort
		if from == -1 || (from <= 0 && to >= 65535) {
			return m, nil
		}
		if from < 0 || to < from || to > 65535 {
			return nil, fmt.Errorf("port range %d-%d: %w", from, to, network.ErrInvalid)
		}
		return append(m, dportRange(from, to)...), nil
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		if r.FromPort > 255 || r.ToPort > 255 {
			return nil, fmt.Errorf("icmp type %d code %d: %w", r.FromPort, r.ToPort, network.ErrInvalid)
		}
		if r.FromPort >= 0 {
			m = append(m, icmpField(0, r.FromPort)...)
			if r.ToPort >= 0 {
				m = append(m, icmpField(1, r.ToPort)...)
			}
		}
	}
	return m, nil
}

// protocolNumber maps AWS's IpProtocol to an IP protocol number, or -1 for all.
func protocolNumber(p string) (int, error) {
	switch strings.ToLower(p) {
	case "-1", "all", "":
		return -1, nil
	case "tcp":
		return unix.IPPROTO_TCP, nil
	case "udp":
		return unix.IPPROTO_UDP, nil
	case "icmp":
		return unix.IPPROTO_ICMP, nil
	case "icmpv6":
		return unix.IPPROTO_ICMPV6, nil
	}
	v, err := strconv.Atoi(p)
	if err != nil || v < 0 || v > 255 {
		return 0, fmt.Errorf("protocol %q: %w", p, network.ErrInvalid)
	}
	return v, nil
}

// SetPublicIP maps public to the interface's private address 1:1, replacing any earlier mapping of either;
// an invalid public removes the mapping. Connections tracked through an old mapping are cut.
func (n *Network) SetPublicIP(ctx context.Context, ifaceID string, public netip.Addr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.ports[ifaceID]
	if !ok {
		return fmt.Errorf("interface %s: %w", ifaceID, network.ErrNotFound)
	}
	if public.IsValid() {
		if !public.Is4() || !n.pool.Contains(public) {
			return fmt.Errorf("public ip %s is outside the pool %s: %w", public, n.pool, network.ErrInvalid)
		}
		up, err := n.hostNL.LinkByName(n.names.up())
		if err != nil {
			return err
		}
		// Refuse an address whose packets the host would send anywhere but into the core netns.
		if err := n.checkRouted(public, up.Attrs().Index); err != nil {
			return fmt.Errorf("public ip %s: %w: %w", public, err, network.ErrInvalid)
		}
	}
	c, err := nftConn(n.core)
	if err != nil {
		return err
	}
	priv := a.IP.AsSlice()
	cut, err := n.unmapPublic(c, priv)
	if err != nil {
		return err
	}
	var cut2 netip.Addr
	if public.IsValid() {
		sg := n.sgTable()
		pub := public.AsSlice()
		// A public address moved from another interface without a disassociation first.
		if old, ok, err := setGet(c, addrMap(sg, setPub2Priv), pub); err != nil {
			return err
		} else if ok && string(old) != string(priv) {
			if cut2, err = n.unmapPublic(c, old); err != nil {
				return err
			}
		}
		_ = c.SetAddElements(addrMap(sg, setPub2Priv), []nftables.SetElement{{Key: pub, Val: priv}})
		_ = c.SetAddElements(addrMap(sg, setPriv2Pub), []nftables.SetElement{{Key: priv, Val: pub}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("public ip of %s: %w", ifaceID, err)
	}
	if cut != public {
		n.cutConnections(cut)
	}
	n.cutConnections(cut2)
	return nil
}
