// Package backoff computes retry delays for the bus implementations.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff with jitter between Min and Max.
type Policy struct {
	Min, Max time.Duration
}

// Delay is the wait before retry number attempt (0 for the first retry): Min doubled
// attempt times, capped at Max, minus up to a quarter of jitter so that many retrying
// clients do not hammer a recovering broker in step.
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Min
	for i := 0; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if d <= 0 {
		return 0
	}
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// Sleep waits for d or until ctx is done, and reports whether the full wait elapsed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
