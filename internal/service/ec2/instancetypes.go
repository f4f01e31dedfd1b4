package ec2

import (
	"context"
	"sort"
	"strconv"
	"strings"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
)

// instanceType is one entry of the catalog (instancetypes_catalog.go), flattened.
type instanceType struct {
	Name            string
	Family          familySpec
	VCPUs           int
	MemoryMiB       int
	Cores, Threads  int
	Arch            []string
	Network         string
	ENIs, IPsPerENI int
	Store           instanceStore // instancestore.go
}

var instanceTypes, instanceTypeNames = func() (map[string]instanceType, []string) {
	m := map[string]instanceType{}
	var names []string
	for _, f := range families {
		for _, sz := range f.sizes {
			t := instanceType{Name: f.name + "." + sz.size, Family: f, VCPUs: sz.vcpus, MemoryMiB: sz.memoryMiB,
				Threads: min(f.threads, sz.vcpus), Arch: f.arch, Network: sz.network, ENIs: sz.enis, IPsPerENI: sz.ipsPerENI, Store: sz.store}
			t.Cores = sz.vcpus / t.Threads
			// 32-bit AMIs run only on the small sizes of the old families.
			if f.name == "t2" && sz.vcpus > 2 || f.name == "t2" && sz.memoryMiB > 4096 {
				t.Arch = []string{"x86_64"}
			}
			m[t.Name] = t
			names = append(names, t.Name)
		}
	}
	sort.Strings(names)
	return m, names
}()

func instanceTypeByName(name string) (instanceType, bool) {
	t, ok := instanceTypes[name]
	return t, ok
}

func coresOf(name string) int   { return instanceTypes[name].Cores }
func threadsOf(name string) int { return instanceTypes[name].Threads }

func (t instanceType) api() api.InstanceTypeInfo {
	f := t.Family
	hibernation := t.hibernationSupported() // hibernation.go
	info := api.InstanceTypeInfo{
		InstanceType:                  str(t.Name),
		CurrentGeneration:             boolp(f.currentGen),
		FreeTierEligible:              boolp(freeTier[t.Name]),
		SupportedUsageClasses:         []string{"on-demand", "spot"},
		SupportedRootDeviceTypes:      []string{"ebs"},
		SupportedVirtualizationTypes:  []string{"hvm"},
		BareMetal:                     boolp(false),
		Hypervisor:                    str(f.hypervisor),
		ProcessorInfo:                 &api.ProcessorInfo{SupportedArchitectures: t.Arch, Manufacturer: str(f.manufacturer)},
		VCpuInfo:                      &api.VCpuInfo{DefaultVCpus: i32(t.VCPUs), DefaultCores: i32(t.Cores), DefaultThreadsPerCore: i32(t.Threads)},
		MemoryInfo:                    &api.MemoryInfo{SizeInMiB: i64(t.MemoryMiB)},
		InstanceStorageSupported:      boolp(t.Store.disks > 0),
		InstanceStorageInfo:           t.storageInfo(),
		BurstablePerformanceSupported: boolp(f.burstable),
		HibernationSupported:          boolp(hibernation),
		DedicatedHostsSupported:       boolp(!f.burstable),
		AutoRecoverySupported:         boolp(true),
		SupportedBootModes:            []string{"legacy-bios", "uefi"},
		NitroEnclavesSupport:          str("unsupported"),
		NitroTpmSupport:               str("unsupported"),
		PlacementGroupInfo:            &api.PlacementGroupInfo{SupportedStrategies: []string{"partition", "spread"}},
		SupportedInRegion:             boolp(true),
		NetworkInfo: &api.NetworkInfo{
			NetworkPerformance:           str(t.Network),
			MaximumNetworkInterfaces:     i32(t.ENIs),
			MaximumNetworkCards:          i32(1),
			DefaultNetworkCardIndex:      i32(0),
			NetworkCards:                 []api.NetworkCardInfo{{NetworkCardIndex: i32(0), NetworkPerformance: str(t.Network), MaximumNetworkInterfaces: i32(t.ENIs)}},
			Ipv4AddressesPerInterface:    i32(t.IPsPerENI),
			Ipv6AddressesPerInterface:    i32(t.IPsPerENI),
			Ipv6Supported:                boolp(true),
			EnaSupport:                   str(enaSupport(f)),
			EfaSupported:                 boolp(false),
			EncryptionInTransitSupported: boolp(false),
		},
		EbsInfo: t.ebsInfo(),
	}
	if f.manufacturer == "AWS" {
		info.SupportedBootModes = []string{"uefi"}
	}
	if f.clockGHz > 0 {
		info.ProcessorInfo.SustainedClockSpeedInGhz = &f.clockGHz
	}
	if f.name != "t2" && f.name != "m1" {
		info.PlacementGroupInfo.SupportedStrategies = []string{"cluster", "partition", "spread"}
	}
	return info
}

