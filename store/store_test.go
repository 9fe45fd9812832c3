package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"axis/axis/errs"
	"axis/store/audit"
	"axis/store/audit/audittest"
)

func TestAcceptIdempotent(t *testing.T) {
	s := openStore(t, t.TempDir())
	req := pkg("D1", vpcp, []string{bca, tn, bca}, "a")
	first := must[AcceptResult](t)(s.Accept(ctx, req))
	if first.Existing || first.AuditSeq != 1 || len(first.Recipients) != 2 || first.Recipients[0].State != StatePending {
		t.Fatalf("first: %+v", first)
	}
	if !bytes.HasPrefix(first.Receipt, []byte("<Receipt seq=1 ")) {
		t.Fatalf("receipt %q", first.Receipt)
	}
	h := head(t, s)
	pend := must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 100))
	req.Receipt = func(uint64, time.Time) ([]byte, error) { t.Fatal("receipt rebuilt"); return nil, nil }
	again := must[AcceptResult](t)(s.Accept(ctx, req))
	if !again.Existing {
		t.Fatal("not marked existing")
	}
	again.Existing = false
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("resubmission differs:\n%+v\n%+v", first, again)
	}
	if head(t, s) != h || len(must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 100))) != len(pend) {
		t.Fatal("resubmission wrote something")
	}
	if len(pend) != 2 || pend[0].Recipient != bca || pend[1].Recipient != tn || !bytes.Equal(pend[0].Value, req.Bytes) || pend[0].Kind != "edoc" {
		t.Fatalf("outbox: %+v", pend)
	}
}

func TestAcceptRules(t *testing.T) {
	s := openStore(t, t.TempDir())
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	h := head(t, s)
	tests := []struct {
		name string
		req  AcceptRequest
		code errs.Code
	}{
		{"same id other bytes", pkg("D1", vpcp, []string{bca}, "b"), errs.DuplicateDocument},
		{"revision of unknown", revision(pkg("D9", vpcp, []string{bca}, "r"), 2, ""), errs.UnknownTarget},
		{"revision of another sender's", revision(pkg("D1", btc, []string{bca}, "r"), 1, ""), errs.UnknownTarget},
		{"revision target unknown", revision(pkg("D2", vpcp, []string{bca}, "r"), 3, "D8"), errs.UnknownTarget},
		{"no recipient", pkg("D3", vpcp, nil, "x"), errs.InvalidEnvelope},
		{"bad business type", revision(pkg("D3", vpcp, []string{bca}, "x"), 4, ""), errs.InvalidEnvelope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Accept(ctx, tc.req)
			wantCode(t, err, tc.code)
			if head(t, s) != h {
				t.Fatal("a refused package wrote audit events")
			}
		})
	}
	// A different sender may use the same DocumentId: it is another business identity.
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", btc, []string{bca}, "c")))
	docs := must[[]Document](t)(s.DocumentsByID(ctx, "D1"))
	if len(docs) != 2 || docs[0].From != vpcp || docs[1].From != btc {
		t.Fatalf("%+v", docs)
	}
}

func revision(r AcceptRequest, bt int, target string) AcceptRequest {
	r.Meta.BusinessType, r.Meta.Target = bt, target
	return r
}

func TestRevisionsLinked(t *testing.T) {
	s := openStore(t, t.TempDir())
	orig := must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca, tn}, "v1")))
	upd := must[AcceptResult](t)(s.Accept(ctx, revision(pkg("D1", vpcp, []string{bca, tn}, "v2"), 2, "")))
	repl := must[AcceptResult](t)(s.Accept(ctx, revision(pkg("D1-R", vpcp, []string{bca}, "v3"), 3, "D1")))
	d := must[Document](t)(s.Document(ctx, "D1"))
	if d.SHA256 != orig.SHA256 || len(d.Revisions) != 2 || d.Revisions[0].SHA256 != upd.SHA256 ||
		d.Revisions[1].SHA256 != repl.SHA256 || d.Revisions[1].BusinessType != 3 {
		t.Fatalf("original: %+v", d)
	}
	lines := must[[]AuditLine](t)(s.AuditSince(ctx, repl.AuditSeq-1, 1))
	if ev, _ := audit.ParseLine(lines[0].Line); ev.Event.Code != "3" || ev.Event.Detail != "D1" || ev.Event.DocumentID != "D1-R" {
		t.Fatalf("accepted event of a replacement: %+v", ev.Event)
	}
	r := must[Document](t)(s.DocumentBySHA(ctx, repl.SHA256))
	if r.Revises == nil || r.Revises.SHA256 != orig.SHA256 || r.Target != "D1" {
		t.Fatalf("revision: %+v", r)
	}
	// A status about D1 from a recipient applies to the latest package under D1 it received.
	must[StatusResult](t)(s.RecordStatus(ctx, status("D1", bca, CodeArrived)))
	u := must[Document](t)(s.DocumentBySHA(ctx, upd.SHA256))
	if u.Recipients[0].State != StateArrived {
		t.Fatalf("update not the status target: %+v", u.Recipients)
	}
}

