package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"axis/axis/errs"
)

// Package, receipt and status bytes live in an append-only file next to the bbolt file,
// not in bbolt: a bbolt node of two 5 KB values takes three 4 KB pages, and values just
// over half a page take two pages each (up to 2× the bytes), while the log stores each
// byte once.
//
// Bytes are appended before the operation that references them enters the store's
// single writer, by the caller's goroutine: each append reserves its place, writes it,
// and starts an fsync unless one runs; concurrent appends share fsyncs. The writer waits
// for the fsync covering its batch's bytes just before committing, by which time it has
// usually finished: the fsync runs while the operation waits for the writer (measured:
// inside the writer it was a quarter of the writer's time; waited for by each append, a
// quarter of an answer's time at 1,000/s). A
// transaction records the end of every byte range it references (blob_end); bytes no
// transaction references (a refused operation, a crash in between) are dead space, cut
// off at open when they lie past the recorded end.

// BlobFileName is the blob log inside the data directory.
const BlobFileName = "axis.blobs"

var kBlobEnd = []byte("blob_end") // meta: committed length of the blob log

type blobRef struct {
	Off int64
	Len int64
	// sync is the append's ticket (not stored): the transaction referencing the bytes
	// waits until the log is durable up to it. Zero for bytes the write-ahead log carries
	// instead (data): see quietBlobMax.
	sync uint64
	data []byte
}

// quietBlobMax: bytes up to this size are not synced by their append; the transaction
// referencing them carries them in its write-ahead record (one fsync per batch instead of
// two: measured, the wait for the blob log's fsync was a third of the writer's time at
// full speed), and the next checkpoint syncs the blob log. Larger ones (packages may be
// 64 MiB) are synced by their append, as before the write-ahead log.
var quietBlobMax = 1 << 20 // tests lower it

// walBlobBudget bounds the blob bytes one write-ahead record carries (a batch may hold
// thousands of operations); past it, the transaction syncs the blob log instead.
var walBlobBudget = 32 << 20 // tests lower it

