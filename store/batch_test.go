package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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
		if j.blob, err = s.writeBlob(req.Bytes); err != nil {
			t.Fatal(err)
		}
		j.written = true
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
	s.commit([]*op{oA, oBad, oDup, oC, oA2}, false)
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

// TestBlobLogAfterFailedCommit: the package bytes were appended to the blob log but the
// bbolt commit failed. Those bytes are never referenced (dead space), later bytes land
// after them intact, and a reopen cuts off what lies past the recorded end.
func TestBlobLogAfterFailedCommit(t *testing.T) {
	dir := t.TempDir()
	var fail atomic.Bool
	s := openStore(t, dir, func(o *Options) {
		o.FailWrites = func() error {
			if fail.Load() {
				return errors.New("disk full")
			}
			return nil
		}
	})
	first := must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "first")))
	s.receipts.sync()
	fail.Store(true)
	_, err := s.Accept(ctx, pkg("D2", vpcp, []string{bca}, strings.Repeat("lost ", 100)))
	wantCode(t, err, errs.Unavailable)
	fail.Store(false)
	second := must[AcceptResult](t)(s.Accept(ctx, pkg("D3", vpcp, []string{bca}, "second")))
	s.receipts.sync()
	for _, r := range []AcceptResult{first, second} {
		b := must[[]byte](t)(s.Bytes(ctx, r.SHA256))
		if fmt.Sprintf("%x", sha256.Sum256(b)) != r.SHA256 {
			t.Fatalf("bytes of %s damaged", r.DocumentID)
		}
	}
	fail.Store(true)
	_, err = s.Accept(ctx, pkg("D4", vpcp, []string{bca}, strings.Repeat("tail ", 100)))
	wantCode(t, err, errs.Unavailable)
	fail.Store(false)
	if fi, err := os.Stat(filepath.Join(dir, BlobFileName)); err != nil || fi.Size() <= s.blobEnd {
		t.Fatalf("blob log %d bytes, committed %d: the failed package's bytes should be past the end (%v)", fi.Size(), s.blobEnd, err)
	}
	s.Close()
	s = openStore(t, dir)
	fi, err := os.Stat(filepath.Join(dir, BlobFileName))
	if err != nil || fi.Size() != s.blobEnd {
		t.Fatalf("blob log %d bytes, committed %d: %v", fi.Size(), s.blobEnd, err)
	}
	for _, id := range []string{"D2", "D4"} {
		if _, err := s.Document(ctx, id); !errs.Is(err, errs.NotFound) {
			t.Fatalf("failed commit left document %s", id)
		}
	}
	third := must[AcceptResult](t)(s.Accept(ctx, pkg("D5", vpcp, []string{bca}, "third")))
	for _, r := range []AcceptResult{first, second, third} {
		b := must[[]byte](t)(s.Bytes(ctx, r.SHA256))
		if fmt.Sprintf("%x", sha256.Sum256(b)) != r.SHA256 {
			t.Fatalf("bytes of %s damaged after reopen", r.DocumentID)
		}
		if d := must[Document](t)(s.Document(ctx, r.DocumentID)); len(d.Receipt) == 0 {
			t.Fatalf("receipt of %s missing", r.DocumentID)
		}
	}
	verifyLog(t, s)
}

// TestBlobLogConcurrentAppends: appends from many goroutines, small and large, each
// land where their reference says, share fsyncs, and a failed fsync stops the log.
func TestBlobLogConcurrentAppends(t *testing.T) {
	f := &countingFile{File: must[*os.File](t)(os.Create(filepath.Join(t.TempDir(), BlobFileName)))}
	defer f.Close()
	l := newBlobLog(f, 0)
	sizes := []int{100, 700 << 10, 200, 1500 << 10, 300 << 10, 300 << 10, 5000, 50}
	const rounds = 8
	refs := make([][]blobRef, len(sizes))
	var wg sync.WaitGroup
	for i, n := range sizes {
		refs[i] = make([]blobRef, rounds)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				ref, err := l.append(bytes.Repeat([]byte{byte('a' + i + r)}, n), false)
				if err != nil {
					t.Error(err)
					return
				}
				refs[i][r] = ref
			}
		}()
	}
	wg.Wait()
	var total int64
	for i, n := range sizes {
		for r, ref := range refs[i] {
			b := make([]byte, ref.Len)
			if _, err := f.ReadAt(b, ref.Off); err != nil || !bytes.Equal(b, bytes.Repeat([]byte{byte('a' + i + r)}, n)) {
				t.Fatalf("append %d/%d at %d: bytes differ (%v)", i, r, ref.Off, err)
			}
			total += ref.Len
		}
	}
	if l.end != total {
		t.Fatalf("log end %d, appended %d: ranges overlap or have gaps", l.end, total)
	}
	t.Logf("%d appends, %d fsyncs", len(sizes)*rounds, f.syncs.Load())
	if f.syncs.Load() > int64(len(sizes)*rounds) {
		t.Fatalf("%d fsyncs for %d appends", f.syncs.Load(), len(sizes)*rounds)
	}
	f.fail.Store(true)
	if ref, err := l.append([]byte("x"), false); err != nil || l.waitSynced(ref.sync) == nil {
		t.Fatalf("append made durable with a failing fsync (%v)", err)
	}
	f.fail.Store(false)
	if _, err := l.append([]byte("y"), false); err == nil {
		t.Fatal("the log accepted appends after a failed fsync (their durability is unknown)")
	}
}

