package ec2

import (
	"bytes"
	"context"
	"strconv"
	"time"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/host/compute"
	"github.com/overcast-cloud/overcast/internal/host/compute/guestinit"
)

// DescribeInstanceStatus reports real status checks: the system check passes while the host has the
// machine, the instance check while the machine's init runs. A running instance whose machine is gone is
// impaired. Only running instances are shown unless IncludeAllInstances.
func (s *Service) DescribeInstanceStatus(ctx context.Context, in *api.DescribeInstanceStatusRequest) (*api.DescribeInstanceStatusResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if len(in.InstanceIds) > 0 && in.MaxResults != nil {
		return nil, apierr.InvalidParam("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	if err := checkInstanceIDs(in.InstanceIds); err != nil {
		return nil, err
	}
	recs, err := s.selectInstances(ctx, in.InstanceIds)
	if err != nil {
		return nil, err
	}
	all := in.IncludeAllInstances != nil && *in.IncludeAllInstances
	var out []api.InstanceStatus
	for i := range recs {
		r := &recs[i]
		if !all && r.State != stateRunning {
			continue
		}
		st := s.instanceStatus(ctx, r)
		ok, err := filterSet(in.Filters).match(statusFields(r, st))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, st)
		}
	}
	page, next, err := paginate(out, func(st api.InstanceStatus) string { return *st.InstanceId }, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return &api.DescribeInstanceStatusResult{InstanceStatuses: page, NextToken: next}, nil
}

func (s *Service) instanceStatus(ctx context.Context, r *instanceRecord) api.InstanceStatus {
	st := api.InstanceStatus{
		InstanceId: str(r.ID), AvailabilityZone: str(r.AvailabilityZone), AvailabilityZoneId: str(r.AvailabilityZoneID),
		InstanceState: r.State.api(), Events: []api.InstanceStatusEvent{},
	}
	notApplicable := func() *api.InstanceStatusSummary {
		return &api.InstanceStatusSummary{Status: str("not-applicable"), Details: []api.InstanceStatusDetails{}}
	}
	if r.State != stateRunning {
		st.SystemStatus, st.InstanceStatus = notApplicable(), notApplicable()
		st.AttachedEbsStatus = &api.EbsStatusSummary{Status: str("not-applicable")}
		return st
	}
	sys, inst := s.checks(ctx, r.ID)
	st.SystemStatus, st.InstanceStatus = sys.summary(), inst.summary()
	st.AttachedEbsStatus = &api.EbsStatusSummary{Status: sys.status,
		Details: []api.EbsStatusDetails{{Name: str("reachability"), Status: sys.reach, ImpairedSince: sys.since}}}
	return st
}

func statusFields(r *instanceRecord, st api.InstanceStatus) map[string][]string {
	detail := func(s *api.InstanceStatusSummary) []string {
		if len(s.Details) == 0 {
			return []string{}
		}
		return []string{*s.Details[0].Status}
	}
	return map[string][]string{
		"availability-zone":            {r.AvailabilityZone},
		"availability-zone-id":         {r.AvailabilityZoneID},
		"instance-id":                  {r.ID},
		"instance-state-name":          {string(r.State)},
		"instance-state-code":          {strconv.Itoa(r.State.code())},
		"instance-status.status":       {*st.InstanceStatus.Status},
		"instance-status.reachability": detail(st.InstanceStatus),
		"system-status.status":         {*st.SystemStatus.Status},
		"system-status.reachability":   detail(st.SystemStatus),
		"attached-ebs-status.status":   {*st.AttachedEbsStatus.Status},
		"event.code":                   {},
		"event.description":            {},
		"event.instance-event-id":      {},
		"event.not-after":              {},
		"event.not-before":             {},
		"event.not-before-deadline":    {},
		"operator.managed":             {"false"},
		"operator.principal":           {},
	}
}

// check is one status check's outcome.
type check struct {
	status, reach *string
	since         *time.Time
}

func newCheck(status, reach string, since *time.Time) check {
	return check{str(status), str(reach), since}
}

func (c check) summary() *api.InstanceStatusSummary {
	return &api.InstanceStatusSummary{Status: c.status,
		Details: []api.InstanceStatusDetails{{Name: str("reachability"), Status: c.reach, ImpairedSince: c.since}}}
}

// checks runs the system check (the host has the machine running) and the instance check (its init
// finished booting: the console shows cloud-init's "finished" line, as on EC2).
func (s *Service) checks(ctx context.Context, id string) (system, instance check) {
	hs, err := s.compute.Status(ctx, id)
	if err != nil {
		c := newCheck("insufficient-data", "insufficient-data", nil)
		return c, c
	}
	if hs.State != compute.StateRunning {
		c := newCheck("impaired", "failed", timep(s.clock()))
		return c, c
	}
	system = newCheck("ok", "passed", nil)
	if s.booted(ctx, id, hs.StartedAt) {
		return system, system
	}
	return system, newCheck("initializing", "initializing", nil)
}

// booted reports whether the machine's init finished the boot that started at startedAt. A boot seen
// finished is remembered, so the console is read only until then.
func (s *Service) booted(ctx context.Context, id string, startedAt time.Time) bool {
	h := s.hw()
	h.mu.Lock()
	seen, ok := h.ready[id]
	h.mu.Unlock()
	if ok && seen.Equal(startedAt) {
		return true
	}
	log, err := s.compute.ConsoleOutput(ctx, id)
	if err != nil || !bytes.Contains(log, []byte(guestinit.FinishedLine)) {
		return false
	}
	h.mu.Lock()
	if h.ready == nil {
		h.ready = map[string]time.Time{}
	}
	h.ready[id] = startedAt
	h.mu.Unlock()
	return true
}
