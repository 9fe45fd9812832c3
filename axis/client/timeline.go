package client

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"axis/axis/internal/textout"
	"axis/envelope"
)

// ReceiptSummary is what an acceptance receipt states, read without verifying its
// signature (axis verify does that).
type ReceiptSummary struct {
	DocumentID string   `xml:"DocumentId"`
	From       string   `xml:"From"`
	SHA256     string   `xml:"SHA256"`
	AcceptedAt string   `xml:"AcceptedAt"`
	AuditSeq   string   `xml:"AuditSeq"`
	Recipients []string `xml:"Recipients>OrganId"`
	Signed     bool     `xml:"-"`
}

// ParseReceipt reads the fields of an acceptance receipt.
func ParseReceipt(s string) (ReceiptSummary, error) {
	var r struct {
		XMLName xml.Name
		ReceiptSummary
		Signature *struct{} `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
	}
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	if err := d.Decode(&r); err != nil {
		return ReceiptSummary{}, err
	}
	if r.XMLName.Local != "AcceptanceReceipt" {
		return ReceiptSummary{}, fmt.Errorf("not an acceptance receipt: <%s>", r.XMLName.Local)
	}
	r.ReceiptSummary.Signed = r.Signature != nil
	return r.ReceiptSummary, nil
}

// WriteTimeline writes a document's view for people: what it is, then per recipient its
// current state and every step with its time, code and meaning, then revisions and the
// receipt. Times are in Vietnam time, as edXML writes them.
func WriteTimeline(w io.Writer, d Document) error {
	ew := textout.New(w)
	ew.Printf("%s\n", d.DocumentID)
	ew.Printf("  from       %s\n", d.From)
	if d.Subject != "" {
		ew.Printf("  subject    %s\n", d.Subject)
	}
	if d.CodeNumber != "" || d.CodeNotation != "" {
		kind := ""
		if d.DocTypeName != "" {
			kind = " (" + d.DocTypeName + ")"
		}
		ew.Printf("  code       %s/%s%s\n", d.CodeNumber, d.CodeNotation, kind)
	}
	switch d.BusinessType {
	case 1, 2, 3:
		ew.Printf("  revision   %s of %s\n", [...]string{"", "revoke", "update", "replace"}[d.BusinessType], textout.OrDash(d.Target))
	}
	ew.Printf("  accepted   %s (audit seq %d)\n", when(d.AcceptedAt), d.AuditSeq)
	ew.Printf("  sha256     %s (%d bytes)\n", d.SHA256, d.Size)
	ew.Printf("recipients (%d):\n", len(d.Recipients))
	for _, r := range d.Recipients {
		extra := ""
		if r.Recall != "" {
			extra += ", recall " + r.Recall
		}
		if !r.ArrivedAt.IsZero() {
			if r.State == "arrived" {
				extra += " " + when(r.ArrivedAt)
			} else {
				extra += ", arrived " + when(r.ArrivedAt)
			}
		}
		ew.Printf("  %-16s %s%s\n", r.OrganID, r.State, extra)
		for _, h := range r.History {
			ew.Printf("    %s  %-40s seq %d\n", when(h.Time), step(h), h.AuditSeq)
		}
	}
	if d.Revises != nil {
		ew.Printf("revises %s from %s (sha256 %s, accepted %s)\n", d.Revises.DocumentID, d.Revises.From, textout.Short(d.Revises.SHA256, "…"), when(d.Revises.AcceptedAt))
	}
	if len(d.Revisions) > 0 {
		ew.Printf("revisions (%d):\n", len(d.Revisions))
		for _, r := range d.Revisions {
			ew.Printf("  %s %s from %s (sha256 %s, accepted %s)\n", businessName(r.BusinessType), r.DocumentID, r.From, textout.Short(r.SHA256, "…"), when(r.AcceptedAt))
		}
	}
	if d.Receipt != "" {
		if rs, err := ParseReceipt(d.Receipt); err == nil {
			signed := "unsigned"
			if rs.Signed {
				signed = "signed by the axis"
			}
			ew.Printf("receipt    %s: %s accepted at %s, audit seq %s, sha256 %s, %d recipients\n", signed, rs.DocumentID,
				rs.AcceptedAt, rs.AuditSeq, textout.Short(rs.SHA256, "…"), len(rs.Recipients))
		} else {
			ew.Printf("receipt    unreadable: %v\n", err)
		}
	}
	return ew.Err()
}

func step(h HistoryEntry) string {
	if h.Kind == "published" {
		return "published to the inbox"
	}
	meaning, ok := envelope.StatusMeaning(h.Code)
	if !ok {
		meaning = "unknown code"
	}
	s := h.Code + " " + meaning
	if h.From != "" {
		s += " by " + h.From
	}
	if h.Description != "" && h.Description != meaning {
		s += ": " + h.Description
	}
	return s
}

func businessName(bt int) string {
	switch bt {
	case 1:
		return "revoke"
	case 2:
		return "update"
	case 3:
		return "replace"
	}
	return "new"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(envelope.Vietnam).Format("2006-01-02 15:04:05.000 -07")
}
