package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// tracker records, per package, when it was submitted and when each recipient's copy
// arrived. Deliveries are at least once (SPEC §8): a copy seen again counts as a
// duplicate, not as a second arrival.
type tracker struct {
	mu        sync.Mutex
	items     []Item
	bySHA     map[string]int
	start     []time.Time // submit start (or due time in open-loop mode)
	accepted  []bool
	answerAt  []time.Time // when the axis answered
	seen      [][]bool    // per package, per recipient (index in Item.To)
	remaining []int
	doneAt    []time.Time // last recipient's arrival
	pubAt     []time.Time // latest record timestamp among its copies (when the axis published it)
	delivered int         // packages complete, accepted or not yet answered
	dups      int
	last      time.Time // latest completing arrival
}

func newTracker(items []Item) *tracker {
	t := &tracker{items: items, bySHA: make(map[string]int, len(items)), start: make([]time.Time, len(items)),
		accepted: make([]bool, len(items)), answerAt: make([]time.Time, len(items)), seen: make([][]bool, len(items)), remaining: make([]int, len(items)),
		doneAt: make([]time.Time, len(items)), pubAt: make([]time.Time, len(items))}
	for i, it := range items {
		t.bySHA[it.SHA256] = i
		t.seen[i] = make([]bool, len(it.To))
		t.remaining[i] = len(it.To)
	}
	return t
}

func (t *tracker) submitted(i int, at time.Time) {
	t.mu.Lock()
	t.start[i] = at
	t.mu.Unlock()
}

func (t *tracker) answered(i int, ok bool, at time.Time) {
	t.mu.Lock()
	t.accepted[i], t.answerAt[i] = ok, at
	t.mu.Unlock()
}

// arrive records a copy of the package with hex digest sha on recipient's inbox,
// received at and published (record timestamp) at pub. Messages that are not of this
// corpus (other traffic on the topics) are ignored.
func (t *tracker) arrive(recipient, sha string, at, pub time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.bySHA[sha]
	if !ok {
		return
	}
	j := -1
	for k, r := range t.items[i].To {
		if r == recipient {
			j = k
			break
		}
	}
	if j < 0 {
		return // routed to an agency it was not addressed to: never counted
	}
	if t.seen[i][j] {
		t.dups++
		return
	}
	t.seen[i][j] = true
	if pub.After(t.pubAt[i]) {
		t.pubAt[i] = pub
	}
	if t.remaining[i]--; t.remaining[i] == 0 {
		t.doneAt[i] = at
		t.delivered++
		if at.After(t.last) {
			t.last = at
		}
	}
}

// complete reports whether every accepted package has reached all its recipients.
func (t *tracker) complete() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, ok := range t.accepted {
		if ok && t.remaining[i] > 0 {
			return false
		}
	}
	return true
}

// tally is the outcome once submission and waiting are over.
type tally struct {
	accepted, delivered, lost, dups int
	latencies                       []time.Duration
	answers                         []time.Duration // submit start → the axis's answer (accepted ones)
	published                       []time.Duration // submit start → last copy's record timestamp
	first, last                     time.Time
}

func (t *tracker) tally() tally {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r tally
	r.dups = t.dups
	for i, ok := range t.accepted {
		if !ok {
			continue
		}
		r.accepted++
		r.answers = append(r.answers, t.answerAt[i].Sub(t.start[i]))
		if r.first.IsZero() || t.start[i].Before(r.first) {
			r.first = t.start[i]
		}
		if t.remaining[i] > 0 {
			r.lost++
			continue
		}
		r.delivered++
		r.latencies = append(r.latencies, t.doneAt[i].Sub(t.start[i]))
		r.published = append(r.published, t.pubAt[i].Sub(t.start[i]))
		if t.doneAt[i].After(r.last) {
			r.last = t.doneAt[i]
		}
	}
	return r
}

// writeCSV writes one line per submitted package, in corpus order: when it was due
// (ms since the first), and its answer, publication and delivery latencies in ms
// (empty when it has none: refused, or lost). Tails are easier to explain over time
// than as a percentile: a stall shows as a run of neighbours, a slow stage as a column.
func (t *tracker) writeCSV(w io.Writer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var t0 time.Time
	for _, s := range t.start {
		if !s.IsZero() && (t0.IsZero() || s.Before(t0)) {
			t0 = s
		}
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("package,due_ms,answer_ms,published_ms,e2e_ms,accepted\n")
	since := func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return ""
		}
		return strconv.FormatFloat(float64(a.Sub(b))/float64(time.Millisecond), 'f', 3, 64)
	}
	for i, s := range t.start {
		if s.IsZero() {
			continue // not sent (interrupted)
		}
		var e2e, pub string
		if t.accepted[i] && t.remaining[i] == 0 {
			e2e, pub = since(t.doneAt[i], s), since(t.pubAt[i], s)
		}
		fmt.Fprintf(bw, "%d,%s,%s,%s,%s,%t\n", i, since(s, t0), since(t.answerAt[i], s), pub, e2e, t.accepted[i])
	}
	return bw.Flush()
}
