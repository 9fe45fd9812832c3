package signing

import (
	"encoding/asn1"
	"math/big"
	"math/rand/v2"
	"testing"
)

// derToRS against encoding/asn1 (what it replaced): random r and s of every width up to
// the field size, leading zero bytes included; and malformed input refused.
func TestDerToRS(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{32, 48, 66} {
		for range 2000 {
			var v struct{ R, S *big.Int }
			rb, sb := make([]byte, 1+rng.IntN(n)), make([]byte, 1+rng.IntN(n))
			for i := range rb {
				rb[i] = byte(rng.Uint32())
			}
			for i := range sb {
				sb[i] = byte(rng.Uint32() >> uint(rng.IntN(9)))
			}
			v.R, v.S = new(big.Int).SetBytes(rb), new(big.Int).SetBytes(sb)
			der, err := asn1.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 2*n)
			v.R.FillBytes(want[:n])
			v.S.FillBytes(want[n:])
			got, err := derToRS(der, n)
			if err != nil || string(got) != string(want) {
				t.Fatalf("n=%d der %x: got %x (%v), want %x", n, der, got, err, want)
			}
		}
	}
	good, _ := asn1.Marshal(struct{ R, S *big.Int }{big.NewInt(5), big.NewInt(7)})
	for name, der := range map[string][]byte{
		"empty":          nil,
		"not a sequence": {0x31, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07},
		"trailing bytes": append(append([]byte{}, good...), 0),
		"one integer":    {0x30, 0x03, 0x02, 0x01, 0x05},
		"three integers": {0x30, 0x09, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07, 0x02, 0x01, 0x01},
		"negative":       {0x30, 0x06, 0x02, 0x01, 0x85, 0x02, 0x01, 0x07},
		"empty integer":  {0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x07},
		"short":          {0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01},
		"too wide":       append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, append(make([]byte, 32), 0x02, 0x01, 0x07)...),
		"indefinite":     {0x30, 0x80, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07, 0, 0},
	} {
		if _, err := derToRS(der, 32); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
