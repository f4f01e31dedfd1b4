package ec2

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
	"github.com/overcast-cloud/overcast/internal/store/memory"
)

// newNetService is the service as the network-resource tests use it: an in-memory store and no host
// network.
func newNetService(t *testing.T) *Service {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	return New(Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
}

func inRegion(account, region string) context.Context {
	return awsctx.With(context.Background(), &awsctx.Request{Account: account, Region: region})
}

// wantCode fails unless err is an API error with the EC2 code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	e, ok := apierr.As(err)
	if !ok || e.Code != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func flt(name string, values ...string) api.Filter { return api.Filter{Name: &name, Values: values} }

func tagSpec(rt, k, v string) []api.TagSpecification {
	return []api.TagSpecification{{ResourceType: &rt, Tags: []api.Tag{{Key: &k, Value: &v}}}}
}

func TestDefaultVPCShape(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	vpcs := must[*api.DescribeVpcsResult](t)(s.DescribeVpcs(ctx, &api.DescribeVpcsRequest{})).Vpcs
	if len(vpcs) != 1 || *vpcs[0].CidrBlock != "172.31.0.0/16" || !*vpcs[0].IsDefault || *vpcs[0].State != "available" {
		t.Fatalf("vpcs %+v, want the one default 172.31.0.0/16", vpcs)
	}
	vpcID := *vpcs[0].VpcId

	subnets := must[*api.DescribeSubnetsResult](t)(s.DescribeSubnets(ctx, &api.DescribeSubnetsRequest{})).Subnets
	if len(subnets) != 6 {
		t.Fatalf("%d default subnets in us-east-1, want 6", len(subnets))
	}
	byAZ := map[string]api.Subnet{}
	for _, sn := range subnets {
		byAZ[*sn.AvailabilityZone] = sn
	}
	for i, letter := range "abcdef" {
		sn, ok := byAZ["us-east-1"+string(letter)]
		want := fmt.Sprintf("172.31.%d.0/20", 16*i)
		if !ok || *sn.CidrBlock != want || !*sn.DefaultForAz || !*sn.MapPublicIpOnLaunch || *sn.VpcId != vpcID ||
			*sn.AvailableIpAddressCount != 4091 || *sn.AvailabilityZoneId != fmt.Sprintf("use1-az%d", i+1) {
			t.Errorf("subnet of us-east-1%c: %+v, want %s default, public", letter, sn, want)
		}
	}

	igws := must[*api.DescribeInternetGatewaysResult](t)(s.DescribeInternetGateways(ctx, &api.DescribeInternetGatewaysRequest{
		Filters: []api.Filter{flt("attachment.vpc-id", vpcID)}})).InternetGateways
	if len(igws) != 1 || *igws[0].Attachments[0].State != "available" {
		t.Fatalf("internet gateways of the default VPC: %+v", igws)
	}
	rts := must[*api.DescribeRouteTablesResult](t)(s.DescribeRouteTables(ctx, &api.DescribeRouteTablesRequest{
		Filters: []api.Filter{flt("association.main", "true"), flt("vpc-id", vpcID)}})).RouteTables
	if len(rts) != 1 || len(rts[0].Routes) != 2 || *rts[0].Routes[0].GatewayId != "local" ||
		*rts[0].Routes[1].DestinationCidrBlock != "0.0.0.0/0" || *rts[0].Routes[1].GatewayId != *igws[0].InternetGatewayId ||
		*rts[0].Routes[1].State != "active" {
		t.Fatalf("main route table: %+v", rts)
	}
	groups := must[*api.DescribeSecurityGroupsResult](t)(s.DescribeSecurityGroups(ctx, &api.DescribeSecurityGroupsRequest{
		GroupNames: []string{"default"}})).SecurityGroups
	if len(groups) != 1 || *groups[0].VpcId != vpcID || len(groups[0].IpPermissions) != 1 ||
		*groups[0].IpPermissions[0].IpProtocol != "-1" || *groups[0].IpPermissions[0].UserIdGroupPairs[0].GroupId != *groups[0].GroupId ||
		*groups[0].IpPermissionsEgress[0].IpRanges[0].CidrIp != "0.0.0.0/0" {
		t.Fatalf("default security group: %+v", groups)
	}
	for _, sn := range subnets {
		if ok := must[bool](t)(s.subnetHasInternet(ctx, *sn.SubnetId)); !ok {
			t.Errorf("default subnet %s has no internet route", *sn.SubnetId)
		}
	}
	sn := must[subnetRecord](t)(s.subnetFor(ctx, "", "us-east-1c"))
	if sn.CIDR != "172.31.32.0/20" {
		t.Errorf("subnetFor us-east-1c = %s, want 172.31.32.0/20", sn.CIDR)
	}
	if sn := must[subnetRecord](t)(s.subnetFor(ctx, "", "")); sn.AvailabilityZone != "us-east-1a" {
		t.Errorf("subnetFor with nothing = %s, want the first AZ's", sn.AvailabilityZone)
	}
	_, err := s.subnetFor(ctx, "subnet-00000000000000000", "")
	wantCode(t, err, "InvalidSubnetID.NotFound")
}

func TestDefaultVPCOncePerAccountAndRegion(t *testing.T) {
	s := newNetService(t)
	ctx := context.Background()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], _ = s.ensureDefaultVPC(ctx)
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("concurrent first calls gave %v, want one VPC id", ids)
		}
	}
	if n := len(must[[]store.Record](t)(s.st.List(ctx, scopedPrefix(ctx, kindVPC)))); n != 1 {
		t.Fatalf("%d VPCs after concurrent first calls, want 1", n)
	}
	other := inRegion("111111111111", "us-west-1")
	vpcs := must[*api.DescribeVpcsResult](t)(s.DescribeVpcs(other, &api.DescribeVpcsRequest{})).Vpcs
	if len(vpcs) != 1 || *vpcs[0].VpcId == ids[0] || *vpcs[0].OwnerId != "111111111111" {
		t.Fatalf("other account's VPCs: %+v", vpcs)
	}
	subnets := must[*api.DescribeSubnetsResult](t)(s.DescribeSubnets(other, &api.DescribeSubnetsRequest{})).Subnets
	if len(subnets) != 2 {
		t.Fatalf("%d default subnets in us-west-1, want 2", len(subnets))
	}
}

