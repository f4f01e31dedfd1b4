package benchkit

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Percentile is the nearest-rank percentile p (0 to 1) of d: with 20 samples, p99 is the largest. It is zero
// for no samples.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[max(0, int(math.Ceil(p*float64(len(s))))-1)]
}

// MS prints a duration in milliseconds, as the reports show times: "12.3 ms".
func MS(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// MiB prints a size in bytes as mebibytes: "10.0 MiB".
func MiB(bytes int64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }
