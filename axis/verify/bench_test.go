package verify

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

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
