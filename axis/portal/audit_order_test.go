package portal

import (
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var seqCell = regexp.MustCompile(`<td data-label="Số">(\d+)</td>`)

func seqsOf(t *testing.T, p page) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range seqCell.FindAllStringSubmatch(p.body, -1) {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		out = append(out, n)
	}
	return out
}

var prevLink = regexp.MustCompile(`<a href="([^"]+)">← Trước</a>`)

// TestFilteredAuditNewestFirst: a filtered audit page on a long log starts from the
// newest matches (an auditor looks up a recent document), and "Earlier" pages back
// through the older ones without gaps or repeats; from= still reads forward.
func TestFilteredAuditNewestFirst(t *testing.T) {
	f := newFixture(t)
	for i := range 70 {
		accept(t, f.st, doc{ID: fmt.Sprintf("000.00.00.G22,2026/11/25,%d/X", i), From: govOffice, To: []string{finance}, Subject: "x"})
	}
	c := f.signedIn(t, f.auditor)
	filter := "/audit?agency=" + url.QueryEscape(finance)
	p := c.get(filter)
	first := seqsOf(t, p)
	if len(first) != auditPage {
		t.Fatalf("%d events on the first page, want %d", len(first), auditPage)
	}
	head, _, _ := f.st.AuditHead(t.Context())
	for i := 1; i < len(first); i++ {
		if first[i] >= first[i-1] {
			t.Fatalf("not newest first: %v", first)
		}
	}
	if head-first[0] > 5 {
		t.Fatalf("the first page starts at seq %d, the head is %d: not the newest matches", first[0], head)
	}
	m := prevLink.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no link to earlier matches:\n%s", p.body)
	}
	p = c.get(html.UnescapeString(m[1]))
	older := seqsOf(t, p)
	if len(older) == 0 || older[0] >= first[len(first)-1] {
		t.Fatalf("the earlier page %v does not continue below %d", older, first[len(first)-1])
	}
	all := map[uint64]bool{}
	for _, s := range append(first, older...) {
		if all[s] {
			t.Fatalf("seq %d on both pages", s)
		}
		all[s] = true
	}
	// The fixture's own G12 document and the 70 here: every match seen, once.
	want := 0
	for seq := uint64(1); seq <= head; seq++ {
		lines, _ := f.st.AuditSince(t.Context(), seq-1, 1)
		if len(lines) == 1 && strings.Contains(string(lines[0].Line), finance) {
			want++
		}
	}
	if len(all) != want {
		t.Errorf("%d matches over both pages, want %d", len(all), want)
	}
	// Forward from seq 1: the oldest matches, shown newest first within the page.
	fwd := seqsOf(t, c.get(filter+"&from=1"))
	if len(fwd) == 0 || fwd[len(fwd)-1] != minOf(older) {
		t.Errorf("from=1 ends at %v, want the oldest match %d", fwd, minOf(older))
	}
	if p := c.get(filter + "&before=1"); p.status != 400 {
		t.Errorf("before=1: %d", p.status)
	}
	if p := c.get(filter + "&before=5&from=2"); p.status != 400 {
		t.Errorf("before with from: %d", p.status)
	}
}

func minOf(s []uint64) uint64 {
	m := s[0]
	for _, v := range s {
		m = min(m, v)
	}
	return m
}
