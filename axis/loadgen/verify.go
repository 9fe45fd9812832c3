package loadgen

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"axis/axis/errs"
	"axis/axis/verify"
)

// MinVerifyTime is how long MeasureVerify runs at least: a small corpus is verified
// several times over so that the rate is not a few milliseconds' noise.
const MinVerifyTime = time.Second

// MeasureVerify verifies every item with chk on workers goroutines (default
// GOMAXPROCS), passing over the corpus until MinVerifyTime has gone by, and returns
// verifications per second. Any refusal is an error: the corpus must be valid for the
// figure to mean anything, and it is checked here before a single byte is submitted.
func MeasureVerify(ctx context.Context, chk *verify.Checker, items []Item, workers int) (float64, error) {
	if len(items) == 0 {
		return 0, errs.E(errs.BadRequest, "empty corpus")
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		checked  atomic.Int64
		failed   atomic.Pointer[error]
		start    = time.Now()
		deadline = start.Add(MinVerifyTime)
	)
	for pass := 0; ; pass++ {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && failed.Load() == nil {
					i := int(next.Add(1) - 1)
					if i >= len(items) {
						return
					}
					res, err := chk.Check(items[i].Bytes)
					if err == nil && res.DocumentID != items[i].DocumentID {
						err = errs.E(errs.Internal, "package %d verified as %s, built as %s", i, res.DocumentID, items[i].DocumentID)
					}
					if err != nil {
						if pass == 0 {
							err = errs.Wrap(errs.CodeOf(err), err, "the corpus does not verify (package %d, %s)", i, items[i].DocumentID)
						}
						failed.CompareAndSwap(nil, &err)
						return
					}
					checked.Add(1)
				}
			}()
		}
		wg.Wait()
		if p := failed.Load(); p != nil {
			return 0, *p
		}
		if err := ctx.Err(); err != nil {
			return 0, errs.Wrap(errs.Unavailable, err, "verification interrupted")
		}
		if time.Now().After(deadline) {
			break
		}
	}
	return float64(checked.Load()) / time.Since(start).Seconds(), nil
}
