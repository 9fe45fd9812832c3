package store

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"axis/axis/errs"
)

// TestBatchIsolation runs one batch by hand: an operation failing after it wrote is
// rolled back and the others of its batch still commit; a clean refusal costs nothing.
func TestBatchIsolation(t *testing.T) {
	s := openStore(t, t.TempDir())
	mk := func(req AcceptRequest) (*op, *AcceptResult) {
		var res AcceptResult
		j, err := prepareAccept(req)
		if err != nil {
			t.Fatal(err)
		}
		o := &op{done: make(chan error, 1)}
		o.run = func(w *wtx) error {
			r, err := j.run(w)
			res = r
			return err
		}
		return o, &res
	}
	bad := pkg("BAD", vpcp, []string{bca}, "x")
	bad.Receipt = func(uint64, time.Time) ([]byte, error) { return nil, errors.New("signer down") }
	oA, rA := mk(pkg("A", vpcp, []string{bca}, "a"))
	oBad, _ := mk(bad)
	oDup, _ := mk(pkg("A", vpcp, []string{bca}, "other bytes"))
	oC, rC := mk(pkg("C", vpcp, []string{tn}, "c"))
	oA2, rA2 := mk(pkg("A", vpcp, []string{bca}, "a")) // identical to A, same batch
	s.commit([]*op{oA, oBad, oDup, oC, oA2})
	if err := <-oA2.done; err != nil || !rA2.Existing || rA2.AuditSeq != 1 || !bytes.Equal(rA2.Receipt, rA.Receipt) || len(rA.Receipt) == 0 {
		t.Fatalf("identical resubmission in the same batch: %v %+v", err, rA2)
	}
	if err := <-oA.done; err != nil {
		t.Fatal(err)
	}
	wantCode(t, <-oBad.done, errs.Internal)
	wantCode(t, <-oDup.done, errs.DuplicateDocument)
	if err := <-oC.done; err != nil {
		t.Fatal(err)
	}
	if rA.AuditSeq != 1 || rC.AuditSeq != 2 {
		t.Fatalf("seqs %d %d: the failed op's seq must not be used", rA.AuditSeq, rC.AuditSeq)
	}
	if _, err := s.Document(ctx, "BAD"); !errs.Is(err, errs.NotFound) {
		t.Fatal("failed op left data")
	}
	must[Document](t)(s.Document(ctx, "C"))
	verifyLog(t, s)
}
