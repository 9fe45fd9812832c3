package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"axis/store/audit"
)

// replayLog writes a chain of n rejection events as an export file: the lines with the
// seqs in order, in that order (nil: 1..n).
func replayLog(t *testing.T, n int, order []int) string {
	t.Helper()
	var c audit.Chain
	lines := make([][]byte, n+1)
	for i := 1; i <= n; i++ {
		e := audit.Event{Type: audit.Rejected, Time: time.Date(2026, 11, 22, 8, 0, i, 0, time.UTC), SHA256: strconv.Itoa(i), Code: "malformed_xml", Detail: "http: x"}
		lines[i] = c.Next(&e)
	}
	if order == nil {
		for i := 1; i <= n; i++ {
			order = append(order, i)
		}
	}
	var b bytes.Buffer
	for _, seq := range order {
		b.Write(lines[seq])
		b.WriteByte('\n')
	}
	f := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(f, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func span(lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

// `axis audit replay` exits 1 on a log that lost its start (--from 1 by default, first
// seq read 4), as on a chain break, and 0 when asked --from what remains; a batch the
// publisher re-sent after later ones is verified, not a break.
func TestReplayCLIHeadMissingAndResentBatch(t *testing.T) {
	headless := replayLog(t, 10, span(4, 10))
	resent := replayLog(t, 10, append(append(span(1, 3), span(7, 10)...), span(4, 10)...))
	gap := replayLog(t, 10, append(span(1, 3), span(7, 10)...))
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"head missing", []string{"--file", headless}, 1, "INCOMPLETE first_seq=4 last_seq=10: seqs 1 to 3 are not in the log"},
		{"head missing, from 2", []string{"--file", headless, "--from", "2"}, 1, "INCOMPLETE first_seq=4 last_seq=10: seqs 2 to 3"},
		{"from the first seq present", []string{"--file", headless, "--from", "4"}, 0, "OK events=7 last_seq=10"},
		{"batch re-sent", []string{"--file", resent}, 0, "OK events=10 last_seq=10"},
		{"gap never filled", []string{"--file", gap}, 1, "BROKEN first_bad_seq=4 last_good_seq=3: seq 4 missing (next line has seq 7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, nil, append([]string{"audit", "replay"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Fatalf("exit %d (want %d)\n%s%s\nwant %q", code, tc.code, out, errOut, tc.out)
			}
		})
	}
	out, errOut, code := run(t, nil, "audit", "replay", "--json", "--file", headless)
	if code != 1 || !strings.Contains(out, `"head_missing": true`) || !strings.Contains(errOut, "INCOMPLETE first_seq=4") {
		t.Fatalf("--json: exit %d\n%s%s", code, out, errOut)
	}
}
