package signing

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"axis/axis/errs"
	"axis/signing/devpki"
)

func sigOf(t testing.TB, doc *etree.Document) *etree.Element {
	t.Helper()
	var sigs []*etree.Element
	if err := findSignatures(doc.Root(), &sigs); err != nil || len(sigs) != 1 {
		t.Fatalf("want one signature, got %d (%v)", len(sigs), err)
	}
	return sigs[0]
}

func dsChild(t testing.TB, el *etree.Element, path ...string) *etree.Element {
	t.Helper()
	for _, p := range path {
		var next *etree.Element
		for _, c := range el.ChildElements() {
			if c.Tag == p {
				next = c
				break
			}
		}
		if next == nil {
			t.Fatalf("no %s under %s", p, el.Tag)
		}
		el = next
	}
	return el
}

func TestSignVerifyRoundTrip(t *testing.T) {
	p := testPKI(t)
	cases := []struct {
		name   string
		signer *Signer
		alg    string
		chain  int
	}{
		{"rsa", p.signer(p.rsa), AlgRSASHA256, 2},
		{"ecdsa", p.signer(p.ec), AlgECDSASHA256, 2},
		{"intermediate in KeyInfo", p.signer(p.viaInter, p.inter.Cert), AlgRSASHA256, 3},
		{"intermediate from trust store", p.signer(p.viaInter), AlgRSASHA256, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := parse(t, sampleDoc)
			if err := tc.signer.Sign(doc); err != nil {
				t.Fatal(err)
			}
			sig := sigOf(t, doc)
			hdr := doc.FindElement("/edXML/edXML:edXMLEnvelope/edXML:edXMLHeader")
			if sig.Parent() != hdr || hdr.ChildElements()[len(hdr.ChildElements())-1] != sig {
				t.Fatal("Signature is not the last child of edXMLHeader")
			}
			if err := tc.signer.Sign(doc); !errs.Is(err, errs.SignatureInvalid) {
				t.Fatalf("signing twice: %v", err)
			}
			// verify from the serialised bytes, as a receiver does
			doc2 := parse(t, serialize(t, doc))
			v, err := p.verifier(Options{}).Verify(doc2)
			wantCode(t, err, "")
			fp := sha256.Sum256(tc.signer.Cert.Raw)
			if v.Root != doc2.Root() || v.Signer != v.Chain[0] || !v.Signer.Equal(tc.signer.Cert) ||
				v.Fingerprint != hex.EncodeToString(fp[:]) || v.Algorithm != tc.alg || v.Legacy || len(v.Chain) != tc.chain {
				t.Fatalf("unexpected result %+v", v)
			}
			if !v.Chain[len(v.Chain)-1].Equal(p.root.Cert) {
				t.Fatal("chain does not end at the root")
			}
			var left []*etree.Element
			findSignatures(v.Root, &left)
			if len(left) != 0 {
				t.Fatal("Signature still attached to the verified root")
			}
			if got := v.Root.FindElement("//edXML:DocumentId").Text(); got != "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT" {
				t.Fatalf("DocumentId %q", got)
			}
		})
	}
}

func TestSignatureOnRootWithoutHeader(t *testing.T) {
	p := testPKI(t)
	src := `<status xmlns="urn:x"><a>1</a></status>`
	doc := parse(t, src)
	if err := p.signer(p.rsa).Sign(doc); err != nil {
		t.Fatal(err)
	}
	if sigOf(t, doc).Parent() != doc.Root() {
		t.Fatal("not placed under the root")
	}
	_, err := p.verifier(Options{}).Verify(parse(t, serialize(t, doc)))
	wantCode(t, err, "")
}

// mutate applies f to the DOM of a freshly parsed signed document and verifies it.
func verifyMutated(t *testing.T, s *Signer, o Options, src string, f func(t *testing.T, doc *etree.Document)) error {
	t.Helper()
	p := testPKI(t)
	doc := parse(t, signedString(t, s, src))
	if f != nil {
		f(t, doc)
	}
	// round trip through bytes so the mutation is what a receiver would parse
	doc = parse(t, serialize(t, doc))
	_, err := p.verifier(o).Verify(doc)
	return err
}