func stateOf(t *testing.T, s *Store, id, organ string) Delivery {
	t.Helper()
	d := must[Document](t)(s.Document(ctx, id))
	for _, r := range d.Recipients {
		if r.OrganID == organ {
			return r
		}
	}
	t.Fatalf("%s not a recipient", organ)
	return Delivery{}
}

func TestStatusMonotonic(t *testing.T) {
	s := openStore(t, t.TempDir())
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca, tn}, "a")))
	steps := []struct {
		code string
		want State
	}{
		{CodeProcessing, StateProcessing},
		{CodeArrived, StateProcessing}, // late 01: history only
		{CodeAccepted, StateProcessing},
		{CodeCompleted, StateCompleted},
		{CodeRejected, StateCompleted}, // terminal
		{CodeAssigned, StateCompleted},
	}
	for i, st := range steps {
		must[StatusResult](t)(s.RecordStatus(ctx, status("D1", bca, st.code)))
		d := stateOf(t, s, "D1", bca)
		if d.State != st.want || len(d.History) != i+1 || d.History[i].Code != st.code {
			t.Fatalf("after %s: %+v", st.code, d)
		}
	}
	if d := stateOf(t, s, "D1", bca); d.ArrivedAt.IsZero() || d.History[1].Description != "mô tả 01" {
		t.Fatalf("arrival not recorded: %+v", d)
	}
	if d := stateOf(t, s, "D1", tn); d.State != StatePending || len(d.History) != 0 {
		t.Fatalf("other recipient touched: %+v", d)
	}
	// 02 first is terminal too.
	must[StatusResult](t)(s.RecordStatus(ctx, status("D1", tn, CodeRejected)))
	must[StatusResult](t)(s.RecordStatus(ctx, status("D1", tn, CodeCompleted)))
	if d := stateOf(t, s, "D1", tn); d.State != StateRejected {
		t.Fatalf("rejected moved: %+v", d)
	}
	// Forwarding to the sender, one outbox entry per status.
	var forwards int
	for _, e := range must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 100)) {
		if e.Kind == "status" {
			forwards++
			if e.Recipient != vpcp {
				t.Fatalf("status forwarded to %s", e.Recipient)
			}
		}
	}
	if forwards != len(steps)+2 {
		t.Fatalf("%d forwards", forwards)
	}
	verifyLog(t, s)
}

func TestStatusIdempotentAndAllowed(t *testing.T) {
	s := openStore(t, t.TempDir())
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	r1 := must[StatusResult](t)(s.RecordStatus(ctx, status("D1", bca, CodeArrived)))
	h := head(t, s)
	r2 := must[StatusResult](t)(s.RecordStatus(ctx, status("D1", bca, CodeArrived)))
	if !r2.Existing || r2.AuditSeq != r1.AuditSeq || head(t, s) != h || len(stateOf(t, s, "D1", bca).History) != 1 {
		t.Fatalf("not idempotent: %+v %+v", r1, r2)
	}
	tests := []struct {
		name string
		req  StatusRequest
		code errs.Code
	}{
		{"sender sends 01", status("D1", vpcp, CodeArrived), errs.StatusNotAllowed},
		{"third party 05", status("D1", btc, CodeProcessing), errs.StatusNotAllowed},
		{"recipient asks recall", status("D1", bca, CodeRecallRequest), errs.StatusNotAllowed},
		{"third party recall", status("D1", btc, CodeRecallRequest), errs.StatusNotAllowed},
		{"sender agrees recall", status("D1", vpcp, CodeRecallAgreed), errs.StatusNotAllowed},
		{"unknown document", status("D404", bca, CodeArrived), errs.UnknownTarget},
		{"wrong DocFrom", StatusRequest{DocumentID: "D1", DocFrom: btc, From: bca, Code: "01", Bytes: []byte("x")}, errs.UnknownTarget},
		{"bad code", status("D1", bca, "07"), errs.InvalidEnvelope},
		{"package bytes", StatusRequest{DocumentID: "D1", From: bca, Code: "01", Bytes: pkg("D1", vpcp, []string{bca}, "a").Bytes}, errs.InvalidEnvelope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.RecordStatus(ctx, tc.req)
			wantCode(t, err, tc.code)
			if head(t, s) != h {
				t.Fatal("refused status wrote audit events")
			}
		})
	}
}

