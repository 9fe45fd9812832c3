package loadgen

import (
	"regexp"
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"one p50", ms(7), 50, 7 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p95 of 1..100", ms(hundred...), 95, 95 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p100 of 1..100", ms(hundred...), 100, 100 * time.Millisecond},
		// Nearest rank: ceil(0.5*4) = 2nd value, not an interpolation.
		{"p50 of four", ms(10, 20, 30, 40), 50, 20 * time.Millisecond},
		{"p51 of four", ms(10, 20, 30, 40), 51, 30 * time.Millisecond},
		// p99 of 10 values is the largest: fewer than 100 samples cannot show a 1% tail.
		{"p99 of ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 1000), 99, time.Second},
		{"p90 of ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 1000), 90, 9 * time.Millisecond},
		{"tiny p", ms(5, 6), 0.001, 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.ds, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %g) = %v, want %v", tt.ds, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummariseSorts(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	p50, p95, p99 := summarise(ds)
	if p50 != 3 || p95 != 5 || p99 != 5 {
		t.Fatalf("summarise = %v %v %v, want 3 5 5", p50, p95, p99)
	}
	if !slices.IsSorted(ds) {
		t.Fatal("not sorted")
	}
}

// lineRE is SPEC §5's last line, exactly.
var lineRE = regexp.MustCompile(`^e2e_per_s=([0-9]+(\.[0-9]+)?) p50_ms=([0-9]+(\.[0-9]+)?) p95_ms=([0-9]+(\.[0-9]+)?) p99_ms=([0-9]+(\.[0-9]+)?) verify_per_s=([0-9]+(\.[0-9]+)?) ratio=([0-9]+(\.[0-9]+)?) errors=([0-9]+) lost=([0-9]+)$`)

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{"typical", Result{E2EPerSec: 2345.678, P50: 12345 * time.Microsecond, P95: 40 * time.Millisecond,
			P99: 49990 * time.Microsecond, VerifyPerSec: 4000, Errors: 0, Lost: 0},
			"e2e_per_s=2345.7 p50_ms=12.35 p95_ms=40.00 p99_ms=49.99 verify_per_s=4000.0 ratio=0.586 errors=0 lost=0"},
		{"nothing delivered", Result{VerifyPerSec: 0, Errors: 3, Lost: 7},
			"e2e_per_s=0.0 p50_ms=0.00 p95_ms=0.00 p99_ms=0.00 verify_per_s=0.0 ratio=0.000 errors=3 lost=7"},
		{"faster than verify", Result{E2EPerSec: 300, VerifyPerSec: 200},
			"e2e_per_s=300.0 p50_ms=0.00 p95_ms=0.00 p99_ms=0.00 verify_per_s=200.0 ratio=1.500 errors=0 lost=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.Line()
			if got != tt.want {
				t.Errorf("Line() =\n %s\nwant\n %s", got, tt.want)
			}
			if !lineRE.MatchString(got) {
				t.Errorf("Line() %q does not match the SPEC §5 format", got)
			}
		})
	}
}
