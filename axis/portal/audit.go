package portal

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"axis/axis/errs"
	"axis/store"
	"axis/store/audit"
)

const (
	auditPage = 50
	// auditScan bounds the lines one filtered request reads; the page then offers to
	// continue from where it stopped, so a rare match never costs a whole-log scan.
	auditScan = 20000
	// checkpointsShown is how many recent checkpoints /audit lists.
	checkpointsShown = 20
)

type auditView struct {
	*base
	Doc, AgencyQ, From string
	Events             []audit.Event
	Scanned            uint64 // with a filter, reading forward: the last seq read
	ScannedBack        uint64 // with a filter, reading backward: the first seq read
	PrevURL, NextURL   string
	LatestURL          string
	Report             *audit.Report
	VerifyFailed       bool
	Checkpoints        []checkpointRow
	Unattested         uint64
	Stale              bool // the report is of an earlier head; a newer one is being computed
	Pending            bool // no result yet: the first verification is still running
}

type checkpointRow struct {
	Seq     uint64
	Time    time.Time
	Attests uint64 // the seq the checkpoint attests (read from its attestation)
}

// auditCache keeps the last verification of the whole chain and the checkpoints found
// so far (read incrementally). Verifying reads every event, which takes seconds on a
// large log: one background refresh at a time runs when the log has grown, a page waits
// for it at most auditWait and otherwise shows the previous result, marked as such.
type auditCache struct {
	headSeq     uint64 // the head the report was computed at
	headHash    string
	report      *audit.Report
	failed      bool
	scanned     uint64
	checkpoints []checkpointRow
	running     chan struct{} // closed when the refresh in flight ends; nil when none
}

const (
	auditWait    = 1500 * time.Millisecond
	auditTimeout = 10 * time.Minute
)

