package ec2

import (
	"context"
	"errors"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// vpcRecord is a VPC. The ids of its main route table and default security group are kept here because
// both live and die with the VPC.
type vpcRecord struct {
	ID               string `json:"id"`
	CIDR             string `json:"cidr"`
	CIDRAssocID      string `json:"cidrAssocId"`
	IsDefault        bool   `json:"isDefault"`
	DHCPOptionsID    string `json:"dhcpOptionsId"`
	DNSSupport       bool   `json:"dnsSupport"`
	DNSHostnames     bool   `json:"dnsHostnames"`
	MainRouteTableID string `json:"mainRouteTableId"`
	DefaultGroupID   string `json:"defaultGroupId"`
	Tags             []Tag  `json:"tags,omitempty"`
}

// CreateVpc makes a VPC with its main route table (the local route only) and its default security group.
func (s *Service) CreateVpc(ctx context.Context, in *api.CreateVpcRequest) (*api.CreateVpcResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	if in.CidrBlock == nil {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter cidrBlock")
	}
	cidr, err := parseCIDR("cidrBlock", *in.CidrBlock)
	if err != nil {
		return nil, err
	}
	if cidr.Bits() < 16 || cidr.Bits() > 28 {
		return nil, apierr.InvalidParam("InvalidVpc.Range", "The CIDR '%s' is invalid.", *in.CidrBlock)
	}
	if t := deref(in.InstanceTenancy); t != "" && t != "default" {
		return nil, apierr.InvalidParam("InvalidParameterValue", "Overcast runs only default tenancy, not '%s'", t)
	}
	v, ops, err := s.newVPC(ctx, cidr, false, tagsFromSpecs(in.TagSpecifications, "vpc"))
	if err != nil {
		return nil, err
	}
	if _, err := s.st.Txn(ctx, ops...); err != nil {
		return nil, err
	}
	return &api.CreateVpcResult{Vpc: s.vpcOut(ctx, v)}, nil
}

// newVPC returns the records of a new VPC: the VPC, its main route table with the local route, and its
// default security group (ingress from itself, egress to everywhere), as ops creating them.
func (s *Service) newVPC(ctx context.Context, cidr netip.Prefix, isDefault bool, tags []Tag) (vpcRecord, []store.Op, error) {
	v := vpcRecord{
		ID: newID("vpc"), CIDR: cidr.String(), CIDRAssocID: newID("vpc-cidr-assoc"), IsDefault: isDefault,
		DHCPOptionsID: "dopt-" + strings.Repeat("0", 8), DNSSupport: true, DNSHostnames: isDefault,
		MainRouteTableID: newID("rtb"), DefaultGroupID: newID("sg"), Tags: tags,
	}
	rt := routeTableRecord{
		ID: v.MainRouteTableID, VPCID: v.ID, Main: true, MainAssocID: newID("rtbassoc"),
		Routes: []routeRecord{{Destination: v.CIDR, GatewayID: "local", Origin: "CreateRouteTable"}},
	}
	sg := securityGroupRecord{
		ID: v.DefaultGroupID, Name: "default", VPCID: v.ID, Description: "default VPC security group",
		Ingress: []sgRule{{ID: newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, GroupID: v.DefaultGroupID}},
		Egress:  []sgRule{defaultEgressRule()},
	}
	var ops []store.Op
	for _, p := range []struct {
		kind, id string
		v        any
	}{{kindVPC, v.ID, v}, {kindRouteTable, rt.ID, rt}, {kindSecurityGroup, sg.ID, sg}} {
		op, err := store.PutOp(scopedKey(ctx, p.kind, p.id), p.v, store.Absent)
		if err != nil {
			return v, nil, err
		}
		ops = append(ops, op)
	}
	return v, ops, nil
}

// DescribeVpcs lists the VPCs of the region, the default one included.
func (s *Service) DescribeVpcs(ctx context.Context, in *api.DescribeVpcsRequest) (*api.DescribeVpcsResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	vpcs, _, err := store.List[vpcRecord](ctx, s.st, scopedPrefix(ctx, kindVPC))
	if err != nil {
		return nil, err
	}
	if err := requireIDs(in.VpcIds, vpcs, func(v vpcRecord) string { return v.ID }, vpcNotFound); err != nil {
		return nil, err
	}
	want := set(in.VpcIds)
	acct := awsctx.From(ctx).Account
	var out []api.Vpc
	for _, v := range vpcs {
		if len(want) > 0 && !want[v.ID] {
			continue
		}
		ok, err := filterSet(in.Filters).match(tagFields(map[string][]string{
			"vpc-id": {v.ID}, "cidr": {v.CIDR}, "cidr-block-association.cidr-block": {v.CIDR},
			"cidr-block-association.association-id": {v.CIDRAssocID}, "cidr-block-association.state": {"associated"},
			"dhcp-options-id": {v.DHCPOptionsID}, "is-default": {strconv.FormatBool(v.IsDefault)},
			"owner-id": {acct}, "state": {"available"},
		}, v.Tags, in.Filters))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, *s.vpcOut(ctx, v))
		}
	}
	page, next, err := paginate(out, func(v api.Vpc) string { return *v.VpcId }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &api.DescribeVpcsResult{Vpcs: page, NextToken: next}, nil
}

