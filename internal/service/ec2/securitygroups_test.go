package ec2

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/host/network"
	"github.com/overcast-cloud/overcast/internal/protocol/ec2query"
)

func sshFromAnywhere() []api.IpPermission {
	return []api.IpPermission{{IpProtocol: str("tcp"), FromPort: ptr(int32(22)), ToPort: ptr(int32(22)),
		IpRanges: []api.IpRange{{CidrIp: str("0.0.0.0/0"), Description: str("ssh")}}}}
}

func TestSecurityGroupWalkthrough(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	created := must[*api.CreateSecurityGroupResult](t)(s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{
		GroupName: str("WebAccess"), Description: str("web"), TagSpecifications: tagSpec("security-group", "app", "web")}))
	id := *created.GroupId
	if !strings.HasPrefix(id, "sg-") || !strings.HasSuffix(*created.SecurityGroupArn, ":security-group/"+id) {
		t.Fatalf("created %+v", created)
	}
	for _, tc := range []struct {
		name, desc, code string
	}{
		{"WebAccess", "again", "InvalidGroup.Duplicate"},
		{"default", "reserved", "InvalidParameterValue"},
		{"sg-lookalike", "x", "InvalidParameterValue"},
	} {
		_, err := s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{GroupName: &tc.name, Description: &tc.desc})
		wantCode(t, err, tc.code)
	}
	_, err := s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{GroupName: str("nodesc")})
	wantCode(t, err, "MissingParameter")

	auth := must[*api.AuthorizeSecurityGroupIngressResult](t)(s.AuthorizeSecurityGroupIngress(ctx, &api.AuthorizeSecurityGroupIngressRequest{
		GroupId: &id, IpPermissions: sshFromAnywhere()}))
	if !*auth.Return || len(auth.SecurityGroupRules) != 1 || !strings.HasPrefix(*auth.SecurityGroupRules[0].SecurityGroupRuleId, "sgr-") ||
		*auth.SecurityGroupRules[0].CidrIpv4 != "0.0.0.0/0" || *auth.SecurityGroupRules[0].IsEgress {
		t.Fatalf("authorize answered %+v", auth)
	}
	_, err = s.AuthorizeSecurityGroupIngress(ctx, &api.AuthorizeSecurityGroupIngressRequest{GroupId: &id, IpPermissions: sshFromAnywhere()})
	wantCode(t, err, "InvalidPermission.Duplicate")
	if e := err.Error(); !strings.Contains(e, `peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW`) {
		t.Errorf("duplicate message %q", e)
	}

	// Port 80 by group name, numeric protocol, from anywhere and from a /16.
	must[*api.AuthorizeSecurityGroupIngressResult](t)(s.AuthorizeSecurityGroupIngress(ctx, &api.AuthorizeSecurityGroupIngressRequest{
		GroupName: str("WebAccess"), IpPermissions: []api.IpPermission{{IpProtocol: str("6"), FromPort: ptr(int32(80)), ToPort: ptr(int32(80)),
			IpRanges: []api.IpRange{{CidrIp: str("0.0.0.0/0")}, {CidrIp: str("10.1.0.0/16")}}}}}))
	g := must[*api.DescribeSecurityGroupsResult](t)(s.DescribeSecurityGroups(ctx, &api.DescribeSecurityGroupsRequest{GroupIds: []string{id}})).SecurityGroups[0]
	if len(g.IpPermissions) != 2 || *g.IpPermissions[1].IpProtocol != "tcp" || len(g.IpPermissions[1].IpRanges) != 2 ||
		*g.IpPermissions[0].IpRanges[0].Description != "ssh" || len(g.IpPermissionsEgress) != 1 || g.IpPermissionsEgress[0].FromPort != nil {
		t.Fatalf("described %+v", g)
	}
	for _, f := range [][]api.Filter{
		{flt("ip-permission.from-port", "80")},
		{flt("ip-permission.cidr", "10.1.0.0/16")},
		{flt("group-name", "Web*"), flt("tag:app", "web")},
		{flt("egress.ip-permission.protocol", "-1"), flt("description", "web")},
	} {
		got := must[*api.DescribeSecurityGroupsResult](t)(s.DescribeSecurityGroups(ctx, &api.DescribeSecurityGroupsRequest{Filters: f})).SecurityGroups
		if len(got) != 1 || *got[0].GroupId != id {
			t.Errorf("filters %v matched %d groups", f, len(got))
		}
	}

	// Revoke by value; the default VPC answers an unknown rule back instead of failing.
	rev := must[*api.RevokeSecurityGroupIngressResult](t)(s.RevokeSecurityGroupIngress(ctx, &api.RevokeSecurityGroupIngressRequest{
		GroupId: &id, IpPermissions: []api.IpPermission{{IpProtocol: str("tcp"), FromPort: ptr(int32(80)), ToPort: ptr(int32(80)),
			IpRanges: []api.IpRange{{CidrIp: str("0.0.0.0/0")}}}}}))
	if len(rev.RevokedSecurityGroupRules) != 1 || len(rev.UnknownIpPermissions) != 0 {
		t.Fatalf("revoke answered %+v", rev)
	}
	rev = must[*api.RevokeSecurityGroupIngressResult](t)(s.RevokeSecurityGroupIngress(ctx, &api.RevokeSecurityGroupIngressRequest{
		GroupId: &id, IpPermissions: []api.IpPermission{{IpProtocol: str("tcp"), FromPort: ptr(int32(80)), ToPort: ptr(int32(80)),
			IpRanges: []api.IpRange{{CidrIp: str("0.0.0.0/0")}}}}}))
	if len(rev.UnknownIpPermissions) != 1 || len(rev.RevokedSecurityGroupRules) != 0 {
		t.Fatalf("revoking a missing rule in the default VPC answered %+v", rev)
	}

	// Rules by id.
	rules := must[*api.DescribeSecurityGroupRulesResult](t)(s.DescribeSecurityGroupRules(ctx, &api.DescribeSecurityGroupRulesRequest{
		Filters: []api.Filter{flt("group-id", id)}})).SecurityGroupRules
	if len(rules) != 3 { // ssh, 80 from 10.1/16, default egress
		t.Fatalf("%d rules, want 3: %+v", len(rules), rules)
	}
	var egressID string
	for _, r := range rules {
		if *r.IsEgress {
			egressID = *r.SecurityGroupRuleId
		}
	}
	must[*api.ModifySecurityGroupRulesResult](t)(s.ModifySecurityGroupRules(ctx, &api.ModifySecurityGroupRulesRequest{GroupId: &id,
		SecurityGroupRules: []api.SecurityGroupRuleUpdate{{SecurityGroupRuleId: &egressID, SecurityGroupRule: &api.SecurityGroupRuleRequest{
			IpProtocol: str("udp"), FromPort: ptr(int32(53)), ToPort: ptr(int32(53)), CidrIpv4: str("10.0.0.2/32")}}}}))
	one := must[*api.DescribeSecurityGroupRulesResult](t)(s.DescribeSecurityGroupRules(ctx, &api.DescribeSecurityGroupRulesRequest{
		SecurityGroupRuleIds: []string{egressID}})).SecurityGroupRules
	if len(one) != 1 || *one[0].IpProtocol != "udp" || *one[0].FromPort != 53 || *one[0].CidrIpv4 != "10.0.0.2/32" {
		t.Fatalf("modified rule %+v", one)
	}
	revEg := must[*api.RevokeSecurityGroupEgressResult](t)(s.RevokeSecurityGroupEgress(ctx, &api.RevokeSecurityGroupEgressRequest{
		GroupId: &id, SecurityGroupRuleIds: []string{egressID}}))
	if len(revEg.RevokedSecurityGroupRules) != 1 {
		t.Fatalf("revoke by id answered %+v", revEg)
	}
	_, err = s.RevokeSecurityGroupEgress(ctx, &api.RevokeSecurityGroupEgressRequest{GroupId: &id, SecurityGroupRuleIds: []string{egressID}})
	wantCode(t, err, "InvalidSecurityGroupRuleId.NotFound")

	// A rule that references the group keeps the group from going; the default group never goes.
	other := must[*api.CreateSecurityGroupResult](t)(s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{GroupName: str("db"), Description: str("db")}))
	must[*api.AuthorizeSecurityGroupIngressResult](t)(s.AuthorizeSecurityGroupIngress(ctx, &api.AuthorizeSecurityGroupIngressRequest{
		GroupId: other.GroupId, IpPermissions: []api.IpPermission{{IpProtocol: str("tcp"), FromPort: ptr(int32(5432)), ToPort: ptr(int32(5432)),
			UserIdGroupPairs: []api.UserIdGroupPair{{GroupName: str("WebAccess")}}}}}))
	_, err = s.DeleteSecurityGroup(ctx, &api.DeleteSecurityGroupRequest{GroupId: &id})
	wantCode(t, err, "DependencyViolation")
	_, err = s.DeleteSecurityGroup(ctx, &api.DeleteSecurityGroupRequest{GroupName: str("default")})
	wantCode(t, err, "CannotDelete")
	must[*api.DeleteSecurityGroupResult](t)(s.DeleteSecurityGroup(ctx, &api.DeleteSecurityGroupRequest{GroupName: str("db")}))
	must[*api.DeleteSecurityGroupResult](t)(s.DeleteSecurityGroup(ctx, &api.DeleteSecurityGroupRequest{GroupId: &id}))

	_, err = s.DescribeSecurityGroups(ctx, &api.DescribeSecurityGroupsRequest{GroupIds: []string{"web"}})
	wantCode(t, err, "InvalidGroupId.Malformed")
	_, err = s.DescribeSecurityGroups(ctx, &api.DescribeSecurityGroupsRequest{GroupIds: []string{id}})
	wantCode(t, err, "InvalidGroup.NotFound")
	_, err = s.DescribeSecurityGroups(ctx, &api.DescribeSecurityGroupsRequest{GroupNames: []string{"WebAccess"}})
	wantCode(t, err, "InvalidGroup.NotFound")
	_, err = s.AuthorizeSecurityGroupIngress(ctx, &api.AuthorizeSecurityGroupIngressRequest{GroupId: &id, IpPermissions: sshFromAnywhere()})
	wantCode(t, err, "InvalidGroup.NotFound")
}

