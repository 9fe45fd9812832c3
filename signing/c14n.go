package signing

import (
	"errors"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/beevik/etree"
)

// This file is a streaming canonicalizer (C14N 1.0, 1.1 and exclusive C14N, with or
// without comments) over an etree tree. It writes straight into a hash: no copy of the
// document, no intermediate tree, no re-parse. goxmldsig's canonicalizers copy the tree
// two or three times per call (and its Validate re-parses the canonical bytes), which
// cost more than the RSA verification itself on small packages and ~10x the document
// size in heap on large ones. The tests check this canonicalizer byte for byte against
// goxmldsig's (differential, fuzzed) and against xmlsec1 (interop).

const nsXML = "http://www.w3.org/XML/1998/namespace"

type c14nMethod struct {
	exclusive bool
	v11       bool
	comments  bool
	// prefixes of the exclusive InclusiveNamespaces PrefixList ("" for #default).
	inclusive []string
}

func methodFor(alg string) (c14nMethod, bool) {
	switch alg {
	case AlgC14N10:
		return c14nMethod{}, true
	case AlgC14N10Comments:
		return c14nMethod{comments: true}, true
	case AlgC14N11:
		return c14nMethod{v11: true}, true
	case AlgC14N11Comments:
		return c14nMethod{v11: true, comments: true}, true
	case AlgExcC14N:
		return c14nMethod{exclusive: true}, true
	case AlgExcC14NComments:
		return c14nMethod{exclusive: true, comments: true}, true
	}
	return c14nMethod{}, false
}

func parsePrefixList(s string) []string {
	f := strings.Fields(s)
	for i, p := range f {
		if p == "#default" {
			f[i] = ""
		}
	}
	return f
}

type nsDecl struct{ prefix, uri string }

var errUndeclaredPrefix = errors.New("undeclared namespace prefix")

type canonicalizer struct {
	m    c14nMethod
	w    bufWriter
	skip *etree.Element // the enveloped Signature: not part of the output
	// scope is the stack of namespace declarations in scope; rendered (exclusive only)
	// the stack of declarations already written by output ancestors.
	scope    []nsDecl
	rendered []nsDecl
	// scratch buffers reused across elements
	decls []nsDecl
	attrs []sortAttr
	chain []*etree.Element // ancestors of a subtree's apex
	err   error
}

type sortAttr struct {
	uri  string
	a    *etree.Attr
	name string
}

// canonicalizeDocument writes the canonical form of the whole document minus skip
// (the enveloped-signature transform applied to URI=""). Comments are never part of a
// same-document URI="" reference, whatever the method says (XML-DSig §4.4.3.3).
func canonicalizeDocument(w io.Writer, doc *etree.Document, skip *etree.Element, m c14nMethod) error {
	m.comments = false
	c := getCanonicalizer(w, m)
	defer putCanonicalizer(c)
	c.skip = skip
	seenRoot := false
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			c.element(t, true)
			seenRoot = true
		case *etree.ProcInst:
			if t.Target == "xml" {
				continue // the XML declaration is not a PI of the data model
			}
			if seenRoot {
				c.w.str("\n")
			}
			c.procInst(t)
			if !seenRoot {
				c.w.str("\n")
			}
		case *etree.Directive:
			return errDirective
		}
		if c.err != nil {
			return c.err
		}
	}
	return c.w.flush()
}

var errDirective = errors.New("DOCTYPE or other directive present")

// canonicalizeSubtree writes the canonical form of el and its descendants, el being an
// element somewhere in a document (SignedInfo): namespaces and, for inclusive methods,
// xml:* attributes in scope from its ancestors are taken into account.
func canonicalizeSubtree(w io.Writer, el *etree.Element, m c14nMethod) error {
	c := getCanonicalizer(w, m)
	defer putCanonicalizer(c)
	chain := c.chain[:0]
	for p := el.Parent(); p != nil; p = p.Parent() {
		chain = append(chain, p)
	}
	c.chain = chain
	for i := len(chain) - 1; i >= 0; i-- {
		for _, a := range chain[i].Attr {
			if d, ok := declOf(&a); ok && d.prefix != "xml" && d.prefix != "xmlns" {
				c.scope = append(c.scope, d)
			}
		}
	}
	c.element(el, true)
	if c.err != nil {
		return c.err
	}
	return c.w.flush()
}