func (s *Service) vpcOut(ctx context.Context, v vpcRecord) *api.Vpc {
	return &api.Vpc{
		VpcId: str(v.ID), CidrBlock: str(v.CIDR), State: str("available"), IsDefault: &v.IsDefault,
		DhcpOptionsId: str(v.DHCPOptionsID), InstanceTenancy: str("default"), OwnerId: str(awsctx.From(ctx).Account),
		CidrBlockAssociationSet: []api.VpcCidrBlockAssociation{{
			AssociationId: str(v.CIDRAssocID), CidrBlock: str(v.CIDR),
			CidrBlockState: &api.VpcCidrBlockState{State: str("associated")},
		}},
		Tags: apiTags(v.Tags),
	}
}

// DeleteVpc deletes a VPC that holds nothing but its main route table and default security group, which go
// with it.
func (s *Service) DeleteVpc(ctx context.Context, in *api.DeleteVpcRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	id := deref(in.VpcId)
	if err := checkID(id, "vpc", "InvalidVpcID.Malformed"); err != nil {
		return nil, err
	}
	err := s.inVPC(ctx, id, func(v *vpcRecord) ([]store.Op, error) {
		if err := s.vpcDependencies(ctx, *v); err != nil {
			return nil, err
		}
		ops := []store.Op{
			store.DeleteOp(scopedKey(ctx, kindVPC, v.ID), store.Any),
			store.DeleteOp(scopedKey(ctx, kindRouteTable, v.MainRouteTableID), store.Any),
			store.DeleteOp(scopedKey(ctx, kindSecurityGroup, v.DefaultGroupID), store.Any),
		}
		if v.IsDefault {
			// The marker stays, emptied, so that the default VPC is not made again behind the user's back.
			op, err := store.PutOp(scopedKey(ctx, kindDefaultVPC, "default"), defaultVPCMarker{}, store.Any)
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		}
		return ops, nil
	})
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// vpcDependencies fails with DependencyViolation while the VPC holds anything the user made or attached.
func (s *Service) vpcDependencies(ctx context.Context, v vpcRecord) error {
	dep := apierr.New(apierr.Conflict, "DependencyViolation", "The vpc '%s' has dependencies and cannot be deleted.", v.ID)
	subnets, _, err := store.List[subnetRecord](ctx, s.st, scopedPrefix(ctx, kindSubnet))
	if err != nil {
		return err
	}
	for _, sn := range subnets {
		if sn.VPCID == v.ID {
			return dep
		}
	}
	igws, _, err := store.List[internetGatewayRecord](ctx, s.st, scopedPrefix(ctx, kindInternetGateway))
	if err != nil {
		return err
	}
	for _, g := range igws {
		if g.VPCID == v.ID {
			return dep
		}
	}
	groups, _, err := store.List[securityGroupRecord](ctx, s.st, scopedPrefix(ctx, kindSecurityGroup))
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.VPCID == v.ID && g.ID != v.DefaultGroupID {
			return dep
		}
	}
	rts, _, err := store.List[routeTableRecord](ctx, s.st, scopedPrefix(ctx, kindRouteTable))
	if err != nil {
		return err
	}
	for _, rt := range rts {
		if rt.VPCID == v.ID && rt.ID != v.MainRouteTableID {
			return dep
		}
	}
	return nil
}