type countingFile struct {
	*os.File
	syncs atomic.Int64
	fail  atomic.Bool
}

func (f *countingFile) Sync() error {
	f.syncs.Add(1)
	if f.fail.Load() {
		return errors.New("EIO")
	}
	return f.File.Sync()
}

// syncFailingFile is the blob log's file with fsyncs that fail while fail is set.
type syncFailingFile struct {
	blobFile
	fail atomic.Bool
}

func (f *syncFailingFile) Sync() error {
	if f.fail.Load() {
		return errors.New("EIO")
	}
	return f.blobFile.Sync()
}

// TestNoCommitBeforeItsBytesAreDurable: bytes are durable before any record referencing
// them, whether the blob log's fsync makes them so (large ones) or the write-ahead record
// carries them (quietBlobMax). Every path that records new bytes (package, status, receipt
// stored before answering, receipts stored in the background) must therefore fail,
// writing nothing, when that fsync or that record fails; and the store then stops
// writing and says so (OnFail), so that the daemon reopens it (recovery).
func TestNoCommitBeforeItsBytesAreDurable(t *testing.T) {
	for _, c := range []struct {
		name  string
		quiet int
	}{{"fsynced", 0}, {"in the log record", 1 << 20}} {
		for _, path := range []string{"package", "status", "receipt", "background receipts"} {
			t.Run(c.name+"/"+path, func(t *testing.T) {
				defer func(q int) { quietBlobMax = q }(quietBlobMax)
				quietBlobMax = c.quiet
				noCommitBeforeDurable(t, path, c.quiet > 0)
			})
		}
	}
}

func noCommitBeforeDurable(t *testing.T, path string, quiet bool) {
	dir := t.TempDir()
	var walFails atomic.Bool
	stopped := make(chan error, 1)
	s := openStore(t, dir, func(o *Options) {
		o.FailLog = func() error {
			if walFails.Load() {
				return errors.New("injected write-ahead failure")
			}
			return nil
		}
		o.OnFail = func(err error) { stopped <- err }
	})
	first := must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	s.receipts.sync()
	f := &syncFailingFile{blobFile: s.blobs.f}
	s.blobs.f = f
	before := head(t, s)
	if quiet {
		walFails.Store(true)
	} else {
		f.fail.Store(true)
	}
	var err error
	switch path {
	case "package":
		_, err = s.Accept(ctx, pkg("D2", vpcp, []string{bca}, "b"))
	case "status":
		_, err = s.RecordStatus(ctx, status("D1", bca, CodeArrived))
	case "receipt":
		_, err = s.storeReceipt(ctx, first.doc+1000, []byte("<Receipt/>"))
	case "background receipts": // the failure is logged; the receipt is rebuilt later
		s.storeReceipts([]queuedReceipt{{doc: first.doc + 1000, rc: []byte("<Receipt/>")}})
	}
	if path != "background receipts" {
		wantCode(t, err, errs.Unavailable)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the store did not stop writing (OnFail) after a failed durable write")
	}
	wantCode(t, s.Ping(ctx), errs.Unavailable)
	s.Close()
	s = openStore(t, dir)
	for _, typ := range eventsAfter(t, s, before) {
		if typ != audit.Checkpoint { // Close writes one
			t.Fatalf("a %s event was committed although its bytes' fsync failed", typ)
		}
	}
	if err := s.view(ctx, func(tx *bolt.Tx) error {
		if _, ok := storedReceipt(tx, first.doc+1000); ok {
			return errors.New("a receipt was recorded before its bytes were durable")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if d := stateOf(t, s, "D1", bca); d.State != StatePending {
		t.Fatalf("status recorded before its bytes were durable: %+v", d)
	}
	verifyLog(t, s)
}

// TestOnOutboxAfterDeliveriesOnly: the dispatcher's wake-up comes from the writer after a
// commit that added deliveries (an accepted package, a recorded status), and not after
// commits that add none (a duplicate, a publication).
func TestOnOutboxAfterDeliveriesOnly(t *testing.T) {
	var calls atomic.Int32
	s := openStore(t, t.TempDir(), func(o *Options) { o.OnOutbox = func() { calls.Add(1) } })
	expect := func(what string, want int32) {
		t.Helper()
		if got := calls.Swap(0); got != want {
			t.Fatalf("%s: OnOutbox called %d times, want %d", what, got, want)
		}
	}
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca, tn}, "one")))
	expect("accepted package", 1)
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca, tn}, "one")))
	expect("duplicate package", 0)
	pend := must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 10))
	if err := s.MarkPublished(ctx, pend[0].ID, pend[1].ID); err != nil {
		t.Fatal(err)
	}
	expect("publication", 0)
	must[StatusResult](t)(s.RecordStatus(ctx, status("D1", bca, CodeArrived)))
	expect("recorded status", 1)
}

