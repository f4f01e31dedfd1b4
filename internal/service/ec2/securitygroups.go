package ec2

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/overcast-cloud/overcast/internal/store"
)

// securityGroupRecord is a security group with its rules. The instances half reads ID, Name and VPCID.
type securityGroupRecord struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	VPCID       string   `json:"vpcId"`
	Description string   `json:"description"`
	Ingress     []sgRule `json:"ingress"`
	Egress      []sgRule `json:"egress"`
	Tags        []Tag    `json:"tags,omitempty"`
}

// sgRule is one security group rule: EC2 gives each source of a permission its own rule and rule id.
// Exactly one of CIDRv4, CIDRv6, PrefixList and GroupID is set. Protocol is "tcp", "udp", "icmp",
// "icmpv6", "-1" (all) or another IP protocol number; the ports are -1 where they do not apply.
type sgRule struct {
	ID          string `json:"id"`
	Protocol    string `json:"protocol"`
	FromPort    int32  `json:"fromPort"`
	ToPort      int32  `json:"toPort"`
	CIDRv4      string `json:"cidrIpv4,omitempty"`
	CIDRv6      string `json:"cidrIpv6,omitempty"`
	PrefixList  string `json:"prefixListId,omitempty"`
	GroupID     string `json:"groupId,omitempty"`
	Description string `json:"description,omitempty"`
	Tags        []Tag  `json:"tags,omitempty"`
}

// sameAs reports whether two rules allow the same traffic from the same source (descriptions and ids
// aside), which is what makes an authorization a duplicate and a revocation a match.
func (r sgRule) sameAs(o sgRule) bool {
	return r.Protocol == o.Protocol && r.FromPort == o.FromPort && r.ToPort == o.ToPort && r.CIDRv4 == o.CIDRv4 &&
		r.CIDRv6 == o.CIDRv6 && r.PrefixList == o.PrefixList && r.GroupID == o.GroupID
}

func (r sgRule) peer() string {
	switch {
	case r.CIDRv4 != "":
		return r.CIDRv4
	case r.CIDRv6 != "":
		return r.CIDRv6
	case r.PrefixList != "":
		return r.PrefixList
	}
	return r.GroupID
}

func defaultEgressRule() sgRule {
	return sgRule{ID: newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, CIDRv4: "0.0.0.0/0"}
}

