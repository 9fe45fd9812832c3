package envelope

import (
	"bytes"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"

	"axis/axis/errs"
)

// parseXML is a strict, non-validating XML 1.0 + Namespaces parser over b (BOM already
// removed). It builds the same *etree.Document that etree.ReadFromBytes builds (with the
// ReadSettings of ReadDocument) and rejects, with errs.MalformedXML, everything readEtree
// rejects. It reads b in place: start tags and text copied into a string arena (names
// and values are slices of their tag), no per-byte calls, elements, text nodes, child
// slices and attributes allocated in chunks, working slices pooled: a 5 KB package
// costs about ten allocations.
//
// With strict set it also rejects what XML forbids but encoding/xml let through
// (strictFail reports that such a rule, and only such a rule, fired):
//   - no whitespace between two attributes (<a b="1"c="2"/>);
//   - no whitespace between a processing-instruction target and its data (<?a+b?>);
//   - an XML declaration that does not follow the XMLDecl production (e.g. version="1.1"
//     written with spaces around '=', a stray pseudo-attribute, control characters);
//   - a CDATA section, or a character or entity reference, outside the root element;
//   - a character reference to a surrogate however it is written (readEtree only caught
//     the ones with at most 10 characters between "&#" and ";").
//
// Unlike encoding/xml, in both modes, an attribute value is normalised as XML 1.0
// §3.3.3 requires (see decode): a literal tab, newline or CR (a CRLF pair counting as
// one) becomes a space, a character reference's character is kept. Canonical XML is
// over that value, so without it the digests of XML-DSig differ from every conforming
// implementation's (xmlsec1 signs and verifies what encoding/xml's tree refuses).
//
// Kept exactly as encoding/xml has them: names are checked against the XML 1.0
// Appendix B tables; text gets \r\n and \r turned into \n and nothing else; comments
// and PIs keep their raw bytes; a CDATA section is a separate CharData without the
// CDATA flag (PreserveCData is off). Kept from readEtree: "&#xD800;" written inside a
// comment or CDATA section is rejected.
//
// ReadDocument uses strict mode; the lenient mode exists so that the differential fuzz
// target can prove the parser equal to readEtree (which applies §3.3.3 to etree's
// input, see normalizeAttrs) rule for rule.
func parseXML(b []byte, maxDepth int, strict bool) (doc *etree.Document, strictFail bool, err error) {
	p := xmlParser{b: b, strict: strict, maxDepth: maxDepth}
	sc := scratchPool.Get().(*parseScratch)
	p.open, p.pending, p.scope, p.attrs = sc.open[:0], sc.pending[:0], sc.scope[:0], sc.attrs[:0]
	defer p.release(sc)
	// Elements are about half the '<'; '<' in comments or CDATA only make this high,
	// so the first chunks are capped and later ones grow by doubling.
	lt := bytes.Count(b, []byte{'<'})
	first := min(256, 8+lt/2)
	// Text nodes (indentation included) are at most one per '<' (0.87 per '<' in the
	// field samples), tokens about the sum of both. edXML has a handful of attributes
	// whatever the size of the document.
	p.elsN, p.cdsN, p.toksN, p.attrN = first, min(512, 8+lt), min(768, 8+3*lt/2), 16
	doc, err = p.parse()
	if err != nil {
		return nil, p.strictFail, err
	}
	return doc, false, nil
}

type xmlParser struct {
	b          []byte
	strict     bool
	maxDepth   int
	strictFail bool

	open     []openElem     // open elements, the root first
	pending  []etree.Token  // tokens not yet attached to their parent, in document order
	scope    []nsBinding    // in-scope namespace declarations, innermost last
	nsIndex  map[string]int // prefix -> index in scope, once scope is large
	attrs    []rawAttr      // scratch: the attributes of the current start tag
	elsN     int            // size of the next chunk of each kind
	cdsN     int
	toksN    int
	attrN    int
	els      []etree.Element // chunks not yet handed out
	cds      []etree.CharData
	toks     []etree.Token
	attrSlab []etree.Attr
	strs     strArena
	roots    int
}

// parseScratch is the working memory of one parse that the tree never references once
// the parse is over: pooled, so a parse does not regrow it from nothing.
type parseScratch struct {
	open    []openElem
	pending []etree.Token
	scope   []nsBinding
	attrs   []rawAttr
}

var scratchPool = sync.Pool{New: func() any {
	return &parseScratch{
		open:    make([]openElem, 0, 16),
		pending: make([]etree.Token, 0, 64),
		scope:   make([]nsBinding, 0, 8),
		attrs:   make([]rawAttr, 0, 8),
	}
}}

// maxPooled bounds the scratch a pathological document (100 000 siblings, thousands of
// declarations) can leave in the pool.
const maxPooled = 1 << 12

