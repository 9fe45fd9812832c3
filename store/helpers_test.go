package store

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"axis/axis/errs"
	"axis/store/audit"
	"axis/store/audit/audittest"
)

var ctx = context.Background()

const (
	vpcp = "000.00.00.G22"
	bca  = "000.00.00.G01"
	btc  = "000.00.00.G12"
	tn   = "000.00.00.H53"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time       { return c.t }
func (c *clock) add(d time.Duration)  { c.t = c.t.Add(d) }
func newClock() *clock                { return &clock{t: time.Date(2026, 3, 12, 1, 0, 0, 0, time.UTC)} }
func fakeSigner() *audittest.Signer   { return audittest.NewSigner(3) }
func trust() audit.CheckpointVerifier { return audit.VerifierFunc(fakeSigner().Verifier()) }
func receipt(seq uint64, at time.Time) ([]byte, error) {
	return fmt.Appendf(nil, "<Receipt seq=%d at=%s/>", seq, at.Format(time.RFC3339Nano)), nil
}

func openStore(t testing.TB, dir string, mod ...func(*Options)) *Store {
	t.Helper()
	o := Options{Checkpoints: fakeSigner()}
	for _, m := range mod {
		m(&o)
	}
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func pkg(id, from string, to []string, body string) AcceptRequest {
	return AcceptRequest{
		Meta:    DocumentMeta{DocumentID: id, From: from, To: to, Subject: "Về việc " + body, CodeNumber: "7816", CodeNotation: "VPCP-TTĐT"},
		Bytes:   []byte("<edXML>" + id + "|" + body + "</edXML>"),
		Receipt: receipt,
	}
}

func status(id, from, code string) StatusRequest {
	return StatusRequest{DocumentID: id, From: from, Code: code, Description: "mô tả " + code,
		Bytes: []byte("<status>" + id + from + code + "</status>")}
}

func wantCode(t *testing.T, err error, code errs.Code) {
	t.Helper()
	if !errs.Is(err, code) {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// verifyLog exports the whole log and verifies it, returning the report.
func verifyLog(t testing.TB, s *Store) audit.Report {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.ExportAudit(ctx, &buf, 0); err != nil {
		t.Fatal(err)
	}
	r, err := audit.Verify(ctx, &buf, audit.VerifyOptions{Checkpoints: trust()})
	if err != nil || r.Break != nil {
		t.Fatalf("audit log does not verify: %v %v", err, r.Break)
	}
	return r
}

func head(t testing.TB, s *Store) uint64 {
	seq, _, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// eventsAfter returns the types of the audit events after seq.
func eventsAfter(t testing.TB, s *Store, seq uint64) []audit.Type {
	t.Helper()
	lines, err := s.AuditSince(ctx, seq, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Type
	for _, l := range lines {
		r, err := audit.ParseLine(l.Line)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Event.Type)
	}
	return out
}

// crashForTest stops the store as a crash would: no final checkpoint, no clean record in
// the write-ahead log, queued writes dropped; the files are released for the next Open.
func (s *Store) crashForTest() {
	s.once.Do(func() { // Close is then a no-op
		s.crashed.Store(true)
		s.endRepair()
		s.receipts.drop.Store(true)
		s.receipts.close()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.quit)
		<-s.stopped
		s.db.Close()
		s.blobs.close()
		s.dbFile.Close()
		unlock(s.lock)
	})
}
