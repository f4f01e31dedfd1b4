package ec2

// The instance type catalog: the families and sizes AWS sells, with their vCPUs, memory, processors and
// network figures as AWS publishes them. The EBS bandwidth figures are representative per family (AWS
// publishes them per size; the per-size table belongs with the EBS work). The d families and i3 have instance
// store disks (instancestore.go gives them to the machines).

type familySpec struct {
	name         string
	manufacturer string // Intel, AMD, AWS
	clockGHz     float64
	arch         []string
	hypervisor   string // xen or nitro
	threads      int    // threads per core
	burstable    bool
	currentGen   bool
	ebsMaxMbps   int // the "up to" EBS bandwidth of the family's smaller sizes
	sizes        []sizeSpec
}

type sizeSpec struct {
	size      string
	vcpus     int
	memoryMiB int
	network   string
	enis      int // maximum network interfaces
	ipsPerENI int
	store     instanceStore // local NVMe SSDs; none for EBS-only sizes
}

// instanceStore is a size's instance store: disks of one size, in GB (10^9 bytes) as AWS counts them.
type instanceStore struct {
	disks  int
	sizeGB int
}

// withStore gives each size its instance store, in the order of the sizes.
func withStore(sizes []sizeSpec, stores ...instanceStore) []sizeSpec {
	for i := range sizes {
		sizes[i].store = stores[i]
	}
	return sizes
}

// Size rows shared by families of the same shape; memory comes from the family's GiB per vCPU.
func standardSizes(gibPerVCPU int, names []string, networks []string) []sizeSpec {
	vcpus := map[string]int{"medium": 1, "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32,
		"9xlarge": 36, "12xlarge": 48, "16xlarge": 64, "18xlarge": 72, "24xlarge": 96, "32xlarge": 128, "48xlarge": 192}
	out := make([]sizeSpec, len(names))
	for i, n := range names {
		v := vcpus[n]
		enis, ips := eniLimits(n)
		out[i] = sizeSpec{size: n, vcpus: v, memoryMiB: v * gibPerVCPU * 1024, network: networks[i], enis: enis, ipsPerENI: ips}
	}
	return out
}

func eniLimits(size string) (int, int) {
	switch size {
	case "medium":
		return 2, 4
	case "large":
		return 3, 10
	case "xlarge", "2xlarge":
		return 4, 15
	case "4xlarge", "8xlarge", "9xlarge", "12xlarge":
		return 8, 30
	default:
		return 15, 50
	}
}

