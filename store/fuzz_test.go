package store

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzSummary: the list-index entry parser never panics on stored bytes, and an encoded
// entry reads back as it was.
func FuzzSummary(f *testing.F) {
	f.Add(uint64(1), int64(1773277200000000000), 2, "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT", "000.00.00.G22", "Về việc", "7816", "VPCP-TTĐT", "000.00.00.G01", uint8(3), []byte{1, 2})
	f.Add(uint64(0), int64(-1), 0, "", "", "", "", "", "", uint8(9), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, doc uint64, at int64, bt int, id, from, subject, cn, cno, to string, st uint8, junk []byte) {
		// Arbitrary bytes: errors are fine, panics are not.
		if sv, err := viewSummary(junk); err == nil {
			sv.decode()
			sv.matches(Out, Filter{State: StateArrived, Counterpart: "x", Text: "a"}, 2, []byte("a"), new([]byte))
		}
		state := byteState[int(st)%len(byteState)]
		sm := summary{Doc: doc, At: at, BusinessType: bt & 3, DocumentID: id, From: from, Subject: subject,
			CodeNumber: cn, CodeNotation: cno, To: []string{to, to + "x"}, States: []State{state, StatePending}}
		sv, err := viewSummary(sm.encode())
		if err != nil {
			t.Fatal(err)
		}
		got, err := sv.decode()
		if err != nil || !reflect.DeepEqual(got, sm) {
			t.Fatalf("round trip: %+v\n%+v (%v)", got, sm, err)
		}
	})
}

// FuzzOutboxRecord: the outbox entry parser never panics on stored bytes, an encoded
// entry reads back as it was, and entries written as JSON by older versions still read.
func FuzzOutboxRecord(f *testing.F) {
	f.Add(uint64(7), uint64(42), int64(4096), int64(5518), int64(1773277200123456789), "edoc", "000.00.00.G01", "000.00.00.G22,2026/11/22,1/NĐ-CP", "000.00.00.G22", "ab", "", []byte{1, 2})
	f.Add(uint64(0), uint64(0), int64(-1), int64(0), int64(0), "status", "", "", "", "", "03", []byte(`{"k":"edoc","d":3}`))
	f.Fuzz(func(t *testing.T, doc, seq uint64, off, n, at int64, kind, to, id, from, sha, code string, junk []byte) {
		decodeOutbox(junk) // errors are fine, panics are not
		r := outboxRecord{Kind: kind, Recipient: to, Doc: doc, DocumentID: id, From: from, SHA256: sha, Code: code,
			BlobOff: off, BlobLen: n, At: time.Unix(0, at).UTC(), Seq: seq}
		got, err := decodeOutbox(r.encode())
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip: %+v\n%+v (%v)", got, r, err)
		}
		for _, s := range []string{kind, to, id, from, sha, code} {
			if !utf8.ValidString(s) {
				return // JSON itself replaces invalid UTF-8; identifiers were validated on intake
			}
		}
		old, err := decodeOutbox(mustJSON(r))
		if err != nil || !old.At.Equal(r.At) || old.Doc != r.Doc || old.Recipient != r.Recipient || old.SHA256 != r.SHA256 {
			t.Fatalf("JSON record: %+v\n%+v (%v)", old, r, err)
		}
	})
}

