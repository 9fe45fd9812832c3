// Package replay rebuilds the delivery history from the audit log alone (SPEC §9):
// every line is verified against the hash chain (and checkpoint signatures, when given a
// verifier), and the verified events are folded into per-document, per-recipient
// timelines, so an auditor can compare what the axis says it did with what its read API
// shows, without trusting its database.
package replay

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"

	"axis/store"
	"axis/store/audit"
)

// Step is one audit event as it appears in a history.
type Step struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Type   string    `json:"type"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Code   string    `json:"code,omitempty"`
	SHA256 string    `json:"sha256,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Recipient is one delivery of a document, as the audit log tells it.
type Recipient struct {
	OrganID string `json:"organ_id"`
	// State follows the store's rules: pending, published, then the status codes 01–06,
	// never moving backwards.
	State  store.State  `json:"state"`
	Recall store.Recall `json:"recall,omitempty"`
	Steps  []Step       `json:"steps"`
}

// Document is one accepted package and everything that happened to it.
type Document struct {
	DocumentID   string       `json:"document_id"`
	From         string       `json:"from"`
	SHA256       string       `json:"sha256"`
	BusinessCode string       `json:"business_code,omitempty"` // 1 revoke, 2 update, 3 replace
	Accepted     Step         `json:"accepted"`
	Recipients   []*Recipient `json:"recipients"`
	// Statuses sent by the sender (13) and forwardings of every status.
	Statuses  []Step `json:"statuses,omitempty"`
	Forwarded []Step `json:"forwarded,omitempty"`
	// Partial is set for a document whose acceptance is before the replayed range.
	Partial bool `json:"partial,omitempty"`
}

func (d *Document) recipient(id string) *Recipient {
	for _, r := range d.Recipients {
		if r.OrganID == id {
			return r
		}
	}
	r := &Recipient{OrganID: id, State: store.StatePending}
	d.Recipients = append(d.Recipients, r)
	return r
}

// Counts sums the events by type.
type Counts map[audit.Type]uint64

// History is the result of a replay.
type History struct {
	Documents  []*Document  `json:"documents"`
	Rejected   []Step       `json:"rejected,omitempty"`
	Replays    []Step       `json:"replays,omitempty"`
	Counts     Counts       `json:"counts"`
	Duplicates uint64       `json:"duplicates"` // lines delivered twice by Kafka (at least once), skipped
	Skipped    uint64       `json:"skipped"`    // lines before --from
	Report     audit.Report `json:"report"`
	Break      *audit.Break `json:"break,omitempty"`
}

// Options configures a Replayer.
type Options struct {
	// From skips events before this seq (they are not verified: the first kept line's
	// prev cannot be checked, as with `audit verify` of a partial export).
	From uint64
	// Checkpoints verifies checkpoint signatures; nil checks their content only.
	Checkpoints audit.CheckpointVerifier
	// Progress, if set, is called every 100,000 verified lines (for a terminal).
	Progress func(lines uint64)
}

// Replayer folds audit lines, in order, into a History.
type Replayer struct {
	opts   Options
	v      *audit.Verifier
	h      History
	lines  map[uint64][32]byte // seq -> sha256 of every verified line, to recognise redeliveries
	bySHA  map[string]*Document
	byID   map[string][]*Document // DocumentId -> packages in acceptance order
	status map[string]*Document   // status sha256 -> the document it was applied to
}

// New returns a Replayer.
func New(opts Options) *Replayer {
	return &Replayer{opts: opts, v: audit.NewVerifier(audit.VerifyOptions{Checkpoints: opts.Checkpoints, Progress: opts.Progress}),
		h:     History{Counts: Counts{}, Documents: []*Document{}},
		lines: map[uint64][32]byte{}, bySHA: map[string]*Document{}, byID: map[string][]*Document{}, status: map[string]*Document{}}
}

// Add verifies the next line (without its newline) and applies it. After a break it
// returns the *audit.Break and applies nothing more.
func (r *Replayer) Add(line []byte) error {
	if r.h.Break != nil {
		return r.h.Break
	}
	rec, perr := audit.ParseLine(line)
	var sum [32]byte
	if perr == nil {
		if rec.Event.Seq < r.opts.From {
			r.h.Skipped++
			return nil
		}
		// Kafka delivers at least once: a line already verified, seen again byte for byte,
		// is a redelivery; anything else with a seen seq is a break.
		sum = sha256.Sum256(line)
		if h, ok := r.lines[rec.Event.Seq]; ok && h == sum {
			r.h.Duplicates++
			return nil
		}
	}
	if err := r.v.Add(line); err != nil {
		r.h.Break = r.v.Report().Break
		return err
	}
	// Verified, so it parsed above.
	r.lines[rec.Event.Seq] = sum
	r.apply(rec.Event)
	return nil
}

// History returns the history so far. The result shares memory with the Replayer.
func (r *Replayer) History() *History {
	r.h.Report = r.v.Report()
	return &r.h
}

