package envelope

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

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
// The etree path (readEtree) stays as the reference it is proven against: one etree pass
// and then one walk of the finished tree to close the gaps where etree/encoding/xml are
// more lenient than XML 1.0 + Namespaces: DOCTYPE and other declarations, several roots,
// text outside the root, misplaced XML declarations, duplicate attributes, undeclared or
// illegal namespace prefixes, invalid characters in comments and processing
// instructions, and surrogate character references (which encoding/xml silently turns
// into U+FFFD).
func ReadDocument(b []byte, lim Limits) (*etree.Document, error) {
	lim = lim.withDefaults()
	if int64(len(b)) > lim.MaxBytes {
		return nil, errs.E(errs.TooLarge, "document is %d bytes, limit is %d", len(b), lim.MaxBytes)
	}
	// A leading UTF-8 BOM is legal XML; encoding/xml would report it as text before the root.
	b = bytes.TrimPrefix(b, utf8BOM)
	if useByteParser {
		doc, _, err := parseXML(b, lim.MaxDepth, true)
		return doc, err
	}
	return readEtree(b, lim)
}

// readEtree is the original ReadDocument pass (etree, then checkDocument and
// checkCharRefs): the reference the byte parser is proven against (FuzzParserMatchesEtree).
func readEtree(b []byte, lim Limits) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		CharsetReader:          rejectCharset,
		PreserveDuplicateAttrs: true, // so that duplicates can be reported, not silently merged
		MaxDepth:               lim.MaxDepth,
	}
	if err := doc.ReadFromBytes(b); err != nil {
		switch {
		case hasDirective(doc):
			return nil, errs.E(errs.MalformedXML, "DOCTYPE and entity declarations are not allowed")
		case errors.Is(err, etree.ErrMaxDepth):
			return nil, errs.E(errs.MalformedXML, "too deep: elements nested more than %d levels", lim.MaxDepth)
		case strings.Contains(err.Error(), errCharset.Error()): // encoding/xml wraps it with %v
			return nil, errs.Wrap(errs.MalformedXML, err, "only UTF-8 documents are accepted")
		}
		return nil, errs.Wrap(errs.MalformedXML, err, "not well-formed XML: %s", cleanXMLErr(err))
	}
	if err := checkDocument(doc, b); err != nil {
		return nil, err
	}
	if err := checkCharRefs(b); err != nil {
		return nil, err
	}
	return doc, nil
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

func cleanXMLErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "XML syntax error on ")
	if s == etree.ErrXML.Error() {
		return "unbalanced or mismatched tags"
	}
	return s
}

func hasDirective(doc *etree.Document) bool {
	for _, t := range doc.Child {
		if _, ok := t.(*etree.Directive); ok {
			return true
		}
	}
	return false
}

func malformed(format string, args ...any) error {
	return errs.E(errs.MalformedXML, "not well-formed XML: "+format, args...)
}

// checkDocument checks the document level (prolog, one root, epilog) and then the tree.
func checkDocument(doc *etree.Document, b []byte) error {
	roots := 0
	for i, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			roots++
			if roots > 1 {
				return malformed("more than one root element")
			}
		case *etree.CharData:
			if !isXMLSpace(t.Data) {
				return malformed("text outside the root element")
			}
		case *etree.Directive:
			return errs.E(errs.MalformedXML, "DOCTYPE and entity declarations are not allowed")
		case *etree.ProcInst:
			if strings.EqualFold(t.Target, "xml") {
				// The XML declaration must be the very first bytes and declare the version.
				if i != 0 || !bytes.HasPrefix(b, []byte("<?xml")) {
					return malformed("XML declaration not at the start of the document")
				}
				if !strings.HasPrefix(strings.TrimLeft(t.Inst, " \t\r\n"), "version") {
					return malformed("XML declaration without version")
				}
				continue
			}
			if err := checkProcInst(t); err != nil {
				return err
			}
		case *etree.Comment:
			if err := checkText(t.Data, "comment"); err != nil {
				return err
			}
		}
	}
	if roots == 0 {
		return malformed("no root element")
	}
	return checkElement(doc.Root(), nil)
}

// binding is one in-scope namespace declaration ("" is the default namespace).
type binding struct{ prefix, uri string }

