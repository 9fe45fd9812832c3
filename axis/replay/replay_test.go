package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"axis/store"
	"axis/store/audit"
	"axis/store/audit/audittest"
)

const (
	docID = "000.00.00.G22,2026/11/22,1234/NĐ-CP"
	g22   = "000.00.00.G22"
	g01   = "000.00.00.G01"
	h41   = "000.00.00.H41"
)

var (
	t0     = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	pkgSHA = strings.Repeat("ab", 32)
)

// journey is a delivery to two recipients: arrivals, processing, a late 01 that must not
// move a state back, a recall negotiation, a forwarding and a rejection.
func journey() []audit.Event {
	ev := func(typ audit.Type, from, to, code, sum string) audit.Event {
		return audit.Event{Type: typ, DocumentID: docID, From: from, To: to, Code: code, SHA256: sum}
	}
	return []audit.Event{
		ev(audit.Accepted, g22, g01+","+h41, "", pkgSHA),
		ev(audit.Published, g22, g01, "", pkgSHA),
		ev(audit.Published, g22, h41, "", pkgSHA),
		ev(audit.Status, g01, g22, "01", "s1"),
		ev(audit.Forwarded, g01, g22, "01", "s1"),
		ev(audit.Status, g01, g22, "05", "s2"),
		ev(audit.Status, g01, g22, "01", "s3"), // late and older: kept, state stays processing
		ev(audit.Status, h41, g22, "03", "s4"),
		ev(audit.Status, g22, g01+","+h41, "13", "s5"),
		ev(audit.Recall, g22, g01+","+h41, "13", "s5"),
		ev(audit.Status, h41, g22, "15", "s6"),
		ev(audit.Recall, h41, g22, "15", "s6"),
		{Type: audit.Rejected, SHA256: strings.Repeat("cd", 32), Code: "signature_invalid", Detail: "http: bad"},
	}
}

func chainLines(t testing.TB, evs []audit.Event) [][]byte {
	t.Helper()
	var c audit.Chain
	var out [][]byte
	for i := range evs {
		evs[i].Time = t0.Add(time.Duration(i) * time.Second)
		out = append(out, c.Next(&evs[i]))
	}
	return out
}

func joinLines(lines [][]byte) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func replay(t *testing.T, in []byte, o Options) *History {
	t.Helper()
	h, err := Run(context.Background(), Reader{bytes.NewReader(in)}, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestReplayRebuildsHistory(t *testing.T) {
	lines := chainLines(t, journey())
	h := replay(t, joinLines(lines), Options{})
	if h.Break != nil || len(h.Documents) != 1 || h.Report.LastSeq != 13 {
		t.Fatalf("break %v, %d documents, last %d", h.Break, len(h.Documents), h.Report.LastSeq)
	}
	d := h.Documents[0]
	if d.DocumentID != docID || d.From != g22 || d.Accepted.Seq != 1 || len(d.Recipients) != 2 {
		t.Fatalf("%+v", d)
	}
	want := map[string]struct {
		state  store.State
		recall store.Recall
		steps  int
	}{
		g01: {store.StateProcessing, store.RecallRequested, 5}, // published, 01, 05, 01 (late), 13
		h41: {store.StateAccepted, store.RecallAgreed, 4},      // published, 03, 13, 15
	}
	for _, rc := range d.Recipients {
		w := want[rc.OrganID]
		if rc.State != w.state || rc.Recall != w.recall || len(rc.Steps) != w.steps {
			t.Errorf("%s: %s/%s with %d steps, want %+v", rc.OrganID, rc.State, rc.Recall, len(rc.Steps), w)
		}
	}
	if len(d.Statuses) != 1 || d.Statuses[0].Code != "13" || len(d.Forwarded) != 1 || d.Forwarded[0].Seq != 5 {
		t.Fatalf("statuses %+v forwarded %+v", d.Statuses, d.Forwarded)
	}
	if len(h.Rejected) != 1 || h.Counts[audit.Status] != 6 || h.Counts[audit.Recall] != 2 {
		t.Fatalf("rejected %d counts %v", len(h.Rejected), h.Counts)
	}
	var out bytes.Buffer
	if err := WriteText(&out, h); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, s := range []string{"DOCUMENT " + docID + " from " + g22, "  " + g01 + ": processing, recall requested",
		"status 05 (processing) by " + g01, "forwarded: seq 5", "REJECTED seq 13", "OK events=13 last_seq=13 documents=1 published=2 statuses=6"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
	if _, err := json.Marshal(h); err != nil {
		t.Fatal(err)
	}
}

// Kafka redelivers: a run of lines published twice is skipped, the history is unchanged.
func TestReplaySkipsRedeliveries(t *testing.T) {
	lines := chainLines(t, journey())
	dup := append(append(append([][]byte{}, lines[:8]...), lines[5:8]...), lines[8:]...)
	h := replay(t, joinLines(dup), Options{})
	if h.Break != nil || h.Duplicates != 3 || h.Report.Events != 13 || len(h.Documents[0].Recipients[0].Steps) != 5 {
		t.Fatalf("break %v dup %d events %d", h.Break, h.Duplicates, h.Report.Events)
	}
}

func TestReplayDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func([][]byte) [][]byte
		bad    uint64
	}{
		{"altered event", func(l [][]byte) [][]byte {
			l[6] = bytes.Replace(l[6], []byte(`"code":"01"`), []byte(`"code":"06"`), 1)
			return l
		}, 7},
		{"removed event", func(l [][]byte) [][]byte { return append(l[:3], l[4:]...) }, 4},
		{"forged line for a seen seq", func(l [][]byte) [][]byte {
			forged := bytes.Replace(l[2], []byte(h41), []byte("000.00.00.H49"), 1)
			return append(append(append([][]byte{}, l[:4]...), forged), l[4:]...)
		}, 5},
		{"garbage", func(l [][]byte) [][]byte { l[9] = []byte("{not json"); return l }, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := chainLines(t, journey())
			h := replay(t, joinLines(tc.mutate(lines)), Options{})
			if h.Break == nil || h.Break.Seq != tc.bad {
				t.Fatalf("break %+v, want first bad seq %d", h.Break, tc.bad)
			}
			if !strings.HasPrefix(h.Summary(), "BROKEN first_bad_seq=") || h.Report.LastSeq != tc.bad-1 {
				t.Fatalf("summary %q", h.Summary())
			}
		})
	}
}

