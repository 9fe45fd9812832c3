package verify

import (
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"axis/axis/errs"
	"axis/axis/receipt"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

// An acceptance receipt is verified at the time it claims: an auditor checks it years
// later, after the axis identity that signed it expired, or was replaced and revoked as
// superseded. A receipt claiming a time outside the identity's validity, or signed by an
// identity revoked for a key compromise, is refused; the time verified at is the signed
// one.
func TestReceiptVerifiedAtItsTime(t *testing.T) {
	must := func(c *devpki.Cert, err error) *devpki.Cert {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := time.Now().UTC()
	root := must(devpki.NewRoot(devpki.CertOptions{NotBefore: now.AddDate(-5, 0, 0), NotAfter: now.AddDate(5, 0, 0)}))
	// An identity that served from 3 years ago to 1 year ago.
	old := must(devpki.NewLeaf(root, devpki.CertOptions{KeyType: devpki.ECDSA, CommonName: "axis", SerialNumber: "axis",
		NotBefore: now.AddDate(-3, 0, 0), NotAfter: now.AddDate(-1, 0, 0)}))
	signed := func(at time.Time) []byte {
		t.Helper()
		b, err := receipt.Build(receipt.Receipt{DocumentID: "000.00.00.G22,2024/03/12,1/NĐ-CP", From: "000.00.00.G22",
			SHA256: "ab", AcceptedAt: at, AuditSeq: 7, Recipients: []string{"000.00.00.H41"}},
			&signing.Signer{Key: old.Key, Cert: old.Cert})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	checker := func(reason int) *Checker {
		t.Helper()
		var crls [][]byte
		if reason >= 0 { // revoked 1.5 years ago, when it was replaced
			crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
				ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(24 * time.Hour),
				RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: old.Cert.SerialNumber,
					RevocationTime: now.AddDate(0, -18, 0), ReasonCode: reason}}}, root.Cert, root.Key)
			if err != nil {
				t.Fatal(err)
			}
			crls = append(crls, crl)
		}
		ts, err := signing.NewTrustStore([]*x509.Certificate{root.Cert}, crls)
		if err != nil {
			t.Fatal(err)
		}
		return New(signing.NewVerifier(ts, signing.Options{}), nil, envelope.DefaultLimits())
	}
	twoYearsAgo, halfYearAgo := now.AddDate(-2, 0, 0), now.AddDate(0, -6, 0)
	for _, tc := range []struct {
		name   string
		reason int // -1: no CRL
		at     time.Time
		want   errs.Code
	}{
		{"expired identity, receipt from its time", -1, twoYearsAgo, ""},
		{"receipt claiming a time after the identity expired", -1, halfYearAgo, errs.CertificateExpired},
		{"superseded after the receipt", 4, twoYearsAgo, ""},
		{"superseded before the receipt", 4, now.AddDate(0, -15, 0), errs.CertificateRevoked},
		{"key compromise", 1, twoYearsAgo, errs.CertificateRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := checker(tc.reason).Check(signed(tc.at))
			if tc.want == "" && err != nil || tc.want != "" && !errs.Is(err, tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if err == nil && (res.Receipt == nil || !res.Receipt.AcceptedAt.Equal(tc.at)) {
				t.Fatalf("result %+v", res.Receipt)
			}
		})
	}
}
