package replay

import (
	"runtime"
	"testing"
)

// TestLineSums: sums are found by seq across chunk boundaries, from any first seq; a seq
// out of order is still kept; unknown seqs are not found.
func TestLineSums(t *testing.T) {
	var l lineSums
	sum := func(seq uint64) lineSum {
		var s lineSum
		s[0], s[1], s[15] = byte(seq), byte(seq>>8), byte(seq>>16)
		return s
	}
	const first, n = 1000, 3*lineChunk + 7
	for seq := uint64(first); seq < first+n; seq++ {
		l.add(seq, sum(seq))
	}
	l.add(5, sum(5)) // out of order
	for _, seq := range []uint64{first, first + 1, first + lineChunk - 1, first + lineChunk, first + n - 1, 5} {
		if s, ok := l.get(seq); !ok || s != sum(seq) {
			t.Errorf("seq %d: %x %v", seq, s, ok)
		}
	}
	for _, seq := range []uint64{0, first - 1, first + n, 1 << 40} {
		if _, ok := l.get(seq); ok {
			t.Errorf("seq %d found", seq)
		}
	}
}

// TestLineSumsMemory: about 16 bytes a verified line (the map it replaces took 96).
func TestLineSumsMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var l lineSums
	const n = 1 << 20
	for seq := uint64(1); seq <= n; seq++ {
		l.add(seq, lineSum{byte(seq)})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.1f bytes per line", per)
	if per > 20 {
		t.Errorf("%.1f bytes per verified line, want about 16", per)
	}
	runtime.KeepAlive(&l)
}
