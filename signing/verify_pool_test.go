package signing

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"axis/axis/errs"
)

// Verify decodes into pooled scratch; nothing a result or the chain cache keeps may
// point into it. Documents from different signers, interleaved with failures, must
// leave every earlier result intact.
func TestVerifyScratchReuse(t *testing.T) {
	p := testPKI(t)
	v := p.verifier(Options{})
	type signed struct {
		name string
		doc  string
		want []byte // signer DER
	}
	var docs []signed
	for _, s := range []struct {
		name string
		sg   *Signer
		want []byte
	}{
		{"rsa", p.signer(p.rsa), p.rsa.Cert.Raw},
		{"ecdsa", p.signer(p.ec), p.ec.Cert.Raw},
		{"intermediate", p.signer(p.viaInter, p.inter.Cert), p.viaInter.Cert.Raw},
	} {
		docs = append(docs, signed{s.name, signedString(t, s.sg, sampleDoc), s.want})
	}
	tampered := strings.Replace(docs[0].doc, "liên thông", "liên thông!", 1)
	var kept []*Verified
	for round := 0; round < 3; round++ {
		for i, d := range docs {
			got, err := v.Verify(parse(t, d.doc))
			if err != nil {
				t.Fatalf("round %d %s: %v", round, d.name, err)
			}
			if round == 0 {
				kept = append(kept, got)
			}
			if _, err := v.Verify(parse(t, tampered)); errs.CodeOf(err) != errs.SignatureInvalid {
				t.Fatalf("tampered: %v", err)
			}
			if round > 0 && got.Signer != kept[i].Signer {
				t.Errorf("round %d %s: chain not taken from the cache", round, d.name)
			}
		}
	}
	for i, got := range kept {
		fp := sha256.Sum256(docs[i].want)
		if !bytes.Equal(got.Signer.Raw, docs[i].want) || got.Fingerprint != hex.EncodeToString(fp[:]) {
			t.Errorf("%s: signer certificate changed after later verifications", docs[i].name)
		}
	}
}

func TestScratchDecodeBase64(t *testing.T) {
	long := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA5, 0x5A, 0x01}, 3000)) // > the first buffer
	inputs := []string{
		"QUJD",
		" Q U\tJ D ",
		"QUJD\r\nREVG\n",
		base64.StdEncoding.EncodeToString([]byte("x")),
		long,
		"",
		"SGVsbG8=",
	}
	sc := new(verifyScratch)
	var got [][]byte
	for _, in := range inputs {
		b, err := sc.decodeBase64(in)
		if err != nil {
			t.Fatalf("%.20q: %v", in, err)
		}
		got = append(got, b)
	}
	for i, in := range inputs {
		want, err := base64.StdEncoding.DecodeString(strings.NewReplacer(" ", "", "\t", "").Replace(in))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[i], want) {
			t.Errorf("%.20q: got %x, want %x (overwritten by a later decode?)", in, got[i], want)
		}
		if cap(got[i]) != len(got[i]) {
			t.Errorf("%.20q: appending to the result would overwrite the next one", in)
		}
	}
	for _, bad := range []string{"QUJ", "Q=JD", "QUJD=", "QU!D"} {
		if _, err := sc.decodeBase64(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}
