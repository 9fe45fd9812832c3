package signing

import (
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"axis/axis/errs"
	"axis/signing/devpki"
)

// xmlsec1 is the reference implementation; these tests prove interop both ways.
func needXMLSec(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xmlsec1 is required when CI=true")
		}
		t.Skip("xmlsec1 not installed")
	}
	return path
}

// fieldPackage is a real package from the field with its placeholder signature (in the
// edXML namespace, so not an XML-DSig one) removed.
func fieldPackage(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "edxml", name))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)\s*<Signature>.*?</Signature>`)
	return re.ReplaceAllString(string(b), "")
}

func xmlsecVerify(t *testing.T, bin, rootPEM, doc string) (bool, string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--verify", "--enabled-key-data", "x509", "--trusted-pem", rootPEM, f).CombinedOutput()
	return err == nil, string(out)
}

func TestXMLSecVerifiesOurSignatures(t *testing.T) {
	bin := needXMLSec(t)
	p := testPKI(t)
	rootPEM := filepath.Join(p.dir, "root.pem")
	docs := map[string]string{
		"sample":                sampleDoc,
		"edoc_new.edxml":        fieldPackage(t, "edoc_new.edxml"),
		"status_inbox_01.edxml": fieldPackage(t, "status_inbox_01.edxml"),
		"edoc_multi_recipient":  fieldPackage(t, "edoc_multi_recipient.edxml"),
		"pi and namespaces":     nsHeavyDoc,
	}
	signers := map[string]*Signer{
		"rsa":          p.signer(p.rsa),
		"ecdsa":        p.signer(p.ec),
		"intermediate": p.signer(p.viaInter, p.inter.Cert),
	}
	for dn, src := range docs {
		for sn, s := range signers {
			t.Run(dn+"/"+sn, func(t *testing.T) {
				signed := signedString(t, s, src)
				if ok, out := xmlsecVerify(t, bin, rootPEM, signed); !ok {
					t.Fatalf("xmlsec1 rejects our signature:\n%s", out)
				}
				// and the same check can fail: one changed byte of content
				i := strings.LastIndex(signed, "</")
				tampered := signed[:i] + "<x/>" + signed[i:]
				if ok, _ := xmlsecVerify(t, bin, rootPEM, tampered); ok {
					t.Fatal("xmlsec1 accepts a tampered document")
				}
			})
		}
	}
}

// template inserts an XML-DSig template for xmlsec1 --sign where our signer would put
// the signature.
func xmlsecTemplate(t *testing.T, src, sigMethod, c14n string, certs int, prefixList string) string {
	t.Helper()
	doc := parse(t, src)
	sig := etree.NewElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", NSDSig)
	si := sig.CreateElement("ds:SignedInfo")
	si.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", c14n)
	si.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", sigMethod)
	ref := si.CreateElement("ds:Reference")
	ref.CreateAttr("URI", "")
	trs := ref.CreateElement("ds:Transforms")
	trs.CreateElement("ds:Transform").CreateAttr("Algorithm", AlgEnveloped)
	tr := trs.CreateElement("ds:Transform")
	tr.CreateAttr("Algorithm", c14n)
	if prefixList != "" {
		in := tr.CreateElement("ec:InclusiveNamespaces")
		in.CreateAttr("xmlns:ec", NSExcC14N)
		in.CreateAttr("PrefixList", prefixList)
	}
	ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", AlgSHA256)
	ref.CreateElement("ds:DigestValue")
	sig.CreateElement("ds:SignatureValue")
	xd := sig.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data")
	for range certs {
		xd.CreateElement("ds:X509Certificate")
	}
	parent := doc.Root()
	if env := childEdXML(parent, "edXMLEnvelope"); env != nil {
		if hdr := childEdXML(env, "edXMLHeader"); hdr != nil {
			parent = hdr
		}
	}
	parent.AddChild(sig)
	return serialize(t, doc)
}

func xmlsecSign(t *testing.T, bin string, c *devpki.Cert, chain []*x509.Certificate, tmpl string) string {
	t.Helper()
	dir := t.TempDir()
	key, cert, in := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "in.xml")
	if err := devpki.WriteKey(key, c.Key); err != nil {
		t.Fatal(err)
	}
	if err := devpki.WriteCerts(cert, c.Cert); err != nil {
		t.Fatal(err)
	}
	arg := key + "," + cert
	for i, ch := range chain {
		f := filepath.Join(dir, "chain"+string(rune('0'+i))+".pem")
		if err := devpki.WriteCerts(f, ch); err != nil {
			t.Fatal(err)
		}
		arg += "," + f
	}
	if err := os.WriteFile(in, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--sign", "--enabled-key-data", "x509", "--privkey-pem", arg, in)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xmlsec1 --sign: %v\n%s", err, stderr.String())
	}
	return string(out)
}

func TestWeVerifyXMLSecSignatures(t *testing.T) {
	bin := needXMLSec(t)
	p := testPKI(t)
	cases := []struct {
		name      string
		src       string
		c         *devpki.Cert
		chain     []*x509.Certificate
		method    string
		c14n      string
		wantAlg   string
		wantChain int
		prefixes  string
	}{
		{"rsa exc-c14n sample", sampleDoc, p.rsa, nil, AlgRSASHA256, AlgExcC14N, AlgRSASHA256, 2, ""},
		{"rsa inclusive c14n edoc_new", fieldPackage(t, "edoc_new.edxml"), p.rsa, nil, AlgRSASHA256, AlgC14N10, AlgRSASHA256, 2, ""},
		{"ecdsa r||s edoc_new", fieldPackage(t, "edoc_new.edxml"), p.ec, nil, AlgECDSASHA256, AlgExcC14N, AlgECDSASHA256, 2, ""},
		{"ecdsa status", fieldPackage(t, "status_finish_06.edxml"), p.ec, nil, AlgECDSASHA256, AlgC14N10, AlgECDSASHA256, 2, ""},
		{"rsa with intermediate", nsHeavyDoc, p.viaInter, []*x509.Certificate{p.inter.Cert}, AlgRSASHA256, AlgC14N11, AlgRSASHA256, 3, ""},
		{"rsa inclusive 1.0 ns heavy", nsHeavyDoc, p.rsa, nil, AlgRSASHA512, AlgC14N10, AlgRSASHA512, 2, ""},
		{"ecdsa exc-c14n with InclusiveNamespaces", nsHeavyDoc, p.ec, nil, AlgECDSASHA384, AlgExcC14N, AlgECDSASHA384, 2, "b #default u"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signed := xmlsecSign(t, bin, tc.c, tc.chain, xmlsecTemplate(t, tc.src, tc.method, tc.c14n, 1+len(tc.chain), tc.prefixes))
			if ok, out := xmlsecVerify(t, bin, filepath.Join(p.dir, "root.pem"), signed); !ok {
				t.Fatalf("xmlsec1 does not verify its own signature:\n%s", out)
			}
			v, err := p.verifier(Options{}).Verify(parse(t, signed))
			wantCode(t, err, "")
			if v.Algorithm != tc.wantAlg || len(v.Chain) != tc.wantChain || !v.Signer.Equal(tc.c.Cert) {
				t.Fatalf("got %s, chain %d, signer %v", v.Algorithm, len(v.Chain), v.Signer.Subject)
			}
			wantCode(t, CheckSender(v, organID, nil), "")
			tampered := strings.Replace(signed, "edXMLHeader>", "edXMLHeader> ", 1)
			_, err = p.verifier(Options{}).Verify(parse(t, tampered))
			wantCode(t, err, errs.SignatureInvalid)
		})
	}
}

// nsHeavyDoc exercises canonicalization corners: PIs inside and outside the root,
// redundant and overriding namespace declarations, xmlns="", prefixed attributes,
// attribute ordering, escaping, CDATA and character references.
const nsHeavyDoc = `<?xml version="1.0" encoding="UTF-8"?>
<?app  one two?>
<r xmlns="urn:d" xmlns:b="urn:b" xmlns:a="urn:a" z="1" b:y="2" a:x="3" xml:lang="vi">
  <?pi?>
  <a:c xmlns:a="urn:a" xmlns:u="urn:unused" k="&lt;&amp;&quot;&#9;&#10;&#13;>">t &amp; &lt; &gt; &#13; <![CDATA[<cdata>&]]></a:c>
  <e xmlns=""><f b:q="x" xmlns:b="urn:b2"/></e>
  <g xmlns="urn:d"><h xmlns="urn:e"/></g>
  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXML:edXMLHeader/></edXML:edXMLEnvelope>
</r>
<?after it?>
`
