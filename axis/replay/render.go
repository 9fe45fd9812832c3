package replay

import (
	"fmt"
	"io"
	"time"

	"axis/axis/internal/textout"
	"axis/envelope"
)

// WriteText writes the history for people: one block per document, one line per
// recipient with its state, one indented line per step, then the summary line.
func WriteText(w io.Writer, h *History) error {
	ew := textout.New(w)
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
			ew.Printf("DOCUMENT %s from %s sha256 %s%s (accepted before the replayed range)\n", d.DocumentID, textout.OrDash(d.From), textout.Short(d.SHA256, ""), kind)
		} else {
			ew.Printf("DOCUMENT %s from %s sha256 %s%s accepted seq %d at %s\n", d.DocumentID, d.From, textout.Short(d.SHA256, ""), kind,
				d.Accepted.Seq, stamp(d.Accepted.Time))
		}
		for _, rc := range d.Recipients {
			recall := ""
			if rc.Recall != "" {
				recall = ", recall " + string(rc.Recall)
			}
			ew.Printf("  %s: %s%s\n", rc.OrganID, rc.State, recall)
			for _, s := range rc.Steps {
				ew.Printf("    seq %-6d %s  %s\n", s.Seq, stamp(s.Time), describe(s))
			}
		}
		for _, s := range d.Statuses {
			ew.Printf("  sender: seq %d %s  %s\n", s.Seq, stamp(s.Time), describe(s))
		}
		for _, s := range d.Forwarded {
			ew.Printf("  forwarded: seq %d %s  status %s from %s -> %s\n", s.Seq, stamp(s.Time), s.Code, s.From, s.To)
		}
	}
	for _, s := range h.Rejected {
		ew.Printf("REJECTED seq %d %s %s %s: %s\n", s.Seq, stamp(s.Time), s.Code, textout.OrDash(s.SHA256), s.Detail)
	}
	if h.Skipped > 0 {
		ew.Printf("note: %d events before the requested seq were skipped\n", h.Skipped)
	}
	ew.Printf("%s\n", h.Summary())
	return ew.Err()
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
