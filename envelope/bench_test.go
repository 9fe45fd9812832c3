package envelope

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/beevik/etree"
)

// benchPackage builds a package of about size bytes: a full header plus one attachment
// of random bytes, base64 line-wrapped at 76 columns.
func benchPackage(tb testing.TB, size int) []byte {
	tb.Helper()
	p := validPackage()
	head, err := p.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	raw := make([]byte, max(0, (size-len(head))*3/4*76/78))
	_, _ = rand.Read(raw)
	p.Attachments[0].Content = wrap64(base64.StdEncoding.EncodeToString(raw), 76)
	b, err := p.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	if err := mustParse(b).Validate(); err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustParse(b []byte) *Package {
	p, err := ParsePackage(b)
	if err != nil {
		panic(err)
	}
	return p
}

func benchReadDecode(b *testing.B, size int, validate bool) {
	doc := benchPackage(b, size)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d, err := ReadDocument(doc, DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		p, err := DecodePackage(d.Root())
		if err != nil {
			b.Fatal(err)
		}
		if validate {
			if err := p.Validate(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// The hot path: ReadDocument (hardened parse) + DecodePackage, and with Validate.
func BenchmarkReadDecode5KB(b *testing.B)         { benchReadDecode(b, 5<<10, false) }
func BenchmarkReadDecodeValidate5KB(b *testing.B) { benchReadDecode(b, 5<<10, true) }
func BenchmarkReadDecode5MB(b *testing.B)         { benchReadDecode(b, 5<<20, false) }
func BenchmarkReadDecodeValidate5MB(b *testing.B) { benchReadDecode(b, 5<<20, true) }

// Baseline: etree alone, to measure what the hardening checks cost on top of it.
func benchEtree(b *testing.B, size int) {
	doc := benchPackage(b, size)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d := etree.NewDocument()
		if err := d.ReadFromBytes(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEtreeOnly5KB(b *testing.B) { benchEtree(b, 5<<10) }
func BenchmarkEtreeOnly5MB(b *testing.B) { benchEtree(b, 5<<20) }

func BenchmarkReadDocument5KB(b *testing.B) {
	doc := benchPackage(b, 5<<10)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadDocument(doc, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuild5KB(b *testing.B) {
	p := mustParse(benchPackage(b, 5<<10))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Bytes(); err != nil {
			b.Fatal(err)
		}
	}
}

// The hardening checks alone (tree walk + char-ref scan), i.e. ReadDocument minus etree.
func BenchmarkChecksOnly5KB(b *testing.B) {
	raw := benchPackage(b, 5<<10)
	doc, err := ReadDocument(raw, DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := checkDocument(doc, raw); err != nil {
			b.Fatal(err)
		}
		if err := checkCharRefs(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOnly5KB(b *testing.B) {
	doc, err := ReadDocument(benchPackage(b, 5<<10), DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePackage(doc.Root()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateOnly5MB(b *testing.B) {
	p := mustParse(benchPackage(b, 5<<20))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
