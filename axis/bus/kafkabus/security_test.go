package kafkabus_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"axis/axis/broker"
	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
	"axis/axis/errs"
)

// roundTrip proves a client works end to end: create a topic, publish, consume.
func roundTrip(t *testing.T, b *kafkabus.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := b.EnsureTopics(ctx, "secure"); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	want := bus.Message{Topic: "secure", Key: []byte("k"), Value: []byte("payload"), Headers: []bus.Header{{Key: "h", Value: []byte("v")}}}
	if err := b.Publish(ctx, want); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := make(chan bus.Message, 1)
	sctx, scancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Subscribe(sctx, "secure", "g", func(_ context.Context, m bus.Message) error {
			select {
			case got <- m:
			default:
			}
			return nil
		})
	}()
	select {
	case m := <-got:
		if string(m.Value) != "payload" || m.Header("h") != "v" {
			t.Errorf("consumed %q with headers %v", m.Value, m.Headers)
		}
	case <-ctx.Done():
		t.Fatal("nothing consumed")
	}
	scancel()
	<-done
}

// refused asserts that a misconfigured client fails fast, with a clear unavailable
// error naming what to check.
func refused(t *testing.T, b *kafkabus.Bus, hint string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := b.Ping(ctx)
	if err == nil {
		t.Fatal("Ping succeeded with a bad configuration")
	}
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), hint) {
		t.Errorf("Ping error = %v; want %s mentioning %q", err, errs.Unavailable, hint)
	}
	err = b.Publish(ctx, bus.Message{Topic: "secure", Value: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), hint) {
		t.Errorf("Publish error = %v; want one mentioning %q", err, hint)
	}
	// Not retried until the publish timeout: retrying cannot fix a configuration.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusal took %v; bad credentials should not be retried", d)
	}
	t.Logf("refused as expected: %v", err)
}

func TestSASL(t *testing.T) {
	users := []broker.User{
		{Mechanism: broker.Plain, Name: "alice", Password: "plain-secret"},
		{Mechanism: broker.ScramSHA256, Name: "bob", Password: "scram256-secret"},
		{Mechanism: broker.ScramSHA512, Name: "carol", Password: "scram512-secret"},
	}
	br := startBroker(t, broker.Config{Users: users, NoSync: true})
	tests := []struct {
		mech, user, pass string
	}{
		{kafkabus.SASLPlain, "alice", "plain-secret"},
		{kafkabus.SASLScramSHA256, "bob", "scram256-secret"},
		{kafkabus.SASLScramSHA512, "carol", "scram512-secret"},
	}
	for _, tc := range tests {
		t.Run(tc.mech, func(t *testing.T) {
			cfg := testConfig(t, br.Addr())
			cfg.SASLMechanism, cfg.Username, cfg.Password = tc.mech, tc.user, tc.pass
			roundTrip(t, newBus(t, cfg))

			cfg.Password = "wrong"
			refused(t, newBus(t, cfg), "credentials")

			cfg.SASLMechanism, cfg.Username, cfg.Password = "", "", ""
			unauth := newBus(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := unauth.Publish(ctx, bus.Message{Topic: "secure", Value: []byte("x")}); err == nil {
				t.Error("unauthenticated client could publish")
			}
		})
	}
}

// selfSigned returns a server TLS config for 127.0.0.1 and the PEM of its certificate.
func selfSigned(t *testing.T) (*tls.Config, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "axis test broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestTLS(t *testing.T) {
	serverTLS, caPEM := selfSigned(t)
	br := startBroker(t, broker.Config{
		TLS:    serverTLS,
		Users:  []broker.User{{Mechanism: broker.ScramSHA512, Name: "axis", Password: "s3cret"}},
		NoSync: true,
	})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, br.Addr())
	cfg.TLSCAFile = caFile
	cfg.SASLMechanism, cfg.Username, cfg.Password = kafkabus.SASLScramSHA512, "axis", "s3cret"
	roundTrip(t, newBus(t, cfg))

	t.Run("UnknownCA", func(t *testing.T) {
		_, otherPEM := selfSigned(t)
		other := filepath.Join(t.TempDir(), "other.pem")
		os.WriteFile(other, otherPEM, 0o600)
		bad := cfg
		bad.Logger = testLogger(t)
		bad.TLSCAFile = other
		refused(t, newBus(t, bad), "kafka-tls-ca")
	})
}
