package ec2

import (
	"context"
	"encoding/base64"
	"errors"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/host/compute"
)

// maxConsoleOutput is how much of the console log EC2 returns: the most recent 64 KB.
const maxConsoleOutput = 64 * 1024

// GetConsoleOutput returns the machine's console log (its init's and user data's output), base64 encoded.
func (s *Service) GetConsoleOutput(ctx context.Context, in *api.GetConsoleOutputRequest) (*api.GetConsoleOutputResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	r, err := s.getInstance(ctx, deref(in.InstanceId))
	if err != nil {
		return nil, err
	}
	out := &api.GetConsoleOutputResult{InstanceId: str(r.ID), Timestamp: timep(s.clock())}
	log, err := s.compute.ConsoleOutput(ctx, r.ID)
	if errors.Is(err, compute.ErrNotDefined) || len(log) == 0 && err == nil {
		return out, nil // nothing written yet, or the machine is gone: EC2 then omits Output
	}
	if err != nil {
		return nil, err
	}
	if len(log) > maxConsoleOutput {
		log = log[len(log)-maxConsoleOutput:]
	}
	out.Output = str(base64.StdEncoding.EncodeToString(log))
	return out, nil
}