func TestRecall(t *testing.T) {
	s := openStore(t, t.TempDir())
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca, tn}, "a")))
	outbox := func() []OutboxEntry { return must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 100)) }
	must[error](t)(nil, s.MarkPublished(ctx, outbox()[0].ID, outbox()[1].ID))
	h := head(t, s)
	must[StatusResult](t)(s.RecordStatus(ctx, status("D1", vpcp, CodeRecallRequest)))
	if got := eventsAfter(t, s, h); !slices.Equal(got, []audit.Type{audit.Status, audit.Recall}) {
		t.Fatalf("events %v", got)
	}
	ob := outbox()
	if len(ob) != 2 || ob[0].Recipient != bca || ob[1].Recipient != tn || ob[0].Code != "13" || ob[0].From != vpcp {
		t.Fatalf("recall not forwarded to every recipient: %+v", ob)
	}
	for _, o := range []string{bca, tn} {
		if d := stateOf(t, s, "D1", o); d.Recall != RecallRequested || d.State != StatePublished {
			t.Fatalf("%s: %+v", o, d)
		}
	}
	must[StatusResult](t)(s.RecordStatus(ctx, status("D1", bca, CodeRecallAgreed)))
	must[StatusResult](t)(s.RecordStatus(ctx, status("D1", tn, CodeRecallRefused)))
	if d := stateOf(t, s, "D1", bca); d.Recall != RecallAgreed {
		t.Fatalf("%+v", d)
	}
	if d := stateOf(t, s, "D1", tn); d.Recall != RecallRefused {
		t.Fatalf("%+v", d)
	}
	ob = outbox()
	if len(ob) != 4 || ob[2].Recipient != vpcp || ob[3].Recipient != vpcp || ob[3].Code != "16" {
		t.Fatalf("answers not forwarded to the sender: %+v", ob)
	}
	// A late second request does not undo the answers.
	st := status("D1", vpcp, CodeRecallRequest)
	st.Bytes = append(st.Bytes, '2')
	must[StatusResult](t)(s.RecordStatus(ctx, st))
	if d := stateOf(t, s, "D1", bca); d.Recall != RecallAgreed || len(d.History) != 4 {
		t.Fatalf("%+v", d)
	}
}

func TestOutboxPublishAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca, tn}, "a")))
	must[StatusResult](t)(s.RecordStatus(ctx, status("D1", bca, CodeArrived)))
	ob := must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 100))
	if len(ob) != 3 || ob[0].ID >= ob[1].ID || ob[1].ID >= ob[2].ID {
		t.Fatalf("%+v", ob)
	}
	if page := must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, ob[0].ID, 1)); len(page) != 1 || page[0].ID != ob[1].ID {
		t.Fatalf("cursor: %+v", page)
	}
	h := head(t, s)
	must[error](t)(nil, s.MarkPublished(ctx, ob[0].ID, ob[2].ID, 999))
	if got := eventsAfter(t, s, h); !slices.Equal(got, []audit.Type{audit.Published, audit.Forwarded}) {
		t.Fatalf("events %v", got)
	}
	must[error](t)(nil, s.MarkPublished(ctx, ob[0].ID)) // again: nothing
	if head(t, s) != h+2 {
		t.Fatal("MarkPublished not idempotent")
	}
	// bca had 01 before its publish was acknowledged: the state stays arrived.
	if d := stateOf(t, s, "D1", bca); d.State != StateArrived || d.History[len(d.History)-1].Kind != "published" {
		t.Fatalf("%+v", d)
	}
	must[error](t)(nil, s.SetAuditPublished(ctx, 3))
	must[error](t)(nil, s.SetAuditPublished(ctx, 2))
	s.Close()
	s = openStore(t, dir)
	ob2 := must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 100))
	if len(ob2) != 1 || ob2[0].ID != ob[1].ID || ob2[0].Recipient != tn {
		t.Fatalf("after reopen: %+v", ob2)
	}
	if p := must[uint64](t)(s.AuditPublished(ctx)); p != 3 {
		t.Fatalf("audit cursor %d", p)
	}
	r := verifyLog(t, s)
	if r.Unattested() != 0 {
		t.Fatalf("Close wrote no final checkpoint: %+v", r)
	}
}

