package ec2

import (
	"slices"
	"testing"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/store"
)

// setState forces an instance's record into a state, as a crash in the middle of host work leaves it.
func (e *env) setState(t *testing.T, id string, st instanceState) {
	t.Helper()
	_, err := store.Mutate(e.ctx, e.st, instanceKey("000000000000", "us-east-1", id), func(r *instanceRecord) error {
		r.State = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecover(t *testing.T) {
	e := newEnv(t)
	insts := ids(e.run(t, &api.RunInstancesRequest{MinCount: ptr(int32(6)), MaxCount: ptr(int32(6))}))
	survived, vanished, stopping, shuttingDown, pending, stopped := insts[0], insts[1], insts[2], insts[3], insts[4], insts[5]

	// The crash: one machine vanished with the host's restart; records caught mid-transition.
	_ = e.machines.Destroy(e.ctx, vanished)
	e.setState(t, stopping, stateStopping)
	e.setState(t, shuttingDown, stateShuttingDown)
	_ = e.machines.Stop(e.ctx, pending, 0)
	e.setState(t, pending, statePending)
	e.setState(t, stopped, stateStopped) // but its machine still runs
	// A machine no record names.
	orphan := compute.Spec{ID: "i-0ffffffffffffffff", Image: compute.Image{ID: testAMI, LowerDirs: []string{"/x"}}, VCPUs: 1, MemoryMiB: 64, PIDs: 64}
	if err := e.machines.Define(e.ctx, orphan); err != nil {
		t.Fatal(err)
	}
	_ = e.machines.Start(e.ctx, orphan.ID)

	for round := 0; round < 2; round++ { // Recover is idempotent
		svc := e.restart()
		if err := svc.Recover(e.ctx); err != nil {
			t.Fatal(err)
		}
		svc.Wait()
		e.svc = svc

		e.wantState(t, survived, "running", 16)
		in := e.wantState(t, vanished, "stopped", 80)
		if stateReason(in) != "Server.InternalError / Server.InternalError: "+hostLostReason {
			t.Errorf("vanished instance reason %q", stateReason(in))
		}
		e.wantState(t, stopping, "stopped", 80)
		e.wantState(t, shuttingDown, "terminated", 48)
		e.wantState(t, pending, "running", 16)
		e.wantState(t, stopped, "stopped", 80)

		machines, _ := e.machines.List(e.ctx)
		if slices.Contains(machines, orphan.ID) || slices.Contains(machines, shuttingDown) {
			t.Errorf("round %d: machines left: %v", round, machines)
		}
		for _, id := range []string{survived, pending} {
			if st, _ := e.machines.Status(e.ctx, id); st.State != compute.StateRunning {
				t.Errorf("%s is %s on the host", id, st.State)
			}
		}
		for _, id := range []string{stopped, stopping} {
			if st, _ := e.machines.Status(e.ctx, id); st.State != compute.StateStopped {
				t.Errorf("%s is %s on the host, want stopped with its disk", id, st.State)
			}
		}
	}
}

// A host restarted without compute cannot run anything: running instances are reported stopped, with why.
func TestRecoverWithoutCompute(t *testing.T) {
	e := newEnv(t)
	insts := ids(e.run(t, &api.RunInstancesRequest{MinCount: ptr(int32(2)), MaxCount: ptr(int32(2))}))
	e.setState(t, insts[1], stateShuttingDown)
	svc := New(Config{Store: e.svc.st, Clock: e.svc.clock})
	if err := svc.Recover(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	in := e.wantState(t, insts[0], "stopped", 80)
	if stateReason(in) != "Server.InternalError / Server.InternalError: "+computeOffReason {
		t.Errorf("reason %q", stateReason(in))
	}
	e.wantState(t, insts[1], "terminated", 48)
}
