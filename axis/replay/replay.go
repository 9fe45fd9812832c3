// Package replay rebuilds the delivery history from the audit log alone (SPEC §9):
// every line is verified against the hash chain (and checkpoint signatures, when given a
// verifier), and the verified events are folded into per-document, per-recipient
// timelines, so an auditor can compare what the axis says it did with what its read API
// shows, without trusting its database.
package replay

import (
	"bytes"
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
	Documents  []*Document `json:"documents"`
	Rejected   []Step      `json:"rejected,omitempty"`
	Replays    []Step      `json:"replays,omitempty"`
	Counts     Counts      `json:"counts"`
	Duplicates uint64      `json:"duplicates"` // lines delivered twice by Kafka (at least once), skipped
	Skipped    uint64      `json:"skipped"`    // lines before --from
	// From is the first seq asked for (at least 1). HeadMissing is set when the first
	// seq read is after it: the start of the log is gone (e.g. deleted by the topic's
	// retention), and what remains cannot be verified from From.
	From        uint64       `json:"from"`
	HeadMissing bool         `json:"head_missing,omitempty"`
	Report      audit.Report `json:"report"`
	Break       *audit.Break `json:"break,omitempty"`
}

// OK reports whether the log verified from From to its end: no break, no lost start.
func (h *History) OK() bool { return h.Break == nil && !h.HeadMissing }

// Options configures a Replayer.
type Options struct {
	// From skips events before this seq (they are not verified: the first kept line's
	// prev cannot be checked, as with `audit verify` of a partial export).
	From uint64
	// Checkpoints verifies checkpoint signatures; nil checks their content only.
	Checkpoints audit.CheckpointVerifier
	// Progress, if set, is called every 100,000 verified lines (for a terminal).
	Progress func(lines uint64)
	// HoldLines and HoldBytes bound the lines held while a seq is missing (defaults
	// DefaultHoldLines and DefaultHoldBytes); past either, the missing seq is a break.
	HoldLines int
	HoldBytes int
}

// The hold bounds. A gap written by a benign failure is at most one publisher page
// (1000 lines): one kafka-go batch of a Publish failed, the later ones were written,
// and Publish re-sent from the failed batch on right after. 100,000 lines is a hundred
// such pages; 256 MiB caps memory when the lines are large (checkpoints, long details),
// and still holds four lines of audit.MaxLine.
const (
	DefaultHoldLines = 100_000
	DefaultHoldBytes = 256 << 20
)

// Replayer folds audit lines, in order, into a History.
//
// The audit topic is in seq order except where the publisher re-sent part of a page: one
// Publish is written as several kafka-go batches, and when one fails the later ones may
// still be written before Publish re-sends from the failed one, so the topic can read
// 1..100, 201..300, 101..300. Lines ahead of the next expected seq are therefore held
// (within Options.HoldLines and HoldBytes) until the gap fills; a gap still open at the
// end of the input (Flush), or once the bound is reached, is a break at the missing seq.
type Replayer struct {
	opts   Options
	from   uint64 // the first seq expected: opts.From, at least 1
	v      *audit.Verifier
	h      History
	lines  lineSums // every verified line's sha256 (prefix), to recognise redeliveries
	bySHA  map[string]*Document
	byID   map[string][]*Document // DocumentId -> packages in acceptance order
	status map[string]*Document   // status sha256 -> the document it was applied to

	held      map[uint64]heldLine // seq -> a line read before the seq expected next
	heldBytes int
	// conflict holds a second, different line for a held seq: once the held one is
	// verified, it is fed to the verifier as the line for a seq already seen (a break).
	conflict map[uint64][]byte
}

type heldLine struct {
	line []byte
	sum  [32]byte
}

