package ec2

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
)

// thirty launches 30 instances: 10 reservations of 3, every third a t3.micro, each tagged with its index.
func thirty(t *testing.T, e *env) []string {
	var all []string
	for r := 0; r < 10; r++ {
		typ := "t2.micro"
		if r%3 == 0 {
			typ = "t3.micro"
		}
		insts := e.run(t, &api.RunInstancesRequest{InstanceType: &typ, MinCount: ptr(int32(3)), MaxCount: ptr(int32(3)),
			TagSpecifications: tagSpec("instance", "batch", fmt.Sprint(r))})
		all = append(all, ids(insts)...)
		e.clock.Add(time.Second)
	}
	return all
}

func TestDescribeInstancesFiltersAndPages(t *testing.T) {
	e := newEnv(t)
	all := thirty(t, e)
	must[*api.StopInstancesResult](t)(e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: all[:2]}))
	e.svc.Wait()

	count := func(filters ...api.Filter) int {
		t.Helper()
		out, err := e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range out.Reservations {
			n += len(r.Instances)
		}
		return n
	}
	first := e.describe(t, all[0])
	for _, c := range []struct {
		f    []api.Filter
		want int
	}{
		{nil, 30},
		{[]api.Filter{flt("instance-type", "t3.micro")}, 12},
		{[]api.Filter{flt("instance-state-name", "stopped")}, 2},
		{[]api.Filter{flt("instance-state-code", "16")}, 28},
		{[]api.Filter{flt("instance-state-name", "running"), flt("instance-type", "t3.micro")}, 10},
		{[]api.Filter{flt("tag:batch", "3", "4")}, 6},
		{[]api.Filter{flt("tag:batch", "*")}, 30},
		{[]api.Filter{flt("tag:missing", "*")}, 0},
		{[]api.Filter{flt("tag-key", "batch")}, 30},
		{[]api.Filter{flt("tag-value", "9")}, 3},
		{[]api.Filter{flt("instance-id", all[5])}, 1},
		{[]api.Filter{flt("reservation-id", *e.describeRes(t, all[4]))}, 3},
		{[]api.Filter{flt("private-ip-address", *first.PrivateIpAddress)}, 1},
		{[]api.Filter{flt("private-dns-name", "ip-172-31-*")}, 30},
		{[]api.Filter{flt("network-interface.mac-address", *first.NetworkInterfaces[0].MacAddress)}, 1},
		{[]api.Filter{flt("ip-address", "*")}, 28}, // stopped instances gave theirs back
		{[]api.Filter{flt("vpc-id", *first.VpcId)}, 30},
		{[]api.Filter{flt("availability-zone", *first.Placement.AvailabilityZone)}, 30},
		{[]api.Filter{flt("image-id", testAMI)}, 30},
		{[]api.Filter{flt("instance.group-name", "default")}, 30},
		{[]api.Filter{flt("launch-time", "2026-01-02T03:04:05.000Z")}, 3},
		{[]api.Filter{flt("owner-id", "000000000000")}, 30},
		{[]api.Filter{flt("architecture", "arm64")}, 0},
		{[]api.Filter{flt("state-reason-code", "Client.UserInitiatedShutdown")}, 2},
		{[]api.Filter{flt("root-device-type", "ebs")}, 30},
	} {
		if got := count(c.f...); got != c.want {
			t.Errorf("filters %s: %d instances, want %d", describeFilters(c.f), got, c.want)
		}
	}
	_, err := e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{Filters: []api.Filter{flt("colour", "blue")}})
	wantCode(t, err, "InvalidParameterValue")

	// Pages of 7 cover every instance once, reservations kept together in launch order.
	seen := map[string]bool{}
	var token *string
	pages := 0
	for {
		out, err := e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{MaxResults: ptr(int32(7)), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n := 0
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				if seen[*in.InstanceId] {
					t.Fatalf("%s on two pages", *in.InstanceId)
				}
				seen[*in.InstanceId] = true
				n++
			}
		}
		if n > 7 {
			t.Fatalf("page of %d", n)
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if len(seen) != 30 || pages != 5 {
		t.Errorf("%d instances over %d pages, want 30 over 5", len(seen), pages)
	}
	_, err = e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{MaxResults: ptr(int32(4))})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{MaxResults: ptr(int32(5)), InstanceIds: all[:1]})
	wantCode(t, err, "InvalidParameterCombination")
	_, err = e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{InstanceIds: []string{all[0], "i-0123456789abcdef0", "i-0123456789abcdef1"}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	if !strings.Contains(err.Error(), "The instance IDs 'i-0123456789abcdef0, i-0123456789abcdef1' do not exist") {
		t.Errorf("message %q", err)
	}
	_, err = e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{InstanceIds: []string{"instance-1"}})
	wantCode(t, err, "InvalidInstanceID.Malformed")
}

