package ec2

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// instanceRecord is an instance as the store keeps it (kindInstance, keyed by instance id). It holds every
// fact DescribeInstances shows and everything needed to find the instance's host objects again after a
// crash: the interface id, the addresses and the machine id (the instance id itself).
type instanceRecord struct {
	ID             string    `json:"id"`
	Account        string    `json:"account"`
	Region         string    `json:"region"`
	ReservationID  string    `json:"reservationId"`
	RequesterID    string    `json:"requesterId,omitempty"`
	AmiLaunchIndex int       `json:"amiLaunchIndex"`
	ClientToken    string    `json:"clientToken,omitempty"`
	LaunchTime     time.Time `json:"launchTime"`

	ImageID      string `json:"imageId"`
	InstanceType string `json:"instanceType"`
	Architecture string `json:"architecture"`
	Hypervisor   string `json:"hypervisor"`
	KeyName      string `json:"keyName,omitempty"`
	PublicKey    string `json:"publicKey,omitempty"` // the key pair's authorized_keys line at launch
	DefaultUser  string `json:"defaultUser,omitempty"`

	AvailabilityZone   string     `json:"az"`
	AvailabilityZoneID string     `json:"azId"`
	VPCID              string     `json:"vpcId"`
	SubnetID           string     `json:"subnetId"`
	SubnetCIDR         string     `json:"subnetCidr"`
	Groups             []groupRef `json:"groups"`

	// The primary network interface.
	InterfaceID   string `json:"eniId"`
	MAC           string `json:"mac"`
	AttachmentID  string `json:"eniAttachmentId"`
	PrivateIP     string `json:"privateIp"`
	PublicIP      string `json:"publicIp,omitempty"`
	PublicElastic bool   `json:"publicElastic,omitempty"` // PublicIP is an Elastic IP, not released by stop
	AutoPublicIP  bool   `json:"autoPublicIp,omitempty"`  // the launch asked for a public address
	ENITags       []Tag  `json:"eniTags,omitempty"`
	SourceDestOff bool   `json:"sourceDestOff,omitempty"` // SourceDestCheck disabled

	// The root device. Its volume id is a placeholder until EBS volumes exist; the disk itself is the
	// machine's real root filesystem.
	RootVolumeID string `json:"rootVolumeId"`
	VolumeTags   []Tag  `json:"volumeTags,omitempty"`

	State                 instanceState `json:"state"`
	StateTransitionReason string        `json:"stateTransitionReason,omitempty"`
	StateReasonCode       string        `json:"stateReasonCode,omitempty"`
	StateReasonMessage    string        `json:"stateReasonMessage,omitempty"`
	// EverRan says the machine has booted once: a failure to start it again stops it rather than
	// terminating it.
	EverRan bool `json:"everRan,omitempty"`
	// TerminatedAt starts the hour a terminated instance stays visible.
	TerminatedAt time.Time `json:"terminatedAt,omitzero"`

	Profile          *profileAssociation `json:"profile,omitempty"`
	Metadata         metadataOptions     `json:"metadata"`
	DisableApiTerm   bool                `json:"disableApiTermination,omitempty"`
	DisableApiStop   bool                `json:"disableApiStop,omitempty"`
	ShutdownBehavior string              `json:"shutdownBehavior"`   // stop or terminate
	UserData         string              `json:"userData,omitempty"` // base64, as given
	EbsOptimized     bool                `json:"ebsOptimized,omitempty"`
	Tags             []Tag               `json:"tags,omitempty"`
	// Hibernation is HibernationOptions.Configured at launch; HibernateStop says that the instance's
	// latest stop hibernates it, set by the move to stopping (lifecycle.go).
	Hibernation   bool `json:"hibernation,omitempty"`
	HibernateStop bool `json:"hibernateStop,omitempty"`
}

type groupRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type metadataOptions struct {
	HTTPTokens   string `json:"httpTokens"`
	HopLimit     int    `json:"hopLimit"`
	HTTPEndpoint string `json:"httpEndpoint"`
	Tags         string `json:"instanceMetadataTags"`
}

// profileAssociation is the instance's IAM instance profile association.
type profileAssociation struct {
	AssociationID string    `json:"associationId"`
	ARN           string    `json:"arn"`
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	State         string    `json:"state"`
	Timestamp     time.Time `json:"timestamp"`
}

// terminatedVisibility is how long a terminated instance stays in DescribeInstances, as in EC2.
const terminatedVisibility = time.Hour

func (r *instanceRecord) groupIDs() []string {
	ids := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		ids[i] = g.ID
	}
	return ids
}

