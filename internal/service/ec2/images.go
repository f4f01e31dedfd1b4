package ec2

import (
	"context"
	"slices"
	"strconv"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/host/storage/images"
)

// amazonOwner is the owner id AWS shows for Amazon's own AMIs; the quick-start images are Amazon's.
const amazonOwner = "137112412989"

// DescribeImages lists the AMIs the caller may see in the request's region: the quick-start AMIs of the
// image store (public, owned by Amazon), and the custom AMIs (amis.go) it owns or may launch.
func (s *Service) DescribeImages(ctx context.Context, in *api.DescribeImagesRequest) (*api.DescribeImagesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	for _, id := range in.ImageIds {
		if !amiIDPattern.MatchString(id) {
			return nil, apierr.InvalidParam("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
		}
	}
	if in.MaxResults != nil && len(in.ImageIds) > 0 {
		return nil, apierr.InvalidParam("InvalidParameterCombination", "The parameter ImageIds cannot be used with the parameter maxResults")
	}
	var all []images.Image
	if s.images != nil { // a host without compute has no images to offer
		var err error
		if all, err = s.images.List(ctx); err != nil {
			return nil, err
		}
	}
	custom, err := s.visibleImages(ctx)
	if err != nil {
		return nil, err
	}
	account := awsctx.From(ctx).Account
	type candidate struct {
		img    api.Image
		fields map[string][]string
		owner  string
		public bool
		users  []string
	}
	var cands []candidate
	for _, img := range all {
		ai := imageOut(img)
		cands = append(cands, candidate{ai, tagFields(imageFields(ai), nil, in.Filters), amazonOwner, true, nil})
	}
	for _, r := range custom {
		ai := customImageOut(r, account)
		cands = append(cands, candidate{ai, customImageFields(r, ai, in.Filters), r.OwnerID, r.Public, r.LaunchUsers})
	}
	found := map[string]bool{}
	for _, c := range cands {
		found[*c.img.ImageId] = true
	}
	for _, id := range in.ImageIds {
		if !found[id] {
			return nil, apierr.Missing("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
		}
	}
	owners := map[string]bool{}
	for _, o := range in.Owners {
		switch o {
		case "self":
			owners[account] = true
		case "amazon":
			owners[amazonOwner] = true
		default:
			owners[o] = true
		}
	}
	executable := func(c candidate) bool {
		for _, u := range in.ExecutableUsers {
			switch {
			case u == "all" && c.public,
				u == "self" && slices.Contains(c.users, account),
				slices.Contains(c.users, u):
				return true
			}
		}
		return len(in.ExecutableUsers) == 0
	}
	want := set(in.ImageIds)
	var out []api.Image
	for _, c := range cands {
		if len(owners) > 0 && !owners[c.owner] || len(want) > 0 && !want[*c.img.ImageId] || !executable(c) {
			continue
		}
		ok, err := filterSet(in.Filters).match(c.fields)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c.img)
		}
	}
	page, next, err := paginate(out, func(i api.Image) string { return *i.ImageId }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &api.DescribeImagesResult{Images: page, NextToken: next}, nil
}

func imageOut(img images.Image) api.Image {
	created := ""
	if !img.Created.IsZero() {
		created = awsTime(img.Created)
	}
	size := max(img.SizeGiB, 1)
	out := api.Image{
		ImageId: str(img.ID), Name: str(img.Name), Description: str(img.Description), Architecture: str(img.Architecture),
		CreationDate: str(created), ImageLocation: str("amazon/" + img.Name), ImageOwnerAlias: str("amazon"),
		OwnerId: str(amazonOwner), ImageType: str("machine"), Public: boolp(true), State: str(img.State),
		Hypervisor: str("xen"), VirtualizationType: str("hvm"), RootDeviceName: str(rootDevice), RootDeviceType: str("ebs"),
		EnaSupport: boolp(true), SriovNetSupport: str("simple"), PlatformDetails: str("Linux/UNIX"),
		UsageOperation: str("RunInstances"), BootMode: str("uefi-preferred"), Tags: nil,
		BlockDeviceMappings: []api.BlockDeviceMapping{{DeviceName: str(rootDevice), Ebs: &api.EbsBlockDevice{
			DeleteOnTermination: boolp(true), Encrypted: boolp(false), VolumeSize: i32(size), VolumeType: str("gp3"),
			Iops: i32(3000), Throughput: i32(125), SnapshotId: str("snap-" + img.ID[len("ami-"):]),
		}}},
	}
	if img.State == "failed" {
		out.StateReason = &api.StateReason{Code: str("Server.InternalError"), Message: str(img.Reason)}
	}
	if img.State == "pending" {
		out.StateReason = &api.StateReason{Code: str("pending"), Message: str("Building: " + strconv.Itoa(img.Progress) + "%")}
	}
	return out
}

func imageFields(i api.Image) map[string][]string {
	return map[string][]string{
		"architecture":                               {deref(i.Architecture)},
		"block-device-mapping.device-name":           {rootDevice},
		"block-device-mapping.delete-on-termination": {"true"},
		"block-device-mapping.volume-size":           {strconv.Itoa(int(derefInt(i.BlockDeviceMappings[0].Ebs.VolumeSize)))},
		"block-device-mapping.volume-type":           {"gp3"},
		"block-device-mapping.encrypted":             {"false"},
		"block-device-mapping.snapshot-id":           {deref(i.BlockDeviceMappings[0].Ebs.SnapshotId)},
		"boot-mode":                                  {"uefi-preferred"},
		"creation-date":                              {deref(i.CreationDate)},
		"description":                                {deref(i.Description)},
		"ena-support":                                {"true"},
		"free-tier-eligible":                         {"true"},
		"hypervisor":                                 {"xen"},
		"image-allowed":                              {"true"},
		"image-id":                                   {deref(i.ImageId)},
		"image-type":                                 {"machine"},
		"is-public":                                  {"true"},
		"kernel-id":                                  {},
		"manifest-location":                          {deref(i.ImageLocation)},
		"name":                                       {deref(i.Name)},
		"owner-alias":                                {"amazon"},
		"owner-id":                                   {amazonOwner},
		"platform":                                   {},
		"platform-details":                           {"Linux/UNIX"},
		"product-code":                               {},
		"product-code.type":                          {},
		"ramdisk-id":                                 {},
		"root-device-name":                           {rootDevice},
		"root-device-type":                           {"ebs"},
		"source-image-id":                            {},
		"source-image-region":                        {},
		"source-instance-id":                         {},
		"state":                                      {deref(i.State)},
		"state-reason-code":                          {},
		"state-reason-message":                       {},
		"sriov-net-support":                          {"simple"},
		"usage-operation":                            {"RunInstances"},
		"virtualization-type":                        {"hvm"},
	}
}

func derefInt(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
