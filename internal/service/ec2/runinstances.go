package ec2

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/host/storage/images"
	"github.com/overcast-cloud/overcast/internal/store"
)

// maxPerLaunch is how many instances one RunInstances call may start.
const maxPerLaunch = 20

// maxUserData is EC2's limit on user data, counted before base64 encoding.
const maxUserData = 16384

// launch is a validated RunInstances request.
type launch struct {
	count            int
	image            amiInfo
	volumes          []launchVolume // each instance's EBS volumes, the root first (launchvolumes.go)
	itype            instanceType
	subnet           subnetRecord
	groups           []groupRef
	key              *keyPairRecord
	privateIP        netip.Addr
	publicIP         bool
	userData         string
	profile          *profileAssociation
	metadata         metadataOptions
	shutdownBehavior string
	disableApiTerm   bool
	disableApiStop   bool
	ebsOptimized     bool
	hibernation      bool
	instanceTags     []Tag
	volumeTags       []Tag
	eniTags          []Tag
}

// RunInstances records the instances as pending and returns; the host brings each one up asynchronously.
func (s *Service) RunInstances(ctx context.Context, in *api.RunInstancesRequest) (*api.Reservation, error) {
	if s.compute == nil || s.images == nil {
		return nil, apierr.InvalidParam("Unsupported",
			"Instances cannot run on this Overcast host: compute is off (Overcast runs as root with runc installed, or --compute=on).")
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if tok := deref(in.ClientToken); tok != "" {
		if len(tok) > 64 {
			return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter clientToken is invalid. The maximum length is 64 characters.", tok)
		}
		res, found, err := s.reservationByToken(ctx, tok)
		if err != nil || found {
			return res, err
		}
	}
	l, err := s.validateLaunch(ctx, in)
	if err != nil {
		return nil, err
	}
	recs, err := s.allocate(ctx, in, l)
	if err != nil {
		return nil, err
	}
	var ops []store.Op
	for i := range recs {
		op, err := store.PutOp(s.keyOf(ctx, recs[i].ID), recs[i], store.Absent)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		if s.volumes == nil {
			continue
		}
		for _, v := range launchVolumeRecords(recs[i], l.volumes) {
			op, err := store.PutOp(scopedKey(ctx, kindVolume, v.ID), v, store.Absent)
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		}
	}
	if _, err := s.st.Txn(ctx, ops...); err != nil {
		s.releaseAddresses(ctx, recs)
		return nil, err
	}
	s.hw().invalidate()
	res := &api.Reservation{ReservationId: str(recs[0].ReservationID), OwnerId: str(recs[0].Account), Groups: []api.GroupIdentifier{}}
	for i := range recs {
		key := s.keyOf(ctx, recs[i].ID)
		s.log.Info("instance launching", "instance", recs[i].ID, "type", recs[i].InstanceType, "image", recs[i].ImageID)
		s.async(ctx, recs[i].ID, func(ctx context.Context) { s.boot(ctx, key) })
		res.Instances = append(res.Instances, recs[i].toAPI())
	}
	return res, nil
}

// reservationByToken answers a repeated RunInstances with the reservation its client token made.
func (s *Service) reservationByToken(ctx context.Context, token string) (*api.Reservation, bool, error) {
	all, err := s.listInstances(ctx)
	if err != nil {
		return nil, false, err
	}
	var res *api.Reservation
	sortedInstances(all)
	for i := range all {
		if all[i].ClientToken != token {
			continue
		}
		if res == nil {
			res = &api.Reservation{ReservationId: str(all[i].ReservationID), OwnerId: str(all[i].Account), Groups: []api.GroupIdentifier{}}
		}
		if *res.ReservationId == all[i].ReservationID {
			res.Instances = append(res.Instances, all[i].toAPI())
		}
	}
	return res, res != nil, nil
}

var amiIDPattern = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)