func replaceIn(old, new string) func(t *testing.T, doc *etree.Document) {
	return func(t *testing.T, doc *etree.Document) {
		s := serialize(t, doc)
		if !strings.Contains(s, old) {
			t.Fatalf("%q not in document", old)
		}
		doc.Child = nil // ReadFromString appends
		if err := doc.ReadFromString(strings.Replace(s, old, new, 1)); err != nil {
			t.Fatal(err)
		}
	}
}

func setAlg(path []string, alg string) func(t *testing.T, doc *etree.Document) {
	return func(t *testing.T, doc *etree.Document) {
		el := dsChild(t, sigOf(t, doc), path...)
		el.RemoveAttr("Algorithm")
		el.CreateAttr("Algorithm", alg)
	}
}

func TestVerifyRules(t *testing.T) {
	p := testPKI(t)
	rsa := p.signer(p.rsa)
	future := func() time.Time { return time.Now().AddDate(20, 0, 0) }
	cases := []struct {
		name   string
		signer *Signer
		opts   Options
		src    string
		mutate func(t *testing.T, doc *etree.Document)
		params *signParams
		want   errs.Code
	}{
		{name: "valid", signer: rsa},
		{name: "no signature", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			s := sigOf(t, doc)
			s.Parent().RemoveChild(s)
		}, want: errs.SignatureMissing},
		{name: "signature in the edXML namespace is not one", signer: rsa, mutate: replaceIn(`<Signature xmlns="`+NSDSig+`">`, `<Signature>`),
			want: errs.SignatureMissing},
		{name: "two signatures", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			doc.FindElement("//Attachment").AddChild(sigOf(t, doc).Copy())
		}, want: errs.SignatureInvalid},
		{name: "signature moved into MessageHeader", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			s := sigOf(t, doc)
			s.Parent().RemoveChild(s)
			doc.FindElement("//edXML:MessageHeader").AddChild(s)
		}, want: errs.SignatureInvalid},
		{name: "signature moved to the root still covers the same content", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			s := sigOf(t, doc)
			s.Parent().RemoveChild(s)
			doc.Root().AddChild(s)
		}},
		{name: "whole document wrapped in another root", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			old := doc.Root()
			w := etree.NewElement("Wrapper")
			doc.SetRoot(w)
			w.AddChild(old)
		}, want: errs.SignatureInvalid},
		{name: "wrapped, signature lifted to the new root", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			old := doc.Root()
			s := sigOf(t, doc)
			s.Parent().RemoveChild(s)
			w := etree.NewElement("Wrapper")
			doc.SetRoot(w)
			w.AddChild(s)
			w.AddChild(old)
		}, want: errs.SignatureInvalid},
		{name: "evil copy outside the original", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			evil := doc.FindElement("//edXML:MessageHeader").Copy()
			evil.FindElement("edXML:From/edXML:OrganId").SetText("000.00.00.G01")
			doc.Root().InsertChildAt(0, evil)
		}, want: errs.SignatureInvalid},
		{name: "original hidden in ds:Object, evil in its place", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			mh := doc.FindElement("//edXML:MessageHeader")
			hdr := mh.Parent()
			hdr.RemoveChild(mh)
			obj := sigOf(t, doc).CreateElement("Object")
			obj.AddChild(mh)
			evil := mh.Copy()
			evil.FindElement("edXML:From/edXML:OrganId").SetText("000.00.00.G01")
			hdr.InsertChildAt(0, evil)
		}, want: errs.SignatureInvalid},
		{name: "Reference URI to an inner id", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			ref := dsChild(t, sigOf(t, doc), "SignedInfo", "Reference")
			ref.RemoveAttr("URI")
			ref.CreateAttr("URI", "#s1")
		}, want: errs.SignatureInvalid},
		{name: "Reference without URI", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			dsChild(t, sigOf(t, doc), "SignedInfo", "Reference").RemoveAttr("URI")
		}, want: errs.SignatureInvalid},
		{name: "two References", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			si := dsChild(t, sigOf(t, doc), "SignedInfo")
			si.AddChild(dsChild(t, si, "Reference").Copy())
		}, want: errs.SignatureInvalid},
		{name: "XSLT transform", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			tr := dsChild(t, sigOf(t, doc), "SignedInfo", "Reference", "Transforms")
			tr.CreateElement("Transform").CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116")
		}, want: errs.AlgorithmNotAllowed},
		{name: "no enveloped transform", signer: rsa, params: &signParams{sigMethod: AlgRSASHA256, sigHash: crypto.SHA256,
			digestMethod: AlgSHA256, digestHash: crypto.SHA256, siC14N: AlgExcC14N, transforms: []string{AlgExcC14N}, keyInfo: true},
			want: errs.SignatureInvalid},
		{name: "rsa-sha1 refused", signer: rsa, params: &signParams{sigMethod: AlgRSASHA1, sigHash: crypto.SHA1,
			digestMethod: AlgSHA256, digestHash: crypto.SHA256, siC14N: AlgExcC14N, transforms: []string{AlgEnveloped, AlgExcC14N}, keyInfo: true},
			want: errs.AlgorithmNotAllowed},
		{name: "sha1 digest refused", signer: rsa, params: &signParams{sigMethod: AlgRSASHA256, sigHash: crypto.SHA256,
			digestMethod: AlgSHA1, digestHash: crypto.SHA1, siC14N: AlgExcC14N, transforms: []string{AlgEnveloped, AlgExcC14N}, keyInfo: true},
			want: errs.AlgorithmNotAllowed},
		{name: "unknown signature algorithm", signer: rsa, mutate: setAlg([]string{"SignedInfo", "SignatureMethod"}, "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
			want: errs.AlgorithmNotAllowed},
		{name: "unknown digest algorithm", signer: rsa, mutate: setAlg([]string{"SignedInfo", "Reference", "DigestMethod"}, "http://www.w3.org/2001/04/xmldsig-more#md5"),
			want: errs.AlgorithmNotAllowed},
		{name: "unknown canonicalization", signer: rsa, mutate: setAlg([]string{"SignedInfo", "CanonicalizationMethod"}, "urn:none"),
			want: errs.AlgorithmNotAllowed},
		{name: "ecdsa method with an RSA key", signer: rsa, mutate: setAlg([]string{"SignedInfo", "SignatureMethod"}, AlgECDSASHA256),
			want: errs.SignatureInvalid},
		{name: "no KeyInfo", signer: rsa, params: &signParams{sigMethod: AlgRSASHA256, sigHash: crypto.SHA256,
			digestMethod: AlgSHA256, digestHash: crypto.SHA256, siC14N: AlgExcC14N, transforms: []string{AlgEnveloped, AlgExcC14N}},
			want: errs.SignatureInvalid},
		{name: "KeyInfo without certificate", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			xd := dsChild(t, sigOf(t, doc), "KeyInfo", "X509Data")
			xd.RemoveChild(dsChild(t, xd, "X509Certificate"))
			xd.CreateElement("X509SubjectName").SetText("CN=x")
		}, want: errs.SignatureInvalid},
		{name: "certificate is garbage", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			dsChild(t, sigOf(t, doc), "KeyInfo", "X509Data", "X509Certificate").SetText("QUJD")
		}, want: errs.SignatureInvalid},
		{name: "untrusted root", signer: p.signer(p.untrusted), want: errs.CertificateUntrusted},
		{name: "self-signed leaf", signer: p.signer(p.selfSigned), want: errs.CertificateUntrusted},
		{name: "root itself as signer", signer: p.signer(p.root), want: errs.CertificateUntrusted},
		{name: "no digitalSignature usage", signer: p.signer(p.noDS), want: errs.CertificateUntrusted},
		{name: "expired leaf", signer: p.signer(p.expired), want: errs.CertificateExpired},
		{name: "not yet valid leaf", signer: p.signer(p.notYet), want: errs.CertificateExpired},
		{name: "verification time after NotAfter", signer: rsa, opts: Options{Now: future}, want: errs.CertificateExpired},
		{name: "expired intermediate", signer: p.signer(p.expiredInterLeaf, p.oldInter.Cert), want: errs.CertificateExpired},
		{name: "revoked leaf", signer: p.signer(p.revoked), want: errs.CertificateRevoked},
		{name: "revoked intermediate", signer: p.signer(p.viaRevokedInter, p.revokedInter.Cert), want: errs.CertificateRevoked},
		{name: "text changed", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			doc.FindElement("//edXML:OrganId").SetText("000.00.00.G01")
		}, want: errs.SignatureInvalid},
		{name: "attachment changed", signer: rsa, mutate: replaceIn(">QUJD<", ">QUJE<"), want: errs.SignatureInvalid},
		{name: "signature value changed", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			sv := dsChild(t, sigOf(t, doc), "SignatureValue")
			b := []byte(sv.Text())
			b[10] ^= 1
			sv.SetText(string(b))
		}, want: errs.SignatureInvalid},
		{name: "SignedInfo changed", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			dsChild(t, sigOf(t, doc), "SignedInfo", "Reference").CreateAttr("Id", "r1")
		}, want: errs.SignatureInvalid},
		{name: "digest value not base64", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			dsChild(t, sigOf(t, doc), "SignedInfo", "Reference", "DigestValue").SetText("!!")
		}, want: errs.SignatureInvalid},
		{name: "KeyInfo swapped for another trusted signer", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			dsChild(t, sigOf(t, doc), "KeyInfo", "X509Data", "X509Certificate").SetText(b64(p.rsa2.Cert.Raw))
		}, want: errs.SignatureInvalid},
		{name: "DOCTYPE", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			doc.InsertChildAt(0, etree.NewDirective("DOCTYPE edXML"))
		}, want: errs.MalformedXML},
		{name: "comment injected into signed text", signer: rsa, mutate: replaceIn("V/v kết nối", "V/v kết<!-- x --> nối")},
		{name: "ds:Object with an evil header is ignored", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			evil := doc.FindElement("//edXML:MessageHeader").Copy()
			sigOf(t, doc).CreateElement("Object").AddChild(evil)
		}},
		{name: "foreign element in Signature", signer: rsa, mutate: func(t *testing.T, doc *etree.Document) {
			sigOf(t, doc).CreateElement("edXML:MessageHeader")
		}, want: errs.SignatureInvalid},
		{name: "ECDSA r||s", signer: p.signer(p.ec)},
		{name: "ECDSA DER value (goxmldsig form) accepted", signer: p.signer(p.ec), params: &signParams{sigMethod: AlgECDSASHA256, sigHash: crypto.SHA256,
			digestMethod: AlgSHA256, digestHash: crypto.SHA256, siC14N: AlgExcC14N, transforms: []string{AlgEnveloped, AlgExcC14N}, keyInfo: true, ecdsaDER: true}},
		{name: "inclusive C14N, default transform", signer: rsa, params: &signParams{sigMethod: AlgRSASHA512, sigHash: crypto.SHA512,
			digestMethod: AlgSHA512, digestHash: crypto.SHA512, siC14N: AlgC14N10, transforms: []string{AlgEnveloped}, keyInfo: true}},
		{name: "C14N 1.1 with comments", signer: rsa, params: &signParams{sigMethod: AlgRSASHA384, sigHash: crypto.SHA384,
			digestMethod: AlgSHA384, digestHash: crypto.SHA384, siC14N: AlgC14N11Comments, transforms: []string{AlgC14N11Comments, AlgEnveloped}, keyInfo: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.params != nil {
				doc := parse(t, sampleDoc)
				if err := tc.signer.sign(doc, *tc.params); err != nil {
					t.Fatal(err)
				}
				_, err = p.verifier(tc.opts).Verify(parse(t, serialize(t, doc)))
			} else {
				src := tc.src
				if src == "" {
					src = sampleDoc
				}
				err = verifyMutated(t, tc.signer, tc.opts, src, tc.mutate)
			}
			wantCode(t, err, tc.want)
		})
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestSHA1Legacy(t *testing.T) {
	p := testPKI(t)
	doc := parse(t, sampleDoc)
	err := p.signer(p.rsa).sign(doc, signParams{sigMethod: AlgRSASHA1, sigHash: crypto.SHA1, digestMethod: AlgSHA1,
		digestHash: crypto.SHA1, siC14N: AlgC14N10, transforms: []string{AlgEnveloped, AlgC14N10}, keyInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	s := serialize(t, doc)
	_, err = p.verifier(Options{}).Verify(parse(t, s))
	wantCode(t, err, errs.AlgorithmNotAllowed)
	v, err := p.verifier(Options{AllowSHA1: true}).Verify(parse(t, s))
	wantCode(t, err, "")
	if !v.Legacy || v.Algorithm != AlgRSASHA1 {
		t.Fatalf("legacy not recorded: %+v", v)
	}
}

// The verified tree is what was digested: no comments, text joined, no Signature.
func TestVerifiedTreeIsWhatWasDigested(t *testing.T) {
	p := testPKI(t)
	s := signedString(t, p.signer(p.rsa), sampleDoc)
	s = strings.Replace(s, "<edXML:OrganId>000.00.00.G22", "<edXML:OrganId>000.00.00.G<!--evil.-->22", 1)
	doc := parse(t, s)
	v, err := p.verifier(Options{}).Verify(doc)
	wantCode(t, err, "")
	id := v.Root.FindElement("//edXML:OrganId")
	if len(id.Child) != 1 || id.Text() != "000.00.00.G22" {
		t.Fatalf("OrganId tokens %d text %q", len(id.Child), id.Text())
	}
	if n := len(v.Root.FindElements("//edXML:MessageHeader")); n != 1 {
		t.Fatalf("%d MessageHeaders", n)
	}
}

func TestCheckSender(t *testing.T) {
	p := testPKI(t)
	v, err := p.verifier(Options{}).Verify(parse(t, signedString(t, p.signer(p.rsa), sampleDoc)))
	wantCode(t, err, "")
	upper := strings.ToUpper(v.Fingerprint)
	colons := strings.Join(splitEvery(upper, 2), ":")
	cases := []struct {
		name  string
		organ string
		fps   []string
		want  errs.Code
	}{
		{"serialNumber matches", organID, nil, ""},
		{"serialNumber differs", "000.00.00.G01", nil, errs.SenderMismatch},
		{"empty organ", "", nil, errs.SenderMismatch},
		{"fingerprint listed", "000.00.00.G01", []string{"00", v.Fingerprint}, ""},
		{"fingerprint listed upper case with colons", organID, []string{colons}, ""},
		{"fingerprint not listed: serialNumber no longer enough", organID, []string{strings.Repeat("ab", 32)}, errs.SenderMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, CheckSender(v, tc.organ, tc.fps), tc.want) })
	}
	wantCode(t, CheckSender(nil, organID, nil), errs.SenderMismatch)
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func TestChainCache(t *testing.T) {
	p := testPKI(t)
	s := signedString(t, p.signer(p.rsa), sampleDoc)
	now := time.Now()
	clock := now
	v := NewVerifier(p.ts, Options{Now: func() time.Time { return clock }, CacheSize: 2})
	for range 3 {
		_, err := v.Verify(parse(t, s))
		wantCode(t, err, "")
	}
	if v.trust.Load().cache.len() != 1 {
		t.Fatalf("cache holds %d", v.trust.Load().cache.len())
	}
	// A cached chain is not trusted past its NotAfter.
	clock = p.rsa.Cert.NotAfter.Add(time.Second)
	_, err := v.Verify(parse(t, s))
	wantCode(t, err, errs.CertificateExpired)
	clock = now
	for _, c := range []*Signer{p.signer(p.ec), p.signer(p.viaInter)} {
		_, err := v.Verify(parse(t, signedString(t, c, sampleDoc)))
		wantCode(t, err, "")
	}
	if v.trust.Load().cache.len() > 2 {
		t.Fatalf("cache bound exceeded: %d", v.trust.Load().cache.len())
	}
	// failures are not cached
	_, err = v.Verify(parse(t, signedString(t, p.signer(p.revoked), sampleDoc)))
	wantCode(t, err, errs.CertificateRevoked)
	_, err = v.Verify(parse(t, signedString(t, p.signer(p.revoked), sampleDoc)))
	wantCode(t, err, errs.CertificateRevoked)
}

func TestVerifyConcurrent(t *testing.T) {
	p := testPKI(t)
	s := signedString(t, p.signer(p.ec), sampleDoc)
	v := p.verifier(Options{})
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 10 {
				doc := etree.NewDocument()
				if err = doc.ReadFromString(s); err == nil {
					_, err = v.Verify(doc)
				}
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyNoRoot(t *testing.T) {
	p := testPKI(t)
	_, err := p.verifier(Options{}).Verify(etree.NewDocument())
	wantCode(t, err, errs.MalformedXML)
	_, err = p.verifier(Options{}).Verify(nil)
	wantCode(t, err, errs.MalformedXML)
}

// goxmldsig v1.6.1 fails with "traversal limit reached" on ~1000+ elements with the
// Signature last; our verifier walks the tree once, whatever its size.
func TestManyElements(t *testing.T) {
	p := testPKI(t)
	var sb strings.Builder
	sb.WriteString(`<edXML xmlns="` + NSEdXML + `"><edXMLEnvelope><edXMLHeader><MessageHeader>`)
	for i := range 5000 {
		sb.WriteString("<To><OrganId>" + strings.Repeat("x", i%7) + "</OrganId></To>")
	}
	sb.WriteString(`</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>`)
	s := signedString(t, p.signer(p.ec), sb.String())
	v, err := p.verifier(Options{}).Verify(parse(t, s))
	wantCode(t, err, "")
	if n := len(v.Root.FindElements("//OrganId")); n != 5000 {
		t.Fatalf("%d OrganIds", n)
	}
}

func TestTextCutByManyComments(t *testing.T) {
	p := testPKI(t)
	text := strings.Repeat("ab", 50000)
	s := signedString(t, p.signer(p.ec), "<r><t>"+text+"</t></r>")
	s = strings.Replace(s, text, strings.Join(strings.Split(text, "b"), "b<!---->"), 1)
	v, err := p.verifier(Options{}).Verify(parse(t, s))
	wantCode(t, err, "")
	if el := v.Root.SelectElement("t"); len(el.Child) != 1 || el.Text() != text {
		t.Fatalf("text not joined: %d tokens", len(el.Child))
	}
}

// A reloaded trust store applies to the next verification: a certificate revoked by the
// new CRL is refused even though its chain was validated (and cached) before, and a
// root withdrawn no longer anchors anything.
func TestSetTrust(t *testing.T) {
	p := testPKI(t)
	s := signedString(t, p.signer(p.rsa), sampleDoc)
	v := p.verifier(Options{})
	if _, err := v.Verify(parse(t, s)); err != nil {
		t.Fatal(err)
	}
	crl, err := devpki.NewCRL(p.root, []*big.Int{p.rsa.Cert.SerialNumber}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	revoking, err := NewTrustStore([]*x509.Certificate{p.root.Cert, p.inter.Cert}, [][]byte{crl})
	if err != nil {
		t.Fatal(err)
	}
	v.SetTrust(revoking)
	if v.Trust() != revoking {
		t.Fatal("Trust does not return the store set")
	}
	_, err = v.Verify(parse(t, s))
	wantCode(t, err, errs.CertificateRevoked)

	other, err := NewTrustStore([]*x509.Certificate{p.otherRoot.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.SetTrust(other)
	_, err = v.Verify(parse(t, signedString(t, p.signer(p.ec), sampleDoc)))
	wantCode(t, err, errs.CertificateUntrusted)
	_, err = v.Verify(parse(t, signedString(t, p.signer(p.untrusted), sampleDoc)))
	wantCode(t, err, "")
}

// A revocation for a reason other than a compromise takes effect at its time: a
// verification at an earlier time (an audit checkpoint's) accepts the certificate, one
// at or after it refuses it, even with the chain cached before; a key compromise
// refuses it at any time; removeFromCRL (delta CRLs) is not a revocation.
func TestRevocationTakesEffectAtItsTime(t *testing.T) {
	p := testPKI(t)
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	trustWith := func(reason int) *TrustStore {
		t.Helper()
		crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(int64(reason) + 100), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: at.Add(24 * time.Hour),
			RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: p.rsa.Cert.SerialNumber,
				RevocationTime: at, ReasonCode: reason}},
		}, p.root.Cert, p.root.Key)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := NewTrustStore([]*x509.Certificate{p.root.Cert}, [][]byte{crl})
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	s := signedString(t, p.signer(p.rsa), sampleDoc)
	clock := at.Add(-time.Minute)
	v := NewVerifier(trustWith(4), Options{Now: func() time.Time { return clock }}) // superseded
	_, err := v.Verify(parse(t, s))
	wantCode(t, err, "")
	clock = at // the same verifier: the cached chain ends where the revocation starts
	_, err = v.Verify(parse(t, s))
	wantCode(t, err, errs.CertificateRevoked)

	clock = at.Add(-time.Minute)
	v.SetTrust(trustWith(1)) // keyCompromise: never again
	_, err = v.Verify(parse(t, s))
	wantCode(t, err, errs.CertificateRevoked)

	clock = at.Add(time.Minute)
	v.SetTrust(trustWith(8)) // removeFromCRL
	_, err = v.Verify(parse(t, s))
	wantCode(t, err, "")
}