// TestNoReadBeforeTheLogIsDurable: bbolt commits a batch while its write-ahead record is
// being synced; no read may begin on that commit before the sync returns (a read then
// could answer, or the dispatcher publish, what a power cut takes back).
func TestNoReadBeforeTheLogIsDurable(t *testing.T) {
	g := &syncGate{}
	s := openStore(t, t.TempDir(), func(o *Options) { o.FailLogSync = g.hook })
	first := must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	s.receipts.sync() // the batch held below is D2's, not D1's receipt
	t.Cleanup(g.open) // before the store's Close (cleanups run last first)
	g.holdNext()
	accepted := make(chan error, 1)
	go func() {
		_, err := s.Accept(ctx, pkg("D2", vpcp, []string{bca}, "b"))
		accepted <- err
	}()
	g.waitHeld()
	// The intake's shortcut does not wait: it says not found, and the full path follows.
	if _, err := s.AcceptedBySHA(ctx, first.SHA256); !errs.Is(err, errs.NotFound) {
		t.Fatalf("AcceptedBySHA during the sync: %v, want not_found at once", err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := s.Document(ctx, "D2")
		read <- err
	}()
	select {
	case err := <-read:
		t.Fatalf("a read began while the batch's record was not durable (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	g.open()
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatalf("the read after the sync: %v", err)
	}
	s.receipts.sync() // D2's receipt: the last batch
	if _, err := s.AcceptedBySHA(ctx, first.SHA256); err != nil {
		t.Fatalf("AcceptedBySHA with no sync in progress: %v", err)
	}
}

// TestLogSyncFailsAfterBoltCommit: the record's fsync fails after bbolt committed the
// batch. Its caller is told it may or may not be kept, the store stops writing and
// reading (what bbolt holds may be more than the log), and opened again it holds either
// the whole batch or none of it, with a chain that verifies.
func TestLogSyncFailsAfterBoltCommit(t *testing.T) {
	dir := t.TempDir()
	var fail atomic.Bool
	stopped := make(chan error, 1)
	s := openStore(t, dir, func(o *Options) {
		o.FailLogSync = func() error {
			if fail.Load() {
				return errors.New("injected fsync failure")
			}
			return nil
		}
		o.OnFail = func(err error) { stopped <- err }
	})
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	s.receipts.sync() // D1's receipt is not the batch that fails
	fail.Store(true)
	_, err := s.Accept(ctx, pkg("D2", vpcp, []string{bca}, "b"))
	wantCode(t, err, errs.Unavailable)
	if !strings.Contains(err.Error(), "once the store recovers") {
		t.Fatalf("the caller is not told the outcome is unknown: %v", err)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the store did not stop writing (OnFail)")
	}
	_, err = s.Document(ctx, "D2")
	wantCode(t, err, errs.Unavailable)
	_, err = s.Document(ctx, "D1")
	wantCode(t, err, errs.Unavailable)
	s.Close()
	s = openStore(t, dir)
	if _, err := s.Document(ctx, "D1"); err != nil {
		t.Fatalf("an acknowledged package is lost: %v", err)
	}
	if _, err := s.Document(ctx, "D2"); err != nil && !errs.Is(err, errs.NotFound) {
		t.Fatal(err)
	}
	verifyLog(t, s)
}

// TestChecksWhileALogSyncs: submissions arriving while a batch's write-ahead record
// syncs do not wait for it (they would miss the next batch): the writer checks them and
// writes the bytes of those it takes. Every answer is the one the snapshot would have
// given, and refused or repeated submissions write no bytes.
func TestChecksWhileALogSyncs(t *testing.T) {
	g := &syncGate{}
	s := openStore(t, t.TempDir(), func(o *Options) { o.FailLogSync = g.hook })
	d1 := pkg("D1", vpcp, []string{bca}, "a")
	must[AcceptResult](t)(s.Accept(ctx, d1))
	st01 := status("D1", bca, "01")
	must[StatusResult](t)(s.RecordStatus(ctx, st01))
	s.receipts.sync()
	t.Cleanup(g.open)

	g.holdNext()
	type outcome struct {
		name    string
		receipt []byte
		err     error
	}
	results := make(chan outcome, 8)
	accept := func(name string, r AcceptRequest) {
		go func() {
			res, err := s.Accept(ctx, r)
			results <- outcome{name, res.Receipt, err}
		}()
	}
	record := func(name string, r StatusRequest) {
		go func() {
			_, err := s.RecordStatus(ctx, r)
			results <- outcome{name, nil, err}
		}()
	}
	accept("D2 (the batch held in its sync)", pkg("D2", vpcp, []string{bca}, "b"))
	g.waitHeld()
	end := s.blobs.end // D2's bytes included: written before the writer took it

	d3 := pkg("D3", vpcp, []string{bca}, "c")
	st02 := status("D1", bca, "02")
	other := d1
	other.Bytes = []byte("<edXML>D1|other</edXML>")
	accept("new", d3)
	accept("identical", d1)
	accept("same id, other bytes", other)
	accept("revision of nothing", revision(pkg("D9", vpcp, []string{bca}, "r"), 1, "DX"))
	record("new status", st02)
	record("identical status", st01)
	record("status of nothing", status("DX", bca, "01"))
	// All seven reach the writer's queue while the sync is held: none waited for it
	// (a refused one checked on a snapshot would never be queued).
	deadline := time.Now().Add(10 * time.Second)
	for len(s.ops) < 7 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 7 submissions queued while the record synced: the others wait for it", len(s.ops))
		}
		time.Sleep(time.Millisecond)
	}
	g.open()
	want := map[string]errs.Code{"D2 (the batch held in its sync)": "", "new": "", "identical": "",
		"same id, other bytes": errs.DuplicateDocument, "revision of nothing": errs.UnknownTarget,
		"new status": "", "identical status": "", "status of nothing": errs.UnknownTarget}
	grew := int64(len(d3.Bytes) + len(st02.Bytes))
	for range want {
		o := <-results
		if got := errs.CodeOf(o.err); o.err != nil && got != want[o.name] || o.err == nil && want[o.name] != "" {
			t.Errorf("%s: %v, want %q", o.name, o.err, want[o.name])
		}
		if o.name == "new" || o.name == "D2 (the batch held in its sync)" {
			grew += int64(len(o.receipt))
		}
	}
	s.receipts.sync()
	if got := s.blobs.end - end; got != grew {
		t.Errorf("the blob log grew by %d bytes, want %d: refused or repeated submissions wrote bytes", got, grew)
	}
	d, err := s.Document(ctx, "D3")
	if err != nil || d.Size != int64(len(d3.Bytes)) {
		t.Fatalf("D3: %+v, %v", d, err)
	}
	b, err := s.Bytes(ctx, d.SHA256)
	if err != nil || !bytes.Equal(b, d3.Bytes) {
		t.Fatalf("D3's bytes: %q, %v", b, err)
	}
}

// syncGate holds one write-ahead sync (Options.FailLogSync) until opened: while it is
// held, a batch is committed in bbolt but not durable, and the visible gate is taken.
type syncGate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	init    sync.Once
}

func (g *syncGate) chans() {
	g.init.Do(func() { g.entered, g.release = make(chan struct{}, 1), make(chan struct{}) })
}

// hook is the FailLogSync hook.
func (g *syncGate) hook() error {
	if g.armed.Load() {
		g.chans()
		g.entered <- struct{}{}
		<-g.release
	}
	return nil
}

// holdNext holds the next sync; waitHeld returns once a batch waits in it.
func (g *syncGate) holdNext() { g.chans(); g.armed.Store(true) }
func (g *syncGate) waitHeld() { <-g.entered; g.armed.Store(false) }

// open lets the held sync (and any later one) go; it may be called more than once.
func (g *syncGate) open() { g.chans(); g.once.Do(func() { close(g.release) }) }
