// Package clock is the time source of Overcast's records: credential expiry, creation dates, and the like.
// Tests and the --dev-clock endpoint move it forward without sleeping; request signing keeps to the wall clock,
// since clock skew is about the client's clock against the real one.
package clock

import (
	"sync/atomic"
	"time"
)

// Clock is wall time plus an offset that only grows.
type Clock struct {
	offset atomic.Int64 // nanoseconds
}

// New returns a clock at wall time.
func New() *Clock { return &Clock{} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d (a negative d is ignored: time does not run backwards).
func (c *Clock) Advance(d time.Duration) {
	if d > 0 {
		c.offset.Add(int64(d))
	}
}
