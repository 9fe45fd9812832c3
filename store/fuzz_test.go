package store

import (
	"reflect"
	"testing"
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
