// Package linux is the Linux data plane behind network.Network: Overcast's own network namespace with one
// bridge per subnet, a veth pair to the host netns through which the public pool is routed and 1:1 NATed,
// one network namespace per instance, security groups as nftables chains, and the metadata listener.
//
// It owns only host objects whose names start with Config.Prefix (see names.go) and touches nothing else on
// the host: it adds one route (the public pool) and one nftables table to the host netns, and refuses to start
// when the pool is already routed or addressed on the host. It never runs ip or nft.
package linux

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Config configures the data plane.
type Config struct {
	// Prefix starts every host object's name: 1 to 4 lower-case letters or digits, starting with a letter.
	// Servers (or tests) with different prefixes never touch each other's objects. Default "oc".
	Prefix string
	// PublicPool is where public IPv4 addresses come from. It is routed from the host into the core netns
	// and must not be routed or addressed on the host already. Default 198.18.0.0/16, inside the
	// benchmarking range 198.18.0.0/15 (RFC 2544), which no network routes.
	PublicPool netip.Prefix
	// LinkNet is the /30 between the host and the core netns. Default: the first free /30 in
	// 169.254.252.0/22, starting from a hash of Prefix.
	LinkNet netip.Prefix
	Logger  *slog.Logger
}

// DefaultPublicPool is the public pool when Config leaves it unset.
var DefaultPublicPool = netip.MustParsePrefix("198.18.0.0/16")

var linkNetRange = netip.MustParsePrefix("169.254.252.0/22")

// Network is the Linux network.Network.
type Network struct {
	names   names
	log     *slog.Logger
	pool    netip.Prefix
	linkNet netip.Prefix
	upIP    netip.Addr // host side of the link
	downIP  netip.Addr // core side of the link, the pool's next hop

	core   netns.NsHandle
	hostNL *netlink.Handle
	coreNL *netlink.Handle

	mu          sync.Mutex
	ports       map[string]portAlias // attached interfaces by interface id
	listeners   []net.Listener
	packetConns []net.PacketConn
}

var _ network.Network = (*Network)(nil)

// setupMu serialises New and Teardown within the process: picking a free link network is check-then-act.
var setupMu sync.Mutex

// New sets the data plane up, or adopts the one a previous run (killed or not) left behind.
func New(ctx context.Context, cfg Config) (*Network, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "oc"
	}
	if !prefixRE.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("network prefix %q: want 1-4 lower-case letters or digits, starting with a letter", cfg.Prefix)
	}
	if !cfg.PublicPool.IsValid() {
		cfg.PublicPool = DefaultPublicPool
	}
	if !cfg.PublicPool.Addr().Is4() || cfg.PublicPool.Bits() > 30 {
		return nil, fmt.Errorf("public pool %s: want an IPv4 prefix of /30 or larger", cfg.PublicPool)
	}
	if cfg.LinkNet.IsValid() && (!cfg.LinkNet.Addr().Is4() || cfg.LinkNet.Bits() != 30) {
		return nil, fmt.Errorf("link network %s: want an IPv4 /30", cfg.LinkNet)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Network{
		names: names{cfg.Prefix},
		log:   cfg.Logger.With("component", "network", "prefix", cfg.Prefix),
		pool:  cfg.PublicPool.Masked(),
		core:  netns.None(),
		ports: map[string]portAlias{},
	}
	setupMu.Lock()
	defer setupMu.Unlock()
	if err := n.setup(cfg.LinkNet); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Network) setup(linkNet netip.Prefix) error {
	var err error
	if n.hostNL, err = netlink.NewHandle(); err != nil {
		return err
	}
	// Refuse a pool the host already uses before making anything.
	ours := -1
	if up, err := n.hostNL.LinkByName(n.names.up()); err == nil {
		ours = up.Attrs().Index
	}
	if err := n.checkFree(n.pool, ours); err != nil {
		return fmt.Errorf("public pool refused: %w", err)
	}
	if n.core, err = ensureNamedNetns(n.names.core(), nil); err != nil {
		return err
	}
	err = inNetns(n.core, func() error {
		return writeSysctls(
			"net/ipv4/ip_forward", "1",
			"net/ipv6/conf/all/disable_ipv6", "1",
			"net/ipv6/conf/default/disable_ipv6", "1",
			// Bridged IPv4 goes through the inet hooks, so security groups apply within a subnet too.
			"net/bridge/bridge-nf-call-iptables", "1",
		)
	})
	if err != nil {
		return fmt.Errorf("core netns %s: %w (the kernel needs br_netfilter)", n.names.core(), err)
	}
	if n.coreNL, err = netlink.NewHandleAt(n.core); err != nil {
		return err
	}
	if err := n.ensureLink(linkNet); err != nil {
		return err
	}
	if err := n.ensureCoreTables(); err != nil {
		return err
	}
	if err := n.ensureHostTable(); err != nil {
		return err
	}
	if err := n.ensurePoolRoute(); err != nil {
		return err
	}
	return n.loadPorts()
}