func TestListAgency(t *testing.T) {
	c := newClock()
	s := openStore(t, t.TempDir(), func(o *Options) { o.Now = c.now })
	// vpcp sends 25 to bca (+tn for odd ones); btc sends 5 to bca.
	for i := range 25 {
		to := []string{bca}
		if i%2 == 1 {
			to = append(to, tn)
		}
		r := pkg(fmt.Sprintf("V%02d", i), vpcp, to, fmt.Sprintf("chủ đề %d", i))
		if i == 7 {
			r.Meta.Subject = "Về việc ĐẶC BIỆT"
		}
		must[AcceptResult](t)(s.Accept(ctx, r))
		c.add(time.Minute)
	}
	for i := range 5 {
		must[AcceptResult](t)(s.Accept(ctx, pkg(fmt.Sprintf("B%d", i), btc, []string{bca}, "b")))
		c.add(time.Minute)
	}
	must[StatusResult](t)(s.RecordStatus(ctx, status("V03", tn, CodeProcessing)))
	ids := func(p Page) []string {
		var out []string
		for _, it := range p.Items {
			out = append(out, it.DocumentID)
		}
		return out
	}
	list := func(agency string, dir Direction, f Filter) []string {
		var all []string
		cursor := ""
		for {
			p := must[Page](t)(s.ListAgency(ctx, agency, dir, f, cursor, 7))
			all = append(all, ids(p)...)
			if p.Next == "" {
				return all
			}
			cursor = p.Next
		}
	}
	if got := list(bca, In, Filter{}); len(got) != 30 || got[0] != "B4" || got[29] != "V00" {
		t.Fatalf("bca in: %v", got)
	}
	if got := list(tn, In, Filter{}); len(got) != 12 || slices.ContainsFunc(got, func(s string) bool { return s[0] == 'B' }) {
		t.Fatalf("tn in shows others' documents: %v", got)
	}
	if got := list(btc, Out, Filter{}); !slices.Equal(got, []string{"B4", "B3", "B2", "B1", "B0"}) {
		t.Fatalf("btc out: %v", got)
	}
	if got := list(btc, In, Filter{}); len(got) != 0 {
		t.Fatalf("btc in: %v", got)
	}
	if got := list(vpcp, Out, Filter{Counterpart: tn}); len(got) != 12 {
		t.Fatalf("counterpart: %v", got)
	}
	if got := list(bca, In, Filter{Counterpart: btc}); len(got) != 5 {
		t.Fatalf("counterpart in: %v", got)
	}
	if got := list(tn, In, Filter{State: StateProcessing}); !slices.Equal(got, []string{"V03"}) {
		t.Fatalf("state in: %v", got)
	}
	if got := list(vpcp, Out, Filter{State: StateProcessing}); !slices.Equal(got, []string{"V03"}) {
		t.Fatalf("state out: %v", got)
	}
	if got := list(bca, In, Filter{State: StateProcessing}); len(got) != 0 {
		t.Fatalf("bca's own state is pending: %v", got)
	}
	if got := list(bca, In, Filter{Text: "đặc biệt"}); !slices.Equal(got, []string{"V07"}) {
		t.Fatalf("text: %v", got)
	}
	t0 := time.Date(2026, 3, 12, 1, 0, 0, 0, time.UTC)
	if got := list(vpcp, Out, Filter{Since: t0.Add(10 * time.Minute), Until: t0.Add(12 * time.Minute)}); !slices.Equal(got, []string{"V12", "V11", "V10"}) {
		t.Fatalf("time: %v", got)
	}
	// Oldest first, paged by 7 with cursors: exactly the reverse of newest first, for
	// every filter, and the time window bounds hold in both directions.
	for _, c := range []struct {
		agency string
		dir    Direction
		f      Filter
	}{
		{bca, In, Filter{}}, {tn, In, Filter{}}, {btc, Out, Filter{}}, {vpcp, Out, Filter{Counterpart: tn}},
		{bca, In, Filter{Counterpart: btc}}, {bca, In, Filter{Text: "đặc biệt"}},
		{vpcp, Out, Filter{Since: t0.Add(10 * time.Minute), Until: t0.Add(12 * time.Minute)}},
		{vpcp, Out, Filter{Since: t0.Add(3 * time.Minute)}}, {vpcp, Out, Filter{Until: t0.Add(20 * time.Minute)}},
	} {
		newest := list(c.agency, c.dir, c.f)
		c.f.Oldest = true
		oldest := list(c.agency, c.dir, c.f)
		slices.Reverse(oldest)
		if len(newest) == 0 || !slices.Equal(newest, oldest) {
			t.Fatalf("oldest first %s %s %+v: reversed %v, newest first %v", c.agency, c.dir, c.f, oldest, newest)
		}
	}
	if got := list(vpcp, Out, Filter{Since: t0.Add(10 * time.Minute), Until: t0.Add(12 * time.Minute), Oldest: true}); !slices.Equal(got, []string{"V10", "V11", "V12"}) {
		t.Fatalf("time, oldest first: %v", got)
	}
	_, err := s.ListAgency(ctx, bca, In, Filter{Oldest: true}, "zz", 1)
	wantCode(t, err, errs.BadRequest)
	p := must[Page](t)(s.ListAgency(ctx, tn, In, Filter{}, "", 1))
	if it := p.Items[0]; len(it.Recipients) != 1 || it.Recipients[0].OrganID != tn || it.From != vpcp {
		t.Fatalf("row: %+v", it)
	}
	_, err = s.ListAgency(ctx, bca, "sideways", Filter{}, "", 1)
	wantCode(t, err, errs.BadRequest)
	_, err = s.ListAgency(ctx, bca, In, Filter{}, "zz", 1)
	wantCode(t, err, errs.BadRequest)
}

func TestFaultHookNothingHalfWritten(t *testing.T) {
	var mu sync.Mutex
	fail := true
	s := openStore(t, t.TempDir(), func(o *Options) {
		o.FailWrites = func() error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errors.New("disk on fire")
			}
			return nil
		}
	})
	setFail := func(v bool) { mu.Lock(); fail = v; mu.Unlock() }
	_, err := s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a"))
	wantCode(t, err, errs.Unavailable)
	_, err = s.RecordRejected(ctx, Rejection{Code: "malformed_xml"})
	wantCode(t, err, errs.Unavailable)
	if _, err := s.Document(ctx, "D1"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("document half written: %v", err)
	}
	if head(t, s) != 0 || len(must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 10))) != 0 {
		t.Fatal("audit or outbox half written")
	}
	st := must[Stats](t)(s.Stats(ctx, time.Now()))
	if st.AllTime != 0 {
		t.Fatal("counters half written")
	}
	setFail(false)
	r := must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	if r.Existing || r.AuditSeq != 1 {
		t.Fatalf("after recovery: %+v", r)
	}
	setFail(true)
	_, err = s.RecordStatus(ctx, status("D1", bca, CodeArrived))
	wantCode(t, err, errs.Unavailable)
	if d := stateOf(t, s, "D1", bca); len(d.History) != 0 {
		t.Fatal("status half written")
	}
	setFail(false)
	verifyLog(t, s)
}