func openBlobs(dataDir string, readOnly bool, committed int64) (*os.File, error) {
	path := filepath.Join(dataDir, BlobFileName)
	flag := os.O_RDWR | os.O_CREATE
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if readOnly && errors.Is(err, os.ErrNotExist) && committed == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	switch {
	case st.Size() < committed:
		f.Close()
		return nil, fmt.Errorf("%s is %d bytes, the store references %d: the blob log was truncated", path, st.Size(), committed)
	case st.Size() > committed && !readOnly:
		if err := f.Truncate(committed); err != nil { // leftovers of an uncommitted batch
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// blobFile is what the log needs of its file (tests inject failures).
type blobFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Close() error
}

// blobLog appends durably from any goroutine.
//
// The file is kept initialised (zeros written and synced) ahead of the appends, so that
// an append overwrites allocated blocks and its fdatasync needs no filesystem journal
// commit. With ext4 in ordered mode a journal commit also flushes every other file's
// dirty data (the broker's segments, bbolt's new pages): measured, appends with a size
// change each waited 25 ms under load.
type blobLog struct {
	f blobFile

	mu      sync.Mutex
	cond    *sync.Cond
	end     int64  // next free offset
	written uint64 // appends whose bytes are written
	synced  uint64 // appends up to here are durable
	syncing bool
	broken  error // a failed fsync: the kernel may have dropped the bytes; no more appends

	zeroed    int64 // the file is initialised up to here
	extending bool  // zeros are being written from extFrom
	extFrom   int64

	// strict: a failed write breaks the log. A write-ahead segment must not go on after
	// a hole: its reader stops at the first bad record, and would never see the rest.
	strict bool
	// onBreak, if set, is told (once, without mu held) that the log broke: the store
	// stops writing then, so that the daemon reopens it (a full disk, once freed).
	onBreak func(error)
}

// blobPrealloc is how far ahead of the appends the file is initialised (at most this
// much, plus one package, past the data on disk).
const blobPrealloc = 16 << 20

func newBlobLog(f blobFile, end int64) *blobLog {
	l := &blobLog{f: f, end: end, zeroed: end}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// append writes b at the end of the log and starts an fsync if none is running (unless
// quiet: then only syncAll makes it durable); it does not wait for it. A transaction referencing the bytes waits for their fsync just before
// its commit (waitSynced), so the fsync overlaps the operation's wait for the writer
// (measured at 1,000/s: the append's own wait for its fsync was 9 ms, a quarter of an
// answer's time).
func (l *blobLog) append(b []byte, quiet bool) (blobRef, error) {
	l.mu.Lock()
	for l.broken == nil && l.extending && l.end+int64(len(b)) > l.extFrom {
		l.cond.Wait() // never write where zeros are being written
	}
	if l.broken != nil {
		l.mu.Unlock()
		return blobRef{}, l.broken
	}
	ref := blobRef{Off: l.end, Len: int64(len(b))}
	l.end += ref.Len
	if !l.extending && l.end+blobPrealloc/2 > l.zeroed {
		l.extending, l.extFrom = true, max(l.zeroed, l.end)
		go l.extend(l.extFrom, l.extFrom+blobPrealloc)
	}
	l.mu.Unlock()
	if _, err := l.f.WriteAt(b, ref.Off); err != nil {
		err = fmt.Errorf("write blob log: %w", err)
		if l.strict {
			l.mu.Lock()
			l.broken = err
			l.cond.Broadcast()
			l.mu.Unlock()
		}
		return blobRef{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.written++
	if quiet {
		ref.data = b
		return ref, nil
	}
	ref.sync = l.written
	l.startSync()
	return ref, nil
}

// syncAll returns once every append completed so far is durable.
func (l *blobLog) syncAll() error {
	l.mu.Lock()
	ticket := l.written
	l.mu.Unlock()
	return l.waitSynced(ticket)
}

// waitSynced returns once the appends up to ticket are durable.
func (l *blobLog) waitSynced(ticket uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.synced < ticket {
		if l.broken != nil {
			return l.broken
		}
		l.startSync()
		l.cond.Wait()
	}
	return nil
}

// startSync starts the syncing goroutine unless it runs. Called with mu held.
func (l *blobLog) startSync() {
	if !l.syncing && l.broken == nil && l.synced < l.written {
		l.syncing = true
		go l.syncLoop()
	}
}

// syncLoop fsyncs until every completed append is durable. Each fsync covers the appends
// completed before it started, so concurrent appends share fsyncs.
func (l *blobLog) syncLoop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.broken == nil && l.synced < l.written {
		covers := l.written
		l.mu.Unlock()
		err := l.f.Sync()
		l.mu.Lock()
		if err != nil {
			l.broken = fmt.Errorf("sync blob log: %w", err)
			l.reportBreak()
		} else {
			l.synced = covers
		}
		l.cond.Broadcast()
	}
	l.syncing = false
	l.cond.Broadcast()
}

// reportBreak reports the break to onBreak, in a goroutine: mu is held. Called once, when
// broken is set (nothing sets it again but close).
func (l *blobLog) reportBreak() {
	if l.onBreak != nil {
		go l.onBreak(l.broken)
	}
}

// close waits for an extension in progress, then closes the file.
func (l *blobLog) close() error {
	l.mu.Lock()
	for l.extending || l.syncing {
		l.cond.Wait()
	}
	l.broken = errors.New("blob log closed")
	l.mu.Unlock()
	return l.f.Close()
}

// extend initialises [from, to) with zeros, durably.
func (l *blobLog) extend(from, to int64) {
	zeros := make([]byte, 1<<20)
	var err error
	for off := from; off < to && err == nil; off += int64(len(zeros)) {
		_, err = l.f.WriteAt(zeros[:min(int64(len(zeros)), to-off)], off)
	}
	if err == nil {
		err = l.f.Sync()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.extending = false
	if err != nil {
		l.broken = fmt.Errorf("extend blob log: %w", err)
		l.reportBreak()
	} else {
		l.zeroed = to
	}
	l.cond.Broadcast()
}

// writeBlob appends b outside the writer (see blobLog); the transaction that references
// it makes it durable first (useBlob, finishBlobs).
func (s *Store) writeBlob(b []byte) (blobRef, error) {
	if s.blobs == nil {
		return blobRef{}, errs.E(errs.Unavailable, "store is read-only")
	}
	ref, err := s.blobs.append(b, len(b) <= quietBlobMax && !s.opts.ReadOnly)
	if err != nil {
		return blobRef{}, errs.Wrap(errs.Unavailable, err, "store write failed; nothing was written")
	}
	return ref, nil
}

// useBlob notes that this transaction references r: the recorded end of the log covers it,
// and its write-ahead record carries the bytes or waits for their fsync.
func (w *wtx) useBlob(r blobRef) {
	w.dirty = true
	w.blobSync = max(w.blobSync, r.sync)
	switch {
	case r.data == nil:
	case w.quietBytes+len(r.data) <= walBlobBudget:
		w.quiet = true
		w.quietBytes += len(r.data)
		w.muts.blob(r.Off, r.data)
	default:
		w.syncBlobs = true
	}
	if e := r.Off + r.Len; e > w.blobEnd {
		w.blobEnd = e
	}
}

// finishBlobs makes the bytes this transaction references durable before it commits (the
// records pointing at them must never be durable first), and records the new end of the
// log if this transaction moved it.
func (w *wtx) finishBlobs() error {
	if (w.quiet && w.s.synced) || w.syncBlobs { // no write-ahead record carries them
		if err := w.s.blobs.syncAll(); err != nil {
			return err
		}
	}
	if w.blobSync > 0 {
		if err := w.s.blobs.waitSynced(w.blobSync); err != nil {
			return err
		}
	}
	if w.blobEnd <= w.s.blobEnd {
		return nil
	}
	return w.put(bMeta, kBlobEnd, u64(uint64(w.blobEnd)))
}

func (s *Store) readBlob(r blobRef) ([]byte, error) {
	if s.blobs == nil {
		return nil, errors.New("blob log missing")
	}
	b := make([]byte, r.Len)
	if _, err := s.blobs.f.ReadAt(b, r.Off); err != nil && !(errors.Is(err, io.EOF) && r.Len == 0) {
		return nil, fmt.Errorf("read blob log: %w", err)
	}
	return b, nil
}

func putRef(b []byte, r blobRef) {
	binary.BigEndian.PutUint64(b, uint64(r.Off))
	binary.BigEndian.PutUint64(b[8:], uint64(r.Len))
}

func getRef(b []byte) blobRef {
	return blobRef{Off: int64(binary.BigEndian.Uint64(b)), Len: int64(binary.BigEndian.Uint64(b[8:]))}
}