// CreateSecurityGroup makes a group in a VPC (the default VPC when none is named) with EC2's default egress
// rule, which allows everything out.
func (s *Service) CreateSecurityGroup(ctx context.Context, in *api.CreateSecurityGroupRequest) (*api.CreateSecurityGroupResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	defaultVPC, err := s.ensureDefaultVPCRecord(ctx)
	if err != nil {
		return nil, err
	}
	name, desc := deref(in.GroupName), deref(in.Description)
	switch {
	case in.GroupName == nil:
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter groupName")
	case in.Description == nil:
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter groupDescription")
	case name == "" || len(name) > 255:
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter groupName is invalid. The length must be between 1 and 255 characters.", name)
	case len(desc) > 255:
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value for parameter groupDescription is invalid. The length must be at most 255 characters.")
	case strings.EqualFold(name, "default"):
		return nil, apierr.InvalidParam("InvalidParameterValue", "Cannot use reserved security group name: %s", name)
	case strings.HasPrefix(name, "sg-"):
		return nil, apierr.InvalidParam("InvalidParameterValue", "Group names may not be in the format sg-*")
	}
	vpcID := deref(in.VpcId)
	if vpcID == "" {
		if vpcID = defaultVPC; vpcID == "" {
			return nil, apierr.InvalidParam("VPCIdNotSpecified", "No default VPC for this user")
		}
	}
	g := securityGroupRecord{ID: newID("sg"), Name: name, VPCID: vpcID, Description: desc,
		Ingress: []sgRule{}, Egress: []sgRule{defaultEgressRule()}, Tags: tagsFromSpecs(in.TagSpecifications, "security-group")}
	err = s.inVPC(ctx, vpcID, func(v *vpcRecord) ([]store.Op, error) {
		groups, _, err := store.List[securityGroupRecord](ctx, s.st, scopedPrefix(ctx, kindSecurityGroup))
		if err != nil {
			return nil, err
		}
		for _, o := range groups {
			if o.VPCID == v.ID && o.Name == name {
				return nil, apierr.Exists("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, v.ID)
			}
		}
		op, err := store.PutOp(scopedKey(ctx, kindSecurityGroup, g.ID), g, store.Absent)
		return []store.Op{op}, err
	})
	if err != nil {
		return nil, err
	}
	return &api.CreateSecurityGroupResult{GroupId: str(g.ID), SecurityGroupArn: str(groupARN(ctx, g.ID)), Tags: apiTags(g.Tags)}, nil
}

func groupARN(ctx context.Context, id string) string {
	r := awsctx.From(ctx)
	return "arn:aws:ec2:" + r.Region + ":" + r.Account + ":security-group/" + id
}

// DescribeSecurityGroups lists groups by ids, by names (in the default VPC) or all of them, with their
// permissions.
func (s *Service) DescribeSecurityGroups(ctx context.Context, in *api.DescribeSecurityGroupsRequest) (*api.DescribeSecurityGroupsResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	defaultVPC, err := s.ensureDefaultVPCRecord(ctx)
	if err != nil {
		return nil, err
	}
	groups, _, err := store.List[securityGroupRecord](ctx, s.st, scopedPrefix(ctx, kindSecurityGroup))
	if err != nil {
		return nil, err
	}
	byID := map[string]securityGroupRecord{}
	for _, g := range groups {
		byID[g.ID] = g
	}
	want := map[string]bool{}
	for _, id := range in.GroupIds {
		if err := checkID(id, "sg", "InvalidGroupId.Malformed"); err != nil {
			return nil, err
		}
		if _, ok := byID[id]; !ok {
			return nil, groupNotFound(id)
		}
		want[id] = true
	}
	for _, name := range in.GroupNames {
		g, ok := groupByName(groups, defaultVPC, name)
		if !ok {
			return nil, apierr.Missing("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", name, defaultVPC)
		}
		want[g.ID] = true
	}
	acct := awsctx.From(ctx).Account
	var out []api.SecurityGroup
	for _, g := range groups {
		if len(want) > 0 && !want[g.ID] {
			continue
		}
		fields := map[string][]string{
			"group-name": {g.Name}, "group-id": {g.ID}, "vpc-id": {g.VPCID}, "description": {g.Description},
			"owner-id": {acct},
		}
		ruleFields(fields, "ip-permission.", g.Ingress, byID, acct)
		ruleFields(fields, "egress.ip-permission.", g.Egress, byID, acct)
		ok, err := matchFilters(in.Filters, fields, g.Tags)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, api.SecurityGroup{
				GroupId: str(g.ID), GroupName: str(g.Name), Description: str(g.Description), VpcId: str(g.VPCID),
				OwnerId: str(acct), SecurityGroupArn: str(groupARN(ctx, g.ID)), Tags: apiTags(g.Tags),
				IpPermissions: permissionsOut(g.Ingress, acct), IpPermissionsEgress: permissionsOut(g.Egress, acct),
			})
		}
	}
	page, next, err := paginate(out, func(g api.SecurityGroup) string { return *g.GroupId }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &api.DescribeSecurityGroupsResult{SecurityGroups: page, NextToken: next}, nil
}

// ruleFields adds the ip-permission.* filter fields of a group's rules.
func ruleFields(fields map[string][]string, prefix string, rules []sgRule, groups map[string]securityGroupRecord, acct string) {
	for _, n := range []string{"cidr", "from-port", "to-port", "protocol", "group-id", "group-name", "ipv6-cidr", "prefix-list-id", "user-id"} {
		fields[prefix+n] = nil
	}
	add := func(n, v string) {
		if v != "" {
			fields[prefix+n] = append(fields[prefix+n], v)
		}
	}
	for _, r := range rules {
		add("cidr", r.CIDRv4)
		add("ipv6-cidr", r.CIDRv6)
		add("prefix-list-id", r.PrefixList)
		add("protocol", r.Protocol)
		add("from-port", strconv.Itoa(int(r.FromPort)))
		add("to-port", strconv.Itoa(int(r.ToPort)))
		if r.GroupID != "" {
			add("group-id", r.GroupID)
			add("group-name", groups[r.GroupID].Name)
			add("user-id", acct)
		}
	}
}

