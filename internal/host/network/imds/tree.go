package imds

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// node is one entry of the metadata tree: a directory, a fixed value, or a value computed when it is asked for
// (role credentials, which must not be issued just because someone listed iam/).
type node struct {
	name  string
	label string  // the directory listing's line, when it is not the name ("0=my-key")
	kids  []*node // non-nil for a directory, in the order AWS lists them (alphabetical)
	value string
	load  func() (string, error)
}

func dir(name string, kids ...*node) *node {
	return &node{name: name, kids: append([]*node{}, kids...)}
}

func leaf(name, value string) *node { return &node{name: name, value: value} }

func (n *node) isDir() bool { return n.kids != nil }

func (n *node) child(name string) *node {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// listing is what AWS answers for a directory: one entry a line, sub-directories with a trailing slash, and
// no newline after the last.
func (n *node) listing() string {
	lines := make([]string, len(n.kids))
	for i, k := range n.kids {
		switch {
		case k.label != "":
			lines[i] = k.label
		case k.isDir():
			lines[i] = k.name + "/"
		default:
			lines[i] = k.name
		}
	}
	return strings.Join(lines, "\n")
}

// errNoSuchPath is a path that is not in the tree, or a value that is not there after all (a role that was
// deleted while the profile still names it).
var errNoSuchPath = errors.New("imds: no such path")

// walk resolves path segments below n to a listing or a value.
func walk(n *node, segs []string) (string, error) {
	for _, s := range segs {
		if s == "" {
			continue // trailing slash
		}
		if !n.isDir() {
			return "", errNoSuchPath
		}
		if n = n.child(s); n == nil {
			return "", errNoSuchPath
		}
	}
	switch {
	case n.isDir():
		return n.listing(), nil
	case n.load != nil:
		return n.load()
	}
	return n.value, nil
}

// Fixed values AWS serves for what Overcast does not model.
const (
	amiManifestPath   = "(unknown)"
	instanceAction    = "none"
	instanceLifeCycle = "on-demand"
	virtProfile       = "default-hvm"
	servicesDomain    = "amazonaws.com"
	servicesPartition = "aws"
	vhostmd           = `<?xml version="1.0" encoding="UTF-8"?>`
	docVersion        = "2017-09-30" // the identity document's format version
)

// metaData builds /latest/meta-data/ for inst. iam is its iam/ directory, nil when it has no role.
func metaData(inst *Instance, iam *node) *node {
	hasPublic := inst.PublicIPv4.IsValid()
	kids := []*node{
		leaf("ami-id", inst.ImageID),
		leaf("ami-launch-index", strconv.Itoa(inst.LaunchIndex)),
		leaf("ami-manifest-path", amiManifestPath),
		blockDevices(inst),
		leaf("hostname", inst.Hostname),
		iam,
		leaf("instance-action", instanceAction),
		leaf("instance-id", inst.InstanceID),
		leaf("instance-life-cycle", instanceLifeCycle),
		leaf("instance-type", inst.InstanceType),
		leaf("local-hostname", inst.Hostname),
		leaf("local-ipv4", inst.LocalIPv4.String()),
		leaf("mac", inst.MAC),
		dir("metrics", leaf("vhostmd", vhostmd)),
		dir("network", dir("interfaces", dir("macs", macDir(inst)))),
		placement(inst),
		leaf("profile", virtProfile),
	}
	if inst.PublicHostname != "" {
		kids = append(kids, leaf("public-hostname", inst.PublicHostname))
	}
	if hasPublic {
		kids = append(kids, leaf("public-ipv4", inst.PublicIPv4.String()))
	}
	if len(inst.PublicKeys) > 0 {
		kids = append(kids, publicKeys(inst.PublicKeys))
	}
	kids = append(kids,
		leaf("reservation-id", inst.ReservationID),
		leaf("security-groups", strings.Join(inst.SecurityGroups, "\n")),
		dir("services", leaf("domain", servicesDomain), leaf("partition", servicesPartition)),
	)
	return dir("meta-data", slices.DeleteFunc(kids, func(n *node) bool { return n == nil })...)
}

// defaultBlockDevices is what an instance launched from an EBS-backed AMI with no further mappings shows.
var defaultBlockDevices = map[string]string{"ami": "/dev/xvda", "root": "/dev/xvda"}

func blockDevices(inst *Instance) *node {
	m := inst.BlockDevices
	if len(m) == 0 {
		m = defaultBlockDevices
	}
	d := dir("block-device-mapping")
	for _, k := range slices.Sorted(maps.Keys(m)) {
		d.kids = append(d.kids, leaf(k, m[k]))
	}
	return d
}

// macDir is network/interfaces/macs/<mac>/ for the instance's one interface.
func macDir(inst *Instance) *node {
	local := inst.LocalIPv4.String()
	kids := []*node{
		leaf("device-number", "0"),
		leaf("interface-id", inst.InterfaceID),
	}
	if inst.PublicIPv4.IsValid() {
		kids = append(kids, dir("ipv4-associations", leaf(inst.PublicIPv4.String(), local)))
	}
	kids = append(kids,
		leaf("local-hostname", inst.Hostname),
		leaf("local-ipv4s", local),
		leaf("mac", inst.MAC),
		leaf("owner-id", inst.Account),
	)
	if inst.PublicHostname != "" {
		kids = append(kids, leaf("public-hostname", inst.PublicHostname))
	}
	if inst.PublicIPv4.IsValid() {
		kids = append(kids, leaf("public-ipv4s", inst.PublicIPv4.String()))
	}
	kids = append(kids,
		leaf("security-group-ids", strings.Join(inst.SecurityGroupIDs, "\n")),
		leaf("security-groups", strings.Join(inst.SecurityGroups, "\n")),
		leaf("subnet-id", inst.SubnetID),
		leaf("subnet-ipv4-cidr-block", inst.SubnetCIDR),
		leaf("vpc-id", inst.VPCID),
		leaf("vpc-ipv4-cidr-block", inst.VPCCIDR),
		leaf("vpc-ipv4-cidr-blocks", inst.VPCCIDR),
	)
	return dir(inst.MAC, kids...)
}

func placement(inst *Instance) *node {
	d := dir("placement", leaf("availability-zone", inst.AvailabilityZone))
	if inst.AvailabilityZoneID != "" {
		d.kids = append(d.kids, leaf("availability-zone-id", inst.AvailabilityZoneID))
	}
	d.kids = append(d.kids, leaf("region", inst.Region))
	return d
}

// publicKeys is public-keys/: "0=name" in the listing, and 0/openssh-key below it.
func publicKeys(keys []PublicKey) *node {
	d := dir("public-keys")
	for i, k := range keys {
		n := dir(strconv.Itoa(i), leaf("openssh-key", k.OpenSSH))
		n.label = n.name + "=" + k.Name
		d.kids = append(d.kids, n)
	}
	return d
}

// dynamic builds /latest/dynamic/. The document's signatures (signature, pkcs7, rsa2048) are not served: they
// would be signed by a key no client trusts as AWS's, which is worse than their absence.
func dynamic(inst *Instance) *node {
	arch := inst.Architecture
	if arch == "" {
		arch = "x86_64"
	}
	doc := awsJSON(
		field{"accountId", inst.Account},
		field{"architecture", arch},
		field{"availabilityZone", inst.AvailabilityZone},
		field{"billingProducts", nil},
		field{"devpayProductCodes", nil},
		field{"marketplaceProductCodes", nil},
		field{"imageId", inst.ImageID},
		field{"instanceId", inst.InstanceID},
		field{"instanceType", inst.InstanceType},
		field{"kernelId", nil},
		field{"pendingTime", awsTime(inst.LaunchTime)},
		field{"privateIp", inst.LocalIPv4.String()},
		field{"ramdiskId", nil},
		field{"region", inst.Region},
		field{"version", docVersion},
	)
	return dir("dynamic", dir("instance-identity", leaf("document", doc)))
}

// field is one member of a JSON document, in the order AWS writes it; a nil value is null.
type field struct {
	key   string
	value any
}

// awsJSON writes a document the way the metadata service does: two-space indent and " : " between key and
// value. Clients parse it as JSON, but people read and grep it, so it looks like AWS's.
func awsJSON(fields ...field) string {
	var b strings.Builder
	b.WriteString("{\n")
	for i, f := range fields {
		k, _ := json.Marshal(f.key)
		v, _ := json.Marshal(f.value)
		b.WriteString("  ")
		b.Write(k)
		b.WriteString(" : ")
		b.Write(v)
		if i < len(fields)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteByte('}')
	return b.String()
}

// awsTime is the metadata service's timestamp format: UTC to the second.
func awsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