// release clears the scratch of references into the tree (and so into the input's
// strings) and returns it to the pool.
func (p *xmlParser) release(sc *parseScratch) {
	if cap(p.open) > maxPooled || cap(p.pending) > maxPooled || cap(p.scope) > maxPooled || cap(p.attrs) > maxPooled {
		return
	}
	sc.open, sc.pending, sc.scope, sc.attrs = p.open[:0], p.pending[:0], p.scope[:0], p.attrs[:0]
	clear(sc.open[:cap(sc.open)])
	clear(sc.pending[:cap(sc.pending)])
	clear(sc.scope[:cap(sc.scope)])
	clear(sc.attrs[:cap(sc.attrs)])
	scratchPool.Put(sc)
}

// strArena holds the names, values and text of the tree: small strings are copied into
// shared chunks, one allocation per chunk instead of one per tag and text node. A string
// keeps its whole chunk alive, so chunks stay small (a kept field pins at most
// arenaChunk bytes) and strings longer than arenaMax get an allocation of their own.
//
// The chunks are strings.Builder buffers: a Builder only ever appends, so the bytes of a
// string it has returned never change.
type strArena struct {
	sb strings.Builder
}

const (
	arenaChunk = 4 << 10
	arenaMax   = 512
)

// room makes room for n more bytes; left bounds what the rest of the parse can need
// (every string comes from the input bytes not yet read, and decoding never lengthens).
func (a *strArena) room(n, left int) {
	if a.sb.Cap()-a.sb.Len() >= n {
		return
	}
	a.sb = strings.Builder{}
	a.sb.Grow(max(n, min(arenaChunk, left)))
}

// copy returns b as a string.
func (a *strArena) copy(b []byte, left int) string {
	if len(b) > arenaMax {
		return string(b)
	}
	a.room(len(b), left)
	n := a.sb.Len()
	a.sb.Write(b)
	return a.sb.String()[n:]
}

type openElem struct {
	e        *etree.Element
	children int // index in pending of its first child
	scope    int // len(scope) before its declarations
}

// rawAttr locates one attribute of the current start tag, as offsets into b.
type rawAttr struct {
	name, colon, nameEnd int    // colon: offset of the prefix separator, or -1
	val, valEnd          int    // the raw value, between the quotes
	decoded              string // the value when it held references or whitespace to normalise
	special              bool
}

// Nodes, attributes and child slices come from chunks sized from the number of '<' in
// the input, so a 5 KB package costs a handful of allocations instead of hundreds.
const maxChunk = 4096

// grow returns the size of the next chunk, at least need, and doubles *n.
func grow(n *int, need int) int {
	size := max(*n, need)
	*n = min(2**n, maxChunk)
	return size
}

func (p *xmlParser) newElement() *etree.Element {
	if len(p.els) == 0 {
		p.els = make([]etree.Element, grow(&p.elsN, 1))
	}
	e := &p.els[0]
	p.els = p.els[1:]
	return e
}

func (p *xmlParser) addText(s string) {
	if len(p.cds) == 0 {
		p.cds = make([]etree.CharData, grow(&p.cdsN, 1))
	}
	c := &p.cds[0]
	p.cds = p.cds[1:]
	c.SetData(s) // sets the whitespace flag as etree's reader does
	p.pending = append(p.pending, c)
}

// tokens returns an empty slice with room for exactly n tokens (appending beyond n
// reallocates, so neighbours in the chunk are never overwritten).
func (p *xmlParser) tokens(n int) []etree.Token {
	if len(p.toks) < n {
		p.toks = make([]etree.Token, grow(&p.toksN, n))
	}
	t := p.toks[:0:n]
	p.toks = p.toks[n:]
	return t
}

func (p *xmlParser) attrSlice(n int) []etree.Attr {
	if len(p.attrSlab) < n {
		p.attrSlab = make([]etree.Attr, grow(&p.attrN, n))
	}
	a := p.attrSlab[:0:n]
	p.attrSlab = p.attrSlab[n:]
	return a
}

// Indentation is most of the text of a pretty-printed document: "\n" and up to 64
// spaces or tabs are served from two constants instead of taking arena room; "" when t
// is not such a run.
var (
	indentSpaces = "\n" + strings.Repeat(" ", 64)
	indentTabs   = "\n" + strings.Repeat("\t", 64)
)

func indentString(t []byte) string {
	if len(t) > 0 && len(t) <= len(indentSpaces) && t[0] == '\n' {
		switch {
		case string(t) == indentSpaces[:len(t)]:
			return indentSpaces[:len(t)]
		case string(t) == indentTabs[:len(t)]:
			return indentTabs[:len(t)]
		}
	}
	return ""
}

// strictErr marks err as the verdict of a rule stricter than readEtree.
func (p *xmlParser) strictErr(format string, args ...any) error {
	p.strictFail = true
	return malformed(format, args...)
}

func (p *xmlParser) syntax(i int, format string, args ...any) error {
	line := 1 + bytes.Count(p.b[:min(i, len(p.b))], []byte{'\n'})
	return malformed("line %d: "+format, append([]any{line}, args...)...)
}

func (p *xmlParser) syntaxf(i int, msg string) error {
	line := 1 + bytes.Count(p.b[:min(i, len(p.b))], []byte{'\n'})
	return malformed("line %d: %s", line, msg)
}

func (p *xmlParser) eof(i int) error { return p.syntaxf(i, "unexpected EOF") }

func errDirective() error {
	return errs.E(errs.MalformedXML, "DOCTYPE and entity declarations are not allowed")
}

