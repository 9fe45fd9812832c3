package envelope

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"axis/axis/errs"
)

func nested(depth int) []byte {
	return []byte(strings.Repeat("<a>", depth) + strings.Repeat("</a>", depth))
}

const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<lolz>&lol9;</lolz>`

func TestReadDocumentHardening(t *testing.T) {
	small := []byte(`<a>0123456789</a>`)
	cases := []struct {
		name string
		in   []byte
		lim  Limits
		code errs.Code // "" = accepted
		msg  string    // substring of the client message
	}{
		// Accepted.
		{"plain", small, Limits{}, "", ""},
		{"declaration and BOM", []byte("\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<a/>\n"), Limits{}, "", ""},
		{"comments, PI, CDATA, char refs", []byte("<!-- c --><?pi ok?><a>&lt;&#x41;&#66;<![CDATA[<x>]]><!-- é --></a><!-- end -->"), Limits{}, "", ""},
		{"namespaces", []byte(`<p:a xmlns:p="u" xmlns="v"><b p:x="1" x="2" xml:lang="vi"/></p:a>`), Limits{}, "", ""},
		{"same local attr in two namespaces", []byte(`<a xmlns:p="u" xmlns:q="v" p:x="1" q:x="2"/>`), Limits{}, "", ""},
		{"exactly MaxBytes", small, Limits{MaxBytes: int64(len(small))}, "", ""},
		{"depth 100 (default)", nested(100), Limits{}, "", ""},
		{"depth 5 of 5", nested(5), Limits{MaxDepth: 5}, "", ""},
		{"many attributes", []byte("<a " + manyAttrs(50, false) + "/>"), Limits{}, "", ""},

		// Size and depth.
		{"oversize by one byte", small, Limits{MaxBytes: int64(len(small) - 1)}, errs.TooLarge, "limit"},
		{"oversize default (64 MiB + 1)", make([]byte, DefaultMaxBytes+1), Limits{}, errs.TooLarge, "limit"},
		{"depth 101 (default)", nested(101), Limits{}, errs.MalformedXML, "too deep"},
		{"depth 6 of 5", nested(6), Limits{MaxDepth: 5}, errs.MalformedXML, "too deep"},
		{"deep bomb", nested(100000), Limits{}, errs.MalformedXML, "too deep"},

		// DOCTYPE and entities.
		{"DOCTYPE", []byte(`<!DOCTYPE edXML><edXML/>`), Limits{}, errs.MalformedXML, "DOCTYPE"},
		{"DOCTYPE public id", []byte(`<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><html/>`), Limits{}, errs.MalformedXML, "DOCTYPE"},
		{"internal entity", []byte(`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`), Limits{}, errs.MalformedXML, "DOCTYPE"},
		{"internal entity unused", []byte(`<!DOCTYPE a [<!ENTITY x "y">]><a>x</a>`), Limits{}, errs.MalformedXML, "DOCTYPE"},
		{"external entity SYSTEM", []byte(`<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>`), Limits{}, errs.MalformedXML, "DOCTYPE"},
		{"parameter entity", []byte(`<!DOCTYPE a [<!ENTITY % p SYSTEM "http://evil/x.dtd"> %p;]><a/>`), Limits{}, errs.MalformedXML, "DOCTYPE"},
		{"billion laughs", []byte(billionLaughs), Limits{}, errs.MalformedXML, "DOCTYPE"},
		{"DOCTYPE after root", []byte(`<a/><!DOCTYPE a>`), Limits{}, errs.MalformedXML, "DOCTYPE"},
		{"declaration inside root", []byte(`<a><!ELEMENT a ANY></a>`), Limits{}, errs.MalformedXML, "DOCTYPE"},
		{"undeclared entity", []byte(`<a>&nbsp;</a>`), Limits{}, errs.MalformedXML, ""},

		// Not well-formed.
		{"empty", nil, Limits{}, errs.MalformedXML, "no root"},
		{"whitespace only", []byte(" \n\t"), Limits{}, errs.MalformedXML, "no root"},
		{"comment only", []byte(`<!-- x -->`), Limits{}, errs.MalformedXML, "no root"},
		{"unclosed", []byte(`<a><b></b>`), Limits{}, errs.MalformedXML, ""},
		{"mismatched", []byte(`<a><b></a></b>`), Limits{}, errs.MalformedXML, ""},
		{"mismatched prefix", []byte(`<p:a xmlns:p="u" xmlns:q="u"></q:a>`), Limits{}, errs.MalformedXML, ""},
		{"edoc.edxml style nesting", []byte(`<h><From><From>x</From><To/></h>`), Limits{}, errs.MalformedXML, ""},
		{"two roots", []byte(`<a/><b/>`), Limits{}, errs.MalformedXML, "more than one root"},
		{"trailing text", []byte(`<a/>garbage`), Limits{}, errs.MalformedXML, "text outside"},
		{"leading text", []byte(`garbage<a/>`), Limits{}, errs.MalformedXML, "text outside"},
		{"CDATA outside root", []byte(`<a/><![CDATA[x]]>`), Limits{}, errs.MalformedXML, "text outside"},
		{"invalid UTF-8 in text", []byte("<a>\xff\xfe</a>"), Limits{}, errs.MalformedXML, ""},
		{"invalid UTF-8 in attribute", []byte("<a b=\"\xc3\x28\"/>"), Limits{}, errs.MalformedXML, ""},
		{"invalid UTF-8 in comment", []byte("<a><!-- \xff --></a>"), Limits{}, errs.MalformedXML, "invalid UTF-8"},
		{"invalid UTF-8 in PI", []byte("<a><?p \xff?></a>"), Limits{}, errs.MalformedXML, "invalid UTF-8"},
		{"invalid UTF-8 in name", []byte("<a\xff/>"), Limits{}, errs.MalformedXML, ""},
		{"control character", []byte("<a>\x01</a>"), Limits{}, errs.MalformedXML, ""},
		{"control character in comment", []byte("<a><!-- \x01 --></a>"), Limits{}, errs.MalformedXML, "illegal character"},
		{"NUL reference", []byte("<a>&#0;</a>"), Limits{}, errs.MalformedXML, ""},
		{"surrogate reference", []byte("<a>&#xD800;</a>"), Limits{}, errs.MalformedXML, "surrogate"},
		{"surrogate reference decimal", []byte("<a b=\"&#57343;\"/>"), Limits{}, errs.MalformedXML, "surrogate"},
		{"lone ampersand", []byte(`<a>&</a>`), Limits{}, errs.MalformedXML, ""},
		{"< in attribute", []byte(`<a b="<"/>`), Limits{}, errs.MalformedXML, ""},
		{"]]> in text", []byte(`<a>]]></a>`), Limits{}, errs.MalformedXML, ""},
		{"-- in comment", []byte(`<a><!-- a -- b --></a>`), Limits{}, errs.MalformedXML, ""},
		{"unquoted attribute", []byte(`<a b=1/>`), Limits{}, errs.MalformedXML, ""},
		{"duplicate attribute", []byte(`<a b="1" b="2"/>`), Limits{}, errs.MalformedXML, "duplicate attribute"},
		{"duplicate attribute by namespace", []byte(`<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>`), Limits{}, errs.MalformedXML, "duplicate attribute"},
		{"duplicate among many attributes", []byte("<a " + manyAttrs(50, true) + "/>"), Limits{}, errs.MalformedXML, "duplicate attribute"},
		{"duplicate default namespace", []byte(`<a xmlns="u" xmlns="v"/>`), Limits{}, errs.MalformedXML, "duplicate attribute"},
		{"duplicate namespace declaration", []byte(`<a xmlns:p="u" xmlns:p="v"/>`), Limits{}, errs.MalformedXML, "duplicate attribute"},
		{"undeclared element prefix", []byte(`<edXML:edXML/>`), Limits{}, errs.MalformedXML, "undeclared namespace prefix"},
		{"undeclared attribute prefix", []byte(`<a><b xlink:href=""/></a>`), Limits{}, errs.MalformedXML, "undeclared namespace prefix"},
		{"prefix out of scope", []byte(`<a><b xmlns:p="u"/><p:c/></a>`), Limits{}, errs.MalformedXML, "undeclared namespace prefix"},
		{"undeclaring a prefix", []byte(`<a xmlns:p=""/>`), Limits{}, errs.MalformedXML, "undeclared"},
		{"xml prefix rebound", []byte(`<a xmlns:xml="urn:x"/>`), Limits{}, errs.MalformedXML, "xml prefix"},
		{"xmlns prefix declared", []byte(`<a xmlns:xmlns="urn:x"/>`), Limits{}, errs.MalformedXML, "xmlns prefix"},
		{"xml namespace on other prefix", []byte(`<a xmlns:x="http://www.w3.org/XML/1998/namespace"/>`), Limits{}, errs.MalformedXML, ""},
		{"xmlns element prefix", []byte(`<xmlns:a/>`), Limits{}, errs.MalformedXML, ""},
		{"empty prefix", []byte(`<:a/>`), Limits{}, errs.MalformedXML, "invalid name"},
		{"empty local name", []byte(`<a: xmlns:a="u"/>`), Limits{}, errs.MalformedXML, "invalid name"},
		{"attribute with empty prefix", []byte(`<a :b="1"/>`), Limits{}, errs.MalformedXML, "invalid name"},
		{"XML declaration after root", []byte(`<a/><?xml version="1.0"?>`), Limits{}, errs.MalformedXML, "XML declaration"},
		{"XML declaration after space", []byte(` <?xml version="1.0"?><a/>`), Limits{}, errs.MalformedXML, "XML declaration"},
		{"XML declaration inside", []byte(`<a><?xml version="1.0"?></a>`), Limits{}, errs.MalformedXML, "XML declaration"},
		{"reserved PI target", []byte(`<a><?XmL x?></a>`), Limits{}, errs.MalformedXML, "XML declaration"},
		{"declaration without version", []byte(`<?xml encoding="UTF-8"?><a/>`), Limits{}, errs.MalformedXML, "without version"},
		{"XML 1.1", []byte(`<?xml version="1.1"?><a/>`), Limits{}, errs.MalformedXML, ""},
		{"Latin-1 declared", []byte("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xe9</a>"), Limits{}, errs.MalformedXML, "only UTF-8 documents"},
		{"UTF-16 declared", []byte(`<?xml version="1.0" encoding="UTF-16"?><a/>`), Limits{}, errs.MalformedXML, "only UTF-8 documents"},
		{"UTF-16 bytes", []byte("\xff\xfe<\x00a\x00/\x00>\x00"), Limits{}, errs.MalformedXML, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, err := ReadDocument(c.in, c.lim)
			if c.code == "" {
				if err != nil || doc == nil || doc.Root() == nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var e *errs.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v (doc %v), want %s", err, doc != nil, c.code)
			}
			if e.Code != c.code || !strings.Contains(e.Message(), c.msg) {
				t.Errorf("got %s %q, want %s containing %q", e.Code, e.Message(), c.code, c.msg)
			}
			if doc != nil {
				t.Error("document returned with an error")
			}
		})
	}
}

func manyAttrs(n int, dup bool) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("a")
		b.WriteString(strings.Repeat("x", i))
		b.WriteString(`="1" `)
	}
	if dup {
		b.WriteString(`axxx="2"`)
	}
	return b.String()
}

// The samples all read; the byte-level result does not depend on the BOM.
func TestReadDocumentSamples(t *testing.T) {
	for _, f := range samples(t) {
		b := readSampleFile(t, f)
		_, err := ReadDocument(b, DefaultLimits())
		_, errBOM := ReadDocument(append([]byte("\xEF\xBB\xBF"), b...), DefaultLimits())
		if (err == nil) != (errBOM == nil) {
			t.Errorf("%s: BOM changes the result: %v vs %v", f, err, errBOM)
		}
		// Only edoc.edxml may fail: it opens <From> twice and closes it once.
		if wantErr := filepath.Base(f) == "edoc.edxml"; (err != nil) != wantErr || err != nil && !errs.Is(err, errs.MalformedXML) {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestReadLimited(t *testing.T) {
	in := strings.Repeat("x", 100)
	if b, err := ReadLimited(strings.NewReader(in), 100); err != nil || len(b) != 100 {
		t.Errorf("at the limit: %d, %v", len(b), err)
	}
	if _, err := ReadLimited(strings.NewReader(in), 99); !errs.Is(err, errs.TooLarge) {
		t.Errorf("one byte over: %v", err)
	}
	if b, err := ReadLimited(strings.NewReader(in), 0); err != nil || len(b) != 100 {
		t.Errorf("default limit: %d, %v", len(b), err)
	}
	if _, err := ReadLimited(iotest.ErrReader(errors.New("boom")), 10); err == nil || errs.CodeOf(err) == errs.Internal {
		t.Errorf("read error: %v", err)
	}
}