// New returns a Replayer.
func New(opts Options) *Replayer {
	if opts.HoldLines <= 0 {
		opts.HoldLines = DefaultHoldLines
	}
	if opts.HoldBytes <= 0 {
		opts.HoldBytes = DefaultHoldBytes
	}
	return &Replayer{opts: opts, from: max(opts.From, 1),
		v:     audit.NewVerifier(audit.VerifyOptions{Checkpoints: opts.Checkpoints, Progress: opts.Progress}),
		h:     History{Counts: Counts{}, Documents: []*Document{}},
		bySHA: map[string]*Document{}, byID: map[string][]*Document{}, status: map[string]*Document{},
		held: map[uint64]heldLine{}, conflict: map[uint64][]byte{}}
}

// next is the seq the chain continues with.
func (r *Replayer) next() uint64 {
	if rep := r.v.Report(); rep.Events > 0 {
		return rep.LastSeq + 1
	}
	return r.from
}

// Add verifies the next line (without its newline) and applies it, or holds it while an
// earlier seq is missing. After a break it returns the *audit.Break and applies nothing
// more. Call Flush at the end of the input.
func (r *Replayer) Add(line []byte) error {
	if r.h.Break != nil {
		return r.h.Break
	}
	rec, perr := audit.ParseLine(line)
	if perr != nil {
		return r.verify(line, rec) // the verifier reports it as the break at the seq expected
	}
	seq := rec.Event.Seq
	if seq < r.opts.From {
		r.h.Skipped++
		return nil
	}
	// Kafka delivers at least once: a line already verified (or held), seen again byte
	// for byte, is a redelivery; anything else with a seen seq is a break.
	sum := sha256.Sum256(line)
	if h, ok := r.lines.get(seq); ok {
		if h == lineSumOf(sum) {
			r.h.Duplicates++
			return nil
		}
		return r.verify(line, rec)
	}
	next := r.next()
	if seq <= next { // the next line, or one before a partial log's start: the verifier decides
		if err := r.verify(line, rec); err != nil {
			return err
		}
		return r.drain()
	}
	if h, ok := r.held[seq]; ok {
		if h.sum == sum {
			r.h.Duplicates++
		} else if _, ok := r.conflict[seq]; !ok {
			r.conflict[seq] = bytes.Clone(line)
			r.heldBytes += len(line)
		}
		return r.overflow()
	}
	r.held[seq] = heldLine{line: bytes.Clone(line), sum: sum}
	r.heldBytes += len(line)
	return r.overflow()
}

// verify feeds one line to the verifier and applies it. rec is line parsed (or not: then
// the verifier fails on it too).
func (r *Replayer) verify(line []byte, rec audit.Record) error {
	if err := r.v.Add(line); err != nil {
		r.h.Break = r.v.Report().Break
		return err
	}
	r.lines.add(rec.Event.Seq, lineSumOf(sha256.Sum256(line)))
	r.apply(rec.Event)
	if c, ok := r.conflict[rec.Event.Seq]; ok {
		// Another line was read for this seq: it is not a redelivery.
		delete(r.conflict, rec.Event.Seq)
		r.heldBytes -= len(c)
		return r.verify(c, audit.Record{})
	}
	return nil
}

// drain verifies the held lines that now follow the chain.
func (r *Replayer) drain() error {
	for {
		seq := r.next()
		h, ok := r.held[seq]
		if !ok {
			return nil
		}
		delete(r.held, seq)
		r.heldBytes -= len(h.line)
		rec, _ := audit.ParseLine(h.line) // parsed when held
		if err := r.verify(h.line, rec); err != nil {
			return err
		}
	}
}

// overflow ends the wait for a missing seq once the hold is full. Before any line is
// verified, the log is taken to start at the lowest seq held (the start is missing: see
// History.HeadMissing); after, the missing seq is a break.
func (r *Replayer) overflow() error {
	if len(r.held)+len(r.conflict) <= r.opts.HoldLines && r.heldBytes <= r.opts.HoldBytes {
		return nil
	}
	started := r.v.Report().Events > 0
	lines, size := len(r.held)+len(r.conflict), r.heldBytes
	err := r.release() // once started, fails: the lowest seq held is not the one missing
	if b := r.h.Break; b != nil && started {
		b.Reason += fmt.Sprintf(", and %d lines with later seqs (%d bytes) were read without it: more than this replay holds (%d lines, %d bytes)",
			lines, size, r.opts.HoldLines, r.opts.HoldBytes)
	}
	return err
}