func TestCheckpointsEveryN(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, func(o *Options) { o.CheckpointEvery = 10 })
	for i := range 35 {
		must[uint64](t)(s.RecordRejected(ctx, Rejection{Code: "malformed_xml", Detail: fmt.Sprint(i)}))
	}
	r := verifyLog(t, s)
	if r.Checkpoints != 3 || r.LastCheckpoint != 30 || r.LastSeq != 38 {
		t.Fatalf("%+v", r)
	}
	if rs, err := s.VerifyAudit(ctx, trust()); err != nil || rs.Break != nil || rs.LastSeq != 38 || rs.Checkpoints != 3 {
		t.Fatalf("VerifyAudit: %+v %v", rs, err)
	}
	if rs, _ := s.VerifyAudit(ctx, audit.VerifierFunc(audittest.NewSigner(99).Verifier())); rs.Break == nil || rs.Break.Seq != 10 {
		t.Fatalf("VerifyAudit with the wrong key: %+v", rs)
	}
	s.Close()
	s = openStore(t, dir, func(o *Options) { o.CheckpointEvery = 10 })
	r = verifyLog(t, s)
	if r.LastSeq != 39 || r.Unattested() != 0 {
		t.Fatalf("after close: %+v", r)
	}
	must[uint64](t)(s.RecordRejected(ctx, Rejection{}))
	if cp := must[uint64](t)(s.Checkpoint(ctx)); cp != 41 {
		t.Fatalf("explicit checkpoint at %d", cp)
	}
	// An unsigned store's checkpoints fail verification with --trust.
	u := openStore(t, t.TempDir(), func(o *Options) { o.Checkpoints = nil })
	must[uint64](t)(u.RecordRejected(ctx, Rejection{}))
	must[uint64](t)(u.Checkpoint(ctx))
	var buf bytes.Buffer
	must[uint64](t)(u.ExportAudit(ctx, &buf, 0))
	rep, _ := audit.Verify(ctx, &buf, audit.VerifyOptions{Checkpoints: trust()})
	if rep.Break == nil || rep.Break.Seq != 2 {
		t.Fatalf("unsigned checkpoint passed --trust: %+v", rep)
	}
}

func TestRecordEventTypes(t *testing.T) {
	s := openStore(t, t.TempDir())
	must[uint64](t)(s.RecordEvent(ctx, audit.Event{Type: audit.Replay, Detail: "from 1"}))
	_, err := s.RecordEvent(ctx, audit.Event{Type: audit.Accepted})
	wantCode(t, err, errs.BadRequest)
	var buf bytes.Buffer
	must[uint64](t)(s.ExportAudit(ctx, &buf, 1))
	if !strings.Contains(buf.String(), `"type":"replay"`) {
		t.Fatal(buf.String())
	}
}

func TestStats(t *testing.T) {
	c := newClock() // 2026-03-12 01:00 UTC = 08:00 ICT
	s := openStore(t, t.TempDir(), func(o *Options) { o.Now = c.now })
	c.add(-48 * time.Hour)
	must[AcceptResult](t)(s.Accept(ctx, pkg("OLD", vpcp, []string{bca}, "o")))
	c.add(48 * time.Hour)
	for i := range 4 {
		must[AcceptResult](t)(s.Accept(ctx, pkg(fmt.Sprint("D", i), vpcp, []string{bca, tn}, "x")))
	}
	for i, d := range []time.Duration{time.Second, 2 * time.Second, time.Hour} {
		c.add(d)
		must[StatusResult](t)(s.RecordStatus(ctx, status(fmt.Sprint("D", i), bca, CodeArrived)))
	}
	must[StatusResult](t)(s.RecordStatus(ctx, status("D0", tn, CodeProcessing))) // not an arrival
	st := must[Stats](t)(s.Stats(ctx, c.t))
	if st.AllTime != 5 || st.Today != 4 || st.ThisMonth != 5 || st.Statuses != 4 || st.Arrivals != 3 {
		t.Fatalf("%+v", st)
	}
	if len(st.Daily) != 30 || st.Daily[29].Count != 4 || st.Daily[27].Count != 1 || st.Daily[29].Day != "2026-03-12" {
		t.Fatalf("daily %+v", st.Daily)
	}
	// Arrivals after 1 s, 3 s and 1 h+3 s: the median is 3 s, within the 4.4 % buckets.
	if m := st.ArrivalMedian; m < 2870*time.Millisecond || m > 3130*time.Millisecond {
		t.Fatalf("median %v", m)
	}
	want := []AgencyVolume{{bca, 0, 5}, {vpcp, 5, 0}, {tn, 0, 4}}
	if !reflect.DeepEqual(st.Agencies, want) {
		t.Fatalf("agencies %+v", st.Agencies)
	}
}