func (p *xmlParser) parse() (*etree.Document, error) {
	b := p.b
	var err error
	for i := 0; i < len(b); {
		if b[i] != '<' {
			if i, err = p.text(i); err != nil {
				return nil, err
			}
			continue
		}
		if i+1 >= len(b) {
			return nil, p.eof(i)
		}
		switch b[i+1] {
		case '/':
			i, err = p.endTag(i)
		case '?':
			i, err = p.procInst(i)
		case '!':
			i, err = p.bang(i)
		default:
			i, err = p.startTag(i)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(p.open) > 0 {
		return nil, malformed("unbalanced or mismatched tags")
	}
	if p.roots == 0 {
		return nil, malformed("no root element")
	}
	// Kept from readEtree for the same verdicts (it also flags "&#xD800;" in comments).
	if err := checkCharRefs(b); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		CharsetReader:          rejectCharset,
		PreserveDuplicateAttrs: true,
		MaxDepth:               p.maxDepth,
	}
	p.attach(&doc.Element, p.pending)
	return doc, nil
}

// attach makes kids the children of e, in order, with one allocation.
func (p *xmlParser) attach(e *etree.Element, kids []etree.Token) {
	if len(kids) == 0 {
		return
	}
	e.Child = p.tokens(len(kids))
	for _, k := range kids {
		e.AddChild(k) // sets the unexported parent and index as etree's reader does
	}
	// kids stay in the pending scratch until overwritten (release clears it): clearing
	// them here would cost a write barrier per token while the GC is marking.
}

// Character classes of the ASCII bytes in text (charClass) and attribute values
// (attrClass).
const (
	cPlain = iota
	cBad   // not an XML Char
	cLT
	cAmp
	cWS // a byte decode rewrites: \r in text; \r, \n and \t in an attribute value
	cBracket
	cQuote
	cHigh // first byte of a multi-byte sequence (or invalid UTF-8)
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = cBad
	}
	t['\t'], t['\n'] = cPlain, cPlain
	t['\r'] = cWS
	t['<'], t['&'], t[']'] = cLT, cAmp, cBracket
	t['"'], t['\''] = cQuote, cQuote
	for c := 0x80; c < 0x100; c++ {
		t[c] = cHigh
	}
	return t
}()

// attrClass is charClass where a literal tab or newline is not plain: XML 1.0 §3.3.3
// turns it into a space in an attribute value, so the value must go through decode.
var attrClass = func() (t [256]uint8) {
	t = charClass
	t['\t'], t['\n'] = cWS, cWS
	return t
}()

// scan reads character data from i to the first '<' (quote == 0) or to the closing
// quote, validating every character, and reports whether decode must rewrite it: it
// holds '&' or '\r' or, in an attribute value, '\t' or '\n'.
func (p *xmlParser) scan(i int, quote byte) (end int, special bool, err error) {
	b := p.b
	class := &charClass
	if quote != 0 {
		class = &attrClass
	}
	run := 0 // plain bytes in a row
	for i < len(b) {
		c := b[i]
		switch class[c] {
		case cPlain:
			i++
			// Base64 and long ASCII text are long runs of plain bytes (class 0): once
			// a run reaches 8, take eight at a time with one branch. Short text nodes and
			// Vietnamese (a multi-byte letter every few bytes) never try.
			if run++; run < 8 {
				continue
			}
			for i+8 <= len(b) {
				w := b[i : i+8 : i+8]
				if class[w[0]]|class[w[1]]|class[w[2]]|class[w[3]]|
					class[w[4]]|class[w[5]]|class[w[6]]|class[w[7]] != cPlain {
					break
				}
				i += 8
			}
			run = 0
			continue
		case cLT:
			if quote != 0 {
				return 0, false, p.syntaxf(i, "unescaped < inside quoted string")
			}
			return i, special, nil
		case cAmp, cWS:
			special = true
			i++
			run = 0
		case cBracket:
			if quote == 0 && i+2 < len(b) && b[i+1] == ']' && b[i+2] == '>' {
				return 0, false, p.syntaxf(i, "unescaped ]]> not in CDATA section")
			}
			i++
			run = 0
		case cQuote:
			if c == quote {
				return i, special, nil
			}
			i++
			run = 0
		case cBad:
			return 0, false, p.syntax(i, "illegal character code %U", rune(c))
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false, p.syntaxf(i, "invalid UTF-8")
			}
			if !isXMLChar(r) {
				return 0, false, p.syntax(i, "illegal character code %U", r)
			}
			i += size
			run = 0
		}
	}
	if quote != 0 {
		return 0, false, p.eof(i)
	}
	return i, special, nil
}

