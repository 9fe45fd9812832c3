package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"axis/axis/errs"
	"axis/axis/registry"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

// The attack corpus lives in testdata/attacks: one file per case and cases.json with the
// exact SPEC §6 code each must get. The files are committed (they are also fuzz seeds and
// can be fed to any other verifier); regenerate them with
//
//	go test ./axis/verify -run TestAttackCorpus -update
//
// which issues a fresh, long-lived test PKI (trust/ holds what verification needs).
var update = flag.Bool("update", false, "regenerate testdata/attacks")

const corpusDir = "../../testdata/attacks"

// corpusMaxBytes is the --max-package-bytes the corpus is checked with, so that the
// oversize case stays small enough to commit.
const corpusMaxBytes = 64 << 10

type corpusCase struct {
	File       string `json:"file"`
	Expect     string `json:"expect"` // SPEC code, or "" for accepted
	AllowSHA1  bool   `json:"allow_sha1,omitempty"`
	DocumentID string `json:"document_id,omitempty"` // for accepted cases: what must be read
	From       string `json:"from,omitempty"`
	What       string `json:"what"`
}

func loadCorpus(t testing.TB) []corpusCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

func corpusChecker(t testing.TB, allowSHA1 bool) *Checker {
	t.Helper()
	ts, err := signing.LoadTrust(filepath.Join(corpusDir, "trust"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(filepath.Join(corpusDir, "registry.json"))
	if err != nil {
		t.Fatal(err)
	}
	return New(signing.NewVerifier(ts, signing.Options{AllowSHA1: allowSHA1}), reg, envelope.Limits{MaxBytes: corpusMaxBytes})
}

func TestAttackCorpus(t *testing.T) {
	if *update {
		generateCorpus(t)
	}
	cases := loadCorpus(t)
	if len(cases) < 25 {
		t.Fatalf("corpus has %d cases, want at least 25", len(cases))
	}
	strict, legacy := corpusChecker(t, false), corpusChecker(t, true)
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.File, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(corpusDir, c.File))
			if err != nil {
				t.Fatal(err)
			}
			chk := strict
			if c.AllowSHA1 {
				chk = legacy
			}
			res, err := chk.Check(b)
			got := ""
			if err != nil {
				got = string(errs.CodeOf(err))
			}
			if got != c.Expect {
				t.Fatalf("%s\n got %q (%v), want %q", c.What, got, err, c.Expect)
			}
			seen[c.Expect] = true
			if err != nil {
				return
			}
			if res.DocumentID != c.DocumentID || res.From != c.From {
				t.Fatalf("read %q from %q, want %q from %q", res.DocumentID, res.From, c.DocumentID, c.From)
			}
			if res.Signed.Legacy != c.AllowSHA1 {
				t.Fatalf("legacy = %v", res.Signed.Legacy)
			}
		})
	}
	// The corpus must exercise every refusal a document can get from verification.
	for _, code := range []errs.Code{errs.MalformedXML, errs.TooLarge, errs.InvalidEnvelope, errs.SignatureMissing,
		errs.SignatureInvalid, errs.AlgorithmNotAllowed, errs.CertificateUntrusted, errs.CertificateExpired,
		errs.CertificateRevoked, errs.SenderMismatch, errs.UnknownAgency} {
		if !seen[string(code)] {
			t.Errorf("no corpus case expects %s", code)
		}
	}
}

// ---- generation -------------------------------------------------------------------

type corpusPKI struct {
	root, inter                                *devpki.Cert
	agency                                     map[string]*devpki.Cert
	evilRoot, selfSigned, expired, notYet      *devpki.Cert
	revoked, noDigSig, viaInter, ecdsa, g12Reg *devpki.Cert
	g12Other, x99, wrongRoot                   *devpki.Cert
}

var (
	corpusStart = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	corpusEnd   = time.Date(2120, 1, 1, 0, 0, 0, 0, time.UTC)
)

