package ec2

// The instance type catalog: the families and sizes AWS sells, with their vCPUs, memory, processors and
// network figures as AWS publishes them. The EBS bandwidth figures are representative per family (AWS
// publishes them per size; the per-size table belongs with the EBS work).

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
	// m1.small is EC2's default instance type when RunInstances names none.
	{name: "m1", manufacturer: "Intel", clockGHz: 0, arch: []string{"i386", "x86_64"}, hypervisor: "xen", threads: 1, currentGen: false,
		sizes: []sizeSpec{{size: "small", vcpus: 1, memoryMiB: 1740, network: "Low", enis: 2, ipsPerENI: 4}}},
}

// freeTier are the types AWS's free tier covers.
var freeTier = map[string]bool{"t2.micro": true, "t3.micro": true}
