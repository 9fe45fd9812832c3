package signing

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

func goxmldsigExc() dsig.Canonicalizer {
	return dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
}

// benchPackage is the field package edoc_new.edxml with its attachment resized so the
// signed package is about size bytes.
func benchPackage(tb testing.TB, size int) string {
	tb.Helper()
	src := fieldPackage(tb, "edoc_new.edxml")
	re := regexp.MustCompile(`(?s)(<edXML:ContentTransferEncoded[^>]*>).*?(</edXML:ContentTransferEncoded>)`)
	loc := re.FindStringSubmatchIndex(src)
	if loc == nil {
		tb.Fatal("no attachment in edoc_new.edxml")
	}
	base := len(src) - (loc[4] - loc[3]) // without the attachment text
	n := max(0, size-base-2300) * 3 / 4  // ~2.3 KB of signature; base64 expands 4/3
	raw := make([]byte, n)
	rand.Read(raw)
	return src[:loc[3]] + base64.StdEncoding.EncodeToString(raw) + src[loc[4]:]
}

var benchSizes = []struct {
	name string
	size int
}{{"5KB", 5 << 10}, {"100KB", 100 << 10}, {"5MB", 5 << 20}}

func BenchmarkVerify(b *testing.B) {
	p := testPKI(b)
	for _, sz := range benchSizes {
		signed := signedString(b, p.signer(p.rsa), benchPackage(b, sz.size))
		v := p.verifier(Options{})
		b.Run(sz.name, func(b *testing.B) {
			doc := parse(b, signed)
			sig := sigOf(b, doc)
			parent, idx := sig.Parent(), sig.Index()
			b.SetBytes(int64(len(signed)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(doc); err != nil {
					b.Fatal(err)
				}
				parent.InsertChildAt(idx, sig) // Verify detaches it
			}
		})
		b.Run(sz.name+"+parse", func(b *testing.B) {
			b.SetBytes(int64(len(signed)))
			b.ReportAllocs()
			for b.Loop() {
				doc := etree.NewDocument()
				if err := doc.ReadFromString(signed); err != nil {
					b.Fatal(err)
				}
				if _, err := v.Verify(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	p := testPKI(b)
	s := p.signer(p.rsa)
	for _, sz := range benchSizes {
		src := benchPackage(b, sz.size)
		b.Run(sz.name, func(b *testing.B) {
			doc := parse(b, src)
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Sign(doc); err != nil {
					b.Fatal(err)
				}
				sig := sigOf(b, doc)
				sig.Parent().RemoveChildAt(sig.Index())
			}
		})
		b.Run(sz.name+"+parse", func(b *testing.B) {
			in := []byte(src)
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.SignBytes(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRSAVerify is the yardstick: one raw RSA-2048 PKCS#1 v1.5 verification.
func BenchmarkRSAVerify(b *testing.B) {
	p := testPKI(b)
	key := p.rsaKey.(*rsa.PrivateKey)
	h := sha256.Sum256([]byte(strings.Repeat("x", 100)))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoxmldsigCanonicalize is the reference point for the choice of our own
// streaming canonicalizer: goxmldsig's exclusive C14N of the same documents.
func BenchmarkGoxmldsigCanonicalize(b *testing.B) {
	for _, sz := range benchSizes {
		doc := parse(b, benchPackage(b, sz.size))
		b.Run(sz.name, func(b *testing.B) {
			c := goxmldsigExc()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Canonicalize(doc.Root().Copy()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGoxmldsigValidate: plain goxmldsig validation of the same packages (no chain
// building, store holding only the leaf), for comparison with BenchmarkVerify.
func BenchmarkGoxmldsigValidate(b *testing.B) {
	p := testPKI(b)
	for _, sz := range benchSizes {
		doc := parse(b, signedString(b, p.signer(p.rsa), benchPackage(b, sz.size)))
		b.Run(sz.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := goxmldsigValidate(doc, p.rsa.Cert); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCanonicalize: our exclusive C14N of the whole document into SHA-256.
func BenchmarkCanonicalize(b *testing.B) {
	for _, sz := range benchSizes {
		doc := parse(b, benchPackage(b, sz.size))
		b.Run(sz.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h := sha256.New()
				if err := canonicalizeDocument(h, doc, nil, c14nMethod{exclusive: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