// loadPorts finds the attached interfaces again from their veths' aliases.
func (n *Network) loadPorts() error {
	links, err := n.coreNL.LinkList()
	if err != nil {
		return err
	}
	for _, l := range links {
		if a, ok := parsePortAlias(l.Attrs().Alias); ok {
			n.ports[a.IfaceID] = a
		}
	}
	if len(n.ports) > 0 {
		n.log.Info("adopted attached interfaces", "count", len(n.ports))
	}
	return nil
}

// PublicPool returns the range public addresses come from.
func (n *Network) PublicPool() netip.Prefix { return n.pool }

// Instances lists instance ids that have a namespace or a veth on the host.
func (n *Network) Instances(ctx context.Context) ([]string, error) {
	names, err := listNetns()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, name := range names {
		if id := n.names.instanceFromNetns(name); id != "" {
			ids = append(ids, id)
		}
	}
	links, err := n.coreNL.LinkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if a, ok := parsePortAlias(l.Attrs().Alias); ok {
			ids = append(ids, a.InstanceID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// Close releases the data plane's handles. Instances, bridges, NAT and rules stay, for the next New to adopt.
// Listeners from ListenService and ListenResolver belong to the caller.
func (n *Network) Close() error {
	if n.hostNL != nil {
		n.hostNL.Close()
		n.hostNL = nil
	}
	if n.coreNL != nil {
		n.coreNL.Close()
		n.coreNL = nil
	}
	if n.core != netns.None() {
		n.core.Close()
		n.core = netns.None()
	}
	return nil
}

// Teardown closes n and the metadata listeners it handed out, then removes every host object with its
// prefix (see the package function Teardown).
func (n *Network) Teardown(ctx context.Context) error {
	n.mu.Lock()
	for _, pc := range n.packetConns {
		_ = pc.Close()
	}
	n.packetConns = nil
	for _, l := range n.listeners {
		l.Close() // a socket holds its namespace alive
	}
	n.listeners = nil
	n.mu.Unlock()
	n.Close()
	return Teardown(ctx, n.names.p)
}

// Teardown removes everything a data plane with this prefix made, running or not: every instance namespace,
// the core namespace (with its bridges, veths and tables), the host veth and with it the pool route, and the
// host table. It is what `overcast cleanup` and tests use.
func Teardown(ctx context.Context, prefix string) error {
	if !prefixRE.MatchString(prefix) {
		return fmt.Errorf("network prefix %q is not valid", prefix)
	}
	setupMu.Lock()
	defer setupMu.Unlock()
	nm := names{prefix}
	var errs []error
	errs = append(errs, deleteTable(netns.None(), nm.hostTable(), nftables.TableFamilyINet))
	if l, err := netlink.LinkByName(nm.up()); err == nil {
		errs = append(errs, netlink.LinkDel(l))
	}
	all, err := listNetns()
	errs = append(errs, err)
	for _, name := range all {
		if name == nm.core() || nm.instanceFromNetns(name) != "" {
			errs = append(errs, deleteNamedNetns(name))
		}
	}
	return errors.Join(errs...)
}
