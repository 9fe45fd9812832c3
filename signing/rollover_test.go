package signing

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"strings"
	"testing"
	"time"

	"axis/axis/errs"
	"axis/signing/devpki"
)

// rolloverPKI: an issuing CA that rolled its key over (two CA certificates, one name,
// two keys), leaves issued under each key, and a third CA certificate of that name,
// signed by the root, whose key the trust store never holds.
type rolloverPKI struct {
	root, oldCA, newCA, rogueCA *devpki.Cert
	a, b, c, ofNew              *devpki.Cert // a, b, c issued under the old key
}

func newRolloverPKI(t *testing.T) *rolloverPKI {
	t.Helper()
	must := func(c *devpki.Cert, err error) *devpki.Cert {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	r := &rolloverPKI{root: must(devpki.NewRoot(devpki.CertOptions{KeyType: devpki.ECDSA}))}
	ca := func() *devpki.Cert {
		return must(devpki.NewIntermediate(r.root, devpki.CertOptions{KeyType: devpki.ECDSA, CommonName: "Issuing CA"}))
	}
	r.oldCA, r.newCA, r.rogueCA = ca(), ca(), ca()
	leaf := func(by *devpki.Cert) *devpki.Cert {
		return must(devpki.NewLeaf(by, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: organID}))
	}
	r.a, r.b, r.c, r.ofNew = leaf(r.oldCA), leaf(r.oldCA), leaf(r.oldCA), leaf(r.newCA)
	return r
}

// revoke is a CRL entry: the leaf's serial, from at, for reason.
func revoke(c *devpki.Cert, at time.Time, reason int) x509.RevocationListEntry {
	return x509.RevocationListEntry{SerialNumber: c.Cert.SerialNumber, RevocationTime: at, ReasonCode: reason}
}

// crlOf returns a CRL signed by issuer's key (alg: zero for the default).
func crlOf(t *testing.T, issuer *x509.Certificate, key crypto.Signer, alg x509.SignatureAlgorithm, entries ...x509.RevocationListEntry) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()),
		ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour), SignatureAlgorithm: alg,
		RevokedCertificateEntries: entries}, issuer, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// RFC 5280 §6.3.3: a CRL applies to the certificates of its issuer name, whichever key of
// that CA signed them, so after a key rollover the CA's current CRL (new key) still
// revokes what it issued under the old key; the old key's last CRL and the new key's are
// merged. A CRL still has to be signed by a key the store trusts for that name.
func TestRevocationAfterCAKeyRollover(t *testing.T) {
	r := newRolloverPKI(t)
	past := time.Now().Add(-time.Minute)
	crl := func(by *devpki.Cert, entries ...x509.RevocationListEntry) []byte {
		return crlOf(t, by.Cert, by.Key, 0, entries...)
	}
	const superseded, keyCompromise = 4, 1
	for _, tc := range []struct {
		name  string
		cas   []*devpki.Cert // besides the root
		crls  [][]byte
		want  map[*devpki.Cert]errs.Code // leaf: code ("" verifies)
		wantS string                     // NewTrustStore fails with this in its message
	}{
		{name: "new key's CRL revokes an old-key leaf", cas: []*devpki.Cert{r.oldCA, r.newCA},
			crls: [][]byte{crl(r.newCA, revoke(r.a, past, 0))},
			want: map[*devpki.Cert]errs.Code{r.a: errs.CertificateRevoked, r.b: "", r.ofNew: ""}},
		{name: "old CA certificate only in KeyInfo", cas: []*devpki.Cert{r.newCA},
			crls: [][]byte{crl(r.newCA, revoke(r.a, past, superseded))},
			want: map[*devpki.Cert]errs.Code{r.a: errs.CertificateRevoked, r.b: ""}},
		{name: "old key's last CRL and new key's CRL merged", cas: []*devpki.Cert{r.oldCA, r.newCA},
			crls: [][]byte{crl(r.oldCA, revoke(r.b, past, 0)), crl(r.newCA, revoke(r.a, past, 0))},
			want: map[*devpki.Cert]errs.Code{r.a: errs.CertificateRevoked, r.b: errs.CertificateRevoked, r.c: "", r.ofNew: ""}},
		{name: "merged, the strictest entry of a serial", cas: []*devpki.Cert{r.oldCA, r.newCA},
			crls: [][]byte{crl(r.oldCA, revoke(r.a, time.Now().Add(time.Hour), superseded)),
				crl(r.newCA, revoke(r.a, time.Now().Add(2*time.Hour), keyCompromise), revoke(r.b, time.Now().Add(time.Hour), superseded))},
			want: map[*devpki.Cert]errs.Code{r.a: errs.CertificateRevoked, r.b: ""}},
		{name: "old key's CRL names a new-key leaf (one serial space per name)", cas: []*devpki.Cert{r.oldCA, r.newCA},
			crls: [][]byte{crl(r.oldCA, revoke(r.ofNew, past, 0))},
			want: map[*devpki.Cert]errs.Code{r.ofNew: errs.CertificateRevoked, r.a: ""}},
		{name: "CRL of the name signed by a key not in the store", cas: []*devpki.Cert{r.oldCA, r.newCA},
			crls: [][]byte{crl(r.rogueCA, revoke(r.a, past, 0))}, wantS: "no CA certificate in the store has signed it"},
		{name: "new key's CRL while only the old CA certificate is trusted", cas: []*devpki.Cert{r.oldCA},
			crls: [][]byte{crl(r.newCA, revoke(r.a, past, 0))}, wantS: "no CA certificate in the store has signed it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certs := []*x509.Certificate{r.root.Cert}
			for _, c := range tc.cas {
				certs = append(certs, c.Cert)
			}
			ts, err := NewTrustStore(certs, tc.crls)
			if tc.wantS != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantS) {
					t.Fatalf("want a load error %q, got %v", tc.wantS, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v := NewVerifier(ts, Options{})
			for leaf, want := range tc.want {
				issuer := r.oldCA
				if leaf == r.ofNew {
					issuer = r.newCA
				}
				_, err := v.Verify(parse(t, signedString(t, &Signer{Key: leaf.Key, Cert: leaf.Cert, Chain: []*x509.Certificate{issuer.Cert}}, sampleDoc)))
				wantCode(t, err, want)
			}
		})
	}
}

