package store

import (
	"reflect"
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