// Checkpoints are verified with the given verifier: one signed by another key is a break.
func TestReplayCheckpoints(t *testing.T) {
	good, other := audittest.NewSigner(1), audittest.NewSigner(2)
	build := func(s *audittest.Signer) []byte {
		evs := journey()
		var c audit.Chain
		var lines [][]byte
		for i := range evs {
			evs[i].Time = t0
			lines = append(lines, c.Next(&evs[i]))
		}
		cp, err := audit.NewCheckpoint(c.Seq, c.Hash, t0, s)
		if err != nil {
			t.Fatal(err)
		}
		return joinLines(append(lines, c.Next(&cp)))
	}
	opts := Options{Checkpoints: audit.VerifierFunc(good.Verifier())}
	if h := replay(t, build(good), opts); h.Break != nil || h.Report.Checkpoints != 1 || h.Report.LastCheckpoint != 14 {
		t.Fatalf("break %v, report %+v", h.Break, h.Report)
	}
	if h := replay(t, build(other), opts); h.Break == nil || h.Break.Seq != 14 {
		t.Fatalf("a checkpoint signed by another key must break at seq 14: %+v", h.Break)
	}
}

func TestReplayFrom(t *testing.T) {
	lines := chainLines(t, journey())
	h := replay(t, joinLines(lines), Options{From: 4})
	if h.Break != nil || h.Skipped != 3 || len(h.Documents) != 1 || !h.Documents[0].Partial {
		t.Fatalf("break %v skipped %d docs %+v", h.Break, h.Skipped, h.Documents)
	}
	var g01State store.State
	for _, rc := range h.Documents[0].Recipients {
		if rc.OrganID == g01 {
			g01State = rc.State
		}
	}
	if g01State != store.StateProcessing {
		t.Fatalf("g01 %s", g01State)
	}
}

func FuzzReplay(f *testing.F) {
	lines := chainLines(f, journey())
	f.Add(joinLines(lines))
	f.Add(joinLines(lines[3:]))
	f.Add([]byte("{}\n\n{\"event\":{}}"))
	f.Add(joinLines(cat(lines[:3], lines[6:9], lines[3:]))) // a batch re-sent after later ones
	f.Add(joinLines(cat(lines[:3], lines[6:9], lines[4:]))) // a gap never filled
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := Run(context.Background(), Reader{bytes.NewReader(in)}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		nonEmpty := 0
		for _, l := range bytes.Split(in, []byte("\n")) {
			if len(l) > 0 {
				nonEmpty++
			}
		}
		// Every non-empty line is verified, skipped as a redelivery, or the break.
		if h.Break == nil && h.Report.Events+h.Duplicates != uint64(nonEmpty) {
			t.Fatalf("%d lines, %d events, %d duplicates, no break: %q", nonEmpty, h.Report.Events, h.Duplicates, in)
		}
		// OK means verified from seq 1 on.
		if h.OK() && h.Report.Events > 0 && h.Report.FirstSeq != 1 {
			t.Fatalf("OK from seq %d: %q", h.Report.FirstSeq, in)
		}
		var out bytes.Buffer
		if err := WriteText(&out, h); err != nil {
			t.Fatal(err)
		}
	})
}
