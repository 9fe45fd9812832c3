package receipt

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"axis/signing"
)

// The fast path writes the receipt's bytes directly: its canonical form (what the
// Reference digests) into a pooled buffer and the document itself into the result, with
// the signer appending the ds:Signature. An etree tree, two canonicalizations and a
// serialisation cost more than half of Build on the daemon's hot path. Every byte is the
// etree path's (buildSlow): fast_test.go proves it over generated receipts and fuzzing.

// bytesSigner signs a document the caller writes as bytes (signing.Signer does, see
// its AppendEnvelopedSignature): canonical is the document's canonical form without the
// Signature, and the ds:Signature that Sign would add is appended to dst as etree writes
// it.
type bytesSigner interface {
	AppendEnvelopedSignature(dst, canonical []byte) ([]byte, error)
}

const (
	xmlDecl  = `<?xml version="1.0" encoding="UTF-8"?>`
	rootOpen = `<AcceptanceReceipt xmlns="` + NS + `">` // NS has nothing to escape
	rootEnd  = `</AcceptanceReceipt>`
)

var canonPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// sigSize is the length of the last Signature element written: constant for a signer
// (fixed-width signature values, the same certificates), so the result is allocated
// once at its final size.
var sigSize atomic.Int64

func buildFast(r Receipt, s bytesSigner) ([]byte, error) {
	cp := canonPool.Get().(*[]byte)
	c := (*cp)[:0]
	defer func() {
		if cap(c) <= 64<<10 { // a huge receipt's buffer is not kept
			*cp = c[:0]
			canonPool.Put(cp)
		}
	}()

	size := len(xmlDecl) + 2*len(rootOpen) + 256 + len(r.DocumentID) + len(r.From) + len(r.SHA256) + int(sigSize.Load())
	for _, id := range r.Recipients {
		size += len(id) + len("<OrganId></OrganId>")
	}
	out := make([]byte, 0, size)
	out = append(out, xmlDecl...)
	out = append(out, rootOpen...)
	c = append(c, rootOpen...)

	out, c = textElement(out, c, "DocumentId", r.DocumentID)
	out, c = textElement(out, c, "From", r.From)
	out, c = textElement(out, c, "SHA256", r.SHA256)
	// An RFC 3339 time and a number: nothing to escape, never empty.
	var tb [64]byte
	at := r.AcceptedAt.UTC().AppendFormat(tb[:0], time.RFC3339Nano)
	out, c = rawElement(out, c, "AcceptedAt", at)
	var nb [20]byte
	out, c = rawElement(out, c, "AuditSeq", strconv.AppendUint(nb[:0], r.AuditSeq, 10))
	if len(r.Recipients) == 0 {
		out = append(out, "<Recipients/>"...)
		c = append(c, "<Recipients></Recipients>"...)
	} else {
		out = append(out, "<Recipients>"...)
		c = append(c, "<Recipients>"...)
		for _, id := range r.Recipients {
			out, c = textElement(out, c, "OrganId", id)
		}
		out = append(out, "</Recipients>"...)
		c = append(c, "</Recipients>"...)
	}
	c = append(c, rootEnd...)

	mark := len(out)
	out, err := s.AppendEnvelopedSignature(out, c)
	if err != nil {
		return nil, err
	}
	sigSize.Store(int64(len(out) - mark))
	return append(out, rootEnd...), nil
}

// textElement writes <name>v</name> into the document as etree writes it (<name/> when
// v is empty) and into the canonical form.
func textElement(out, c []byte, name, v string) ([]byte, []byte) {
	out = append(out, '<')
	out = append(out, name...)
	c = append(c, '<')
	c = append(c, name...)
	c = append(c, '>')
	if v == "" {
		out = append(out, "/>"...)
	} else {
		out = append(out, '>')
		out = signing.AppendEtreeText(out, v)
		out = appendEnd(out, name)
		c = signing.AppendCanonicalText(c, v)
	}
	return out, appendEnd(c, name)
}

// rawElement writes <name>v</name> in both, v having nothing to escape and not empty.
func rawElement(out, c []byte, name string, v []byte) ([]byte, []byte) {
	return appendRaw(out, name, v), appendRaw(c, name, v)
}

func appendRaw(b []byte, name string, v []byte) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = append(b, v...)
	return appendEnd(b, name)
}

func appendEnd(b []byte, name string) []byte {
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}
