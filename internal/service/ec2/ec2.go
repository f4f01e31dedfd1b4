// Package ec2 is the EC2 API: AWS semantics, validation and records for EC2's resources. It carries nothing out
// on the host itself; that is the compute and network drivers' job behind narrow interfaces.
package ec2

import (
	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/internal/apierr"
)

// Service implements api/ec2.Service. What it does not override answers NotImplemented.
type Service struct {
	api.Unimplemented
}

// New returns the EC2 service.
func New() *Service { return &Service{} }

var _ api.Service = (*Service)(nil)

// dryRun answers a DryRun request the way EC2 does once the caller is known to be allowed: with an error.
func dryRun(flag *bool) error {
	if flag != nil && *flag {
		return (&apierr.Error{Class: apierr.Invalid, Code: "DryRunOperation",
			Message: "Request would have succeeded, but DryRun flag is set."}).WithStatus(412)
	}
	return nil
}

func str(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