// decode returns b[s:e] with references replaced and line ends normalised the way XML
// 1.0 §2.11 does (\r\n and lone \r become \n). In an attribute value (attr) it then
// normalises as §3.3.3 does for CDATA attributes (all of them, without a DTD): each
// literal \t, \n or \r, and each \r\n pair, becomes one space, while a character
// written as a reference (&#9; &#10; &#13;) is kept. Canonical XML, and so every
// XML-DSig digest, is over the normalised value: xmlsec1 and libxml2 read it so.
// The result is never longer than the input, so arena room (or one allocation) of
// len(b[s:e]) holds it.
func (p *xmlParser) decode(s, e int, attr bool) (string, error) {
	b := p.b
	out, start := &p.strs.sb, 0
	if e-s <= arenaMax {
		p.strs.room(e-s, len(b)-s)
		start = out.Len()
	} else {
		out = &strings.Builder{}
		out.Grow(e - s)
	}
	nl, class := byte('\n'), &charClass
	if attr {
		nl, class = ' ', &attrClass
	}
	for i := s; i < e; {
		switch c := b[i]; {
		case c == '\r':
			out.WriteByte(nl)
			i++
			if i < e && b[i] == '\n' {
				i++
			}
		case class[c] == cWS: // \n or \t in an attribute value (text has them plain)
			out.WriteByte(' ')
			i++
		case c == '&':
			r, next, err := p.ref(i, e)
			if err != nil {
				return "", err
			}
			out.WriteRune(r)
			i = next
		default:
			j := i + 1
			for j < e && b[j] != '&' && class[b[j]] != cWS {
				j++
			}
			out.Write(b[i:j])
			i = j
		}
	}
	return out.String()[start:], nil
}

var predefined = [...]struct {
	name string
	r    rune
}{{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"apos;", '\''}, {"quot;", '"'}}

// ref returns the character that the reference at b[i] ('&') stands for and the offset
// after it.
func (p *xmlParser) ref(i, e int) (rune, int, error) {
	b := p.b
	j := i + 1
	if j < e && b[j] == '#' {
		j++
		base := uint64(10)
		if j < e && b[j] == 'x' {
			base = 16
			j++
		}
		digits := j
		var v uint64
		for ; j < e; j++ {
			d, ok := digitVal(b[j], base)
			if !ok {
				break
			}
			if v <= unicode.MaxRune { // once over, stays over: no overflow
				v = v*base + d
			}
		}
		if j == digits || j >= e || b[j] != ';' || v > unicode.MaxRune {
			return 0, 0, p.badRef(i, j, e)
		}
		r := rune(v)
		if r >= 0xD800 && r <= 0xDFFF {
			if p.strict {
				err := p.strictErr("character reference %s is a surrogate", b[i:j+1])
				p.strictFail = checkCharRefs(b[i:j+1]) == nil // stricter only where readEtree missed it
				return 0, 0, err
			}
			r = utf8.RuneError // what encoding/xml makes of it
		}
		if !isXMLChar(r) {
			return 0, 0, p.syntax(i, "illegal character code %U", r)
		}
		return r, j + 1, nil
	}
	for _, ent := range predefined {
		if bytes.HasPrefix(b[j:e], []byte(ent.name)) {
			return ent.r, j + len(ent.name), nil
		}
	}
	for j < e && (isNameByte(b[j]) || b[j] >= utf8.RuneSelf) {
		j++
	}
	return 0, 0, p.badRef(i, j, e)
}

func (p *xmlParser) badRef(i, j, e int) error {
	if j < e && p.b[j] == ';' {
		return p.syntax(i, "invalid character entity %s", p.b[i:j+1])
	}
	return p.syntax(i, "invalid character entity %s (no semicolon)", p.b[i:j])
}

// text reads character data at b[i] (not '<').
func (p *xmlParser) text(i int) (int, error) {
	end, special, err := p.scan(i, 0)
	if err != nil {
		return 0, err
	}
	var s string
	if special {
		if s, err = p.decode(i, end, false); err != nil {
			return 0, err
		}
	} else if s = indentString(p.b[i:end]); s == "" {
		s = p.strs.copy(p.b[i:end], len(p.b)-i)
	}
	if len(p.open) == 0 {
		if !isXMLSpace(s) {
			return 0, malformed("text outside the root element")
		}
		if p.strict && bytes.IndexByte(p.b[i:end], '&') >= 0 {
			return 0, p.strictErr("character reference outside the root element")
		}
	}
	p.addText(s)
	return end, nil
}

// Name bytes: encoding/xml delimits a name by any ASCII byte that is not a name byte and
// takes every non-ASCII byte, then validates the whole name against its tables.
const (
	nNone  = 0
	nStart = 1 << iota // ASCII NameStartChar
	nChar              // ASCII NameChar, not a start
	nHigh              // non-ASCII: validated with the tables
)

var nameClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 0x80:
			t[c] = nHigh
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', c == '_', c == ':':
			t[c] = nStart
		case '0' <= c && c <= '9', c == '.', c == '-':
			t[c] = nChar
		}
	}
	return t
}()

func isNameByte(c byte) bool { return nameClass[c] == nStart || nameClass[c] == nChar }