func (s *Service) validateLaunch(ctx context.Context, in *api.RunInstancesRequest) (*launch, error) {
	l := &launch{}
	var err error
	if l.count, err = launchCount(in.MinCount, in.MaxCount); err != nil {
		return nil, err
	}
	if l.image, err = s.launchImage(ctx, deref(in.ImageId)); err != nil {
		return nil, err
	}
	if s.volumes != nil {
		if l.volumes, err = s.launchVolumes(ctx, l.image, in.BlockDeviceMappings); err != nil {
			return nil, err
		}
		if err := s.settleLaunchVolumes(ctx, l.volumes); err != nil {
			return nil, err
		}
	}
	typeName := deref(in.InstanceType)
	if typeName == "" {
		typeName = "m1.small" // EC2's default
	}
	var ok bool
	if l.itype, ok = instanceTypeByName(typeName); !ok {
		return nil, apierr.InvalidParam("InvalidParameterValue", "Invalid value '%s' for InstanceType.", typeName)
	}
	if !contains(l.itype.Arch, l.image.Architecture) {
		return nil, apierr.InvalidParam("InvalidParameterValue",
			"The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI. "+
				"Specify an instance type and an AMI that have matching architectures, and try again. You can use "+
				"'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI.",
			l.itype.Arch[len(l.itype.Arch)-1], l.image.Architecture)
	}
	if l.userData, err = checkUserData(deref(in.UserData)); err != nil {
		return nil, err
	}
	if l.metadata, err = metadataFrom(in.MetadataOptions, metadataOptions{HTTPTokens: "optional", HopLimit: 1,
		HTTPEndpoint: "enabled", Tags: "disabled"}); err != nil {
		return nil, err
	}
	if l.shutdownBehavior, err = shutdownBehavior(deref(in.InstanceInitiatedShutdownBehavior)); err != nil {
		return nil, err
	}
	if l.hibernation, err = launchHibernation(in, l); err != nil { // hibernation.go
		return nil, err
	}
	l.disableApiTerm = in.DisableApiTermination != nil && *in.DisableApiTermination
	l.disableApiStop = in.DisableApiStop != nil && *in.DisableApiStop
	l.ebsOptimized = in.EbsOptimized != nil && *in.EbsOptimized
	if err := l.tags(in.TagSpecifications); err != nil {
		return nil, err
	}
	if err := s.launchNetwork(ctx, in, l); err != nil {
		return nil, err
	}
	if name := deref(in.KeyName); name != "" {
		k, err := s.keyPairByName(ctx, name)
		if err != nil {
			return nil, err
		}
		l.key = &k
	}
	if in.IamInstanceProfile != nil {
		if l.profile, err = s.resolveProfile(ctx, in.IamInstanceProfile); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func launchCount(minCount, maxCount *int32) (int, error) {
	if minCount == nil {
		return 0, apierr.InvalidParam("MissingParameter", "The request must contain the parameter MinCount")
	}
	if maxCount == nil {
		return 0, apierr.InvalidParam("MissingParameter", "The request must contain the parameter MaxCount")
	}
	lo, hi := int(*minCount), int(*maxCount)
	if lo < 1 {
		return 0, apierr.InvalidParam("InvalidParameterValue", "Value (%d) for parameter minCount is invalid. Expected a positive integer.", lo)
	}
	if hi < lo {
		return 0, apierr.InvalidParam("InvalidParameterValue", "Value (%d) for parameter maxCount is invalid. Expected a value greater than or equal to minCount.", hi)
	}
	if lo > maxPerLaunch {
		return 0, apierr.New(apierr.LimitExceeded, "InstanceLimitExceeded",
			"You have requested more instances (%d) than your current instance limit of %d allows for the specified instance type. "+
				"Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.", lo, maxPerLaunch)
	}
	// EC2 launches as many as it can up to MaxCount once MinCount fits.
	return min(hi, maxPerLaunch), nil
}

func (s *Service) launchImage(ctx context.Context, id string) (amiInfo, error) {
	if id == "" {
		return amiInfo{}, apierr.InvalidParam("MissingParameter", "The request must contain the parameter ImageId")
	}
	if !amiIDPattern.MatchString(id) {
		return amiInfo{}, apierr.InvalidParam("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
	}
	img, err := s.images.Get(ctx, id)
	switch {
	case errors.Is(err, images.ErrNotFound):
		return s.launchCustomImage(ctx, id) // amis.go
	case err != nil:
		return amiInfo{}, err
	case img.State != "available":
		return amiInfo{}, apierr.InvalidParam("InvalidAMIID.Unavailable", "AMI '%s' is %s, and cannot be run", id, img.State)
	}
	return quickStartAMI(img), nil
}

func checkUserData(b64 string) (string, error) {
	if b64 == "" {
		return "", nil
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", apierr.InvalidParam("InvalidParameterValue", "Invalid BASE64 encoding of user data.")
	}
	if len(raw) > maxUserData {
		return "", apierr.InvalidParam("InvalidParameterValue", "User data is limited to %d bytes", maxUserData)
	}
	return b64, nil
}

func metadataFrom(in *api.InstanceMetadataOptionsRequest, m metadataOptions) (metadataOptions, error) {
	if in == nil {
		return m, nil
	}
	if v := deref(in.HttpTokens); v != "" {
		if v != "optional" && v != "required" {
			return m, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter HttpTokens is invalid. Valid values are optional and required.", v)
		}
		m.HTTPTokens = v
	}
	if in.HttpPutResponseHopLimit != nil {
		n := int(*in.HttpPutResponseHopLimit)
		if n < 1 || n > 64 {
			return m, apierr.InvalidParam("InvalidParameterValue", "Value (%d) for parameter HttpPutResponseHopLimit is invalid. Valid values are between 1 and 64.", n)
		}
		m.HopLimit = n
	}
	if v := deref(in.HttpEndpoint); v != "" {
		if v != "enabled" && v != "disabled" {
			return m, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter HttpEndpoint is invalid. Valid values are enabled and disabled.", v)
		}
		m.HTTPEndpoint = v
	}
	if v := deref(in.InstanceMetadataTags); v != "" {
		if v != "enabled" && v != "disabled" {
			return m, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter InstanceMetadataTags is invalid. Valid values are enabled and disabled.", v)
		}
		m.Tags = v
	}
	return m, nil
}

func shutdownBehavior(v string) (string, error) {
	switch v {
	case "":
		return "stop", nil
	case "stop", "terminate":
		return v, nil
	}
	return "", apierr.InvalidParam("InvalidParameterValue",
		"Value (%s) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values are stop and terminate.", v)
}

func (l *launch) tags(specs []api.TagSpecification) error {
	for _, sp := range specs {
		var dst *[]Tag
		switch rt := deref(sp.ResourceType); rt {
		case "instance":
			dst = &l.instanceTags
		case "volume":
			dst = &l.volumeTags
		case "network-interface":
			dst = &l.eniTags
		case "":
			return apierr.InvalidParam("InvalidParameterValue", "Tag specification resource type must have a value")
		default:
			return apierr.InvalidParam("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt)
		}
		for _, t := range sp.Tags {
			*dst = setTag(*dst, Tag{Key: deref(t.Key), Value: deref(t.Value)})
		}
		if err := checkTags(*dst); err != nil {
			return err
		}
	}
	return nil
}

// launchNetwork resolves subnet, groups, the wanted private address and whether a public one is wanted,
// from the instance-level parameters or from the primary network interface's.
func (s *Service) launchNetwork(ctx context.Context, in *api.RunInstancesRequest, l *launch) error {
	subnetID, groupIDs, privateIP := deref(in.SubnetId), in.SecurityGroupIds, deref(in.PrivateIpAddress)
	var associate *bool
	if len(in.NetworkInterfaces) > 0 {
		if subnetID != "" {
			return apierr.InvalidParam("InvalidParameterCombination", "Network interfaces and an instance-level subnet ID may not be specified on the same request")
		}
		if len(groupIDs) > 0 || len(in.SecurityGroups) > 0 {
			return apierr.InvalidParam("InvalidParameterCombination", "Network interfaces and an instance-level security groups may not be specified on the same request")
		}
		if privateIP != "" {
			return apierr.InvalidParam("InvalidParameterCombination", "Network interfaces and an instance-level private IP address should not be specified on the same request")
		}
		if len(in.NetworkInterfaces) > 1 {
			return apierr.InvalidParam("InvalidParameterValue", "Overcast supports one network interface per instance.")
		}
		ni := in.NetworkInterfaces[0]
		if ni.DeviceIndex == nil || *ni.DeviceIndex != 0 {
			return apierr.InvalidParam("InvalidParameterValue", "When specifying network interfaces, you must include a device at index 0.")
		}
		if deref(ni.NetworkInterfaceId) != "" {
			return apierr.InvalidParam("InvalidParameterValue", "Overcast cannot attach an existing network interface at launch yet.")
		}
		subnetID, groupIDs, privateIP, associate = deref(ni.SubnetId), ni.Groups, deref(ni.PrivateIpAddress), ni.AssociatePublicIpAddress
	}
	if privateIP != "" {
		a, err := netip.ParseAddr(privateIP)
		if err != nil || !a.Is4() {
			return apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter PrivateIpAddress is invalid. Not a valid IPv4 address.", privateIP)
		}
		if l.count > 1 {
			return apierr.InvalidParam("InvalidParameterCombination", "Cannot specify a private IP address when launching more than one instance")
		}
		l.privateIP = a
	}
	az := ""
	if in.Placement != nil {
		az = deref(in.Placement.AvailabilityZone)
	}
	sn, err := s.subnetFor(ctx, subnetID, az)
	if err != nil {
		return err
	}
	l.subnet = sn
	l.publicIP = sn.MapPublicIPOnLaunch
	if associate != nil {
		l.publicIP = *associate
	}
	groups, err := s.groupsFor(ctx, sn.VPCID, groupIDs, in.SecurityGroups)
	if err != nil {
		return err
	}
	for _, g := range groups {
		l.groups = append(l.groups, groupRef{ID: g.ID, Name: g.Name})
	}
	return nil
}

// allocate takes each instance's addresses and builds its record. On failure it gives back what it took.
func (s *Service) allocate(ctx context.Context, in *api.RunInstancesRequest, l *launch) ([]instanceRecord, error) {
	rc := awsctx.From(ctx)
	now := s.clock()
	reservation := newID("r")
	var recs []instanceRecord
	for i := range l.count {
		r := instanceRecord{
			ID: newID("i"), Account: rc.Account, Region: rc.Region, ReservationID: reservation, AmiLaunchIndex: i,
			ClientToken: deref(in.ClientToken), LaunchTime: now,
			ImageID: l.image.ID, InstanceType: l.itype.Name, Architecture: l.image.Architecture, Hypervisor: l.itype.Family.hypervisor,
			DefaultUser:      l.image.DefaultUser,
			AvailabilityZone: l.subnet.AvailabilityZone, AvailabilityZoneID: l.subnet.AvailabilityZoneID,
			VPCID: l.subnet.VPCID, SubnetID: l.subnet.ID, SubnetCIDR: l.subnet.CIDR, Groups: l.groups,
			InterfaceID: newID("eni"), MAC: newMAC(), AttachmentID: newID("eni-attach"), ENITags: l.eniTags,
			AutoPublicIP: l.publicIP, RootVolumeID: newID("vol"), VolumeTags: l.volumeTags,
			State: statePending, StateReasonCode: "pending", StateReasonMessage: "pending",
			Metadata: l.metadata, DisableApiTerm: l.disableApiTerm, DisableApiStop: l.disableApiStop,
			ShutdownBehavior: l.shutdownBehavior, UserData: l.userData, EbsOptimized: l.ebsOptimized, Tags: l.instanceTags,
		}
		if r.Hypervisor == "xen" {
			r.EbsOptimized = false
		}
		r.Hibernation = l.hibernation
		if l.key != nil {
			r.KeyName, r.PublicKey = l.key.Name, l.key.PublicKey
		}
		if l.profile != nil {
			p := *l.profile
			p.AssociationID, p.State, p.Timestamp = newID("iip-assoc"), "associated", now
			r.Profile = &p
		}
		priv, err := s.allocatePrivateIP(ctx, l.subnet, l.privateIP)
		if err != nil {
			s.releaseAddresses(ctx, recs)
			return nil, err
		}
		r.PrivateIP = priv.String()
		recs = append(recs, r)
		if l.publicIP {
			pub, err := s.allocatePublicIP(ctx)
			if err != nil {
				s.releaseAddresses(ctx, recs)
				return nil, err
			}
			recs[len(recs)-1].PublicIP = pub.String()
		}
	}
	return recs, nil
}

// releaseAddresses gives back the addresses of records that were never written.
func (s *Service) releaseAddresses(ctx context.Context, recs []instanceRecord) {
	for _, r := range recs {
		if a := r.privateAddr(); a.IsValid() {
			_ = s.releasePrivateIP(ctx, r.SubnetID, a)
		}
		if a := r.publicAddr(); a.IsValid() {
			_ = s.releasePublicIP(ctx, a)
		}
	}
}

// newMAC returns a locally administered unicast MAC in EC2's style: 0a:xx:xx:xx:xx:xx.
func newMAC() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("0a:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4])
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// profileName is the name at the end of an instance profile ARN: arn:aws:iam::123:instance-profile/path/name.
func profileName(arn string) (string, bool) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:iam::")
	if !ok {
		return "", false
	}
	_, res, ok := strings.Cut(rest, ":instance-profile/")
	if !ok || res == "" {
		return "", false
	}
	return res[strings.LastIndex(res, "/")+1:], true
}
