package signing

import (
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"axis/axis/errs"
	"axis/signing/devpki"
)

var sigRE = regexp.MustCompile(`(?s)<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">.*</Signature>`)

func TestSignBytesKeepsEveryOtherByte(t *testing.T) {
	p := testPKI(t)
	docs := []struct{ name, src, before string }{
		{"sample", sampleDoc, "</edXML:edXMLHeader>"},
		{"no header", "<?xml version='1.0'?>\r\n<a x='&#9;'>t&#13;<b/><!-- c --></a>", "</a>"},
		{"header not under envelope goes to the root", `<r xmlns:e="` + NSEdXML + `"><e:edXMLHeader/></r>`, "</r>"},
		{"second envelope is not the path", `<r xmlns="` + NSEdXML + `"><x/><edXMLEnvelope><y><edXMLHeader/></y><edXMLHeader>h</edXMLHeader></edXMLEnvelope></r>`,
			"</edXMLHeader></edXMLEnvelope>"},
		{"field package", fieldPackage(t, "edoc_revocation.edxml"), "</edXML:edXMLHeader>"},
	}
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			out, err := p.signer(p.rsa).SignBytes([]byte(d.src))
			if err != nil {
				t.Fatal(err)
			}
			s := string(out)
			loc := sigRE.FindStringIndex(s)
			if loc == nil {
				t.Fatalf("no signature in %s", s)
			}
			if rest := s[:loc[0]] + s[loc[1]:]; rest != d.src {
				t.Fatalf("other bytes changed:\n%s", rest)
			}
			if !strings.HasPrefix(s[loc[1]:], d.before) {
				t.Fatalf("signature inserted before %q", s[loc[1]:min(len(s), loc[1]+40)])
			}
			_, err = p.verifier(Options{}).Verify(parse(t, s))
			wantCode(t, err, "")
		})
	}
	_, err := p.signer(p.rsa).SignBytes([]byte("<a>"))
	wantCode(t, err, errs.MalformedXML)
	_, err = p.signer(p.rsa).SignBytes([]byte("<!DOCTYPE a><a/>"))
	wantCode(t, err, errs.MalformedXML)
}

func TestSignerRejectsMismatchedKey(t *testing.T) {
	p := testPKI(t)
	if _, err := (&Signer{Key: p.ecKey, Cert: p.rsa.Cert}).SignBytes([]byte("<a/>")); err == nil {
		t.Fatal("key/certificate mismatch accepted")
	}
	if _, err := (&Signer{}).SignBytes([]byte("<a/>")); err == nil {
		t.Fatal("empty signer accepted")
	}
}

