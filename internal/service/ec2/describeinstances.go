package ec2

import (
	"context"
	"slices"
	"strconv"
	"strings"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/store"
)

// DescribeInstances lists instances grouped into their reservations, with EC2's filters and pagination.
// Pages count instances; a reservation cut by a page boundary continues on the next page.
func (s *Service) DescribeInstances(ctx context.Context, in *api.DescribeInstancesRequest) (*api.DescribeInstancesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if len(in.InstanceIds) > 0 && in.MaxResults != nil {
		return nil, apierr.InvalidParam("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	if err := checkInstanceIDs(in.InstanceIds); err != nil {
		return nil, err
	}
	recs, err := s.selectInstances(ctx, in.InstanceIds)
	if err != nil {
		return nil, err
	}
	mappings, err := s.instanceMappings(ctx)
	if err != nil {
		return nil, err
	}
	// Each instance's page key is computed once, not in every comparison of the sort.
	matched := make([]keyedInstance, 0, len(recs))
	for i := range recs {
		// Without filters every instance matches; building the filter fields would only cost time.
		if len(in.Filters) > 0 {
			fields := instanceFields(&recs[i], in.Filters)
			if ms, ok := mappings[recs[i].ID]; ok && recs[i].State != stateTerminated {
				mappingFields(fields, ms)
			}
			ok, err := filterSet(in.Filters).match(fields)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		matched = append(matched, keyedInstance{key: pageKey(&recs[i]), rec: &recs[i]})
	}
	page, next, err := paginate(matched, func(k keyedInstance) string { return k.key }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &api.DescribeInstancesResult{Reservations: []api.Reservation{}, NextToken: next}
	for i := range page {
		r := page[i].rec
		n := len(out.Reservations)
		if n == 0 || *out.Reservations[n-1].ReservationId != r.ReservationID {
			out.Reservations = append(out.Reservations, api.Reservation{ReservationId: str(r.ReservationID),
				OwnerId: str(r.Account), Groups: []api.GroupIdentifier{}})
			n++
		}
		inst := r.toAPI()
		if m, ok := mappings[r.ID]; ok && inst.BlockDeviceMappings != nil {
			inst.BlockDeviceMappings = m
		}
		out.Reservations[n-1].Instances = append(out.Reservations[n-1].Instances, inst)
	}
	return out, nil
}

// mappingFields sets the block-device-mapping filter fields from every EBS volume attached to the instance.
func mappingFields(fields map[string][]string, ms []api.InstanceBlockDeviceMapping) {
	var attach, del, dev, status, vol []string
	for _, m := range ms {
		attach = append(attach, awsTime(*m.Ebs.AttachTime))
		del = append(del, strconv.FormatBool(*m.Ebs.DeleteOnTermination))
		dev, status, vol = append(dev, *m.DeviceName), append(status, *m.Ebs.Status), append(vol, *m.Ebs.VolumeId)
	}
	fields["block-device-mapping.attach-time"], fields["block-device-mapping.delete-on-termination"] = attach, del
	fields["block-device-mapping.device-name"], fields["block-device-mapping.status"] = dev, status
	fields["block-device-mapping.volume-id"] = vol
}

// instanceMappings are the EBS volumes attached to the instances of the request's account and region, as
// DescribeInstances shows them, by instance id: the root device's first, then by device name.
func (s *Service) instanceMappings(ctx context.Context) (map[string][]api.InstanceBlockDeviceMapping, error) {
	if s.volumes == nil {
		return nil, nil
	}
	vols, _, err := store.List[volumeRecord](ctx, s.st, scopedPrefix(ctx, kindVolume))
	if err != nil {
		return nil, err
	}
	out := map[string][]api.InstanceBlockDeviceMapping{}
	for _, v := range vols {
		if len(v.Attachments) != 1 {
			continue
		}
		a := v.Attachments[0]
		out[a.InstanceID] = append(out[a.InstanceID], api.InstanceBlockDeviceMapping{DeviceName: str(a.Device),
			Ebs: &api.EbsInstanceBlockDevice{AttachTime: timep(a.AttachTime), DeleteOnTermination: boolp(a.DeleteOnTermination),
				Status: str(a.State), VolumeId: str(v.ID)}})
	}
	for _, ms := range out {
		slices.SortFunc(ms, func(a, b api.InstanceBlockDeviceMapping) int {
			if (*a.DeviceName == rootDevice) != (*b.DeviceName == rootDevice) {
				if *a.DeviceName == rootDevice {
					return -1
				}
				return 1
			}
			return strings.Compare(*a.DeviceName, *b.DeviceName)
		})
	}
	return out, nil
}

// keyedInstance is an instance with its pagination key.
type keyedInstance struct {
	key string
	rec *instanceRecord
}

// selectInstances reads the named instances (each must exist) or, with no names, all of them.
func (s *Service) selectInstances(ctx context.Context, ids []string) ([]instanceRecord, error) {
	if len(ids) == 0 {
		return s.listInstances(ctx)
	}
	return s.getInstances(ctx, ids)
}

// instanceFields gives each DescribeInstances filter's values on the instance. Filters on features
// Overcast does not have (IPv6, Outposts, spot, placement groups, ...) are known and match nothing.
func instanceFields(r *instanceRecord, filters []api.Filter) map[string][]string {
	one := func(v string) []string {
		if v == "" {
			return []string{}
		}
		return []string{v}
	}
	groupIDs, groupNames := []string{}, []string{}
	for _, g := range r.Groups {
		groupIDs = append(groupIDs, g.ID)
		groupNames = append(groupNames, g.Name)
	}
	profileARN, profileID := []string{}, []string{}
	if r.Profile != nil {
		profileARN, profileID = []string{r.Profile.ARN}, []string{r.Profile.ID}
	}
	// An instance shows a state reason exactly when it has a code (see toAPI).
	reason, reasonMsg := []string{}, []string{}
	if r.StateReasonCode != "" {
		reason, reasonMsg = []string{r.StateReasonCode}, []string{r.StateReasonMessage}
	}
	live := r.State != stateTerminated // a terminated instance has no interface, address or disk
	onlyLive := func(vs ...string) []string {
		if !live {
			return []string{}
		}
		out := []string{}
		for _, v := range vs {
			if v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	launch := awsTime(r.LaunchTime)
	publicOwner := "amazon"
	if r.PublicElastic {
		publicOwner = r.Account
	}
	none := []string{}
	fields := map[string][]string{
		"affinity":                                     none,
		"architecture":                                 {r.Architecture},
		"availability-zone":                            {r.AvailabilityZone},
		"availability-zone-id":                         {r.AvailabilityZoneID},
		"block-device-mapping.attach-time":             onlyLive(launch),
		"block-device-mapping.delete-on-termination":   onlyLive("true"),
		"block-device-mapping.device-name":             onlyLive(rootDevice),
		"block-device-mapping.status":                  onlyLive("attached"),
		"block-device-mapping.volume-id":               onlyLive(r.RootVolumeID),
		"boot-mode":                                    {"uefi-preferred"},
		"capacity-reservation-id":                      none,
		"client-token":                                 one(r.ClientToken),
		"current-instance-boot-mode":                   {"legacy-bios"},
		"dns-name":                                     onlyLive(r.publicDNSName()),
		"ebs-optimized":                                boolField(r.EbsOptimized),
		"ena-support":                                  boolField(true),
		"enclave-options.enabled":                      boolField(false),
		"hibernation-options.configured":               boolField(r.Hibernation),
		"host-id":                                      none,
		"hypervisor":                                   {r.Hypervisor},
		"iam-instance-profile.arn":                     profileARN,
		"iam-instance-profile.id":                      profileID,
		"image-id":                                     {r.ImageID},
		"instance-id":                                  {r.ID},
		"instance-lifecycle":                           none,
		"instance-state-code":                          {strconv.Itoa(r.State.code())},
		"instance-state-name":                          {string(r.State)},
		"instance-type":                                {r.InstanceType},
		"instance.group-id":                            groupIDs,
		"instance.group-name":                          groupNames,
		"ip-address":                                   onlyLive(r.PublicIP),
		"ipv6-address":                                 none,
		"kernel-id":                                    none,
		"key-name":                                     one(r.KeyName),
		"launch-index":                                 {strconv.Itoa(r.AmiLaunchIndex)},
		"launch-time":                                  {launch},
		"maintenance-options.auto-recovery":            {"default"},
		"metadata-options.http-endpoint":               {r.Metadata.HTTPEndpoint},
		"metadata-options.http-protocol-ipv4":          {"enabled"},
		"metadata-options.http-protocol-ipv6":          {"disabled"},
		"metadata-options.http-put-response-hop-limit": {strconv.Itoa(r.Metadata.HopLimit)},
		"metadata-options.http-tokens":                 {r.Metadata.HTTPTokens},
		"metadata-options.instance-metadata-tags":      {r.Metadata.Tags},
		"monitoring-state":                             {"disabled"},
		"network-interface.addresses.association.ip-owner-id":           onlyLive(ifThen(r.PublicIP != "", publicOwner)),
		"network-interface.addresses.association.public-ip":             onlyLive(r.PublicIP),
		"network-interface.addresses.primary":                           onlyLive("true"),
		"network-interface.addresses.private-dns-name":                  onlyLive(r.privateDNSName()),
		"network-interface.addresses.private-ip-address":                onlyLive(r.PrivateIP),
		"network-interface.association.allocation-id":                   none,
		"network-interface.association.association-id":                  none,
		"network-interface.association.carrier-ip":                      none,
		"network-interface.association.customer-owned-ip":               none,
		"network-interface.association.ip-owner-id":                     onlyLive(ifThen(r.PublicIP != "", publicOwner)),
		"network-interface.association.public-dns-name":                 onlyLive(r.publicDNSName()),
		"network-interface.association.public-ip":                       onlyLive(r.PublicIP),
		"network-interface.attachment.attach-time":                      onlyLive(launch),
		"network-interface.attachment.attachment-id":                    onlyLive(r.AttachmentID),
		"network-interface.attachment.delete-on-termination":            onlyLive("true"),
		"network-interface.attachment.device-index":                     onlyLive("0"),
		"network-interface.attachment.instance-id":                      onlyLive(r.ID),
		"network-interface.attachment.instance-owner-id":                onlyLive(r.Account),
		"network-interface.attachment.network-card-index":               onlyLive("0"),
		"network-interface.attachment.status":                           onlyLive("attached"),
		"network-interface.availability-zone":                           onlyLive(r.AvailabilityZone),
		"network-interface.deny-all-igw-traffic":                        onlyLive("false"),
		"network-interface.description":                                 none,
		"network-interface.group-id":                                    groupIDs,
		"network-interface.group-name":                                  groupNames,
		"network-interface.ipv6-address":                                none,
		"network-interface.ipv6-addresses.ipv6-address":                 none,
		"network-interface.ipv6-addresses.is-primary-ipv6":              none,
		"network-interface.mac-address":                                 onlyLive(r.MAC),
		"network-interface.network-interface-id":                        onlyLive(r.InterfaceID),
		"network-interface.outpost-arn":                                 none,
		"network-interface.owner-id":                                    onlyLive(r.Account),
		"network-interface.private-dns-name":                            onlyLive(r.privateDNSName()),
		"network-interface.private-ip-address":                          onlyLive(r.PrivateIP),
		"network-interface.public-dns-name":                             onlyLive(r.publicDNSName()),
		"network-interface.requester-id":                                none,
		"network-interface.requester-managed":                           onlyLive("false"),
		"network-interface.status":                                      onlyLive("in-use"),
		"network-interface.source-dest-check":                           onlyLive(strconv.FormatBool(!r.SourceDestOff)),
		"network-interface.subnet-id":                                   onlyLive(r.SubnetID),
		"network-interface.tag-key":                                     tagKeys(r.ENITags),
		"network-interface.vpc-id":                                      onlyLive(r.VPCID),
		"operator.managed":                                              boolField(false),
		"operator.principal":                                            none,
		"outpost-arn":                                                   none,
		"owner-id":                                                      {r.Account},
		"placement-group-name":                                          none,
		"placement-partition-number":                                    none,
		"platform":                                                      none,
		"platform-details":                                              {"Linux/UNIX"},
		"private-dns-name":                                              onlyLive(r.privateDNSName()),
		"private-dns-name-options.enable-resource-name-dns-a-record":    boolField(false),
		"private-dns-name-options.enable-resource-name-dns-aaaa-record": boolField(false),
		"private-dns-name-options.hostname-type":                        {"ip-name"},
		"private-ip-address":                                            onlyLive(r.PrivateIP),
		"product-code":                                                  none,
		"product-code.type":                                             none,
		"ramdisk-id":                                                    none,
		"reason":                                                        one(r.StateTransitionReason),
		"requester-id":                                                  none,
		"reservation-id":                                                {r.ReservationID},
		"root-device-name":                                              {rootDevice},
		"root-device-type":                                              {"ebs"},
		"source-dest-check":                                             boolField(!r.SourceDestOff),
		"spot-instance-request-id":                                      none,
		"state-reason-code":                                             reason,
		"state-reason-message":                                          reasonMsg,
		"subnet-id":                                                     onlyLive(r.SubnetID),
		"tenancy":                                                       {"default"},
		"tpm-support":                                                   none,
		"usage-operation":                                               {"RunInstances"},
		"usage-operation-update-time":                                   {launch},
		"virtualization-type":                                           {"hvm"},
		"vpc-id":                                                        onlyLive(r.VPCID),
	}
	fields = tagFields(fields, r.Tags, filters)
	fields["tag-value"] = tagValuesOf(r.Tags)
	return fields
}

func ifThen(cond bool, v string) string {
	if cond {
		return v
	}
	return ""
}

func tagKeys(tags []Tag) []string {
	out := []string{}
	for _, t := range tags {
		out = append(out, t.Key)
	}
	return out
}

func tagValuesOf(tags []Tag) []string {
	out := []string{}
	for _, t := range tags {
		out = append(out, t.Value)
	}
	return out
}
