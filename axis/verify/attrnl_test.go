package verify

import (
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

// attrnlXMLSec returns the path of xmlsec1; without it the test is skipped, unless
// CI=true, where it fails.
func attrnlXMLSec(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xmlsec1 is required when CI=true")
		}
		t.Skip("xmlsec1 not installed")
	}
	return bin
}

// XML 1.0 §3.3.3 normalises a literal TAB, LF or CR in an attribute value to a space,
// and Canonical XML (so every XML-DSig digest) is over that value. A package xmlsec1
// signed, with the line break the sender's system wrote kept in the bytes (the same
// infoset: xmlsec1 still verifies it), must verify at the axis; and a value holding a
// line break written as a reference (&#10;, kept as a line break) too.
func TestAttributeNewlineInteropWithXMLSec(t *testing.T) {
	bin := attrnlXMLSec(t)
	root, err := devpki.NewRoot(devpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := devpki.NewLeaf(root, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: "000.00.00.G22"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rootPEM, keyPEM, certPEM := filepath.Join(dir, "root.pem"), filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	if err := devpki.WriteCerts(rootPEM, root.Cert); err != nil {
		t.Fatal(err)
	}
	if err := devpki.WriteCerts(certPEM, leaf.Cert); err != nil {
		t.Fatal(err)
	}
	if err := devpki.WriteKey(keyPEM, leaf.Key); err != nil {
		t.Fatal(err)
	}
	ts, err := signing.NewTrustStore([]*x509.Certificate{root.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	axisVerify := func(t *testing.T, b []byte) error {
		t.Helper()
		doc, err := envelope.ReadDocument(b, envelope.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		_, err = signing.NewVerifier(ts, signing.Options{}).Verify(doc)
		return err
	}
	xmlsec := func(t *testing.T, args ...string) ([]byte, error) {
		t.Helper()
		in := filepath.Join(t.TempDir(), "in.xml")
		if err := os.WriteFile(in, []byte(args[len(args)-1]), 0o644); err != nil {
			t.Fatal(err)
		}
		args[len(args)-1] = in
		cmd := exec.Command(bin, args...)
		if args[0] == "--sign" {
			return cmd.Output()
		}
		return cmd.CombinedOutput()
	}
	const sigTmpl = `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>` +
		`<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>` +
		`<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>` +
		`<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>` +
		`<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>` +
		`<ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>`
	pkg := func(sig, note string) string {
		return `<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope><edXMLHeader><MessageHeader><Subject/></MessageHeader>` +
			sig + `</edXMLHeader></edXMLEnvelope><AttachmentEncoded><Attachment><AttachmentName note="` + note +
			`">a.txt</AttachmentName></Attachment></AttachmentEncoded></edXML>
`
	}
	for _, tc := range []struct {
		name, note string
		written    string // how xmlsec1 writes the value back
		resent     string // how the sender's system writes it again ("" = as xmlsec1 did)
	}{
		{"literal LF", "trang 1\ntrang 2", "trang 1 trang 2", "trang 1\ntrang 2"},
		{"literal CRLF", "trang 1\r\ntrang 2", "trang 1 trang 2", "trang 1\r\ntrang 2"},
		{"literal tab and CR", "trang\t1\rtrang 2", "trang 1 trang 2", "trang\t1\rtrang 2"},
		{"LF as a reference", "trang 1&#10;trang 2", "trang 1&#10;trang 2", ""},
		{"tab and CR as references", "trang&#9;1&#13;trang 2", "trang&#9;1&#13;trang 2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signed, err := xmlsec(t, "--sign", "--enabled-key-data", "x509", "--privkey-pem", keyPEM+","+certPEM, pkg(sigTmpl, tc.note))
			if err != nil {
				t.Fatalf("xmlsec1 --sign: %v", err)
			}
			written := []byte(`note="` + tc.written + `"`)
			if !bytes.Contains(signed, written) {
				t.Fatalf("xmlsec1 did not write %s:\n%s", written, signed)
			}
			if tc.resent != "" {
				signed = bytes.Replace(signed, written, []byte(`note="`+tc.resent+`"`), 1)
			}
			if out, err := xmlsec(t, "--verify", "--enabled-key-data", "x509", "--trusted-pem", rootPEM, string(signed)); err != nil {
				t.Fatalf("xmlsec1 does not verify the document: %s", out)
			}
			if err := axisVerify(t, signed); err != nil {
				t.Fatalf("a signature xmlsec1 made and verifies is refused: %v\n%s", err, signed)
			}
			// Tampered (one more space in the value): refused by both.
			bad := bytes.Replace(signed, []byte(`note="trang`), []byte(`note=" trang`), 1)
			if out, err := xmlsec(t, "--verify", "--enabled-key-data", "x509", "--trusted-pem", rootPEM, string(bad)); err == nil {
				t.Fatalf("xmlsec1 verifies a tampered document: %s", out)
			}
			if err := axisVerify(t, bad); err == nil || !strings.Contains(err.Error(), "digest") {
				t.Fatalf("a tampered document: %v, want a digest mismatch", err)
			}
		})
	}
}
