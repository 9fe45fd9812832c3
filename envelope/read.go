package envelope

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/beevik/etree"

	"axis/axis/errs"
)

// Limits bound what ReadDocument accepts before and while parsing. Zero fields take the
// defaults.
type Limits struct {
	MaxBytes int64 // input size cap; over it: errs.TooLarge
	MaxDepth int   // element nesting cap (the root is depth 1); over it: errs.MalformedXML
}

// Defaults of SPEC §6 (--max-package-bytes) and of this package.
const (
	DefaultMaxBytes = 64 << 20
	DefaultMaxDepth = 100
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits { return Limits{MaxBytes: DefaultMaxBytes, MaxDepth: DefaultMaxDepth} }

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

const (
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

var (
	utf8BOM    = []byte{0xEF, 0xBB, 0xBF}
	errCharset = errors.New("only UTF-8 documents are accepted")
)

// ReadDocument parses untrusted bytes into an etree document, rejecting what an XML
// parser must reject and what this axis refuses (any DOCTYPE, excessive size or depth).
//
// It uses parseXML, a byte parser that builds the same tree etree would and enforces
// XML 1.0 + Namespaces itself (see parseXML for the rules stricter than the etree path).
// The original etree pass it replaced is kept in reference_test.go, where the
// differential fuzz target FuzzParserMatchesEtree proves the two equal.
func ReadDocument(b []byte, lim Limits) (*etree.Document, error) {
	lim = lim.withDefaults()
	if int64(len(b)) > lim.MaxBytes {
		return nil, errs.E(errs.TooLarge, "document is %d bytes, limit is %d", len(b), lim.MaxBytes)
	}
	// A leading UTF-8 BOM is legal XML; it is not text before the root.
	b = bytes.TrimPrefix(b, utf8BOM)
	doc, _, err := parseXML(b, lim.MaxDepth, true)
	return doc, err
}

// ReadLimited reads all of r, failing with errs.TooLarge as soon as it holds more than
// max bytes (max <= 0: DefaultMaxBytes), so an oversized body is never buffered whole.
func ReadLimited(r io.Reader, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBytes
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, errs.Wrap(errs.BadRequest, err, "reading the document")
	}
	if int64(len(b)) > max {
		return nil, errs.E(errs.TooLarge, "document exceeds the limit of %d bytes", max)
	}
	return b, nil
}

func rejectCharset(charset string, r io.Reader) (io.Reader, error) {
	if strings.EqualFold(charset, "utf8") { // a common misspelling of UTF-8
		return r, nil
	}
	return nil, errCharset
}

func malformed(format string, args ...any) error {
	return errs.E(errs.MalformedXML, "not well-formed XML: "+format, args...)
}

func checkPrefixDecl(prefix, uri string) error {
	switch {
	case prefix == "xmlns":
		return malformed("the xmlns prefix may not be declared")
	case prefix == "xml" && uri != nsXML:
		return malformed("the xml prefix may not be bound to %q", uri)
	case prefix != "xml" && (uri == nsXML || uri == nsXMLNS):
		return malformed("prefix %q may not be bound to %s", prefix, uri)
	case uri == "":
		return malformed("prefix %q may not be undeclared (xmlns:%s=\"\")", prefix, prefix)
	case prefix == "" || strings.Contains(prefix, ":"):
		return malformed("invalid namespace prefix %q", prefix)
	}
	return nil
}

func joinName(space, local string) string {
	if space == "" {
		return local
	}
	return space + ":" + local
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func isXMLSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// checkCharRefs rejects numeric character references to surrogates (&#xD800; ...), which
// encoding/xml accepts and replaces with U+FFFD; every other invalid reference it already
// rejects. It scans the raw bytes (fast: IndexByte), so a literal "&#xD800;" inside a
// comment or CDATA section is rejected too — a false positive no real document needs.
func checkCharRefs(b []byte) error {
	for {
		i := bytes.Index(b, []byte("&#"))
		if i < 0 {
			return nil
		}
		b = b[i+2:]
		// Look for ';' only where a reference could end, so the scan stays linear.
		end := bytes.IndexByte(b[:min(len(b), 10)], ';')
		if end < 0 {
			continue
		}
		ref := b[:end]
		var v uint64
		base := uint64(10)
		if len(ref) > 0 && ref[0] == 'x' {
			base, ref = 16, ref[1:]
		}
		ok := len(ref) > 0
		for _, c := range ref {
			d, good := digitVal(c, base)
			if !good {
				ok = false
				break
			}
			v = v*base + d
		}
		if ok && v >= 0xD800 && v <= 0xDFFF {
			return malformed("character reference &#%s; is a surrogate", string(b[:end]))
		}
	}
}

func digitVal(c byte, base uint64) (uint64, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0'), true
	case base == 16 && c >= 'a' && c <= 'f':
		return uint64(c-'a') + 10, true
	case base == 16 && c >= 'A' && c <= 'F':
		return uint64(c-'A') + 10, true
	}
	return 0, false
}