func TestSecurityGroupRuleValidation(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	v := must[*api.CreateVpcResult](t)(s.CreateVpc(ctx, &api.CreateVpcRequest{CidrBlock: str("10.0.0.0/16")})).Vpc
	id := *must[*api.CreateSecurityGroupResult](t)(s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{
		VpcId: v.VpcId, GroupName: str("WebAccess"), Description: str("web")})).GroupId
	// The same name is free in another VPC.
	must[*api.CreateSecurityGroupResult](t)(s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{GroupName: str("WebAccess"), Description: str("web")}))

	for _, tc := range []struct {
		perm api.IpPermission
		code string
	}{
		{api.IpPermission{IpProtocol: str("tcp"), IpRanges: []api.IpRange{{CidrIp: str("0.0.0.0/0")}}}, "InvalidParameterValue"},
		{api.IpPermission{IpProtocol: str("tcp"), FromPort: ptr(int32(90)), ToPort: ptr(int32(80)), IpRanges: []api.IpRange{{CidrIp: str("0.0.0.0/0")}}}, "InvalidParameterValue"},
		{api.IpPermission{IpProtocol: str("tcp"), FromPort: ptr(int32(1)), ToPort: ptr(int32(70000)), IpRanges: []api.IpRange{{CidrIp: str("0.0.0.0/0")}}}, "InvalidParameterValue"},
		{api.IpPermission{IpProtocol: str("bogus"), IpRanges: []api.IpRange{{CidrIp: str("0.0.0.0/0")}}}, "InvalidParameterValue"},
		{api.IpPermission{IpProtocol: str("-1"), IpRanges: []api.IpRange{{CidrIp: str("10.0.0.1/8")}}}, "InvalidParameterValue"},
		{api.IpPermission{IpProtocol: str("-1")}, "InvalidParameterValue"},
		{api.IpPermission{IpProtocol: str("-1"), UserIdGroupPairs: []api.UserIdGroupPair{{GroupId: str("sg-00000000000000000")}}}, "InvalidGroup.NotFound"},
		{api.IpPermission{IpProtocol: str("-1"), UserIdGroupPairs: []api.UserIdGroupPair{{GroupId: str("nope")}}}, "InvalidGroupId.Malformed"},
	} {
		_, err := s.AuthorizeSecurityGroupIngress(ctx, &api.AuthorizeSecurityGroupIngressRequest{GroupId: &id, IpPermissions: []api.IpPermission{tc.perm}})
		wantCode(t, err, tc.code)
	}
	// Outside the default VPC an unmatched revoke fails whole.
	_, err := s.RevokeSecurityGroupIngress(ctx, &api.RevokeSecurityGroupIngressRequest{GroupId: &id, IpPermissions: sshFromAnywhere()})
	wantCode(t, err, "InvalidPermission.NotFound")

	// ICMP and IPv6 sources, and the firewall they compile to.
	must[*api.AuthorizeSecurityGroupIngressResult](t)(s.AuthorizeSecurityGroupIngress(ctx, &api.AuthorizeSecurityGroupIngressRequest{
		GroupId: &id, IpPermissions: append(sshFromAnywhere(),
			api.IpPermission{IpProtocol: str("icmp"), FromPort: ptr(int32(8)), ToPort: ptr(int32(-1)), IpRanges: []api.IpRange{{CidrIp: str("10.0.0.0/16")}}},
			api.IpPermission{IpProtocol: str("tcp"), FromPort: ptr(int32(443)), ToPort: ptr(int32(443)), Ipv6Ranges: []api.Ipv6Range{{CidrIpv6: str("::/0")}}},
		)}))
	fw := must[network.Firewall](t)(s.firewallFor(ctx, []string{id}))
	want := network.Firewall{
		Ingress: []network.Rule{
			{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
			{Protocol: "icmp", FromPort: 8, ToPort: -1, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}},
			{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDRs: []netip.Prefix{netip.MustParsePrefix("::/0")}},
		},
		Egress: []network.Rule{{Protocol: "-1", FromPort: -1, ToPort: -1, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}},
	}
	if !reflect.DeepEqual(fw, want) {
		t.Errorf("firewall\n%+v\nwant\n%+v", fw, want)
	}

	groups := must[[]securityGroupRecord](t)(s.groupsFor(ctx, *v.VpcId, nil, nil))
	if len(groups) != 1 || groups[0].Name != "default" || groups[0].VPCID != *v.VpcId {
		t.Errorf("groupsFor with nothing = %+v, want the VPC's default group", groups)
	}
	groups = must[[]securityGroupRecord](t)(s.groupsFor(ctx, *v.VpcId, []string{id}, []string{"WebAccess"}))
	if len(groups) != 1 || groups[0].ID != id {
		t.Errorf("groupsFor by id and name of one group = %+v", groups)
	}
	_, err = s.groupsFor(ctx, *v.VpcId, nil, []string{"nope"})
	wantCode(t, err, "InvalidGroup.NotFound")
	defaultVPC := must[string](t)(s.ensureDefaultVPC(ctx))
	_, err = s.groupsFor(ctx, defaultVPC, []string{id}, nil)
	wantCode(t, err, "InvalidParameter")
}

