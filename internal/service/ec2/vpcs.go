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
	acct := awsctx.From(ctx).Account
	page, next, err := describeNetwork(ctx, s, networkKind[vpcRecord, api.Vpc]{
		kind:  kindVPC,
		named: namedIDs[vpcRecord]{in.VpcIds, func(v vpcRecord) string { return v.ID }, vpcNotFound},
		out:   func(v vpcRecord) (api.Vpc, error) { return *s.vpcOut(ctx, v), nil },
		fields: func(v vpcRecord, _ api.Vpc) map[string][]string {
			return map[string][]string{
				"vpc-id": {v.ID}, "cidr": {v.CIDR}, "cidr-block-association.cidr-block": {v.CIDR},
				"cidr-block-association.association-id": {v.CIDRAssocID}, "cidr-block-association.state": {"associated"},
				"dhcp-options-id": {v.DHCPOptionsID}, "is-default": {strconv.FormatBool(v.IsDefault)},
				"owner-id": {acct}, "state": {"available"},
			}
		},
		tags: func(v vpcRecord) []Tag { return v.Tags },
	}, describeQuery{in.Filters, in.MaxResults, in.NextToken})
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
	return getResource[vpcRecord](ctx, s, kindVPC, "vpc", "InvalidVpcID.Malformed", vpcNotFound, id)
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

// namedIDs is one list of ids (or names) a Describe* request may give, with how a record answers to it and
// the error its kind gives for an id no record has.
type namedIDs[R any] struct {
	ids      []string
	of       func(R) string
	notFound func(id string) error
}

// listNamed lists the region's records of kind and keeps those every non-empty id list names. Every named id
// must exist, list by list, before any record is kept: EC2 refuses the whole call over one unknown id.
func listNamed[R any](ctx context.Context, s *Service, kind string, named ...namedIDs[R]) ([]R, error) {
	recs, _, err := store.List[R](ctx, s.st, scopedPrefix(ctx, kind))
	if err != nil {
		return nil, err
	}
	for _, n := range named {
		if err := requireIDs(n.ids, recs, n.of, n.notFound); err != nil {
			return nil, err
		}
	}
	wants := make([]map[string]bool, len(named))
	for i, n := range named {
		wants[i] = set(n.ids)
	}
	var kept []R
recs:
	for _, r := range recs {
		for i, n := range named {
			if len(wants[i]) > 0 && !wants[i][n.of(r)] {
				continue recs
			}
		}
		kept = append(kept, r)
	}
	return kept, nil
}

// matchFilters reports whether a record with these filter fields and tags passes the request's filters.
func matchFilters(filters []api.Filter, fields map[string][]string, tags []Tag) (bool, error) {
	return filterSet(filters).match(tagFields(fields, tags, filters))
}

// describeQuery is what a Describe* request asks beyond the ids it names: filters and a page.
type describeQuery struct {
	filters    []api.Filter
	maxResults *int32
	nextToken  *string
}

// networkKind is how a Describe* call sees one kind of record that lives in a VPC.
type networkKind[R, O any] struct {
	kind string
	// named is the request's id list; the record's id is also the page order.
	named namedIDs[R]
	// out gives the record as the client sees it.
	out func(R) (O, error)
	// fields gives the values of each filter name, tags aside; some come from the output.
	fields func(R, O) map[string][]string
	tags   func(R) []Tag
}

// describeNetwork answers a Describe* call for a kind that lives in VPCs. The default VPC is made first, so
// that it and what it holds are listed on first use; then named ids are checked, filters applied, and the
// outputs paged in id order.
func describeNetwork[R, O any](ctx context.Context, s *Service, k networkKind[R, O], q describeQuery) ([]O, *string, error) {
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, nil, err
	}
	recs, err := listNamed(ctx, s, k.kind, k.named)
	if err != nil {
		return nil, nil, err
	}
	type shown struct {
		id  string
		out O
	}
	var all []shown
	for _, r := range recs {
		o, err := k.out(r)
		if err != nil {
			return nil, nil, err
		}
		ok, err := matchFilters(q.filters, k.fields(r, o), k.tags(r))
		if err != nil {
			return nil, nil, err
		}
		if ok {
			all = append(all, shown{k.named.of(r), o})
		}
	}
	page, next, err := paginate(all, func(sh shown) string { return sh.id }, q.maxResults, q.nextToken)
	// Keep paginate's nil (no matches) apart from its empty page (a token past the end) for the encoder.
	if page == nil || err != nil {
		return nil, next, err
	}
	out := make([]O, len(page))
	for i, sh := range page {
		out[i] = sh.out
	}
	return out, next, nil
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