func TestReadOnlyAndLocked(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	_, err := Open(dir, Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("want locked error, got %v", err)
	}
	s.Close()
	ro := must[*Store](t)(Open(dir, Options{ReadOnly: true}))
	defer ro.Close()
	if d := must[Document](t)(ro.Document(ctx, "D1")); d.From != vpcp {
		t.Fatal(d)
	}
	_, err = ro.RecordRejected(ctx, Rejection{})
	wantCode(t, err, errs.Unavailable)
	_, err = Open(t.TempDir(), Options{ReadOnly: true})
	wantCode(t, err, errs.NotFound)
}

func TestClosedStore(t *testing.T) {
	s := openStore(t, t.TempDir())
	s.Close()
	_, err := s.RecordRejected(ctx, Rejection{})
	wantCode(t, err, errs.Unavailable)
	if s.Ping(ctx) == nil {
		t.Fatal("closed store ready")
	}
}

func TestConcurrentIdenticalSubmissions(t *testing.T) {
	s := openStore(t, t.TempDir())
	req := pkg("D1", vpcp, []string{bca}, "same")
	var wg sync.WaitGroup
	results := make([]AcceptResult, 32)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = must[AcceptResult](t)(s.Accept(ctx, req))
		}()
	}
	wg.Wait()
	fresh := 0
	for _, r := range results {
		if !r.Existing {
			fresh++
		}
		if r.AuditSeq != results[0].AuditSeq || !bytes.Equal(r.Receipt, results[0].Receipt) {
			t.Fatalf("answers differ: %+v / %+v", r, results[0])
		}
	}
	if fresh != 1 || head(t, s) != 1 || len(must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 100))) != 1 {
		t.Fatalf("%d fresh acceptances, head %d", fresh, head(t, s))
	}
}

func TestCancelledContextWritesNothing(t *testing.T) {
	s := openStore(t, t.TempDir())
	c, cancel := context.WithCancel(ctx)
	cancel()
	_, err := s.Accept(c, pkg("D1", vpcp, []string{bca}, "a"))
	wantCode(t, err, errs.Unavailable)
	if head(t, s) != 0 {
		t.Fatal("cancelled write happened")
	}
}

func TestPendingDeliveriesBoundedBytes(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer func(v int64) { pendingBytesCap = v }(pendingBytesCap)
	pendingBytesCap = 1000
	big := make([]byte, 501)
	for i := range 3 {
		big[0] = byte(i)
		must[AcceptResult](t)(s.Accept(ctx, AcceptRequest{Meta: DocumentMeta{DocumentID: fmt.Sprint("BIG", i), From: vpcp, To: []string{bca}}, Bytes: big}))
	}
	p := must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 100))
	if len(p) != 1 || len(p[0].Value) != len(big) {
		t.Fatalf("%d entries", len(p))
	}
	if p = must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, p[0].ID, 100)); len(p) != 1 || p[0].Value[0] != 1 {
		t.Fatalf("next page: %d entries", len(p))
	}
}

func TestTimeNeverGoesBackAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := openStore(t, dir, func(o *Options) { o.Now = c.now })
	first := must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	s.Close()
	c.add(-time.Hour) // the clock was set back while the daemon was stopped
	s = openStore(t, dir, func(o *Options) { o.Now = c.now })
	second := must[AcceptResult](t)(s.Accept(ctx, pkg("D2", vpcp, []string{bca}, "b")))
	if second.AcceptedAt.Before(first.AcceptedAt) {
		t.Fatalf("time went back: %v then %v", first.AcceptedAt, second.AcceptedAt)
	}
}

