package receipt

import "testing"

// BenchmarkBuild: one receipt as the daemon builds it per accepted package, on the etree
// path (slow) and written directly (fast), for both identities.
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
				for b.Loop() {
					if _, err := path.build(r, sg.s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