func (r *instanceRecord) privateAddr() netip.Addr {
	a, _ := netip.ParseAddr(r.PrivateIP)
	return a
}

func (r *instanceRecord) publicAddr() netip.Addr {
	a, _ := netip.ParseAddr(r.PublicIP)
	return a
}

// privateDNSName is EC2's private hostname: ip-172-31-5-9.ec2.internal in us-east-1,
// ip-172-31-5-9.<region>.compute.internal elsewhere.
func (r *instanceRecord) privateDNSName() string {
	if r.PrivateIP == "" {
		return ""
	}
	if r.Region == "us-east-1" {
		return hostname(r.PrivateIP) + ".ec2.internal"
	}
	return hostname(r.PrivateIP) + "." + r.Region + ".compute.internal"
}

// publicDNSName is EC2's public hostname: ec2-3-4-5-6.compute-1.amazonaws.com in us-east-1,
// ec2-3-4-5-6.<region>.compute.amazonaws.com elsewhere.
func (r *instanceRecord) publicDNSName() string {
	if r.PublicIP == "" {
		return ""
	}
	name := "ec2-" + strings.ReplaceAll(r.PublicIP, ".", "-")
	if r.Region == "us-east-1" {
		return name + ".compute-1.amazonaws.com"
	}
	return name + "." + r.Region + ".compute.amazonaws.com"
}

// hostname is the instance's own hostname: ip-172-31-5-9.
func hostname(ip string) string { return "ip-" + strings.ReplaceAll(ip, ".", "-") }

func instanceKey(account, region, id string) store.Key {
	return store.Key{Account: account, Region: region, Kind: kindInstance, ID: id}
}

func (s *Service) keyOf(ctx context.Context, id string) store.Key {
	rc := awsctx.From(ctx)
	return instanceKey(rc.Account, rc.Region, id)
}

var instanceIDPattern = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)

// checkInstanceIDs answers EC2's errors for malformed ids.
func checkInstanceIDs(ids []string) error {
	for _, id := range ids {
		if !instanceIDPattern.MatchString(id) {
			return apierr.InvalidParam("InvalidInstanceID.Malformed", "Invalid id: %q", id)
		}
	}
	return nil
}