// FuzzDocRecord: the document record parser never panics on stored bytes, an encoded
// record reads back as it was, and records written as JSON by older versions still read.
func FuzzDocRecord(f *testing.F) {
	f.Add(uint64(7), uint64(42), uint64(0), int64(4096), int64(5518), int64(1773277200123456789), int64(0), int64(0),
		"ab12", "000.00.00.G22,2026/11/22,1/NĐ-CP", "000.00.00.G22", "Quyết định", "1", "NĐ-CP", "Nghị định", "", 1, 2, 0, "000.00.00.G01,000.00.00.H53", "3,9", []byte{1, 2})
	f.Add(uint64(0), uint64(0), uint64(3), int64(-1), int64(0), int64(0), int64(-77), int64(900),
		"", "", "", "", "", "", "", "T", 0, 0, 3, "", "", []byte(`{"n":3,"m":{"to":["x"]}}`))
	f.Fuzz(func(t *testing.T, num, seq, target uint64, off, size, at, roff, rlen int64,
		sha, id, from, subject, cn, cno, dtn, mtarget string, dt, prio, bt int, to, revs string, junk []byte) {
		decodeDoc(junk) // errors are fine, panics are not
		d := docRecord{Num: num, Seq: seq, Target: target, BlobOff: off, Size: size, At: time.Unix(0, at).UTC(),
			ReceiptOff: roff, ReceiptLen: rlen, SHA256: sha, Meta: DocumentMeta{DocumentID: id, From: from, Subject: subject,
				CodeNumber: cn, CodeNotation: cno, DocTypeName: dtn, Target: mtarget, DocType: dt, Priority: prio, BusinessType: bt}}
		if at == 0 {
			d.At = time.Time{}
		}
		d.Meta.Legacy = roff < 0 // a flag from an input already there (the seeds keep their shape)
		if to != "" {
			d.Meta.To = strings.Split(to, ",")
		}
		for i, r := range revs {
			d.Revisions = append(d.Revisions, uint64(r)*uint64(i+1))
		}
		got, err := decodeDoc(d.encode())
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Fatalf("round trip: %+v\n%+v (%v)", got, d, err)
		}
		if !allValid(sha, id, from, subject, cn, cno, dtn, mtarget, to) {
			return // JSON itself replaces invalid UTF-8
		}
		old, err := decodeDoc(mustJSON(d))
		if err != nil || !old.At.Equal(d.At) || old.Num != d.Num || old.Meta.DocumentID != d.Meta.DocumentID ||
			!reflect.DeepEqual(old.Meta.To, d.Meta.To) || !reflect.DeepEqual(old.Revisions, d.Revisions) {
			t.Fatalf("JSON record: %+v\n%+v (%v)", old, d, err)
		}
	})
}

// FuzzDeliveryRecord: the same for delivery records.
func FuzzDeliveryRecord(f *testing.F) {
	f.Add(uint8(1), "", int64(0), 2, int64(1773277200123456789), "status", "000.00.00.G01", "03", "Đã đến", "ab", uint64(9), []byte{1, 0, 0, 0, 0})
	f.Add(uint8(7), "requested", int64(5), 0, int64(-3), "", "", "", "", "", uint64(0), []byte(`{"s":"arrived","h":[]}`))
	f.Fuzz(func(t *testing.T, st uint8, recall string, arrived int64, n int, at int64, kind, from, code, desc, sha string, seq uint64, junk []byte) {
		decodeDelivery(junk) // errors are fine, panics are not
		tm := func(ns int64) time.Time {
			if ns == 0 {
				return time.Time{}
			}
			return time.Unix(0, ns).UTC()
		}
		d := deliveryRecord{State: byteState[int(st)%len(byteState)], Recall: Recall(recall), ArrivedAt: tm(arrived), History: []HistoryEntry{}}
		for i := range n % 5 {
			d.History = append(d.History, HistoryEntry{Time: tm(at + int64(i)), Kind: kind, From: from, Code: code,
				Description: desc, SHA256: sha, AuditSeq: seq + uint64(i)})
		}
		got, err := decodeDelivery(d.encode())
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Fatalf("round trip: %+v\n%+v (%v)", got, d, err)
		}
		if !allValid(recall, kind, from, code, desc, sha) {
			return
		}
		old, err := decodeDelivery(mustJSON(d))
		if err != nil || old.State != d.State || old.Recall != d.Recall || !old.ArrivedAt.Equal(d.ArrivedAt) || len(old.History) != len(d.History) {
			t.Fatalf("JSON record: %+v\n%+v (%v)", old, d, err)
		}
		for i := range old.History {
			if !old.History[i].Time.Equal(d.History[i].Time) || old.History[i].AuditSeq != d.History[i].AuditSeq || old.History[i].Description != d.History[i].Description {
				t.Fatalf("JSON history %d: %+v\n%+v", i, old.History[i], d.History[i])
			}
		}
	})
}

func allValid(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
