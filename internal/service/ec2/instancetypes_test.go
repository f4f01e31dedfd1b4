package ec2

import (
	"sort"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
)

func TestDescribeInstanceTypes(t *testing.T) {
	e := newEnv(t)
	out := must[*api.DescribeInstanceTypesResult](t)(e.svc.DescribeInstanceTypes(e.ctx, &api.DescribeInstanceTypesRequest{
		InstanceTypes: []string{"t2.micro", "m5.large", "c6g.medium", "r7i.48xlarge"}}))
	got := map[string]api.InstanceTypeInfo{}
	for _, it := range out.InstanceTypes {
		got[*it.InstanceType] = it
	}
	check := func(name string, vcpus int32, mib int64, arch, net string, freeTier, burstable bool) {
		t.Helper()
		it, ok := got[name]
		if !ok {
			t.Fatalf("%s missing", name)
		}
		if *it.VCpuInfo.DefaultVCpus != vcpus || *it.MemoryInfo.SizeInMiB != mib || !contains(it.ProcessorInfo.SupportedArchitectures, arch) ||
			*it.NetworkInfo.NetworkPerformance != net || *it.FreeTierEligible != freeTier || *it.BurstablePerformanceSupported != burstable {
			t.Errorf("%s: %d vCPU %d MiB %v %q free %v burst %v", name, *it.VCpuInfo.DefaultVCpus, *it.MemoryInfo.SizeInMiB,
				it.ProcessorInfo.SupportedArchitectures, *it.NetworkInfo.NetworkPerformance, *it.FreeTierEligible, *it.BurstablePerformanceSupported)
		}
	}
	check("t2.micro", 1, 1024, "x86_64", "Low to Moderate", true, true)
	check("m5.large", 2, 8192, "x86_64", "Up to 10 Gigabit", false, false)
	check("c6g.medium", 1, 2048, "arm64", "Up to 10 Gigabit", false, false)
	check("r7i.48xlarge", 192, 1572864, "x86_64", "50 Gigabit", false, false)
	if *got["t2.micro"].Hypervisor != "xen" || *got["m5.large"].Hypervisor != "nitro" || *got["m5.large"].VCpuInfo.DefaultCores != 1 {
		t.Error("hypervisor or cores wrong")
	}

	free := must[*api.DescribeInstanceTypesResult](t)(e.svc.DescribeInstanceTypes(e.ctx, &api.DescribeInstanceTypesRequest{
		Filters: []api.Filter{flt("free-tier-eligible", "true")}}))
	var names []string
	for _, it := range free.InstanceTypes {
		names = append(names, *it.InstanceType)
	}
	sort.Strings(names)
	if len(names) != 2 || names[0] != "t2.micro" || names[1] != "t3.micro" {
		t.Errorf("free tier: %v", names)
	}
	arm := must[*api.DescribeInstanceTypesResult](t)(e.svc.DescribeInstanceTypes(e.ctx, &api.DescribeInstanceTypesRequest{
		Filters: []api.Filter{flt("processor-info.supported-architecture", "arm64"), flt("instance-type", "t4g.*")}}))
	if len(arm.InstanceTypes) != 7 {
		t.Errorf("t4g sizes: %d", len(arm.InstanceTypes))
	}

	// Pages cover the catalog once.
	seen := map[string]bool{}
	var token *string
	for {
		page := must[*api.DescribeInstanceTypesResult](t)(e.svc.DescribeInstanceTypes(e.ctx, &api.DescribeInstanceTypesRequest{MaxResults: ptr(int32(100)), NextToken: token}))
		for _, it := range page.InstanceTypes {
			if seen[*it.InstanceType] {
				t.Fatalf("%s twice", *it.InstanceType)
			}
			seen[*it.InstanceType] = true
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	if len(seen) != len(instanceTypeNames) || len(seen) < 150 {
		t.Errorf("paged %d of %d types", len(seen), len(instanceTypeNames))
	}
	_, err := e.svc.DescribeInstanceTypes(e.ctx, &api.DescribeInstanceTypesRequest{MaxResults: ptr(int32(101))})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.svc.DescribeInstanceTypes(e.ctx, &api.DescribeInstanceTypesRequest{InstanceTypes: []string{"t2.micro", "z9.huge"}})
	wantCode(t, err, "InvalidInstanceType")
}

func TestDescribeImages(t *testing.T) {
	e := newEnv(t)
	out := must[*api.DescribeImagesResult](t)(e.svc.DescribeImages(e.ctx, &api.DescribeImagesRequest{Owners: []string{"amazon"},
		Filters: []api.Filter{flt("name", "overcast-tiny-*"), flt("architecture", "x86_64"), flt("state", "available")}}))
	if len(out.Images) != 1 || *out.Images[0].ImageId != testAMI || *out.Images[0].ImageOwnerAlias != "amazon" ||
		*out.Images[0].RootDeviceName != "/dev/xvda" || *out.Images[0].CreationDate != "2026-01-01T00:00:00.000Z" {
		t.Fatalf("DescribeImages: %+v", out.Images)
	}
	self := must[*api.DescribeImagesResult](t)(e.svc.DescribeImages(e.ctx, &api.DescribeImagesRequest{Owners: []string{"self"}}))
	if len(self.Images) != 0 {
		t.Errorf("Owners=self: %d images", len(self.Images))
	}
	_, err := e.svc.DescribeImages(e.ctx, &api.DescribeImagesRequest{ImageIds: []string{"ami-00000000000000000"}})
	wantCode(t, err, "InvalidAMIID.NotFound")
	_, err = e.svc.DescribeImages(e.ctx, &api.DescribeImagesRequest{ImageIds: []string{"image-1"}})
	wantCode(t, err, "InvalidAMIID.Malformed")
}
