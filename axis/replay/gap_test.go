package replay

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"axis/store/audit"
)

// rejectedLines is a chain of n rejection events (seq 1..n).
func rejectedLines(t testing.TB, n int) [][]byte {
	t.Helper()
	evs := make([]audit.Event, n)
	for i := range evs {
		evs[i] = audit.Event{Type: audit.Rejected, SHA256: strconv.Itoa(i), Code: "malformed_xml", Detail: "http: x"}
	}
	return chainLines(t, evs)
}

// seqs returns the lines with seqs lo..hi (1-based, inclusive).
func seqs(lines [][]byte, lo, hi int) [][]byte { return lines[lo-1 : hi] }

func cat(parts ...[][]byte) [][]byte {
	var out [][]byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// A producer that writes a page as concurrent batches (the axis did, with kafka-go's
// Writer, until session 10, and audit topics it wrote are still replayed) may write later
// batches after a failed one and then re-send from the failed one. Lines ahead of a gap
// are held until it fills; a gap that never fills, a second line for a held seq, or more
// held lines than the bound allows, is a break at the missing seq.
func TestReplayHoldsLinesAheadOfAGap(t *testing.T) {
	l := rejectedLines(t, 300)
	altered101 := bytes.Replace(l[100], []byte(`"sha256":"100"`), []byte(`"sha256":"999"`), 1)
	forged250 := bytes.Replace(l[249], []byte(`"sha256":"249"`), []byte(`"sha256":"999"`), 1)
	for _, tc := range []struct {
		name   string
		in     [][]byte
		opts   Options
		events uint64
		dups   uint64
		bad    uint64 // 0: no break
		reason string
		not    string // not in the break's reason
	}{
		{"batch re-sent after later ones", cat(seqs(l, 1, 100), seqs(l, 201, 300), seqs(l, 101, 300)), Options{}, 300, 100, 0, "", ""},
		{"first batch failed", cat(seqs(l, 101, 200), seqs(l, 1, 200), seqs(l, 201, 300)), Options{}, 300, 100, 0, "", ""},
		{"two gaps", cat(seqs(l, 1, 50), seqs(l, 101, 150), seqs(l, 201, 300), seqs(l, 51, 100), seqs(l, 151, 200)), Options{}, 300, 0, 0, "", ""},
		{"redelivered while held", cat(seqs(l, 1, 100), seqs(l, 201, 300), seqs(l, 201, 300), seqs(l, 101, 300)), Options{}, 300, 200, 0, "", ""},
		{"gap never filled", cat(seqs(l, 1, 100), seqs(l, 201, 300)), Options{}, 100, 0, 101, "seq 101 missing (next line has seq 201)", ""},
		{"another line for a held seq", cat(seqs(l, 1, 100), seqs(l, 201, 300), [][]byte{forged250}, seqs(l, 101, 300)), Options{}, 250, 0, 251,
			"seq 250 where 251 expected", ""},
		{"another line for a verified seq", cat(seqs(l, 1, 100), [][]byte{bytes.Replace(l[49], []byte(`"sha256":"49"`), []byte(`"sha256":"999"`), 1)}, seqs(l, 101, 300)),
			Options{}, 100, 0, 101, "seq 50 where 101 expected", ""},
		{"more lines held than allowed", cat(seqs(l, 1, 100), seqs(l, 201, 300), seqs(l, 101, 300)), Options{HoldLines: 99}, 100, 0, 101,
			"seq 101 missing (next line has seq 201), and 100 lines with later seqs", ""},
		{"more bytes held than allowed", cat(seqs(l, 1, 100), seqs(l, 201, 300), seqs(l, 101, 300)), Options{HoldBytes: 50 * len(l[0])}, 100, 0, 101,
			"more than this replay holds (100000 lines, ", ""},
		{"bound reached before the start", cat(seqs(l, 101, 300)), Options{HoldLines: 10}, 200, 0, 0, "", ""},
		{"bound reached before the start, first line altered", cat([][]byte{altered101}, seqs(l, 102, 300)), Options{HoldLines: 10}, 0, 0, 101,
			"hash mismatch", "read without it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := replay(t, joinLines(tc.in), tc.opts)
			if tc.bad == 0 && h.Break != nil {
				t.Fatalf("%s", h.Summary())
			}
			if tc.bad != 0 && (h.Break == nil || h.Break.Seq != tc.bad || !strings.Contains(h.Break.Reason, tc.reason) ||
				(tc.not != "" && strings.Contains(h.Break.Reason, tc.not))) {
				t.Fatalf("%s, want a break at %d: %s", h.Summary(), tc.bad, tc.reason)
			}
			if h.Report.Events != tc.events || (tc.bad == 0 && h.Duplicates != tc.dups) {
				t.Fatalf("%d events %d duplicates, want %d and %d: %s", h.Report.Events, h.Duplicates, tc.events, tc.dups, h.Summary())
			}
			if tc.bad == 0 && h.OK() != (h.Report.FirstSeq == 1) {
				t.Fatalf("OK %v with first seq %d: %s", h.OK(), h.Report.FirstSeq, h.Summary())
			}
			// Events are applied in seq order, whatever the order read.
			for i, s := range h.Rejected {
				if s.Seq != uint64(i)+h.Report.FirstSeq {
					t.Fatalf("step %d has seq %d", i, s.Seq)
				}
			}
		})
	}
}

// A log whose first seq is after the one asked for lost its start (the broker's
// retention deleted it): it is not verified from there, which History.OK and the summary
// say, unless the replay starts at or after what remains.
func TestReplayHeadMissing(t *testing.T) {
	l := chainLines(t, journey())
	for _, tc := range []struct {
		name    string
		in      [][]byte
		from    uint64
		missing bool
		skipped uint64
	}{
		{"whole log", l, 0, false, 0},
		{"whole log from 1", l, 1, false, 0},
		{"head deleted", l[3:], 0, true, 0},
		{"head deleted, from 1", l[3:], 1, true, 0},
		{"head deleted, from before what remains", l[3:], 3, true, 0},
		{"from the first seq present", l[3:], 4, false, 0},
		{"from after the first seq present", l[3:], 6, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := replay(t, joinLines(tc.in), Options{From: tc.from})
			if h.Break != nil || h.HeadMissing != tc.missing || h.OK() == tc.missing || h.Skipped != tc.skipped {
				t.Fatalf("head missing %v OK %v skipped %d: %s", h.HeadMissing, h.OK(), h.Skipped, h.Summary())
			}
			if h.From != max(tc.from, 1) {
				t.Fatalf("From %d", h.From)
			}
			sum := h.Summary()
			if tc.missing && !strings.HasPrefix(sum, "INCOMPLETE first_seq=4 last_seq=13: seqs "+strconv.FormatUint(h.From, 10)+" to 3 are not in the log") {
				t.Fatalf("summary %q", sum)
			}
			if !tc.missing && !strings.HasPrefix(sum, "OK events=") {
				t.Fatalf("summary %q", sum)
			}
		})
	}
}