func TestLoadTrust(t *testing.T) {
	p := testPKI(t)
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("root.pem", devpki.EncodeCerts(p.root.Cert))
	write("inter.crt", p.inter.Cert.Raw) // DER
	write("revoked-inter.pem", devpki.EncodeCerts(p.revokedInter.Cert, p.rsa.Cert /* a leaf: ignored */))
	write("root.crl", p.crlDER) // DER CRL
	interCRL, err := devpki.NewCRL(p.inter, []*big.Int{big.NewInt(7)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	write("inter-crl.pem", devpki.EncodeCRL(interCRL))
	write("notes.txt", []byte("not read"))
	ts, err := LoadTrust(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.Roots()) != 1 || len(ts.Intermediates()) != 2 || len(ts.CRLs()) != 2 || ts.ignored != 1 {
		t.Fatalf("loaded %s", ts.Summary())
	}
	// Each CRL with its issuer and validity (devpki: from an hour ago, for 30 days).
	issuers := map[string]bool{}
	for _, c := range ts.CRLs() {
		issuers[c.Issuer] = true
		if c.NextUpdate.Sub(c.ThisUpdate) < 30*24*time.Hour || c.Stale(time.Now()) || !c.Stale(time.Now().Add(31*24*time.Hour)) {
			t.Errorf("CRL of %s: this update %v, next %v", c.Issuer, c.ThisUpdate, c.NextUpdate)
		}
	}
	if !issuers[p.root.Cert.Subject.String()] || !issuers[p.inter.Cert.Subject.String()] {
		t.Errorf("CRL issuers %v, want the root's and the intermediate's", issuers)
	}
	v := NewVerifier(ts, Options{})
	for _, tc := range []struct {
		s    *Signer
		want errs.Code
	}{
		{p.signer(p.viaInter), ""},
		{p.signer(p.revoked), errs.CertificateRevoked},
		{p.signer(p.viaRevokedInter), errs.CertificateRevoked},
	} {
		_, err := v.Verify(parse(t, signedString(t, tc.s, sampleDoc)))
		wantCode(t, err, tc.want)
	}

	single := filepath.Join(dir, "root.pem")
	if ts, err := LoadTrust(single); err != nil || len(ts.Roots()) != 1 {
		t.Fatalf("single file: %v", err)
	}
	// A CRL no CA of the store signed is a configuration error.
	bad := t.TempDir()
	otherCRL, _ := devpki.NewCRL(p.otherRoot, nil, time.Now())
	os.WriteFile(filepath.Join(bad, "root.pem"), devpki.EncodeCerts(p.root.Cert), 0o644)
	os.WriteFile(filepath.Join(bad, "x.crl"), devpki.EncodeCRL(otherCRL), 0o644)
	if _, err := LoadTrust(bad); err == nil {
		t.Fatal("CRL of an unknown issuer accepted")
	}
	// No root at all.
	if _, err := NewTrustStore([]*x509.Certificate{p.inter.Cert}, nil); err == nil {
		t.Fatal("store without a root accepted")
	}
	if _, err := LoadTrust(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing path accepted")
	}
	os.WriteFile(filepath.Join(bad, "x.crl"), []byte("garbage"), 0o644)
	if _, err := LoadTrust(bad); err == nil {
		t.Fatal("garbage accepted")
	}
}

// The development PKI as written by devpki.Init is directly usable as a trust store
// (its leaves are ignored) and its agency certificates bind to their OrganId.
func TestDevPKIEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA key generation")
	}
	dir := t.TempDir()
	if err := devpki.Init(dir, []string{organID}, devpki.Options{KeyType: devpki.ECDSA}); err != nil {
		t.Fatal(err)
	}
	ts, err := LoadTrust(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := devpki.LoadKey(devpki.AgencyKeyPath(dir, organID))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := devpki.LoadCertificates(devpki.AgencyCertPath(dir, organID))
	if err != nil {
		t.Fatal(err)
	}
	out, err := (&Signer{Key: key, Cert: certs[0]}).SignBytes([]byte(sampleDoc))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(ts, Options{}).Verify(parse(t, string(out)))
	wantCode(t, err, "")
	wantCode(t, CheckSender(v, organID, nil), "")
	wantCode(t, CheckSender(v, "axis", nil), errs.SenderMismatch)
}

func TestSignDocSerialisedCanonically(t *testing.T) {
	p := testPKI(t)
	doc := etree.NewDocument()
	r := doc.CreateElement("r")
	r.CreateAttr("a", "x\ty\nz\r")
	r.SetText("line\r\nend & <more>")
	if err := p.signer(p.rsa).Sign(doc); err != nil {
		t.Fatal(err)
	}
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	_, err := p.verifier(Options{}).Verify(parse(t, serialize(t, doc)))
	wantCode(t, err, "")
}

// Software keys sign deterministically (ECDSA per RFC 6979), so that a receipt rebuilt
// after a crash is byte for byte the one handed out; the signature still verifies.
func TestSignDeterministic(t *testing.T) {
	p := testPKI(t)
	for name, id := range map[string]*devpki.Cert{"ecdsa": p.ec, "rsa": p.rsa} {
		a, err := p.signer(id).SignBytes([]byte(sampleDoc))
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.signer(id).SignBytes([]byte(sampleDoc))
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Errorf("%s: two signatures of the same document differ", name)
		}
		_, err = p.verifier(Options{}).Verify(parse(t, string(a)))
		wantCode(t, err, "")
	}
}
