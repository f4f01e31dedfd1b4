package linux

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"regexp"
	"strings"
)

// Every host object is named from Config.Prefix so that several Overcast servers (parallel tests among
// them) never touch each other's objects, and leaks are easy to spot:
//
//	/var/run/netns/<p>-core        Overcast's own network namespace (router, bridges, NAT, firewall)
//	/var/run/netns/<p>-<instance>  one per instance
//	<p>-up / <p>-dn                veth pair host netns / core netns
//	<p>b<hash8(subnet id)>         subnet bridge, in core
//	<p>v<hash8(instance id)>       instance veth, core side (the peer is eth0 in the instance netns)
//	inet <p>_sg, bridge <p>_br     nftables tables in core; inet <p>_host in the host netns
const netnsDir = "/var/run/netns"

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,3}$`)

type names struct{ p string }

func (n names) core() string      { return n.p + "-core" }
func (n names) up() string        { return n.p + "-up" }
func (n names) down() string      { return n.p + "-dn" }
func (n names) sgTable() string   { return n.p + "_sg" }
func (n names) brTable() string   { return n.p + "_br" }
func (n names) hostTable() string { return n.p + "_host" }

func (n names) instanceNetns(instanceID string) string { return n.p + "-" + instanceID }
func (n names) bridge(subnetID string) string          { return n.p + "b" + hash8(subnetID) }
func (n names) veth(instanceID string) string          { return n.p + "v" + hash8(instanceID) }
func (n names) bridgePrefix() string                   { return n.p + "b" }
func (n names) vethPrefix() string                     { return n.p + "v" }

// instanceFromNetns returns the instance id a namespace name belongs to, or "" if it is not one of ours.
func (n names) instanceFromNetns(name string) string {
	id, ok := strings.CutPrefix(name, n.p+"-")
	if !ok || name == n.core() {
		return ""
	}
	return id
}

// Per-interface chains are named after the interface id.
func ingressChain(ifaceID string) string { return "sg-in-" + ifaceID }
func egressChain(ifaceID string) string  { return "sg-out-" + ifaceID }
func portChain(ifaceID string) string    { return "port-" + ifaceID }

// hash8 is 8 hex digits: record ids are too long for the 15-byte interface names.
func hash8(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("%08x", h.Sum32())
}

// portAlias is stored as the ifalias of an instance veth, so that after a restart the interface id and
// address of every attached instance can be found again from the kernel alone.
type portAlias struct {
	InstanceID string
	IfaceID    string
	SubnetID   string
	IP         netip.Addr
}

func (a portAlias) String() string {
	return fmt.Sprintf("overcast instance=%s interface=%s subnet=%s ip=%s", a.InstanceID, a.IfaceID, a.SubnetID, a.IP)
}

func parsePortAlias(s string) (portAlias, bool) {
	f := strings.Fields(s)
	if len(f) == 0 || f[0] != "overcast" {
		return portAlias{}, false
	}
	var a portAlias
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "instance":
			a.InstanceID = v
		case "interface":
			a.IfaceID = v
		case "subnet":
			a.SubnetID = v
		case "ip":
			a.IP, _ = netip.ParseAddr(v)
		}
	}
	return a, a.InstanceID != "" && a.IfaceID != "" && a.IP.IsValid()
}