func instanceNotFound(ids ...string) error {
	if len(ids) == 1 {
		return apierr.Missing("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", ids[0])
	}
	return apierr.Missing("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(ids, ", "))
}

// getInstance reads one instance of the request's account and region. An instance gone past its visibility
// is not found, as in EC2.
func (s *Service) getInstance(ctx context.Context, id string) (instanceRecord, error) {
	if err := checkInstanceIDs([]string{id}); err != nil {
		return instanceRecord{}, err
	}
	r, _, err := store.Get[instanceRecord](ctx, s.st, s.keyOf(ctx, id))
	if errors.Is(err, store.ErrNotFound) || err == nil && s.expired(&r) {
		return instanceRecord{}, instanceNotFound(id)
	}
	return r, err
}

// getInstances reads the named instances, all of which must exist, in the order given.
func (s *Service) getInstances(ctx context.Context, ids []string) ([]instanceRecord, error) {
	if len(ids) == 0 {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter InstanceId")
	}
	if err := checkInstanceIDs(ids); err != nil {
		return nil, err
	}
	var out []instanceRecord
	var missing []string
	for _, id := range ids {
		r, err := s.getInstance(ctx, id)
		if apierr.Is(err, apierr.NotFound) {
			missing = append(missing, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(missing) > 0 {
		return nil, instanceNotFound(missing...)
	}
	return out, nil
}

// listInstances reads every visible instance of the request's account and region, dropping the records of
// instances terminated more than an hour ago.
func (s *Service) listInstances(ctx context.Context) ([]instanceRecord, error) {
	rc := awsctx.From(ctx)
	recs, raw, err := store.List[instanceRecord](ctx, s.st, store.Prefix{Account: rc.Account, Region: rc.Region, Kind: kindInstance})
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for i := range recs {
		if s.expired(&recs[i]) {
			// Best effort: a concurrent writer wins and the next listing retries.
			_, _ = store.Delete(ctx, s.st, raw[i].Key, raw[i].ModRevision)
			continue
		}
		out = append(out, recs[i])
	}
	return out, nil
}

func (s *Service) expired(r *instanceRecord) bool {
	return r.State == stateTerminated && !r.TerminatedAt.IsZero() && s.clock().Sub(r.TerminatedAt) > terminatedVisibility
}

// mutateInstance changes one instance record under optimistic concurrency.
func (s *Service) mutateInstance(ctx context.Context, key store.Key, fn func(*instanceRecord) error) (instanceRecord, error) {
	r, err := store.Mutate(ctx, s.st, key, fn)
	if errors.Is(err, store.ErrNotFound) {
		return r, instanceNotFound(key.ID)
	}
	if err == nil {
		s.hw().invalidate()
	}
	return r, err
}

// toAPI renders the record as DescribeInstances shows it.
func (r *instanceRecord) toAPI() api.Instance {
	privateDNS, publicDNS := r.privateDNSName(), r.publicDNSName() // each is shown several times
	groups := make([]api.GroupIdentifier, len(r.Groups))
	for i, g := range r.Groups {
		groups[i] = api.GroupIdentifier{GroupId: str(g.ID), GroupName: str(g.Name)}
	}
	in := api.Instance{
		AmiLaunchIndex:                   i32(r.AmiLaunchIndex),
		Architecture:                     str(r.Architecture),
		ClientToken:                      optStr(r.ClientToken),
		EbsOptimized:                     boolp(r.EbsOptimized),
		EnaSupport:                       boolp(true),
		Hypervisor:                       str(r.Hypervisor),
		ImageId:                          str(r.ImageID),
		InstanceId:                       str(r.ID),
		InstanceType:                     str(r.InstanceType),
		KeyName:                          optStr(r.KeyName),
		LaunchTime:                       timep(r.LaunchTime),
		Monitoring:                       &api.Monitoring{State: str("disabled")},
		Placement:                        &api.Placement{AvailabilityZone: str(r.AvailabilityZone), AvailabilityZoneId: str(r.AvailabilityZoneID), GroupName: str(""), Tenancy: str("default")},
		PlatformDetails:                  str("Linux/UNIX"),
		UsageOperation:                   str("RunInstances"),
		UsageOperationUpdateTime:         timep(r.LaunchTime),
		PrivateDnsName:                   str(privateDNS),
		PublicDnsName:                    str(publicDNS),
		RootDeviceName:                   str(rootDevice),
		RootDeviceType:                   str("ebs"),
		SecurityGroups:                   groups,
		SourceDestCheck:                  boolp(!r.SourceDestOff),
		State:                            r.State.api(),
		StateTransitionReason:            str(r.StateTransitionReason),
		Tags:                             apiTags(r.Tags),
		VirtualizationType:               str("hvm"),
		CpuOptions:                       &api.CpuOptions{CoreCount: i32(coresOf(r.InstanceType)), ThreadsPerCore: i32(threadsOf(r.InstanceType))},
		HibernationOptions:               &api.HibernationOptions{Configured: boolp(r.Hibernation)},
		EnclaveOptions:                   &api.EnclaveOptions{Enabled: boolp(false)},
		BootMode:                         str("uefi-preferred"),
		CurrentInstanceBootMode:          str("legacy-bios"),
		MaintenanceOptions:               &api.InstanceMaintenanceOptions{AutoRecovery: str("default")},
		PrivateDnsNameOptions:            &api.PrivateDnsNameOptionsResponse{HostnameType: str("ip-name"), EnableResourceNameDnsARecord: boolp(false), EnableResourceNameDnsAAAARecord: boolp(false)},
		CapacityReservationSpecification: &api.CapacityReservationSpecificationResponse{CapacityReservationPreference: str("open")},
		MetadataOptions: &api.InstanceMetadataOptionsResponse{
			State: str("applied"), HttpTokens: str(r.Metadata.HTTPTokens), HttpPutResponseHopLimit: i32(r.Metadata.HopLimit),
			HttpEndpoint: str(r.Metadata.HTTPEndpoint), HttpProtocolIpv6: str("disabled"), InstanceMetadataTags: str(r.Metadata.Tags),
		},
	}
	if r.StateReasonCode != "" {
		in.StateReason = &api.StateReason{Code: str(r.StateReasonCode), Message: str(r.StateReasonMessage)}
	}
	if r.Profile != nil {
		in.IamInstanceProfile = &api.IamInstanceProfile{Arn: str(r.Profile.ARN), Id: str(r.Profile.ID)}
	}
	// A terminated instance has left its network and lost its disk, as in EC2.
	if r.State == stateTerminated {
		return in
	}
	in.PrivateIpAddress = optStr(r.PrivateIP)
	in.PublicIpAddress = optStr(r.PublicIP)
	in.SubnetId = str(r.SubnetID)
	in.VpcId = str(r.VPCID)
	in.BlockDeviceMappings = []api.InstanceBlockDeviceMapping{{
		DeviceName: str(rootDevice),
		Ebs: &api.EbsInstanceBlockDevice{AttachTime: timep(r.LaunchTime), DeleteOnTermination: boolp(true),
			Status: str("attached"), VolumeId: str(r.RootVolumeID)},
	}}
	var assoc *api.InstanceNetworkInterfaceAssociation
	if r.PublicIP != "" {
		owner := "amazon"
		if r.PublicElastic {
			owner = r.Account
		}
		assoc = &api.InstanceNetworkInterfaceAssociation{IpOwnerId: str(owner), PublicDnsName: str(publicDNS), PublicIp: str(r.PublicIP)}
	}
	in.NetworkInterfaces = []api.InstanceNetworkInterface{{
		Association: assoc,
		Attachment: &api.InstanceNetworkInterfaceAttachment{AttachTime: timep(r.LaunchTime), AttachmentId: str(r.AttachmentID),
			DeleteOnTermination: boolp(true), DeviceIndex: i32(0), NetworkCardIndex: i32(0), Status: str("attached")},
		Description:        str(""),
		Groups:             groups,
		InterfaceType:      str("interface"),
		Ipv6Addresses:      []api.InstanceIpv6Address{},
		MacAddress:         str(r.MAC),
		NetworkInterfaceId: str(r.InterfaceID),
		OwnerId:            str(r.Account),
		PrivateDnsName:     str(privateDNS),
		PrivateIpAddress:   str(r.PrivateIP),
		PrivateIpAddresses: []api.InstancePrivateIpAddress{{Association: assoc, Primary: boolp(true),
			PrivateDnsName: str(privateDNS), PrivateIpAddress: str(r.PrivateIP)}},
		SourceDestCheck: boolp(!r.SourceDestOff),
		Status:          str("in-use"),
		SubnetId:        str(r.SubnetID),
		VpcId:           str(r.VPCID),
	}}
	return in
}

const rootDevice = "/dev/xvda"

// hostWork is the service's in-memory state for host work: one lock per instance so that the asynchronous
// steps of one instance never interleave, a wait group so that tests and shutdown can wait for them, and the
// metadata index.
type hostWork struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
	ready map[string]time.Time // the boot (by its start time) each machine was last seen finish
	wg    sync.WaitGroup

	idxMu  sync.Mutex
	idxRev int64
	idx    map[netip.Addr]indexedInstance
}

func (s *Service) hw() *hostWork { return &s.work }

// instanceLock returns the instance's host-work lock, making it on first use.
func (h *hostWork) instanceLock(id string) *sync.Mutex {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.locks == nil {
		h.locks = map[string]*sync.Mutex{}
	}
	m := h.locks[id]
	if m == nil {
		m = &sync.Mutex{}
		h.locks[id] = m
	}
	return m
}

// lock takes the instance's host-work lock.
func (h *hostWork) lock(id string) func() {
	m := h.instanceLock(id)
	m.Lock()
	return m.Unlock
}

// tryLock takes the lock only when nobody holds it.
func (h *hostWork) tryLock(id string) (func(), bool) {
	m := h.instanceLock(id)
	if !m.TryLock() {
		return nil, false
	}
	return m.Unlock, true
}

// invalidate drops the metadata index after an instance changed.
func (h *hostWork) invalidate() {
	h.idxMu.Lock()
	h.idx = nil
	h.idxMu.Unlock()
}

// async runs fn after the API call has returned, with the call's account and region but not its deadline.
func (s *Service) async(ctx context.Context, id string, fn func(ctx context.Context)) {
	h := s.hw()
	h.wg.Add(1)
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer h.wg.Done()
		unlock := h.lock(id)
		defer unlock()
		fn(ctx)
	}()
}

// Wait blocks until the host work started so far has finished. Tests and shutdown use it.
func (s *Service) Wait() { s.hw().wg.Wait() }

// withAccount returns ctx acting in the record's account and region, for work not started by a request.
func withAccount(ctx context.Context, account, region string) context.Context {
	return awsctx.With(ctx, &awsctx.Request{Account: account, Region: region})
}

// awsTime is how EC2 filters and shows times: 2026-01-02T03:04:05.000Z.
func awsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func i32(n int) *int32 { v := int32(n); return &v }

func boolp(b bool) *bool { return &b }

func timep(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func sortedInstances(rs []instanceRecord) {
	sort.Slice(rs, func(i, j int) bool { return pageKey(&rs[i]) < pageKey(&rs[j]) })
}

// pageKey orders instances for pagination: by launch, then reservation, then launch index, so a page token
// stays valid while instances come and go.
func pageKey(r *instanceRecord) string {
	return fmt.Sprintf("%020d/%s/%04d", r.LaunchTime.UnixNano(), r.ReservationID, r.AmiLaunchIndex)
}

func regionOf(ctx context.Context) string { return awsctx.From(ctx).Region }
