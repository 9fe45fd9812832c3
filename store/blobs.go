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
// and waits for an fsync that started after its write, so concurrent appends share
// fsyncs and the writer's batch has one durable file (bbolt) instead of two on its
// critical path (measured: the blob fsync was a quarter of the writer's time). A
// transaction records the end of every byte range it references (blob_end); bytes no
// transaction references (a refused operation, a crash in between) are dead space, cut
// off at open when they lie past the recorded end.

// BlobFileName is the blob log inside the data directory.
const BlobFileName = "axis.blobs"

var kBlobEnd = []byte("blob_end") // meta: committed length of the blob log

type blobRef struct {
	Off int64
	Len int64
}

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
}

// blobPrealloc is how far ahead of the appends the file is initialised (at most this
// much, plus one package, past the data on disk).
const blobPrealloc = 16 << 20

func newBlobLog(f blobFile, end int64) *blobLog {
	l := &blobLog{f: f, end: end, zeroed: end}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// append writes b at the end of the log and returns once it is durable.
func (l *blobLog) append(b []byte) (blobRef, error) {
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
		return blobRef{}, fmt.Errorf("write blob log: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.written++
	ticket := l.written
	for l.synced < ticket {
		if l.broken != nil {
			return blobRef{}, l.broken
		}
		if l.syncing { // the sync running may have started before our write: wait for it, then maybe lead the next
			l.cond.Wait()
			continue
		}
		l.syncing = true
		covers := l.written // every write counted so far completed before this sync starts
		l.mu.Unlock()
		err := l.f.Sync()
		l.mu.Lock()
		l.syncing = false
		if err != nil {
			l.broken = fmt.Errorf("sync blob log (restart the daemon to reopen it): %w", err)
		} else {
			l.synced = covers
		}
		l.cond.Broadcast()
	}
	return ref, nil
}

// close waits for an extension in progress, then closes the file.
func (l *blobLog) close() error {
	l.mu.Lock()
	for l.extending {
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
		l.broken = fmt.Errorf("extend blob log (restart the daemon to reopen it): %w", err)
	} else {
		l.zeroed = to
	}
	l.cond.Broadcast()
}

// writeBlob appends b durably, outside the writer (see blobLog).
func (s *Store) writeBlob(b []byte) (blobRef, error) {
	if s.blobs == nil {
		return blobRef{}, errs.E(errs.Unavailable, "store is read-only")
	}
	ref, err := s.blobs.append(b)
	if err != nil {
		return blobRef{}, errs.Wrap(errs.Unavailable, err, "store write failed; nothing was written")
	}
	return ref, nil
}

// useBlob notes that this transaction references r: the recorded end of the log covers it.
func (w *wtx) useBlob(r blobRef) {
	w.dirty = true
	if e := r.Off + r.Len; e > w.blobEnd {
		w.blobEnd = e
	}
}

// finishBlobs records the new end of the log, if this transaction moved it.
func (w *wtx) finishBlobs() error {
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
