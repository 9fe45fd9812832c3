package axis

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"axis/axis/bus/membus"
	"axis/signing/devpki"
)

// The daemon refuses to start with an identity that cannot sign what its own trust
// verifies. Before, it said "axis ready", then stored and routed every package and
// answered it 500 (no receipt could be built), and every checkpoint broke the audit log.
func TestIdentityCheckedAtStart(t *testing.T) {
	p := testPKI(t)
	other := t.TempDir()
	root, err := devpki.NewRoot(devpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := devpki.NewLeaf(root, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: "axis"})
	if err != nil {
		t.Fatal(err)
	}
	if err := devpki.WriteCerts(filepath.Join(other, "axis.pem"), stranger.Cert); err != nil {
		t.Fatal(err)
	}
	if err := devpki.WriteKey(filepath.Join(other, "axis.key"), stranger.Key); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key, cert, want string
	}{
		{"an agency's key with the axis certificate", devpki.AgencyKeyPath(p, govOffice), devpki.AxisCertPath(p), "the key is not the certificate's"},
		{"an identity under another root", filepath.Join(other, "axis.key"), filepath.Join(other, "axis.pem"), "does not verify against --trust: certificate_untrusted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", RegistryFile: registryFile, TrustPath: devpki.RootCertPath(p),
				IdentityKey: tc.key, IdentityCert: tc.cert, ShutdownGrace: 5 * time.Second, Logger: zaptest.NewLogger(t)}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d, err := New(ctx, cfg, Options{Bus: membus.New(membus.Options{})})
			if err == nil {
				d.Run(ctx)
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	startDaemon(t) // the right identity starts
}
