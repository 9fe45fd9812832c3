package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A late Accept (one that arrived while a batch synced) in a batch retried after another
// operation failed dirty writes its bytes once, and they come back from the
// write-ahead record after a power cut that lost the unsynced blob bytes.
func TestLateAcceptRetriedAndRecovered(t *testing.T) {
	dir := t.TempDir()
	g := &syncGate{}
	s, err := Open(dir, Options{Checkpoints: fakeSigner(), SyncEvery: time.Hour, FailLogSync: g.hook})
	if err != nil {
		t.Fatal(err)
	}
	must[AcceptResult](t)(s.Accept(ctx, pkg("D1", vpcp, []string{bca}, "a")))
	s.receipts.sync()
	g.holdNext()
	first := make(chan error, 1)
	d2 := pkg("D2", vpcp, []string{bca}, "b")
	d2.Receipt = nil
	go func() { _, err := s.Accept(ctx, d2); first <- err }()
	g.waitHeld()
	end := s.blobs.end
	late := pkg("D3", vpcp, []string{bca}, "c")
	lateReq := late
	lateReq.Receipt = nil
	got := make(chan error, 2)
	go func() { _, err := s.Accept(ctx, lateReq); got <- err }()
	for len(s.ops) < 1 {
		time.Sleep(time.Millisecond)
	}
	go func() {
		got <- s.do(ctx, func(w *wtx) error {
			if err := w.put(bStats, []byte("review"), []byte{1}); err != nil {
				return err
			}
			return errors.New("fails after writing")
		})
	}()
	for len(s.ops) < 2 {
		time.Sleep(time.Millisecond)
	}
	g.open()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	var okN int
	for range 2 {
		if err := <-got; err == nil {
			okN++
		}
	}
	if okN != 1 {
		t.Fatalf("%d of 2 succeeded, want the late Accept only", okN)
	}
	if grew := s.blobs.end - end; grew != int64(len(late.Bytes)) {
		t.Fatalf("blob log grew by %d, want %d (written once)", grew, len(late.Bytes))
	}
	d, err := s.Document(ctx, "D3")
	if err != nil {
		t.Fatal(err)
	}
	s.crashForTest()
	// A power cut: the blob bytes of D3 (never synced: carried by the record) are lost.
	f, err := os.OpenFile(filepath.Join(dir, BlobFileName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, d.Size), end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s2 := openStore(t, dir)
	b, err := s2.Bytes(ctx, d.SHA256)
	if err != nil || !bytes.Equal(b, late.Bytes) {
		t.Fatalf("D3's bytes after recovery: %q, %v", b, err)
	}
}