// name scans the name at b[i]; end == i when there is none. Like encoding/xml it fails
// with "invalid XML name" when the bytes do not form a name.
func (p *xmlParser) name(i int) (end int, err error) {
	b := p.b
	j, seen := i, uint8(0)
	for j < len(b) {
		k := nameClass[b[j]]
		if k == nNone {
			break
		}
		seen |= k
		j++
	}
	high := seen&nHigh != 0
	if j == i {
		return i, nil
	}
	if j == len(b) {
		return 0, p.eof(j)
	}
	if high {
		if !isNameBytes(b[i:j]) {
			return 0, p.syntax(i, "invalid XML name: %s", b[i:j])
		}
	} else if nameClass[b[i]] != nStart {
		return 0, p.syntax(i, "invalid XML name: %s", b[i:j])
	}
	return j, nil
}

func isNameBytes(s []byte) bool {
	for n := 0; len(s) > 0; n++ {
		c, size := utf8.DecodeRune(s)
		if c == utf8.RuneError && size == 1 {
			return false
		}
		if !unicode.Is(nameFirst, c) && (n == 0 || !unicode.Is(nameSecond, c)) {
			return false
		}
		s = s[size:]
	}
	return true
}

// split returns the offset of the prefix colon of the name b[i:j] as encoding/xml's
// RawToken splits it: -1 for no prefix (also for ":a" and "a:", which the namespace
// checks then reject); ok false for two colons or more.
func (p *xmlParser) split(i, j int) (colon int, ok bool) {
	c := bytes.IndexByte(p.b[i:j], ':')
	if c < 0 {
		return -1, true
	}
	if bytes.IndexByte(p.b[i+c+1:j], ':') >= 0 {
		return 0, false
	}
	if c == 0 || i+c == j-1 {
		return -1, true
	}
	return i + c, true
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *xmlParser) space(i int) int {
	for i < len(p.b) && isSpaceByte(p.b[i]) {
		i++
	}
	return i
}

func (p *xmlParser) startTag(start int) (int, error) {
	b := p.b
	i := start + 1
	nameEnd, err := p.name(i)
	if err != nil {
		return 0, err
	}
	colon, ok := p.split(i, nameEnd)
	if nameEnd == i || !ok {
		return 0, p.syntaxf(i, "expected element name after <")
	}
	p.attrs = p.attrs[:0]
	empty := false
	for i = nameEnd; ; {
		j := p.space(i)
		if j >= len(b) {
			return 0, p.eof(j)
		}
		sawSpace := j > i
		i = j
		if b[i] == '/' {
			if i+1 >= len(b) {
				return 0, p.eof(i + 1)
			}
			if b[i+1] != '>' {
				return 0, p.syntaxf(i, "expected /> in element")
			}
			empty, i = true, i+2
			break
		}
		if b[i] == '>' {
			i++
			break
		}
		a := rawAttr{name: i}
		if a.nameEnd, err = p.name(i); err != nil {
			return 0, err
		}
		if a.colon, ok = p.split(i, a.nameEnd); a.nameEnd == i || !ok {
			return 0, p.syntaxf(i, "expected attribute name in element")
		}
		if p.strict && !sawSpace && len(p.attrs) > 0 {
			return 0, p.strictErr("line %d: no whitespace between attributes", 1+bytes.Count(b[:i], []byte{'\n'}))
		}
		i = p.space(a.nameEnd)
		if i >= len(b) {
			return 0, p.eof(i)
		}
		if b[i] != '=' {
			return 0, p.syntaxf(i, "attribute name without = in element")
		}
		i = p.space(i + 1)
		if i >= len(b) {
			return 0, p.eof(i)
		}
		if q := b[i]; q != '"' && q != '\'' {
			return 0, p.syntaxf(i, "unquoted or missing attribute value in element")
		}
		a.val = i + 1
		if a.valEnd, a.special, err = p.scan(a.val, b[i]); err != nil {
			return 0, err
		}
		if a.special {
			if a.decoded, err = p.decode(a.val, a.valEnd, true); err != nil {
				return 0, err
			}
		}
		i = a.valEnd + 1
		p.attrs = append(p.attrs, a)
	}
	if len(p.open) >= p.maxDepth {
		return 0, errs.E(errs.MalformedXML, "too deep: elements nested more than %d levels", p.maxDepth)
	}
	if len(p.open) == 0 && p.roots > 0 {
		return 0, malformed("more than one root element")
	}

	// One arena string for the whole tag; names and plain values are slices of it.
	tag := p.strs.copy(b[start:i], len(b)-start)
	sub := func(s, e int) string { return tag[s-start : e-start] }
	e := p.newElement()
	e.Space, e.Tag = p.names(sub, start+1, colon, nameEnd)
	e.Child = make([]etree.Token, 0)
	if len(p.attrs) == 0 {
		e.Attr = make([]etree.Attr, 0)
	} else {
		// CreateAttr sets the unexported owner; copies of that Attr carry it to the rest.
		e.Attr = p.attrSlice(len(p.attrs))
		e.CreateAttr("x", "")
		tmpl := e.Attr[0]
		e.Attr = e.Attr[:0]
		for k := range p.attrs {
			a := &p.attrs[k]
			tmpl.Space, tmpl.Key = p.names(sub, a.name, a.colon, a.nameEnd)
			if a.special {
				tmpl.Value = a.decoded
			} else {
				tmpl.Value = sub(a.val, a.valEnd)
			}
			e.Attr = append(e.Attr, tmpl)
		}
	}
	scopeLen := len(p.scope)
	if err := p.checkNamespaces(e); err != nil {
		return 0, err
	}
	if len(p.open) == 0 {
		p.roots++
	}
	p.pending = append(p.pending, e)
	if empty {
		p.unscope(scopeLen)
	} else {
		p.open = append(p.open, openElem{e: e, children: len(p.pending), scope: scopeLen})
	}
	return i, nil
}