func (e *env) describeRes(t *testing.T, id string) *string {
	out := must[*api.DescribeInstancesResult](t)(e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{InstanceIds: []string{id}}))
	return out.Reservations[0].ReservationId
}

func describeFilters(fs []api.Filter) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, *f.Name+"="+strings.Join(f.Values, ","))
	}
	return strings.Join(parts, " ")
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	in := e.run(t, &api.RunInstancesRequest{})[0]
	id, eni, vol, vpc := *in.InstanceId, *in.NetworkInterfaces[0].NetworkInterfaceId, *in.BlockDeviceMappings[0].Ebs.VolumeId, *in.VpcId
	tags := func(kv ...string) []api.Tag {
		var out []api.Tag
		for i := 0; i < len(kv); i += 2 {
			out = append(out, api.Tag{Key: ptr(kv[i]), Value: ptr(kv[i+1])})
		}
		return out
	}
	if _, err := e.svc.CreateTags(e.ctx, &api.CreateTagsRequest{Resources: []string{id, eni, vol, vpc}, Tags: tags("Name", "web", "env", "prod")}); err != nil {
		t.Fatal(err)
	}
	got := e.describe(t, id)
	if len(got.Tags) != 2 {
		t.Errorf("instance tags %v", got.Tags)
	}
	d := must[*api.DescribeTagsResult](t)(e.svc.DescribeTags(e.ctx, &api.DescribeTagsRequest{Filters: []api.Filter{flt("key", "Name")}}))
	types := map[string]string{}
	for _, td := range d.Tags {
		types[*td.ResourceId] = *td.ResourceType
	}
	if types[id] != "instance" || types[eni] != "network-interface" || types[vol] != "volume" || types[vpc] != "vpc" || len(types) != 4 {
		t.Errorf("DescribeTags by key: %v", types)
	}
	d = must[*api.DescribeTagsResult](t)(e.svc.DescribeTags(e.ctx, &api.DescribeTagsRequest{Filters: []api.Filter{flt("resource-type", "instance"), flt("value", "prod")}}))
	if len(d.Tags) != 1 || *d.Tags[0].Key != "env" {
		t.Errorf("DescribeTags by type and value: %+v", d.Tags)
	}
	// DeleteTags: a value that does not match deletes nothing; a key alone deletes whatever the value.
	must[any](t)(e.svc.DeleteTags(e.ctx, &api.DeleteTagsRequest{Resources: []string{id}, Tags: []api.Tag{{Key: ptr("env"), Value: ptr("dev")}}}))
	must[any](t)(e.svc.DeleteTags(e.ctx, &api.DeleteTagsRequest{Resources: []string{id}, Tags: []api.Tag{{Key: ptr("Name")}}}))
	if got := e.describe(t, id).Tags; len(got) != 1 || *got[0].Key != "env" {
		t.Errorf("after DeleteTags: %+v", got)
	}
	// Resources of the network half: Elastic IPs (keyed by allocation id) and key pairs (keyed by name).
	eip := must[*api.AllocateAddressResult](t)(e.svc.AllocateAddress(e.ctx, &api.AllocateAddressRequest{Domain: ptr("vpc")}))
	kp := must[*api.KeyPair](t)(e.svc.CreateKeyPair(e.ctx, &api.CreateKeyPairRequest{KeyName: ptr("k")}))
	must[any](t)(e.svc.CreateTags(e.ctx, &api.CreateTagsRequest{Resources: []string{*eip.AllocationId, *kp.KeyPairId}, Tags: tags("team", "a")}))
	d = must[*api.DescribeTagsResult](t)(e.svc.DescribeTags(e.ctx, &api.DescribeTagsRequest{Filters: []api.Filter{flt("key", "team")}}))
	types = map[string]string{}
	for _, td := range d.Tags {
		types[*td.ResourceId] = *td.ResourceType
	}
	if types[*eip.AllocationId] != "elastic-ip" || types[*kp.KeyPairId] != "key-pair" || len(types) != 2 {
		t.Errorf("DescribeTags of an Elastic IP and a key pair: %v", types)
	}

	_, err := e.svc.CreateTags(e.ctx, &api.CreateTagsRequest{Resources: []string{"i-0123456789abcdef0"}, Tags: tags("a", "b")})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	_, err = e.svc.CreateTags(e.ctx, &api.CreateTagsRequest{Resources: []string{"thing-1"}, Tags: tags("a", "b")})
	wantCode(t, err, "InvalidID")
	_, err = e.svc.CreateTags(e.ctx, &api.CreateTagsRequest{Resources: []string{id}, Tags: tags("aws:x", "b")})
	wantCode(t, err, "InvalidParameterValue")
	var many []string
	for i := 0; i < 50; i++ {
		many = append(many, fmt.Sprint("k", i), "v")
	}
	_, err = e.svc.CreateTags(e.ctx, &api.CreateTagsRequest{Resources: []string{id}, Tags: tags(many...)})
	wantCode(t, err, "TagLimitExceeded")
}

