package ec2

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
)

func TestInstanceLifecycle(t *testing.T) {
	e := newEnv(t)
	key, err := e.svc.CreateKeyPair(e.ctx, &api.CreateKeyPairRequest{KeyName: ptr("demo")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.RunInstances(e.ctx, &api.RunInstancesRequest{ImageId: ptr(testAMI), InstanceType: ptr("t2.micro"),
		MinCount: ptr(int32(1)), MaxCount: ptr(int32(1)), KeyName: key.KeyName,
		UserData: b64("#!/bin/sh\necho hello from user data\necho page > /var/www/index.html\n")})
	if err != nil {
		t.Fatal(err)
	}
	launched := res.Instances[0]
	id := *launched.InstanceId
	if *launched.State.Name != "pending" || *launched.State.Code != 0 || stateReason(launched) != "pending / pending" {
		t.Fatalf("RunInstances answered %s (%d) %q, want pending (0)", *launched.State.Name, *launched.State.Code, stateReason(launched))
	}
	wantPrefix(t, "ReservationId", *res.ReservationId, "r-")
	e.svc.Wait()

	in := e.wantState(t, id, "running", 16)
	if in.StateReason != nil || *in.StateTransitionReason != "" {
		t.Errorf("running instance has reason %q / %q", stateReason(in), *in.StateTransitionReason)
	}
	if !regexp.MustCompile(`^ip-172-31-\d+-\d+\.ec2\.internal$`).MatchString(*in.PrivateDnsName) {
		t.Errorf("PrivateDnsName = %q", *in.PrivateDnsName)
	}
	if in.PublicIpAddress == nil || *in.PublicDnsName != "ec2-"+strings.ReplaceAll(*in.PublicIpAddress, ".", "-")+".compute-1.amazonaws.com" {
		t.Errorf("public address %v, dns %q: a default subnet maps public addresses on launch", in.PublicIpAddress, *in.PublicDnsName)
	}
	if *in.KeyName != "demo" || *in.RootDeviceName != "/dev/xvda" || *in.BlockDeviceMappings[0].Ebs.Status != "attached" ||
		*in.Hypervisor != "xen" || *in.MetadataOptions.HttpTokens != "optional" || *in.MetadataOptions.HttpPutResponseHopLimit != 1 {
		t.Errorf("instance fields: %+v", in)
	}
	ni := in.NetworkInterfaces[0]
	wantPrefix(t, "NetworkInterfaceId", *ni.NetworkInterfaceId, "eni-")
	wantPrefix(t, "MacAddress", *ni.MacAddress, "0a:")
	wantPrefix(t, "VolumeId", *in.BlockDeviceMappings[0].Ebs.VolumeId, "vol-")
	if page, _ := e.machines.ReadFile(id, "/var/www/index.html"); string(page) != "page\n" {
		t.Errorf("user data wrote %q", page)
	}
	out, err := e.svc.GetConsoleOutput(e.ctx, &api.GetConsoleOutputRequest{InstanceId: &id})
	if err != nil {
		t.Fatal(err)
	}
	console, _ := base64.StdEncoding.DecodeString(*out.Output)
	if strings.Count(string(console), "hello from user data") != 1 {
		t.Errorf("console output:\n%s", console)
	}

	// Stop: stopping now, stopped once the host is done; the disk stays, the public address goes.
	e.clock.Add(time.Minute)
	stop, err := e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	ch := stop.StoppingInstances[0]
	if *ch.PreviousState.Name != "running" || *ch.CurrentState.Name != "stopping" || *ch.CurrentState.Code != 64 {
		t.Errorf("StopInstances: %s -> %s", *ch.PreviousState.Name, *ch.CurrentState.Name)
	}
	e.svc.Wait()
	in = e.wantState(t, id, "stopped", 80)
	if *in.StateTransitionReason != "User initiated (2026-01-02 03:05:05 GMT)" {
		t.Errorf("StateTransitionReason = %q", *in.StateTransitionReason)
	}
	if stateReason(in) != "Client.UserInitiatedShutdown / Client.UserInitiatedShutdown: User initiated shutdown" {
		t.Errorf("StateReason = %q", stateReason(in))
	}
	if in.PublicIpAddress != nil || *in.PrivateIpAddress == "" {
		t.Errorf("stopped instance: public %v private %v; EC2 keeps only the private address", in.PublicIpAddress, in.PrivateIpAddress)
	}

	// Start: the disk survived, user data does not run again, a new public address is mapped.
	start, err := e.svc.StartInstances(e.ctx, &api.StartInstancesRequest{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if sc := start.StartingInstances[0]; *sc.PreviousState.Name != "stopped" || *sc.CurrentState.Name != "pending" {
		t.Errorf("StartInstances: %s -> %s", *sc.PreviousState.Name, *sc.CurrentState.Name)
	}
	e.svc.Wait()
	in = e.wantState(t, id, "running", 16)
	if in.PublicIpAddress == nil || *in.StateTransitionReason != "" || in.StateReason != nil {
		t.Errorf("restarted instance: public %v, reasons %q %q", in.PublicIpAddress, *in.StateTransitionReason, stateReason(in))
	}
	if page, err := e.machines.ReadFile(id, "/var/www/index.html"); err != nil || string(page) != "page\n" {
		t.Errorf("root disk after stop/start: %q %v", page, err)
	}
	out, _ = e.svc.GetConsoleOutput(e.ctx, &api.GetConsoleOutputRequest{InstanceId: &id})
	console, _ = base64.StdEncoding.DecodeString(*out.Output)
	if n := strings.Count(string(console), "hello from user data"); n != 1 {
		t.Errorf("user data ran %d times", n)
	}

	// Reboot: stays running.
	if _, err := e.svc.RebootInstances(e.ctx, &api.RebootInstancesRequest{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	e.svc.Wait()
	e.wantState(t, id, "running", 16)

	// Terminate: shutting-down, then terminated; nothing left on the host; gone from the listing after an hour.
	term, err := e.svc.TerminateInstances(e.ctx, &api.TerminateInstancesRequest{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if tc := term.TerminatingInstances[0]; *tc.PreviousState.Name != "running" || *tc.CurrentState.Name != "shutting-down" || *tc.CurrentState.Code != 32 {
		t.Errorf("TerminateInstances: %s -> %s", *tc.PreviousState.Name, *tc.CurrentState.Name)
	}
	e.svc.Wait()
	in = e.wantState(t, id, "terminated", 48)
	if in.PrivateIpAddress != nil || in.PublicIpAddress != nil || len(in.NetworkInterfaces) != 0 {
		t.Errorf("terminated instance still shows its network: %+v", in)
	}
	if left, _ := e.machines.List(e.ctx); len(left) != 0 {
		t.Errorf("machines left on the host: %v", left)
	}
	// Terminating again is a no-op, as in EC2.
	if again, err := e.svc.TerminateInstances(e.ctx, &api.TerminateInstancesRequest{InstanceIds: []string{id}}); err != nil ||
		*again.TerminatingInstances[0].CurrentState.Name != "terminated" {
		t.Errorf("second terminate: %v", err)
	}
	e.clock.Add(59 * time.Minute)
	e.wantState(t, id, "terminated", 48)
	e.clock.Add(2 * time.Minute)
	_, err = e.svc.DescribeInstances(e.ctx, &api.DescribeInstancesRequest{InstanceIds: []string{id}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
}

func TestIllegalTransitions(t *testing.T) {
	e := newEnv(t)
	running := *e.run(t, &api.RunInstancesRequest{})[0].InstanceId
	stopped := *e.run(t, &api.RunInstancesRequest{})[0].InstanceId
	terminated := *e.run(t, &api.RunInstancesRequest{})[0].InstanceId
	must[*api.StopInstancesResult](t)(e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: []string{stopped}}))
	must[*api.TerminateInstancesResult](t)(e.svc.TerminateInstances(e.ctx, &api.TerminateInstancesRequest{InstanceIds: []string{terminated}}))
	e.svc.Wait()

	msg := func(err error, want string) {
		t.Helper()
		wantCode(t, err, "IncorrectInstanceState")
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want %q", err, want)
		}
	}
	_, err := e.svc.StartInstances(e.ctx, &api.StartInstancesRequest{InstanceIds: []string{terminated}})
	msg(err, "The instance '"+terminated+"' is not in a state from which it can be started.")
	_, err = e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: []string{terminated}})
	msg(err, "is not in a state from which it can be stopped.")
	_, err = e.svc.RebootInstances(e.ctx, &api.RebootInstancesRequest{InstanceIds: []string{stopped}})
	msg(err, "is not in a state from which it can be rebooted.")
	// One refused instance refuses the whole call: the running one is not stopped.
	_, err = e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: []string{running, terminated}})
	msg(err, terminated)
	e.wantState(t, running, "running", 16)

	// Calls that lead where the instance already is change nothing.
	if r, err := e.svc.StartInstances(e.ctx, &api.StartInstancesRequest{InstanceIds: []string{running}}); err != nil ||
		*r.StartingInstances[0].CurrentState.Name != "running" {
		t.Errorf("start of a running instance: %v", err)
	}
	if r, err := e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: []string{stopped}}); err != nil ||
		*r.StoppingInstances[0].PreviousState.Name != "stopped" || *r.StoppingInstances[0].CurrentState.Name != "stopped" {
		t.Errorf("stop of a stopped instance: %v", err)
	}

	_, err = e.svc.ModifyInstanceAttribute(e.ctx, &api.ModifyInstanceAttributeRequest{InstanceId: &running,
		InstanceType: &api.AttributeValue{Value: ptr("t3.small")}})
	wantCode(t, err, "IncorrectInstanceState")
	if _, err := e.svc.ModifyInstanceAttribute(e.ctx, &api.ModifyInstanceAttributeRequest{InstanceId: &stopped,
		InstanceType: &api.AttributeValue{Value: ptr("t3.small")}}); err != nil {
		t.Fatal(err)
	}
	if *e.describe(t, stopped).InstanceType != "t3.small" {
		t.Error("instance type not changed")
	}
	_, err = e.svc.ModifyInstanceAttribute(e.ctx, &api.ModifyInstanceAttributeRequest{InstanceId: &stopped,
		InstanceType: &api.AttributeValue{Value: ptr("t4g.small")}})
	wantCode(t, err, "InvalidInstanceAttributeValue")

	// DisableApiTermination protects the instance until it is turned off.
	if _, err := e.svc.ModifyInstanceAttribute(e.ctx, &api.ModifyInstanceAttributeRequest{InstanceId: &running,
		DisableApiTermination: &api.AttributeBooleanValue{Value: ptr(true)}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.TerminateInstances(e.ctx, &api.TerminateInstancesRequest{InstanceIds: []string{running}})
	wantCode(t, err, "OperationNotPermitted")
	attr, err := e.svc.DescribeInstanceAttribute(e.ctx, &api.DescribeInstanceAttributeRequest{InstanceId: &running, Attribute: ptr("disableApiTermination")})
	if err != nil || !*attr.DisableApiTermination.Value {
		t.Errorf("DescribeInstanceAttribute: %v", err)
	}
	_, err = e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: []string{running}, Hibernate: ptr(true)})
	wantCode(t, err, "UnsupportedHibernationConfiguration")

	_, err = e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: []string{"i-0000000000000000a"}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	_, err = e.svc.StopInstances(e.ctx, &api.StopInstancesRequest{InstanceIds: []string{"i-nope"}})
	wantCode(t, err, "InvalidInstanceID.Malformed")
}

// Every transition the state machine does not name is refused.
func TestStateMachineRefusesUnnamedTransitions(t *testing.T) {
	named := map[[2]instanceState]bool{
		{statePending, stateRunning}: true, {statePending, stateShuttingDown}: true, {statePending, stateStopped}: true,
		{stateRunning, stateRunning}: true, {stateRunning, stateStopping}: true, {stateRunning, stateShuttingDown}: true,
		{stateStopping, stateStopped}: true, {stateStopping, stateShuttingDown}: true,
		{stateStopped, statePending}: true, {stateStopped, stateShuttingDown}: true,
		{stateShuttingDown, stateTerminated}: true,
	}
	all := []instanceState{statePending, stateRunning, stateShuttingDown, stateTerminated, stateStopping, stateStopped}
	for _, from := range all {
		for _, to := range all {
			r := instanceRecord{State: from}
			err := r.move(to, causeUser, "", time.Now())
			if named[[2]instanceState{from, to}] != (err == nil) {
				t.Errorf("%s -> %s: %v", from, to, err)
			}
		}
	}
	want := map[instanceState]int{statePending: 0, stateRunning: 16, stateShuttingDown: 32, stateTerminated: 48, stateStopping: 64, stateStopped: 80}
	for st, code := range want {
		if st.code() != code {
			t.Errorf("%s has code %d, want %d", st, st.code(), code)
		}
	}
}

func TestFailedLaunchAndInstanceInitiatedShutdown(t *testing.T) {
	e := newEnv(t)
	failed := *e.run(t, &api.RunInstancesRequest{UserData: b64("#!/bin/sh\n#fake: start_error=no capacity\n")})[0].InstanceId
	in := e.wantState(t, failed, "terminated", 48)
	if !strings.HasPrefix(stateReason(in), "Server.InternalError / Server.InternalError: Internal error on launch") {
		t.Errorf("StateReason = %q", stateReason(in))
	}

	stops := *e.run(t, &api.RunInstancesRequest{UserData: b64("#!/bin/sh\n#fake: exit_after=1ms\n")})[0].InstanceId
	terminates := *e.run(t, &api.RunInstancesRequest{UserData: b64("#!/bin/sh\n#fake: exit_after=1ms\n"),
		InstanceInitiatedShutdownBehavior: ptr("terminate")})[0].InstanceId
	time.Sleep(20 * time.Millisecond)
	if err := e.svc.CheckMachines(e.ctx); err != nil {
		t.Fatal(err)
	}
	in = e.wantState(t, stops, "stopped", 80)
	if in.StateReason == nil || *in.StateReason.Code != "Client.InstanceInitiatedShutdown" {
		t.Errorf("StateReason = %q", stateReason(in))
	}
	e.wantState(t, terminates, "terminated", 48)
}