func stepOf(e audit.Event) Step {
	return Step{Seq: e.Seq, Time: e.Time, Type: string(e.Type), From: e.From, To: e.To, Code: e.Code, SHA256: e.SHA256, Detail: e.Detail}
}

func (r *Replayer) apply(e audit.Event) {
	r.h.Counts[e.Type]++
	s := stepOf(e)
	switch e.Type {
	case audit.Accepted:
		d := &Document{DocumentID: e.DocumentID, From: e.From, SHA256: e.SHA256, BusinessCode: e.Code, Accepted: s}
		for _, to := range splitList(e.To) {
			d.recipient(to)
		}
		r.h.Documents = append(r.h.Documents, d)
		r.bySHA[e.SHA256] = d
		r.byID[e.DocumentID] = append(r.byID[e.DocumentID], d)
	case audit.Published:
		d := r.bySHA[e.SHA256]
		if d == nil {
			d = r.placeholder(e.DocumentID, e.From, e.SHA256)
		}
		rc := d.recipient(e.To)
		rc.Steps = append(rc.Steps, s)
		if store.StatePublished.Rank() > rc.State.Rank() {
			rc.State = store.StatePublished
		}
	case audit.Status:
		d := r.statusTarget(e)
		r.status[e.SHA256] = d
		if e.Code == store.CodeRecallRequest {
			d.Statuses = append(d.Statuses, s)
			for _, rc := range d.Recipients {
				applyStatus(rc, s)
			}
			return
		}
		applyStatus(d.recipient(e.From), s)
	case audit.Recall:
		// Written right after the status event it repeats; the status already applied it.
	case audit.Forwarded:
		d := r.status[e.SHA256]
		if d == nil {
			d = r.statusTarget(e)
		}
		d.Forwarded = append(d.Forwarded, s)
	case audit.Rejected:
		r.h.Rejected = append(r.h.Rejected, s)
	case audit.Replay:
		r.h.Replays = append(r.h.Replays, s)
	}
}

// statusTarget mirrors the store: a status applies to the most recent package under its
// DocumentId that the status sender is a party to (its sender for 13, else a recipient).
func (r *Replayer) statusTarget(e audit.Event) *Document {
	docs := r.byID[e.DocumentID]
	for i := len(docs) - 1; i >= 0; i-- {
		d := docs[i]
		if e.Code == store.CodeRecallRequest && d.From == e.From {
			return d
		}
		if e.Code != store.CodeRecallRequest && slices.ContainsFunc(d.Recipients, func(rc *Recipient) bool { return rc.OrganID == e.From }) {
			return d
		}
	}
	if len(docs) > 0 && e.Type == audit.Forwarded {
		return docs[len(docs)-1]
	}
	sender := ""
	if e.Code == store.CodeRecallRequest {
		sender = e.From
	}
	return r.placeholder(e.DocumentID, sender, "")
}

// placeholder stands for a document accepted before the replayed range.
func (r *Replayer) placeholder(id, from, sum string) *Document {
	for _, d := range r.byID[id] {
		if d.Partial && (sum == "" || d.SHA256 == sum || d.SHA256 == "") {
			if d.SHA256 == "" {
				d.SHA256 = sum
			}
			return d
		}
	}
	d := &Document{DocumentID: id, From: from, SHA256: sum, Partial: true}
	r.h.Documents = append(r.h.Documents, d)
	r.byID[id] = append(r.byID[id], d)
	if sum != "" {
		r.bySHA[sum] = d
	}
	return d
}

// applyStatus appends a status and moves the state forward only (store.applyStatus).
func applyStatus(rc *Recipient, s Step) {
	rc.Steps = append(rc.Steps, s)
	if st := store.StateOfCode(s.Code); st != "" && st.Rank() > rc.State.Rank() {
		rc.State = st
	}
	var rcl store.Recall
	switch s.Code {
	case store.CodeRecallRequest:
		rcl = store.RecallRequested
	case store.CodeRecallAgreed:
		rcl = store.RecallAgreed
	case store.CodeRecallRefused:
		rcl = store.RecallRefused
	}
	if recallRank(rcl) > recallRank(rc.Recall) {
		rc.Recall = rcl
	}
}

func recallRank(r store.Recall) int {
	switch r {
	case store.RecallRequested:
		return 1
	case store.RecallAgreed, store.RecallRefused:
		return 2
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Summary is the one-line outcome of a replay.
func (h *History) Summary() string {
	rep := h.Report
	if h.Break != nil {
		return fmt.Sprintf("BROKEN first_bad_seq=%d last_good_seq=%d: %s", h.Break.Seq, rep.LastSeq, h.Break.Reason)
	}
	return fmt.Sprintf("OK events=%d last_seq=%d documents=%d published=%d statuses=%d forwarded=%d recalls=%d rejected=%d checkpoints=%d duplicates=%d",
		rep.Events, rep.LastSeq, len(h.Documents), h.Counts[audit.Published], h.Counts[audit.Status], h.Counts[audit.Forwarded],
		h.Counts[audit.Recall], h.Counts[audit.Rejected], rep.Checkpoints, h.Duplicates)
}
