package network

import "errors"

// Errors a Network returns, for callers to test with errors.Is.
var (
	// ErrNotFound: the subnet or interface named is not on the host.
	ErrNotFound = errors.New("not on the host")
	// ErrInUse: the subnet still has interfaces attached.
	ErrInUse = errors.New("in use")
	// ErrInvalid: an argument the host cannot accept (an address outside the public pool, a subnet whose
	// CIDR overlaps another VPC's on this host).
	ErrInvalid = errors.New("invalid")
)
