package main

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"axis/signing"
	"axis/signing/devpki"
)

// SIGHUP reaches the function registered (and does not end the process); after stop it
// no longer does.
func TestOnSIGHUP(t *testing.T) {
	var n atomic.Int32
	stop := onSIGHUP(func() { n.Add(1) })
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); n.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP never reached the function")
		}
	}
	stop()
	// Another registration keeps the process alive while this one is checked.
	keep := onSIGHUP(func() {})
	defer keep()
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(100 * time.Millisecond)
	if n.Load() != 1 {
		t.Fatalf("called %d times, want once", n.Load())
	}
}

// reloadTrust swaps in what the path holds now, and keeps the trust in use when the
// path no longer reads.
func TestReloadTrust(t *testing.T) {
	pki := t.TempDir()
	if err := devpki.Init(pki, []string{"000.00.00.G22"}, devpki.Options{KeyType: devpki.ECDSA}); err != nil {
		t.Fatal(err)
	}
	ts, err := signing.LoadTrust(devpki.RootCertPath(pki))
	if err != nil {
		t.Fatal(err)
	}
	v := signing.NewVerifier(ts, signing.Options{})
	if err := reloadTrust(devpki.RootCertPath(pki), v, zap.NewNop()); err != nil || v.Trust() == ts {
		t.Fatalf("reload: %v (same store: %v)", err, v.Trust() == ts)
	}
	in := v.Trust()
	if err := reloadTrust(filepath.Join(pki, "missing.pem"), v, zap.NewNop()); err == nil || v.Trust() != in {
		t.Fatalf("a failed reload: %v (trust replaced: %v)", err, v.Trust() != in)
	}
}
