package receipt

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// BenchmarkBuild: one receipt as the daemon builds it per accepted package, on the etree
// path (slow) and written directly (fast), for both identities; "sign-only" is the
// signature alone (Key.Sign of a SHA-256), the floor of both. cpu-ns/op is the process
// CPU time per receipt (GC included): on a shared machine ns/op is wall time and moves
// with the neighbours' load, CPU time much less.
func BenchmarkBuild(b *testing.B) {
	p := pki(b)
	r := sample()
	for _, sg := range p.signers() {
		for _, path := range []struct {
			name  string
			build func(Receipt, Signer) ([]byte, error)
		}{{"slow", buildSlow}, {"fast", Build}} {
			b.Run(sg.name+"/"+path.name, func(b *testing.B) {
				b.ReportAllocs()
				start := cpuTime()
				for b.Loop() {
					if _, err := path.build(r, sg.s); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, start)
			})
		}
		b.Run(sg.name+"/sign-only", func(b *testing.B) {
			h := sha256.Sum256([]byte("SignedInfo"))
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if _, err := sg.s.Key.Sign(rand.Reader, h[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start)
		})
	}
}

func reportCPU(b *testing.B, start int64) {
	if start >= 0 && b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}