func checkElement(e *etree.Element, scope []binding) error {
	// Declarations first: they apply to the element's own name and attributes.
	for _, a := range e.Attr {
		switch {
		case a.Space == "xmlns":
			if err := checkPrefixDecl(a.Key, a.Value); err != nil {
				return err
			}
			scope = append(scope[:len(scope):len(scope)], binding{a.Key, a.Value})
		case a.Space == "" && a.Key == "xmlns":
			if a.Value == nsXML || a.Value == nsXMLNS {
				return malformed("default namespace may not be %s", a.Value)
			}
			scope = append(scope[:len(scope):len(scope)], binding{"", a.Value})
		}
	}
	if err := checkName(e.Space, e.Tag, scope, true); err != nil {
		return err
	}
	if err := checkAttrs(e, scope); err != nil {
		return err
	}
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Element:
			if err := checkElement(t, scope); err != nil {
				return err
			}
		case *etree.Directive:
			return errs.E(errs.MalformedXML, "DOCTYPE and entity declarations are not allowed")
		case *etree.ProcInst:
			if err := checkProcInst(t); err != nil {
				return err
			}
		case *etree.Comment:
			if err := checkText(t.Data, "comment"); err != nil {
				return err
			}
		}
	}
	return nil
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

func lookup(scope []binding, prefix string) (string, bool) {
	for i := len(scope) - 1; i >= 0; i-- {
		if scope[i].prefix == prefix {
			return scope[i].uri, true
		}
	}
	return "", false
}

func checkName(space, local string, scope []binding, element bool) error {
	if local == "" || strings.Contains(local, ":") {
		return malformed("invalid name %q", joinName(space, local))
	}
	switch space {
	case "":
		return nil
	case "xml":
		return nil
	case "xmlns":
		if element {
			return malformed("element name %q uses the reserved xmlns prefix", joinName(space, local))
		}
		return nil
	}
	if _, ok := lookup(scope, space); !ok {
		return malformed("undeclared namespace prefix %q in %q", space, joinName(space, local))
	}
	return nil
}

func joinName(space, local string) string {
	if space == "" {
		return local
	}
	return space + ":" + local
}

// checkAttrs rejects invalid attribute names and duplicates, both literal (a="" a="") and
// by expanded name (p:a="" q:a="" with p and q bound to the same namespace).
func checkAttrs(e *etree.Element, scope []binding) error {
	n := len(e.Attr)
	if n == 0 {
		return nil
	}
	type key struct{ space, local string }
	var seen map[key]struct{}
	if n > 8 { // quadratic comparison is cheaper for the usual handful of attributes
		seen = make(map[key]struct{}, 2*n)
	}
	expanded := func(a *etree.Attr) key {
		switch a.Space {
		case "", "xmlns":
			return key{a.Space, a.Key} // unprefixed attributes are in no namespace
		case "xml":
			return key{nsXML, a.Key}
		}
		uri, _ := lookup(scope, a.Space)
		return key{"{" + uri, a.Key}
	}
	for i := range e.Attr {
		a := &e.Attr[i]
		if err := checkName(a.Space, a.Key, scope, false); err != nil {
			return err
		}
		if seen != nil {
			lit, exp := key{"lit:" + a.Space, a.Key}, expanded(a)
			if _, dup := seen[lit]; dup {
				return malformed("duplicate attribute %q", joinName(a.Space, a.Key))
			}
			if _, dup := seen[exp]; dup {
				return malformed("duplicate attribute %q", joinName(a.Space, a.Key))
			}
			seen[lit], seen[exp] = struct{}{}, struct{}{}
			continue
		}
		for j := 0; j < i; j++ {
			b := &e.Attr[j]
			if b.Key == a.Key && (b.Space == a.Space || expanded(a) == expanded(b)) {
				return malformed("duplicate attribute %q", joinName(a.Space, a.Key))
			}
		}
	}
	return nil
}

func checkProcInst(p *etree.ProcInst) error {
	if strings.EqualFold(p.Target, "xml") {
		return malformed("XML declaration not at the start of the document")
	}
	if strings.Contains(p.Target, ":") {
		return malformed("invalid processing instruction target %q", p.Target)
	}
	return checkText(p.Inst, "processing instruction")
}

// checkText validates characters that encoding/xml does not check (comments, PIs).
func checkText(s, what string) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return malformed("invalid UTF-8 in %s", what)
		}
		if !isXMLChar(r) {
			return malformed("illegal character U+%04X in %s", r, what)
		}
		i += size
	}
	return nil
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
