package benchkit

import (
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 20; i >= 1; i-- { // out of order: Percentile sorts a copy
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.50, 10 * time.Millisecond}, {0.99, 20 * time.Millisecond}, {0, time.Millisecond}} {
		if got := Percentile(d, c.p); got != c.want {
			t.Errorf("p%v of 1..20 ms = %v, want %v", c.p*100, got, c.want)
		}
	}
	if d[0] != 20*time.Millisecond {
		t.Errorf("Percentile reordered its input: %v first", d[0])
	}
	if got := Percentile(nil, 0.5); got != 0 {
		t.Errorf("p50 of no samples = %v, want 0", got)
	}
	if got := MS(12345 * time.Microsecond); got != "12.3 ms" {
		t.Errorf("MS(12.345 ms) = %q", got)
	}
}