// release feeds the held line with the lowest seq to the verifier, and what follows it:
// the start of a partial log if nothing was verified yet, else the break at the gap.
func (r *Replayer) release() error {
	if len(r.held) == 0 {
		return nil
	}
	low := uint64(0)
	for seq := range r.held {
		if low == 0 || seq < low {
			low = seq
		}
	}
	h := r.held[low]
	delete(r.held, low)
	r.heldBytes -= len(h.line)
	rec, _ := audit.ParseLine(h.line)
	if err := r.verify(h.line, rec); err != nil {
		return err
	}
	return r.drain()
}

// Flush is called at the end of the input: a seq still missing is a break there ("seq N
// missing"); if no line was verified yet, the held lines are a log that lost its start.
func (r *Replayer) Flush() error {
	for r.h.Break == nil && len(r.held) > 0 {
		if err := r.release(); err != nil {
			return err
		}
	}
	if r.h.Break != nil {
		return r.h.Break
	}
	return nil
}

// History returns the history so far. The result shares memory with the Replayer.
func (r *Replayer) History() *History {
	r.h.Report = r.v.Report()
	r.h.From = r.from
	r.h.HeadMissing = r.h.Report.Events > 0 && r.h.Report.FirstSeq > r.from
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
	if h.HeadMissing {
		return fmt.Sprintf("INCOMPLETE first_seq=%d last_seq=%d: seqs %d to %d are not in the log (deleted by the topic's retention?), so it cannot be verified from seq %d; replay --from %d to verify what remains",
			rep.FirstSeq, rep.LastSeq, h.From, rep.FirstSeq-1, h.From, rep.FirstSeq)
	}
	return fmt.Sprintf("OK events=%d last_seq=%d documents=%d published=%d statuses=%d forwarded=%d recalls=%d rejected=%d checkpoints=%d duplicates=%d",
		rep.Events, rep.LastSeq, len(h.Documents), h.Counts[audit.Published], h.Counts[audit.Status], h.Counts[audit.Forwarded],
		h.Counts[audit.Recall], h.Counts[audit.Rejected], rep.Checkpoints, h.Duplicates)
}

// lineSum is the part of a line's sha256 kept to recognise a redelivery: 128 bits, so a
// different line passing for a verified one (and being skipped) needs a second preimage.
type lineSum [16]byte

func lineSumOf(sum [32]byte) lineSum { return lineSum(sum[:16]) }

// lineSums holds the sums of the verified lines. The verifier accepts seqs one after the
// other from the first, so they are stored densely by seq, in fixed-size chunks (no
// copying as the log grows): 16 bytes a line, where a map took 96 (measured). A national log
// of 13 million events needs 210 MB for it.
type lineSums struct {
	first  uint64
	n      uint64
	chunks [][]lineSum
	// other: a verified seq out of that order, which the verifier does not produce;
	// kept rather than lost should it ever.
	other map[uint64]lineSum
}

const lineChunk = 1 << 16

func (l *lineSums) add(seq uint64, s lineSum) {
	if l.n == 0 {
		l.first = seq
	}
	if seq != l.first+l.n {
		if l.other == nil {
			l.other = map[uint64]lineSum{}
		}
		l.other[seq] = s
		return
	}
	if l.n%lineChunk == 0 {
		l.chunks = append(l.chunks, make([]lineSum, 0, lineChunk))
	}
	c := len(l.chunks) - 1
	l.chunks[c] = append(l.chunks[c], s)
	l.n++
}

func (l *lineSums) get(seq uint64) (lineSum, bool) {
	if l.n > 0 && seq >= l.first && seq-l.first < l.n {
		i := seq - l.first
		return l.chunks[i/lineChunk][i%lineChunk], true
	}
	s, ok := l.other[seq]
	return s, ok
}
