package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strconv"
	"time"
)

// CheckpointNamespace is the XML namespace of a checkpoint attestation.
const CheckpointNamespace = "urn:axis:audit:checkpoint:1"

// Attestation is what a checkpoint signs: the seq and hash of the event before it.
//
//	<AuditCheckpoint xmlns="urn:axis:audit:checkpoint:1">
//	  <Seq>N</Seq><Hash>64 hex</Hash><Time>RFC3339Nano UTC</Time>
//	</AuditCheckpoint>   (on one line, no whitespace; the signer adds its Signature)
type Attestation struct {
	Seq  uint64
	Hash string
	Time time.Time
}

// XML is the unsigned attestation document.
func (a Attestation) XML() []byte {
	var b bytes.Buffer
	b.WriteString(`<AuditCheckpoint xmlns="` + CheckpointNamespace + `"><Seq>`)
	b.WriteString(strconv.FormatUint(a.Seq, 10))
	b.WriteString(`</Seq><Hash>`)
	b.WriteString(a.Hash) // hex: nothing to escape
	b.WriteString(`</Hash><Time>`)
	b.WriteString(FormatTime(a.Time))
	b.WriteString(`</Time></AuditCheckpoint>`)
	return b.Bytes()
}

// ParseAttestation reads an attestation from an XML document (signed or not; any other
// child such as the Signature is ignored). Callers that need authenticity must pass the
// bytes a CheckpointVerifier returned, never the raw document.
func ParseAttestation(doc []byte) (Attestation, error) {
	var a Attestation
	if bytes.Contains(doc, []byte("<!DOCTYPE")) {
		return a, fmt.Errorf("checkpoint attestation: DOCTYPE not allowed")
	}
	var x struct {
		XMLName xml.Name
		Seq     string `xml:"Seq"`
		Hash    string `xml:"Hash"`
		Time    string `xml:"Time"`
	}
	if err := xml.Unmarshal(doc, &x); err != nil {
		return a, fmt.Errorf("checkpoint attestation: %w", err)
	}
	if x.XMLName.Space != CheckpointNamespace || x.XMLName.Local != "AuditCheckpoint" {
		return a, fmt.Errorf("checkpoint attestation: root is {%s}%s", x.XMLName.Space, x.XMLName.Local)
	}
	seq, err := strconv.ParseUint(x.Seq, 10, 64)
	if err != nil {
		return a, fmt.Errorf("checkpoint attestation: Seq: %w", err)
	}
	if !isHex64(x.Hash) {
		return a, fmt.Errorf("checkpoint attestation: Hash is not 64 lowercase hex digits")
	}
	t, err := time.Parse(time.RFC3339Nano, x.Time)
	if err != nil {
		return a, fmt.Errorf("checkpoint attestation: Time: %w", err)
	}
	return Attestation{Seq: seq, Hash: x.Hash, Time: t}, nil
}

// CheckpointSigner signs an attestation document with the axis identity (XML-DSig in the
// daemon) and returns the signed document.
type CheckpointSigner interface {
	Sign(doc []byte) ([]byte, error)
}

// SignerFunc adapts a function to CheckpointSigner.
type SignerFunc func(doc []byte) ([]byte, error)

// Sign calls f.
func (f SignerFunc) Sign(doc []byte) ([]byte, error) { return f(doc) }

// CheckpointVerifier checks the signature of a signed attestation (and that the signer is
// the axis identity) and returns the verified document, from which the attestation is read.
type CheckpointVerifier interface {
	VerifyCheckpoint(signed []byte) (verified []byte, err error)
}

// VerifierFunc adapts a function to CheckpointVerifier.
type VerifierFunc func(signed []byte) ([]byte, error)

// VerifyCheckpoint calls f.
func (f VerifierFunc) VerifyCheckpoint(signed []byte) ([]byte, error) { return f(signed) }

// NewCheckpoint builds the checkpoint event that follows the event (prevSeq, prevHash).
// Seq and Prev are filled by the Chain. With a nil signer the attestation is unsigned
// (verify --trust then reports it as a break).
func NewCheckpoint(prevSeq uint64, prevHash string, t time.Time, s CheckpointSigner) (Event, error) {
	doc := Attestation{Seq: prevSeq, Hash: prevHash, Time: t}.XML()
	if s != nil {
		signed, err := s.Sign(doc)
		if err != nil {
			return Event{}, fmt.Errorf("sign audit checkpoint: %w", err)
		}
		doc = signed
	}
	return Event{Time: t, Type: Checkpoint, Detail: base64.StdEncoding.EncodeToString(doc)}, nil
}