func burstableSizes(vcpus []int, networks []string) []sizeSpec {
	names := []string{"nano", "micro", "small", "medium", "large", "xlarge", "2xlarge"}
	mem := []int{512, 1024, 2048, 4096, 8192, 16384, 32768}
	enis := []int{2, 2, 3, 3, 3, 4, 4}
	ips := []int{2, 2, 4, 6, 12, 15, 15}
	out := make([]sizeSpec, len(names))
	for i := range names {
		out[i] = sizeSpec{size: names[i], vcpus: vcpus[i], memoryMiB: mem[i], network: networks[i], enis: enis[i], ipsPerENI: ips[i]}
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

var (
	intelSizes6 = []string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"}
	intelNet6   = append(repeat("Up to 12.5 Gigabit", 4), "12.5 Gigabit", "18.75 Gigabit", "25 Gigabit", "37.5 Gigabit", "50 Gigabit")
	intelSizes7 = []string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"}
	intelNet7   = append(repeat("Up to 12.5 Gigabit", 4), "12.5 Gigabit", "18.75 Gigabit", "25 Gigabit", "37.5 Gigabit", "50 Gigabit")
	m5Sizes     = []string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"}
	m5Net       = append(repeat("Up to 10 Gigabit", 4), "10 Gigabit", "12 Gigabit", "20 Gigabit", "25 Gigabit")
	c5Sizes     = []string{"large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge"}
	c5Net       = append(repeat("Up to 10 Gigabit", 4), "12 Gigabit", "12 Gigabit", "25 Gigabit", "25 Gigabit")
	g2Sizes     = []string{"medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"}
	g2Net       = append(repeat("Up to 10 Gigabit", 5), "12 Gigabit", "20 Gigabit", "25 Gigabit")
	g3Net       = append(repeat("Up to 12.5 Gigabit", 5), "15 Gigabit", "22.5 Gigabit", "30 Gigabit")
	m5dStore    = []instanceStore{{1, 75}, {1, 150}, {1, 300}, {2, 300}, {2, 600}, {2, 900}, {4, 600}, {4, 900}}
	x86         = []string{"x86_64"}
	arm         = []string{"arm64"}
)

var families = []familySpec{
	{name: "t2", manufacturer: "Intel", clockGHz: 2.5, arch: []string{"i386", "x86_64"}, hypervisor: "xen", threads: 1, burstable: true, currentGen: true,
		sizes: burstableSizes([]int{1, 1, 1, 2, 2, 4, 8}, append(repeat("Low to Moderate", 5), "Moderate", "Moderate"))},
	{name: "t3", manufacturer: "Intel", clockGHz: 2.5, arch: x86, hypervisor: "nitro", threads: 2, burstable: true, currentGen: true, ebsMaxMbps: 2085,
		sizes: burstableSizes([]int{2, 2, 2, 2, 2, 4, 8}, repeat("Up to 5 Gigabit", 7))},
	{name: "t3a", manufacturer: "AMD", clockGHz: 2.2, arch: x86, hypervisor: "nitro", threads: 2, burstable: true, currentGen: true, ebsMaxMbps: 2085,
		sizes: burstableSizes([]int{2, 2, 2, 2, 2, 4, 8}, repeat("Up to 5 Gigabit", 7))},
	{name: "t4g", manufacturer: "AWS", clockGHz: 2.5, arch: arm, hypervisor: "nitro", threads: 1, burstable: true, currentGen: true, ebsMaxMbps: 2085,
		sizes: burstableSizes([]int{2, 2, 2, 2, 2, 4, 8}, repeat("Up to 5 Gigabit", 7))},
	{name: "m5", manufacturer: "Intel", clockGHz: 3.1, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 4750,
		sizes: standardSizes(4, m5Sizes, m5Net)},
	{name: "m6i", manufacturer: "Intel", clockGHz: 3.5, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 10000,
		sizes: standardSizes(4, intelSizes6, intelNet6)},
	{name: "m6a", manufacturer: "AMD", clockGHz: 3.6, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 10000,
		sizes: standardSizes(4, intelSizes6, intelNet6)},
	{name: "m6g", manufacturer: "AWS", clockGHz: 2.5, arch: arm, hypervisor: "nitro", threads: 1, currentGen: true, ebsMaxMbps: 4750,
		sizes: standardSizes(4, g2Sizes, g2Net)},
	{name: "m7i", manufacturer: "Intel", clockGHz: 3.2, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 10000,
		sizes: standardSizes(4, intelSizes7, intelNet7)},
	{name: "m7g", manufacturer: "AWS", clockGHz: 2.6, arch: arm, hypervisor: "nitro", threads: 1, currentGen: true, ebsMaxMbps: 10000,
		sizes: standardSizes(4, g2Sizes, g3Net)},
	{name: "c5", manufacturer: "Intel", clockGHz: 3.4, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 4750,
		sizes: standardSizes(2, c5Sizes, c5Net)},
	{name: "c6i", manufacturer: "Intel", clockGHz: 3.5, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 10000,
		sizes: standardSizes(2, intelSizes6, intelNet6)},
	{name: "c6g", manufacturer: "AWS", clockGHz: 2.5, arch: arm, hypervisor: "nitro", threads: 1, currentGen: true, ebsMaxMbps: 4750,
		sizes: standardSizes(2, g2Sizes, g2Net)},
	{name: "c7i", manufacturer: "Intel", clockGHz: 3.2, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 10000,
		sizes: standardSizes(2, intelSizes7, intelNet7)},
	{name: "c7g", manufacturer: "AWS", clockGHz: 2.6, arch: arm, hypervisor: "nitro", threads: 1, currentGen: true, ebsMaxMbps: 10000,
		sizes: standardSizes(2, g2Sizes, g3Net)},
	{name: "r5", manufacturer: "Intel", clockGHz: 3.1, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 4750,
		sizes: standardSizes(8, m5Sizes, m5Net)},
	{name: "r6i", manufacturer: "Intel", clockGHz: 3.5, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 10000,
		sizes: standardSizes(8, intelSizes6, intelNet6)},
	{name: "r6g", manufacturer: "AWS", clockGHz: 2.5, arch: arm, hypervisor: "nitro", threads: 1, currentGen: true, ebsMaxMbps: 4750,
		sizes: standardSizes(8, g2Sizes, g2Net)},
	{name: "r7i", manufacturer: "Intel", clockGHz: 3.2, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 10000,
		sizes: standardSizes(8, intelSizes7, intelNet7)},
	// Families with instance store (NVMe SSD), sized as AWS publishes them.
	{name: "m5d", manufacturer: "Intel", clockGHz: 3.1, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 4750,
		sizes: withStore(standardSizes(4, m5Sizes, m5Net), m5dStore...)},
	{name: "c5d", manufacturer: "Intel", clockGHz: 3.4, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 4750,
		sizes: withStore(standardSizes(2, c5Sizes, c5Net),
			instanceStore{1, 50}, instanceStore{1, 100}, instanceStore{1, 200}, instanceStore{1, 400},
			instanceStore{1, 900}, instanceStore{2, 900}, instanceStore{2, 900}, instanceStore{4, 900})},
	{name: "r5d", manufacturer: "Intel", clockGHz: 3.1, arch: x86, hypervisor: "nitro", threads: 2, currentGen: true, ebsMaxMbps: 4750,
		sizes: withStore(standardSizes(8, m5Sizes, m5Net), m5dStore...)},
	{name: "i3", manufacturer: "Intel", clockGHz: 2.3, arch: x86, hypervisor: "xen", threads: 2, currentGen: true,
		sizes: []sizeSpec{
			{size: "large", vcpus: 2, memoryMiB: 15616, network: "Up to 10 Gigabit", enis: 3, ipsPerENI: 10, store: instanceStore{1, 475}},
			{size: "xlarge", vcpus: 4, memoryMiB: 31232, network: "Up to 10 Gigabit", enis: 4, ipsPerENI: 15, store: instanceStore{1, 950}},
			{size: "2xlarge", vcpus: 8, memoryMiB: 62464, network: "Up to 10 Gigabit", enis: 4, ipsPerENI: 15, store: instanceStore{1, 1900}},
			{size: "4xlarge", vcpus: 16, memoryMiB: 124928, network: "Up to 10 Gigabit", enis: 8, ipsPerENI: 30, store: instanceStore{2, 1900}},
			{size: "8xlarge", vcpus: 32, memoryMiB: 249856, network: "10 Gigabit", enis: 8, ipsPerENI: 30, store: instanceStore{4, 1900}},
			{size: "16xlarge", vcpus: 64, memoryMiB: 499712, network: "25 Gigabit", enis: 15, ipsPerENI: 50, store: instanceStore{8, 1900}},
		}},
	// m1.small is EC2's default instance type when RunInstances names none.
	{name: "m1", manufacturer: "Intel", clockGHz: 0, arch: []string{"i386", "x86_64"}, hypervisor: "xen", threads: 1, currentGen: false,
		sizes: []sizeSpec{{size: "small", vcpus: 1, memoryMiB: 1740, network: "Low", enis: 2, ipsPerENI: 4}}},
}

// freeTier are the types AWS's free tier covers.
var freeTier = map[string]bool{"t2.micro": true, "t3.micro": true}
