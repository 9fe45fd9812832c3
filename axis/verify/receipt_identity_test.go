package verify

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"testing"
	"time"

	"axis/axis/errs"
	"axis/axis/receipt"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

// An acceptance receipt verifies only if the axis identity signed it. A chain to the
// national root is not enough: any agency could otherwise forge one (any DocumentId,
// sha256, time, audit seq) with its own certificate, and, as receipts are verified at
// the time they claim, even with one expired or revoked (no compromise) since. With a
// pinned identity, another certificate named "axis" is refused too.
func TestReceiptSignedByAgencyIsRefused(t *testing.T) {
	must := func(c *devpki.Cert, err error) *devpki.Cert {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := time.Now().UTC()
	root := must(devpki.NewRoot(devpki.CertOptions{NotBefore: now.AddDate(-5, 0, 0), NotAfter: now.AddDate(5, 0, 0)}))
	// An agency certificate (Nghệ An), valid, and another that expired a year ago and
	// was revoked (no reason given) before that.
	agency := must(devpki.NewLeaf(root, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: "000.00.00.H41",
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0)}))
	oldAgency := must(devpki.NewLeaf(root, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: "000.00.00.H41",
		NotBefore: now.AddDate(-4, 0, 0), NotAfter: now.AddDate(-1, 0, 0)}))
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: oldAgency.Cert.SerialNumber,
			RevocationTime: now.AddDate(-2, 0, 0)}}}, root.Cert, root.Key)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := signing.NewTrustStore([]*x509.Certificate{root.Cert}, [][]byte{crl})
	if err != nil {
		t.Fatal(err)
	}
	chk := New(signing.NewVerifier(ts, signing.Options{}), nil, envelope.DefaultLimits())
	identity := must(devpki.NewLeaf(root, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: "axis",
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0)}))
	other := must(devpki.NewLeaf(root, devpki.CertOptions{KeyType: devpki.ECDSA, SerialNumber: "axis",
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0)}))
	sum := sha256.Sum256(identity.Cert.Raw)
	pinned := chk.WithIdentity(hex.EncodeToString(sum[:]))
	build := func(by *devpki.Cert, at time.Time) []byte {
		t.Helper()
		b, err := receipt.Build(receipt.Receipt{DocumentID: "000.00.00.G22,2026/11/22,1234/NĐ-CP",
			From: "000.00.00.G22", SHA256: "ab", AcceptedAt: at, AuditSeq: 7,
			Recipients: []string{"000.00.00.H41"}}, &signing.Signer{Key: by.Key, Cert: by.Cert})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []*Checker{chk, pinned} {
		if res, err := c.Check(build(identity, now.Add(-time.Hour))); err != nil || res.Receipt == nil || res.From != "axis" {
			t.Fatalf("the axis identity's receipt: %+v %v", res, err)
		}
	}
	if res, err := chk.Check(build(other, now.Add(-time.Hour))); err != nil || res.Receipt == nil {
		t.Fatalf("another axis certificate, nothing pinned: %+v %v", res, err)
	}
	if _, err := pinned.Check(build(other, now.Add(-time.Hour))); errs.CodeOf(err) != errs.SenderMismatch {
		t.Fatalf("another axis certificate than the pinned one: %v", err)
	}
	for _, tc := range []struct {
		name string
		by   *devpki.Cert
		at   time.Time
	}{
		{"signed by an agency", agency, now.Add(-time.Hour)},
		{"signed by a revoked, expired agency certificate, backdated", oldAgency, now.AddDate(-3, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forged, err := receipt.Build(receipt.Receipt{DocumentID: "000.00.00.G22,2026/11/22,1234/NĐ-CP",
				From: "000.00.00.G22", SHA256: "ab", AcceptedAt: tc.at, AuditSeq: 7,
				Recipients: []string{"000.00.00.H41"}}, &signing.Signer{Key: tc.by.Key, Cert: tc.by.Cert})
			if err != nil {
				t.Fatal(err)
			}
			res, err := chk.Check(forged)
			if err == nil {
				t.Fatalf("a receipt signed by agency %s (not the axis identity) verified: OK %s from %s (acceptance receipt: %s)",
					tc.by.Cert.Subject.SerialNumber, res.DocumentID, res.From, res.Receipt.From)
			}
			if errs.CodeOf(err) != errs.SenderMismatch {
				t.Fatalf("%v, want %s", err, errs.SenderMismatch)
			}
		})
	}
}
