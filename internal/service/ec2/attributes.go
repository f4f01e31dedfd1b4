package ec2

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
)

// ModifyInstanceAttribute changes one attribute. The instance type and user data change only while the
// instance is stopped (the machine is defined again at its next start); security groups change at any time
// and reach the host's firewall at once.
func (s *Service) ModifyInstanceAttribute(ctx context.Context, in *api.ModifyInstanceAttributeRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.InstanceId)
	cur, err := s.getInstance(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(in.BlockDeviceMappings) > 0 {
		return &wire.Empty{}, s.modifyDeleteOnTermination(ctx, cur, in.BlockDeviceMappings)
	}
	ch, err := attributeChange(in)
	if err != nil {
		return nil, err
	}
	if ch.instanceType != nil || ch.userData != nil || ch.ena != nil {
		if cur.State != stateStopped {
			return nil, apierr.New(apierr.Conflict, "IncorrectInstanceState", "The instance '%s' is not in the 'stopped' state.", id)
		}
	}
	if ch.instanceType != nil {
		t, ok := instanceTypeByName(*ch.instanceType)
		if !ok {
			return nil, apierr.InvalidParam("InvalidInstanceAttributeValue", "Value (%s) for parameter instanceType is invalid.", *ch.instanceType)
		}
		if !contains(t.Arch, cur.Architecture) {
			return nil, apierr.InvalidParam("InvalidInstanceAttributeValue",
				"The instance type '%s' does not support the architecture '%s' of the instance's AMI.", t.Name, cur.Architecture)
		}
		if s.hibernated(ctx, id) { // hibernation.go: the saved memory is for the old type
			return nil, apierr.InvalidParam("UnsupportedOperation",
				"The instance '%s' is hibernated. You can't change the instance type of a hibernated instance.", id)
		}
	}
	if ch.shutdown != nil {
		if _, err := shutdownBehavior(*ch.shutdown); err != nil {
			return nil, err
		}
	}
	var groups []groupRef
	if ch.groups != nil {
		if cur.State == stateTerminated || cur.State == stateShuttingDown {
			return nil, apierr.New(apierr.Conflict, "IncorrectInstanceState", "The instance '%s' is not in a state in which its groups can be changed.", id)
		}
		recs, err := s.groupsFor(ctx, cur.VPCID, ch.groups, nil)
		if err != nil {
			return nil, err
		}
		for _, g := range recs {
			groups = append(groups, groupRef{ID: g.ID, Name: g.Name})
		}
	}
	_, err = s.mutateInstance(ctx, s.keyOf(ctx, id), func(r *instanceRecord) error {
		if (ch.instanceType != nil || ch.userData != nil || ch.ena != nil) && r.State != stateStopped {
			return apierr.New(apierr.Conflict, "IncorrectInstanceState", "The instance '%s' is not in the 'stopped' state.", id)
		}
		if ch.instanceType != nil {
			t, _ := instanceTypeByName(*ch.instanceType)
			r.InstanceType, r.Hypervisor = t.Name, t.Family.hypervisor
		}
		if ch.userData != nil {
			r.UserData = *ch.userData
		}
		if ch.groups != nil {
			r.Groups = groups
		}
		if ch.disableTerm != nil {
			r.DisableApiTerm = *ch.disableTerm
		}
		if ch.disableStop != nil {
			r.DisableApiStop = *ch.disableStop
		}
		if ch.shutdown != nil {
			r.ShutdownBehavior = *ch.shutdown
		}
		if ch.sourceDest != nil {
			r.SourceDestOff = !*ch.sourceDest
		}
		if ch.ebsOptimized != nil {
			r.EbsOptimized = *ch.ebsOptimized && r.Hypervisor == "nitro"
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ch.groups != nil {
		// Membership changed: this instance's firewall and every rule that references its groups.
		if err := s.refreshFirewalls(ctx); err != nil {
			return nil, err
		}
	}
	return &wire.Empty{}, nil
}

// modifyDeleteOnTermination sets DeleteOnTermination of the instance's volumes at the mappings' devices.
func (s *Service) modifyDeleteOnTermination(ctx context.Context, r instanceRecord, bdms []api.InstanceBlockDeviceMappingSpecification) error {
	if s.volumes == nil {
		return apierr.InvalidParam("InvalidInstanceAttributeValue", "The instance '%s' has no EBS volumes on this host.", r.ID)
	}
	vols, err := s.volumesAttachedTo(ctx, r.ID)
	if err != nil {
		return err
	}
	type change struct {
		volumeID            string
		deleteOnTermination bool
	}
	var changes []change
	for _, m := range bdms {
		dev := deref(m.DeviceName)
		guest, ok := guestDevice(dev)
		i := slices.IndexFunc(vols, func(v volumeRecord) bool {
			g, _ := guestDevice(v.Attachments[0].Device)
			return ok && g == guest
		})
		if i < 0 {
			return apierr.InvalidParam("InvalidInstanceAttributeValue", "No device is currently mapped at %s", dev)
		}
		if m.Ebs == nil || m.Ebs.DeleteOnTermination == nil {
			continue
		}
		if id := deref(m.Ebs.VolumeId); id != "" && id != vols[i].ID {
			return apierr.InvalidParam("InvalidInstanceAttributeValue", "The volume %s is not mapped at %s", id, dev)
		}
		changes = append(changes, change{vols[i].ID, *m.Ebs.DeleteOnTermination})
	}
	for _, c := range changes {
		if _, err := s.mutateVolume(ctx, c.volumeID, func(v *volumeRecord) error {
			if len(v.Attachments) != 1 || v.Attachments[0].InstanceID != r.ID {
				return errStale
			}
			v.Attachments[0].DeleteOnTermination = c.deleteOnTermination
			return nil
		}); err != nil && !errors.Is(err, errStale) {
			return err
		}
	}
	return nil
}

// attrChange is a ModifyInstanceAttribute request, whichever of its two forms the caller used.
type attrChange struct {
	instanceType, userData, shutdown                        *string
	groups                                                  []string
	disableTerm, disableStop, sourceDest, ebsOptimized, ena *bool
}

func attributeChange(in *api.ModifyInstanceAttributeRequest) (attrChange, error) {
	var ch attrChange
	boolOf := func(v *api.AttributeBooleanValue) *bool {
		if v == nil {
			return nil
		}
		b := v.Value != nil && *v.Value
		return &b
	}
	strOf := func(v *api.AttributeValue) *string {
		if v == nil || v.Value == nil {
			return nil
		}
		return v.Value
	}
	ch.instanceType, ch.shutdown = strOf(in.InstanceType), strOf(in.InstanceInitiatedShutdownBehavior)
	ch.disableTerm, ch.disableStop = boolOf(in.DisableApiTermination), boolOf(in.DisableApiStop)
	ch.sourceDest, ch.ebsOptimized, ch.ena = boolOf(in.SourceDestCheck), boolOf(in.EbsOptimized), boolOf(in.EnaSupport)
	if in.Groups != nil {
		ch.groups = in.Groups
	}
	if in.UserData != nil {
		if len(in.UserData.Value) > maxUserData {
			return ch, apierr.InvalidParam("InvalidParameterValue", "User data is limited to %d bytes", maxUserData)
		}
		b64 := base64.StdEncoding.EncodeToString(in.UserData.Value)
		ch.userData = &b64
	}
	if in.Attribute == nil {
		return ch, nil
	}
	// The older form: Attribute names the attribute, Value carries it.
	v := deref(in.Value)
	parseBool := func() (*bool, error) {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter value is invalid. Expected a boolean.", v)
		}
		return &b, nil
	}
	var err error
	switch a := deref(in.Attribute); a {
	case "instanceType":
		ch.instanceType = &v
	case "instanceInitiatedShutdownBehavior":
		ch.shutdown = &v
	case "userData":
		raw, derr := base64.StdEncoding.DecodeString(v)
		if derr != nil {
			raw = []byte(v)
		}
		if len(raw) > maxUserData {
			return ch, apierr.InvalidParam("InvalidParameterValue", "User data is limited to %d bytes", maxUserData)
		}
		b64 := base64.StdEncoding.EncodeToString(raw)
		ch.userData = &b64
	case "disableApiTermination":
		ch.disableTerm, err = parseBool()
	case "disableApiStop":
		ch.disableStop, err = parseBool()
	case "sourceDestCheck":
		ch.sourceDest, err = parseBool()
	case "ebsOptimized":
		ch.ebsOptimized, err = parseBool()
	case "enaSupport":
		ch.ena, err = parseBool()
	case "groupSet":
		return ch, apierr.InvalidParam("InvalidParameterCombination", "The attribute groupSet is changed with the Groups parameter.")
	default:
		return ch, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", a)
	}
	return ch, err
}

// DescribeInstanceAttribute answers one attribute of an instance.
func (s *Service) DescribeInstanceAttribute(ctx context.Context, in *api.DescribeInstanceAttributeRequest) (*api.InstanceAttribute, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	r, err := s.getInstance(ctx, deref(in.InstanceId))
	if err != nil {
		return nil, err
	}
	out := &api.InstanceAttribute{InstanceId: str(r.ID)}
	val := func(v string) *api.AttributeValue { return &api.AttributeValue{Value: str(v)} }
	bval := func(b bool) *api.AttributeBooleanValue { return &api.AttributeBooleanValue{Value: boolp(b)} }
	full := r.toAPI()
	switch a := deref(in.Attribute); a {
	case "instanceType":
		out.InstanceType = val(r.InstanceType)
	case "kernel":
		out.KernelId = &api.AttributeValue{}
	case "ramdisk":
		out.RamdiskId = &api.AttributeValue{}
	case "userData":
		out.UserData = &api.AttributeValue{Value: optStr(r.UserData)}
	case "disableApiTermination":
		out.DisableApiTermination = bval(r.DisableApiTerm)
	case "disableApiStop":
		out.DisableApiStop = bval(r.DisableApiStop)
	case "instanceInitiatedShutdownBehavior":
		out.InstanceInitiatedShutdownBehavior = val(r.ShutdownBehavior)
	case "rootDeviceName":
		out.RootDeviceName = val(rootDevice)
	case "blockDeviceMapping":
		out.BlockDeviceMappings = full.BlockDeviceMappings
		if mappings, err := s.instanceMappings(ctx); err != nil {
			return nil, err
		} else if m, ok := mappings[r.ID]; ok && out.BlockDeviceMappings != nil {
			out.BlockDeviceMappings = m
		}
		if out.BlockDeviceMappings == nil {
			out.BlockDeviceMappings = []api.InstanceBlockDeviceMapping{}
		}
	case "productCodes":
		out.ProductCodes = []api.ProductCode{}
	case "sourceDestCheck":
		out.SourceDestCheck = bval(!r.SourceDestOff)
	case "groupSet":
		out.Groups = full.SecurityGroups
	case "ebsOptimized":
		out.EbsOptimized = bval(r.EbsOptimized)
	case "sriovNetSupport":
		out.SriovNetSupport = &api.AttributeValue{}
	case "enaSupport":
		out.EnaSupport = bval(true)
	case "enclaveOptions":
		out.EnclaveOptions = &api.EnclaveOptions{Enabled: boolp(false)}
	default:
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", a)
	}
	return out, nil
}

// ModifyInstanceMetadataOptions changes the metadata service options; the metadata service reads them on
// every request, so they apply at once.
func (s *Service) ModifyInstanceMetadataOptions(ctx context.Context, in *api.ModifyInstanceMetadataOptionsRequest) (*api.ModifyInstanceMetadataOptionsResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.InstanceId)
	if _, err := s.getInstance(ctx, id); err != nil {
		return nil, err
	}
	req := &api.InstanceMetadataOptionsRequest{HttpEndpoint: in.HttpEndpoint, HttpPutResponseHopLimit: in.HttpPutResponseHopLimit,
		HttpTokens: in.HttpTokens, InstanceMetadataTags: in.InstanceMetadataTags}
	r, err := s.mutateInstance(ctx, s.keyOf(ctx, id), func(r *instanceRecord) error {
		if r.State == stateTerminated {
			return apierr.New(apierr.Conflict, "IncorrectInstanceState", "The instance '%s' is terminated.", id)
		}
		m, err := metadataFrom(req, r.Metadata)
		r.Metadata = m
		return err
	})
	if err != nil {
		return nil, err
	}
	return &api.ModifyInstanceMetadataOptionsResult{InstanceId: str(id), InstanceMetadataOptions: r.toAPI().MetadataOptions}, nil
}