func (p *xmlParser) names(sub func(s, e int) string, s, colon, e int) (space, local string) {
	if colon < 0 {
		return "", sub(s, e)
	}
	return sub(s, colon), sub(colon+1, e)
}

// checkNamespaces applies checkElement's rules to a new element and pushes its
// declarations onto p.scope.
func (p *xmlParser) checkNamespaces(e *etree.Element) error {
	for _, a := range e.Attr {
		switch {
		case a.Space == "xmlns":
			if err := checkPrefixDecl(a.Key, a.Value); err != nil {
				return err
			}
			p.declare(a.Key, a.Value)
		case a.Space == "" && a.Key == "xmlns":
			if a.Value == nsXML || a.Value == nsXMLNS {
				return malformed("default namespace may not be %s", a.Value)
			}
			p.declare("", a.Value)
		}
	}
	if err := p.checkName(e.Space, e.Tag, true); err != nil {
		return err
	}
	return p.checkAttrs(e)
}

// nsBinding is one in-scope declaration; prev is the index in p.scope of the binding of
// the same prefix it shadows (-1: none), kept up to date only once p.nsIndex exists.
type nsBinding struct {
	prefix, uri string
	prev        int
}

// Up to this many bindings in scope, lookups scan; beyond, p.nsIndex maps each prefix
// to its innermost binding, so that thousands of declarations and prefixed attributes
// on one element cost linear, not quadratic, time (readEtree's walk is quadratic there).
const nsScanMax = 16

func (p *xmlParser) declare(prefix, uri string) {
	if p.nsIndex == nil {
		p.scope = append(p.scope, nsBinding{prefix, uri, -1})
		if len(p.scope) > nsScanMax {
			p.nsIndex = make(map[string]int, 2*len(p.scope))
			for i := range p.scope {
				b := &p.scope[i]
				b.prev = -1
				if j, ok := p.nsIndex[b.prefix]; ok {
					b.prev = j
				}
				p.nsIndex[b.prefix] = i
			}
		}
		return
	}
	prev, ok := p.nsIndex[prefix]
	if !ok {
		prev = -1
	}
	p.nsIndex[prefix] = len(p.scope)
	p.scope = append(p.scope, nsBinding{prefix, uri, prev})
}

// unscope drops the bindings from index n on (an element's declarations going out of
// scope).
func (p *xmlParser) unscope(n int) {
	if p.nsIndex != nil {
		for i := len(p.scope) - 1; i >= n; i-- {
			if b := p.scope[i]; b.prev < 0 {
				delete(p.nsIndex, b.prefix)
			} else {
				p.nsIndex[b.prefix] = b.prev
			}
		}
	}
	p.scope = p.scope[:n]
}

func (p *xmlParser) lookup(prefix string) (string, bool) {
	if p.nsIndex != nil {
		i, ok := p.nsIndex[prefix]
		if !ok {
			return "", false
		}
		return p.scope[i].uri, true
	}
	for i := len(p.scope) - 1; i >= 0; i-- {
		if p.scope[i].prefix == prefix {
			return p.scope[i].uri, true
		}
	}
	return "", false
}

// checkName is read.go's checkName over p.lookup.
func (p *xmlParser) checkName(space, local string, element bool) error {
	if local == "" || strings.Contains(local, ":") {
		return malformed("invalid name %q", joinName(space, local))
	}
	switch space {
	case "", "xml":
		return nil
	case "xmlns":
		if element {
			return malformed("element name %q uses the reserved xmlns prefix", joinName(space, local))
		}
		return nil
	}
	if _, ok := p.lookup(space); !ok {
		return malformed("undeclared namespace prefix %q in %q", space, joinName(space, local))
	}
	return nil
}

