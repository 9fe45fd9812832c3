package signing

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"axis/envelope"
	"axis/signing/devpki"
)

// SignBytes of a document with a literal TAB, LF, CR or CRLF in an attribute value
// signs what every conforming parser reads (XML 1.0 §3.3.3: each becomes a space), so
// both xmlsec1 and the axis verify it. Through etree's reader, which keeps them, the
// digest was over the raw characters: xmlsec1 answered "data and digest do not match".
func TestSignBytesAttributeWhitespace(t *testing.T) {
	bin := needXMLSec(t)
	root, err := devpki.NewRoot(devpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := devpki.NewLeaf(root, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: "000.00.00.G22"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rootPEM := filepath.Join(dir, "root.pem")
	if err := devpki.WriteCerts(rootPEM, root.Cert); err != nil {
		t.Fatal(err)
	}
	ts, err := NewTrustStore([]*x509.Certificate{root.Cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, note := range []string{"trang 1 trang 2", "trang 1\ntrang 2", "trang 1\r\ntrang 2", "trang\t1", "trang 1&#10;trang 2", "a&#9;b&#13;c"} {
		doc := `<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope><edXMLHeader><MessageHeader><Subject/></MessageHeader></edXMLHeader></edXMLEnvelope><AttachmentEncoded><Attachment><AttachmentName note="` + note + `">a.txt</AttachmentName></Attachment></AttachmentEncoded></edXML>
`
		signed, err := (&Signer{Key: leaf.Key, Cert: leaf.Cert}).SignBytes([]byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", note, err)
		}
		f := filepath.Join(dir, "s.xml")
		if err := os.WriteFile(f, signed, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "--verify", "--enabled-key-data", "x509", "--trusted-pem", rootPEM, f).CombinedOutput(); err != nil {
			t.Errorf("note %q: xmlsec1: %v\n%s", note, err, out)
		}
		d, err := envelope.ReadDocument(signed, envelope.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewVerifier(ts, Options{}).Verify(d); err != nil {
			t.Errorf("note %q: the axis: %v", note, err)
		}
	}
}