// The receipt is built outside the writer and stored by a second write: every way that
// second step can go missing is repaired by the next identical submission, with the
// first seq and time, and the stored receipt then never changes.
func TestReceiptSecondStep(t *testing.T) {
	var mu sync.Mutex
	failNext := 0 // commits to fail from now on
	s := openStore(t, t.TempDir(), func(o *Options) {
		o.FailWrites = func() error {
			mu.Lock()
			defer mu.Unlock()
			if failNext > 0 {
				failNext--
				return errors.New("disk on fire")
			}
			return nil
		}
	})
	builds := 0
	counting := func(seq uint64, at time.Time) ([]byte, error) { builds++; return receipt(seq, at) }

	// A crash between the two writes: stored without a receipt.
	req := pkg("D1", vpcp, []string{bca}, "a")
	req.Receipt = nil
	first := must[AcceptResult](t)(s.Accept(ctx, req))
	if first.Receipt != nil || must[Document](t)(s.Document(ctx, "D1")).Receipt != nil {
		t.Fatal("a receipt appeared from nowhere")
	}
	req.Receipt = counting
	again := must[AcceptResult](t)(s.Accept(ctx, req))
	want := must[[]byte](t)(receipt(first.AuditSeq, first.AcceptedAt))
	if !again.Existing || !bytes.Equal(again.Receipt, want) || builds != 1 {
		t.Fatalf("repaired receipt %q (built %d times), want %q", again.Receipt, builds, want)
	}
	if got := must[Document](t)(s.Document(ctx, "D1")).Receipt; !bytes.Equal(got, want) {
		t.Fatalf("stored receipt %q", got)
	}
	must[AcceptResult](t)(s.Accept(ctx, req))
	if builds != 1 {
		t.Fatal("a stored receipt was built again")
	}

	// The receipt's own write fails: the package is durable, the answer carries the
	// receipt, and the next submission stores it.
	req2 := pkg("D2", vpcp, []string{bca}, "b")
	req2.Receipt = func(seq uint64, at time.Time) ([]byte, error) {
		mu.Lock()
		failNext = 1
		mu.Unlock()
		return receipt(seq, at)
	}
	r2 := must[AcceptResult](t)(s.Accept(ctx, req2))
	// Wait for the failed write (not with receipts.sync: its flush, arriving after the
	// failure, would carry the retry at once, and the receipt would be stored already).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		consumed := failNext == 0
		mu.Unlock()
		if consumed && s.receipts.unstored.Load() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the receipt's write did not fail")
		}
	}
	if len(r2.Receipt) == 0 || storedReceiptOf(t, s, "D2") != nil {
		t.Fatalf("answer %q; stored receipt should be missing", r2.Receipt)
	}
	// Meanwhile it is read from memory, and a retry stores it.
	if got := must[Document](t)(s.Document(ctx, "D2")).Receipt; !bytes.Equal(got, r2.Receipt) {
		t.Fatalf("receipt while its write is retried: %q", got)
	}
	for deadline := time.Now().Add(10 * receiptRetry); storedReceiptOf(t, s, "D2") == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the failed receipt write was never retried")
		}
	}
	if got := storedReceiptOf(t, s, "D2"); !bytes.Equal(got, r2.Receipt) {
		t.Fatalf("retried receipt %q, answered %q", got, r2.Receipt)
	}
	req2.Receipt = receipt
	r2b := must[AcceptResult](t)(s.Accept(ctx, req2))
	if !r2b.Existing || !bytes.Equal(r2b.Receipt, r2.Receipt) || !bytes.Equal(must[Document](t)(s.Document(ctx, "D2")).Receipt, r2.Receipt) {
		t.Fatalf("receipt not repaired: %q", r2b.Receipt)
	}

	// The builder fails: an internal error, but the package stays accepted.
	req3 := pkg("D3", vpcp, []string{bca}, "c")
	req3.Receipt = func(uint64, time.Time) ([]byte, error) { return nil, errors.New("HSM unplugged") }
	_, err := s.Accept(ctx, req3)
	wantCode(t, err, errs.Internal)
	req3.Receipt = receipt
	r3 := must[AcceptResult](t)(s.Accept(ctx, req3))
	if !r3.Existing || !bytes.HasPrefix(r3.Receipt, []byte("<Receipt seq=")) {
		t.Fatalf("after the builder recovered: %+v", r3)
	}
	verifyLog(t, s)
}

// The outbox depth is a counter kept with the entries, recounted for stores that predate it.
func TestOutboxDepth(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	depth := func(s *Store) uint64 { return must[uint64](t)(s.OutboxDepth(ctx)) }
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca, tn}, "a")))
	must[AcceptResult](t)(s.Accept(ctx, pkg("D2", vpcp, []string{bca, tn}, "b")))
	if got := depth(s); got != 4 {
		t.Fatalf("depth %d, want 4", got)
	}
	pend := must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 10))
	if err := s.MarkPublished(ctx, pend[0].ID, pend[1].ID, pend[2].ID, pend[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := depth(s); got != 1 {
		t.Fatalf("depth %d after 3 published (one twice), want 1", got)
	}
	// A store written before the counter existed.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bStats).Delete(kOutbox) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	if got := depth(s); got != 1 {
		t.Fatalf("recounted depth %d, want 1", got)
	}
}

// Receipts are stored in the background: served from memory meanwhile, all stored by
// Close, equal to what each answer carried.
func TestReceiptsStoredInBackground(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	const n = 200
	answers := make([]AcceptResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = must[AcceptResult](t)(s.Accept(ctx, pkg(fmt.Sprint("R", i), vpcp, []string{bca}, "r")))
		}()
	}
	wg.Wait()
	for _, a := range answers[:20] { // stored or still queued: the same bytes either way
		if d := must[Document](t)(s.Document(ctx, a.DocumentID)); !bytes.Equal(d.Receipt, a.Receipt) || len(a.Receipt) == 0 {
			t.Fatalf("%s: receipt %q, answered %q", a.DocumentID, d.Receipt, a.Receipt)
		}
	}
	s.Close()
	s = openStore(t, dir)
	for _, a := range answers {
		if d := must[Document](t)(s.Document(ctx, a.DocumentID)); !bytes.Equal(d.Receipt, a.Receipt) {
			t.Fatalf("%s: stored receipt %q, answered %q", a.DocumentID, d.Receipt, a.Receipt)
		}
	}
}