func (p *Portal) audit(w http.ResponseWriter, r *http.Request) error {
	cl, _ := claimsOf(r)
	if !cl.Auditor {
		return errs.E(errs.NotFound, "the audit log is for auditors") // as the API
	}
	q := r.URL.Query()
	b := p.base(w, r, "audit.title")
	b.Active = "audit"
	pg := &auditView{base: b, Doc: strings.TrimSpace(q.Get("doc")), AgencyQ: strings.TrimSpace(q.Get("agency")), From: q.Get("from")}
	ctx := r.Context()
	head, _, err := p.cfg.Store.AuditHead(ctx)
	if err != nil {
		return err
	}
	var from, before uint64
	if pg.From != "" {
		if from, err = strconv.ParseUint(pg.From, 10, 64); err != nil || from == 0 {
			return errs.E(errs.BadRequest, "from: want a seq ≥ 1")
		}
	}
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseUint(v, 10, 64); err != nil || before < 2 || from != 0 {
			return errs.E(errs.BadRequest, "before: want a seq ≥ 2, and not with from")
		}
	}
	filtered := pg.Doc != "" || pg.AgencyQ != ""
	link := func(key string, seq uint64) string {
		v := url.Values{}
		if pg.Doc != "" {
			v.Set("doc", pg.Doc)
		}
		if pg.AgencyQ != "" {
			v.Set("agency", pg.AgencyQ)
		}
		if key != "" {
			v.Set(key, strconv.FormatUint(seq, 10))
		}
		return "/audit?" + v.Encode()
	}
	filledOldestFirst := true // the backward scan fills pg.Events newest first already
	// take adds the event of a line that matches the filter; it reports a full page.
	take := func(line []byte) bool {
		if rec, err := audit.ParseLine(line); err == nil && matchEvent(&rec.Event, pg.Doc, pg.AgencyQ) {
			pg.Events = append(pg.Events, rec.Event)
		}
		return len(pg.Events) == auditPage
	}
	switch {
	case !filtered:
		// Unfiltered: a window of seqs, the latest by default.
		if before > 0 {
			from = max(1, before-min(before-1, auditPage))
		}
		if from == 0 {
			from = 1
			if head > auditPage {
				from = head - auditPage + 1
			}
		}
		lines, err := p.cfg.Store.AuditSince(ctx, from-1, auditPage)
		if err != nil {
			return err
		}
		for _, l := range lines {
			if rec, err := audit.ParseLine(l.Line); err == nil {
				pg.Events = append(pg.Events, rec.Event)
			}
		}
		if from > 1 {
			pg.PrevURL = link("from", max(1, from-min(from-1, auditPage)))
		}
		if end := from + uint64(len(lines)); end <= head {
			pg.NextURL = link("from", end)
			pg.LatestURL = link("", 0)
		}
	case from > 0:
		// Filtered, forward from "from" until a page of matches or the scan bound.
		after := from - 1
		for scanned := 0; len(pg.Events) < auditPage && scanned < auditScan; {
			lines, err := p.cfg.Store.AuditSince(ctx, after, 1000)
			if err != nil {
				return err
			}
			if len(lines) == 0 {
				break
			}
			for _, l := range lines {
				after = l.Seq
				scanned++
				if take(l.Line) {
					break
				}
			}
		}
		pg.Scanned = after
		if from > 1 {
			pg.PrevURL = link("before", from)
		}
		if after < head {
			pg.NextURL = link("from", after+1)
			pg.LatestURL = link("", 0)
		}
	default:
		// Filtered, backward from the head (or from "before"): the newest matches first,
		// which is what an auditor looking up a document usually wants on a long log.
		end := head
		if before > 0 {
			end = min(head, before-1)
		}
		low := end + 1 // the lowest seq read so far
		for scanned := 0; len(pg.Events) < auditPage && scanned < auditScan && low > 1; {
			start := low - min(low-1, 1000) // the window [start, low-1]
			lines, err := p.cfg.Store.AuditSince(ctx, start-1, int(low-start))
			if err != nil {
				return err
			}
			if len(lines) == 0 {
				break
			}
			for i := len(lines) - 1; i >= 0; i-- {
				low = lines[i].Seq
				scanned++
				if take(lines[i].Line) {
					break
				}
			}
			if lines[0].Seq > start { // the log starts later: nothing more before
				break
			}
		}
		filledOldestFirst = false
		if low <= end {
			pg.ScannedBack = low
		}
		if low > 1 {
			pg.PrevURL = link("before", low)
		}
		if end < head {
			pg.NextURL = link("from", end+1)
			pg.LatestURL = link("", 0)
		}
	}
	if filledOldestFirst {
		slices.Reverse(pg.Events) // newest first within the page
	}
	if err := p.verification(r, pg); err != nil {
		return err
	}
	p.render(w, http.StatusOK, "audit", pg)
	return nil
}

func matchEvent(e *audit.Event, doc, agency string) bool {
	if doc != "" && e.DocumentID != doc {
		return false
	}
	if agency != "" && e.From != agency && !slices.Contains(strings.Split(e.To, ","), agency) {
		return false
	}
	return true
}