func TestDeletedDefaultVPCStaysDeleted(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	id := must[string](t)(s.ensureDefaultVPC(ctx))
	_, err := s.DeleteVpc(ctx, &api.DeleteVpcRequest{VpcId: &id})
	wantCode(t, err, "DependencyViolation") // its subnets and gateway are still there
	subnets := must[*api.DescribeSubnetsResult](t)(s.DescribeSubnets(ctx, &api.DescribeSubnetsRequest{})).Subnets
	for _, sn := range subnets {
		must[any](t)(s.DeleteSubnet(ctx, &api.DeleteSubnetRequest{SubnetId: sn.SubnetId}))
	}
	igw := must[*api.DescribeInternetGatewaysResult](t)(s.DescribeInternetGateways(ctx, &api.DescribeInternetGatewaysRequest{})).InternetGateways[0]
	must[any](t)(s.DetachInternetGateway(ctx, &api.DetachInternetGatewayRequest{InternetGatewayId: igw.InternetGatewayId, VpcId: &id}))
	must[any](t)(s.DeleteVpc(ctx, &api.DeleteVpcRequest{VpcId: &id}))
	if vpcs := must[*api.DescribeVpcsResult](t)(s.DescribeVpcs(ctx, &api.DescribeVpcsRequest{})).Vpcs; len(vpcs) != 0 {
		t.Fatalf("default VPC came back: %+v", vpcs)
	}
	_, err = s.ensureDefaultVPC(ctx)
	wantCode(t, err, "VPCIdNotSpecified")
	_, err = s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{GroupName: str("x"), Description: str("x")})
	wantCode(t, err, "VPCIdNotSpecified")
}

