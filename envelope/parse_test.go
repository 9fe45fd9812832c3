package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"axis/axis/errs"
)

const attacksDir = "../testdata/attacks"

// parserSeeds are the inputs of TestReadDocumentHardening, TestParseXMLRules and a few
// more, shared by the table tests and the differential fuzz target.
func parserSeeds() []string {
	s := []string{
		`<a>0123456789</a>`,
		"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<a/>\n",
		"<!-- c --><?pi ok?><a>&lt;&#x41;&#66;<![CDATA[<x>]]><!-- é --></a><!-- end -->",
		`<p:a xmlns:p="u" xmlns="v"><b p:x="1" x="2" xml:lang="vi"/></p:a>`,
		`<a xmlns:p="u" xmlns:q="v" p:x="1" q:x="2"/>`,
		string(nested(6)),
		"<a " + manyAttrs(50, false) + "/>",
		"<a " + manyAttrs(50, true) + "/>",
		`<!DOCTYPE edXML><edXML/>`,
		`<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><html/>`,
		`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`,
		`<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>`,
		`<!DOCTYPE a [<!ENTITY % p SYSTEM "http://evil/x.dtd"> %p;]><a/>`,
		billionLaughs,
		`<a/><!DOCTYPE a>`,
		`<a><!ELEMENT a ANY></a>`,
		`<a>&nbsp;</a>`,
		"", " \n\t", `<!-- x -->`, `<a><b></b>`, `<a><b></a></b>`,
		`<p:a xmlns:p="u" xmlns:q="u"></q:a>`,
		`<h><From><From>x</From><To/></h>`,
		`<a/><b/>`, `<a/>garbage`, `garbage<a/>`, `<a/><![CDATA[x]]>`, `<a/><![CDATA[ ]]>`,
		"<a>\xff\xfe</a>", "<a b=\"\xc3\x28\"/>", "<a><!-- \xff --></a>", "<a><?p \xff?></a>",
		"<a\xff/>", "<a>\x01</a>", "<a><!-- \x01 --></a>", "<a>&#0;</a>",
		"<a>&#xD800;</a>", "<a b=\"&#57343;\"/>", "<a>&#x00000000D800;</a>", "<a><!-- &#xD800; --></a>",
		`<a>&</a>`, `<a b="<"/>`, `<a>]]></a>`, `<a b="]]>"/>`, `<a><!-- a -- b --></a>`, `<a><!-- a ---></a>`,
		`<a b=1/>`, `<a b="1" b="2"/>`, `<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>`,
		`<a xmlns="u" xmlns="v"/>`, `<a xmlns:p="u" xmlns:p="v"/>`, `<edXML:edXML/>`,
		`<a><b xlink:href=""/></a>`, `<a><b xmlns:p="u"/><p:c/></a>`, `<a xmlns:p=""/>`,
		`<a xmlns:xml="urn:x"/>`, `<a xmlns:xmlns="urn:x"/>`, `<a xmlns:xml="http://www.w3.org/XML/1998/namespace" xml:a="1"/>`,
		`<a xmlns:x="http://www.w3.org/XML/1998/namespace"/>`, `<a xmlns="http://www.w3.org/2000/xmlns/"/>`,
		`<xmlns:a/>`, `<:a/>`, `<a: xmlns:a="u"/>`, `<a :b="1"/>`, `<a:b:c/>`, `<a b:c:d="1"/>`,
		`<a/><?xml version="1.0"?>`, ` <?xml version="1.0"?><a/>`, `<a><?xml version="1.0"?></a>`,
		`<a><?XmL x?></a>`, `<?XML version="1.0"?><a/>`, `<?xml encoding="UTF-8"?><a/>`, `<?xml version="1.1"?><a/>`,
		"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xe9</a>", `<?xml version="1.0" encoding="UTF-16"?><a/>`,
		`<?xml version="1.0" encoding="utf8"?><a/>`, `<?xml version = "1.1"?><a/>`, `<?xml version="1.0" standalone='yes' ?><a/>`,
		`<?xml version="1.0" bogus="x"?><a/>`, `<?xml versionx="1.0"?><a/>`, `<?xml version="1.0" encoding = "UTF-16"?><a/>`,
		"\xff\xfe<\x00a\x00/\x00>\x00",
		`<a b="1"c="2"/>`, `<a><?p+q?></a>`, `<a><?p?></a>`, `<a><?a:b x?></a>`, "&#32;<a/>", "<a/>&#x20;",
		"<a b=\"x\r\ny\rz\tw\nv\">p\r\nq\rr<![CDATA[s\r\nt]]></a>", "\r\n<a/>\r\n",
		"<a b=\"&#9;&#10;&#13;&#xD;&#xA;\t\n\r\n\r\" c='\r&#10;\n'>&#9;\t<b\r\nd=\"\n\n\"/></a>", "<a><!--\r\n--><?p \r\n?></a>",
		"<a b='&quot;&apos;&lt;&gt;&amp;'>&#x10FFFF;&#x110000;</a>", "<a>&#xFFFE;</a>", "<a>&#X41;</a>", "<a>&#x41</a>", "<a>&lt</a>",
		"<é/>", "<a\xcc\x81/>", "<\xcc\x81/>", "<a é='1'/>", "<a>\xef\xbf\xbe</a>", "<a b='\x00'/>",
		"<a></a >", "<a></a b>", "</a>", "<a/ >", "<a", "<a b", "<a b=", "<a b='", "<", "<!", "<!-", "<![CDATA[x", "<!-- x",
		"<?", "<?x", "<a><![CDAT[x]]></a>", "<a><![CDATA[]]><![CDATA[\n]]></a>", "\xEF\xBB\xBF\xEF\xBB\xBF<a/>",
	}
	s = append(s, manyNS(20, `<p3:c p0:x="1" p19:y="2"/>`), manyNS(20, `<c xmlns:p3="v"><p3:d p3:x="1" p7:x="2"/></c><p3:e/>`),
		manyNS(20, `<c xmlns:q="u0"><q:d p0:x="1" q:x="2"/></c>`), manyNS(20, `<c xmlns:q="w"/><q:d/>`),
		manyNS(20, `<c xmlns:q="w"></c><q:d/>`), manyNS(20, `<p20:c/>`))
	for _, deep := range []int{20, 21} {
		s = append(s, string(nested(deep)))
	}
	return s
}

