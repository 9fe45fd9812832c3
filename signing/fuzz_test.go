package signing

import (
	"bytes"
	"crypto"
	"testing"

	"github.com/beevik/etree"

	"axis/axis/errs"
)

// FuzzVerify: Verify never panics, every failure carries a public errs code, and an
// accepted document comes back without its Signature and without comments.
func FuzzVerify(f *testing.F) {
	p := testPKI(f)
	f.Add([]byte(signedString(f, p.signer(p.rsa), sampleDoc)))
	f.Add([]byte(signedString(f, p.signer(p.ec), sampleDoc)))
	f.Add([]byte(signedString(f, p.signer(p.viaInter, p.inter.Cert), nsHeavyDoc)))
	f.Add([]byte(signedString(f, p.signer(p.revoked), `<a><b>x</b></a>`)))
	doc := parse(f, sampleDoc)
	if err := p.signer(p.rsa).sign(doc, signParams{sigMethod: AlgRSASHA1, sigHash: crypto.SHA1, digestMethod: AlgSHA1,
		digestHash: crypto.SHA1, siC14N: AlgC14N10Comments, transforms: []string{AlgEnveloped}, keyInfo: true}); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(serialize(f, doc)))
	f.Add([]byte(`<a xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Signature/></a>`))
	f.Add([]byte(`<!DOCTYPE a><a/>`))
	strict := p.verifier(Options{})
	lenient := p.verifier(Options{AllowSHA1: true})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []*Verifier{strict, lenient} {
			doc := etree.NewDocument()
			if doc.ReadFromBytes(data) != nil {
				return
			}
			res, err := v.Verify(doc)
			if err != nil {
				if c := errs.CodeOf(err); c == errs.Internal || c == "" {
					t.Fatalf("error without a public code: %v", err)
				}
				continue
			}
			var sigs []*etree.Element
			if findSignatures(res.Root, &sigs); len(sigs) != 0 {
				t.Fatal("accepted document still holds a Signature")
			}
			for _, el := range res.Root.FindElements("//*") {
				for _, tok := range el.Child {
					if _, ok := tok.(*etree.Comment); ok {
						t.Fatal("comment left in the verified tree")
					}
				}
			}
		}
	})
}

// FuzzCanonicalize: never panics, and whatever it accepts it maps to a fixed point.
func FuzzCanonicalize(f *testing.F) {
	f.Add([]byte(sampleDoc))
	f.Add([]byte(nsHeavyDoc))
	f.Add([]byte(`<e xmlns:ns1="http://ns1" xmlns:ns2="http://ns2"><ns1:a><ns2:b ns1:c="d"><!-- comment --></ns2:b></ns1:a></e>`))
	f.Add([]byte(`<a xml:lang="en" xml:space="preserve">  text &#13; </a>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc := etree.NewDocument()
		if doc.ReadFromBytes(data) != nil || doc.Root() == nil {
			return
		}
		for _, m := range []c14nMethod{{exclusive: true}, {}, {exclusive: true, inclusive: []string{"", "a"}}} {
			var once bytes.Buffer
			if canonicalizeDocument(&once, doc, nil, m) != nil {
				continue
			}
			again := etree.NewDocument()
			if err := again.ReadFromBytes(once.Bytes()); err != nil {
				t.Fatalf("canonical form does not parse: %v\n%q", err, once.String())
			}
			var twice bytes.Buffer
			if err := canonicalizeDocument(&twice, again, nil, m); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(once.Bytes(), twice.Bytes()) {
				t.Fatalf("not a fixed point:\n%q\n%q", once.String(), twice.String())
			}
		}
	})
}
