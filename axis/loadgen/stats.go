package loadgen

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 100) of ds by the nearest-rank
// method: the smallest value such that at least p% of the values are ≤ it. ds must be
// sorted ascending; an empty slice gives 0.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(ds))))
	return ds[min(max(rank, 1), len(ds))-1]
}

// Result is what a run measured. Line is its SPEC §5 summary.
type Result struct {
	E2EPerSec    float64 // packages delivered to every recipient / (last arrival − first submit)
	P50, P95     time.Duration
	P99          time.Duration
	VerifyPerSec float64 // in-process verification of the same corpus, all cores
	Errors       int     // submissions that failed (no 202/200)
	Unsent       int     // not submitted: the run was interrupted (Ctrl-C) first
	Lost         int     // accepted but not at every recipient within the timeout

	// Details, printed before the summary line.
	Packages     int           // corpus size
	AvgBytes     int           // mean signed package size
	SignPerSec   float64       // corpus signing rate, all cores
	Accepted     int           // 202 or 200 answers
	Delivered    int           // accepted and seen at every recipient
	Duplicates   int           // deliveries seen more than once (at least once is allowed)
	SubmitPerSec float64       // answers / submission time
	Wall         time.Duration // first submit to last arrival
	Offered      float64       // --rate, 0 for full speed
	// AnsP50..AnsP99: submit start to the axis's answer (verified and durable), for the
	// accepted packages.
	AnsP50, AnsP95, AnsP99 time.Duration
	// PubP50..PubP99 split the latency: submit start to the record timestamp of the
	// last copy (when the axis published it, by the daemon's clock, which is this
	// machine's in make bench-e2e). The rest is the loadgen's fetch from the broker.
	PubP50, PubP95, PubP99 time.Duration
	// CPUPerPkg is this process's own CPU time (user+system, all goroutines: submitting,
	// decoding answers, reading the inboxes) from the first submission until every
	// delivery was seen or given up on, per package of the corpus. On the machine that
	// also runs the axis, it is what the loadgen took from it. 0 where not measurable.
	CPUPerPkg time.Duration
}

// Ratio is e2e/verify: how much of the raw verification capacity survives end to end.
func (r Result) Ratio() float64 {
	if r.VerifyPerSec <= 0 {
		return 0
	}
	return r.E2EPerSec / r.VerifyPerSec
}

// Line is the last line of `axis loadgen` (SPEC §5).
func (r Result) Line() string {
	return fmt.Sprintf("e2e_per_s=%.1f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f verify_per_s=%.1f ratio=%.3f errors=%d lost=%d",
		r.E2EPerSec, ms(r.P50), ms(r.P95), ms(r.P99), r.VerifyPerSec, r.Ratio(), r.Errors, r.Lost)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencies sorts and summarises.
func summarise(ds []time.Duration) (p50, p95, p99 time.Duration) {
	slices.Sort(ds)
	return Percentile(ds, 50), Percentile(ds, 95), Percentile(ds, 99)
}