// manyNS wraps inner in a root declaring p0..p(n-1), enough to switch the parser's
// namespace lookups from scanning to its index.
func manyNS(n int, inner string) string {
	var b strings.Builder
	b.WriteString("<r")
	for i := range n {
		fmt.Fprintf(&b, ` xmlns:p%d="u%d"`, i, i)
	}
	b.WriteString(">" + inner + "</r>")
	return b.String()
}

// seedParser adds the field samples, every file of the attack corpus and parserSeeds.
func seedParser(f *testing.F) {
	fs, _ := filepath.Glob(filepath.Join(samplesDir, "*.edxml"))
	as, _ := filepath.Glob(filepath.Join(attacksDir, "*"))
	if len(fs) != 16 || len(as) < 48 {
		f.Fatalf("want 16 samples and the attack corpus, found %d and %d files", len(fs), len(as))
	}
	for _, p := range append(fs, as...) {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range parserSeeds() {
		f.Add([]byte(s))
	}
	if b, err := validPackage().Bytes(); err == nil {
		f.Add(b)
	}
}

const fuzzDepth = 20

// FuzzParserMatchesEtree proves the byte parser against the etree path:
//   - lenient mode agrees with readEtree on every input: the same verdict and, when both
//     accept, the same tree;
//   - strict mode (ReadDocument's) accepts a subset: whatever it accepts, lenient accepts
//     with the same tree, and when it alone rejects, the rule is one of the stricter ones.
//
// encoding/xml does not normalise attribute values (XML 1.0 §3.3.3), which the parser
// does, so readEtree applies it to its input first (normalizeAttrs, found by encoding/xml's
// own tokenizer); everything else about the reference is etree's.
func FuzzParserMatchesEtree(f *testing.F) {
	seedParser(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		compareParsers(t, b)
	})
}

