package replay

import (
	"fmt"
	"io"
	"time"

	"axis/envelope"
)

// WriteText writes the history for people: one block per document, one line per
// recipient with its state, one indented line per step, then the summary line.
func WriteText(w io.Writer, h *History) error {
	ew := &errWriter{w: w}
	for _, d := range h.Documents {
		kind := ""
		switch d.BusinessCode {
		case "1":
			kind = " (revoke)"
		case "2":
			kind = " (update)"
		case "3":
			kind = " (replace)"
		}
		if d.Partial {
			ew.printf("DOCUMENT %s from %s sha256 %s%s (accepted before the replayed range)\n", d.DocumentID, orDash(d.From), short(d.SHA256), kind)
		} else {
			ew.printf("DOCUMENT %s from %s sha256 %s%s accepted seq %d at %s\n", d.DocumentID, d.From, short(d.SHA256), kind,
				d.Accepted.Seq, stamp(d.Accepted.Time))
		}
		for _, rc := range d.Recipients {
			recall := ""
			if rc.Recall != "" {
				recall = ", recall " + string(rc.Recall)
			}
			ew.printf("  %s: %s%s\n", rc.OrganID, rc.State, recall)
			for _, s := range rc.Steps {
				ew.printf("    seq %-6d %s  %s\n", s.Seq, stamp(s.Time), describe(s))
			}
		}
		for _, s := range d.Statuses {
			ew.printf("  sender: seq %d %s  %s\n", s.Seq, stamp(s.Time), describe(s))
		}
		for _, s := range d.Forwarded {
			ew.printf("  forwarded: seq %d %s  status %s from %s -> %s\n", s.Seq, stamp(s.Time), s.Code, s.From, s.To)
		}
	}
	for _, s := range h.Rejected {
		ew.printf("REJECTED seq %d %s %s %s: %s\n", s.Seq, stamp(s.Time), s.Code, orDash(s.SHA256), s.Detail)
	}
	if h.Skipped > 0 {
		ew.printf("note: %d events before the requested seq were skipped\n", h.Skipped)
	}
	ew.printf("%s\n", h.Summary())
	return ew.err
}

func describe(s Step) string {
	if s.Type == "published" {
		return "published to the inbox topic"
	}
	meaning, ok := envelope.StatusMeaning(s.Code)
	if !ok {
		meaning = "unknown code"
	}
	return fmt.Sprintf("%s %s (%s) by %s", s.Type, s.Code, meaning, s.From)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return orDash(sum)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