// DescribeVpcAttribute answers enableDnsSupport and enableDnsHostnames.
func (s *Service) DescribeVpcAttribute(ctx context.Context, in *api.DescribeVpcAttributeRequest) (*api.DescribeVpcAttributeResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	v, _, err := s.getVPC(ctx, deref(in.VpcId))
	if err != nil {
		return nil, err
	}
	out := &api.DescribeVpcAttributeResult{VpcId: str(v.ID)}
	switch deref(in.Attribute) {
	case "enableDnsSupport":
		out.EnableDnsSupport = &api.AttributeBooleanValue{Value: &v.DNSSupport}
	case "enableDnsHostnames":
		out.EnableDnsHostnames = &api.AttributeBooleanValue{Value: &v.DNSHostnames}
	default:
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", deref(in.Attribute))
	}
	return out, nil
}

// ModifyVpcAttribute sets enableDnsSupport or enableDnsHostnames, one per call as in EC2.
func (s *Service) ModifyVpcAttribute(ctx context.Context, in *api.ModifyVpcAttributeRequest) (*wire.Empty, error) {
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	id := deref(in.VpcId)
	if err := checkID(id, "vpc", "InvalidVpcID.Malformed"); err != nil {
		return nil, err
	}
	_, err := store.Mutate(ctx, s.st, scopedKey(ctx, kindVPC, id), func(v *vpcRecord) error {
		switch {
		case in.EnableDnsSupport != nil && in.EnableDnsSupport.Value != nil && in.EnableDnsHostnames == nil:
			v.DNSSupport = *in.EnableDnsSupport.Value
		case in.EnableDnsHostnames != nil && in.EnableDnsHostnames.Value != nil && in.EnableDnsSupport == nil:
			v.DNSHostnames = *in.EnableDnsHostnames.Value
		default:
			return apierr.InvalidParam("InvalidParameterCombination", "Exactly one attribute must be specified.")
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, vpcNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

func (s *Service) getVPC(ctx context.Context, id string) (vpcRecord, store.Record, error) {
	if err := checkID(id, "vpc", "InvalidVpcID.Malformed"); err != nil {
		return vpcRecord{}, store.Record{}, err
	}
	v, rec, err := store.Get[vpcRecord](ctx, s.st, scopedKey(ctx, kindVPC, id))
	if errors.Is(err, store.ErrNotFound) {
		return v, rec, vpcNotFound(id)
	}
	return v, rec, err
}

func vpcNotFound(id string) error {
	return apierr.Missing("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
}

// inVPC runs change on a fresh read of the VPC and commits the ops it returns together with a rewrite of
// the VPC record at the revision read. Every change to what a VPC holds goes through here, so that two
// concurrent ones (two overlapping subnets, two groups of one name, a delete racing a create) cannot both
// pass their checks: the later commit finds the VPC's revision moved and runs its change again. change may
// return an op on the VPC's own key (a delete); the rewrite is then left out.
func (s *Service) inVPC(ctx context.Context, vpcID string, change func(v *vpcRecord) ([]store.Op, error)) error {
	var err error
	for range 32 {
		var v vpcRecord
		var rec store.Record
		if v, rec, err = s.getVPC(ctx, vpcID); err != nil {
			return err
		}
		var ops []store.Op
		if ops, err = change(&v); err != nil {
			return err
		}
		touched := false
		for _, op := range ops {
			touched = touched || op.Key == rec.Key
		}
		if !touched {
			op, err := store.PutOp(rec.Key, v, rec.ModRevision)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		} else {
			for i := range ops {
				if ops[i].Key == rec.Key {
					ops[i].Expect = rec.ModRevision
				}
			}
		}
		if _, err = s.st.Txn(ctx, ops...); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return err
}

// Helpers shared by the network resources' handlers.

func scopedKey(ctx context.Context, kind, id string) store.Key {
	r := awsctx.From(ctx)
	return store.Key{Account: r.Account, Region: r.Region, Kind: kind, ID: id}
}

func scopedPrefix(ctx context.Context, kind string) store.Prefix {
	r := awsctx.From(ctx)
	return store.Prefix{Account: r.Account, Region: r.Region, Kind: kind}
}

// checkID answers EC2's Malformed error for an id that does not have the resource's prefix.
func checkID(id, prefix, code string) error {
	if !strings.HasPrefix(id, prefix+"-") || len(id) <= len(prefix)+1 {
		return apierr.InvalidParam(code, "Invalid id: \"%s\" (expecting \"%s-...\")", id, prefix)
	}
	return nil
}

// requireIDs fails with the not-found error of the first requested id that no record has, as EC2's
// Describe calls do when they are given ids.
func requireIDs[T any](ids []string, recs []T, id func(T) string, notFound func(string) error) error {
	have := make(map[string]bool, len(recs))
	for _, r := range recs {
		have[id(r)] = true
	}
	for _, want := range ids {
		if !have[want] {
			return notFound(want)
		}
	}
	return nil
}

// parseCIDR reads an IPv4 CIDR block as EC2 wants it: canonical, the host bits zero.
func parseCIDR(param, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Masked() != p {
		return netip.Prefix{}, apierr.InvalidParam("InvalidParameterValue",
			"Value (%s) for parameter %s is invalid. This is not a valid CIDR block.", s, param)
	}
	return p, nil
}

// tagsFromSpecs collects the tags of the TagSpecifications meant for resourceType.
func tagsFromSpecs(specs []api.TagSpecification, resourceType string) []Tag {
	var tags []Tag
	for _, sp := range specs {
		if t := deref(sp.ResourceType); t != "" && t != resourceType {
			continue
		}
		for _, t := range sp.Tags {
			tags = append(tags, Tag{Key: deref(t.Key), Value: deref(t.Value)})
		}
	}
	return tags
}

// apiTags renders record tags; no tags is an absent tagSet, as EC2 leaves it out.
func apiTags(tags []Tag) []api.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]api.Tag, len(tags))
	for i, t := range tags {
		out[i] = api.Tag{Key: str(t.Key), Value: str(t.Value)}
	}
	return out
}

// tagFields adds the tag-key and tag:<key> filter fields of a resource's tags to fields. Every tag:<key>
// filter of the request is known even where the resource lacks the tag (it then matches nothing).
func tagFields(fields map[string][]string, tags []Tag, filters []api.Filter) map[string][]string {
	fields["tag-key"] = nil
	for _, f := range filters {
		if n := deref(f.Name); strings.HasPrefix(n, "tag:") {
			fields[n] = nil
		}
	}
	for _, t := range tags {
		fields["tag-key"] = append(fields["tag-key"], t.Key)
		fields["tag:"+t.Key] = append(fields["tag:"+t.Key], t.Value)
	}
	return fields
}

// paginate returns the page of items (sorted by id) after the NextToken, which is the last id of the
// previous page, and the token of the next page.
func paginate[T any](items []T, id func(T) string, maxResults *int32, token *string) ([]T, *string, error) {
	sort.Slice(items, func(i, j int) bool { return id(items[i]) < id(items[j]) })
	if token != nil && *token != "" {
		i := sort.Search(len(items), func(i int) bool { return id(items[i]) > *token })
		items = items[i:]
	}
	if maxResults == nil {
		return items, nil, nil
	}
	n := int(*maxResults)
	if n < 5 || n > 1000 {
		return nil, nil, apierr.InvalidParam("InvalidParameterValue",
			"Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", n)
	}
	if len(items) <= n {
		return items, nil, nil
	}
	return items[:n], str(id(items[n-1])), nil
}

func boolField(b bool) []string { return []string{strconv.FormatBool(b)} }