func compareParsers(t *testing.T, in []byte) {
	t.Helper()
	b := bytes.TrimPrefix(in, utf8BOM)
	old, oldErr := readEtree(b, Limits{MaxBytes: 1 << 30, MaxDepth: fuzzDepth})
	lax, _, laxErr := parseXML(b, fuzzDepth, false)
	if (oldErr == nil) != (laxErr == nil) {
		t.Fatalf("verdicts differ on %q:\netree: %v\nbyte:  %v", in, oldErr, laxErr)
	}
	if oldErr != nil {
		if errs.CodeOf(oldErr) != errs.CodeOf(laxErr) {
			t.Fatalf("codes differ on %q: %v / %v", in, oldErr, laxErr)
		}
	} else if d := diffDocs(old, lax); d != "" {
		t.Fatalf("trees differ on %q: %s", in, d)
	}
	strict, strictFail, strictErr := parseXML(b, fuzzDepth, true)
	switch {
	case strictErr == nil && laxErr != nil:
		t.Fatalf("strict accepts what lenient rejects: %q: %v", in, laxErr)
	case strictErr == nil:
		if d := diffDocs(old, strict); d != "" {
			t.Fatalf("strict tree differs on %q: %s", in, d)
		}
	case laxErr == nil && !strictFail:
		t.Fatalf("strict rejects %q by a rule not marked stricter: %v", in, strictErr)
	case errs.CodeOf(strictErr) != errs.MalformedXML:
		t.Fatalf("strict error without MalformedXML: %v", strictErr)
	}
}

// diffDocs describes the first difference between two documents, "" when identical:
// node types, names, attributes in order (with their owner), text and its flags,
// comments, PIs, directives, parent pointers, indexes and nil-ness of the slices.
func diffDocs(a, b *etree.Document) string {
	ra, rb := a.ReadSettings, b.ReadSettings
	if (ra.CharsetReader == nil) != (rb.CharsetReader == nil) {
		return "ReadSettings.CharsetReader"
	}
	ra.CharsetReader, rb.CharsetReader = nil, nil
	if !reflect.DeepEqual(ra, rb) || !reflect.DeepEqual(a.WriteSettings, b.WriteSettings) {
		return "settings"
	}
	if a.Parent() != nil || b.Parent() != nil || a.Index() != b.Index() {
		return "document element parent/index"
	}
	return diffElement("doc", &a.Element, &b.Element)
}