// decodeEC2 decodes a form as the gateway does, through the ec2 codec and the typed input.
func decodeEC2(t *testing.T, action, form string, in any) {
	t.Helper()
	op, ok := api.Model().Operation(action)
	if !ok {
		t.Fatalf("no operation %s", action)
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action="+action+"&Version=2016-11-15&"+form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tree, err := ec2query.New().DecodeRequest(op, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := wire.ToTyped(op.Input.Shape, tree, in); err != nil {
		t.Fatal(err)
	}
}

func TestAuthorizeForms(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	id := *must[*api.CreateSecurityGroupResult](t)(s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{
		GroupName: str("WebAccess"), Description: str("web")})).GroupId

	// The flat form: GroupId, IpProtocol, FromPort, ToPort, CidrIp.
	var flat api.AuthorizeSecurityGroupIngressRequest
	decodeEC2(t, "AuthorizeSecurityGroupIngress", "GroupId="+id+"&IpProtocol=tcp&FromPort=22&ToPort=22&CidrIp=0.0.0.0%2F0", &flat)
	res := must[*api.AuthorizeSecurityGroupIngressResult](t)(s.AuthorizeSecurityGroupIngress(ctx, &flat))
	if r := res.SecurityGroupRules[0]; *r.IpProtocol != "tcp" || *r.FromPort != 22 || *r.ToPort != 22 || *r.CidrIpv4 != "0.0.0.0/0" {
		t.Fatalf("flat form made %+v", r)
	}
	// `aws ec2 authorize-security-group-ingress --group-id X --protocol tcp --port 80 --cidr 0.0.0.0/0` sends
	// IpPermissions.
	var perms api.AuthorizeSecurityGroupIngressRequest
	decodeEC2(t, "AuthorizeSecurityGroupIngress", "GroupId="+id+"&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=80"+
		"&IpPermissions.1.ToPort=80&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0", &perms)
	must[*api.AuthorizeSecurityGroupIngressResult](t)(s.AuthorizeSecurityGroupIngress(ctx, &perms))
	// The flat form of a group reference by name.
	var byName api.AuthorizeSecurityGroupIngressRequest
	decodeEC2(t, "AuthorizeSecurityGroupIngress", "GroupName=WebAccess&SourceSecurityGroupName=default", &byName)
	must[*api.AuthorizeSecurityGroupIngressResult](t)(s.AuthorizeSecurityGroupIngress(ctx, &byName))

	g := must[*api.DescribeSecurityGroupsResult](t)(s.DescribeSecurityGroups(ctx, &api.DescribeSecurityGroupsRequest{GroupIds: []string{id}})).SecurityGroups[0]
	if len(g.IpPermissions) != 3 || *g.IpPermissions[1].FromPort != 80 || *g.IpPermissions[2].IpProtocol != "-1" ||
		g.IpPermissions[2].UserIdGroupPairs[0].GroupId == nil {
		t.Fatalf("permissions %+v", g.IpPermissions)
	}
	var revoke api.RevokeSecurityGroupIngressRequest
	decodeEC2(t, "RevokeSecurityGroupIngress", "GroupId="+id+"&IpProtocol=tcp&FromPort=22&ToPort=22&CidrIp=0.0.0.0%2F0", &revoke)
	if rev := must[*api.RevokeSecurityGroupIngressResult](t)(s.RevokeSecurityGroupIngress(ctx, &revoke)); len(rev.RevokedSecurityGroupRules) != 1 {
		t.Fatalf("flat revoke answered %+v", rev)
	}
}