// Canonicalizers are pooled: the 32 KB write buffer would otherwise be most of the
// garbage of a verification.
var canonPool = sync.Pool{New: func() any { return new(canonicalizer) }}

func getCanonicalizer(w io.Writer, m c14nMethod) *canonicalizer {
	c := canonPool.Get().(*canonicalizer)
	c.m = m
	c.w.reset(w)
	return c
}

func putCanonicalizer(c *canonicalizer) {
	c.w.w, c.w.err, c.skip, c.err = nil, nil, nil, nil
	// drop references into the document
	clear(c.scope[:cap(c.scope)])
	clear(c.rendered[:cap(c.rendered)])
	clear(c.attrs[:cap(c.attrs)])
	clear(c.chain[:cap(c.chain)])
	c.chain = c.chain[:0]
	c.scope, c.rendered = c.scope[:0], c.rendered[:0]
	c.decls, c.attrs = c.decls[:0], c.attrs[:0]
	canonPool.Put(c)
}

func declOf(a *etree.Attr) (nsDecl, bool) {
	switch {
	case a.Space == "" && a.Key == "xmlns":
		return nsDecl{"", a.Value}, true
	case a.Space == "xmlns":
		return nsDecl{a.Key, a.Value}, true
	}
	return nsDecl{}, false
}

func lookup(stack []nsDecl, prefix string) (string, bool) {
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].prefix == prefix {
			return stack[i].uri, true
		}
	}
	return "", false
}

func (c *canonicalizer) element(el *etree.Element, apex bool) {
	if c.err != nil {
		return
	}
	scopeMark, renderedMark := len(c.scope), len(c.rendered)
	// Declarations visible before this element (inclusive: what the parent rendered).
	parentScope := c.scope
	for i := range el.Attr {
		if d, ok := declOf(&el.Attr[i]); ok {
			if d.prefix == "xml" || d.prefix == "xmlns" {
				continue // never rendered
			}
			c.scope = append(c.scope, d)
		}
	}

	if el.Space != "" && el.Space != "xml" {
		// A namespace-aware parser (xmlsec1's) refuses an undeclared prefix; so do we,
		// in every method, rather than sign or verify what others cannot read.
		if u, ok := lookup(c.scope, el.Space); !ok || u == "" {
			c.err = errUndeclaredPrefix
			return
		}
	}
	decls := c.decls[:0]
	if c.m.exclusive {
		decls = c.exclusiveDecls(el, decls)
	} else {
		decls = c.inclusiveDecls(el, parentScope[:scopeMark], apex, decls)
	}
	if c.err != nil {
		return
	}
	if len(decls) > 1 {
		slices.SortFunc(decls, func(a, b nsDecl) int { return strings.Compare(a.prefix, b.prefix) })
	}

	attrs := c.attrs[:0]
	for i := range el.Attr {
		a := &el.Attr[i]
		if _, ok := declOf(a); ok {
			continue
		}
		var uri string
		switch a.Space {
		case "":
		case "xml":
			uri = nsXML
		default:
			u, ok := lookup(c.scope, a.Space)
			if !ok || u == "" {
				c.err = errUndeclaredPrefix
				return
			}
			uri = u
		}
		attrs = append(attrs, sortAttr{uri: uri, a: a, name: a.Key})
	}
	var inherited []etree.Attr
	if apex && !c.m.exclusive {
		inherited = inheritedXMLAttrs(el, c.m.v11)
		for i := range inherited {
			attrs = append(attrs, sortAttr{uri: nsXML, a: &inherited[i], name: inherited[i].Key})
		}
	}
	if len(attrs) > 1 {
		slices.SortFunc(attrs, func(a, b sortAttr) int {
			if r := strings.Compare(a.uri, b.uri); r != 0 {
				return r
			}
			return strings.Compare(a.name, b.name)
		})
	}

	w := &c.w
	w.str("<")
	c.qname(el.Space, el.Tag)
	for _, d := range decls {
		if d.prefix == "" {
			w.str(` xmlns="`)
		} else {
			w.str(" xmlns:")
			w.str(d.prefix)
			w.str(`="`)
		}
		w.attrValue(d.uri)
		w.str(`"`)
	}
	for _, sa := range attrs {
		w.str(" ")
		c.qname(sa.a.Space, sa.a.Key)
		w.str(`="`)
		w.attrValue(sa.a.Value)
		w.str(`"`)
	}
	w.str(">")
	// The scratch buffers are free again once written; children reuse them. Stored only
	// when append moved them: a slice store costs a GC write barrier.
	if cap(decls) != cap(c.decls) {
		c.decls = decls[:0]
	}
	if cap(attrs) != cap(c.attrs) {
		c.attrs = attrs[:0]
	}

	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if t == c.skip {
				continue
			}
			c.element(t, false)
			if c.err != nil {
				return
			}
		case *etree.CharData:
			w.text(t.Data)
		case *etree.Comment:
			if c.m.comments {
				w.str("<!--")
				w.str(t.Data)
				w.str("-->")
			}
		case *etree.ProcInst:
			c.procInst(t)
		case *etree.Directive:
			c.err = errDirective
			return
		}
	}
	w.str("</")
	c.qname(el.Space, el.Tag)
	w.str(">")
	c.scope, c.rendered = c.scope[:scopeMark], c.rendered[:renderedMark]
}

