package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// Acceptance receipts are stored in the background, many per write: the answer to a
// submission needs only its package durable, and the receipt is a deterministic
// function of what is (the axis signs deterministically), so storing it inline cost a
// second blob sync and a second trip through the writer per package for nothing a crash
// could lose. Until stored, a receipt is served from memory; one lost in a crash is
// rebuilt, byte for byte, by the next identical submission (Accept), and by Open after
// an unclean stop when Options.Receipt is set (repairReceipts).
type receiptQueue struct {
	ch       chan queuedReceipt
	done     chan struct{}
	mu       sync.Mutex // guards closed against sends in flight
	closed   bool
	held     sync.Map     // doc num → receipt bytes, while queued or waiting for a retry
	unstored atomic.Int64 // receipts whose write failed, waiting for a retry
	drop     atomic.Bool  // tests: a crash loses what is queued
}

type queuedReceipt struct {
	doc   uint64
	rc    []byte
	flush chan struct{} // a marker: closed once everything queued before it is stored
}

const receiptBatch = 512

func newReceiptQueue() *receiptQueue {
	return &receiptQueue{ch: make(chan queuedReceipt, 4*receiptBatch), done: make(chan struct{})}
}

// queue hands a receipt to the background writer; false when the store is closing.
func (q *receiptQueue) queue(doc uint64, rc []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.held.Store(doc, rc)
	q.ch <- queuedReceipt{doc: doc, rc: rc}
	return true
}

// lookup returns a receipt still queued.
func (q *receiptQueue) lookup(doc uint64) ([]byte, bool) {
	v, ok := q.held.Load(doc)
	if !ok {
		return nil, false
	}
	return v.([]byte), true
}

// sync waits until every receipt queued so far is stored (or its write failed).
func (q *receiptQueue) sync() {
	f := make(chan struct{})
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.ch <- queuedReceipt{flush: f}
	q.mu.Unlock()
	<-f
}

// close stores what is queued and stops the background writer.
func (q *receiptQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	<-q.done
}

// receiptRetry is how long receipts whose write failed wait before the next attempt;
// twice as long after each failure in a row, up to receiptRetryMax.
const (
	receiptRetry    = time.Second
	receiptRetryMax = 30 * time.Second
)

