package signing

import (
	"crypto"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"axis/axis/errs"
	"axis/signing/devpki"
)

// pki is built once per test binary: RSA key generation is slow under -race.
type pki struct {
	root, inter, otherRoot                   *devpki.Cert
	rsa, ec, viaInter, expired, notYet, noDS *devpki.Cert
	revoked, viaRevokedInter, revokedInter   *devpki.Cert
	selfSigned, untrusted, expiredInterLeaf  *devpki.Cert
	rootEC, oldInter, rsa2                   *devpki.Cert
	ts                                       *TrustStore
	dir                                      string // PEM files for xmlsec1
	crlDER                                   []byte
	rsaKey, rsaKey2, ecKey                   crypto.Signer
}

var (
	pkiOnce sync.Once
	thePKI  *pki
	pkiErr  error
)

const organID = "000.00.00.G22"

func testPKI(t testing.TB) *pki {
	t.Helper()
	pkiOnce.Do(func() { thePKI, pkiErr = buildPKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return thePKI
}

func buildPKI() (*pki, error) {
	p := &pki{}
	var err error
	must := func(c *devpki.Cert, e error) *devpki.Cert {
		if e != nil && err == nil {
			err = e
		}
		return c
	}
	if p.rsaKey, err = devpki.NewKey(devpki.RSA); err != nil {
		return nil, err
	}
	if p.rsaKey2, err = devpki.NewKey(devpki.RSA); err != nil {
		return nil, err
	}
	if p.ecKey, err = devpki.NewKey(devpki.ECDSA); err != nil {
		return nil, err
	}
	now := time.Now()
	p.root = must(devpki.NewRoot(devpki.CertOptions{Key: p.rsaKey2}))
	p.inter = must(devpki.NewIntermediate(p.root, devpki.CertOptions{Key: p.ecKey, CommonName: "inter"}))
	p.revokedInter = must(devpki.NewIntermediate(p.root, devpki.CertOptions{Key: p.ecKey, CommonName: "revoked inter"}))
	p.otherRoot = must(devpki.NewRoot(devpki.CertOptions{Key: p.ecKey, CommonName: "other root"}))
	p.rootEC = p.otherRoot
	leaf := func(parent *devpki.Cert, key crypto.Signer, o devpki.CertOptions) *devpki.Cert {
		if err != nil {
			return nil
		}
		o.Key = key
		if o.SerialNumber == "" {
			o.SerialNumber = organID
		}
		return must(devpki.NewLeaf(parent, o))
	}
	p.rsa = leaf(p.root, p.rsaKey, devpki.CertOptions{})
	p.ec = leaf(p.root, p.ecKey, devpki.CertOptions{})
	p.rsa2 = leaf(p.root, p.rsaKey2, devpki.CertOptions{})
	p.viaInter = leaf(p.inter, p.rsaKey, devpki.CertOptions{})
	p.expired = leaf(p.root, p.rsaKey, devpki.CertOptions{NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(-1, 0, 0)})
	p.notYet = leaf(p.root, p.rsaKey, devpki.CertOptions{NotBefore: now.AddDate(1, 0, 0)})
	p.noDS = leaf(p.root, p.rsaKey, devpki.CertOptions{KeyUsage: x509.KeyUsageKeyEncipherment})
	p.revoked = leaf(p.root, p.rsaKey, devpki.CertOptions{})
	p.viaRevokedInter = leaf(p.revokedInter, p.rsaKey, devpki.CertOptions{})
	p.untrusted = leaf(p.otherRoot, p.rsaKey, devpki.CertOptions{})
	p.selfSigned = must(devpki.NewSelfSigned(devpki.CertOptions{Key: p.rsaKey, SerialNumber: organID, CommonName: organID}))
	oldInter := must(devpki.NewIntermediate(p.root, devpki.CertOptions{Key: p.ecKey, CommonName: "old inter",
		NotBefore: now.AddDate(-3, 0, 0), NotAfter: now.AddDate(-1, 0, 0)}))
	p.expiredInterLeaf = leaf(oldInter, p.rsaKey, devpki.CertOptions{NotBefore: now.AddDate(-2, 0, 0)})
	if err != nil {
		return nil, err
	}
	p.oldInter = oldInter // expired; travels in KeyInfo
	p.crlDER, err = devpki.NewCRL(p.root, []*big.Int{p.revoked.Cert.SerialNumber, p.revokedInter.Cert.SerialNumber}, now)
	if err != nil {
		return nil, err
	}
	p.ts, err = NewTrustStore([]*x509.Certificate{p.root.Cert, p.inter.Cert, p.revokedInter.Cert}, [][]byte{p.crlDER})
	if err != nil {
		return nil, err
	}
	p.dir, err = os.MkdirTemp("", "signing-pki-")
	if err != nil {
		return nil, err
	}
	if err := devpki.WriteCerts(filepath.Join(p.dir, "root.pem"), p.root.Cert); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pki) signer(c *devpki.Cert, chain ...*x509.Certificate) *Signer {
	return &Signer{Key: c.Key, Cert: c.Cert, Chain: chain}
}

func (p *pki) verifier(o Options) *Verifier { return NewVerifier(p.ts, o) }

const sampleDoc = `<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId></edXML:From>
        <edXML:DocumentId>000.00.00.G22,2015/09/30,7816/VPCP-TTĐT</edXML:DocumentId>
        <edXML:Subject id="s1">V/v kết nối &amp; liên thông</edXML:Subject>
      </edXML:MessageHeader>
    </edXML:edXMLHeader>
    <edXML:edXMLBody/>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded><Attachment b='x"y' a="1">QUJD</Attachment></AttachmentEncoded>
</edXML>
`

func parse(t testing.TB, s string) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(s); err != nil {
		t.Fatal(err)
	}
	return doc
}

func serialize(t testing.TB, doc *etree.Document) string {
	t.Helper()
	s, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signed returns sampleDoc (or src) signed by s, serialised.
func signedString(t testing.TB, s *Signer, src string) string {
	t.Helper()
	b, err := s.SignBytes([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantCode(t *testing.T, err error, code errs.Code) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	if got := errs.CodeOf(err); got != code {
		t.Fatalf("want %s, got %s (%v)", code, got, err)
	}
}
