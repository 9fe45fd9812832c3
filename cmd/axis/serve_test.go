package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"axis/axis"
	"axis/axis/bus/membus"
	"axis/axis/registry"
	"axis/signing"
	"axis/signing/devpki"
	"axis/store"
)

// A failed durable write stops the store (503); once the data directory has room again,
// serve starts the axis anew in the same process, which recovers the store: what was
// accepted before is there (200, the first answer), the package refused meanwhile is
// accepted (202), and /readyz is green again. No restart by hand.
func TestServeRecoversTheStore(t *testing.T) {
	t.Run("in-memory bus", func(t *testing.T) { serveRecovers(t, true) })
	// The default development setup: the embedded broker stops and starts again with
	// the daemon, on the same address and data.
	t.Run("embedded broker", func(t *testing.T) { serveRecovers(t, false) })
}

func serveRecovers(t *testing.T, memBus bool) {
	const regFile = "../../testdata/agencies.json"
	pki := t.TempDir()
	reg, err := registry.Load(regFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := devpki.Init(pki, reg.IDs(), devpki.Options{KeyType: devpki.ECDSA}); err != nil {
		t.Fatal(err)
	}
	key, err := devpki.LoadKey(devpki.AgencyKeyPath(pki, "000.00.00.G22"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := devpki.LoadCertificates(devpki.AgencyCertPath(pki, "000.00.00.G22"))
	if err != nil {
		t.Fatal(err)
	}
	decree, err := os.ReadFile("../../testdata/demo/decree.edxml")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(n string) []byte {
		b := bytes.Replace(decree, []byte("1234/NĐ-CP"), []byte(n+"/NĐ-CP"), 1)
		out, err := (&signing.Signer{Key: key, Cert: certs[0]}).SignBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first, second := sign("5001"), sign("5002")

	var diskFull atomic.Bool
	addr := agFreeAddr(t)
	cfg := axis.Config{DataDir: filepath.Join(t.TempDir(), "data"), HTTPAddr: addr, RegistryFile: regFile,
		TrustPath: devpki.RootCertPath(pki), IdentityKey: devpki.AxisKeyPath(pki), IdentityCert: devpki.AxisCertPath(pki),
		RecoverProbe: 50 * time.Millisecond, ShutdownGrace: 5 * time.Second}
	opts := axis.Options{StoreHooks: func(o *store.Options) {
		o.FailLog = func() error {
			if diskFull.Load() {
				return errors.New("injected: no space left on device")
			}
			return nil
		}
	}}
	if memBus {
		opts.Bus = membus.New(membus.Options{})
	} else {
		cfg.EmbeddedBroker, cfg.BrokerNoSync = agFreeAddr(t), true
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	cfg.Logger = log
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, opts, log) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var lastReceipt string
	post := func(b []byte) int {
		resp, err := http.Post("http://"+addr+"/v1/packages", "application/xml", bytes.NewReader(b))
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		var a struct {
			Receipt string `json:"receipt"`
		}
		json.NewDecoder(resp.Body).Decode(&a)
		lastReceipt = a.Receipt
		return resp.StatusCode
	}
	ready := func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	waitReady := func(what string) {
		for deadline := time.Now().Add(30 * time.Second); !ready(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not ready %s", what)
			}
		}
	}
	waitReady("at start")
	if code := post(first); code != http.StatusAccepted {
		t.Fatalf("first package: %d", code)
	}
	receipt := lastReceipt
	diskFull.Store(true)
	if code := post(second); code != http.StatusServiceUnavailable {
		t.Fatalf("with the disk full: %d, want 503", code)
	}
	diskFull.Store(false) // the operator frees space
	for deadline := time.Now().Add(30 * time.Second); post(second) != http.StatusAccepted; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the store never recovered")
		}
	}
	waitReady("after the recovery")
	if code := post(first); code != http.StatusOK || lastReceipt != receipt || receipt == "" {
		t.Fatalf("the package accepted before the failure, submitted again: %d (same receipt: %v), want 200 and the first receipt",
			code, lastReceipt == receipt)
	}
}