func (c *canonicalizer) qname(space, local string) {
	if space != "" {
		c.w.str(space)
		c.w.str(":")
	}
	c.w.str(local)
}

func (c *canonicalizer) procInst(p *etree.ProcInst) {
	c.w.str("<?")
	c.w.str(p.Target)
	if p.Inst != "" {
		c.w.str(" ")
		c.w.str(p.Inst)
	}
	c.w.str("?>")
}

// inclusiveDecls: the namespace nodes of el that differ from those of its parent
// (every ancestor of an output element is output here). At the apex every namespace
// in scope is rendered.
func (c *canonicalizer) inclusiveDecls(el *etree.Element, parent []nsDecl, apex bool, out []nsDecl) []nsDecl {
	if apex {
		// every in-scope binding, nearest declaration winning
		for i := len(c.scope) - 1; i >= 0; i-- {
			d := c.scope[i]
			if slices.ContainsFunc(out, func(o nsDecl) bool { return o.prefix == d.prefix }) {
				continue
			}
			out = append(out, d)
		}
		// xmlns="" is the absence of a default namespace: nothing to render
		return slices.DeleteFunc(out, func(d nsDecl) bool { return d.prefix == "" && d.uri == "" })
	}
	for i := range el.Attr {
		d, ok := declOf(&el.Attr[i])
		if !ok || d.prefix == "xml" || d.prefix == "xmlns" {
			continue
		}
		prev, found := lookup(parent, d.prefix)
		if d.prefix == "" {
			if d.uri != prev { // an undeclared default is ""
				out = append(out, d)
			}
			continue
		}
		if !found || prev != d.uri {
			out = append(out, d)
		}
	}
	return out
}

// exclusiveDecls: the namespaces visibly utilized by el (its own prefix, its attributes'
// prefixes) plus the InclusiveNamespaces prefixes, unless an output ancestor already
// rendered the same binding.
func (c *canonicalizer) exclusiveDecls(el *etree.Element, out []nsDecl) []nsDecl {
	consider := func(prefix string, required bool) {
		if slices.ContainsFunc(out, func(o nsDecl) bool { return o.prefix == prefix }) {
			return
		}
		uri, inScope := lookup(c.scope, prefix)
		if prefix != "" && (!inScope || uri == "") {
			if required {
				c.err = errUndeclaredPrefix
			}
			return
		}
		prev, done := lookup(c.rendered, prefix)
		if prefix == "" {
			if uri == prev { // both "" when nothing is declared or rendered
				return
			}
		} else if done && prev == uri {
			return
		}
		d := nsDecl{prefix, uri}
		out = append(out, d)
		c.rendered = append(c.rendered, d)
	}
	consider(el.Space, true)
	for i := range el.Attr {
		a := &el.Attr[i]
		if a.Space == "" || a.Space == "xml" || a.Space == "xmlns" {
			continue
		}
		consider(a.Space, true)
	}
	for _, p := range c.m.inclusive {
		consider(p, false)
	}
	return out
}

