package linux

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/vishvananda/netlink"
)

// EnsureSubnet creates the subnet's bridge in the core netns with the VPC router address (the gateway) on it.
// Subnets share one routing table in the core netns, so a CIDR that overlaps another subnet's is refused.
func (n *Network) EnsureSubnet(ctx context.Context, s network.Subnet) error {
	if !s.CIDR.Addr().Is4() || !s.CIDR.Contains(s.Gateway) || s.CIDR.Bits() > 30 {
		return fmt.Errorf("subnet %s: cidr %s, gateway %s: %w", s.ID, s.CIDR, s.Gateway, network.ErrInvalid)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	name := n.names.bridge(s.ID)
	gw := addr(prefixWith(s.Gateway, s.CIDR))
	links, err := n.coreNL.LinkList()
	if err != nil {
		return err
	}
	var br netlink.Link
	for _, l := range links {
		if l.Attrs().Name == name {
			br = l
			continue
		}
		if _, ok := l.(*netlink.Bridge); !ok {
			continue
		}
		addrs, _ := n.coreNL.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			if p := prefixOf(a.IPNet); p.Overlaps(s.CIDR) {
				return fmt.Errorf("subnet %s (%s) overlaps %s on %s: %w", s.ID, s.CIDR, p, l.Attrs().Name, network.ErrInvalid)
			}
		}
	}
	if br == nil {
		if err := n.coreNL.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
			return fmt.Errorf("create bridge %s for %s: %w", name, s.ID, err)
		}
		if br, err = n.coreNL.LinkByName(name); err != nil {
			return err
		}
	}
	err = errors.Join(
		n.coreNL.LinkSetAlias(br, fmt.Sprintf("overcast subnet=%s vpc=%s", s.ID, s.VPCID)),
		n.coreNL.AddrReplace(br, gw),
		n.coreNL.LinkSetUp(br),
	)
	if err != nil {
		return fmt.Errorf("bridge %s for %s: %w", name, s.ID, err)
	}
	n.log.Debug("subnet ensured", "subnet", s.ID, "bridge", name, "cidr", s.CIDR)
	return nil
}

// DeleteSubnet removes the subnet's bridge. Ports whose instance namespace is gone are veths the kernel is
// still reaping (or whose namespace a process still holds); they are waited for, then removed.
func (n *Network) DeleteSubnet(ctx context.Context, subnetID string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	br, err := n.coreNL.LinkByName(n.names.bridge(subnetID))
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(time.Second)
	for {
		ports, err := n.bridgePorts(br)
		if err != nil {
			return err
		}
		if len(ports) == 0 {
			break
		}
		for _, p := range ports {
			if a, ok := parsePortAlias(p.Attrs().Alias); ok && isNetnsMount(netnsPath(n.names.instanceNetns(a.InstanceID))) {
				return fmt.Errorf("subnet %s: instance %s is attached: %w", subnetID, a.InstanceID, network.ErrInUse)
			}
		}
		if time.Now().After(deadline) {
			for _, p := range ports {
				if err := n.coreNL.LinkDel(p); err != nil {
					return err
				}
			}
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := n.coreNL.LinkDel(br); err != nil {
		return fmt.Errorf("delete bridge of %s: %w", subnetID, err)
	}
	return nil
}

func (n *Network) bridgePorts(br netlink.Link) ([]netlink.Link, error) {
	links, err := n.coreNL.LinkList()
	if err != nil {
		return nil, err
	}
	var out []netlink.Link
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l)
		}
	}
	return out, nil
}
