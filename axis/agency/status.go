// Package agency is the agency side of the axis: the inbox consumer that verifies each
// delivered package end to end, writes it to disk exactly once and answers "arrived"
// (01), and the building of signed edXML status messages (SPEC §2, §5, §8).
package agency

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"time"

	"axis/axis/errs"
	"axis/envelope"
	"axis/signing"
)

// StatusRequest is a status to send about a document.
type StatusRequest struct {
	DocumentID  string // the document the status is about
	Code        string // 01–06, 13, 15, 16
	Description string
	From        envelope.Organization // the answering agency (OrganId required)
	Staff       *envelope.StaffInfo
	Time        time.Time // zero: now
}

// NewStatus builds the edXML status for r: ResponseFor names the document, its sender
// (the OrganId part of the DocumentId, which is what the axis uses to find it), its code
// and promulgation date (both read from the DocumentId); Timestamp is in Vietnam time.
// The result is validated as the axis will validate it.
func NewStatus(r StatusRequest) (*envelope.Status, error) {
	id, err := envelope.ParseDocumentID(r.DocumentID)
	if err != nil {
		return nil, err
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	desc := r.Description
	if desc == "" {
		desc, _ = envelope.StatusMeaning(r.Code)
	}
	s := &envelope.Status{
		ResponseFor: envelope.ResponseFor{OrganID: id.OrganID, Code: id.Number + "/" + id.Notation,
			PromulgationDate: id.Date, DocumentID: r.DocumentID},
		From:        r.From,
		StatusCode:  r.Code,
		Description: desc,
		Timestamp:   envelope.FormatTimestamp(r.Time),
		Staff:       r.Staff,
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// SignStatus serialises s and signs it.
func SignStatus(s *envelope.Status, signer *signing.Signer) ([]byte, error) {
	b, err := s.Bytes()
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "serialising the status")
	}
	signed, err := signer.SignBytes(b)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "signing the status")
	}
	return signed, nil
}

// AgencyOf returns the agency a certificate names: its subject serialNumber (SPEC §3).
func AgencyOf(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	return cert.Subject.SerialNumber
}

// CheckBinding reports whether cert may sign for agency, by the rule the axis applies
// (SPEC §3): its fingerprint is among the registered ones, or, with none registered, its
// serialNumber is the agency id. Checking at start turns a wrong --key/--cert into one
// clear line instead of every answer being refused later.
func CheckBinding(cert *x509.Certificate, agency string, fingerprints []string) error {
	if cert == nil {
		return errs.E(errs.SenderMismatch, "no certificate")
	}
	sum := sha256.Sum256(cert.Raw)
	return signing.CheckSender(&signing.Verified{Signer: cert, Fingerprint: hex.EncodeToString(sum[:])}, agency, fingerprints)
}