func diffElement(path string, a, b *etree.Element) string {
	if a.Space != b.Space || a.Tag != b.Tag {
		return fmt.Sprintf("%s: name %q:%q vs %q:%q", path, a.Space, a.Tag, b.Space, b.Tag)
	}
	path += "/" + a.FullTag()
	if (a.Attr == nil) != (b.Attr == nil) || len(a.Attr) != len(b.Attr) {
		return fmt.Sprintf("%s: attrs %#v vs %#v", path, a.Attr, b.Attr)
	}
	for i := range a.Attr {
		x, y := &a.Attr[i], &b.Attr[i]
		if x.Space != y.Space || x.Key != y.Key || x.Value != y.Value {
			return fmt.Sprintf("%s: attr %d: %q:%q=%q vs %q:%q=%q", path, i, x.Space, x.Key, x.Value, y.Space, y.Key, y.Value)
		}
		if x.Element() != a || y.Element() != b {
			return fmt.Sprintf("%s: attr %d: owner", path, i)
		}
	}
	if (a.Child == nil) != (b.Child == nil) || len(a.Child) != len(b.Child) {
		return fmt.Sprintf("%s: %d vs %d children (nil %v %v)", path, len(a.Child), len(b.Child), a.Child == nil, b.Child == nil)
	}
	for i := range a.Child {
		x, y := a.Child[i], b.Child[i]
		p := fmt.Sprintf("%s[%d]", path, i)
		if reflect.TypeOf(x) != reflect.TypeOf(y) {
			return fmt.Sprintf("%s: %T vs %T", p, x, y)
		}
		if x.Parent() != a || y.Parent() != b || x.Index() != i || y.Index() != i {
			return p + ": parent or index"
		}
		switch x := x.(type) {
		case *etree.Element:
			if d := diffElement(p, x, y.(*etree.Element)); d != "" {
				return d
			}
		case *etree.CharData:
			y := y.(*etree.CharData)
			if x.Data != y.Data || x.IsWhitespace() != y.IsWhitespace() || x.IsCData() != y.IsCData() {
				return fmt.Sprintf("%s: text %q (ws %v cdata %v) vs %q (ws %v cdata %v)", p,
					x.Data, x.IsWhitespace(), x.IsCData(), y.Data, y.IsWhitespace(), y.IsCData())
			}
		case *etree.Comment:
			if y := y.(*etree.Comment); x.Data != y.Data {
				return fmt.Sprintf("%s: comment %q vs %q", p, x.Data, y.Data)
			}
		case *etree.ProcInst:
			if y := y.(*etree.ProcInst); x.Target != y.Target || x.Inst != y.Inst {
				return fmt.Sprintf("%s: PI %q %q vs %q %q", p, x.Target, x.Inst, y.Target, y.Inst)
			}
		case *etree.Directive:
			if y := y.(*etree.Directive); x.Data != y.Data {
				return fmt.Sprintf("%s: directive %q vs %q", p, x.Data, y.Data)
			}
		default:
			return fmt.Sprintf("%s: unknown token %T", p, x)
		}
	}
	return ""
}

// The seeds and the corpus agree without fuzzing (go test runs this every time).
func TestParserMatchesEtreeOnCorpus(t *testing.T) {
	var inputs [][]byte
	for _, dir := range []string{filepath.Join(samplesDir, "*.edxml"), filepath.Join(attacksDir, "*.edxml")} {
		fs, _ := filepath.Glob(dir)
		for _, p := range fs {
			inputs = append(inputs, readSampleFile(t, p))
		}
	}
	for _, s := range parserSeeds() {
		inputs = append(inputs, []byte(s))
	}
	for _, b := range inputs {
		compareParsers(t, b)
	}
}

// The diff itself must see differences (a comparison that cannot fail proves nothing).
func TestDiffDocsDetects(t *testing.T) {
	base := `<a x="1"><b>t</b><!--c--><?p i?></a>`
	for _, other := range []string{
		`<a x="2"><b>t</b><!--c--><?p i?></a>`, `<a y="1"><b>t</b><!--c--><?p i?></a>`,
		`<a x="1"><c>t</c><!--c--><?p i?></a>`, `<a x="1"><b>u</b><!--c--><?p i?></a>`,
		`<a x="1"><b> </b><!--c--><?p i?></a>`, `<a x="1"><b>t</b><!--d--><?p i?></a>`,
		`<a x="1"><b>t</b><!--c--><?p j?></a>`, `<a x="1"><b>t</b><?p i?><!--c--></a>`,
		`<a x="1"><b>t</b><!--c--></a>`, `<a x="1" z="2"><b>t</b><!--c--><?p i?></a>`,
	} {
		x, _, err1 := parseXML([]byte(base), 10, true)
		y, _, err2 := parseXML([]byte(other), 10, true)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if diffDocs(x, y) == "" {
			t.Errorf("no difference found between %s and %s", base, other)
		}
	}
	x, _, _ := parseXML([]byte(base), 10, true)
	y, _, _ := parseXML([]byte(base), 10, true)
	y.Root().Child[0].(*etree.Element).Child[0].(*etree.CharData).SetData("t")
	if d := diffDocs(x, y); d != "" {
		t.Errorf("equal documents differ: %s", d)
	}
	y.Root().Attr[0] = x.Root().Attr[0] // same fields, owned by the other tree
	if d := diffDocs(x, y); !strings.Contains(d, "owner") {
		t.Errorf("attribute owner: %q", d)
	}
	y, _, _ = parseXML([]byte(base), 10, true)
	y.Root().CreateCData("")
	if diffDocs(x, y) == "" {
		t.Error("extra CDATA not seen")
	}
}

