package ec2

import (
	"strings"

	"github.com/overcast-cloud/overcast/internal/apierr"
)

// AWS's limits for each EBS volume type: the sizes it can have, and the IOPS and throughput it can be given.
// CreateVolume and ModifyVolume check a volume's configuration against them with checkVolumeConfig.

// volumeType is one EBS volume type's limits.
type volumeType struct {
	name           string
	minGiB, maxGiB int
	// takesIops says whether the type accepts Iops; requiresIops whether it needs them (io1, io2).
	takesIops, requiresIops bool
	minIops, maxIops        int
	defaultIops             int
	// maxIopsPerGiB bounds the ratio of IOPS to size; baseIops is allowed at any size (gp3's 3000).
	maxIopsPerGiB                int
	baseIops                     int
	takesThroughput              bool // gp3 only
	minThroughput, maxThroughput int  // MiB/s
	defaultThroughput            int
	multiAttach                  bool // io1 and io2 can be attached to several instances
	bootable                     bool // st1 and sc1 cannot be boot volumes (for EBS root volumes, to come)
}

// maxThroughputPerIops is gp3's bound of MiB/s per provisioned IOPS.
const maxThroughputPerIops = 0.25

var volumeTypes = map[string]volumeType{
	"gp2": {name: "gp2", minGiB: 1, maxGiB: 16384, bootable: true},
	"gp3": {name: "gp3", minGiB: 1, maxGiB: 16384, takesIops: true, minIops: 3000, maxIops: 16000, defaultIops: 3000,
		maxIopsPerGiB: 500, baseIops: 3000, takesThroughput: true, minThroughput: 125, maxThroughput: 1000,
		defaultThroughput: 125, bootable: true},
	"io1": {name: "io1", minGiB: 4, maxGiB: 16384, takesIops: true, requiresIops: true, minIops: 100, maxIops: 64000,
		maxIopsPerGiB: 50, multiAttach: true, bootable: true},
	// Every io2 volume is Block Express now: up to 64 TiB and 256,000 IOPS.
	"io2": {name: "io2", minGiB: 4, maxGiB: 65536, takesIops: true, requiresIops: true, minIops: 100, maxIops: 256000,
		maxIopsPerGiB: 1000, multiAttach: true, bootable: true},
	"st1":      {name: "st1", minGiB: 125, maxGiB: 16384},
	"sc1":      {name: "sc1", minGiB: 125, maxGiB: 16384},
	"standard": {name: "standard", minGiB: 1, maxGiB: 1024, bootable: true},
}

// volumeTypeNames lists the types in the order AWS's errors name them.
var volumeTypeNames = []string{"standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"}

// lookupVolumeType answers EC2's error for a type it does not have.
func lookupVolumeType(name string) (volumeType, error) {
	t, ok := volumeTypes[name]
	if !ok {
		return volumeType{}, apierr.InvalidParam("InvalidParameterValue",
			"Value (%s) for parameter volumeType is invalid. Valid values are %s.", name, strings.Join(volumeTypeNames, ", "))
	}
	return t, nil
}

// volumeConfig is what a volume is provisioned with. Iops and Throughput are 0 where the type does not take
// them.
type volumeConfig struct {
	Type        string `json:"type"`
	SizeGiB     int    `json:"sizeGiB"`
	Iops        int    `json:"iops,omitempty"`
	Throughput  int    `json:"throughput,omitempty"`
	MultiAttach bool   `json:"multiAttach,omitempty"`
}

// gp2Iops is a gp2 volume's baseline: 3 IOPS per GiB, at least 100 and at most 16,000.
func gp2Iops(sizeGiB int) int {
	return min(max(3*sizeGiB, 100), 16000)
}

// shownIops is the Iops DescribeVolumes shows: the provisioned IOPS, or gp2's baseline. Magnetic and HDD
// volumes show none.
func (c volumeConfig) shownIops() int {
	if c.Type == "gp2" {
		return gp2Iops(c.SizeGiB)
	}
	return c.Iops
}

// checkSize answers AWS's error for a size out of the type's range.
func (t volumeType) checkSize(sizeGiB int) error {
	if sizeGiB < t.minGiB {
		return apierr.InvalidParam("InvalidParameterValue", "Volume of %dGiB is too small; minimum is %dGiB.", sizeGiB, t.minGiB)
	}
	if sizeGiB > t.maxGiB {
		return apierr.InvalidParam("InvalidParameterValue", "Volume of %dGiB is too large for volume type %s; maximum is %dGiB.",
			sizeGiB, t.name, t.maxGiB)
	}
	return nil
}

// checkVolumeConfig validates a complete configuration (defaults already applied) against its type.
func checkVolumeConfig(c volumeConfig) error {
	t, err := lookupVolumeType(c.Type)
	if err != nil {
		return err
	}
	if err := t.checkSize(c.SizeGiB); err != nil {
		return err
	}
	if c.MultiAttach && !t.multiAttach {
		return apierr.InvalidParam("InvalidParameterCombination",
			"Multi-Attach is supported only for io1 and io2 volumes; the volume type is %s.", t.name)
	}
	if !t.takesIops {
		return nil
	}
	if c.Iops < t.minIops {
		return apierr.InvalidParam("InvalidParameterValue", "Volume iops of %d is too low; minimum is %d.", c.Iops, t.minIops)
	}
	if c.Iops > t.maxIops {
		return apierr.InvalidParam("InvalidParameterValue", "Volume iops of %d is too high; maximum is %d.", c.Iops, t.maxIops)
	}
	if c.Iops > t.baseIops && c.Iops > t.maxIopsPerGiB*c.SizeGiB {
		return apierr.InvalidParam("InvalidParameterValue", "Iops to volume size ratio of %f is too high; maximum is %f.",
			float64(c.Iops)/float64(c.SizeGiB), float64(t.maxIopsPerGiB))
	}
	if !t.takesThroughput {
		return nil
	}
	if c.Throughput < t.minThroughput {
		return apierr.InvalidParam("InvalidParameterValue", "Volume throughput of %d MiB/s is too low; minimum is %d MiB/s.",
			c.Throughput, t.minThroughput)
	}
	if c.Throughput > t.maxThroughput {
		return apierr.InvalidParam("InvalidParameterValue", "Volume throughput of %d MiB/s is too high; maximum is %d MiB/s.",
			c.Throughput, t.maxThroughput)
	}
	if c.Throughput > t.minThroughput && float64(c.Throughput) > maxThroughputPerIops*float64(c.Iops) {
		return apierr.InvalidParam("InvalidParameterValue",
			"Throughput (MiBps) to iops ratio of %f is too high; maximum is %f MiBps per iops.",
			float64(c.Throughput)/float64(c.Iops), maxThroughputPerIops)
	}
	return nil
}

// refuseUnsupported answers AWS's InvalidParameterCombination for Iops or Throughput given to a type that does
// not take them.
func refuseUnsupported(t volumeType, iops, throughput *int32) error {
	if iops != nil && !t.takesIops {
		return apierr.InvalidParam("InvalidParameterCombination", "The parameter iops is not supported for %s volumes.", t.name)
	}
	if throughput != nil && !t.takesThroughput {
		return apierr.InvalidParam("InvalidParameterCombination", "The parameter throughput is not supported for %s volumes.", t.name)
	}
	return nil
}
