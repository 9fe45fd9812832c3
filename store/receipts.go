package store

import (
	"context"
	"sync"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// Acceptance receipts are stored in the background, many per write: the answer to a
// submission needs only its package durable, and the receipt is a deterministic
// function of what is (the axis signs deterministically), so storing it inline cost a
// second blob sync and a second trip through the writer per package for nothing a crash
// could lose. Until stored, a receipt is served from memory; one lost in a crash is
// rebuilt, byte for byte, by the next identical submission (Accept).
type receiptQueue struct {
	ch     chan queuedReceipt
	done   chan struct{}
	mu     sync.Mutex // guards closed against sends in flight
	closed bool
	held   sync.Map // doc num → receipt bytes, while queued
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

// receiptWriter stores queued receipts: one blob append and one transaction per batch.
func (s *Store) receiptWriter() {
	q := s.receipts
	defer close(q.done)
	for first := range q.ch {
		batch := []queuedReceipt{first}
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
		s.storeReceipts(batch)
		for _, r := range batch {
			if r.flush != nil {
				close(r.flush)
			} else {
				q.held.Delete(r.doc)
			}
		}
	}
}

func (s *Store) storeReceipts(batch []queuedReceipt) {
	var buf []byte
	var n int
	for _, r := range batch {
		buf = append(buf, r.rc...)
		if r.flush == nil {
			n++
		}
	}
	if n == 0 {
		return
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
	if err != nil {
		s.log.Warn("acceptance receipts not stored; each is rebuilt by the next submission of its package",
			zap.Int("receipts", n), zap.Error(err))
	}
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