// manyPrefixed is one element declaring n prefixes and using each on an attribute:
// quadratic for readEtree's scope scans, linear for the byte parser's index.
func manyPrefixed(n int) []byte {
	var b strings.Builder
	b.WriteString("<a")
	for i := range n {
		fmt.Fprintf(&b, ` xmlns:p%d="u%d"`, i, i)
	}
	for i := range n {
		fmt.Fprintf(&b, ` p%d:x="1"`, i)
	}
	b.WriteString("/>")
	return []byte(b.String())
}

// BenchmarkParse compares the etree path with the byte parser on a 5 KB package and on
// the signed 5.6 KB package of the attack corpus (benchstat-friendly sub-benchmarks).
func BenchmarkParse(b *testing.B) {
	signed, err := os.ReadFile(filepath.Join(attacksDir, "01-valid-package.edxml"))
	if err != nil {
		b.Fatal(err)
	}
	inputs := []struct {
		name string
		doc  []byte
	}{{"5KB", benchPackage(b, 5<<10)}, {"signed", signed}, {"5MB", benchPackage(b, 5<<20)}, {"ns5000", manyPrefixed(5000)}}
	for _, in := range inputs {
		b.Run(in.name+"/etree", func(b *testing.B) {
			b.SetBytes(int64(len(in.doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := readEtree(in.doc, DefaultLimits()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(in.name+"/bytes", func(b *testing.B) {
			b.SetBytes(int64(len(in.doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := parseXML(in.doc, DefaultMaxDepth, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestParseXMLRules: one row per rule of the byte parser. verdict: "ok" accepted by both
// modes; "reject" rejected by both (as by readEtree); "strict" rejected only in strict
// mode (ReadDocument's), by a rule marked stricter than the etree path.
func TestParseXMLRules(t *testing.T) {
	cases := []struct {
		name, in, verdict, msg string
	}{
		{"minimal", `<a/>`, "ok", ""},
		{"prolog and epilog", "<?xml version=\"1.0\" encoding='UTF-8' standalone=\"no\"?>\n<!--c--><?pi x?>\n<a/>\n<!--d-->", "ok", ""},
		{"declaration utf8 alias", `<?xml version="1.0" encoding="utf8"?><a/>`, "ok", ""},
		{"declaration spaced", `<?xml version = '1.0'  encoding = "utf-8" ?><a/>`, "ok", ""},
		{"references", `<a b="&lt;&#x3C;&#60;">&amp;&apos;&quot;&gt;&#x10FFFF;</a>`, "ok", ""},
		{"]]> in attribute", `<a b="]]>"/>`, "ok", ""},
		{"whitespace between attributes", "<a b='1'\n\tc='2' />", "ok", ""},
		{"non-ASCII names", "<é xmlns:ü='u'><ü:ö ü:ä='1'/></é>", "ok", ""},
		{"empty comment and PI", `<a><!----><?p?></a>`, "ok", ""},

		// Declarations and entities.
		{"DOCTYPE", `<!DOCTYPE a><a/>`, "reject", "DOCTYPE"},
		{"declaration inside", `<a><!ENTITY x "y"></a>`, "reject", "DOCTYPE"},
		{"unterminated DOCTYPE", `<!DOCTYPE a`, "reject", "DOCTYPE"},
		{"undefined entity", `<a>&nbsp;</a>`, "reject", "invalid character entity &nbsp;"},
		{"entity without semicolon", `<a>&amp</a>`, "reject", "no semicolon"},
		{"uppercase X in char ref", `<a>&#X41;</a>`, "reject", "invalid character entity"},
		{"empty char ref", `<a>&#;</a>`, "reject", "invalid character entity"},
		{"char ref beyond Unicode", `<a>&#x110000;</a>`, "reject", "invalid character entity"},
		{"char ref overflow", `<a>&#99999999999999999999999;</a>`, "reject", "invalid character entity"},
		{"char ref to NUL", `<a>&#0;</a>`, "reject", "illegal character code U+0000"},
		{"char ref to U+FFFE", `<a b="&#xFFFE;"/>`, "reject", "illegal character code U+FFFE"},
		{"surrogate ref", `<a>&#xD800;</a>`, "reject", "surrogate"},
		{"long surrogate ref", `<a>&#x0000000DFFF;</a>`, "strict", "surrogate"},
		{"surrogate ref in comment (kept from the etree path)", `<a><!-- &#xD800; --></a>`, "reject", "surrogate"},

		// Characters.
		{"control character in text", "<a>\x01</a>", "reject", "illegal character code U+0001"},
		{"control character in attribute", "<a b='\x1f'/>", "reject", "illegal character code U+001F"},
		{"U+FFFF in text", "<a>\xef\xbf\xbf</a>", "reject", "illegal character code U+FFFF"},
		{"invalid UTF-8 in text", "<a>\xc3</a>", "reject", "invalid UTF-8"},
		{"encoded surrogate", "<a>\xed\xa0\x80</a>", "reject", "invalid UTF-8"},
		{"invalid UTF-8 in CDATA", "<a><![CDATA[\xff]]></a>", "reject", "invalid UTF-8"},
		{"control character in CDATA", "<a><![CDATA[\x02]]></a>", "reject", "illegal character"},
		{"invalid UTF-8 in comment", "<a><!--\xff--></a>", "reject", "invalid UTF-8 in comment"},
		{"control character in PI", "<a><?p \x02?></a>", "reject", "illegal character U+0002 in processing instruction"},
		{"invalid UTF-8 in name", "<a\xff/>", "reject", "invalid XML name"},
		{"name starting with a digit", "<1a/>", "reject", "invalid XML name"},
		{"name starting with a combining mark", "<\xcc\x81/>", "reject", "invalid XML name"},

		// Markup.
		{"< in attribute", `<a b="<"/>`, "reject", "unescaped < inside quoted string"},
		{"]]> in text", `<a>]]></a>`, "reject", "unescaped ]]>"},
		{"-- in comment", `<a><!-- a -- b --></a>`, "reject", `"--" not allowed`},
		{"comment ending in -", `<a><!-- a ---></a>`, "reject", `"--" not allowed`},
		{"<!- not a comment", `<a><!-x--></a>`, "reject", "<!-"},
		{"<![ not CDATA", `<a><![CDAT[x]]></a>`, "reject", "invalid <![ sequence"},
		{"unterminated CDATA", `<a><![CDATA[x`, "reject", "EOF in CDATA"},
		{"unterminated comment", `<a><!-- x`, "reject", "unexpected EOF"},
		{"unterminated PI", `<a><?p x`, "reject", "unexpected EOF"},
		{"PI without target", `<a><? x?></a>`, "reject", "expected target name"},
		{"PI target with colon", `<a><?a:b x?></a>`, "reject", "invalid processing instruction target"},
		{"unquoted attribute", `<a b=1/>`, "reject", "unquoted"},
		{"attribute without value", `<a b/>`, "reject", "attribute name without ="},
		{"attribute name missing", `<a ="1"/>`, "reject", "expected attribute name"},
		{"bad empty-element end", `<a/ >`, "reject", "expected />"},
		{"element name missing", `< a/>`, "reject", "expected element name after <"},
		{"two colons in name", `<a:b:c/>`, "reject", "expected element name after <"},
		{"two colons in attribute", `<a b:c:d="1"/>`, "reject", "expected attribute name"},
		{"end tag name missing", `<a></ a>`, "reject", "expected element name after </"},
		{"junk in end tag", `<a></a b>`, "reject", "invalid characters between </a and >"},
		{"mismatched", `<a><b></a></b>`, "reject", "unbalanced or mismatched tags"},
		{"mismatched prefix", `<p:a xmlns:p="u" xmlns:q="u"></q:a>`, "reject", "unbalanced"},
		{"unclosed", `<a><b></b>`, "reject", "unbalanced"},
		{"end tag first", `</a>`, "reject", "unbalanced"},
		{"truncated tag", `<a b="1"`, "reject", "unexpected EOF"},
		{"truncated", `<`, "reject", "unexpected EOF"},
		{"too deep", string(nested(11)), "reject", "too deep: elements nested more than 10 levels"},

		// Document structure.
		{"no root", `<!--x-->`, "reject", "no root element"},
		{"two roots", `<a/><b/>`, "reject", "more than one root element"},
		{"text after root", `<a/>x`, "reject", "text outside the root element"},
		{"text before root", `x<a/>`, "reject", "text outside the root element"},
		{"CDATA text outside root", `<a/><![CDATA[x]]>`, "reject", "text outside the root element"},
		{"whitespace CDATA outside root", `<a/><![CDATA[ ]]>`, "strict", "text outside the root element"},
		{"reference outside root", `&#32;<a/>`, "strict", "reference outside the root element"},
		{"declaration not first", ` <?xml version="1.0"?><a/>`, "reject", "XML declaration not at the start"},
		{"declaration inside", `<a><?xml version="1.0"?></a>`, "reject", "XML declaration not at the start"},
		{"declaration in upper case", `<?XML version="1.0"?><a/>`, "reject", "XML declaration not at the start"},
		{"declaration without version", `<?xml encoding="UTF-8"?><a/>`, "reject", "XML declaration without version"},
		{"version 1.1", `<?xml version="1.1"?><a/>`, "reject", "unsupported version"},
		{"UTF-16 declared", `<?xml version="1.0" encoding="UTF-16"?><a/>`, "reject", "only UTF-8"},
		{"version 1.1 with spaces", `<?xml version = "1.1"?><a/>`, "strict", "malformed XML declaration"},
		{"UTF-16 with spaces", `<?xml version="1.0" encoding = "UTF-16"?><a/>`, "strict", "malformed XML declaration"},
		{"unknown pseudo-attribute", `<?xml version="1.0" foo="bar"?><a/>`, "strict", "malformed XML declaration"},
		{"standalone maybe", `<?xml version="1.0" standalone="maybe"?><a/>`, "strict", "malformed XML declaration"},
		{"version prefix", `<?xml versionx="1.0"?><a/>`, "strict", "malformed XML declaration"},
		{"missing space in declaration", `<?xml version="1.0"encoding="UTF-8"?><a/>`, "strict", "malformed XML declaration"},
		{"control character in declaration", "<?xml version=\"1.0\" \x01?><a/>", "strict", "malformed XML declaration"},
		{"attributes run together", `<a b="1"c="2"/>`, "strict", "no whitespace between attributes"},
		{"PI target run into data", `<a><?p+q?></a>`, "strict", "no whitespace after processing instruction target"},

		// Namespaces.
		{"duplicate attribute", `<a b="1" b="2"/>`, "reject", "duplicate attribute"},
		{"duplicate by namespace", `<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>`, "reject", "duplicate attribute"},
		{"duplicate xmlns", `<a xmlns="u" xmlns="v"/>`, "reject", "duplicate attribute"},
		{"undeclared element prefix", `<p:a/>`, "reject", "undeclared namespace prefix"},
		{"undeclared attribute prefix", `<a p:b="1"/>`, "reject", "undeclared namespace prefix"},
		{"prefix out of scope", `<a><b xmlns:p="u"/><p:c/></a>`, "reject", "undeclared namespace prefix"},
		{"prefix out of scope after end tag", `<a><b xmlns:p="u"></b><p:c/></a>`, "reject", "undeclared namespace prefix"},
		{"undeclaring a prefix", `<a xmlns:p=""/>`, "reject", "may not be undeclared"},
		{"xml prefix rebound", `<a xmlns:xml="urn:x"/>`, "reject", "xml prefix"},
		{"xmlns prefix declared", `<a xmlns:xmlns="urn:x"/>`, "reject", "xmlns prefix"},
		{"other prefix bound to the xml namespace", `<a xmlns:x="http://www.w3.org/XML/1998/namespace"/>`, "reject", "may not be bound"},
		{"default namespace is xmlns", `<a xmlns="http://www.w3.org/2000/xmlns/"/>`, "reject", "default namespace may not be"},
		{"xmlns element prefix", `<xmlns:a/>`, "reject", "reserved xmlns prefix"},
		{"empty prefix", `<:a/>`, "reject", "invalid name"},
		{"empty local name", `<a: xmlns:a="u"/>`, "reject", "invalid name"},
		{"attribute with empty prefix", `<a :b="1"/>`, "reject", "invalid name"},

		// Namespaces beyond nsScanMax bindings (indexed lookups).
		{"many declarations", manyNS(20, `<p3:c p0:x="1" p19:y="2"/>`), "ok", ""},
		{"many declarations, shadowed", manyNS(20, `<c xmlns:p3="v"><p3:d p3:x="1" p7:x="2"/></c><p3:e/>`), "ok", ""},
		{"many declarations, duplicate by namespace", manyNS(20, `<c xmlns:q="u0"><q:d p0:x="1" q:x="2"/></c>`), "reject", "duplicate attribute"},
		{"many declarations, out of scope", manyNS(20, `<c xmlns:q="w"></c><q:d/>`), "reject", "undeclared namespace prefix"},
		{"many declarations, out of scope after empty", manyNS(20, `<c xmlns:q="w"/><q:d/>`), "reject", "undeclared namespace prefix"},
		{"many declarations, undeclared", manyNS(20, `<p20:c/>`), "reject", "undeclared namespace prefix"},
		{"shadowing unwound", manyNS(20, `<c xmlns:p1="u0"><p1:d p0:x="1"/></c><p1:e p0:x="1" p1:x="2"/>`), "ok", ""},
		{"shadowing active", manyNS(20, `<c xmlns:p1="u0"><p1:d p0:x="1" p1:x="2"/></c>`), "reject", "duplicate attribute"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, strict := range []bool{false, true} {
				doc, strictFail, err := parseXML([]byte(c.in), 10, strict)
				wantErr := c.verdict == "reject" || c.verdict == "strict" && strict
				if !wantErr {
					if err != nil || doc == nil || doc.Root() == nil {
						t.Fatalf("strict=%v: rejected: %v", strict, err)
					}
					continue
				}
				if err == nil || doc != nil {
					t.Fatalf("strict=%v: accepted", strict)
				}
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != errs.MalformedXML || !strings.Contains(e.Message(), c.msg) {
					t.Errorf("strict=%v: got %v, want %s containing %q", strict, err, errs.MalformedXML, c.msg)
				}
				if strictFail != (c.verdict == "strict") {
					t.Errorf("strict=%v: strictFail %v", strict, strictFail)
				}
			}
			// Whatever the byte parser decides in lenient mode, the etree path decides.
			if _, err := readEtree([]byte(c.in), Limits{MaxBytes: 1 << 20, MaxDepth: 10}); (err == nil) != (c.verdict != "reject") {
				t.Errorf("etree path: %v", err)
			}
		})
	}
}
