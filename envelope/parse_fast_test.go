package envelope

import (
	"fmt"
	"strings"
	"testing"

	"axis/axis/errs"
)

// The parser's fast paths (8-byte scan of plain runs, end tags matched against the open
// element, the string arena, pooled scratch) must decide and build exactly what the slow
// paths and the etree reference do. Each input goes through compareParsers (the
// differential check of FuzzParserMatchesEtree), and a row with a msg must be rejected
// with it in strict mode.
func TestParseXMLFastPaths(t *testing.T) {
	run := func(n int) string { return strings.Repeat("x", n) }
	type row struct{ name, in, msg string }
	var rows []row
	// A special byte at every offset of and after a run of plain bytes: the 8-byte loop
	// must stop exactly on it, in text and in both kinds of quoted values.
	for n := 0; n <= 20; n++ {
		rows = append(rows,
			row{fmt.Sprintf("text run %d then ref", n), "<a>" + run(n) + "&amp;" + run(n) + "</a>", ""},
			row{fmt.Sprintf("text run %d then CR", n), "<a>" + run(n) + "\r\n" + run(n) + "</a>", ""},
			row{fmt.Sprintf("text run %d then non-ASCII", n), "<a>" + run(n) + "é" + run(n) + "</a>", ""},
			row{fmt.Sprintf("text run %d then ]", n), "<a>" + run(n) + "]" + run(n) + "</a>", ""},
			row{fmt.Sprintf("text run %d then ]]>", n), "<a>" + run(n) + "]]>" + "</a>", "unescaped ]]>"},
			row{fmt.Sprintf("text run %d then control", n), "<a>" + run(n) + "\x01</a>", "illegal character code U+0001"},
			row{fmt.Sprintf("text run %d then bad UTF-8", n), "<a>" + run(n) + "\xff</a>", "invalid UTF-8"},
			row{fmt.Sprintf("text run %d then EOF", n), "<a>" + run(n), "unbalanced"},
			row{fmt.Sprintf("value run %d then other quote", n), `<a b="` + run(n) + `'` + run(n) + `" c='` + run(n) + `"'/>`, ""},
			row{fmt.Sprintf("value run %d then tab, LF, CR", n), "<a b=\"" + run(n) + "\t" + run(n) + "\" c='" + run(n) + "\n" + run(n) + "\r\n'/>", ""},
			row{fmt.Sprintf("value run %d then <", n), `<a b="` + run(n) + `<"/>`, "unescaped < inside quoted string"},
			row{fmt.Sprintf("value run %d then EOF", n), `<a b="` + run(n), "unexpected EOF"},
		)
	}
	rows = append(rows,
		// End tags: the fast match needs the open element's exact name followed by a
		// byte that cannot continue a name; everything else takes the full path.
		row{"end tag longer", `<ab></abc>`, "unbalanced or mismatched tags"},
		row{"end tag shorter", `<abc></ab>`, "unbalanced or mismatched tags"},
		row{"end tag with space", `<p:a xmlns:p="u"></p:a >`, ""},
		row{"end tag other prefix", `<p:a xmlns:p="u" xmlns:q="u"></q:a>`, "unbalanced or mismatched tags"},
		row{"end tag prefix only", `<p:a xmlns:p="u"></p>`, "unbalanced or mismatched tags"},
		row{"end tag local only", `<p:a xmlns:p="u"></a>`, "unbalanced or mismatched tags"},
		row{"end tag unprefixed vs prefixed", `<a></p:a>`, "unbalanced or mismatched tags"},
		row{"end tag longer local", `<p:a xmlns:p="u"></p:ab>`, "unbalanced or mismatched tags"},
		row{"end tag name then EOF", `<a></a`, "unexpected EOF"},
		row{"end tag name, space, EOF", `<a></a `, "unexpected EOF"},
		row{"end tag junk", `<a></a x>`, "invalid characters between </a and >"},
		row{"end tag prefixed junk", `<p:a xmlns:p="u"></p:a/>`, "invalid characters between </a and >"},
		row{"end tag non-ASCII", `<é><èé></èé></é>`, ""},
		row{"end tag non-ASCII longer", `<é></éé>`, "unbalanced or mismatched tags"},
		row{"end tag with dot", `<a></a.b>`, "unbalanced or mismatched tags"},
		row{"end tag without element", `</a>`, "unbalanced or mismatched tags"},
		row{"end tag invalid name", `<a></1a>`, "invalid XML name"},
		// The arena: strings longer than arenaMax stand alone, decoded ones too, and a
		// document larger than arenaChunk spreads over several chunks.
		row{"long text", "<a>" + run(3*arenaMax) + "</a>", ""},
		row{"long decoded text", "<a>" + strings.Repeat("x&lt;", arenaMax) + "</a>", ""},
		row{"long value", `<a b="` + run(3*arenaMax) + `" c="` + strings.Repeat("&amp;y", arenaMax) + `"/>`, ""},
		row{"many chunks", "<r>" + strings.Repeat("<e k='v&amp;w'>t&#233;xt\r\n<!--c--><?p i?><![CDATA[d]]></e>", 3*arenaChunk/50) + "</r>", ""},
	)
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			compareParsers(t, []byte(r.in))
			_, _, err := parseXML([]byte(r.in), 10, true)
			switch {
			case r.msg == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case r.msg != "" && err == nil:
				t.Fatalf("accepted, want %q", r.msg)
			case r.msg != "" && (errs.CodeOf(err) != errs.MalformedXML || !strings.Contains(err.Error(), r.msg)):
				t.Fatalf("got %v, want %s containing %q", err, errs.MalformedXML, r.msg)
			}
		})
	}
}

// A tree must not change after later parses: its strings live in chunks no later parse
// writes to, and the pooled scratch holds no part of it. Failed parses (which return the
// scratch mid-document) must leave nothing behind either.
func TestParseXMLTreesIndependent(t *testing.T) {
	docs := []string{
		"<r xmlns:p='u'>" + strings.Repeat("<p:e a='1&amp;2'>text &#233;<f/>\n  </p:e>", 200) + "</r>",
		"<a b='x'><c>y</c></a>",
		"<a><b><c>unterminated", // fails with scratch in use
		"<q xmlns='v'>" + strings.Repeat("<w>zz</w>", 50) + "</q>",
		"<a><b></c></a>", // fails in an end tag
	}
	var kept []string
	for round := 0; round < 3; round++ {
		for _, d := range docs {
			doc, _, err := parseXML([]byte(d), 10, true)
			if err != nil {
				continue
			}
			if round == 0 {
				// Compare later against fresh reference trees.
				kept = append(kept, d)
				defer func(d string) {
					ref, err := readEtree([]byte(d), Limits{MaxBytes: 1 << 20, MaxDepth: 10})
					if err != nil {
						t.Fatal(err)
					}
					if diff := diffDocs(ref, doc); diff != "" {
						t.Errorf("tree of %.30q changed after later parses: %s", d, diff)
					}
				}(d)
			}
		}
	}
	if len(kept) != 3 {
		t.Fatalf("%d documents accepted, want 3", len(kept))
	}
}
