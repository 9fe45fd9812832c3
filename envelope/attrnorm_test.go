package envelope

import (
	"strings"
	"testing"
)

// XML 1.0 §3.3.3: in an attribute value each literal tab, LF or CR becomes a space,
// after §2.11 has made a CRLF pair one LF (so one space); characters written as
// references are kept. Text is not normalised (only its line ends). Both parser modes,
// ReadDocument and the etree reference (compareParsers) must agree on every row.
func TestAttributeValueNormalization(t *testing.T) {
	long := strings.Repeat("x", arenaMax) // decoded outside the arena
	for _, tc := range []struct {
		name, in, attr, text string
	}{
		{"tab", "<a v=\"x\ty\"/>", "x y", ""},
		{"LF", "<a v=\"x\ny\"/>", "x y", ""},
		{"CR", "<a v=\"x\ry\"/>", "x y", ""},
		{"CRLF is one space", "<a v=\"x\r\ny\"/>", "x y", ""},
		{"CR CR LF is two", "<a v=\"x\r\r\ny\"/>", "x  y", ""},
		{"LF CR is two", "<a v=\"x\n\ry\"/>", "x  y", ""},
		{"only whitespace, single quotes", "<a v='\t\n\r\n '/>", "    ", ""},
		{"at both ends", "<a v=\"\nx\t\"/>", " x ", ""},
		{"no collapsing", "<a v=\"  x \t\t y  \"/>", "  x    y  ", ""},
		{"after a run of plain bytes", "<a v=\"0123456789abcdef\n\"/>", "0123456789abcdef ", ""},
		{"references kept", `<a v="&#9;&#10;&#13;"/>`, "\t\n\r", ""},
		{"hex references kept", `<a v="&#x9;&#xA;&#xD;&#xd;&#xa;"/>`, "\t\n\r\r\n", ""},
		{"reference then literal", "<a v=\"&#13;\n&#10;\r\n&amp;\t\"/>", "\r \n & ", ""},
		{"non-ASCII around", "<a v=\"Hà Nội\r\nĐà Nẵng\"/>", "Hà Nội Đà Nẵng", ""},
		{"long value", "<a v=\"" + long + "\r\n" + long + "&#10;\"/>", long + " " + long + "\n", ""},
		{"text keeps tab and LF", "<a v=\"1\">x\ty\nz\r\nw&amp;\tv</a>", "1", "x\ty\nz\nw&\tv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compareParsers(t, []byte(tc.in))
			for _, strict := range []bool{false, true} {
				doc, _, err := parseXML([]byte(tc.in), 10, strict)
				if err != nil {
					t.Fatalf("strict %v: %v", strict, err)
				}
				if got := doc.Root().SelectAttrValue("v", "?"); got != tc.attr {
					t.Errorf("strict %v: attribute %q, want %q", strict, got, tc.attr)
				}
				if got := doc.Root().Text(); got != tc.text {
					t.Errorf("strict %v: text %q, want %q", strict, got, tc.text)
				}
			}
		})
	}
}

// The reference's own normalisation (normalizeAttrs) must touch attribute values only:
// not text, comments, PIs, CDATA, or the whitespace between attributes.
func TestNormalizeAttrsReference(t *testing.T) {
	in := "<?xml version=\"1.0\"?>\n<!-- \t\n --><a\n\tv=\"x\ty\r\nz\"\r\nw='\r'><?p \t?>t\t\n<![CDATA[\"\t\"]]><b u=\"&#10;\n\"/></a>\n"
	want := "<?xml version=\"1.0\"?>\n<!-- \t\n --><a\n\tv=\"x y z\"\r\nw=' '><?p \t?>t\t\n<![CDATA[\"\t\"]]><b u=\"&#10; \"/></a>\n"
	if got := string(normalizeAttrs([]byte(in))); got != want {
		t.Fatalf("normalizeAttrs:\n got %q\nwant %q", got, want)
	}
	if b := []byte("<a v='1'>\t</a>"); &normalizeAttrs(b)[0] != &b[0] {
		t.Fatal("an input with nothing to normalise was copied")
	}
}

// Build writes the tab, LF and CR of an attribute value as references, so that a
// package reads back as it was built (written literally they would read as spaces).
func TestBuildKeepsAttributeWhitespace(t *testing.T) {
	p := validPackage()
	p.ManifestVersion = "1\t2\n3\r4\r\n5 >'\"&<"
	b, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParsePackage(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.ManifestVersion != p.ManifestVersion {
		t.Fatalf("manifest version %q read back as %q from:\n%s", p.ManifestVersion, q.ManifestVersion, b)
	}
}