func enaSupport(f familySpec) string {
	if f.hypervisor == "nitro" {
		return "required"
	}
	return "unsupported"
}

func (t instanceType) ebsInfo() *api.EbsInfo {
	f := t.Family
	if f.hypervisor != "nitro" {
		return &api.EbsInfo{EbsOptimizedSupport: str("unsupported"), EncryptionSupport: str("supported"), NvmeSupport: str("unsupported")}
	}
	// Smaller sizes burst up to the family's figure; baseline grows with the size.
	maxMbps := f.ebsMaxMbps
	if t.VCPUs > 16 {
		maxMbps = f.ebsMaxMbps * t.VCPUs / 16
	}
	baseline := min(maxMbps, max(f.ebsMaxMbps*t.VCPUs/32, 87))
	return &api.EbsInfo{
		EbsOptimizedSupport: str("default"),
		EncryptionSupport:   str("supported"),
		NvmeSupport:         str("required"),
		EbsOptimizedInfo: &api.EbsOptimizedInfo{
			BaselineBandwidthInMbps: i32(baseline), MaximumBandwidthInMbps: i32(maxMbps),
			BaselineThroughputInMBps: f64(float64(baseline) / 8), MaximumThroughputInMBps: f64(float64(maxMbps) / 8),
			BaselineIops: i32(baseline * 4), MaximumIops: i32(maxMbps * 4),
		},
		MaximumEbsAttachments: i32(28),
		AttachmentLimitType:   str("shared"),
	}
}