func TestDescribeInstanceStatus(t *testing.T) {
	e := newEnv(t)
	insts := ids(e.run(t, &api.RunInstancesRequest{MinCount: ptr(int32(3)), MaxCount: ptr(int32(3))}))
	must[*api.StopInstancesResult](t)(e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: insts[2:]}))
	e.svc.Wait()

	out := must[*api.DescribeInstanceStatusResult](t)(e.svc.DescribeInstanceStatus(e.ctx, &api.DescribeInstanceStatusRequest{}))
	if len(out.InstanceStatuses) != 2 {
		t.Fatalf("%d statuses, want the 2 running instances", len(out.InstanceStatuses))
	}
	for _, st := range out.InstanceStatuses {
		if *st.InstanceStatus.Status != "ok" || *st.SystemStatus.Status != "ok" || *st.InstanceStatus.Details[0].Status != "passed" {
			t.Errorf("%s: instance %s system %s", *st.InstanceId, *st.InstanceStatus.Status, *st.SystemStatus.Status)
		}
	}
	all := must[*api.DescribeInstanceStatusResult](t)(e.svc.DescribeInstanceStatus(e.ctx, &api.DescribeInstanceStatusRequest{IncludeAllInstances: ptr(true)}))
	if len(all.InstanceStatuses) != 3 {
		t.Fatalf("IncludeAllInstances: %d", len(all.InstanceStatuses))
	}
	for _, st := range all.InstanceStatuses {
		if *st.InstanceId == insts[2] && *st.InstanceStatus.Status != "not-applicable" {
			t.Errorf("stopped instance status %s", *st.InstanceStatus.Status)
		}
	}
	// A machine the host lost is impaired until CheckMachines acts on it.
	_ = e.machines.Destroy(e.ctx, insts[0])
	out = must[*api.DescribeInstanceStatusResult](t)(e.svc.DescribeInstanceStatus(e.ctx, &api.DescribeInstanceStatusRequest{
		Filters: []api.Filter{flt("instance-status.reachability", "failed")}}))
	if len(out.InstanceStatuses) != 1 || *out.InstanceStatuses[0].InstanceId != insts[0] || *out.InstanceStatuses[0].SystemStatus.Status != "impaired" {
		t.Errorf("impaired: %+v", out.InstanceStatuses)
	}
	if !strings.Contains(guestinit.FinishedLine, "finished at") {
		t.Fatal("the instance check keys on cloud-init's finished line")
	}
}

func TestGetConsoleOutput(t *testing.T) {
	e := newEnv(t)
	id := *e.run(t, &api.RunInstancesRequest{UserData: b64("#!/bin/sh\necho 42\n")})[0].InstanceId
	out := must[*api.GetConsoleOutputResult](t)(e.svc.GetConsoleOutput(e.ctx, &api.GetConsoleOutputRequest{InstanceId: &id}))
	text, err := base64.StdEncoding.DecodeString(*out.Output)
	if err != nil || !strings.Contains(string(text), "42\n") || !strings.Contains(string(text), guestinit.FinishedLine) {
		t.Errorf("console %q %v", text, err)
	}
	if !out.Timestamp.Equal(e.clock.Now()) {
		t.Errorf("Timestamp %v", out.Timestamp)
	}
}