// checkAttrs is read.go's checkAttrs over p.lookup: invalid names and duplicates, both
// literal and by expanded name.
func (p *xmlParser) checkAttrs(e *etree.Element) error {
	n := len(e.Attr)
	if n == 0 {
		return nil
	}
	type key struct{ space, local string }
	var seen map[key]struct{}
	if n > 8 {
		seen = make(map[key]struct{}, 2*n)
	}
	expanded := func(a *etree.Attr) key {
		switch a.Space {
		case "", "xmlns":
			return key{a.Space, a.Key}
		case "xml":
			return key{nsXML, a.Key}
		}
		uri, _ := p.lookup(a.Space)
		return key{"{" + uri, a.Key}
	}
	for i := range e.Attr {
		a := &e.Attr[i]
		if err := p.checkName(a.Space, a.Key, false); err != nil {
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

func (p *xmlParser) endTag(start int) (int, error) {
	b := p.b
	i := start + 2
	if n := len(p.open); n > 0 {
		// Nearly always the end tag names the open element: those bytes were checked as a
		// name at its start tag, so when they are followed by a byte that cannot continue
		// a name, name and split would find exactly them.
		if e := p.open[n-1].e; true {
			if end, ok := p.matchOpen(e, i); ok {
				return p.closeTag(end, b[end-len(e.Tag):end])
			}
		}
	}
	end, err := p.name(i)
	if err != nil {
		return 0, err
	}
	colon, ok := p.split(i, end)
	if end == i || !ok {
		return 0, p.syntaxf(i, "expected element name after </")
	}
	var space, local []byte
	if colon < 0 {
		local = b[i:end]
	} else {
		space, local = b[i:colon], b[colon+1:end]
	}
	n := len(p.open)
	if n == 0 || p.open[n-1].e.Tag != string(local) || p.open[n-1].e.Space != string(space) {
		// A tag that is also cut short or followed by junk reports that first.
		if _, err := p.closeTagEnd(end, local); err != nil {
			return 0, err
		}
		return 0, malformed("unbalanced or mismatched tags")
	}
	return p.closeTag(end, local)
}

// matchOpen reports whether b[i:] starts with the qualified name of e followed by a
// byte that is not a name byte, and where that name ends.
func (p *xmlParser) matchOpen(e *etree.Element, i int) (int, bool) {
	b := p.b
	j := i
	if e.Space != "" {
		k := j + len(e.Space)
		if k >= len(b) || string(b[j:k]) != e.Space || b[k] != ':' {
			return 0, false
		}
		j = k + 1
	}
	k := j + len(e.Tag)
	if k >= len(b) || string(b[j:k]) != e.Tag || nameClass[b[k]] != nNone {
		return 0, false
	}
	return k, true
}

// closeTag ends the innermost open element, its name ending at end and matched.
func (p *xmlParser) closeTag(end int, local []byte) (int, error) {
	j, err := p.closeTagEnd(end, local)
	if err != nil {
		return 0, err
	}
	n := len(p.open)
	o := p.open[n-1]
	p.open = p.open[:n-1]
	p.attach(o.e, p.pending[o.children:])
	p.pending = p.pending[:o.children]
	p.unscope(o.scope)
	return j + 1, nil
}

// closeTagEnd finds the '>' of an end tag whose name ends at end.
func (p *xmlParser) closeTagEnd(end int, local []byte) (int, error) {
	j := p.space(end)
	if j >= len(p.b) {
		return 0, p.eof(j)
	}
	if p.b[j] != '>' {
		return 0, p.syntax(j, "invalid characters between </%s and >", local)
	}
	return j, nil
}

func (p *xmlParser) procInst(start int) (int, error) {
	b := p.b
	i := start + 2
	te, err := p.name(i)
	if err != nil {
		return 0, err
	}
	if te == i {
		return 0, p.syntaxf(i, "expected target name after <?")
	}
	target := p.strs.copy(b[i:te], len(b)-i)
	if p.strict && !isSpaceByte(b[te]) && !bytes.HasPrefix(b[te:], []byte("?>")) {
		return 0, p.strictErr("line %d: no whitespace after processing instruction target %q", 1+bytes.Count(b[:te], []byte{'\n'}), target)
	}
	j := p.space(te)
	k := bytes.Index(b[j:], []byte("?>"))
	if k < 0 {
		return 0, p.eof(len(b))
	}
	inst := b[j : j+k]
	instStr := p.strs.copy(inst, len(b)-j)
	if strings.EqualFold(target, "xml") {
		if target != "xml" || start != 0 {
			return 0, malformed("XML declaration not at the start of the document")
		}
		if err := p.xmlDecl(instStr); err != nil {
			return 0, err
		}
	} else {
		if strings.Contains(target, ":") {
			return 0, malformed("invalid processing instruction target %q", target)
		}
		if err := checkChars(inst, "processing instruction"); err != nil {
			return 0, err
		}
	}
	p.pending = append(p.pending, &etree.ProcInst{Target: target, Inst: instStr})
	return j + k + 2, nil
}

// xmlDecl checks the XML declaration as encoding/xml + readEtree did, then (strict) its
// grammar: XMLDecl ::= '<?xml' VersionInfo EncodingDecl? SDDecl? S? '?>'.
func (p *xmlParser) xmlDecl(content string) error {
	if v := procInst("version=", content); v != "" && v != "1.0" {
		return malformed("unsupported version %q; only version 1.0 is supported", v)
	}
	if enc := procInst("encoding=", content); enc != "" && !isUTF8Name(enc) {
		return errs.E(errs.MalformedXML, "only UTF-8 documents are accepted")
	}
	if !strings.HasPrefix(strings.TrimLeft(content, " \t\r\n"), "version") {
		return malformed("XML declaration without version")
	}
	if p.strict && !validXMLDecl(content) {
		return p.strictErr("malformed XML declaration <?xml %s?>", content)
	}
	return nil
}

// isUTF8Name: the names encoding/xml passes without a CharsetReader, and "utf8", which
// rejectCharset lets through.
func isUTF8Name(enc string) bool {
	return strings.EqualFold(enc, "utf-8") || strings.EqualFold(enc, "utf8")
}

// procInst is encoding/xml's reading of a pseudo-attribute of the XML declaration;
// param ends with "=" (encoding/xml appends it on every call).
func procInst(param, s string) string {
	lenp := len(param)
	i := 0
	var sep byte
	for i < len(s) {
		sub := s[i:]
		k := strings.Index(sub, param)
		if k < 0 || lenp+k >= len(sub) {
			return ""
		}
		i += lenp + k + 1
		if c := sub[lenp+k]; c == '\'' || c == '"' {
			sep = c
			break
		}
	}
	if sep == 0 {
		return ""
	}
	j := strings.IndexByte(s[i:], sep)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}

// validXMLDecl checks s, the declaration after "<?xml" and its whitespace, against
// VersionInfo EncodingDecl? SDDecl? S? (version 1.0 only, encoding UTF-8 only).
func validXMLDecl(s string) bool {
	pseudo := func(name string) (string, bool) {
		if !strings.HasPrefix(s, name) {
			return "", false
		}
		r := strings.TrimLeft(s[len(name):], " \t\r\n")
		if r == "" || r[0] != '=' {
			return "", false
		}
		r = strings.TrimLeft(r[1:], " \t\r\n")
		if r == "" || r[0] != '"' && r[0] != '\'' {
			return "", false
		}
		end := strings.IndexByte(r[1:], r[0])
		if end < 0 {
			return "", false
		}
		s = r[end+2:]
		return r[1 : end+1], true
	}
	// sep consumes the whitespace that must precede an optional pseudo-attribute.
	sep := func() bool {
		t := strings.TrimLeft(s, " \t\r\n")
		ok := len(t) < len(s)
		s = t
		return ok
	}
	if v, ok := pseudo("version"); !ok || v != "1.0" {
		return false
	}
	spaced := sep()
	if spaced && strings.HasPrefix(s, "encoding") {
		if v, ok := pseudo("encoding"); !ok || !isUTF8Name(v) {
			return false
		}
		spaced = sep()
	}
	if spaced && strings.HasPrefix(s, "standalone") {
		if v, ok := pseudo("standalone"); !ok || v != "yes" && v != "no" {
			return false
		}
		sep()
	}
	return s == ""
}

// bang reads what starts with "<!": a comment, a CDATA section or a declaration.
func (p *xmlParser) bang(start int) (int, error) {
	b := p.b
	i := start + 2
	if i >= len(b) {
		return 0, p.eof(i)
	}
	switch b[i] {
	case '-':
		if i+1 >= len(b) {
			return 0, p.eof(i + 1)
		}
		if b[i+1] != '-' {
			return 0, p.syntaxf(i, "invalid sequence <!- not part of <!--")
		}
		s := i + 2
		k := bytes.Index(b[s:], []byte("--"))
		if k < 0 || s+k+2 >= len(b) {
			return 0, p.eof(len(b))
		}
		if b[s+k+2] != '>' {
			return 0, p.syntaxf(s+k, `invalid sequence "--" not allowed in comments`)
		}
		data := b[s : s+k]
		if err := checkChars(data, "comment"); err != nil {
			return 0, err
		}
		p.pending = append(p.pending, &etree.Comment{Data: p.strs.copy(data, len(b)-s)})
		return s + k + 3, nil
	case '[':
		const cdata = "CDATA["
		for k := 0; k < len(cdata); k++ {
			if i+1+k >= len(b) {
				return 0, p.eof(i + 1 + k)
			}
			if b[i+1+k] != cdata[k] {
				return 0, p.syntaxf(i, "invalid <![ sequence")
			}
		}
		s := i + 1 + len(cdata)
		k := bytes.Index(b[s:], []byte("]]>"))
		if k < 0 {
			return 0, p.syntaxf(len(b), "unexpected EOF in CDATA section")
		}
		raw := b[s : s+k]
		if err := checkCDATA(p, s, raw); err != nil {
			return 0, err
		}
		var data string
		if bytes.IndexByte(raw, '\r') >= 0 {
			data = normalizeCR(raw)
		} else {
			data = p.strs.copy(raw, len(b)-s)
		}
		if len(p.open) == 0 {
			if !isXMLSpace(data) {
				return 0, malformed("text outside the root element")
			}
			if p.strict {
				return 0, p.strictErr("text outside the root element (a CDATA section)")
			}
		}
		p.addText(data)
		return s + k + 3, nil
	}
	return 0, errDirective()
}

func checkCDATA(p *xmlParser, at int, raw []byte) error {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c >= 0x20 && c < utf8.RuneSelf || c == '\n' || c == '\r' || c == '\t' {
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size == 1 {
			return p.syntaxf(at+i, "invalid UTF-8")
		}
		if !isXMLChar(r) {
			return p.syntax(at+i, "illegal character code %U", r)
		}
		i += size
	}
	return nil
}

func normalizeCR(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\r' {
			out = append(out, '\n')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			continue
		}
		out = append(out, raw[i])
	}
	return string(out)
}

// checkChars is checkText over bytes (comments and PIs keep their raw bytes, as in
// encoding/xml).
func checkChars(s []byte, what string) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
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
