package ec2

import (
	"fmt"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
)

// The instance lifecycle, as an explicit state machine: transitions names every legal move and move refuses
// every other. API operations decide what a request means in each state (lifecycleOp); the host work then
// walks the record through the moves, recording each one before acting on the host.

type instanceState string

const (
	statePending      instanceState = "pending"
	stateRunning      instanceState = "running"
	stateShuttingDown instanceState = "shutting-down"
	stateTerminated   instanceState = "terminated"
	stateStopping     instanceState = "stopping"
	stateStopped      instanceState = "stopped"
)

// stateCodes are EC2's state codes (the low byte of InstanceState.Code).
var stateCodes = map[instanceState]int{
	statePending: 0, stateRunning: 16, stateShuttingDown: 32, stateTerminated: 48, stateStopping: 64, stateStopped: 80,
}

func (st instanceState) code() int { return stateCodes[st] }

func (st instanceState) api() *api.InstanceState {
	return &api.InstanceState{Code: i32(st.code()), Name: str(string(st))}
}

// transitions are the legal moves. Everything not named is refused.
var transitions = map[instanceState][]instanceState{
	// pending -> stopped: a start of a stopped instance that failed on the host; nothing ran.
	statePending:  {stateRunning, stateShuttingDown, stateStopped},
	stateRunning:  {stateRunning /* reboot */, stateStopping, stateShuttingDown},
	stateStopping: {stateStopped, stateShuttingDown},
	stateStopped:  {statePending, stateShuttingDown},
	// shutting-down -> terminated once the host has let go of everything.
	stateShuttingDown: {stateTerminated},
	stateTerminated:   {},
}

// cause is why a transition happens; it fills StateTransitionReason and StateReason as EC2 does.
type cause int

const (
	causeLaunch           cause = iota // RunInstances or StartInstances: pending
	causeBooted                        // the machine runs
	causeUser                          // StopInstances, TerminateInstances, RebootInstances
	causeUserHibernate                 // StopInstances with Hibernate
	causeInstanceShutdown              // the machine shut itself down (its init exited)
	causeLaunchFailed                  // the host could not bring the machine up
	causeHostLost                      // Overcast restarted and the machine was gone
	causeFinished                      // the host finished what the previous move began: reasons stay
)

// errIllegalTransition is a programming error: an operation asked for a move the machine does not name.
type errIllegalTransition struct{ from, to instanceState }

func (e errIllegalTransition) Error() string {
	return fmt.Sprintf("ec2: illegal instance transition %s -> %s", e.from, e.to)
}

// move performs one transition on the record.
func (r *instanceRecord) move(to instanceState, c cause, detail string, now time.Time) error {
	if !legal(r.State, to) {
		return errIllegalTransition{r.State, to}
	}
	stamp := now.UTC().Format("2006-01-02 15:04:05") + " GMT"
	r.State = to
	if to == stateStopping {
		r.HibernateStop = c == causeUserHibernate // what the host work of this stop does (hibernation.go)
	}
	switch c {
	case causeLaunch:
		r.StateTransitionReason = ""
		r.StateReasonCode, r.StateReasonMessage = "pending", "pending"
	case causeBooted:
		r.StateTransitionReason = ""
		r.StateReasonCode, r.StateReasonMessage = "", ""
	case causeUser:
		if to != stateRunning { // a reboot leaves no trace in the state
			r.StateTransitionReason = "User initiated (" + stamp + ")"
			r.StateReasonCode = "Client.UserInitiatedShutdown"
			r.StateReasonMessage = "Client.UserInitiatedShutdown: User initiated shutdown"
		}
	case causeUserHibernate:
		r.StateTransitionReason = "User initiated (" + stamp + ")"
		r.StateReasonCode = "Client.UserInitiatedHibernate"
		r.StateReasonMessage = "Client.UserInitiatedHibernate: User initiated hibernate"
	case causeInstanceShutdown:
		r.StateTransitionReason = "User initiated (" + stamp + ")"
		r.StateReasonCode = "Client.InstanceInitiatedShutdown"
		r.StateReasonMessage = "Client.InstanceInitiatedShutdown: Instance initiated shutdown"
	case causeLaunchFailed:
		r.StateTransitionReason = "Server.InternalError: Internal error on launch"
		r.StateReasonCode = "Server.InternalError"
		r.StateReasonMessage = "Server.InternalError: Internal error on launch"
		if detail != "" {
			r.StateReasonMessage += " (" + detail + ")"
		}
	case causeHostLost:
		r.StateTransitionReason = "Service initiated (" + stamp + ")"
		r.StateReasonCode = "Server.InternalError"
		r.StateReasonMessage = "Server.InternalError: " + detail
	}
	if to == stateTerminated {
		r.TerminatedAt = now
	}
	return nil
}

func legal(from, to instanceState) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// lifecycleOp is what a state-changing API call means in each state: a move to a new state, nothing (the
// instance is already where the call leads), or IncorrectInstanceState.
type lifecycleOp struct {
	verb  string // as in EC2's message: "not in a state from which it can be <verb>"
	moves map[instanceState]instanceState
	noop  map[instanceState]bool
}

var (
	opStart = lifecycleOp{verb: "started",
		moves: map[instanceState]instanceState{stateStopped: statePending},
		noop:  map[instanceState]bool{statePending: true, stateRunning: true}}
	opStop = lifecycleOp{verb: "stopped",
		moves: map[instanceState]instanceState{stateRunning: stateStopping},
		noop:  map[instanceState]bool{stateStopping: true, stateStopped: true}}
	opReboot = lifecycleOp{verb: "rebooted",
		moves: map[instanceState]instanceState{stateRunning: stateRunning}}
	opTerminate = lifecycleOp{verb: "terminated",
		moves: map[instanceState]instanceState{statePending: stateShuttingDown, stateRunning: stateShuttingDown,
			stateStopping: stateShuttingDown, stateStopped: stateShuttingDown},
		noop: map[instanceState]bool{stateShuttingDown: true, stateTerminated: true}}
)

// target says where op takes an instance in state from: move is false when the call changes nothing.
func (op lifecycleOp) target(id string, from instanceState) (to instanceState, move bool, err error) {
	if to, ok := op.moves[from]; ok {
		return to, true, nil
	}
	if op.noop[from] {
		return from, false, nil
	}
	return from, false, incorrectState(id, op.verb)
}

func incorrectState(id, verb string) error {
	return apierr.New(apierr.Conflict, "IncorrectInstanceState",
		"The instance '%s' is not in a state from which it can be %s.", id, verb)
}
