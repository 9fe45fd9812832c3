package receipt

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"axis/signing"
	"axis/signing/devpki"
)

// testPKI is built once per test binary (RSA key generation is slow under -race): an
// ECDSA root, an ECDSA intermediate, an ECDSA P-256 leaf under the intermediate (so
// KeyInfo carries two certificates) and an RSA-2048 leaf under the root.
type testPKI struct {
	root, inter, ec, rsa *devpki.Cert
	dir                  string // root.pem for xmlsec1
	ts                   *signing.TrustStore
}

var (
	pkiOnce sync.Once
	thePKI  *testPKI
	pkiErr  error
)

func pki(tb testing.TB) *testPKI {
	tb.Helper()
	pkiOnce.Do(func() { thePKI, pkiErr = buildPKI() })
	if pkiErr != nil {
		tb.Fatal(pkiErr)
	}
	return thePKI
}

func buildPKI() (*testPKI, error) {
	p := &testPKI{}
	var err error
	if p.root, err = devpki.NewRoot(devpki.CertOptions{KeyType: devpki.ECDSA}); err != nil {
		return nil, err
	}
	if p.inter, err = devpki.NewIntermediate(p.root, devpki.CertOptions{KeyType: devpki.ECDSA, CommonName: "inter"}); err != nil {
		return nil, err
	}
	if p.ec, err = devpki.NewLeaf(p.inter, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: "000.00.00.AXIS"}); err != nil {
		return nil, err
	}
	if p.rsa, err = devpki.NewLeaf(p.root, devpki.CertOptions{KeyType: devpki.RSA, SerialNumber: "000.00.00.AXIS"}); err != nil {
		return nil, err
	}
	if p.ts, err = signing.NewTrustStore([]*x509.Certificate{p.root.Cert, p.inter.Cert}, nil); err != nil {
		return nil, err
	}
	if p.dir, err = os.MkdirTemp("", "receipt-pki-"); err != nil {
		return nil, err
	}
	return p, devpki.WriteCerts(filepath.Join(p.dir, "root.pem"), p.root.Cert)
}

// signers: the daemon's identity as ECDSA P-256 (with its intermediate in KeyInfo) and as
// RSA-2048.
func (p *testPKI) signers() []struct {
	name string
	s    *signing.Signer
} {
	return []struct {
		name string
		s    *signing.Signer
	}{
		{"ecdsa-p256", &signing.Signer{Key: p.ec.Key, Cert: p.ec.Cert, Chain: []*x509.Certificate{p.inter.Cert}}},
		{"rsa-2048", &signing.Signer{Key: p.rsa.Key, Cert: p.rsa.Cert}},
	}
}

// sample is a receipt like the daemon's: three recipients, nanosecond time.
func sample() Receipt {
	return Receipt{
		DocumentID: "000.00.00.G22,2026/11/22,7816/VPCP-TTĐT",
		From:       "000.00.00.G22",
		SHA256:     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		AcceptedAt: time.Date(2026, 11, 22, 12, 30, 1, 123456789, time.UTC),
		AuditSeq:   1234567,
		Recipients: []string{"000.00.00.H01", "000.00.00.H02", "000.00.00.H03"},
	}
}
