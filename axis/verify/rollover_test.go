package verify

import (
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"axis/axis/errs"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

// After an issuing CA rolls over its key (new CA certificate, same name, new key), its
// CRL is signed with the new key and still lists certificates issued under the old one:
// RFC 5280 §6.3.3 matches a CRL to a certificate by issuer name, so the leaf is revoked;
// its unrevoked sibling still verifies. (Review r2; the signing package tests the rest.)
func TestRevocationAfterCAKeyRollover(t *testing.T) {
	must := func(c *devpki.Cert, err error) *devpki.Cert {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	root := must(devpki.NewRoot(devpki.CertOptions{KeyType: devpki.ECDSA}))
	oldCA := must(devpki.NewIntermediate(root, devpki.CertOptions{KeyType: devpki.ECDSA, CommonName: "Issuing CA"}))
	newCA := must(devpki.NewIntermediate(root, devpki.CertOptions{KeyType: devpki.ECDSA, CommonName: "Issuing CA"}))
	revoked := must(devpki.NewLeaf(oldCA, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: "000.00.00.G22"}))
	kept := must(devpki.NewLeaf(oldCA, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: "000.00.00.G22"}))
	crl, err := devpki.NewCRL(newCA, []*big.Int{revoked.Cert.SerialNumber}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ts, err := signing.NewTrustStore([]*x509.Certificate{root.Cert, oldCA.Cert, newCA.Cert}, [][]byte{crl})
	if err != nil {
		t.Fatalf("the CA's current CRL does not load: %v", err)
	}
	v := signing.NewVerifier(ts, signing.Options{})
	doc := []byte(`<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope><edXMLHeader><MessageHeader>` +
		`<Subject>x</Subject></MessageHeader></edXMLHeader></edXMLEnvelope></edXML>`)
	for _, tc := range []struct {
		leaf *devpki.Cert
		want errs.Code
	}{{revoked, errs.CertificateRevoked}, {kept, ""}} {
		signed, err := (&signing.Signer{Key: tc.leaf.Key, Cert: tc.leaf.Cert, Chain: []*x509.Certificate{oldCA.Cert}}).SignBytes(doc)
		if err != nil {
			t.Fatal(err)
		}
		d, err := envelope.ReadDocument(signed, envelope.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(d)
		if got := errs.CodeOf(err); got != tc.want {
			t.Fatalf("leaf issued under the old key, want %q, got %q (%v)", tc.want, got, err)
		}
	}
}
