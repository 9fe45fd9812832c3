package devpki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestInitCreatesAndKeeps(t *testing.T) {
	dir := t.TempDir()
	ids := []string{"000.00.00.G22", "000.00.00.H41"}
	if err := Init(dir, ids, Options{}); err != nil {
		t.Fatal(err)
	}
	root, err := LoadCertificates(RootCertPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root[0])
	for _, id := range append(ids, "axis") {
		cp, kp := AgencyCertPath(dir, id), AgencyKeyPath(dir, id)
		if id == "axis" {
			cp, kp = AxisCertPath(dir), AxisKeyPath(dir)
		}
		certs, err := LoadCertificates(cp)
		if err != nil {
			t.Fatal(err)
		}
		c := certs[0]
		if c.Subject.SerialNumber != id || c.Subject.CommonName != id {
			t.Errorf("%s: subject %v", id, c.Subject)
		}
		if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
			t.Errorf("%s: no digitalSignature", id)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s: chain: %v", id, err)
		}
		if c.NotAfter.Sub(c.NotBefore) < 9*365*24*time.Hour {
			t.Errorf("%s: validity too short: %v", id, c.NotAfter.Sub(c.NotBefore))
		}
		key, err := LoadKey(kp)
		if err != nil {
			t.Fatal(err)
		}
		if id == "axis" { // the identity signs every receipt: ECDSA P-256
			if ek, ok := key.(*ecdsa.PrivateKey); !ok || ek.Curve != elliptic.P256() {
				t.Errorf("axis identity: want ECDSA P-256, got %T", key)
			}
		} else if rk, ok := key.(*rsa.PrivateKey); !ok || rk.N.BitLen() != 2048 {
			t.Errorf("%s: want RSA-2048 by default, got %T", id, key)
		}
		if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(c.PublicKey) {
			t.Errorf("%s: key does not match certificate", id)
		}
		st, _ := os.Stat(kp)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: key mode %v", id, st.Mode().Perm())
		}
	}

	before, _ := os.ReadFile(RootKeyPath(dir))
	g22, _ := os.ReadFile(AgencyCertPath(dir, ids[0]))
	// Second run with one more agency: existing files untouched, the new one issued by the same root.
	if err := Init(dir, append(ids, "000.00.00.G01"), Options{KeyType: ECDSA}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(RootKeyPath(dir))
	g22b, _ := os.ReadFile(AgencyCertPath(dir, ids[0]))
	if !bytes.Equal(before, after) || !bytes.Equal(g22, g22b) {
		t.Fatal("existing files were rewritten")
	}
	nc, err := LoadCertificates(AgencyCertPath(dir, "000.00.00.G01"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("added agency does not chain to the existing root: %v", err)
	}
	if nc[0].PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("KeyType ECDSA ignored: %v", nc[0].PublicKeyAlgorithm)
	}
}

func TestInitRejects(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, []string{"../evil"}, Options{KeyType: ECDSA}); err == nil {
		t.Error("path-like agency id accepted")
	}
	if err := Init(dir, nil, Options{KeyType: ECDSA}); err != nil {
		t.Fatal(err)
	}
	// Half a pair must not be silently replaced.
	if err := os.Remove(AxisKeyPath(dir)); err != nil {
		t.Fatal(err)
	}
	if err := Init(dir, nil, Options{KeyType: ECDSA}); err == nil {
		t.Error("lone certificate accepted")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".devpki-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestHelpers(t *testing.T) {
	root, err := NewRoot(CertOptions{KeyType: ECDSA})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := NewIntermediate(root, CertOptions{KeyType: ECDSA})
	if err != nil {
		t.Fatal(err)
	}
	nb := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	leaf, err := NewLeaf(inter, CertOptions{KeyType: ECDSA, SerialNumber: "X", NotBefore: nb, NotAfter: nb.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageKeyEncipherment})
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Cert.NotAfter.Equal(nb.AddDate(1, 0, 0)) || leaf.Cert.KeyUsage != x509.KeyUsageKeyEncipherment {
		t.Errorf("options ignored: %v %v", leaf.Cert.NotAfter, leaf.Cert.KeyUsage)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "chain.pem")
	if err := WriteCerts(p, leaf.Cert, inter.Cert); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCertificates(p)
	if err != nil || len(got) != 2 || !got[0].Equal(leaf.Cert) || !got[1].Equal(inter.Cert) {
		t.Fatalf("chain round trip: %v %d", err, len(got))
	}
	crlDER, err := NewCRL(inter, []*big.Int{leaf.Cert.SerialNumber}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(inter.Cert); err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 {
		t.Fatal("CRL does not revoke the serial")
	}
	if _, err := ParseCertificates([]byte("junk")); err == nil {
		t.Error("junk parsed as certificates")
	}
	if _, err := ParseKey([]byte("junk")); err == nil {
		t.Error("junk parsed as key")
	}
}
