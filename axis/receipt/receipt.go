// Package receipt is the acceptance receipt: a small XML document, signed by the axis
// identity, that proves to the sender (and to anyone holding the national root) that the
// axis accepted these exact bytes at this time, as audit event N, for these recipients.
// It is verifiable offline with `axis verify` or xmlsec1.
package receipt

import (
	"strconv"
	"time"

	"github.com/beevik/etree"

	"axis/axis/errs"
)

// NS is the namespace of the receipt.
const NS = "urn:axis:receipt:1"

// Receipt is what the axis attests.
type Receipt struct {
	DocumentID string
	From       string
	SHA256     string
	AcceptedAt time.Time
	AuditSeq   uint64
	Recipients []string
}

// Signer signs a document in place (signing.Signer does).
type Signer interface {
	Sign(doc *etree.Document) error
}

// Build returns the signed receipt bytes. A signer that can sign bytes the caller writes
// (signing.Signer) gets the receipt written straight as bytes (see fast.go), byte for
// byte what the etree path below produces; any other signer gets the etree path.
func Build(r Receipt, s Signer) ([]byte, error) {
	if bs, ok := s.(bytesSigner); ok {
		return buildFast(r, bs)
	}
	return buildSlow(r, s)
}

// buildSlow builds the receipt as an etree document and signs it: the reference the
// fast path is proven equal to (fast_test.go).
func buildSlow(r Receipt, s Signer) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("AcceptanceReceipt")
	root.CreateAttr("xmlns", NS)
	root.CreateElement("DocumentId").SetText(r.DocumentID)
	root.CreateElement("From").SetText(r.From)
	root.CreateElement("SHA256").SetText(r.SHA256)
	root.CreateElement("AcceptedAt").SetText(r.AcceptedAt.UTC().Format(time.RFC3339Nano))
	root.CreateElement("AuditSeq").SetText(strconv.FormatUint(r.AuditSeq, 10))
	to := root.CreateElement("Recipients")
	for _, id := range r.Recipients {
		to.CreateElement("OrganId").SetText(id)
	}
	if err := s.Sign(doc); err != nil {
		return nil, err
	}
	return doc.WriteToBytes()
}

// Is reports whether root is a receipt.
func Is(root *etree.Element) bool {
	return root != nil && root.Tag == "AcceptanceReceipt" && root.NamespaceURI() == NS
}

// Decode reads a receipt from its (verified) root element.
func Decode(root *etree.Element) (Receipt, error) {
	if !Is(root) {
		return Receipt{}, errs.E(errs.InvalidEnvelope, "not an axis acceptance receipt")
	}
	var r Receipt
	text := func(name string) (string, error) {
		e := child(root, name)
		if e == nil || e.Text() == "" {
			return "", errs.Field(errs.InvalidEnvelope, "AcceptanceReceipt/"+name, "required")
		}
		return e.Text(), nil
	}
	var err error
	if r.DocumentID, err = text("DocumentId"); err != nil {
		return r, err
	}
	if r.From, err = text("From"); err != nil {
		return r, err
	}
	if r.SHA256, err = text("SHA256"); err != nil {
		return r, err
	}
	at, err := text("AcceptedAt")
	if err != nil {
		return r, err
	}
	if r.AcceptedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return r, errs.Field(errs.InvalidEnvelope, "AcceptanceReceipt/AcceptedAt", "not RFC 3339")
	}
	seq, err := text("AuditSeq")
	if err != nil {
		return r, err
	}
	if r.AuditSeq, err = strconv.ParseUint(seq, 10, 64); err != nil {
		return r, errs.Field(errs.InvalidEnvelope, "AcceptanceReceipt/AuditSeq", "not a number")
	}
	if to := child(root, "Recipients"); to != nil {
		for _, e := range to.ChildElements() {
			if e.Tag == "OrganId" && e.NamespaceURI() == NS {
				r.Recipients = append(r.Recipients, e.Text())
			}
		}
	}
	return r, nil
}

// ClaimedTime reads AcceptedAt from a receipt's root before its signature is verified:
// the time to verify it at. Decode of the verified root must then give the same time.
func ClaimedTime(root *etree.Element) (time.Time, bool) {
	if !Is(root) {
		return time.Time{}, false
	}
	e := child(root, "AcceptedAt")
	if e == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, e.Text())
	return t, err == nil
}

func child(e *etree.Element, name string) *etree.Element {
	for _, c := range e.ChildElements() {
		if c.Tag == name && c.NamespaceURI() == NS {
			return c
		}
	}
	return nil
}