func newCorpusPKI(t *testing.T) *corpusPKI {
	must := func(c *devpki.Cert, err error) *devpki.Cert {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	long := func(o devpki.CertOptions) devpki.CertOptions {
		if o.NotBefore.IsZero() {
			o.NotBefore, o.NotAfter = corpusStart, corpusEnd
		}
		return o
	}
	p := &corpusPKI{agency: map[string]*devpki.Cert{}}
	p.root = must(devpki.NewRoot(long(devpki.CertOptions{CommonName: "Test National Root CA", Organization: "axis corpus"})))
	p.inter = must(devpki.NewIntermediate(p.root, long(devpki.CertOptions{CommonName: "Test Issuing CA"})))
	for _, id := range []string{"000.00.00.G22", "000.00.00.H41", "000.00.00.G01"} {
		p.agency[id] = must(devpki.NewLeaf(p.root, long(devpki.CertOptions{CommonName: id, SerialNumber: id})))
	}
	p.evilRoot = must(devpki.NewRoot(long(devpki.CertOptions{CommonName: "Test National Root CA", Organization: "axis corpus"})))
	g22 := "000.00.00.G22"
	leaf := func(parent *devpki.Cert, o devpki.CertOptions) *devpki.Cert {
		if o.SerialNumber == "" {
			o.SerialNumber, o.CommonName = g22, g22
		}
		return must(devpki.NewLeaf(parent, long(o)))
	}
	p.selfSigned = must(devpki.NewSelfSigned(long(devpki.CertOptions{CommonName: g22, SerialNumber: g22})))
	p.expired = leaf(p.root, devpki.CertOptions{NotBefore: corpusStart, NotAfter: corpusStart.AddDate(1, 0, 0)})
	p.notYet = leaf(p.root, devpki.CertOptions{NotBefore: corpusEnd.AddDate(-1, 0, 0), NotAfter: corpusEnd})
	p.revoked = leaf(p.root, devpki.CertOptions{})
	p.noDigSig = leaf(p.root, devpki.CertOptions{KeyUsage: x509.KeyUsageKeyEncipherment})
	p.viaInter = leaf(p.inter, devpki.CertOptions{})
	p.ecdsa = leaf(p.root, devpki.CertOptions{KeyType: devpki.ECDSA})
	p.g12Reg = leaf(p.root, devpki.CertOptions{SerialNumber: "000.00.00.G12", CommonName: "000.00.00.G12"})
	p.g12Other = leaf(p.root, devpki.CertOptions{SerialNumber: "000.00.00.G12", CommonName: "000.00.00.G12"})
	p.x99 = leaf(p.root, devpki.CertOptions{SerialNumber: "000.00.00.X99", CommonName: "000.00.00.X99"})
	p.wrongRoot = leaf(p.evilRoot, devpki.CertOptions{})
	p.evilLeafCheck(t)
	return p
}

func (p *corpusPKI) evilLeafCheck(t *testing.T) {
	if p.root.Cert.Subject.String() != p.evilRoot.Cert.Subject.String() {
		t.Fatal("the wrong-root case needs a root with the same name as the real one")
	}
}

func signerOf(c *devpki.Cert, chain ...*devpki.Cert) *signing.Signer {
	s := &signing.Signer{Key: c.Key, Cert: c.Cert}
	for _, x := range chain {
		s.Chain = append(s.Chain, x.Cert)
	}
	return s
}

func fingerprint(c *devpki.Cert) string {
	s := sha256.Sum256(c.Cert.Raw)
	return hex.EncodeToString(s[:])
}

type generator struct {
	t     *testing.T
	pki   *corpusPKI
	cases []corpusCase
	n     int
}

func (g *generator) add(name string, b []byte, expect errs.Code, what string, opts ...func(*corpusCase)) {
	g.t.Helper()
	g.n++
	c := corpusCase{File: fmt.Sprintf("%02d-%s.edxml", g.n, name), Expect: string(expect), What: what}
	for _, o := range opts {
		o(&c)
	}
	if err := os.WriteFile(filepath.Join(corpusDir, c.File), b, 0o644); err != nil {
		g.t.Fatal(err)
	}
	g.cases = append(g.cases, c)
}

func accepted(docID, from string) func(*corpusCase) {
	return func(c *corpusCase) { c.DocumentID, c.From = docID, from }
}

func (g *generator) sign(doc []byte, s *signing.Signer) []byte {
	g.t.Helper()
	out, err := s.SignBytes(doc)
	if err != nil {
		g.t.Fatal(err)
	}
	return out
}

func replace(b []byte, old, new string) []byte {
	if !bytes.Contains(b, []byte(old)) {
		panic("corpus: " + old + " not found")
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

// edit parses b, applies f to the tree, and serialises it again.
func edit(t *testing.T, b []byte, f func(root *etree.Element)) []byte {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	f(doc.Root())
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func find(root *etree.Element, path string) *etree.Element {
	e := root.FindElement(path)
	if e == nil {
		panic("corpus: no " + path)
	}
	return e
}

// legacySHA1 signs with goxmldsig's own rsa-sha1/sha1, as the field systems do.
func legacySHA1(t *testing.T, doc []byte, c *devpki.Cert) []byte {
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA1SignatureMethod); err != nil {
		t.Fatal(err)
	}
	return edit(t, doc, func(root *etree.Element) {
		sig, err := ctx.ConstructSignature(root, true)
		if err != nil {
			t.Fatal(err)
		}
		find(root, "edXMLEnvelope/edXMLHeader").AddChild(sig)
	})
}

// innerIDSignature signs only MessageHeader (Reference URI="#mh"), the signature then
// placed where an enveloped one belongs.
func innerIDSignature(t *testing.T, doc []byte, c *devpki.Cert) []byte {
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	return edit(t, doc, func(root *etree.Element) {
		mh := find(root, "edXMLEnvelope/edXMLHeader/MessageHeader")
		mh.CreateAttr("ID", "mh")
		sig, err := ctx.ConstructSignature(mh, true)
		if err != nil {
			t.Fatal(err)
		}
		find(root, "edXMLEnvelope/edXMLHeader").AddChild(sig)
	})
}

func generateCorpus(t *testing.T) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(corpusDir, "*.edxml"))
	for _, f := range old {
		os.Remove(f)
	}
	p := newCorpusPKI(t)
	g := &generator{t: t, pki: p}
	decree, err := os.ReadFile("../../testdata/demo/decree.edxml")
	if err != nil {
		t.Fatal(err)
	}
	const g22, h41, docID = "000.00.00.G22", "000.00.00.H41", "000.00.00.G22,2026/11/22,1234/NĐ-CP"
	status := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope><edXMLHeader><MessageHeader>
<From><OrganId>000.00.00.H41</OrganId><OrganName>UBND tỉnh Nghệ An</OrganName></From>
<ResponseFor><OrganId>000.00.00.G22</OrganId><Code>1234/NĐ-CP</Code><PromulgationDate>2026/11/22</PromulgationDate><DocumentId>000.00.00.G22,2026/11/22,1234/NĐ-CP</DocumentId></ResponseFor>
<StatusCode>01</StatusCode><Description>Đã đến - phần mềm QLVB đã nhận</Description><Timestamp>2026/11/22 08:00:05</Timestamp>
</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>
`)
	sg22 := signerOf(p.agency[g22])
	good := g.sign(decree, sg22)
	goodStatus := g.sign(status, signerOf(p.agency[h41]))

	// Accepted.
	g.add("valid-package", good, "", "a decree signed by the Government Office", accepted(docID, g22))
	g.add("valid-status", goodStatus, "", "status 01 signed by a recipient", accepted(docID, h41))
	g.add("valid-ecdsa", g.sign(decree, signerOf(p.ecdsa)), "", "ECDSA P-256 signature (r||s)", accepted(docID, g22))
	g.add("valid-intermediate", g.sign(decree, signerOf(p.viaInter, p.inter)), "", "leaf under an intermediate carried in KeyInfo", accepted(docID, g22))
	g.add("comment-injected", replace(good, "1234/NĐ-CP</DocumentId>", "1234/<!-- -->NĐ-CP</DocumentId>"), "",
		"a comment injected into signed text: C14N ignores it, and the reader must still read the whole text", accepted(docID, g22))
	g.add("sha1-allowed", legacySHA1(t, decree, p.agency[g22]), "", "legacy rsa-sha1 accepted with --allow-sha1, reported as legacy",
		accepted(docID, g22), func(c *corpusCase) { c.AllowSHA1 = true })

	// Signature wrapping and placement.
	evilEnvelope := replace(replace(decree, "1234/NĐ-CP", "9999/NĐ-CP"), "<OrganId>000.00.00.G01</OrganId>", "<OrganId>000.00.00.G24</OrganId>")
	g.add("wrap-evil-copy-outside", edit(t, good, func(root *etree.Element) {
		evil := edit(t, evilEnvelope, func(*etree.Element) {})
		d := etree.NewDocument()
		_ = d.ReadFromBytes(evil)
		root.InsertChildAt(0, find(d.Root(), "edXMLEnvelope").Copy())
	}), errs.SignatureInvalid, "an evil edXMLEnvelope inserted before the signed one")
	g.add("wrap-original-in-object", edit(t, evilEnvelope, func(root *etree.Element) {
		d := etree.NewDocument()
		_ = d.ReadFromBytes(good)
		sig := find(d.Root(), "edXMLEnvelope/edXMLHeader/Signature").Copy()
		obj := sig.CreateElement("Object")
		orig := d.Root().Copy()
		orig.RemoveChildAt(orig.FindElement("edXMLEnvelope/edXMLHeader/Signature").Index())
		obj.AddChild(orig)
		find(root, "edXMLEnvelope/edXMLHeader").AddChild(sig)
	}), errs.SignatureInvalid, "evil document carrying the original signature, the original hidden in ds:Object")
	g.add("wrap-in-another-root", []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Wrapper xmlns="urn:evil">`+
		string(bytes.TrimPrefix(good, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)))+`</Wrapper>`),
		errs.SignatureInvalid, "the whole signed document wrapped in another root")
	g.add("reference-inner-id", innerIDSignature(t, decree, p.agency[g22]), errs.SignatureInvalid,
		"a real signature by the sender, but over MessageHeader only (Reference URI=\"#mh\")")
	moveSig := func(to string) []byte {
		return edit(t, good, func(root *etree.Element) {
			h := find(root, "edXMLEnvelope/edXMLHeader")
			sig := find(h, "Signature")
			h.RemoveChild(sig)
			find(root, to).AddChild(sig)
		})
	}
	g.add("signature-in-messageheader", moveSig("edXMLEnvelope/edXMLHeader/MessageHeader"), errs.SignatureInvalid, "signature moved into MessageHeader")
	g.add("signature-in-attachment", moveSig("AttachmentEncoded/Attachment"), errs.SignatureInvalid, "signature moved into an Attachment")
	g.add("two-signatures", edit(t, good, func(root *etree.Element) {
		root.AddChild(find(root, "edXMLEnvelope/edXMLHeader/Signature").Copy())
	}), errs.SignatureInvalid, "a second copy of the signature under the root")
	g.add("signature-stripped", edit(t, good, func(root *etree.Element) {
		h := find(root, "edXMLEnvelope/edXMLHeader")
		h.RemoveChild(find(h, "Signature"))
	}), errs.SignatureMissing, "signature removed")
	g.add("signature-edxml-namespace", replace(good, `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">`,
		`<Signature xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">`),
		errs.SignatureMissing, "Signature in the edXML namespace (seen in the field) is not an XML-DSig signature")
	g.add("keyinfo-removed", edit(t, good, func(root *etree.Element) {
		sig := find(root, "edXMLEnvelope/edXMLHeader/Signature")
		sig.RemoveChild(find(sig, "KeyInfo"))
	}), errs.SignatureInvalid, "KeyInfo removed: the signature does not name its signer")
	g.add("keyinfo-other-cert", edit(t, good, func(root *etree.Element) {
		c := find(root, "edXMLEnvelope/edXMLHeader/Signature/KeyInfo/X509Data/X509Certificate")
		c.SetText(b64(p.agency[h41].Cert.Raw))
	}), errs.SignatureInvalid, "KeyInfo certificate swapped for another agency's")

	// Tampering after signing.
	g.add("tampered-subject", replace(good, "Nghị định quy định", "Nghị quyết quy định"), errs.SignatureInvalid, "one word of the Subject changed")
	g.add("tampered-attachment", edit(t, good, func(root *etree.Element) {
		e := find(root, "AttachmentEncoded/Attachment/ContentTransferEncoded")
		s := []byte(e.Text())
		if s[0] == 'T' {
			s[0] = 'U'
		} else {
			s[0] = 'T'
		}
		e.SetText(string(s))
	}), errs.SignatureInvalid, "one base64 character of the attachment changed")
	g.add("tampered-manifest", replace(good, "<AttachmentName>1234-ND-CP.txt</AttachmentName>", "<AttachmentName>1234-ND-CP.exe</AttachmentName>"),
		errs.SignatureInvalid, "manifest AttachmentName changed")
	g.add("tampered-recipient-added", replace(good, "<To>", "<To><OrganId>000.00.00.G24</OrganId></To><To>"), errs.SignatureInvalid, "a recipient added")

	// Parser hardening.
	xmlDecl := `<?xml version="1.0" encoding="UTF-8"?>`
	g.add("doctype", replace(good, xmlDecl, xmlDecl+"\n<!DOCTYPE edXML>"), errs.MalformedXML, "a DOCTYPE")
	g.add("internal-entity", replace(good, xmlDecl, xmlDecl+`
<!DOCTYPE edXML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>`),
		errs.MalformedXML, "internal entity expansion (billion laughs)")
	g.add("external-entity", replace(replace(good, xmlDecl, xmlDecl+`
<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>`), "<Content>", "<Content>&x;"), errs.MalformedXML, "external entity")
	g.add("too-deep", replace(good, "<Content>", "<Content>"+strings.Repeat("<a>", 120)+strings.Repeat("</a>", 120)), errs.MalformedXML, "nesting deeper than 100")
	g.add("truncated", good[:len(good)/2], errs.MalformedXML, "not well-formed: cut in the middle")
	g.add("empty", nil, errs.MalformedXML, "empty body")
	g.add("two-roots", append(append([]byte{}, good...), []byte("<edXML/>")...), errs.MalformedXML, "a second root element after the document")
	g.add("oversize", replace(good, "<Content>", "<Content>"+strings.Repeat("x", corpusMaxBytes)), errs.TooLarge, "over --max-package-bytes (64 KiB for the corpus)")

	// Algorithms.
	g.add("sha1", legacySHA1(t, decree, p.agency[g22]), errs.AlgorithmNotAllowed, "rsa-sha1 without --allow-sha1")
	g.add("unknown-signature-method", replace(good, "xmldsig-more#rsa-sha256", "xmldsig-more#rsa-md5"), errs.AlgorithmNotAllowed, "rsa-md5 SignatureMethod")
	g.add("unknown-digest-method", replace(good, "xmlenc#sha256", "xmldsig-more#md5"), errs.AlgorithmNotAllowed, "md5 DigestMethod")
	g.add("xslt-transform", replace(good, `<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>`,
		`<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/>`),
		errs.AlgorithmNotAllowed, "an XSLT transform in the Reference")

	// Certificates.
	g.add("self-signed", g.sign(decree, signerOf(p.selfSigned)), errs.CertificateUntrusted, "self-signed certificate naming the sender")
	g.add("wrong-root", g.sign(decree, signerOf(p.wrongRoot, p.evilRoot)),
		errs.CertificateUntrusted, "chain to a root with the national root's name but another key")
	g.add("expired", g.sign(decree, signerOf(p.expired)), errs.CertificateExpired, "certificate expired in 2021")
	g.add("not-yet-valid", g.sign(decree, signerOf(p.notYet)), errs.CertificateExpired, "certificate valid only from 2119")
	g.add("revoked", g.sign(decree, signerOf(p.revoked)), errs.CertificateRevoked, "certificate revoked by the root's CRL")
	g.add("no-digital-signature", g.sign(decree, signerOf(p.noDigSig)), errs.CertificateUntrusted, "certificate without the digitalSignature key usage")

	// Sender binding and registry.
	g.add("signer-not-sender", g.sign(decree, signerOf(p.agency[h41])), errs.SenderMismatch, "Nghệ An signs a package From the Government Office")
	g.add("status-signer-not-sender", g.sign(status, signerOf(p.agency["000.00.00.G01"])), errs.SenderMismatch, "a status From Nghệ An signed by Bộ Công an")
	g12 := replace(replace(decree, "<OrganId>000.00.00.G22</OrganId>", "<OrganId>000.00.00.G12</OrganId>"), "000.00.00.G22,2026", "000.00.00.G12,2026")
	g.add("fingerprint-not-registered", g.sign(g12, signerOf(p.g12Other)), errs.SenderMismatch,
		"serialNumber says Bộ Tài chính, but the registry lists another certificate for it")
	g.add("fingerprint-registered", g.sign(g12, signerOf(p.g12Reg)), "", "the certificate the registry lists for Bộ Tài chính",
		accepted("000.00.00.G12,2026/11/22,1234/NĐ-CP", "000.00.00.G12"))
	x99 := replace(replace(decree, "<OrganId>000.00.00.G22</OrganId>", "<OrganId>000.00.00.X99</OrganId>"), "000.00.00.G22,2026", "000.00.00.X99,2026")
	g.add("unknown-sender", g.sign(x99, signerOf(p.x99)), errs.UnknownAgency, "sender not in the registry (its certificate is otherwise valid)")
	g.add("unknown-recipient", g.sign(replace(decree, "<OrganId>000.00.00.H53</OrganId>", "<OrganId>000.00.00.H99</OrganId>"), sg22),
		errs.UnknownAgency, "a recipient not in the registry")

	// Signed but not a valid envelope.
	g.add("missing-subject", g.sign(edit(t, decree, func(root *etree.Element) {
		mh := find(root, "edXMLEnvelope/edXMLHeader/MessageHeader")
		mh.RemoveChild(find(mh, "Subject"))
	}), sg22), errs.InvalidEnvelope, "validly signed, but Subject missing")
	g.add("bad-base64", g.sign(edit(t, decree, func(root *etree.Element) {
		find(root, "AttachmentEncoded/Attachment/ContentTransferEncoded").SetText("not*base64!")
	}), sg22), errs.InvalidEnvelope, "validly signed, attachment not base64")
	g.add("status-bad-code", g.sign(replace(status, "<StatusCode>01</StatusCode>", "<StatusCode>07</StatusCode>"), signerOf(p.agency[h41])),
		errs.InvalidEnvelope, "validly signed status with an unknown StatusCode")

	// What verification needs: the root and the CRL; the registry.
	trust := filepath.Join(corpusDir, "trust")
	if err := os.MkdirAll(trust, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := devpki.WriteCerts(filepath.Join(trust, "root.pem"), p.root.Cert); err != nil {
		t.Fatal(err)
	}
	crl, err := devpki.NewCRL(p.root, []*big.Int{p.revoked.Cert.SerialNumber}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(trust, "root.crl"), devpki.EncodeCRL(crl), 0o644); err != nil {
		t.Fatal(err)
	}
	regIn, err := os.ReadFile("../../testdata/agencies.json")
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Agencies []registry.Agency `json:"agencies"`
	}
	if err := json.Unmarshal(regIn, &reg); err != nil {
		t.Fatal(err)
	}
	for i := range reg.Agencies {
		if reg.Agencies[i].ID == "000.00.00.G12" {
			reg.Agencies[i].Certificates = []string{fingerprint(p.g12Reg)}
		}
	}
	writeJSON(t, filepath.Join(corpusDir, "registry.json"), reg)
	writeJSON(t, filepath.Join(corpusDir, "cases.json"), g.cases)
}

func writeJSON(t *testing.T, path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
