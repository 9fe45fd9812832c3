package signing

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"
)

// AppendEnvelopedSignature is Sign for a caller that writes its document's bytes itself
// (the acceptance receipt, built once per accepted package, where building and
// canonicalizing an etree tree cost more than the signature). canonical is the
// document's canonical form as Sign's Reference digests it: the document without the
// Signature, exclusive C14N without comments. The ds:Signature element that Sign would
// add is appended to dst exactly as etree writes it with its default WriteSettings, so
// writing the document around it where Sign would place it gives the bytes of Sign
// followed by Document.WriteTo. No condition on the surrounding document: SignedInfo is
// canonicalized with exclusive C14N, which does not depend on where it sits.
//
// The signature value is that of Sign: deterministic for software ECDSA (RFC 6979) and
// RSA keys.
func (s *Signer) AppendEnvelopedSignature(dst, canonical []byte) ([]byte, error) {
	p, err := s.params()
	if err != nil {
		return dst, err
	}
	return s.appendSignature(dst, canonical, p)
}

func (s *Signer) appendSignature(dst, canonical []byte, p signParams) ([]byte, error) {
	if m, ok := methodFor(p.siC14N); !ok || !m.exclusive || len(m.inclusive) > 0 {
		return dst, fmt.Errorf("signing: SignedInfo canonicalization %q depends on the context", p.siC14N)
	}
	digest := hashSum(p.digestHash, canonical)
	// The canonical SignedInfo is written into dst's spare room, hashed, then dropped:
	// no buffer of its own.
	mark := len(dst)
	dst = appendSignedInfo(dst, p, digest, true)
	value, err := s.signatureValue(hashSum(p.sigHash, dst[mark:]), p)
	dst = dst[:mark]
	if err != nil {
		return dst, err
	}
	dst = append(dst, `<Signature xmlns="`...)
	dst = appendAttrValue(dst, NSDSig, false)
	dst = append(dst, `">`...)
	dst = appendSignedInfo(dst, p, digest, false)
	dst = appendBase64Element(dst, "SignatureValue", value)
	if p.keyInfo {
		dst = append(dst, "<KeyInfo><X509Data>"...)
		dst = appendBase64Element(dst, "X509Certificate", s.Cert.Raw)
		for _, c := range s.Chain {
			dst = appendBase64Element(dst, "X509Certificate", c.Raw)
		}
		dst = append(dst, "</X509Data></KeyInfo>"...)
	}
	return append(dst, "</Signature>"...), nil
}

// appendSignedInfo writes the SignedInfo of sign: in canonical form (exclusive C14N of
// the element inside a Signature whose default namespace is NSDSig: the declaration
// moves onto SignedInfo, empty elements get end tags) or as etree writes it.
func appendSignedInfo(dst []byte, p signParams, digest []byte, canonical bool) []byte {
	if canonical {
		dst = append(dst, `<SignedInfo xmlns="`...)
		dst = appendAttrValue(dst, NSDSig, true)
		dst = append(dst, `">`...)
	} else {
		dst = append(dst, "<SignedInfo>"...)
	}
	dst = appendAlgorithm(dst, "CanonicalizationMethod", p.siC14N, canonical)
	dst = appendAlgorithm(dst, "SignatureMethod", p.sigMethod, canonical)
	dst = append(dst, `<Reference URI="">`...)
	switch {
	case len(p.transforms) > 0:
		dst = append(dst, "<Transforms>"...)
		for _, t := range p.transforms {
			dst = appendAlgorithm(dst, "Transform", t, canonical)
		}
		dst = append(dst, "</Transforms>"...)
	case canonical:
		dst = append(dst, "<Transforms></Transforms>"...)
	default:
		dst = append(dst, "<Transforms/>"...)
	}
	dst = appendAlgorithm(dst, "DigestMethod", p.digestMethod, canonical)
	dst = appendBase64Element(dst, "DigestValue", digest)
	return append(dst, "</Reference></SignedInfo>"...)
}

// appendAlgorithm writes <name Algorithm="alg"/> (etree) or its canonical form.
func appendAlgorithm(dst []byte, name, alg string, canonical bool) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, ` Algorithm="`...)
	dst = appendAttrValue(dst, alg, canonical)
	if !canonical {
		return append(dst, `"/>`...)
	}
	dst = append(dst, `"></`...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// appendBase64Element writes <name>base64(b)</name>; base64 needs no escaping in either
// form, and an empty value is an element without children (etree: <name/>; it never
// happens in canonical SignedInfo, whose DigestValue is never empty).
func appendBase64Element(dst []byte, name string, b []byte) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	if len(b) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// AppendEtreeText appends s escaped as etree's default WriteSettings escape text and
// attribute values alike, for a caller writing etree's bytes itself (the receipt).
func AppendEtreeText(dst []byte, s string) []byte { return appendAttrValue(dst, s, false) }

// appendAttrValue escapes an attribute value as the canonicalizer does (canonical) or
// as etree's default WriteSettings do (& < > ' " as entities, characters outside XML's
// range and invalid UTF-8 as U+FFFD, TAB/LF/CR literally). The algorithm URIs have
// nothing to escape; this keeps the two paths equal whatever they hold.
func appendAttrValue(dst []byte, v string, canonical bool) []byte {
	i := 0
	for i < len(v) && plainAttr[v[i]] {
		i++
	}
	if i == len(v) { // the algorithm URIs: nothing to escape in either form
		return append(dst, v...)
	}
	last := 0
	for i < len(v) {
		r, w := rune(v[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(v[i:])
		}
		var esc string
		switch {
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '"':
			esc = "&quot;"
		case canonical:
			switch r {
			case '\t':
				esc = "&#x9;"
			case '\n':
				esc = "&#xA;"
			case '\r':
				esc = "&#xD;"
			}
		case r == '>':
			esc = "&gt;"
		case r == '\'':
			esc = "&apos;"
		case !inXMLRange(r) || (r == utf8.RuneError && w == 1):
			esc = "\uFFFD"
		}
		if esc != "" {
			dst = append(dst, v[last:i]...)
			dst = append(dst, esc...)
			last = i + w
		}
		i += w
	}
	return append(dst, v[last:]...)
}

// plainAttr: the bytes written as they are in attribute values in both forms.
var plainAttr = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = !strings.ContainsRune(`&<>'"`, rune(b))
	}
	return t
}()

// inXMLRange is XML 1.0's Char production (etree's isInCharacterRange).
func inXMLRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// hashSum hashes b without allocating a hash state for the usual hashes.
func hashSum(h crypto.Hash, b []byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(b)
		return s[:]
	case crypto.SHA384:
		s := sha512.Sum384(b)
		return s[:]
	case crypto.SHA512:
		s := sha512.Sum512(b)
		return s[:]
	}
	hh := h.New()
	hh.Write(b)
	return hh.Sum(nil)
}