// inheritedXMLAttrs: xml:* attributes of the ancestors that the inclusive methods copy
// onto the apex of a subtree (C14N 1.0 §2.4; 1.1 inherits only xml:lang and xml:space
// and fixes up xml:base, which we do not support: such a document then fails to verify).
func inheritedXMLAttrs(el *etree.Element, v11 bool) []etree.Attr {
	var out []etree.Attr
	has := func(key string) bool {
		for _, a := range el.Attr {
			if a.Space == "xml" && a.Key == key {
				return true
			}
		}
		return slices.ContainsFunc(out, func(a etree.Attr) bool { return a.Key == key })
	}
	for p := el.Parent(); p != nil; p = p.Parent() {
		for _, a := range p.Attr {
			if a.Space != "xml" || has(a.Key) {
				continue
			}
			if v11 && a.Key != "lang" && a.Key != "space" {
				continue
			}
			out = append(out, a)
		}
	}
	return out
}

// bufWriter batches small writes before they reach the hash. buf keeps its full length
// and n counts the bytes in use: a write only moves n, never stores a slice header,
// which would cost a GC write barrier per write while the collector is marking.
type bufWriter struct {
	w   io.Writer
	buf *[bufSize]byte
	n   int
	err error
}

const bufSize = 32 << 10

func (b *bufWriter) reset(w io.Writer) {
	b.w = w
	if b.buf == nil {
		b.buf = new([bufSize]byte)
	}
	b.n = 0
}

func (b *bufWriter) flush() error {
	if b.err == nil && b.n > 0 {
		_, b.err = b.w.Write(b.buf[:b.n])
	}
	b.n = 0
	return b.err
}

func (b *bufWriter) str(s string) {
	if b.n+len(s) > len(b.buf) {
		b.strSlow(s)
		return
	}
	b.n += copy(b.buf[b.n:], s) // small enough to inline: most writes are a few bytes
}

func (b *bufWriter) strSlow(s string) {
	// Large text (attachments) goes through the buffer in chunks: handing the hash a
	// []byte(s) would copy the whole string.
	for len(s) > len(b.buf)-b.n {
		n := copy(b.buf[b.n:], s)
		b.n += n
		s = s[n:]
		b.flush()
	}
	b.n += copy(b.buf[b.n:], s)
}

func (b *bufWriter) text(s string) {
	// Attachments are megabytes of base64 with nothing to escape: four vectorised
	// IndexByte scans beat a byte loop by an order of magnitude.
	if len(s) > 256 && strings.IndexByte(s, '&') < 0 && strings.IndexByte(s, '<') < 0 &&
		strings.IndexByte(s, '>') < 0 && strings.IndexByte(s, '\r') < 0 {
		b.str(s)
		return
	}
	last := 0
	for i := 0; i < len(s); i++ {
		if !textEscaped[s[i]] {
			continue
		}
		b.str(s[last:i])
		b.str(textEscape(s[i]))
		last = i + 1
	}
	b.str(s[last:])
}

// textEscape is the C14N reference of a byte textEscaped marks.
func textEscape(c byte) string {
	switch c {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	}
	return "&#xD;"
}

// AppendCanonicalText appends s escaped as C14N escapes text (& < > and CR as
// references), for a caller writing a document's canonical form itself (the receipt).
func AppendCanonicalText(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		if textEscaped[s[i]] {
			dst = append(append(dst, s[last:i]...), textEscape(s[i])...)
			last = i + 1
		}
	}
	return append(dst, s[last:]...)
}

// The bytes text and attrValue escape: one table load per byte instead of a switch.
var textEscaped, attrEscaped = func() (t, a [256]bool) {
	for _, c := range "&<>\r" {
		t[c] = true
	}
	for _, c := range "&<\"\t\n\r" {
		a[c] = true
	}
	return
}()

func (b *bufWriter) attrValue(s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		if !attrEscaped[s[i]] {
			continue
		}
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '"':
			esc = "&quot;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		}
		b.str(s[last:i])
		b.str(esc)
		last = i + 1
	}
	b.str(s[last:])
}
