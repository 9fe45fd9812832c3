package envelope

import (
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// each resolves a child's namespace from its parent's when the child has the parent's
// prefix and declares nothing itself; it must pick exactly the children etree's
// NamespaceURI puts in the edXML namespace, whatever the declarations.
func TestEachMatchesNamespaceURI(t *testing.T) {
	const other = "urn:other"
	docs := []string{
		`<r xmlns="` + NS + `"><a/><b xmlns="` + other + `"/><c xmlns=""/><d/></r>`,
		`<r xmlns="` + other + `"><a/><b xmlns="` + NS + `"/><e:c xmlns:e="` + NS + `"/></r>`,
		`<e:r xmlns:e="` + NS + `"><e:a/><e:b xmlns:e="` + other + `"/><c/><f:d xmlns:f="` + NS + `"/><e:g/></e:r>`,
		`<e:r xmlns:e="` + other + `" xmlns="` + NS + `"><e:a/><b/><e:c xmlns:e="` + NS + `"/></e:r>`,
		`<r><a/><b xmlns="` + NS + `"/></r>`,
		`<x xmlns:e="` + NS + `"><e:r><e:a/><e:b xmlns:e="` + other + `"/><e:c/></e:r></x>`,
	}
	for _, src := range docs {
		doc, err := ReadDocument([]byte(src), DefaultLimits())
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		var parents []*etree.Element
		var walk func(e *etree.Element)
		walk = func(e *etree.Element) {
			parents = append(parents, e)
			for _, c := range e.ChildElements() {
				walk(c)
			}
		}
		walk(doc.Root())
		for _, e := range parents {
			var want, got []*etree.Element
			for _, c := range e.ChildElements() {
				if c.NamespaceURI() == NS {
					want = append(want, c)
				}
			}
			(&decoder{}).each(e, "", func(_, _ string, c *etree.Element) { got = append(got, c) })
			if !slices.Equal(got, want) {
				t.Errorf("%s: children of %s: each gave %d elements, NamespaceURI %d", src, e.FullTag(), len(got), len(want))
			}
		}
	}
}

func TestTrimXMLSpace(t *testing.T) {
	for _, s := range []string{"", " ", "\t\r\n ", "a", " a ", "\n\ta b\r\n", "\u00a0a\u00a0", " \v a\f ", "é \t", "\r\n\r\nx\r\n\r\n"} {
		if got, want := trimXMLSpace(s), strings.Trim(s, xmlSpace); got != want {
			t.Errorf("trimXMLSpace(%q) = %q, want %q", s, got, want)
		}
	}
}