// verification fills the chain status and the checkpoints from the cache, starting a
// refresh when the log has grown since.
func (p *Portal) verification(r *http.Request, pg *auditView) error {
	ctx := r.Context()
	seq, hash, err := p.cfg.Store.AuditHead(ctx)
	if err != nil {
		return err
	}
	p.auditMu.Lock()
	c := &p.auditCache
	stale := c.report == nil && !c.failed || c.headSeq != seq || c.headHash != hash
	if stale && c.running == nil {
		c.running = make(chan struct{})
		go p.refreshAudit(c.running)
	}
	wait := c.running
	p.auditMu.Unlock()
	if stale && wait != nil {
		t := time.NewTimer(auditWait)
		select {
		case <-wait:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	p.auditMu.Lock()
	defer p.auditMu.Unlock()
	pg.VerifyFailed = c.failed
	if c.report != nil && !c.failed {
		rep := *c.report
		pg.Report = &rep
		pg.Unattested = rep.Unattested()
		pg.Stale = c.headSeq < seq
	}
	pg.Pending = c.report == nil && !c.failed
	n := min(len(c.checkpoints), checkpointsShown)
	pg.Checkpoints = slices.Clone(c.checkpoints[len(c.checkpoints)-n:])
	slices.Reverse(pg.Checkpoints)
	return nil
}

// refreshAudit verifies the chain and reads the new checkpoints, then publishes both.
// It runs detached from the request that started it (bounded by auditTimeout) and logs
// nothing: its outcome is shown on the page.
func (p *Portal) refreshAudit(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), auditTimeout)
	defer cancel()
	p.auditMu.Lock()
	scanned := p.auditCache.scanned
	p.auditMu.Unlock()
	var found []checkpointRow
	seq, hash, err := p.cfg.Store.AuditHead(ctx) // the report covers at least this head
	var rep audit.Report
	if err == nil {
		rep, err = p.cfg.Store.VerifyAudit(ctx, p.cfg.Checkpoints)
	}
	for err == nil && scanned < seq {
		var lines []store.AuditLine
		if lines, err = p.cfg.Store.AuditSince(ctx, scanned, 5000); err != nil || len(lines) == 0 {
			break
		}
		for _, l := range lines {
			scanned = l.Seq
			if !bytes.Contains(l.Line, []byte(`"type":"checkpoint"`)) { // most lines: skip the parse
				continue
			}
			rec, perr := audit.ParseLine(l.Line)
			if perr != nil || rec.Event.Type != audit.Checkpoint {
				continue
			}
			row := checkpointRow{Seq: rec.Event.Seq, Time: rec.Event.Time}
			if raw, derr := base64.StdEncoding.DecodeString(rec.Event.Detail); derr == nil {
				if a, aerr := audit.ParseAttestation(raw); aerr == nil {
					row.Attests = a.Seq
				}
			}
			found = append(found, row)
			if len(found) > checkpointsShown {
				found = found[1:]
			}
		}
	}
	p.auditMu.Lock()
	defer p.auditMu.Unlock()
	c := &p.auditCache
	if c.running == done {
		c.running = nil
	}
	close(done)
	if err != nil {
		c.failed = c.report == nil // keep showing an older good result, if any
		return
	}
	c.failed = false
	c.report, c.headSeq, c.headHash, c.scanned = &rep, seq, hash, scanned
	c.checkpoints = append(c.checkpoints, found...)
	if len(c.checkpoints) > checkpointsShown {
		c.checkpoints = slices.Clone(c.checkpoints[len(c.checkpoints)-checkpointsShown:])
	}
}

// To lists an event's recipients with spaces, so that a long list wraps.
func (v *auditView) To(to string) string { return strings.ReplaceAll(to, ",", ", ") }

// EventCode names a status code in the user's language; other codes (business types,
// error codes) are shown as they are.
func (v *auditView) EventCode(e audit.Event) string {
	switch e.Type {
	case audit.Status, audit.Forwarded, audit.Recall:
		return v.Code(e.Code)
	case audit.Accepted:
		if n, err := strconv.Atoi(e.Code); err == nil && n >= 1 && n <= 3 {
			return v.Business(n)
		}
	}
	return e.Code
}

// Seq formats a seq for display.
func (v *auditView) Seq(n uint64) string { return strconv.FormatUint(n, 10) }

// EventType is an audit event type in the user's language.
func (v *auditView) EventType(t audit.Type) string { return v.T("ev." + string(t)) }

// Detail is what the table shows of an event's detail (checkpoints carry kilobytes of
// base64).
func (v *auditView) Detail(e audit.Event) string {
	if e.Type == audit.Checkpoint {
		return short(e.Detail, 24)
	}
	return short(e.Detail, 160)
}
