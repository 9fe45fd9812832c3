package receipt

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
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
		out = appendText(out, v)
		out = appendEnd(out, name)
		c = appendCanonicalText(c, v)
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

// appendText escapes text as etree's default WriteSettings do: & < > ' " as entities,
// characters outside XML's range and invalid UTF-8 bytes as U+FFFD, TAB/LF/CR
// literally. (A literal CR does not survive a parser's line-end normalisation; the
// etree path has always written it so, and the bytes must not change.)
func appendText(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		ch := s[i]
		if plainText[ch] {
			i++
			continue
		}
		var esc string
		w := 1
		switch {
		case ch == '&':
			esc = "&amp;"
		case ch == '<':
			esc = "&lt;"
		case ch == '>':
			esc = "&gt;"
		case ch == '\'':
			esc = "&apos;"
		case ch == '"':
			esc = "&quot;"
		case ch < utf8.RuneSelf: // control characters but TAB, LF, CR; DEL is plain
			esc = "\uFFFD"
		default:
			var r rune
			r, w = utf8.DecodeRuneInString(s[i:])
			if !inXMLRange(r) || (r == utf8.RuneError && w == 1) {
				esc = "\uFFFD"
			}
		}
		if esc != "" {
			dst = append(dst, s[last:i]...)
			dst = append(dst, esc...)
			last = i + w
		}
		i += w
	}
	return append(dst, s[last:]...)
}

// plainText: the ASCII bytes etree writes as they are in text.
var plainText = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = !strings.ContainsRune(`&<>'"`, rune(b))
	}
	t['\t'], t['\n'], t['\r'] = true, true, true
	return t
}()

// inXMLRange is XML 1.0's Char production (etree's isInCharacterRange).
func inXMLRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// appendCanonicalText escapes text as C14N does (signing's canonicalizer): & < > and CR
// as references, every other byte as it is.
func appendCanonicalText(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		last = i + 1
	}
	return append(dst, s[last:]...)
}