// DescribeInstanceTypes answers from the catalog, with EC2's filters and pagination (5 to 100 a page).
func (s *Service) DescribeInstanceTypes(ctx context.Context, in *api.DescribeInstanceTypesRequest) (*api.DescribeInstanceTypesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	var unknown []string
	for _, n := range in.InstanceTypes {
		if _, ok := instanceTypes[n]; !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, apierr.InvalidParam("InvalidInstanceType", "The following supplied instance types do not exist: [%s]", strings.Join(unknown, ", "))
	}
	if in.MaxResults != nil && (*in.MaxResults < 5 || *in.MaxResults > 100) {
		return nil, apierr.InvalidParam("InvalidParameterValue",
			"Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 100.", *in.MaxResults)
	}
	want := set(in.InstanceTypes)
	var matched []api.InstanceTypeInfo
	for _, n := range instanceTypeNames {
		if len(want) > 0 && !want[n] {
			continue
		}
		t := instanceTypes[n]
		info := t.api()
		ok, err := filterSet(in.Filters).match(instanceTypeFields(t, info))
		if err != nil {
			return nil, err
		}
		if ok {
			matched = append(matched, info)
		}
	}
	page, next, err := paginate(matched, func(i api.InstanceTypeInfo) string { return *i.InstanceType }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &api.DescribeInstanceTypesResult{InstanceTypes: page, NextToken: next}, nil
}

func instanceTypeFields(t instanceType, i api.InstanceTypeInfo) map[string][]string {
	itoa := strconv.Itoa
	fields := map[string][]string{
		"instance-type":                               {t.Name},
		"current-generation":                          boolField(*i.CurrentGeneration),
		"free-tier-eligible":                          boolField(*i.FreeTierEligible),
		"burstable-performance-supported":             boolField(t.Family.burstable),
		"bare-metal":                                  boolField(false),
		"hypervisor":                                  {t.Family.hypervisor},
		"hibernation-supported":                       boolField(*i.HibernationSupported),
		"instance-storage-supported":                  boolField(t.Store.disks > 0),
		"dedicated-hosts-supported":                   boolField(*i.DedicatedHostsSupported),
		"auto-recovery-supported":                     boolField(true),
		"processor-info.supported-architecture":       t.Arch,
		"processor-info.manufacturer":                 {t.Family.manufacturer},
		"processor-info.sustained-clock-speed-in-ghz": {strconv.FormatFloat(t.Family.clockGHz, 'f', -1, 64)},
		"vcpu-info.default-vcpus":                     {itoa(t.VCPUs)},
		"vcpu-info.default-cores":                     {itoa(t.Cores)},
		"vcpu-info.default-threads-per-core":          {itoa(t.Threads)},
		"memory-info.size-in-mib":                     {itoa(t.MemoryMiB)},
		"network-info.network-performance":            {t.Network},
		"network-info.maximum-network-interfaces":     {itoa(t.ENIs)},
		"network-info.ipv4-addresses-per-interface":   {itoa(t.IPsPerENI)},
		"network-info.ipv6-supported":                 boolField(true),
		"network-info.ena-support":                    {enaSupport(t.Family)},
		"network-info.efa-supported":                  boolField(false),
		"ebs-info.ebs-optimized-support":              {*i.EbsInfo.EbsOptimizedSupport},
		"ebs-info.encryption-support":                 {"supported"},
		"ebs-info.nvme-support":                       {*i.EbsInfo.NvmeSupport},
		"supported-usage-class":                       i.SupportedUsageClasses,
		"supported-root-device-type":                  {"ebs"},
		"supported-virtualization-type":               {"hvm"},
		"supported-boot-mode":                         i.SupportedBootModes,
		"nitro-enclaves-support":                      {"unsupported"},
		"nitro-tpm-support":                           {"unsupported"},
	}
	// A type without instance store has the filters' names, with no value to match.
	for _, f := range []string{"total-size-in-gb", "disk.count", "disk.size-in-gb", "disk.type", "nvme-support", "encryption-support"} {
		fields["instance-storage-info."+f] = []string{}
	}
	if st := i.InstanceStorageInfo; st != nil {
		fields["instance-storage-info.total-size-in-gb"] = []string{strconv.FormatInt(*st.TotalSizeInGB, 10)}
		fields["instance-storage-info.disk.count"] = []string{itoa(t.Store.disks)}
		fields["instance-storage-info.disk.size-in-gb"] = []string{itoa(t.Store.sizeGB)}
		fields["instance-storage-info.disk.type"] = []string{"ssd"}
		fields["instance-storage-info.nvme-support"] = []string{*st.NvmeSupport}
		fields["instance-storage-info.encryption-support"] = []string{*st.EncryptionSupport}
	}
	return fields
}

// DescribeInstanceTypeOfferings offers every catalog type in the region and in each of its zones.
func (s *Service) DescribeInstanceTypeOfferings(ctx context.Context, in *api.DescribeInstanceTypeOfferingsRequest) (*api.DescribeInstanceTypeOfferingsResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	zones, err := s.DescribeAvailabilityZones(ctx, &api.DescribeAvailabilityZonesRequest{})
	if err != nil {
		return nil, err
	}
	locType := deref(in.LocationType)
	if locType == "" {
		locType = "region"
	}
	var locations []string
	switch locType {
	case "region":
		locations = []string{regionOf(ctx)}
	case "availability-zone":
		for _, z := range zones.AvailabilityZones {
			locations = append(locations, *z.ZoneName)
		}
	case "availability-zone-id":
		for _, z := range zones.AvailabilityZones {
			locations = append(locations, *z.ZoneId)
		}
	default:
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter locationType is invalid.", locType)
	}
	var out []api.InstanceTypeOffering
	for _, n := range instanceTypeNames {
		for _, loc := range locations {
			ok, err := filterSet(in.Filters).match(map[string][]string{"instance-type": {n}, "location": {loc}})
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, api.InstanceTypeOffering{InstanceType: str(n), Location: str(loc), LocationType: str(locType)})
			}
		}
	}
	page, next, err := paginate(out, func(o api.InstanceTypeOffering) string { return *o.Location + "/" + *o.InstanceType }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &api.DescribeInstanceTypeOfferingsResult{InstanceTypeOfferings: page, NextToken: next}, nil
}

func i64(n int) *int64       { v := int64(n); return &v }
func f64(f float64) *float64 { return &f }
