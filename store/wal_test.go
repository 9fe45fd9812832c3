package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"axis/axis/errs"
)

// dump is every bucket's keys, values and sequence, for comparing two stores exactly.
func dump(t testing.TB, db *bolt.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			b := tx.Bucket(name)
			out[string(name)+"#seq"] = fmt.Sprint(b.Sequence())
			if err := b.ForEach(func(k, v []byte) error {
				if bytes.Equal(name, bMeta) && bytes.Equal(k, kReceiptsIncomplete) {
					return nil // set while a store is open, deleted by a clean close
				}
				out[string(name)+"/"+string(k)] = string(v)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameDump(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d keys, want %d", what, len(got), len(want))
	}
	n := 0
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			if n++; n <= 5 {
				t.Errorf("%s: key %q differs (present %v)", what, k, ok)
			}
		}
	}
	if n > 0 {
		t.Fatalf("%s: %d keys differ", what, n)
	}
}

// work writes a mix of everything the writer does: accepts, statuses, publications,
// background receipts.
func work(t *testing.T, s *Store, prefix string, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		must[AcceptResult](t)(s.Accept(ctx, pkg(id, vpcp, []string{bca, tn, btc}, "power "+id)))
		if i%3 == 0 {
			must[StatusResult](t)(s.RecordStatus(ctx, status(id, bca, CodeArrived)))
		}
		if i%5 == 4 {
			pend := must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 20))
			ids := make([]uint64, len(pend))
			for j, e := range pend {
				ids[j] = e.ID
			}
			if err := s.MarkPublished(ctx, ids...); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.receipts.sync()
}

// mixPages is a disk's content after a power loss: page by page, what was synced or what
// was written since (zeros for pages the file had grown by).
func mixPages(rng *rand.Rand, synced, final []byte, page int) (image []byte, newer int) {
	image = make([]byte, len(final))
	for off := 0; off < len(final); off += page {
		end := min(off+page, len(final))
		var p []byte
		switch {
		case end <= len(synced) && rng.IntN(2) == 0:
			p = synced[off:end]
		case end > len(synced) && rng.IntN(3) == 0:
			p = make([]byte, end-off) // grown, never written
		default:
			p = final[off:end]
		}
		if end <= len(synced) && !bytes.Equal(p, synced[off:end]) {
			newer++
		}
		copy(image[off:], p)
	}
	return image, newer
}

// durableFile keeps a copy of what its file's fsyncs made durable.
type durableFile struct {
	blobFile
	path    string
	mu      sync.Mutex
	durable []byte
}

func (f *durableFile) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.blobFile.Sync()
	if err == nil {
		f.durable, err = os.ReadFile(f.path)
	}
	return err
}

func (f *durableFile) durableCopy() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.durable
}

