package ec2

import (
	"context"
	"strings"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/host/compute"
)

// runHibernating launches one instance with hibernation configured and the given root volume.
func (e *ebsEnv) runHibernating(ctx context.Context, itype string, root *api.EbsBlockDevice, userData string) (*api.Reservation, error) {
	one := int32(1)
	in := &api.RunInstancesRequest{ImageId: str(testAMI), InstanceType: str(itype), MinCount: &one, MaxCount: &one,
		HibernationOptions: &api.HibernationOptionsRequest{Configured: boolp(true)}}
	if root != nil {
		in.BlockDeviceMappings = []api.BlockDeviceMapping{{DeviceName: str(rootDevice), Ebs: root}}
	}
	if userData != "" {
		in.UserData = b64(userData)
	}
	res, err := e.svc.RunInstances(ctx, in)
	e.svc.Wait()
	return res, err
}

func (e *ebsEnv) machineStatus(t *testing.T, id string) compute.Status {
	t.Helper()
	st, err := e.machines().Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func encryptedRoot(gib int) *api.EbsBlockDevice {
	return &api.EbsBlockDevice{Encrypted: boolp(true), VolumeSize: i32(gib)}
}

// RunInstances refuses HibernationOptions.Configured where EC2's prerequisites are not met.
func TestHibernationPrerequisitesAtLaunch(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	var unsupported string
	for name, it := range instanceTypes {
		if !it.hibernationSupported() && contains(it.Arch, "x86_64") {
			unsupported = name
			break
		}
	}
	for _, tc := range []struct {
		name, itype string
		root        *api.EbsBlockDevice
		enclave     bool
		code, msg   string
	}{
		{"unencrypted root", "t3.micro", nil, false, "UnsupportedHibernationConfiguration", "must be encrypted"},
		{"root smaller than RAM", "m5.large", encryptedRoot(4), false, "UnsupportedHibernationConfiguration", "large enough"},
		{"unsupported type", unsupported, encryptedRoot(100), false, "UnsupportedHibernationConfiguration", "instance type"},
		{"with an enclave", "m5.large", encryptedRoot(8), true, "InvalidParameterCombination", "Nitro Enclaves"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			one := int32(1)
			in := &api.RunInstancesRequest{ImageId: str(testAMI), InstanceType: str(tc.itype), MinCount: &one, MaxCount: &one,
				HibernationOptions: &api.HibernationOptionsRequest{Configured: boolp(true)}}
			if tc.root != nil {
				in.BlockDeviceMappings = []api.BlockDeviceMapping{{DeviceName: str(rootDevice), Ebs: tc.root}}
			}
			if tc.enclave {
				in.EnclaveOptions = &api.EnclaveOptionsRequest{Enabled: boolp(true)}
			}
			_, err := e.svc.RunInstances(ctx, in)
			wantCode(t, err, tc.code)
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
	// With EBS encryption by default, the root volume is encrypted without asking.
	must[*api.EnableEbsEncryptionByDefaultResult](t)(e.svc.EnableEbsEncryptionByDefault(ctx, &api.EnableEbsEncryptionByDefaultRequest{}))
	res, err := e.runHibernating(ctx, "t3.micro", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	inst := e.describeInstance(t, ctx, *res.Instances[0].InstanceId)
	if !*inst.HibernationOptions.Configured {
		t.Error("DescribeInstances: HibernationOptions.Configured is false")
	}
	out, err := e.svc.DescribeInstances(ctx, &api.DescribeInstancesRequest{
		Filters: []api.Filter{{Name: str("hibernation-options.configured"), Values: []string{"true"}}}})
	if err != nil || len(out.Reservations) != 1 || *out.Reservations[0].Instances[0].InstanceId != *inst.InstanceId {
		t.Errorf("filter hibernation-options.configured=true: %v, %+v", err, out)
	}
}

// StopInstances with Hibernate: the machine hibernates, the stopped instance says why, and a start resumes
// it. A machine that cannot hibernate is stopped.
func TestStopHibernate(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	res, err := e.runHibernating(ctx, "m5.large", encryptedRoot(8), "")
	if err != nil {
		t.Fatal(err)
	}
	id := *res.Instances[0].InstanceId
	pid := e.machineStatus(t, id).PID

	stopped := must[*api.StopInstancesResult](t)(e.svc.StopInstances(ctx, &api.StopInstancesRequest{InstanceIds: []string{id}, Hibernate: boolp(true)}))
	if *stopped.StoppingInstances[0].CurrentState.Name != "stopping" {
		t.Errorf("StopInstances answered %s", *stopped.StoppingInstances[0].CurrentState.Name)
	}
	e.svc.Wait()
	inst := e.describeInstance(t, ctx, id)
	if *inst.State.Name != "stopped" || *inst.StateReason.Code != "Client.UserInitiatedHibernate" ||
		*inst.StateReason.Message != "Client.UserInitiatedHibernate: User initiated hibernate" {
		t.Fatalf("after hibernate: state %s, reason %+v", *inst.State.Name, inst.StateReason)
	}
	if h, _ := e.machines().Hibernated(ctx, id); !h {
		t.Fatal("the machine did not hibernate")
	}
	// The saved memory is for this instance type.
	_, err = e.svc.ModifyInstanceAttribute(ctx, &api.ModifyInstanceAttributeRequest{InstanceId: &id,
		InstanceType: &api.AttributeValue{Value: str("m5.xlarge")}})
	wantCode(t, err, "UnsupportedOperation")

	must[*api.StartInstancesResult](t)(e.svc.StartInstances(ctx, &api.StartInstancesRequest{InstanceIds: []string{id}}))
	e.svc.Wait()
	if st := e.machineStatus(t, id); st.PID != pid {
		t.Errorf("resumed machine has pid %d, want %d", st.PID, pid)
	}
	console, _ := e.machines().ConsoleOutput(ctx, id)
	if !strings.Contains(string(console), "resumed from hibernation") {
		t.Errorf("console:\n%s", console)
	}
	if *e.describeInstance(t, ctx, id).State.Name != "running" {
		t.Fatal("not running after start")
	}

	// A plain stop of the same instance does not hibernate it.
	must[*api.StopInstancesResult](t)(e.svc.StopInstances(ctx, &api.StopInstancesRequest{InstanceIds: []string{id}}))
	e.svc.Wait()
	if h, _ := e.machines().Hibernated(ctx, id); h {
		t.Error("a plain stop hibernated the machine")
	}
	if r := e.describeInstance(t, ctx, id).StateReason; *r.Code != "Client.UserInitiatedShutdown" {
		t.Errorf("plain stop reason %s", *r.Code)
	}

	// When the host cannot hibernate the machine, it stops all the same.
	res, err = e.runHibernating(ctx, "m5.large", encryptedRoot(8), "#!/bin/sh\n#fake: hibernate_error=no room\n")
	if err != nil {
		t.Fatal(err)
	}
	other := *res.Instances[0].InstanceId
	must[*api.StopInstancesResult](t)(e.svc.StopInstances(ctx, &api.StopInstancesRequest{InstanceIds: []string{other}, Hibernate: boolp(true)}))
	e.svc.Wait()
	if *e.describeInstance(t, ctx, other).State.Name != "stopped" {
		t.Error("an instance that could not hibernate did not stop")
	}
	if h, _ := e.machines().Hibernated(ctx, other); h {
		t.Error("Hibernated is true after a failed hibernation")
	}
}

// Hibernate only applies to instances launched with hibernation configured; a mixed request changes none.
func TestStopHibernateNotConfigured(t *testing.T) {
	e, ctx := newEBSEnv(t), context.Background()
	res, err := e.runHibernating(ctx, "m5.large", encryptedRoot(8), "")
	if err != nil {
		t.Fatal(err)
	}
	configured := *res.Instances[0].InstanceId
	plain, err := e.runWith(t, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if *plain.HibernationOptions.Configured {
		t.Error("an instance launched without hibernation shows it configured")
	}
	_, err = e.svc.StopInstances(ctx, &api.StopInstancesRequest{InstanceIds: []string{configured, *plain.InstanceId}, Hibernate: boolp(true)})
	wantCode(t, err, "UnsupportedHibernationConfiguration")
	if *e.describeInstance(t, ctx, configured).State.Name != "running" {
		t.Error("a refused StopInstances stopped an instance")
	}
}
