package signing

import (
	"bufio"
	"bytes"
	"crypto"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// appendSignature writes, byte for byte, the Signature element that sign adds, as etree
// serialises it, for every parameter set whose SignedInfo canonicalization is exclusive,
// in documents with and without prefixed namespaces, and for one or two certificates.
func TestAppendSignatureEqualsSign(t *testing.T) {
	p := testPKI(t)
	signers := map[string]*Signer{
		"rsa":          p.signer(p.rsa),
		"ecdsa":        p.signer(p.ec),
		"intermediate": p.signer(p.viaInter, p.inter.Cert),
	}
	docs := map[string]string{"sample": sampleDoc, "ns heavy": nsHeavyDoc, "tiny": `<a xmlns="urn:x">t&amp;&#xD;</a>`}
	variants := map[string]func(signParams) signParams{
		"default":       func(sp signParams) signParams { return sp },
		"sha512 digest": func(sp signParams) signParams { sp.digestMethod, sp.digestHash = AlgSHA512, crypto.SHA512; return sp },
		"sha384 both": func(sp signParams) signParams {
			sp.digestMethod, sp.digestHash, sp.sigHash = AlgSHA384, crypto.SHA384, crypto.SHA384
			sp.sigMethod = strings.Replace(sp.sigMethod, "256", "384", 1)
			return sp
		},
		"sha1 digest":      func(sp signParams) signParams { sp.digestMethod, sp.digestHash = AlgSHA1, crypto.SHA1; return sp },
		"no key info":      func(sp signParams) signParams { sp.keyInfo = false; return sp },
		"ecdsa der":        func(sp signParams) signParams { sp.ecdsaDER = true; return sp },
		"enveloped only":   func(sp signParams) signParams { sp.transforms = []string{AlgEnveloped}; return sp },
		"no transforms":    func(sp signParams) signParams { sp.transforms = nil; return sp },
		"si with comments": func(sp signParams) signParams { sp.siC14N = AlgExcC14NComments; return sp },
	}
	for sn, s := range signers {
		base, err := s.params()
		if err != nil {
			t.Fatal(err)
		}
		for vn, v := range variants {
			for dn, src := range docs {
				t.Run(sn+"/"+vn+"/"+dn, func(t *testing.T) {
					sp := v(base)
					doc := parse(t, src)
					ref := c14nMethod{}
					for _, tr := range sp.transforms {
						if m, ok := methodFor(tr); ok {
							ref = m
						}
					}
					var canonical bytes.Buffer
					if err := canonicalizeDocument(&canonical, doc, nil, ref); err != nil {
						t.Fatal(err)
					}
					if err := s.sign(doc, sp); err != nil {
						t.Fatal(err)
					}
					var want bytes.Buffer
					w := bufio.NewWriter(&want)
					sigOf(t, doc).WriteTo(w, &etree.WriteSettings{})
					w.Flush()

					got, err := s.appendSignature([]byte("prefix"), canonical.Bytes(), sp)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(got, []byte("prefix")) || string(got[6:]) != want.String() {
						t.Fatalf("appendSignature:\n%s\nsign:\n%s", got, want.String())
					}
				})
			}
		}
	}
}

// The public entry point: Sign's algorithms, Sign's errors, and a signature that
// verifies once placed where Sign puts it.
func TestAppendEnvelopedSignature(t *testing.T) {
	p := testPKI(t)
	s := p.signer(p.viaInter, p.inter.Cert)
	const open, end = `<r xmlns="urn:r"><x>a&amp;b</x>`, `</r>`
	doc := parse(t, open+end)
	if err := s.Sign(doc); err != nil {
		t.Fatal(err)
	}
	want := serialize(t, doc)
	got, err := s.AppendEnvelopedSignature([]byte(open), []byte(`<r xmlns="urn:r"><x>a&amp;b</x></r>`))
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, end...)
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := p.verifier(Options{}).Verify(parse(t, string(got))); err != nil {
		t.Fatal(err)
	}

	bad := &Signer{Key: p.ecKey, Cert: p.rsa.Cert}
	_, err1 := bad.AppendEnvelopedSignature(nil, []byte(open+end))
	err2 := bad.Sign(parse(t, open+end))
	if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
		t.Fatalf("mismatched key: %v / %v", err1, err2)
	}

	// An inclusive SignedInfo canonicalization depends on where SignedInfo sits.
	sp, _ := s.params()
	sp.siC14N = AlgC14N10
	if _, err := s.appendSignature(nil, nil, sp); err == nil {
		t.Fatal("inclusive SignedInfo canonicalization accepted")
	}
}

// Escaping of attribute values in both forms, as the canonicalizer and etree write them.
func TestAppendAttrValue(t *testing.T) {
	for _, v := range []string{"", "plain", `a&b<c>d"e'f`, "t\tn\nr\r", "\x00\x1f\x7f", "\xff\xed\xa0\x80", "\ufffd\ufffe\uffff", "Đ🏛"} {
		var c bytes.Buffer
		cw := getCanonicalizer(&c, c14nMethod{exclusive: true})
		cw.w.attrValue(v)
		cw.w.flush()
		putCanonicalizer(cw)
		if got := appendAttrValue(nil, v, true); string(got) != c.String() {
			t.Errorf("canonical %q: got %q, want %q", v, got, c.String())
		}
		el := etree.NewElement("e")
		el.CreateAttr("a", v)
		var e bytes.Buffer
		w := bufio.NewWriter(&e)
		el.WriteTo(w, &etree.WriteSettings{})
		w.Flush()
		want := strings.TrimSuffix(strings.TrimPrefix(e.String(), `<e a="`), `"/>`)
		if got := appendAttrValue(nil, v, false); string(got) != want {
			t.Errorf("etree %q: got %q, want %q", v, got, want)
		}
	}
}
