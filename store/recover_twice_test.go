package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A recovery stopped after Open's own commits (the replay, the initialisation) but before
// its first checkpoint is durable (killed, power lost, or startWAL failing on a full disk)
// must leave a store the next start recovers to the same state. Before, those commits
// could reuse the pages of the checkpoint's version, which the next recovery puts back:
// "pgid (149) above high water mark (6)", "page 1373 already freed".
func TestRecoveryInterruptedBeforeItsCheckpoint(t *testing.T) {
	t.Run("checkpoint of Open", func(t *testing.T) {
		if msg := recoveryInterrupted(t, false); msg != "" {
			t.Fatal(msg)
		}
	})
	t.Run("background checkpoint of a grown store", func(t *testing.T) {
		for trial := range 10 { // the hashmap freelist picks pages at random
			if msg := recoveryInterrupted(t, true); msg != "" {
				t.Fatalf("trial %d: %s", trial, msg)
			}
		}
	})
}

func recoveryInterrupted(t *testing.T, grown bool) (failure string) {
	dir := t.TempDir()
	checkpointed := make(chan struct{}, 1)
	slow := func(o *Options) { o.SyncEvery = time.Hour } // checkpoints only when asked
	s := openStore(t, dir, slow, func(o *Options) {
		o.testCheckpointed = func() { checkpointed <- struct{}{} }
	})
	if grown {
		work(t, s, "a", 100)
		s.ckNow.Store(true) // a background checkpoint of a grown store
		work(t, s, "b", 1)
		<-checkpointed
	}
	work(t, s, "c", 150)
	s.crashForTest()

	// The expected state: one uninterrupted recovery, on a copy.
	ref := t.TempDir()
	if err := os.CopyFS(ref, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(ref, LockFileName))
	r := openStore(t, ref, slow)
	want := dump(t, r.db)
	r.Close()

	killed := errors.New("killed before the checkpoint")
	if _, err := Open(dir, Options{Checkpoints: fakeSigner(), testBeforeWAL: func() error { return killed }}); !errors.Is(err, killed) {
		t.Fatalf("first recovery: %v", err)
	}
	defer func() {
		if r := recover(); r != nil {
			failure = fmt.Sprintf("second recovery panicked (the file is corrupt): %v", r)
		}
	}()
	s2, err := Open(dir, Options{Checkpoints: fakeSigner()})
	if err != nil {
		return fmt.Sprintf("second recovery: %v", err)
	}
	defer s2.Close()
	if err := s2.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		return fmt.Sprintf("bbolt file corrupt after the second recovery: %v", err)
	}
	got := dump(t, s2.db)
	if len(got) != len(want) {
		return fmt.Sprintf("second recovery: %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Sprintf("second recovery: key %q differs", k)
		}
	}
	return ""
}

// An identical resubmission gets "the same answer as the first time" (SPEC §2; AcceptResult
// says so): the recipients it lists must be the first answer's (pending), not their
// current states.
func TestExistingAnswerIsTheFirst(t *testing.T) {
	s := openStore(t, t.TempDir())
	req := pkg("D1", vpcp, []string{bca}, "a")
	first := must[AcceptResult](t)(s.Accept(ctx, req))
	p := must[[]OutboxEntry](t)(s.PendingDeliveries(ctx, 0, 10))
	if err := s.MarkPublished(ctx, p[0].ID); err != nil {
		t.Fatal(err)
	}
	again := must[AcceptResult](t)(s.Accept(ctx, req))
	if !reflect.DeepEqual(first.Recipients, again.Recipients) {
		t.Fatalf("identical resubmission answered other recipients:\nfirst %+v\nagain %+v", first.Recipients, again.Recipients)
	}
}

// A package committed while Close runs (its receipt still being signed) is answered 202
// with its receipt; the store keeps the mark that makes the next start rebuild it. Before,
// Close deleted the mark first, and the receipt was never stored.
func TestReceiptOfAcceptRacingClose(t *testing.T) {
	dir := t.TempDir()
	signing, release := make(chan struct{}), make(chan struct{})
	req := pkg("D1", vpcp, []string{bca}, "a")
	req.Receipt = func(seq uint64, at time.Time) ([]byte, error) {
		close(signing)
		<-release
		return receipt(seq, at)
	}
	s := openStore(t, dir)
	done := make(chan AcceptResult, 1)
	go func() {
		r, err := s.Accept(ctx, req)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	<-signing // committed: the answer will be a 202
	s.Close()
	close(release)
	ans := <-done
	if len(ans.Receipt) == 0 {
		t.Fatal("no receipt answered")
	}
	var builds atomic.Int64
	s = openStore(t, dir, func(o *Options) {
		o.Receipt = func(d Document) ([]byte, error) { builds.Add(1); return receipt(d.AuditSeq, d.AcceptedAt) }
	})
	if s.repairDone != nil {
		<-s.repairDone
	}
	if got := storedReceiptOf(t, s, "D1"); !bytes.Equal(got, ans.Receipt) {
		t.Fatalf("answered receipt %q, stored %q (repair ran: %v, rebuilt %d)", ans.Receipt, got, s.repairDone != nil, builds.Load())
	}
}