// copyDir copies the data directory's files, some replaced by images.
func copyDir(t *testing.T, from, to string, images map[string][]byte) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if img, ok := images[e.Name()]; ok {
			b = img
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPowerLossRecovery models a power loss: of the store file, the disk holds what the
// last checkpoint synced, plus any subset of the pages written since (each page either
// made it or not, or is zeros where the file had grown), meta pages included. The write-
// ahead log holds what was synced. Recovery must give exactly the acknowledged state,
// whichever subset reached the disk. Without the pin, commits after the checkpoint reuse
// its pages and the mixed images lose data; without the meta restore, bbolt opens a newer
// meta pointing at pages that never arrived.
func TestPowerLossRecovery(t *testing.T) {
	for _, midCheckpoint := range []bool{false, true} {
		t.Run(fmt.Sprintf("checkpoint_during_load=%v", midCheckpoint), func(t *testing.T) {
			dir := t.TempDir()
			var synced, blobsSynced []byte // the files as the last checkpoint left them
			checkpointed := make(chan struct{}, 1)
			s := openStore(t, dir, func(o *Options) {
				o.SyncEvery = time.Hour // checkpoints only when the test asks
				o.testCheckpointed = func() { checkpointed <- struct{}{} }
			})
			blobPath := filepath.Join(dir, BlobFileName)
			// The checkpoint at open: the files are durable as they are. The blob log's
			// file tells what its fsyncs made durable.
			synced = must[[]byte](t)(os.ReadFile(Path(dir)))
			tf := &durableFile{blobFile: s.blobs.f, path: blobPath}
			tf.Sync()
			s.blobs.f = tf
			// The blob log's own fsyncs (the one after extending the file at the first
			// append, the checkpoint's) run in the background: on a loaded machine one
			// could end after the work below and make all of it durable, leaving nothing
			// newer to lose. Each must end before that work.
			blobsIdle := func() {
				for {
					s.blobs.mu.Lock()
					idle := !s.blobs.syncing && !s.blobs.extending
					s.blobs.mu.Unlock()
					if idle {
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
			work(t, s, "before", 60)
			blobsIdle()
			if midCheckpoint {
				s.ckNow.Store(true)
				work(t, s, "trigger", 1)
				<-checkpointed
				// The checkpoint synced the file; the writer is idle (every call returned).
				synced = must[[]byte](t)(os.ReadFile(Path(dir)))
				blobsIdle()
			}
			work(t, s, "after", 150)
			want := dump(t, s.db)
			final := must[[]byte](t)(os.ReadFile(Path(dir)))
			blobsFinal := must[[]byte](t)(os.ReadFile(blobPath))
			blobEnd := s.blobEnd
			blobsSynced = tf.durableCopy()
			page := s.db.Info().PageSize
			if bytes.Equal(final, synced) || bytes.Equal(blobsFinal, blobsSynced) {
				t.Fatal("nothing written after the checkpoint")
			}
			for seed := range uint64(12) {
				rng := rand.New(rand.NewPCG(seed, 7))
				image, changed := mixPages(rng, synced, final, page)
				blobImage, _ := mixPages(rng, blobsSynced, blobsFinal, 4096)
				d := t.TempDir()
				copyDir(t, dir, d, map[string][]byte{FileName: image, BlobFileName: blobImage})
				r, err := Open(d, Options{Checkpoints: fakeSigner()})
				if err != nil {
					t.Fatalf("seed %d (%d pages newer than the checkpoint): %v", seed, changed, err)
				}
				sameDump(t, fmt.Sprintf("seed %d", seed), dump(t, r.db), want)
				checkTree(t, fmt.Sprintf("seed %d", seed), r)
				if got := must[[]byte](t)(os.ReadFile(filepath.Join(d, BlobFileName))); !bytes.Equal(got[:blobEnd], blobsFinal[:blobEnd]) {
					t.Fatalf("seed %d: the blob log differs after recovery", seed)
				}
				if rep := verifyLog(t, r); rep.LastSeq == 0 {
					t.Fatal("empty audit log")
				}
				// The recovered store works and survives a clean restart.
				work(t, r, fmt.Sprintf("again%d", seed), 3)
				checkTree(t, fmt.Sprintf("seed %d, written after recovery", seed), r)
				again := dump(t, r.db)
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
				r2 := must[*Store](t)(Open(d, Options{Checkpoints: fakeSigner()}))
				got := dump(t, r2.db)
				r2.Close()
				// Close added its audit checkpoint: one event and the head.
				delete(got, "meta/audit_head")
				delete(again, "meta/audit_head")
				for k, v := range again {
					if got[k] != v {
						t.Fatalf("reopened: key %q lost or changed", k)
					}
				}
				if len(got) != len(again)+1 {
					t.Fatalf("reopened: %d keys, want %d and the closing checkpoint", len(got), len(again))
				}
			}
		})
	}
}

// TestCrashWithoutCheckpointRecovers: kill -9 between checkpoints (the page cache keeps
// every write) recovers the same state, by the same path.
func TestCrashWithoutCheckpointRecovers(t *testing.T) {
	dir := t.TempDir()
	s := must[*Store](t)(Open(dir, Options{Checkpoints: fakeSigner(), SyncEvery: time.Hour}))
	work(t, s, "doc", 40)
	want := dump(t, s.db)
	s.crashForTest()
	// Read-only tools refuse a store that needs recovery rather than show a stale one.
	_, err := Open(dir, Options{ReadOnly: true})
	wantCode(t, err, errs.Unavailable)
	r := openStore(t, dir)
	sameDump(t, "recovered", dump(t, r.db), want)
	verifyLog(t, r)
}

// checkTree runs bbolt's consistency check: no page both reachable and free, none lost.
func checkTree(t *testing.T, what string, s *Store) {
	t.Helper()
	if err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// newestMetaFreelist reads the freelist page id of the file's newest valid meta page.
func newestMetaFreelist(t *testing.T, dir string) uint64 {
	t.Helper()
	const pageSize = 4096
	b, err := os.ReadFile(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	var txid, freelist uint64
	found := false
	for slot := range 2 {
		p := b[slot*pageSize : (slot+1)*pageSize]
		if id := nativeEndian.Uint64(p[metaTxidOff:]); validMeta(p, id) && (!found || id > txid) {
			txid, freelist, found = id, nativeEndian.Uint64(p[metaFreelistOff:]), true
		}
	}
	if !found {
		t.Fatal("no valid meta page")
	}
	return freelist
}

// TestFreelistAtCheckpointsAndCleanClose: ordinary commits leave bbolt's freelist out
// (writing it, with the pins' pending pages sorted in, was a third of each commit); the
// commit a checkpoint pins writes it, so that recovery from that checkpoint reads it
// rather than walks the tree, and so does a clean close, for the next open.
func TestFreelistAtCheckpointsAndCleanClose(t *testing.T) {
	const noFreelist = ^uint64(0)
	dir := t.TempDir()
	checkpointed := make(chan struct{}, 1)
	s := must[*Store](t)(Open(dir, Options{Checkpoints: fakeSigner(), SyncEvery: time.Hour,
		testCheckpointed: func() { checkpointed <- struct{}{} }}))
	work(t, s, "a", 30)
	if got := newestMetaFreelist(t, dir); got != noFreelist {
		t.Fatalf("an ordinary commit wrote a freelist (page %d)", got)
	}
	s.ckNow.Store(true)
	work(t, s, "b", 1)
	<-checkpointed
	work(t, s, "c", 20)
	s.crashForTest()
	plan := must[recoveryPlan](t)(planRecovery(dir))
	if plan.cp == nil || len(plan.batches) == 0 {
		t.Fatal("no checkpoint with batches after it to recover from")
	}
	if got := nativeEndian.Uint64(plan.cp.Meta[metaFreelistOff:]); got == noFreelist {
		t.Fatal("the checkpoint's state has no freelist: recovery walks the whole tree")
	}
	r := openStore(t, dir)
	checkTree(t, "recovered store", r)
	work(t, r, "d", 30)
	checkTree(t, "written after recovery", r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := newestMetaFreelist(t, dir); got == noFreelist {
		t.Fatal("a clean close left no freelist: the next open walks the whole tree")
	}
	ro := must[*Store](t)(Open(dir, Options{ReadOnly: true}))
	want := dump(t, ro.db)
	ro.Close()
	again := openStore(t, dir)
	checkTree(t, "reopened store", again)
	sameDump(t, "reopened", dump(t, again.db), want)
}

// TestSyncedModeNearTheMapping: a store close to bbolt's mapping switches to synced
// commits (a pin would block the remap) and a crash in that mode loses nothing.
func TestSyncedModeNearTheMapping(t *testing.T) {
	dir := t.TempDir()
	s := must[*Store](t)(Open(dir, Options{Checkpoints: fakeSigner(), SyncEvery: 20 * time.Millisecond,
		testMapSize: mapHeadroom + 400<<10}))
	work(t, s, "doc", 150)
	if !s.synced {
		t.Fatalf("still in write-ahead mode at %d bytes", must[int64](t)(s.MappedSize(ctx)))
	}
	want := dump(t, s.db)
	s.crashForTest()
	r := openStore(t, dir)
	sameDump(t, "recovered", dump(t, r.db), want)
	verifyLog(t, r)
}

// TestFailedLogWriteStopsWrites: after a write-ahead append fails, what is durable is no
// longer known: the store refuses every write (503) until a restart, whose recovery
// keeps every acknowledged write and nothing of the failed batch.
func TestFailedLogWriteStopsWrites(t *testing.T) {
	dir := t.TempDir()
	var fail bool
	s := must[*Store](t)(Open(dir, Options{Checkpoints: fakeSigner(), FailLog: func() error {
		if fail {
			return errors.New("disk full")
		}
		return nil
	}}))
	work(t, s, "ok", 10)
	want := dump(t, s.db)
	fail = true
	_, err := s.Accept(ctx, pkg("lost", vpcp, []string{bca}, "x"))
	wantCode(t, err, errs.Unavailable)
	fail = false
	_, err = s.Accept(ctx, pkg("after", vpcp, []string{bca}, "x"))
	wantCode(t, err, errs.Unavailable)
	wantCode(t, s.Ping(ctx), errs.Unavailable)
	s.Close()
	r := openStore(t, dir)
	sameDump(t, "after restart", dump(t, r.db), want)
	must[AcceptResult](t)(r.Accept(ctx, pkg("after", vpcp, []string{bca}, "x")))
}

func TestWALTornTailAndDamage(t *testing.T) {
	dir := t.TempDir()
	l := must[*wal](t)(createWAL(dir, 1))
	var m mutLog
	for i := range 5 {
		m.reset(uint64(i + 10))
		m.put(1, []byte{byte(i)}, bytes.Repeat([]byte{'v'}, i*100))
		if err := l.write(m.b); err != nil {
			t.Fatal(err)
		}
	}
	end := l.pos()
	l.close()
	recs := must[[]walRecord](t)(readWAL(dir))
	if len(recs) != 5 || recs[4].Next != end {
		t.Fatalf("%d records, last ends at %v, want 5 ending at %v", len(recs), recs[len(recs)-1].Next, end)
	}
	// A torn last record is the tail of a crash: dropped.
	name := walName(dir, 1)
	if err := os.Truncate(name, end.Off-3); err != nil {
		t.Fatal(err)
	}
	if recs = must[[]walRecord](t)(readWAL(dir)); len(recs) != 4 {
		t.Fatalf("torn tail: %d records, want 4", len(recs))
	}
	// Damage before a later segment is an error, not a silent end.
	data := must[[]byte](t)(os.ReadFile(name))
	second := recs[1].At.Off
	data[second+12] ^= 1
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if recs = must[[]walRecord](t)(readWAL(dir)); len(recs) != 1 {
		t.Fatalf("damaged last segment: %d records, want 1", len(recs))
	}
	must[*wal](t)(createWAL(dir, 2)).close()
	if err := os.WriteFile(walName(dir, 2), data[:second], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readWAL(dir); err == nil {
		t.Fatal("damage in a segment followed by another: no error")
	}
}

// TestRecoveryRefusesAGap: a log missing a transaction in the middle cannot give the
// acknowledged state; Open says so instead of replaying around it.
func TestRecoveryRefusesAGap(t *testing.T) {
	dir := t.TempDir()
	s := must[*Store](t)(Open(dir, Options{Checkpoints: fakeSigner(), SyncEvery: time.Hour}))
	work(t, s, "doc", 6)
	s.crashForTest()
	var batches []walRecord
	for _, r := range must[[]walRecord](t)(readWAL(dir)) {
		if r.Payload[0] == recBatch {
			batches = append(batches, r)
		}
	}
	if len(batches) < 3 {
		t.Fatalf("%d batch records", len(batches))
	}
	victim := batches[len(batches)/2]
	name := walName(dir, victim.At.Seg)
	data := must[[]byte](t)(os.ReadFile(name))
	data = append(data[:victim.At.Off:victim.At.Off], data[victim.Next.Off:]...)
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{Checkpoints: fakeSigner()})
	wantCode(t, err, errs.Unavailable)
	t.Log(err)
}

func frame(payload []byte) []byte { return appendFrame(nil, payload) }

func FuzzWALRecords(f *testing.F) {
	var m mutLog
	m.reset(7)
	m.put(2, []byte("k"), []byte("value"))
	m.del(3, []byte("gone"))
	m.seq(4, 99)
	m.blob(12345, []byte("<edXML/>"))
	f.Add(frame(m.b))
	f.Add(frame(checkpointRec{Txid: 5, Start: walPos{1, 40}, Trusted: true}.encode()))
	f.Add(frame(checkpointRec{Txid: 6, Meta: make([]byte, 80)}.encode()))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 'B'})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := parseSegment(1, data)
		var end int64
		for _, r := range recs {
			if r.At.Off != end || r.Next.Off <= r.At.Off || r.Next.Off > int64(len(data)) {
				t.Fatalf("record at %v..%v after %d", r.At, r.Next, end)
			}
			end = r.Next.Off
			switch r.Payload[0] {
			case recBatch:
				txid, muts, err := decodeBatch(r.Payload)
				if err != nil {
					continue
				}
				// What decodes re-encodes to the same bytes.
				var m mutLog
				m.reset(txid)
				for _, x := range muts {
					switch x.Kind {
					case mutPut:
						m.put(x.Bucket, x.Key, x.Value)
					case mutDel:
						m.del(x.Bucket, x.Key)
					case mutSeq:
						m.seq(x.Bucket, x.Seq)
					case mutBlob:
						m.blob(int64(x.Seq), x.Value)
					}
				}
				if !bytes.Equal(m.b, r.Payload) {
					t.Fatalf("batch record does not round-trip")
				}
			case recCheckpoint:
				if c, err := decodeCheckpoint(r.Payload); err == nil && !bytes.Equal(c.encode(), r.Payload) {
					t.Fatalf("checkpoint record does not round-trip")
				}
			}
		}
	})
}

// TestCheckpointsRunAndTrimTheLog: checkpoints come every SyncEvery under load, are
// reported, and delete the segments before them.
func TestCheckpointsRunAndTrimTheLog(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func(n int64) func() { return func() { walSegmentSize = n } }(walSegmentSize))
	walSegmentSize = 0 // a new segment at every checkpoint
	took := make(chan time.Duration, 100)
	s := openStore(t, dir, func(o *Options) {
		o.SyncEvery = 10 * time.Millisecond
		o.OnCheckpoint = func(d time.Duration) {
			select {
			case took <- d:
			default:
			}
		}
	})
	first := must[[]uint64](t)(walSegments(dir))
	for i := 0; len(took) < 5; i++ {
		if i > 5000 {
			t.Fatal("fewer than 5 checkpoints in 5,000 writes")
		}
		work(t, s, fmt.Sprintf("d%d", i), 1)
		time.Sleep(2 * time.Millisecond)
	}
	segs := must[[]uint64](t)(walSegments(dir))
	if segs[0] <= first[0] {
		t.Fatalf("segments %v: the first ones (%v) were not deleted", segs, first)
	}
	// The current one, the prepared next, and one whose checkpoint may be in flight.
	if len(segs) > 3 {
		t.Fatalf("%d log segments left: %v", len(segs), segs)
	}
	// What the metrics report: the segments on disk, each initialised ahead of its appends.
	n, size, err := s.LogFiles()
	if err != nil || n < 2 || n > 3 || size < int64(n)*blobPrealloc/2 {
		t.Fatalf("LogFiles = %d segments, %d bytes, %v; want 2-3 of at least %d bytes", n, size, err, blobPrealloc/2)
	}
}

// TestWALBlobBudget: past walBlobBudget a batch does not carry blob bytes in its record:
// it syncs the blob log before the record instead.
func TestWALBlobBudget(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func(n int) func() { return func() { walBlobBudget = n } }(walBlobBudget))
	walBlobBudget = 0
	s := openStore(t, dir, func(o *Options) { o.SyncEvery = time.Hour })
	// The first append starts initialising the file ahead (zeros, then an fsync that
	// would make any bytes durable): let that be done first.
	must[AcceptResult](t)(s.Accept(ctx, pkg("D0", vpcp, []string{bca}, "first")))
	s.receipts.sync()
	s.blobs.mu.Lock()
	for s.blobs.extending {
		s.blobs.cond.Wait()
	}
	tf := &durableFile{blobFile: s.blobs.f, path: filepath.Join(dir, BlobFileName)}
	tf.Sync()
	s.blobs.f = tf
	s.blobs.mu.Unlock()
	req := pkg("D1", vpcp, []string{bca}, "budget")
	must[AcceptResult](t)(s.Accept(ctx, req))
	if !bytes.Contains(tf.durableCopy(), req.Bytes) {
		t.Fatal("answered before the package bytes were durable")
	}
	for _, r := range must[[]walRecord](t)(readWAL(dir)) {
		if r.Payload[0] != recBatch {
			continue
		}
		_, muts, err := decodeBatch(r.Payload)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range muts {
			if m.Kind == mutBlob {
				t.Fatal("a record carries blob bytes past the budget")
			}
		}
	}
}

type writeFailingFile struct {
	blobFile
	fail atomic.Bool
}

func (f *writeFailingFile) WriteAt(b []byte, off int64) (int, error) {
	if f.fail.Load() {
		return 0, errors.New("ENOSPC")
	}
	return f.blobFile.WriteAt(b, off)
}

// TestWALSegmentBreaksOnWriteError: after a failed write no record may follow the hole
// (the reader stops there): the segment refuses every later append, the checkpoint's too.
func TestWALSegmentBreaksOnWriteError(t *testing.T) {
	l := must[*wal](t)(createWAL(t.TempDir(), 1))
	defer l.close()
	f := &writeFailingFile{blobFile: l.cur.f}
	l.cur.f = f
	if err := l.write([]byte{recBatch, 0, 0, 0, 0, 0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	f.fail.Store(true)
	if err := l.write([]byte{recBatch, 0, 0, 0, 0, 0, 0, 0, 2}); err == nil {
		t.Fatal("a failed write reported success")
	}
	f.fail.Store(false)
	if err := l.write(checkpointRec{Txid: 2, Trusted: true}.encode()); err == nil {
		t.Fatal("an append after a hole was accepted")
	}
}

// TestMappingUnderAnAddressSpaceLimit: where the large mapping is refused (ENOMEM, as
// under ulimit -v), the store takes the largest half that fits and says so; below what
// leaves it room to grow, it refuses to open.
func TestMappingUnderAnAddressSpaceLimit(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	dir := t.TempDir()
	s := must[*Store](t)(Open(dir, Options{Checkpoints: fakeSigner(), Logger: zap.New(core), testMapLimit: 5 << 30}))
	if s.mapSize != 4<<30 {
		t.Errorf("mapped %d bytes under a 5 GiB limit, want 4 GiB (64 GiB halved until it fits)", s.mapSize)
	}
	if n := logs.FilterMessageSnippet("could not be mapped as large as wanted").Len(); n != 1 {
		t.Errorf("%d warnings about the smaller mapping, want 1", n)
	}
	work(t, s, "m", 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro := must[*Store](t)(Open(dir, Options{ReadOnly: true}))
	want := dump(t, ro.db)
	ro.Close()
	if len(want) < 100 {
		t.Fatalf("%d keys written, want the work's", len(want))
	}
	r := openStore(t, dir)
	sameDump(t, "reopened", dump(t, r.db), want)
	r.Close()
	// A read-only open falls back too, without the warning (it never grows the file).
	ro = must[*Store](t)(Open(dir, Options{ReadOnly: true, Logger: zap.New(core), testMapLimit: 5 << 30}))
	if ro.mapSize != 4<<30 {
		t.Errorf("read-only: mapped %d bytes under a 5 GiB limit, want 4 GiB", ro.mapSize)
	}
	ro.Close()
	if n := logs.FilterMessageSnippet("could not be mapped as large as wanted").Len(); n != 1 {
		t.Errorf("%d warnings after the read-only open, want still 1", n)
	}
	// 2 GiB is the least an empty store accepts (twice the headroom before synced mode).
	_, err := Open(t.TempDir(), Options{Checkpoints: fakeSigner(), testMapLimit: 2<<30 - 1})
	wantCode(t, err, errs.Unavailable)
}
