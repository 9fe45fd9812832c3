package envelope

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"

	"axis/axis/errs"
)

// The original ReadDocument pass (etree + encoding/xml, then a walk of the finished tree):
// the reference the byte parser of parse.go is proven against, rule for rule and tree for
// tree (FuzzParserMatchesEtree). Test-only: its namespace checks are quadratic.

// readEtree is the original ReadDocument pass (etree, then checkDocument and
// checkCharRefs): the reference the byte parser is proven against (FuzzParserMatchesEtree).
// etree reads b after normalizeAttrs, because encoding/xml does not do XML 1.0's
// attribute-value normalisation, which the byte parser (as XML requires) does.
func readEtree(b []byte, lim Limits) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		CharsetReader:          rejectCharset,
		PreserveDuplicateAttrs: true, // so that duplicates can be reported, not silently merged
		MaxDepth:               lim.MaxDepth,
	}
	if err := doc.ReadFromBytes(normalizeAttrs(b)); err != nil {
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

// binding is one in-scope namespace declaration ("" is the default namespace).
type binding struct{ prefix, uri string }

// normalizeAttrs returns b with XML 1.0 §3.3.3 applied to the literal characters of its
// attribute values: each \t, \n, \r and \r\n pair becomes one space. encoding/xml keeps
// them (it only turns \r\n and \r into \n), so etree alone would give a tree that
// differs from the byte parser's, and from every conforming parser's, on such values.
// References (&#9; &#10; &#13;) are left as written: they still decode to the character.
// The start tags are found by encoding/xml's own tokenizer (its offsets), independently
// of parse.go; within a start tag the only quoted strings are the values. Reading stops
// at the first error: the rest is left as is, for etree to reject the same way.
func normalizeAttrs(b []byte) []byte {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.CharsetReader = rejectCharset
	var out []byte
	last := 0
	for {
		start := int(d.InputOffset())
		t, err := d.RawToken()
		if err != nil {
			break
		}
		if _, ok := t.(xml.StartElement); !ok {
			continue
		}
		end := int(d.InputOffset())
		tag := b[start:end]
		if !bytes.ContainsAny(tag, "\t\n\r") {
			continue
		}
		out = append(out, b[last:start]...)
		var quote byte
		for i := 0; i < len(tag); i++ {
			c := tag[i]
			switch {
			case quote == 0:
				if c == '"' || c == '\'' {
					quote = c
				}
			case c == quote:
				quote = 0
			case c == '\r':
				if i+1 < len(tag) && tag[i+1] == '\n' {
					i++
				}
				c = ' '
			case c == '\n' || c == '\t':
				c = ' '
			}
			out = append(out, c)
		}
		last = end
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}