func TestVPCs(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	for cidr, code := range map[string]string{"10.0.0.0/8": "InvalidVpc.Range", "10.0.0.0/29": "InvalidVpc.Range",
		"10.0.0.1/16": "InvalidParameterValue", "banana": "InvalidParameterValue"} {
		_, err := s.CreateVpc(ctx, &api.CreateVpcRequest{CidrBlock: str(cidr)})
		wantCode(t, err, code)
	}
	_, err := s.CreateVpc(ctx, &api.CreateVpcRequest{CidrBlock: str("10.0.0.0/16"), DryRun: ptr(true)})
	wantCode(t, err, "DryRunOperation")

	v := must[*api.CreateVpcResult](t)(s.CreateVpc(ctx, &api.CreateVpcRequest{CidrBlock: str("10.0.0.0/16"),
		TagSpecifications: tagSpec("vpc", "Name", "prod")})).Vpc
	if *v.IsDefault || *v.CidrBlock != "10.0.0.0/16" || len(v.Tags) != 1 || *v.CidrBlockAssociationSet[0].CidrBlockState.State != "associated" {
		t.Fatalf("created %+v", v)
	}
	for i := range 6 {
		must[*api.CreateVpcResult](t)(s.CreateVpc(ctx, &api.CreateVpcRequest{CidrBlock: str(fmt.Sprintf("10.%d.0.0/16", i+1))}))
	}
	for _, tc := range []struct {
		filters []api.Filter
		want    int
	}{
		{[]api.Filter{flt("is-default", "false")}, 7},
		{[]api.Filter{flt("tag:Name", "prod")}, 1},
		{[]api.Filter{flt("tag-key", "Name")}, 1},
		{[]api.Filter{flt("cidr", "10.0.0.0/16", "172.31.0.0/16")}, 2},
		{[]api.Filter{flt("cidr-block-association.cidr-block", "10.*")}, 7},
		{[]api.Filter{flt("vpc-id", *v.VpcId), flt("state", "available"), flt("owner-id", awsctx.DefaultAccount)}, 1},
	} {
		got := must[*api.DescribeVpcsResult](t)(s.DescribeVpcs(ctx, &api.DescribeVpcsRequest{Filters: tc.filters})).Vpcs
		if len(got) != tc.want {
			t.Errorf("filters %v: %d VPCs, want %d", tc.filters, len(got), tc.want)
		}
	}
	_, err = s.DescribeVpcs(ctx, &api.DescribeVpcsRequest{Filters: []api.Filter{flt("colour", "red")}})
	wantCode(t, err, "InvalidParameterValue")

	// Pages of 5 cover the 8 VPCs once each.
	seen := map[string]bool{}
	var token *string
	for pages := 0; ; pages++ {
		res := must[*api.DescribeVpcsResult](t)(s.DescribeVpcs(ctx, &api.DescribeVpcsRequest{MaxResults: ptr(int32(5)), NextToken: token}))
		for _, v := range res.Vpcs {
			if seen[*v.VpcId] {
				t.Fatalf("%s on two pages", *v.VpcId)
			}
			seen[*v.VpcId] = true
		}
		if token = res.NextToken; token == nil {
			break
		}
		if pages > 2 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != 8 {
		t.Fatalf("pages held %d VPCs, want 8", len(seen))
	}

	// The new VPC has a main route table with the local route only, and a default group.
	rts := must[*api.DescribeRouteTablesResult](t)(s.DescribeRouteTables(ctx, &api.DescribeRouteTablesRequest{
		Filters: []api.Filter{flt("vpc-id", *v.VpcId)}})).RouteTables
	if len(rts) != 1 || len(rts[0].Routes) != 1 || *rts[0].Routes[0].DestinationCidrBlock != "10.0.0.0/16" || !*rts[0].Associations[0].Main {
		t.Fatalf("route tables of a new VPC: %+v", rts)
	}
	groups := must[*api.DescribeSecurityGroupsResult](t)(s.DescribeSecurityGroups(ctx, &api.DescribeSecurityGroupsRequest{
		Filters: []api.Filter{flt("vpc-id", *v.VpcId)}})).SecurityGroups
	if len(groups) != 1 || *groups[0].GroupName != "default" {
		t.Fatalf("groups of a new VPC: %+v", groups)
	}

	sn := must[*api.CreateSubnetResult](t)(s.CreateSubnet(ctx, &api.CreateSubnetRequest{VpcId: v.VpcId, CidrBlock: str("10.0.1.0/24")})).Subnet
	sg := must[*api.CreateSecurityGroupResult](t)(s.CreateSecurityGroup(ctx, &api.CreateSecurityGroupRequest{
		VpcId: v.VpcId, GroupName: str("web"), Description: str("web")}))
	_, err = s.DeleteVpc(ctx, &api.DeleteVpcRequest{VpcId: v.VpcId})
	wantCode(t, err, "DependencyViolation")
	must[any](t)(s.DeleteSubnet(ctx, &api.DeleteSubnetRequest{SubnetId: sn.SubnetId}))
	_, err = s.DeleteVpc(ctx, &api.DeleteVpcRequest{VpcId: v.VpcId})
	wantCode(t, err, "DependencyViolation")
	must[any](t)(s.DeleteSecurityGroup(ctx, &api.DeleteSecurityGroupRequest{GroupId: sg.GroupId}))
	must[any](t)(s.DeleteVpc(ctx, &api.DeleteVpcRequest{VpcId: v.VpcId}))

	_, err = s.DescribeVpcs(ctx, &api.DescribeVpcsRequest{VpcIds: []string{*v.VpcId}})
	wantCode(t, err, "InvalidVpcID.NotFound")
	_, err = s.DescribeRouteTables(ctx, &api.DescribeRouteTablesRequest{RouteTableIds: []string{*rts[0].RouteTableId}})
	wantCode(t, err, "InvalidRouteTableID.NotFound")
	_, err = s.DescribeSecurityGroups(ctx, &api.DescribeSecurityGroupsRequest{GroupIds: []string{*groups[0].GroupId}})
	wantCode(t, err, "InvalidGroup.NotFound")
	_, err = s.DeleteVpc(ctx, &api.DeleteVpcRequest{VpcId: str("nope")})
	wantCode(t, err, "InvalidVpcID.Malformed")

	attr := must[*api.DescribeVpcAttributeResult](t)(s.DescribeVpcAttribute(ctx, &api.DescribeVpcAttributeRequest{
		VpcId: str(must[string](t)(s.ensureDefaultVPC(ctx))), Attribute: str("enableDnsHostnames")}))
	if !*attr.EnableDnsHostnames.Value {
		t.Error("the default VPC has DNS hostnames off")
	}
}

func ptr[T any](v T) *T { return &v }

func TestSubnets(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	v := must[*api.CreateVpcResult](t)(s.CreateVpc(ctx, &api.CreateVpcRequest{CidrBlock: str("10.0.0.0/16")})).Vpc
	sn := must[*api.CreateSubnetResult](t)(s.CreateSubnet(ctx, &api.CreateSubnetRequest{VpcId: v.VpcId, CidrBlock: str("10.0.1.0/24"),
		AvailabilityZoneId: str("use1-az3"), TagSpecifications: tagSpec("subnet", "tier", "web")})).Subnet
	if *sn.AvailabilityZone != "us-east-1c" || *sn.AvailableIpAddressCount != 251 || *sn.MapPublicIpOnLaunch || *sn.DefaultForAz {
		t.Fatalf("created %+v", sn)
	}
	for _, tc := range []struct{ cidr, az, code string }{
		{"10.0.1.128/25", "", "InvalidSubnet.Conflict"},
		{"10.0.0.0/16", "", "InvalidSubnet.Conflict"},
		{"10.1.0.0/24", "", "InvalidSubnet.Range"},
		{"10.0.2.0/29", "", "InvalidSubnet.Range"},
		{"10.0.2.0/24", "us-east-1z", "InvalidParameterValue"},
	} {
		_, err := s.CreateSubnet(ctx, &api.CreateSubnetRequest{VpcId: v.VpcId, CidrBlock: &tc.cidr, AvailabilityZone: optional(tc.az)})
		wantCode(t, err, tc.code)
	}
	_, err := s.CreateSubnet(ctx, &api.CreateSubnetRequest{VpcId: str("vpc-00000000000000000"), CidrBlock: str("10.0.2.0/24")})
	wantCode(t, err, "InvalidVpcID.NotFound")

	for _, tc := range []struct {
		f    api.Filter
		want int
	}{
		{flt("vpc-id", *v.VpcId), 1},
		{flt("availability-zone", "us-east-1c"), 2},
		{flt("default-for-az", "true"), 6},
		{flt("cidr-block", "10.0.1.0/24"), 1},
		{flt("map-public-ip-on-launch", "false"), 1},
		{flt("tag:tier", "web"), 1},
		{flt("subnet-id", *sn.SubnetId), 1},
		{flt("state", "available"), 7},
	} {
		got := must[*api.DescribeSubnetsResult](t)(s.DescribeSubnets(ctx, &api.DescribeSubnetsRequest{Filters: []api.Filter{tc.f}})).Subnets
		if len(got) != tc.want {
			t.Errorf("filter %s=%v: %d subnets, want %d", *tc.f.Name, tc.f.Values, len(got), tc.want)
		}
	}

	must[any](t)(s.ModifySubnetAttribute(ctx, &api.ModifySubnetAttributeRequest{SubnetId: sn.SubnetId,
		MapPublicIpOnLaunch: &api.AttributeBooleanValue{Value: ptr(true)}}))
	rec := must[subnetRecord](t)(s.subnetFor(ctx, *sn.SubnetId, ""))
	if !rec.MapPublicIPOnLaunch {
		t.Error("MapPublicIpOnLaunch not set")
	}
	// A subnet with an address in use cannot go.
	ip := must[netip.Addr](t)(s.allocatePrivateIP(ctx, rec, netip.Addr{}))
	got := must[*api.DescribeSubnetsResult](t)(s.DescribeSubnets(ctx, &api.DescribeSubnetsRequest{SubnetIds: []string{*sn.SubnetId}})).Subnets
	if *got[0].AvailableIpAddressCount != 250 {
		t.Errorf("available addresses %d after one allocation, want 250", *got[0].AvailableIpAddressCount)
	}
	_, err = s.DeleteSubnet(ctx, &api.DeleteSubnetRequest{SubnetId: sn.SubnetId})
	wantCode(t, err, "DependencyViolation")
	must[any](t)(nil, s.releasePrivateIP(ctx, rec.ID, ip))
	must[any](t)(s.DeleteSubnet(ctx, &api.DeleteSubnetRequest{SubnetId: sn.SubnetId}))
	_, err = s.DeleteSubnet(ctx, &api.DeleteSubnetRequest{SubnetId: sn.SubnetId})
	wantCode(t, err, "InvalidSubnetID.NotFound")
}

func TestInternetGateways(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	v := must[*api.CreateVpcResult](t)(s.CreateVpc(ctx, &api.CreateVpcRequest{CidrBlock: str("10.0.0.0/16")})).Vpc
	g := must[*api.CreateInternetGatewayResult](t)(s.CreateInternetGateway(ctx, &api.CreateInternetGatewayRequest{
		TagSpecifications: tagSpec("internet-gateway", "Name", "gw")})).InternetGateway
	if len(g.Attachments) != 0 || len(g.Tags) != 1 {
		t.Fatalf("created %+v", g)
	}
	_, err := s.DetachInternetGateway(ctx, &api.DetachInternetGatewayRequest{InternetGatewayId: g.InternetGatewayId, VpcId: v.VpcId})
	wantCode(t, err, "Gateway.NotAttached")
	must[any](t)(s.AttachInternetGateway(ctx, &api.AttachInternetGatewayRequest{InternetGatewayId: g.InternetGatewayId, VpcId: v.VpcId}))
	_, err = s.AttachInternetGateway(ctx, &api.AttachInternetGatewayRequest{InternetGatewayId: g.InternetGatewayId, VpcId: v.VpcId})
	wantCode(t, err, "Resource.AlreadyAssociated")
	other := must[*api.CreateInternetGatewayResult](t)(s.CreateInternetGateway(ctx, &api.CreateInternetGatewayRequest{})).InternetGateway
	_, err = s.AttachInternetGateway(ctx, &api.AttachInternetGatewayRequest{InternetGatewayId: other.InternetGatewayId, VpcId: v.VpcId})
	wantCode(t, err, "Resource.AlreadyAssociated")
	_, err = s.DeleteInternetGateway(ctx, &api.DeleteInternetGatewayRequest{InternetGatewayId: g.InternetGatewayId})
	wantCode(t, err, "DependencyViolation")
	_, err = s.DeleteVpc(ctx, &api.DeleteVpcRequest{VpcId: v.VpcId})
	wantCode(t, err, "DependencyViolation")

	got := must[*api.DescribeInternetGatewaysResult](t)(s.DescribeInternetGateways(ctx, &api.DescribeInternetGatewaysRequest{
		Filters: []api.Filter{flt("attachment.vpc-id", *v.VpcId), flt("tag:Name", "gw")}})).InternetGateways
	if len(got) != 1 || *got[0].InternetGatewayId != *g.InternetGatewayId {
		t.Fatalf("filtered gateways %+v", got)
	}
	must[any](t)(s.DetachInternetGateway(ctx, &api.DetachInternetGatewayRequest{InternetGatewayId: g.InternetGatewayId, VpcId: v.VpcId}))
	must[any](t)(s.DeleteInternetGateway(ctx, &api.DeleteInternetGatewayRequest{InternetGatewayId: g.InternetGatewayId}))
	_, err = s.DescribeInternetGateways(ctx, &api.DescribeInternetGatewaysRequest{InternetGatewayIds: []string{*g.InternetGatewayId}})
	wantCode(t, err, "InvalidInternetGatewayID.NotFound")
}

func TestRouteTables(t *testing.T) {
	s, ctx := newNetService(t), context.Background()
	v := must[*api.CreateVpcResult](t)(s.CreateVpc(ctx, &api.CreateVpcRequest{CidrBlock: str("10.0.0.0/16")})).Vpc
	sn := must[*api.CreateSubnetResult](t)(s.CreateSubnet(ctx, &api.CreateSubnetRequest{VpcId: v.VpcId, CidrBlock: str("10.0.1.0/24")})).Subnet
	if must[bool](t)(s.subnetHasInternet(ctx, *sn.SubnetId)) {
		t.Fatal("a new VPC's subnet has internet")
	}
	rt := must[*api.CreateRouteTableResult](t)(s.CreateRouteTable(ctx, &api.CreateRouteTableRequest{VpcId: v.VpcId})).RouteTable
	g := must[*api.CreateInternetGatewayResult](t)(s.CreateInternetGateway(ctx, &api.CreateInternetGatewayRequest{})).InternetGateway
	route := &api.CreateRouteRequest{RouteTableId: rt.RouteTableId, DestinationCidrBlock: str("0.0.0.0/0"), GatewayId: g.InternetGatewayId}
	_, err := s.CreateRoute(ctx, route)
	wantCode(t, err, "InvalidParameterValue") // the gateway is not attached to the VPC
	must[any](t)(s.AttachInternetGateway(ctx, &api.AttachInternetGatewayRequest{InternetGatewayId: g.InternetGatewayId, VpcId: v.VpcId}))
	must[*api.CreateRouteResult](t)(s.CreateRoute(ctx, route))
	_, err = s.CreateRoute(ctx, route)
	wantCode(t, err, "RouteAlreadyExists")
	if must[bool](t)(s.subnetHasInternet(ctx, *sn.SubnetId)) {
		t.Fatal("the subnet has internet through a table it is not associated with")
	}

	assoc := must[*api.AssociateRouteTableResult](t)(s.AssociateRouteTable(ctx, &api.AssociateRouteTableRequest{RouteTableId: rt.RouteTableId, SubnetId: sn.SubnetId}))
	if !must[bool](t)(s.subnetHasInternet(ctx, *sn.SubnetId)) {
		t.Fatal("the subnet's table routes to the gateway, yet no internet")
	}
	_, err = s.AssociateRouteTable(ctx, &api.AssociateRouteTableRequest{RouteTableId: rt.RouteTableId, SubnetId: sn.SubnetId})
	wantCode(t, err, "Resource.AlreadyAssociated")
	defaultSubnet := must[subnetRecord](t)(s.subnetFor(ctx, "", ""))
	_, err = s.AssociateRouteTable(ctx, &api.AssociateRouteTableRequest{RouteTableId: rt.RouteTableId, SubnetId: &defaultSubnet.ID})
	wantCode(t, err, "InvalidParameterValue")
	_, err = s.DeleteRouteTable(ctx, &api.DeleteRouteTableRequest{RouteTableId: rt.RouteTableId})
	wantCode(t, err, "DependencyViolation")

	got := must[*api.DescribeRouteTablesResult](t)(s.DescribeRouteTables(ctx, &api.DescribeRouteTablesRequest{
		Filters: []api.Filter{flt("association.subnet-id", *sn.SubnetId), flt("route.gateway-id", *g.InternetGatewayId)}})).RouteTables
	if len(got) != 1 || *got[0].RouteTableId != *rt.RouteTableId {
		t.Fatalf("filtered route tables %+v", got)
	}

	// Detaching the gateway turns the route into a blackhole.
	must[any](t)(s.DetachInternetGateway(ctx, &api.DetachInternetGatewayRequest{InternetGatewayId: g.InternetGatewayId, VpcId: v.VpcId}))
	if must[bool](t)(s.subnetHasInternet(ctx, *sn.SubnetId)) {
		t.Fatal("internet through a detached gateway")
	}
	got = must[*api.DescribeRouteTablesResult](t)(s.DescribeRouteTables(ctx, &api.DescribeRouteTablesRequest{RouteTableIds: []string{*rt.RouteTableId}})).RouteTables
	if *got[0].Routes[1].State != "blackhole" {
		t.Errorf("route through a detached gateway is %s", *got[0].Routes[1].State)
	}
	must[any](t)(s.AttachInternetGateway(ctx, &api.AttachInternetGatewayRequest{InternetGatewayId: g.InternetGatewayId, VpcId: v.VpcId}))
	must[any](t)(s.ReplaceRoute(ctx, &api.ReplaceRouteRequest{RouteTableId: rt.RouteTableId, DestinationCidrBlock: str("0.0.0.0/0"), GatewayId: g.InternetGatewayId}))
	_, err = s.ReplaceRoute(ctx, &api.ReplaceRouteRequest{RouteTableId: rt.RouteTableId, DestinationCidrBlock: str("10.9.0.0/16"), GatewayId: g.InternetGatewayId})
	wantCode(t, err, "InvalidRoute.NotFound")
	_, err = s.DeleteRoute(ctx, &api.DeleteRouteRequest{RouteTableId: rt.RouteTableId, DestinationCidrBlock: str("10.0.0.0/16")})
	wantCode(t, err, "InvalidParameterValue") // the local route stays

	_, err = s.DisassociateRouteTable(ctx, &api.DisassociateRouteTableRequest{AssociationId: str("rtbassoc-00000000000000000")})
	wantCode(t, err, "InvalidAssociationID.NotFound")
	must[any](t)(s.DisassociateRouteTable(ctx, &api.DisassociateRouteTableRequest{AssociationId: assoc.AssociationId}))
	if must[bool](t)(s.subnetHasInternet(ctx, *sn.SubnetId)) {
		t.Fatal("the subnet kept its table's internet after disassociation")
	}
	must[any](t)(s.DeleteRoute(ctx, &api.DeleteRouteRequest{RouteTableId: rt.RouteTableId, DestinationCidrBlock: str("0.0.0.0/0")}))
	must[any](t)(s.DeleteRouteTable(ctx, &api.DeleteRouteTableRequest{RouteTableId: rt.RouteTableId}))
	mainID := must[*api.DescribeRouteTablesResult](t)(s.DescribeRouteTables(ctx, &api.DescribeRouteTablesRequest{
		Filters: []api.Filter{flt("vpc-id", *v.VpcId)}})).RouteTables[0].RouteTableId
	_, err = s.DeleteRouteTable(ctx, &api.DeleteRouteTableRequest{RouteTableId: mainID})
	wantCode(t, err, "DependencyViolation")
}

func TestFilterWildcards(t *testing.T) {
	for _, tc := range []struct {
		pattern, value string
		want           bool
	}{
		{"10.*", "10.0.0.0/16", true},
		{"*", "", true},
		{"web-?", "web-1", true},
		{"web-?", "web-10", false},
		{"*prod*", "my-prod-db", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{`\*`, "*", true},
		{`\*`, "x", false},
		{`what\?`, "what?", true},
		{`what\?`, "whatX", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	} {
		if got := wildcardMatch(tc.pattern, tc.value); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.value, got, tc.want)
		}
	}
}