// storedReceiptOf reads the receipt of a document from the file only (not from memory).
func storedReceiptOf(t *testing.T, s *Store, id string) []byte {
	t.Helper()
	var rc []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		for _, num := range docsUnder(tx, id, "") {
			d, err := loadDoc(tx, num)
			if err != nil {
				return err
			}
			if ref, ok := receiptRef(tx, d); ok {
				var err error
				rc, err = s.readBlob(ref)
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rc
}

func receiptsIncomplete(t *testing.T, s *Store) bool {
	t.Helper()
	var marked bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		marked = tx.Bucket(bMeta).Get(kReceiptsIncomplete) != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return marked
}

// Receipts still queued when the process died are rebuilt by the next Open that has a
// receipt builder, in the background, equal to what the answers carried; a clean stop
// before that keeps the mark; a finished repair clears it and is not run again.
func TestReceiptsRebuiltAfterUncleanStop(t *testing.T) {
	t.Run("write-ahead mode", func(t *testing.T) { receiptsRebuilt(t, 5000, false, func(*Options) {}) }) // more than one repair chunk
	t.Run("synced mode", func(t *testing.T) {
		receiptsRebuilt(t, 300, true, func(o *Options) { o.testMapSize = mapHeadroom + 400<<10 })
	})
}

func receiptsRebuilt(t *testing.T, lost int, synced bool, mode func(*Options)) {
	dir := t.TempDir()
	var builds atomic.Int64
	rebuild := func(o *Options) {
		mode(o)
		o.Receipt = func(d Document) ([]byte, error) {
			builds.Add(1)
			return receipt(d.AuditSeq, d.AcceptedAt)
		}
	}
	s := openStore(t, dir, rebuild)
	var answers []AcceptResult
	for i := range 5 {
		answers = append(answers, must[AcceptResult](t)(s.Accept(ctx, pkg(fmt.Sprint("S", i), vpcp, []string{bca}, "s"))))
	}
	s.receipts.sync()
	s.receipts.drop.Store(true) // from here on, queued receipts are lost as in a crash
	lostAnswers := make([]AcceptResult, lost)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < lost; i += 8 {
				lostAnswers[i] = must[AcceptResult](t)(s.Accept(ctx, pkg(fmt.Sprint("L", i), vpcp, []string{bca, tn}, "l")))
			}
		}()
	}
	wg.Wait()
	answers = append(answers, lostAnswers...)
	if s.synced != synced {
		t.Fatalf("synced mode %v, want %v", s.synced, synced)
	}
	s.crashForTest()

	// Without a builder: the receipts are missing, and a clean stop keeps the mark.
	s = openStore(t, dir, mode)
	if storedReceiptOf(t, s, "L7") != nil || !receiptsIncomplete(t, s) {
		t.Fatal("the crash lost no receipt, or left no mark")
	}
	s.Close()

	s = openStore(t, dir, rebuild)
	if s.repairDone == nil {
		t.Fatal("no receipt repair after an unclean stop")
	}
	<-s.repairDone
	if n := builds.Load(); n != int64(lost) {
		t.Fatalf("%d receipts rebuilt, want the %d lost", n, lost)
	}
	for _, a := range answers {
		if got := storedReceiptOf(t, s, a.DocumentID); !bytes.Equal(got, a.Receipt) || len(got) == 0 {
			t.Fatalf("%s: stored receipt %q, answered %q", a.DocumentID, got, a.Receipt)
		}
	}
	verifyLog(t, s)
	s.Close()

	builds.Store(0)
	s = openStore(t, dir, rebuild)
	if s.repairDone != nil || builds.Load() != 0 {
		t.Fatal("a repair ran again after a complete one")
	}
}

// A status is one signed statement: other bytes carrying the same statement (Signed)
// answer the first result and change nothing, also after a crash (the write-ahead log
// replays the statement key) and a restart; another statement by the same agency is new.
func TestStatusSameStatementOtherBytes(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	req := status("D1", bca, CodeCompleted)
	req.Signed = []byte("alg\x00statement one")
	r1 := must[StatusResult](t)(s.RecordStatus(ctx, req))
	s.crashForTest()
	s = openStore(t, dir)
	h := head(t, s)
	replay := req
	replay.Bytes = append(bytes.Clone(req.Bytes), "<!-- replay -->"...)
	r2 := must[StatusResult](t)(s.RecordStatus(ctx, replay))
	if !r2.Existing || r2.AuditSeq != r1.AuditSeq || head(t, s) != h || len(stateOf(t, s, "D1", bca).History) != 1 {
		t.Fatalf("a replay in other bytes recorded again: %+v %+v", r1, r2)
	}
	other := status("D1", bca, CodeArrived)
	other.Signed = []byte("alg\x00statement two")
	if r := must[StatusResult](t)(s.RecordStatus(ctx, other)); r.Existing {
		t.Fatalf("another statement taken for the first: %+v", r)
	}
}

// HasAgency: any document sent or received, by exact id (not a prefix of another).
func TestHasAgency(t *testing.T) {
	s := openStore(t, t.TempDir())
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	for id, want := range map[string]bool{vpcp: true, bca: true, btc: false, "000.00.00.G2": false, "": false} {
		if got, err := s.HasAgency(ctx, id); err != nil || got != want {
			t.Errorf("HasAgency(%q) = %v, %v; want %v", id, got, err, want)
		}
	}
}
