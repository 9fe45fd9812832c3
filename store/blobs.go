package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Package and status bytes live in an append-only file next to the bbolt file, not in
// bbolt: a bbolt node of two 5 KB values takes three 4 KB pages, and values just over
// half a page take two pages each (up to 2× the bytes), while the log stores each byte
// once. The writer appends a batch's bytes at the committed end, fsyncs the file, then
// commits the bbolt transaction that records the new end; bytes past the recorded end
// (a crash or failed commit between the two) are never referenced and are overwritten
// by the next batch or cut off at open.

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

// putBlob queues b to be appended when the transaction commits and returns where it will be.
func (w *wtx) putBlob(b []byte) blobRef {
	w.dirty = true
	ref := blobRef{Off: w.blobEnd, Len: int64(len(b))}
	w.blobPending = append(w.blobPending, b)
	w.blobEnd += int64(len(b))
	return ref
}

// flushBlobs writes the queued bytes and makes them durable, before bbolt commits.
func (w *wtx) flushBlobs() error {
	if len(w.blobPending) == 0 {
		return nil
	}
	// Small blobs are coalesced into one write (a batch of 64 packages of 5 KB is one
	// syscall, not 64); large ones are written as they are, without a copy.
	const coalesce = 1 << 20
	off := w.s.blobEnd
	if w.s.blobBuf == nil { // writer-owned and reused: growing a fresh one cost more than the write
		w.s.blobBuf = make([]byte, 0, coalesce)
	}
	buf := w.s.blobBuf[:0]
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := w.s.blobs.WriteAt(buf, off)
		off += int64(len(buf))
		buf = buf[:0]
		return err
	}
	for _, b := range w.blobPending {
		if len(buf)+len(b) <= coalesce {
			buf = append(buf, b...)
			continue
		}
		if err := flush(); err != nil {
			return fmt.Errorf("write blob log: %w", err)
		}
		if len(b) > coalesce/2 {
			if _, err := w.s.blobs.WriteAt(b, off); err != nil {
				return fmt.Errorf("write blob log: %w", err)
			}
			off += int64(len(b))
			continue
		}
		buf = append(buf, b...)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("write blob log: %w", err)
	}
	if err := w.s.blobs.Sync(); err != nil {
		return fmt.Errorf("sync blob log: %w", err)
	}
	return w.put(bMeta, kBlobEnd, u64(uint64(w.blobEnd)))
}

// readBlob reads committed bytes, or bytes queued earlier in this transaction.
func (w *wtx) readBlob(r blobRef) ([]byte, error) {
	off := w.s.blobEnd
	if r.Off < off {
		return w.s.readBlob(r)
	}
	for _, b := range w.blobPending {
		if r.Off == off && r.Len == int64(len(b)) {
			return bytes.Clone(b), nil
		}
		off += int64(len(b))
	}
	return nil, errors.New("blob not in this transaction")
}

func (s *Store) readBlob(r blobRef) ([]byte, error) {
	if s.blobs == nil {
		return nil, errors.New("blob log missing")
	}
	b := make([]byte, r.Len)
	if _, err := s.blobs.ReadAt(b, r.Off); err != nil && !(errors.Is(err, io.EOF) && r.Len == 0) {
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
