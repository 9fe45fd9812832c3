package portal

import (
	"axis/store"
	"regexp"
	"strings"
	"testing"
)

// On page 2 of the inbox (newest first), the "oldest first" toggle must start the
// oldest-first list from its beginning, not from page 2's cursor.
func TestSortToggleFromPage2StartsAtOldest(t *testing.T) {
	f := newFixture(t)
	for i := range 55 {
		accept(t, f.st, doc{ID: "000.00.00.H53,2026/11/22," + itoa3(i) + "/UBND", From: tayNinh, To: []string{ngheAn},
			Subject: "Công văn số " + itoa3(i), Notation: "UBND"})
	}
	c := f.signedIn(t, f.tok[ngheAn])
	p := c.get("/inbox?counterpart=" + tayNinh)
	m := regexp.MustCompile(`href="(/inbox\?[^"]*cursor=[^"]*)" rel="next"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatal("no next link")
	}
	p = c.get(strings.ReplaceAll(m[1], "&amp;", "&")) // page 2, newest first: 004..000
	s := regexp.MustCompile(`href="([^"]*)" id="sort-toggle"`).FindStringSubmatch(p.body)
	if s == nil {
		t.Fatal("no sort toggle")
	}
	toggle := strings.ReplaceAll(s[1], "&amp;", "&")
	p = c.get(toggle)
	if !strings.Contains(p.body, "Công văn số 000") {
		t.Errorf("sort toggle %s from page 2 does not start at the oldest document (000); rows shown: %v",
			toggle, regexp.MustCompile(`Công văn số \d+`).FindAllString(p.body, 5))
	}
}

// Every key page is balanced HTML (each opened element closed, in order).
func TestPagesBalanced(t *testing.T) {
	f := newFixture(t)
	status(t, f.st, decreeID, govOffice, store.CodeRecallRequest, "thu hồi")
	status(t, f.st, decreeID, police, store.CodeRecallAgreed, "ok")
	tagRe := regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>`)
	void := map[string]bool{"meta": true, "link": true, "input": true, "br": true, "img": true, "hr": true}
	check := func(name, body string) {
		body = regexp.MustCompile(`(?s)<pre>.*?</pre>`).ReplaceAllString(body, "")
		var stack []string
		for _, m := range tagRe.FindAllStringSubmatch(body, -1) {
			tag := strings.ToLower(m[2])
			if void[tag] || m[3] == "/" {
				continue
			}
			if m[1] == "" {
				stack = append(stack, tag)
				continue
			}
			if len(stack) == 0 || stack[len(stack)-1] != tag {
				t.Errorf("%s: </%s> closes %v", name, tag, stack)
				return
			}
			stack = stack[:len(stack)-1]
		}
		if len(stack) != 0 {
			t.Errorf("%s: unclosed %v", name, stack)
		}
	}
	for _, lang := range []string{"vi", "en"} {
		anon := f.client(t)
		check("home "+lang, anon.get("/?lang="+lang).body)
		check("login "+lang, anon.get("/login?lang="+lang).body)
		check("404 "+lang, anon.get("/nope?lang="+lang).body)
		g := f.signedIn(t, f.tok[govOffice])
		check("outbox "+lang, g.get("/outbox?lang="+lang).body)
		check("doc "+lang, g.get(docURL(decreeID, "")+"?lang="+lang).body)
		check("update "+lang, g.get(docURL("000.00.00.G22,2026/11/23,1235/NĐ-CP", "")+"?lang="+lang).body)
		a := f.signedIn(t, f.auditor)
		check("audit "+lang, a.get("/audit?lang="+lang).body)
		check("inbox pick "+lang, a.get("/inbox?lang="+lang).body)
		check("inbox "+lang, a.get("/inbox?agency="+police+"&lang="+lang).body)
		check("empty inbox "+lang, a.get("/inbox?agency="+finance+"&lang="+lang).body)
	}
}

// An original and its replacement under the same DocumentId are two rows of the inbox;
// each opens its own package (?sha=), not both the newest.
func TestListRowsOfSameIDOpenTheirOwnPackage(t *testing.T) {
	f := newFixture(t)
	id := "000.00.00.G22,2026/11/22,500/UBND"
	orig := accept(t, f.st, doc{ID: id, From: govOffice, To: []string{ngheAn}, Subject: "Bản gốc", Notation: "UBND"})
	repl := accept(t, f.st, doc{ID: id, From: govOffice, To: []string{ngheAn}, Subject: "Bản thay thế", Notation: "UBND", Business: 3})
	c := f.signedIn(t, f.tok[ngheAn])
	p := c.get("/inbox")
	for title, sha := range map[string]string{"Bản gốc": orig.SHA256, "Bản thay thế": repl.SHA256} {
		m := regexp.MustCompile(`<a href="([^"]*)">` + title + `</a>`).FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no row %q", title)
		}
		link := strings.ReplaceAll(m[1], "&amp;", "&")
		if !strings.HasSuffix(link, "?sha="+sha) {
			t.Fatalf("row %q links to %s, not its own package %s", title, link, sha[:12])
		}
		if doc := c.get(link); !strings.Contains(doc.body, title) {
			t.Fatalf("row %q opens another package", title)
		}
	}
}