// receiptWriter stores queued receipts: one blob append and one transaction per batch.
// Receipts whose write failed stay in memory (reads still find them) and are tried
// again; the mark of kReceiptsIncomplete stays until they are stored.
func (s *Store) receiptWriter() {
	q := s.receipts
	defer close(q.done)
	var retry []queuedReceipt
	var timer *time.Timer
	var retryC <-chan time.Time
	delay := receiptRetry
	for {
		var batch []queuedReceipt
		select {
		case r, ok := <-q.ch:
			if !ok {
				if len(retry) > 0 && !q.drop.Load() && !s.storeReceipts(retry) {
					s.log.Error("acceptance receipts not stored at close; the next start rebuilds them",
						zap.Int("receipts", len(retry)))
				}
				return
			}
			batch = append(retry, r)
		case <-retryC:
			batch = retry
		}
		retry, retryC = nil, nil
	more:
		for len(batch) < receiptBatch {
			select {
			case r, ok := <-q.ch:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		if q.drop.Load() { // a test's crash: the queued receipts are lost
			batch = slices.DeleteFunc(batch, func(r queuedReceipt) bool { return r.flush == nil })
		}
		stored := s.storeReceipts(batch)
		for _, r := range batch {
			switch {
			case r.flush != nil:
				close(r.flush)
			case stored:
				q.held.Delete(r.doc)
			default:
				retry = append(retry, r)
			}
		}
		q.unstored.Store(int64(len(retry)))
		if stored {
			delay = receiptRetry
		}
		if len(retry) > 0 {
			if timer == nil {
				timer = time.NewTimer(delay)
			} else {
				timer.Reset(delay)
			}
			retryC = timer.C
			delay = min(2*delay, receiptRetryMax)
		}
	}
}

// storeReceipts stores a batch; false if it could not.
func (s *Store) storeReceipts(batch []queuedReceipt) bool {
	var buf []byte
	var n int
	for _, r := range batch {
		buf = append(buf, r.rc...)
		if r.flush == nil {
			n++
		}
	}
	if n == 0 {
		return true
	}
	all, err := s.writeBlob(buf)
	if err == nil {
		err = s.do(context.Background(), func(w *wtx) error {
			off := all.Off
			for _, r := range batch {
				ref := blobRef{Off: off, Len: int64(len(r.rc)), sync: all.sync}
				if all.data != nil {
					ref.data = all.data[off-all.Off : off-all.Off+ref.Len]
				}
				off += ref.Len
				if r.flush != nil {
					continue
				}
				if _, err := w.putReceipt(r.doc, ref); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err == nil {
		return true
	}
	s.log.Warn("acceptance receipts not stored; kept in memory and tried again",
		zap.Int("receipts", n), zap.Error(err))
	return false
}

// kReceiptsIncomplete, in the meta bucket, says that stored documents may lack their
// acceptance receipt. Every writable Open sets it and a clean Close deletes it once every
// receipt is stored; so after any other stop (a crash, in any mode; a receipt write that
// kept failing; a repair cut short) the next Open finds it and rebuilds the missing
// receipts in the background (repairReceipts).
var kReceiptsIncomplete = []byte("receipts_incomplete")

// receiptsComplete deletes the mark at a clean Close, from the writer after its last
// drained operation (the receipt writer has stopped before). The mark stays if a receipt
// is unstored or still owed (an Accept committed while Close ran), or the repair did not
// finish.
func (s *Store) receiptsComplete() {
	if s.repairPending.Load() || s.receipts.unstored.Load() > 0 || s.receiptsOwed.Load() > 0 {
		s.log.Warn("some acceptance receipts are not stored; the next start rebuilds them")
		return
	}
	o := &op{done: make(chan error, 1), run: func(w *wtx) error { return w.del(bMeta, kReceiptsIncomplete) }}
	s.commit([]*op{o}, false)
	if err := <-o.done; err != nil {
		s.log.Warn("could not record that every receipt is stored; the next start checks again", zap.Error(err))
	}
}

// repairChunk is how many documents one read transaction of the repair examines: short
// read transactions, so that the repair pins no old pages for long.
const repairChunk = 4096

// repairReceipts stores the receipts missing from stored documents, rebuilt by
// Options.Receipt (the axis signs deterministically: the same bytes as the answer
// carried); once all are stored, a clean Close may clear the mark. It runs in the
// background after Open; readers and identical submissions meanwhile find a receipt as
// before (stored, queued, or rebuilt by Accept). Walking 200,000 documents that all
// have their receipt takes ~50 ms (TestDiskPerPackage).
func (s *Store) repairReceipts(ctx context.Context) {
	defer close(s.repairDone)
	start := time.Now()
	s.log.Info("rebuilding acceptance receipts lost in an unclean stop, if any")
	var after []byte // the last document examined
	var examined, rebuilt, failed int
	for {
		var missing []Document
		done := false
		if err := s.view(ctx, func(tx *bolt.Tx) error {
			missing = missing[:0]
			docs := tx.Bucket(bDocs).Cursor()
			rcs := tx.Bucket(bReceipts).Cursor()
			var k, v []byte
			if after == nil {
				k, v = docs.First()
			} else if k, v = docs.Seek(after); bytes.Equal(k, after) {
				k, v = docs.Next()
			}
			rk, _ := rcs.Seek(k)
			for n := 0; k != nil && n < repairChunk; k, v = docs.Next() {
				n++
				examined++
				after = append(after[:0], k...)
				for rk != nil && bytes.Compare(rk, k) < 0 {
					rk, _ = rcs.Next()
				}
				if bytes.Equal(rk, k) {
					continue
				}
				num := binary.BigEndian.Uint64(k)
				if _, ok := s.receipts.lookup(num); ok {
					continue
				}
				r, err := decodeDoc(v)
				if err != nil {
					s.log.Error("receipt repair: undecodable document record", zap.Uint64("doc", num), zap.Error(err))
					failed++
					continue
				}
				if r.ReceiptLen > 0 { // stored inline, by stores before the receipts bucket
					continue
				}
				missing = append(missing, Document{DocumentMeta: r.Meta, SHA256: r.SHA256, Size: r.Size,
					AcceptedAt: r.At, AuditSeq: r.Seq, num: num})
			}
			done = k == nil
			return nil
		}); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("receipt repair stopped; the next start tries again", zap.Error(err))
			}
			return
		}
		for _, d := range missing {
			rc, err := s.opts.Receipt(d)
			if err != nil {
				s.log.Error("receipt repair: could not rebuild a receipt", zap.String("document_id", d.DocumentID), zap.Error(err))
				failed++
				continue
			}
			if !s.receipts.queue(d.num, rc) {
				return // closing: the mark stays for the next start
			}
			rebuilt++
		}
		if done || ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return
	}
	s.receipts.sync()
	if failed > 0 || s.receipts.unstored.Load() > 0 {
		s.log.Warn("receipt repair incomplete; the next start tries again",
			zap.Int("documents", examined), zap.Int("rebuilt", rebuilt), zap.Int("failed", failed))
		return
	}
	s.repairPending.Store(false)
	s.log.Info("acceptance receipts repaired", zap.Int("documents", examined), zap.Int("rebuilt", rebuilt),
		zap.Duration("took", time.Since(start)))
}

// storedReceipt is where the receipt of document doc is, if stored.
func storedReceipt(tx *bolt.Tx, doc uint64) (blobRef, bool) {
	if v := tx.Bucket(bReceipts).Get(u64(doc)); len(v) == 16 {
		return getRef(v), true
	}
	return blobRef{}, false
}

// putReceipt records ref as the receipt of doc unless one is stored already (an identical
// submission stored it meanwhile: ref is then dead space), and returns the one in force.
func (w *wtx) putReceipt(doc uint64, ref blobRef) (blobRef, error) {
	if had, ok := storedReceipt(w.tx, doc); ok {
		return had, nil
	}
	w.useBlob(ref)
	v := make([]byte, 16)
	putRef(v, ref)
	return ref, w.put(bReceipts, u64(doc), v)
}
