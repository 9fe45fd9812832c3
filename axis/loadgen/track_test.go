package loadgen

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTracker(t *testing.T) {
	items := []Item{
		{DocumentID: "a", SHA256: "sa", To: []string{"r1", "r2"}},
		{DocumentID: "b", SHA256: "sb", To: []string{"r1"}},
		{DocumentID: "c", SHA256: "sc", To: []string{"r2", "r3"}},
		{DocumentID: "d", SHA256: "sd", To: []string{"r1"}}, // refused
	}
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tr := newTracker(items)
	for i := range items {
		tr.submitted(i, at(i))
	}
	tr.answered(0, true, at(4))  // answered 4 ms after submission
	tr.answered(1, true, at(3))  // 2 ms
	tr.answered(2, true, at(9))  // 7 ms
	tr.answered(3, false, at(8)) // refused: not an accepted package's answer

	tr.arrive("r1", "sa", at(10), at(5))
	if tr.complete() {
		t.Fatal("complete with a recipient of a missing")
	}
	tr.arrive("r1", "sa", at(11), at(6))    // duplicate copy: at least once
	tr.arrive("r3", "sa", at(12), at(7))    // not addressed to r3: ignored
	tr.arrive("r2", "other", at(12), at(7)) // not this corpus: ignored
	tr.arrive("r2", "sa", at(30), at(25))   // a complete, latency 30 ms
	tr.arrive("r1", "sb", at(21), at(16))   // b complete, latency 20 ms
	tr.arrive("r2", "sc", at(40), at(35))   // c still waits for r3
	if tr.complete() {
		t.Fatal("complete while c misses r3")
	}
	got := tr.tally()
	if got.accepted != 3 || got.delivered != 2 || got.lost != 1 || got.dups != 1 {
		t.Fatalf("tally = %+v, want 3 accepted, 2 delivered, 1 lost, 1 duplicate", got)
	}
	if !got.first.Equal(at(0)) || !got.last.Equal(at(30)) {
		t.Fatalf("first %v last %v, want %v and %v", got.first, got.last, at(0), at(30))
	}
	// Published: the last copy's record timestamp, 5 ms before each arrival here.
	if len(got.published) != 2 || got.published[0]+got.published[1] != 40*time.Millisecond {
		t.Fatalf("published %v, want 25ms and 15ms", got.published)
	}
	if slices.Sort(got.answers); !slices.Equal(got.answers, []time.Duration{2 * time.Millisecond, 4 * time.Millisecond, 7 * time.Millisecond}) {
		t.Fatalf("answers %v, want 2, 4 and 7 ms (the refused one left out)", got.answers)
	}
	want := map[time.Duration]bool{30 * time.Millisecond: true, 20 * time.Millisecond: true}
	for _, l := range got.latencies {
		if !want[l] {
			t.Fatalf("latencies %v, want 30ms and 20ms", got.latencies)
		}
		delete(want, l)
	}
	tr.arrive("r3", "sc", at(50), at(45))
	if !tr.complete() {
		t.Fatal("not complete with every accepted package delivered (the refused one does not count)")
	}
	if got := tr.tally(); got.lost != 0 || got.delivered != 3 || !got.last.Equal(at(50)) {
		t.Fatalf("tally = %+v", got)
	}
	var csv strings.Builder
	if err := tr.writeCSV(&csv); err != nil {
		t.Fatal(err)
	}
	wantCSV := `package,due_ms,answer_ms,published_ms,e2e_ms,accepted
0,0.000,4.000,25.000,30.000,true
1,1.000,2.000,15.000,20.000,true
2,2.000,7.000,43.000,48.000,true
3,3.000,5.000,,,false
`
	if csv.String() != wantCSV {
		t.Fatalf("CSV:\n%s\nwant:\n%s", csv.String(), wantCSV)
	}
}
