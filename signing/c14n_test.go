package signing

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

func c14nDocs(t testing.TB) map[string]string {
	t.Helper()
	docs := map[string]string{"sample": sampleDoc, "ns heavy": nsHeavyDoc}
	files, err := filepath.Glob(filepath.Join("..", "testdata", "edxml", "*.edxml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("field samples: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if etree.NewDocument().ReadFromBytes(b) != nil {
			continue // edoc.edxml from the field is not well-formed
		}
		docs[filepath.Base(f)] = string(b)
	}
	return docs
}

// Differential check against goxmldsig's canonicalizers (copying, tree-rewriting
// implementations) on the root element of every field sample.
func TestC14NMatchesGoxmldsig(t *testing.T) {
	for name, src := range c14nDocs(t) {
		for _, m := range []struct {
			alg  string
			ref  dsig.Canonicalizer
			ours c14nMethod
		}{
			{AlgExcC14N, dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(""), c14nMethod{exclusive: true}},
			{AlgExcC14N + " prefixes", dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("b a"), c14nMethod{exclusive: true, inclusive: []string{"b", "a"}}},
			{AlgC14N10, dsig.MakeC14N10RecCanonicalizer(), c14nMethod{}},
			{AlgC14N10Comments, dsig.MakeC14N10WithCommentsCanonicalizer(), c14nMethod{comments: true}},
		} {
			t.Run(name+"/"+m.alg, func(t *testing.T) {
				root := parse(t, src).Root()
				want, err := m.ref.Canonicalize(root.Copy())
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				if err := canonicalizeSubtree(&got, root, m.ours); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), want) {
					i := 0
					for i < len(want) && i < got.Len() && want[i] == got.Bytes()[i] {
						i++
					}
					t.Fatalf("differs at byte %d:\nours: %q\ngoxmldsig: %q", i,
						got.Bytes()[max(0, i-60):min(got.Len(), i+60)], want[max(0, i-60):min(len(want), i+60)])
				}
			})
		}
	}
}

// Canonical form is a fixed point: canonicalizing the parsed canonical form changes nothing.
func TestC14NIdempotent(t *testing.T) {
	for name, src := range c14nDocs(t) {
		for _, m := range []c14nMethod{{exclusive: true}, {}, {v11: true}} {
			once := canon(t, src, m)
			if twice := canon(t, once, m); twice != once {
				t.Fatalf("%s %+v: not a fixed point", name, m)
			}
		}
	}
}

func canon(t testing.TB, src string, m c14nMethod) string {
	t.Helper()
	var b bytes.Buffer
	if err := canonicalizeDocument(&b, parse(t, src), nil, m); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestC14NErrors(t *testing.T) {
	for _, src := range []string{`<a:b/>`, `<b x:y="1"/>`} {
		var b bytes.Buffer
		for _, m := range []c14nMethod{{exclusive: true}, {}} {
			if err := canonicalizeDocument(&b, parse(t, src), nil, m); err == nil {
				t.Errorf("%s %+v: undeclared prefix accepted", src, m)
			}
		}
	}
}

// goxmldsig (given only the signer certificate) accepts what we sign with RSA, for
// another independent check of our canonical forms. The Signature is moved first to
// dodge its traversal limit; that does not change the digest.
func TestGoxmldsigAcceptsOurSignature(t *testing.T) {
	p := testPKI(t)
	for _, src := range []string{sampleDoc, fieldPackage(t, "edoc_new.edxml")} {
		doc := parse(t, signedString(t, p.signer(p.rsa), src))
		if err := goxmldsigValidate(doc, p.rsa.Cert); err != nil {
			t.Fatal(err)
		}
	}
}

func goxmldsigValidate(doc *etree.Document, leaf *x509.Certificate) error {
	var sigs []*etree.Element
	findSignatures(doc.Root(), &sigs)
	if len(sigs) == 1 && sigs[0].Parent() != nil {
		sigs[0].Parent().RemoveChild(sigs[0])
		doc.Root().InsertChildAt(0, sigs[0])
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{leaf}})
	_, err := ctx.Validate(doc.Root())
	return err
}