// A revocation to come, from the new key's CRL, of an old-key leaf bounds the chain
// cache as any other: the same verifier refuses the leaf from the revocation time.
func TestRolloverRevocationBoundsChainCache(t *testing.T) {
	r := newRolloverPKI(t)
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	ts, err := NewTrustStore([]*x509.Certificate{r.root.Cert, r.oldCA.Cert, r.newCA.Cert},
		[][]byte{crlOf(t, r.newCA.Cert, r.newCA.Key, 0, revoke(r.a, at, 4))})
	if err != nil {
		t.Fatal(err)
	}
	clock := at.Add(-time.Minute)
	v := NewVerifier(ts, Options{Now: func() time.Time { return clock }})
	s := signedString(t, &Signer{Key: r.a.Key, Cert: r.a.Cert, Chain: []*x509.Certificate{r.oldCA.Cert}}, sampleDoc)
	_, err = v.Verify(parse(t, s))
	wantCode(t, err, "")
	clock = at
	_, err = v.Verify(parse(t, s))
	wantCode(t, err, errs.CertificateRevoked)
}

// The legacy path (AllowSHA1): the old issuing CA certificate was signed with SHA-1, the
// CA has rolled over to a new key and certificate (SHA-256), and publishes its CRL with it.
func TestRolloverRevocationLegacySHA1(t *testing.T) {
	l := newLegacyPKI(t)
	newInter := func() *x509.Certificate { // "legacy issuing CA" again, with otherKey
		tmpl := ca("legacy issuing CA")
		l.serial++
		tmpl.SerialNumber = big.NewInt(l.serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, l.root, l.otherKey.Public(), l.key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}()
	other := l.issue(t, leafTmpl(), l.inter, l.key, x509.SHA256WithRSA)
	crl := crlOf(t, newInter, l.otherKey, 0, revoke(&devpki.Cert{Cert: l.leafValid}, time.Now().Add(-time.Minute), 0))
	ts, err := NewTrustStore([]*x509.Certificate{l.root, newInter}, [][]byte{crl})
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(ts, Options{AllowSHA1: true})
	_, err = v.Verify(parse(t, signedString(t, &Signer{Key: l.key, Cert: l.leafValid, Chain: []*x509.Certificate{l.inter}}, sampleDoc)))
	wantCode(t, err, errs.CertificateRevoked)
	got, err := v.Verify(parse(t, signedString(t, &Signer{Key: l.key, Cert: other, Chain: []*x509.Certificate{l.inter}}, sampleDoc)))
	wantCode(t, err, "")
	if !got.Legacy {
		t.Fatal("not verified on the legacy path: the test proves nothing about it")
	}
}
