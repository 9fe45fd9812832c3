package signing

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"axis/axis/errs"
)

// legacyPKI: the national root (SHA-256), an older issuing CA it signed with SHA-1, and
// leaves of that CA, as the Government CA's earlier certificates are.
type legacyPKI struct {
	root, inter           *x509.Certificate
	key, otherKey         crypto.Signer // every certificate's key; a second one for an untrusted root
	serial                int64
	leafValid, leafOfRoot *x509.Certificate
}

// issue makes a certificate of l.key, signed with parentKey (self-signed without parent).
func (l *legacyPKI) issue(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, parentKey crypto.Signer, alg x509.SignatureAlgorithm) *x509.Certificate {
	t.Helper()
	l.serial++
	tmpl.SerialNumber = big.NewInt(l.serial)
	tmpl.SignatureAlgorithm = alg
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0)
	}
	pub := l.key.Public()
	if parent == nil {
		parent, pub = tmpl, parentKey.Public()
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ca(name string) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
}

func leafTmpl() *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: organID, SerialNumber: organID},
		KeyUsage: x509.KeyUsageDigitalSignature}
}

func newLegacyPKI(t *testing.T) *legacyPKI {
	p := testPKI(t)
	l := &legacyPKI{key: p.rsaKey, otherKey: p.rsaKey2}
	l.root = l.issue(t, ca("national root"), nil, l.key, x509.SHA256WithRSA)
	l.inter = l.issue(t, ca("legacy issuing CA"), l.root, l.key, x509.SHA1WithRSA)
	l.leafValid = l.issue(t, leafTmpl(), l.inter, l.key, x509.SHA256WithRSA)
	l.leafOfRoot = l.issue(t, leafTmpl(), l.root, l.key, x509.SHA1WithRSA)
	return l
}

func (l *legacyPKI) store(t *testing.T, crls ...[]byte) *TrustStore {
	t.Helper()
	ts, err := NewTrustStore([]*x509.Certificate{l.root}, crls)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// Certificates signed with SHA-1 chain only under AllowSHA1, and are then reported as
// legacy; everything else of a chain check still holds for them.
func TestLegacySHA1Chains(t *testing.T) {
	l := newLegacyPKI(t)
	sign := func(leaf *x509.Certificate, chain ...*x509.Certificate) string {
		return signedString(t, &Signer{Key: l.key, Cert: leaf, Chain: chain}, sampleDoc)
	}
	verify := func(ts *TrustStore, allow bool, s string) (*Verified, error) {
		return NewVerifier(ts, Options{AllowSHA1: allow}).Verify(parse(t, s))
	}
	ts := l.store(t)
	for _, c := range []struct {
		name string
		doc  string
	}{
		{"leaf of a SHA-1-signed CA", sign(l.leafValid, l.inter)},
		{"leaf signed with SHA-1 by the root", sign(l.leafOfRoot)},
	} {
		_, err := verify(ts, false, c.doc)
		wantCode(t, err, errs.CertificateUntrusted)
		v, err := verify(ts, true, c.doc)
		if err != nil || !v.Legacy || len(v.Chain) < 2 || !v.Chain[len(v.Chain)-1].Equal(l.root) {
			t.Fatalf("%s with --allow-sha1: %v (legacy %v)", c.name, err, v != nil && v.Legacy)
		}
	}

	// The same checks as crypto/x509 makes, on the legacy path.
	expired := l.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: organID, SerialNumber: organID},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(-1, 0, 0)},
		l.inter, l.key, x509.SHA256WithRSA)
	_, err := verify(ts, true, sign(expired, l.inter))
	wantCode(t, err, errs.CertificateExpired)

	notCA := l.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "not a CA"}, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, l.root, l.key, x509.SHA1WithRSA)
	_, err = verify(ts, true, sign(l.issue(t, leafTmpl(), notCA, l.key, x509.SHA1WithRSA), notCA))
	wantCode(t, err, errs.CertificateUntrusted)

	zero := ca("path length 0")
	zero.MaxPathLenZero = true
	zeroCA := l.issue(t, zero, l.root, l.key, x509.SHA1WithRSA)
	below := l.issue(t, ca("below path length 0"), zeroCA, l.key, x509.SHA1WithRSA)
	_, err = verify(ts, true, sign(l.issue(t, leafTmpl(), below, l.key, x509.SHA256WithRSA), below, zeroCA))
	wantCode(t, err, errs.CertificateUntrusted)

	otherRoot := l.issue(t, ca("national root"), nil, l.otherKey, x509.SHA256WithRSA) // same name, another key
	_, err = verify(ts, true, sign(l.issue(t, leafTmpl(), otherRoot, l.otherKey, x509.SHA1WithRSA), otherRoot))
	wantCode(t, err, errs.CertificateUntrusted)

	// A CRL the legacy CA signed with SHA-1 loads, and revokes.
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour), SignatureAlgorithm: x509.SHA1WithRSA,
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: l.leafValid.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)}}},
		l.inter, l.key)
	if err != nil {
		t.Fatal(err)
	}
	revoking, err := NewTrustStore([]*x509.Certificate{l.root, l.inter}, [][]byte{crl})
	if err != nil {
		t.Fatal(err)
	}
	_, err = verify(revoking, true, sign(l.leafValid, l.inter))
	wantCode(t, err, errs.CertificateRevoked)
}

// Certificates in KeyInfo that all sign one another (one key, one name) must not make
// the legacy search exponential: it tries each as an issuer once and refuses.
func TestLegacySearchIsBounded(t *testing.T) {
	l := newLegacyPKI(t)
	var clique []*x509.Certificate
	for range 12 { // self-issued, not self-signed: the issuer named is "clique" of the same key
		tmpl, parent := ca("clique"), ca("clique")
		parent.PublicKey = l.otherKey.Public()
		l.serial++
		tmpl.SerialNumber, tmpl.SignatureAlgorithm = big.NewInt(l.serial), x509.SHA1WithRSA
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, l.otherKey.Public(), l.otherKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		clique = append(clique, c)
	}
	leaf := l.issue(t, leafTmpl(), clique[0], l.otherKey, x509.SHA1WithRSA)
	s := signedString(t, &Signer{Key: l.key, Cert: leaf, Chain: clique}, sampleDoc)
	_, err := NewVerifier(l.store(t), Options{AllowSHA1: true}).Verify(parse(t, s))
	wantCode(t, err, errs.CertificateUntrusted)
}
