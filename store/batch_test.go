package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"axis/axis/errs"
	"axis/store/audit"
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
	oA, rA := mk(pkg("A", vpcp, []string{bca}, "a"))
	oBad, _ := mk(pkg("BAD", vpcp, []string{bca}, "x"))
	badRun := oBad.run
	oBad.run = func(w *wtx) error { // everything written, then a failure
		if err := badRun(w); err != nil {
			return err
		}
		return errs.Wrap(errs.Internal, errors.New("signer down"), "late failure")
	}
	oDup, _ := mk(pkg("A", vpcp, []string{bca}, "other bytes"))
	oC, rC := mk(pkg("C", vpcp, []string{tn}, "c"))
	oA2, rA2 := mk(pkg("A", vpcp, []string{bca}, "a")) // identical to A, same batch
	s.commit([]*op{oA, oBad, oDup, oC, oA2})
	if err := <-oA2.done; err != nil || !rA2.Existing || rA2.AuditSeq != 1 || rA2.doc != rA.doc {
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

// TestTamperedRecordDetected edits a stored audit record in the file: the rebuilt line
// carries the hash recorded at write time, so verification fails at that seq.
func TestTamperedRecordDetected(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	for range 5 {
		must[uint64](t)(s.RecordRejected(ctx, Rejection{Code: "malformed_xml", Detail: "original"}))
	}
	s.Close()
	s = openStore(t, dir)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		rec := bytes.Clone(b.Get(u64(3)))
		e, h, err := decodeAuditRecord(3, "", rec)
		if err != nil {
			return err
		}
		e.Detail = "forged"
		return b.Put(u64(3), encodeAuditRecord(&e, h))
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.VerifyAudit(ctx, trust())
	if err != nil || r.Break == nil || r.Break.Seq != 3 || r.LastSeq != 2 {
		t.Fatalf("tampering not detected: %+v %v", r, err)
	}
}

func FuzzAuditRecord(f *testing.F) {
	f.Add("000.00.00.G22,2015/09/30,7816/VPCP-TTĐT", "000.00.00.G22", "000.00.00.G01,000.00.00.H53", "01", "detail \n\xff", "ab", int64(1), uint8(3), []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, doc, from, to, code, detail, sha string, ns int64, typ uint8, junk []byte) {
		decodeAuditRecord(1, audit.ZeroHash, junk) // must not panic
		e := audit.Event{Seq: 7, Prev: audit.ZeroHash, Time: time.Unix(0, ns).UTC(), Type: auditTypes[int(typ)%len(auditTypes)],
			DocumentID: doc, From: from, To: to, SHA256: sha, Code: code, Detail: detail}
		line, h := audit.Line(&e)
		got, gh, err := decodeAuditRecord(7, audit.ZeroHash, encodeAuditRecord(&e, h))
		if err != nil || gh != h {
			t.Fatalf("decode: %v", err)
		}
		if again := audit.AppendLine(nil, &got, gh); !bytes.Equal(again, line) {
			t.Fatalf("rebuilt line differs:\n%s\n%s", line, again)
		}
	})
}

// TestBlobLogAfterFailedCommit: the blob log was written and synced but the bbolt commit
// failed. Those bytes are never referenced, the next batch overwrites them, and a reopen
// cuts off any that remain.
func TestBlobLogAfterFailedCommit(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	first := must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "first")))
	s.afterBlobFlush = func() error { return errors.New("disk full") }
	_, err := s.Accept(ctx, pkg("D2", vpcp, []string{bca}, strings.Repeat("lost ", 100)))
	wantCode(t, err, errs.Unavailable)
	s.afterBlobFlush = nil
	second := must[AcceptResult](t)(s.Accept(ctx, pkg("D3", vpcp, []string{bca}, "second")))
	for _, r := range []AcceptResult{first, second} {
		b := must[[]byte](t)(s.Bytes(ctx, r.SHA256))
		if fmt.Sprintf("%x", sha256.Sum256(b)) != r.SHA256 {
			t.Fatalf("bytes of %s damaged", r.DocumentID)
		}
	}
	s.afterBlobFlush = func() error { return errors.New("disk full") }
	_, err = s.Accept(ctx, pkg("D4", vpcp, []string{bca}, strings.Repeat("tail ", 100)))
	wantCode(t, err, errs.Unavailable)
	s.afterBlobFlush = nil
	s.Close()
	s = openStore(t, dir)
	fi, err := os.Stat(filepath.Join(dir, BlobFileName))
	if err != nil || fi.Size() != s.blobEnd {
		t.Fatalf("blob log %d bytes, committed %d: %v", fi.Size(), s.blobEnd, err)
	}
	if _, err := s.Document(ctx, "D2"); !errs.Is(err, errs.NotFound) {
		t.Fatal("failed commit left a document")
	}
	verifyLog(t, s)
}

// TestBlobCoalescing writes small and large blobs in one batch: every byte lands where
// its reference says.
func TestBlobCoalescing(t *testing.T) {
	s := openStore(t, t.TempDir())
	sizes := []int{100, 700 << 10, 200, 1500 << 10, 300 << 10, 300 << 10, 300 << 10, 50}
	var ops []*op
	var jobs []*acceptJob
	for i, n := range sizes {
		b := bytes.Repeat([]byte{byte('a' + i)}, n)
		j, err := prepareAccept(AcceptRequest{Meta: DocumentMeta{DocumentID: fmt.Sprint("C", i), From: vpcp, To: []string{bca}}, Bytes: b})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
		o := &op{done: make(chan error, 1)}
		o.run = func(w *wtx) error { _, err := j.run(w); return err }
		ops = append(ops, o)
	}
	s.commit(ops)
	for i, o := range ops {
		if err := <-o.done; err != nil {
			t.Fatal(err)
		}
		b := must[[]byte](t)(s.Bytes(ctx, jobs[i].hexSum))
		if fmt.Sprintf("%x", sha256.Sum256(b)) != jobs[i].hexSum {
			t.Fatalf("blob %d: %d bytes", i, len(b))
		}
	}
}
