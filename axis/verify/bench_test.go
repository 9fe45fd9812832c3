package verify

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"axis/axis/registry"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

// BenchmarkCheck is the full verification of SPEC §3 as intake runs it, from bytes:
// parse (hardened), XML-DSig + chain + CRL, envelope decode + validation, registry and
// sender binding. Run with -cpu 1 for the per-core rate; RSA-2048 verify alone is the
// yardstick in the same run.
func BenchmarkCheck(b *testing.B) {
	pkg, err := os.ReadFile(filepath.Join(corpusDir, "01-valid-package.edxml"))
	if err != nil {
		b.Fatal(err)
	}
	chk := corpusChecker(b, false)
	b.Run("5KB", func(b *testing.B) {
		b.SetBytes(int64(len(pkg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := chk.Check(pkg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("5MB", func(b *testing.B) {
		big, chk := bigSignedPackage(b, 5<<20)
		b.SetBytes(int64(len(big)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := chk.Check(big); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rsa2048-verify-yardstick", func(b *testing.B) {
		key, err := devpki.NewKey(devpki.RSA)
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.Sum256([]byte("yardstick"))
		sig, err := key.Sign(nil, h[:], crypto.SHA256)
		if err != nil {
			b.Fatal(err)
		}
		pub := key.Public().(*rsa.PublicKey)
		for b.Loop() {
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// bigSignedPackage signs the demo decree with its attachment grown to about size bytes,
// under a fresh PKI, and returns it with a Checker that trusts that PKI.
func bigSignedPackage(b *testing.B, size int) ([]byte, *Checker) {
	b.Helper()
	decree, err := os.ReadFile("../../testdata/demo/decree.edxml")
	if err != nil {
		b.Fatal(err)
	}
	att := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("Nghị định số 1234/NĐ-CP. "), size*3/4/27))
	decree = bytes.Replace(decree, []byte("<ContentTransferEncoded>"), []byte("<ContentTransferEncoded>"+att+"\n"), 1)
	root, err := devpki.NewRoot(devpki.CertOptions{CommonName: "bench root"})
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := devpki.NewLeaf(root, devpki.CertOptions{CommonName: "000.00.00.G22", SerialNumber: "000.00.00.G22"})
	if err != nil {
		b.Fatal(err)
	}
	signed, err := (&signing.Signer{Key: leaf.Key, Cert: leaf.Cert}).SignBytes(decree)
	if err != nil {
		b.Fatal(err)
	}
	ts, err := signing.NewTrustStore([]*x509.Certificate{root.Cert}, nil)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := registry.Load("../../testdata/agencies.json")
	if err != nil {
		b.Fatal(err)
	}
	return signed, New(signing.NewVerifier(ts, signing.Options{}), reg, envelope.DefaultLimits())
}