// permissionsOut folds rules back into EC2's IpPermissions: one permission per protocol and port range,
// with every source of it.
func permissionsOut(rules []sgRule, acct string) []api.IpPermission {
	out := []api.IpPermission{}
	index := map[string]int{}
	for _, r := range rules {
		k := fmt.Sprint(r.Protocol, "/", r.FromPort, "/", r.ToPort)
		i, ok := index[k]
		if !ok {
			p := api.IpPermission{IpProtocol: str(r.Protocol), IpRanges: []api.IpRange{}, Ipv6Ranges: []api.Ipv6Range{},
				PrefixListIds: []api.PrefixListId{}, UserIdGroupPairs: []api.UserIdGroupPair{}}
			if r.Protocol != "-1" {
				from, to := r.FromPort, r.ToPort
				p.FromPort, p.ToPort = &from, &to
			}
			out = append(out, p)
			i = len(out) - 1
			index[k] = i
		}
		p := &out[i]
		desc := optional(r.Description)
		switch {
		case r.CIDRv4 != "":
			p.IpRanges = append(p.IpRanges, api.IpRange{CidrIp: str(r.CIDRv4), Description: desc})
		case r.CIDRv6 != "":
			p.Ipv6Ranges = append(p.Ipv6Ranges, api.Ipv6Range{CidrIpv6: str(r.CIDRv6), Description: desc})
		case r.PrefixList != "":
			p.PrefixListIds = append(p.PrefixListIds, api.PrefixListId{PrefixListId: str(r.PrefixList), Description: desc})
		default:
			p.UserIdGroupPairs = append(p.UserIdGroupPairs, api.UserIdGroupPair{GroupId: str(r.GroupID), UserId: str(acct), Description: desc})
		}
	}
	return out
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// DeleteSecurityGroup deletes a group by id or (in the default VPC) by name, unless it is a VPC's default
// group, another group's rule refers to it, or a running instance is in it.
func (s *Service) DeleteSecurityGroup(ctx context.Context, in *api.DeleteSecurityGroupRequest) (*api.DeleteSecurityGroupResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	g, err := s.groupByIDOrName(ctx, deref(in.GroupId), deref(in.GroupName))
	if err != nil {
		return nil, err
	}
	if g.Name == "default" {
		return nil, apierr.InvalidParam("CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", g.ID)
	}
	dependent := apierr.New(apierr.Conflict, "DependencyViolation", "resource %s has a dependent object", g.ID)
	err = s.inVPC(ctx, g.VPCID, func(v *vpcRecord) ([]store.Op, error) {
		groups, _, err := store.List[securityGroupRecord](ctx, s.st, scopedPrefix(ctx, kindSecurityGroup))
		if err != nil {
			return nil, err
		}
		for _, o := range groups {
			if o.ID == g.ID {
				continue
			}
			for _, r := range append(append([]sgRule{}, o.Ingress...), o.Egress...) {
				if r.GroupID == g.ID {
					return nil, dependent
				}
			}
		}
		if members, err := s.groupMembers(ctx, g.ID); err != nil {
			return nil, err
		} else if len(members) > 0 {
			return nil, dependent
		}
		return []store.Op{store.DeleteOp(scopedKey(ctx, kindSecurityGroup, g.ID), store.Any)}, nil
	})
	if err != nil {
		return nil, err
	}
	t := true
	return &api.DeleteSecurityGroupResult{Return: &t, GroupId: str(g.ID)}, nil
}

// AuthorizeSecurityGroupIngress adds inbound rules, given as IpPermissions or in the older flat form.
func (s *Service) AuthorizeSecurityGroupIngress(ctx context.Context, in *api.AuthorizeSecurityGroupIngressRequest) (*api.AuthorizeSecurityGroupIngressResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	perms := withFlatPermission(in.IpPermissions, in.IpProtocol, in.FromPort, in.ToPort, in.CidrIp, in.SourceSecurityGroupName)
	rules, err := s.authorize(ctx, deref(in.GroupId), deref(in.GroupName), false, perms, tagsFromSpecs(in.TagSpecifications, "security-group-rule"))
	if err != nil {
		return nil, err
	}
	t := true
	return &api.AuthorizeSecurityGroupIngressResult{Return: &t, SecurityGroupRules: rules}, nil
}

// AuthorizeSecurityGroupEgress adds outbound rules.
func (s *Service) AuthorizeSecurityGroupEgress(ctx context.Context, in *api.AuthorizeSecurityGroupEgressRequest) (*api.AuthorizeSecurityGroupEgressResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	perms := withFlatPermission(in.IpPermissions, in.IpProtocol, in.FromPort, in.ToPort, in.CidrIp, in.SourceSecurityGroupName)
	rules, err := s.authorize(ctx, deref(in.GroupId), "", true, perms, tagsFromSpecs(in.TagSpecifications, "security-group-rule"))
	if err != nil {
		return nil, err
	}
	t := true
	return &api.AuthorizeSecurityGroupEgressResult{Return: &t, SecurityGroupRules: rules}, nil
}

// RevokeSecurityGroupIngress removes inbound rules by rule id or by their exact values.
func (s *Service) RevokeSecurityGroupIngress(ctx context.Context, in *api.RevokeSecurityGroupIngressRequest) (*api.RevokeSecurityGroupIngressResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	perms := withFlatPermission(in.IpPermissions, in.IpProtocol, in.FromPort, in.ToPort, in.CidrIp, in.SourceSecurityGroupName)
	revoked, unknown, err := s.revoke(ctx, deref(in.GroupId), deref(in.GroupName), false, perms, in.SecurityGroupRuleIds)
	if err != nil {
		return nil, err
	}
	t := true
	return &api.RevokeSecurityGroupIngressResult{Return: &t, RevokedSecurityGroupRules: revoked, UnknownIpPermissions: unknown}, nil
}

// RevokeSecurityGroupEgress removes outbound rules.
func (s *Service) RevokeSecurityGroupEgress(ctx context.Context, in *api.RevokeSecurityGroupEgressRequest) (*api.RevokeSecurityGroupEgressResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	perms := withFlatPermission(in.IpPermissions, in.IpProtocol, in.FromPort, in.ToPort, in.CidrIp, in.SourceSecurityGroupName)
	revoked, unknown, err := s.revoke(ctx, deref(in.GroupId), "", true, perms, in.SecurityGroupRuleIds)
	if err != nil {
		return nil, err
	}
	t := true
	return &api.RevokeSecurityGroupEgressResult{Return: &t, RevokedSecurityGroupRules: revoked, UnknownIpPermissions: unknown}, nil
}

// withFlatPermission turns the older flat parameters (IpProtocol, FromPort, ToPort, CidrIp or
// SourceSecurityGroupName) into the permission they describe, next to any IpPermissions.
func withFlatPermission(perms []api.IpPermission, proto *string, from, to *int32, cidr, srcGroup *string) []api.IpPermission {
	if proto == nil && from == nil && to == nil && cidr == nil && srcGroup == nil {
		return perms
	}
	p := api.IpPermission{IpProtocol: proto, FromPort: from, ToPort: to}
	if p.IpProtocol == nil {
		// A source group alone means all traffic from it, as EC2 reads the flat form.
		p.IpProtocol = str("-1")
	}
	if cidr != nil {
		p.IpRanges = []api.IpRange{{CidrIp: cidr}}
	}
	if srcGroup != nil {
		p.UserIdGroupPairs = []api.UserIdGroupPair{{GroupName: srcGroup}}
	}
	return append(append([]api.IpPermission{}, perms...), p)
}

// authorize adds the permissions' rules to the group; any rule that already exists fails the whole call.
func (s *Service) authorize(ctx context.Context, groupID, groupName string, egress bool, perms []api.IpPermission, tags []Tag) ([]api.SecurityGroupRule, error) {
	if len(perms) == 0 {
		return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter ipPermissions")
	}
	g, err := s.groupByIDOrName(ctx, groupID, groupName)
	if err != nil {
		return nil, err
	}
	var added []sgRule
	err = s.inVPC(ctx, g.VPCID, func(v *vpcRecord) ([]store.Op, error) {
		g, rec, err := store.Get[securityGroupRecord](ctx, s.st, scopedKey(ctx, kindSecurityGroup, g.ID))
		if errors.Is(err, store.ErrNotFound) {
			return nil, groupNotFound(g.ID)
		} else if err != nil {
			return nil, err
		}
		if added, err = s.rulesOf(ctx, g, perms); err != nil {
			return nil, err
		}
		rules := &g.Ingress
		if egress {
			rules = &g.Egress
		}
		for i, r := range added {
			added[i].Tags = tags
			for _, o := range append(append([]sgRule{}, *rules...), added[:i]...) {
				if r.sameAs(o) {
					return nil, apierr.New(apierr.AlreadyExists, "InvalidPermission.Duplicate",
						"the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists",
						r.peer(), strings.ToUpper(protocolName(r.Protocol)), r.FromPort, r.ToPort)
				}
			}
		}
		*rules = append(*rules, added...)
		op, err := store.PutOp(rec.Key, g, rec.ModRevision)
		return []store.Op{op}, err
	})
	if err != nil {
		return nil, err
	}
	s.rulesChanged(ctx)
	out := make([]api.SecurityGroupRule, len(added))
	for i, r := range added {
		out[i] = ruleOut(ctx, g.ID, egress, r)
	}
	return out, nil
}

// revoke removes rules by id and by value. An unmatched value is an error outside the default VPC; in it,
// EC2 answers it back as unknown.
func (s *Service) revoke(ctx context.Context, groupID, groupName string, egress bool, perms []api.IpPermission, ruleIDs []string) ([]api.RevokedSecurityGroupRule, []api.IpPermission, error) {
	if len(perms) == 0 && len(ruleIDs) == 0 {
		return nil, nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter ipPermissions or securityGroupRuleIds")
	}
	g, err := s.groupByIDOrName(ctx, groupID, groupName)
	if err != nil {
		return nil, nil, err
	}
	var revoked []api.RevokedSecurityGroupRule
	var unknown []api.IpPermission
	err = s.inVPC(ctx, g.VPCID, func(v *vpcRecord) ([]store.Op, error) {
		revoked, unknown = nil, nil
		g, rec, err := store.Get[securityGroupRecord](ctx, s.st, scopedKey(ctx, kindSecurityGroup, g.ID))
		if errors.Is(err, store.ErrNotFound) {
			return nil, groupNotFound(g.ID)
		} else if err != nil {
			return nil, err
		}
		rules := &g.Ingress
		if egress {
			rules = &g.Egress
		}
		remove := func(match func(sgRule) bool) bool {
			for i, r := range *rules {
				if match(r) {
					revoked = append(revoked, revokedOut(g.ID, egress, r))
					*rules = append((*rules)[:i:i], (*rules)[i+1:]...)
					return true
				}
			}
			return false
		}
		for _, id := range ruleIDs {
			if !remove(func(r sgRule) bool { return r.ID == id }) {
				return nil, apierr.Missing("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
			}
		}
		for _, p := range perms {
			want, err := s.rulesOf(ctx, g, []api.IpPermission{p})
			if err != nil {
				return nil, err
			}
			for _, w := range want {
				if remove(w.sameAs) {
					continue
				}
				if !v.IsDefault {
					return nil, apierr.Missing("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
				}
				unknown = append(unknown, permissionsOut([]sgRule{w}, awsctx.From(ctx).Account)...)
			}
		}
		op, err := store.PutOp(rec.Key, g, rec.ModRevision)
		return []store.Op{op}, err
	})
	if err != nil {
		return nil, nil, err
	}
	s.rulesChanged(ctx)
	return revoked, unknown, nil
}

// rulesOf validates permissions against group g and splits them into one rule per source, each with a
// new rule id.
func (s *Service) rulesOf(ctx context.Context, g securityGroupRecord, perms []api.IpPermission) ([]sgRule, error) {
	var out []sgRule
	for _, p := range perms {
		proto, err := normalizeProtocol(deref(p.IpProtocol))
		if err != nil {
			return nil, err
		}
		from, to, err := portRange(proto, p.FromPort, p.ToPort)
		if err != nil {
			return nil, err
		}
		base := sgRule{Protocol: proto, FromPort: from, ToPort: to}
		n := len(out)
		for _, r := range p.IpRanges {
			c, err := netip.ParsePrefix(deref(r.CidrIp))
			if err != nil || !c.Addr().Is4() || c.Masked() != c {
				return nil, apierr.InvalidParam("InvalidParameterValue", "CIDR block %s is malformed", deref(r.CidrIp))
			}
			rule := base
			rule.CIDRv4, rule.Description = c.String(), deref(r.Description)
			out = append(out, rule)
		}
		for _, r := range p.Ipv6Ranges {
			c, err := netip.ParsePrefix(deref(r.CidrIpv6))
			if err != nil || !c.Addr().Is6() || c.Masked() != c {
				return nil, apierr.InvalidParam("InvalidParameterValue", "CIDR block %s is malformed", deref(r.CidrIpv6))
			}
			rule := base
			rule.CIDRv6, rule.Description = c.String(), deref(r.Description)
			out = append(out, rule)
		}
		for _, r := range p.PrefixListIds {
			if err := checkID(deref(r.PrefixListId), "pl", "InvalidPrefixListID.Malformed"); err != nil {
				return nil, err
			}
			rule := base
			rule.PrefixList, rule.Description = deref(r.PrefixListId), deref(r.Description)
			out = append(out, rule)
		}
		for _, pair := range p.UserIdGroupPairs {
			ref, err := s.referencedGroup(ctx, g, deref(pair.GroupId), deref(pair.GroupName))
			if err != nil {
				return nil, err
			}
			rule := base
			rule.GroupID, rule.Description = ref, deref(pair.Description)
			out = append(out, rule)
		}
		if len(out) == n {
			return nil, apierr.InvalidParam("InvalidParameterValue",
				"A permission needs a source or destination: an IPv4 or IPv6 CIDR, a prefix list or a security group")
		}
	}
	for i := range out {
		out[i].ID = newID("sgr")
	}
	return out, nil
}

// referencedGroup resolves a rule's group reference: by id anywhere in the region, by name in g's VPC.
func (s *Service) referencedGroup(ctx context.Context, g securityGroupRecord, id, name string) (string, error) {
	if id == g.ID || id == "" && name == g.Name {
		return g.ID, nil
	}
	if id != "" {
		if err := checkID(id, "sg", "InvalidGroupId.Malformed"); err != nil {
			return "", err
		}
		if _, _, err := store.Get[securityGroupRecord](ctx, s.st, scopedKey(ctx, kindSecurityGroup, id)); errors.Is(err, store.ErrNotFound) {
			return "", groupNotFound(id)
		} else if err != nil {
			return "", err
		}
		return id, nil
	}
	groups, _, err := store.List[securityGroupRecord](ctx, s.st, scopedPrefix(ctx, kindSecurityGroup))
	if err != nil {
		return "", err
	}
	if o, ok := groupByName(groups, g.VPCID, name); ok {
		return o.ID, nil
	}
	return "", apierr.Missing("InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", name, g.VPCID)
}

func normalizeProtocol(p string) (string, error) {
	switch strings.ToLower(p) {
	case "-1", "all":
		return "-1", nil
	case "tcp", "6":
		return "tcp", nil
	case "udp", "17":
		return "udp", nil
	case "icmp", "1":
		return "icmp", nil
	case "icmpv6", "58":
		return "icmpv6", nil
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 && n <= 255 {
		return strconv.Itoa(n), nil
	}
	return "", apierr.InvalidParam("InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown protocol.", p)
}

func protocolName(p string) string {
	if p == "-1" {
		return "all"
	}
	return p
}

// portRange checks a permission's ports: TCP and UDP need a range within 0-65535, ICMP a type and code
// (-1 for all), and all-traffic ignores them.
func portRange(proto string, from, to *int32) (int32, int32, error) {
	get := func(p *int32) int32 {
		if p == nil {
			return -1
		}
		return *p
	}
	f, t := get(from), get(to)
	switch proto {
	case "-1":
		return -1, -1, nil
	case "tcp", "udp":
		if from == nil || to == nil {
			return 0, 0, apierr.InvalidParam("InvalidParameterValue",
				"Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.")
		}
		if f < 0 || t > 65535 || f > t {
			return 0, 0, apierr.InvalidParam("InvalidParameterValue", "Invalid port range: from port %d, to port %d", f, t)
		}
	case "icmp", "icmpv6":
		if f < -1 || f > 255 || t < -1 || t > 255 {
			return 0, 0, apierr.InvalidParam("InvalidParameterValue", "Invalid ICMP type %d or code %d", f, t)
		}
	}
	return f, t, nil
}

func ruleOut(ctx context.Context, groupID string, egress bool, r sgRule) api.SecurityGroupRule {
	rc := awsctx.From(ctx)
	out := api.SecurityGroupRule{
		SecurityGroupRuleId: str(r.ID), GroupId: str(groupID), GroupOwnerId: str(rc.Account), IsEgress: &egress,
		IpProtocol: str(r.Protocol), FromPort: &r.FromPort, ToPort: &r.ToPort, Description: optional(r.Description),
		CidrIpv4: optional(r.CIDRv4), CidrIpv6: optional(r.CIDRv6), PrefixListId: optional(r.PrefixList),
		SecurityGroupRuleArn: str("arn:aws:ec2:" + rc.Region + ":" + rc.Account + ":security-group-rule/" + r.ID),
		Tags:                 apiTags(r.Tags),
	}
	if r.GroupID != "" {
		out.ReferencedGroupInfo = &api.ReferencedSecurityGroup{GroupId: str(r.GroupID), UserId: str(rc.Account)}
	}
	return out
}

func revokedOut(groupID string, egress bool, r sgRule) api.RevokedSecurityGroupRule {
	return api.RevokedSecurityGroupRule{
		SecurityGroupRuleId: str(r.ID), GroupId: str(groupID), IsEgress: &egress, IpProtocol: str(r.Protocol),
		FromPort: &r.FromPort, ToPort: &r.ToPort, CidrIpv4: optional(r.CIDRv4), CidrIpv6: optional(r.CIDRv6),
		PrefixListId: optional(r.PrefixList), ReferencedGroupId: optional(r.GroupID), Description: optional(r.Description),
	}
}

// DescribeSecurityGroupRules lists rules with their ids.
func (s *Service) DescribeSecurityGroupRules(ctx context.Context, in *api.DescribeSecurityGroupRulesRequest) (*api.DescribeSecurityGroupRulesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.ensureDefaultVPCRecord(ctx); err != nil {
		return nil, err
	}
	groups, _, err := store.List[securityGroupRecord](ctx, s.st, scopedPrefix(ctx, kindSecurityGroup))
	if err != nil {
		return nil, err
	}
	var all []api.SecurityGroupRule
	for _, g := range groups {
		for _, dir := range []struct {
			egress bool
			rules  []sgRule
		}{{false, g.Ingress}, {true, g.Egress}} {
			for _, r := range dir.rules {
				ok, err := matchFilters(in.Filters, map[string][]string{
					"group-id": {g.ID}, "security-group-rule-id": {r.ID},
				}, r.Tags)
				if err != nil {
					return nil, err
				}
				if ok {
					all = append(all, ruleOut(ctx, g.ID, dir.egress, r))
				}
			}
		}
	}
	if err := requireIDs(in.SecurityGroupRuleIds, all, func(r api.SecurityGroupRule) string { return *r.SecurityGroupRuleId }, func(id string) error {
		return apierr.Missing("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
	}); err != nil {
		return nil, err
	}
	want := set(in.SecurityGroupRuleIds)
	var out []api.SecurityGroupRule
	for _, r := range all {
		if len(want) == 0 || want[*r.SecurityGroupRuleId] {
			out = append(out, r)
		}
	}
	page, next, err := paginate(out, func(r api.SecurityGroupRule) string { return *r.SecurityGroupRuleId }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &api.DescribeSecurityGroupRulesResult{SecurityGroupRules: page, NextToken: next}, nil
}

// ModifySecurityGroupRules replaces rules in place, keeping their ids.
func (s *Service) ModifySecurityGroupRules(ctx context.Context, in *api.ModifySecurityGroupRulesRequest) (*api.ModifySecurityGroupRulesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	g, err := s.groupByIDOrName(ctx, deref(in.GroupId), "")
	if err != nil {
		return nil, err
	}
	err = s.inVPC(ctx, g.VPCID, func(v *vpcRecord) ([]store.Op, error) {
		g, rec, err := store.Get[securityGroupRecord](ctx, s.st, scopedKey(ctx, kindSecurityGroup, g.ID))
		if err != nil {
			return nil, err
		}
		for _, u := range in.SecurityGroupRules {
			id, req := deref(u.SecurityGroupRuleId), u.SecurityGroupRule
			if req == nil {
				return nil, apierr.InvalidParam("MissingParameter", "The request must contain the parameter SecurityGroupRule")
			}
			p := api.IpPermission{IpProtocol: req.IpProtocol, FromPort: req.FromPort, ToPort: req.ToPort}
			switch {
			case req.CidrIpv4 != nil:
				p.IpRanges = []api.IpRange{{CidrIp: req.CidrIpv4, Description: req.Description}}
			case req.CidrIpv6 != nil:
				p.Ipv6Ranges = []api.Ipv6Range{{CidrIpv6: req.CidrIpv6, Description: req.Description}}
			case req.PrefixListId != nil:
				p.PrefixListIds = []api.PrefixListId{{PrefixListId: req.PrefixListId, Description: req.Description}}
			case req.ReferencedGroupId != nil:
				p.UserIdGroupPairs = []api.UserIdGroupPair{{GroupId: req.ReferencedGroupId, Description: req.Description}}
			}
			rules, err := s.rulesOf(ctx, g, []api.IpPermission{p})
			if err != nil {
				return nil, err
			}
			found := false
			for _, list := range []*[]sgRule{&g.Ingress, &g.Egress} {
				for i := range *list {
					if (*list)[i].ID == id {
						rules[0].ID, rules[0].Tags = id, (*list)[i].Tags
						(*list)[i], found = rules[0], true
					}
				}
			}
			if !found {
				return nil, apierr.Missing("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
			}
		}
		op, err := store.PutOp(rec.Key, g, rec.ModRevision)
		return []store.Op{op}, err
	})
	if err != nil {
		return nil, err
	}
	s.rulesChanged(ctx)
	t := true
	return &api.ModifySecurityGroupRulesResult{Return: &t}, nil
}

// rulesChanged brings running instances' firewalls up to date after a rule change. The change is already
// committed, so a failure here is logged, not returned: the next refresh (any rule or membership change)
// applies it.
func (s *Service) rulesChanged(ctx context.Context) {
	if ok, err := s.hasInstances(ctx); err != nil || !ok {
		return
	}
	if err := s.refreshFirewalls(ctx); err != nil {
		s.log.Warn("firewalls not refreshed after a security group change", "err", err)
	}
}

// hasInstances reports whether the region has any instance record, so that group changes in a region
// without instances skip the firewall work.
func (s *Service) hasInstances(ctx context.Context) (bool, error) {
	recs, err := s.st.List(ctx, scopedPrefix(ctx, kindInstance))
	return len(recs) > 0, err
}

// groupMembers is groupMemberAddrs, skipped where there are no instances at all.
func (s *Service) groupMembers(ctx context.Context, groupID string) ([]netip.Addr, error) {
	if ok, err := s.hasInstances(ctx); err != nil || !ok {
		return nil, err
	}
	return s.groupMemberAddrs(ctx, groupID)
}

// groupsFor resolves security groups by ids or names in vpcID; none given means the VPC's default group.
// Errors: InvalidGroup.NotFound, InvalidGroupId.Malformed, InvalidParameter (a group of another VPC).
func (s *Service) groupsFor(ctx context.Context, vpcID string, ids, names []string) ([]securityGroupRecord, error) {
	if len(ids) == 0 && len(names) == 0 {
		v, _, err := s.getVPC(ctx, vpcID)
		if err != nil {
			return nil, err
		}
		ids = []string{v.DefaultGroupID}
	}
	groups, _, err := store.List[securityGroupRecord](ctx, s.st, scopedPrefix(ctx, kindSecurityGroup))
	if err != nil {
		return nil, err
	}
	var out []securityGroupRecord
	seen := map[string]bool{}
	add := func(g securityGroupRecord) error {
		if g.VPCID != vpcID {
			return apierr.InvalidParam("InvalidParameter", "Security group %s and subnet belong to different networks.", g.ID)
		}
		if !seen[g.ID] {
			seen[g.ID] = true
			out = append(out, g)
		}
		return nil
	}
	for _, id := range ids {
		if err := checkID(id, "sg", "InvalidGroupId.Malformed"); err != nil {
			return nil, err
		}
		found := false
		for _, g := range groups {
			if g.ID == id {
				if err := add(g); err != nil {
					return nil, err
				}
				found = true
			}
		}
		if !found {
			return nil, groupNotFound(id)
		}
	}
	for _, name := range names {
		g, ok := groupByName(groups, vpcID, name)
		if !ok {
			return nil, apierr.Missing("InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", name, vpcID)
		}
		if err := add(g); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// firewallFor compiles the union of the groups' rules. A rule that references a group allows that group's
// running members, each as a /32; a group without members allows nobody. Prefix-list rules have nothing
// to match on this host and are left out.
func (s *Service) firewallFor(ctx context.Context, groupIDs []string) (network.Firewall, error) {
	var fw network.Firewall
	members := map[string][]netip.Prefix{}
	compile := func(rules []sgRule) ([]network.Rule, error) {
		var out []network.Rule
		for _, r := range rules {
			nr := network.Rule{Protocol: r.Protocol, FromPort: int(r.FromPort), ToPort: int(r.ToPort)}
			switch {
			case r.CIDRv4 != "":
				nr.CIDRs = []netip.Prefix{netip.MustParsePrefix(r.CIDRv4)}
			case r.CIDRv6 != "":
				nr.CIDRs = []netip.Prefix{netip.MustParsePrefix(r.CIDRv6)}
			case r.GroupID != "":
				cidrs, ok := members[r.GroupID]
				if !ok {
					addrs, err := s.groupMemberAddrs(ctx, r.GroupID)
					if err != nil {
						return nil, err
					}
					for _, a := range addrs {
						cidrs = append(cidrs, netip.PrefixFrom(a, a.BitLen()))
					}
					members[r.GroupID] = cidrs
				}
				nr.CIDRs = cidrs
			}
			if len(nr.CIDRs) > 0 {
				out = append(out, nr)
			}
		}
		return out, nil
	}
	for _, id := range groupIDs {
		g, _, err := store.Get[securityGroupRecord](ctx, s.st, scopedKey(ctx, kindSecurityGroup, id))
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted under a stopping instance: it allows nothing
		}
		if err != nil {
			return fw, err
		}
		in, err := compile(g.Ingress)
		if err != nil {
			return fw, err
		}
		out, err := compile(g.Egress)
		if err != nil {
			return fw, err
		}
		fw.Ingress, fw.Egress = append(fw.Ingress, in...), append(fw.Egress, out...)
	}
	return fw, nil
}

// groupByIDOrName finds a group by id, or by name in the default VPC, as the calls that take either do.
func (s *Service) groupByIDOrName(ctx context.Context, id, name string) (securityGroupRecord, error) {
	defaultVPC, err := s.ensureDefaultVPCRecord(ctx)
	if err != nil {
		return securityGroupRecord{}, err
	}
	if id != "" {
		if err := checkID(id, "sg", "InvalidGroupId.Malformed"); err != nil {
			return securityGroupRecord{}, err
		}
		g, _, err := store.Get[securityGroupRecord](ctx, s.st, scopedKey(ctx, kindSecurityGroup, id))
		if errors.Is(err, store.ErrNotFound) {
			return g, groupNotFound(id)
		}
		return g, err
	}
	if name == "" {
		return securityGroupRecord{}, apierr.InvalidParam("MissingParameter", "The request must contain the parameter groupName or groupId")
	}
	groups, _, err := store.List[securityGroupRecord](ctx, s.st, scopedPrefix(ctx, kindSecurityGroup))
	if err != nil {
		return securityGroupRecord{}, err
	}
	if g, ok := groupByName(groups, defaultVPC, name); ok {
		return g, nil
	}
	return securityGroupRecord{}, apierr.Missing("InvalidGroup.NotFound",
		"The security group '%s' does not exist in default VPC '%s'", name, defaultVPC)
}

func groupByName(groups []securityGroupRecord, vpcID, name string) (securityGroupRecord, bool) {
	for _, g := range groups {
		if g.VPCID == vpcID && g.Name == name {
			return g, true
		}
	}
	return securityGroupRecord{}, false
}

func groupNotFound(id string) error {
	return apierr.Missing("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
}
