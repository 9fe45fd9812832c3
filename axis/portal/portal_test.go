package portal

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"axis/axis/registry"
	"axis/axis/token"
	"axis/envelope"
	"axis/store"
	"axis/store/audit"
)

func mustContain(t *testing.T, p page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(p.body, s) {
			t.Errorf("page (status %d) lacks %q", p.status, s)
		}
	}
}

func mustNotContain(t *testing.T, p page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(p.body, s) {
			t.Errorf("page (status %d) contains %q", p.status, s)
		}
	}
}

func TestHomeShowsStatisticsOnly(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	p := c.get("/")
	if p.status != 200 {
		t.Fatalf("GET / = %d", p.status)
	}
	mustContain(t, p, `<html lang="vi">`, "Thống kê liên thông văn bản", `id="stat-all">4<`, `id="stat-today">4<`,
		`id="stat-month">4<`, `id="stat-agencies">13<`, `id="stat-statuses">2<`, "Văn phòng Chính phủ", "Bộ Công an",
		`<svg viewBox="0 0 640 220"`)
	if n := strings.Count(p.body, `<rect class="bar"`); n != 30 {
		t.Errorf("chart has %d bars, want 30", n)
	}
	// The last bar (today) is the tallest: 4 documents.
	if !strings.Contains(p.body, `height="180"><title>`) {
		t.Errorf("today's bar is not full height")
	}
	// Public: no document details at all.
	mustNotContain(t, p, decreeSubj, "1234/NĐ-CP", "Báo cáo tình hình", "Công văn mật", "/documents/")
	// Ranking: G22 (2 sent) and G01 (3 received) lead; Bộ Tài chính (1 sent) is listed after.
	if i, j := strings.Index(p.body, "Bộ Công an"), strings.Index(p.body, "Bộ Tài chính"); i < 0 || j < 0 || i > j {
		t.Errorf("busiest agencies out of order")
	}
}

func TestLanguageSwitch(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn(t, f.tok[police])
	p := c.get("/inbox?lang=en")
	mustContain(t, p, `<html lang="en">`, "Inbox", "Signed in as:", "Sign out", "Accepted", `hreflang="vi"`)
	mustNotContain(t, p, "Văn bản đến", "⟦")
	// The cookie keeps the choice.
	p = c.get("/")
	mustContain(t, p, "Documents today", "Busiest agencies")
	// Dates in each language, in Vietnam time.
	now := time.Now().In(vietnam)
	p = c.get(docURL(decreeID, ""))
	mustContain(t, p, now.Format("02 Jan 2006"), "Timeline per recipient", "Accepted (03)", "by Bộ Công an", "Hà Nội, 22 Nov 2026")
	p = c.get("/?lang=vi")
	mustContain(t, p, `<html lang="vi">`, "Văn bản hôm nay")
	p = c.get(docURL(decreeID, ""))
	mustContain(t, p, now.Format("02/01/2006"), "Diễn biến theo từng nơi nhận", "Đã tiếp nhận (03)", "bởi Bộ Công an")
	if !regexp.MustCompile(`\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}`).MatchString(p.body) {
		t.Errorf("no dd/MM/yyyy HH:mm:ss date in the Vietnamese page")
	}
	// An unknown language is ignored, not reflected.
	p = c.get("/?lang=xx")
	mustContain(t, p, `<html lang="vi">`)
}

func TestMessagesComplete(t *testing.T) {
	for k, m := range messages {
		if strings.TrimSpace(m[0]) == "" || strings.TrimSpace(m[1]) == "" {
			t.Errorf("message %q lacks a translation", k)
		}
	}
	for _, s := range append(allStates, "") {
		if s != "" && strings.HasPrefix(Vi.T("state."+string(s)), "⟦") {
			t.Errorf("state %q has no label", s)
		}
	}
	tests := []struct {
		l    Lang
		n    uint64
		want string
	}{{Vi, 100000, "100.000"}, {En, 100000, "100,000"}, {Vi, 7, "7"}, {En, 1234567, "1,234,567"}}
	for _, tt := range tests {
		if got := tt.l.Num(tt.n); got != tt.want {
			t.Errorf("%s.Num(%d) = %q, want %q", tt.l, tt.n, got, tt.want)
		}
	}
	at := time.Date(2026, 11, 22, 1, 5, 0, 0, time.UTC) // 08:05 in Vietnam
	if got := Vi.Date(at); got != "22/11/2026 08:05" {
		t.Errorf("Vi.Date = %q", got)
	}
	if got := En.Date(at); got != "22 Nov 2026 08:05" {
		t.Errorf("En.Date = %q", got)
	}
	if got := Vi.Duration(1500 * time.Millisecond); got != "1,5 giây" {
		t.Errorf("Vi.Duration = %q", got)
	}
	if got := En.Duration(125 * time.Second); got != "2 min 5 s" {
		t.Errorf("En.Duration = %q", got)
	}
}

// Every page, in both languages, renders without a missing message.
func TestEveryPageBothLanguages(t *testing.T) {
	f := newFixture(t)
	if _, err := f.st.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"vi", "en"} {
		c := f.signedIn(t, f.auditor)
		for _, path := range []string{"/", "/login", "/inbox", "/inbox?agency=" + police, "/outbox?agency=" + govOffice,
			docURL(decreeID, ""), "/audit", "/audit?doc=" + url.QueryEscape(decreeID), "/nope"} {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			p := c.get(path + sep + "lang=" + lang)
			if p.status != 200 && !(path == "/nope" && p.status == 404) {
				t.Errorf("%s %s = %d", lang, path, p.status)
			}
			mustContain(t, p, `<html lang="`+lang+`">`, `<meta charset="utf-8">`)
			mustNotContain(t, p, "⟦", "<script")
			if ct := p.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("%s: Content-Type %q", path, ct)
			}
		}
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	p := c.get("/login?next=" + url.QueryEscape("/outbox?q=a"))
	if p.status != 200 {
		t.Fatalf("GET /login = %d", p.status)
	}
	form := hidden(t, p.body, "form")
	var lc *http.Cookie
	for _, ck := range c.hc.Jar.Cookies(c.url.ResolveReference(&url.URL{Path: "/login"})) {
		if ck.Name == loginCookie {
			lc = ck
		}
	}
	if lc == nil || lc.Value != form {
		t.Fatalf("login form token is not the double-submit cookie")
	}

	// No or another form token: 403, nothing set.
	for _, bad := range []string{"", "00" + form[2:]} {
		p = c.post("/login", url.Values{"token": {f.tok[police]}, "form": {bad}}, nil)
		if p.status != http.StatusForbidden {
			t.Errorf("login with form token %q = %d, want 403", bad, p.status)
		}
	}
	// A wrong token: 401 and the form again.
	p = c.post("/login", url.Values{"token": {"nope"}, "form": {form}, "next": {"/outbox?q=a"}}, nil)
	if p.status != http.StatusUnauthorized {
		t.Errorf("bad token = %d", p.status)
	}
	mustContain(t, p, "Mã truy cập không hợp lệ hoặc đã hết hạn.")
	form = hidden(t, p.body, "form")

	req, _ := http.NewRequest("POST", f.srv.URL+"/login", strings.NewReader(url.Values{"token": {f.tok[police]}, "form": {form},
		"next": {"/outbox?q=a"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/outbox?q=a" {
		t.Fatalf("login = %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == sessionCookie {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" || sc.Secure || sc.MaxAge <= 0 {
		t.Fatalf("session cookie %+v", sc)
	}
	p = c.get("/outbox")
	mustContain(t, p, "Đang đăng nhập:", "Bộ Công an")
}

func TestLoginNextIsLocal(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/inbox", "/inbox"}, {"/documents/a%2Fb?sha=1", "/documents/a%2Fb?sha=1"}, {"//evil.example/", ""},
		{"https://evil.example/", ""}, {"/\\evil.example", ""}, {"inbox", ""}, {"", ""}, {"/a\r\nSet-Cookie: x", ""},
	} {
		if got := localPath(tt.in); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/inbox", "//evil", "/\\evil", "https://x", "/a?b=//c", "/%2F%2Fevil", " /x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := localPath(s)
		if got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("localPath(%q) = %q is not a local path", s, got)
		}
		// What a browser would resolve it to stays on the site.
		base, _ := url.Parse("https://axis.example/login")
		if r := base.ResolveReference(u); r.Host != "axis.example" {
			t.Fatalf("localPath(%q) = %q leaves the site: %s", s, got, r)
		}
	})
}

// Over TLS, or behind a TLS-terminating proxy (SecureCookies, plain HTTP here), every
// cookie is Secure and HSTS is sent.
func TestSecureCookieOverTLS(t *testing.T) {
	f := newFixture(t)
	proxied, err := New(Config{Store: f.st, Registry: f.reg, Keyring: f.keys, Logger: zaptest.NewLogger(t), SecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		portal  http.Handler
		overTLS bool
	}{{"TLS", f.portal, true}, {"SecureCookies", proxied, false}} {
		t.Run(tc.name, func(t *testing.T) {
			get := httptest.NewRequest("GET", "https://axis.example/login", nil)
			if tc.overTLS {
				get.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			tc.portal.ServeHTTP(w, get)
			form := hidden(t, w.Body.String(), "form")
			if w.Header().Get("Strict-Transport-Security") == "" {
				t.Errorf("no HSTS")
			}
			for _, ck := range w.Result().Cookies() {
				if !ck.Secure {
					t.Errorf("cookie %s not Secure", ck.Name)
				}
			}
			post := httptest.NewRequest("POST", "https://axis.example/login", strings.NewReader(url.Values{"token": {f.auditor}, "form": {form}}.Encode()))
			post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			post.AddCookie(&http.Cookie{Name: loginCookie, Value: form})
			if tc.overTLS {
				post.TLS = &tls.ConnectionState{}
			}
			w = httptest.NewRecorder()
			tc.portal.ServeHTTP(w, post)
			if w.Code != http.StatusSeeOther {
				t.Fatalf("login = %d", w.Code)
			}
			n := 0
			for _, ck := range w.Result().Cookies() {
				if !ck.Secure {
					t.Errorf("cookie %s not Secure: %+v", ck.Name, ck)
				}
				if ck.Name == sessionCookie {
					n++
				}
			}
			if n != 1 {
				t.Errorf("no session cookie")
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn(t, f.tok[police])
	p := c.get("/inbox")
	csrf := hidden(t, p.body, "csrf")

	tests := []struct {
		name string
		form url.Values
		hdr  map[string]string
		want int
	}{
		{"no token", url.Values{}, nil, 403},
		{"wrong token", url.Values{"csrf": {strings.Repeat("0", 64)}}, nil, 403},
		{"cross-site fetch", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign origin", url.Values{"csrf": {csrf}}, map[string]string{"Origin": "https://evil.example"}, 403},
		{"right token, same origin", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "same-origin"}, 303},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := c.post("/logout", tt.form, tt.hdr)
			if p.status != tt.want {
				t.Fatalf("POST /logout = %d, want %d", p.status, tt.want)
			}
			if tt.want == 403 {
				mustContain(t, p, "Yêu cầu bị từ chối")
			}
		})
	}
	// Signed out now: the cookie is gone.
	if p := c.get("/inbox"); p.status != http.StatusSeeOther {
		t.Errorf("after logout GET /inbox = %d", p.status)
	}
	// The login form is protected the same way against cross-site posts.
	lc := f.client(t)
	form := hidden(t, lc.get("/login").body, "form")
	p = lc.post("/login", url.Values{"token": {f.auditor}, "form": {form}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if p.status != 403 {
		t.Errorf("cross-site login = %d", p.status)
	}
	// Another session's token does not work either (bound to the session by HMAC).
	other := f.signedIn(t, f.tok[ngheAn])
	if p := other.post("/logout", url.Values{"csrf": {csrf}}, nil); p.status != 403 {
		t.Errorf("logout with another session's token = %d", p.status)
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	f := newFixture(t)
	btcDoc := "000.00.00.G12,2026/11/22,9/BTC"
	att := func(id, cid string) string { return docURL(id, "") + "/attachments/" + url.PathEscape(cid) }
	tests := []struct {
		who  string // "" no session, "auditor", or an agency id
		path string
		want int
	}{
		{"", "/", 200},
		{"", "/inbox", 303},
		{"", "/outbox", 303},
		{"", docURL(decreeID, ""), 303},
		{"", att(decreeID, "cid:1"), 303},
		{"", "/audit", 303},
		{"bad-token", "/inbox", 303},
		{police, "/inbox", 200},
		{police, "/inbox?agency=" + police, 200},
		{police, "/inbox?agency=" + ngheAn, 404},
		{police, "/audit", 404},
		{police, docURL(decreeID, ""), 200},
		{police, docURL(btcDoc, ""), 200},
		{police, att(btcDoc, "cid:1"), 200},
		{ngheAn, docURL(decreeID, ""), 200},
		{ngheAn, att(decreeID, "cid:1"), 200},
		{ngheAn, docURL(btcDoc, ""), 404},
		{ngheAn, att(btcDoc, "cid:1"), 404},
		{ngheAn, "/documents/" + btcDoc, 404}, // unescaped slashes too
		{finance, docURL(decreeID, ""), 404},
		{finance, att(decreeID, "cid:1"), 404},
		{finance, att(decreeID, "cid:9"), 404},
		{finance, docURL(btcDoc, ""), 200},
		{police, att(decreeID, "cid:9"), 404},
		{police, docURL("no such document", ""), 404},
		{"auditor", "/inbox", 200},
		{"auditor", "/inbox?agency=" + ngheAn, 200},
		{"auditor", "/inbox?agency=nope", 404},
		{"auditor", docURL(btcDoc, ""), 200},
		{"auditor", att(btcDoc, "cid:1"), 404}, // parties only
		{"auditor", "/audit", 200},
		{"auditor", "/nope", 404},
	}
	for _, tt := range tests {
		var c *client
		switch tt.who {
		case "":
			c = f.client(t)
		case "auditor":
			c = f.signedIn(t, f.auditor)
		case "bad-token":
			c = f.signedIn(t, "forged.token")
		default:
			c = f.signedIn(t, f.tok[tt.who])
		}
		p := c.get(tt.path)
		if p.status != tt.want {
			t.Errorf("%s GET %s = %d, want %d", tt.who, tt.path, p.status, tt.want)
			continue
		}
		if p.status == 303 {
			loc := p.header.Get("Location")
			if !strings.HasPrefix(loc, "/login?next=") {
				t.Errorf("%s GET %s redirects to %q", tt.who, tt.path, loc)
			}
		}
		if p.status == 404 {
			mustNotContain(t, p, "Công văn mật", decreeSubj)
		}
	}
	// A list never shows another agency's documents.
	p := f.signedIn(t, f.tok[ngheAn]).get("/inbox")
	mustContain(t, p, decreeSubj)
	mustNotContain(t, p, "Công văn mật")
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn(t, f.tok[police])
	for _, path := range []string{"/", "/login", "/inbox", "/outbox", docURL(decreeID, ""), docURL(decreeID, "") + "/attachments/cid:1",
		"/audit", "/nope", "/static/style.css"} {
		p := c.get(path)
		h := p.header
		csp := h.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "style-src 'self'", "img-src 'self' data:", "form-action 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, d)
			}
		}
		if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows scripts or inline: %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	// Redirects and refusals carry them too.
	p := f.client(t).get("/inbox")
	if p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("Content-Security-Policy") == "" {
		t.Errorf("redirect lacks security headers")
	}
}

func TestAttachmentDownload(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn(t, f.tok[tayNinh])
	p := c.get(docURL(decreeID, ""))
	// The page links the download; follow the link it gives.
	m := regexp.MustCompile(`href="(/documents/[^"]*/attachments/cid:1[^"]*)"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no attachment link in the document page")
	}
	link := strings.ReplaceAll(m[1], "&amp;", "&")
	p = c.get(link)
	if p.status != 200 || p.body != attTextBody {
		t.Fatalf("GET %s = %d %q", link, p.status, p.body)
	}
	if ct := p.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := p.header.Get("Content-Disposition"); cd != "attachment; filename*=utf-8''1234-N%C4%90-CP%20to%C3%A0n%20v%C4%83n.txt" {
		t.Errorf("Content-Disposition %q", cd)
	}
	if p.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("no nosniff")
	}
	// An HTML attachment is still a download, in a sandbox.
	p = c.get(docURL(decreeID, "") + "/attachments/cid:2")
	if p.status != 200 || p.body != attHTMLBody || !strings.HasPrefix(p.header.Get("Content-Disposition"), "attachment;") ||
		!strings.Contains(p.header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("HTML attachment: %d %v", p.status, p.header)
	}
}

func TestDocumentPage(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn(t, f.tok[police])
	p := c.get(docURL(decreeID, ""))
	if p.status != 200 {
		t.Fatalf("status %d", p.status)
	}
	mustContain(t, p, decreeSubj, `<span class="badge urgent">Khẩn</span>`, "Khẩn (mức 1)", "<code>"+decreeID+"</code>",
		"Văn phòng Chính phủ", "UBND tỉnh Nghệ An", "UBND tỉnh Tây Ninh", "Thủ tướng Chính phủ", "Hà Nội, 22/11/2026", "31/12/2026",
		// the timeline of G01: two statuses, who sent them, the description
		`id="timeline-000.00.00.G01"`, "Đã đến (01)", "Đã tiếp nhận (03)", "bởi Bộ Công an", "Đã tiếp nhận, chuyển Vụ Pháp chế",
		// the attachments
		"1234-NĐ-CP toàn văn.txt", "Toàn văn nghị định", "x.html",
		// the revision chain: the update
		"Các gói tin sau đó:", `<span class="badge biz">Cập nhật</span>`, "000.00.00.G22,2026/11/23,1235/NĐ-CP",
		// the receipt, collapsed and escaped
		`<details class="receipt">`, "&lt;Receipt&gt;&lt;Seq&gt;", "&amp;lt;b&amp;gt;")
	// The state of G01 is accepted; the others have no status yet.
	if !strings.Contains(p.body, `<span class="state state-accepted">Đã tiếp nhận</span>`) {
		t.Errorf("G01 current state not shown")
	}
	// The update links back to what it updates.
	p = c.get(docURL("000.00.00.G22,2026/11/23,1235/NĐ-CP", ""))
	mustContain(t, p, "Gói tin này cập nhật văn bản:", `href="/documents/`+url.PathEscape(decreeID)+`?sha=`)
}

func TestListFiltersAndPaging(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn(t, f.tok[police])
	count := func(p page) int { return strings.Count(p.body, `<a href="/documents/`) }
	tests := []struct {
		query string
		want  int
		has   string
	}{
		{"", 3, decreeSubj},
		{"?counterpart=" + finance, 1, "Công văn mật"},
		{"?q=1235", 1, "Cập nhật nghị định 1234"},
		{"?q=" + url.QueryEscape("CÔNG VĂN"), 1, "Công văn mật"},
		{"?status=accepted", 1, decreeSubj},
		{"?status=pending", 2, "Cập nhật nghị định 1234"},
		{"?until=2020-01-01", 0, "Không có văn bản nào."},
		{"?since=" + time.Now().In(vietnam).Format("2006-01-02"), 3, decreeSubj},
		{"?since=" + time.Now().In(vietnam).AddDate(0, 0, 1).Format("2006-01-02"), 0, "Không có văn bản nào."},
	}
	for _, tt := range tests {
		p := c.get("/inbox" + tt.query)
		if p.status != 200 || count(p) != tt.want {
			t.Errorf("inbox%s: %d, %d rows, want %d", tt.query, p.status, count(p), tt.want)
		}
		mustContain(t, p, tt.has)
	}
	if p := c.get("/inbox?status=bogus"); p.status != 400 {
		t.Errorf("bad status = %d", p.status)
	}
	if p := c.get("/inbox?since=yesterday"); p.status != 400 {
		t.Errorf("bad date = %d", p.status)
	}
	// The urgent badge is on the decree row only.
	p := c.get("/inbox")
	if n := strings.Count(p.body, `class="badge urgent"`); n != 1 {
		t.Errorf("%d urgent badges, want 1", n)
	}
	// Outbox of G22 shows the recipients.
	p = f.signedIn(t, f.tok[govOffice]).get("/outbox")
	mustContain(t, p, "Bộ Công an; UBND tỉnh Nghệ An; UBND tỉnh Tây Ninh")
	if count(p) != 2 {
		t.Errorf("G22 outbox: %d rows", count(p))
	}
}

func TestPagingAndOrder(t *testing.T) {
	f := newFixture(t)
	for i := range 55 {
		accept(t, f.st, doc{ID: "000.00.00.H53,2026/11/22," + itoa3(i) + "/UBND", From: tayNinh, To: []string{ngheAn},
			Subject: "Công văn số " + itoa3(i), Notation: "UBND"})
	}
	c := f.signedIn(t, f.tok[ngheAn])
	p := c.get("/inbox?counterpart=" + tayNinh)
	if n := strings.Count(p.body, `<a href="/documents/`); n != pageSize {
		t.Fatalf("first page: %d rows", n)
	}
	// Newest first: 054 before 005.
	if strings.Index(p.body, "Công văn số 054") > strings.Index(p.body, "Công văn số 010") {
		t.Errorf("first page not newest first")
	}
	m := regexp.MustCompile(`href="(/inbox\?[^"]*cursor=[^"]*)" rel="next"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no next link")
	}
	p = c.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if n := strings.Count(p.body, `<a href="/documents/`); n != 5 {
		t.Errorf("second page: %d rows, want 5", n)
	}
	mustContain(t, p, "Công văn số 004", "Công văn số 000", "← Trang đầu")
	mustNotContain(t, p, "Công văn số 005", `rel="next"`)
	// Oldest first across pages: the first page starts at 000, its next page holds
	// 050–054 oldest first, and nothing is shown twice or skipped.
	p = c.get("/inbox?counterpart=" + tayNinh + "&sort=oldest")
	mustContain(t, p, "Công văn số 000", "Công văn số 049")
	mustNotContain(t, p, "Công văn số 050")
	if strings.Index(p.body, "Công văn số 000") > strings.Index(p.body, "Công văn số 001") {
		t.Errorf("oldest first not applied")
	}
	m = regexp.MustCompile(`href="(/inbox\?[^"]*cursor=[^"]*)" rel="next"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no next link, oldest first")
	}
	p = c.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if n := strings.Count(p.body, `<a href="/documents/`); n != 5 {
		t.Errorf("second page oldest first: %d rows, want 5", n)
	}
	mustContain(t, p, "Công văn số 050", "Công văn số 054")
	mustNotContain(t, p, "Công văn số 049", `rel="next"`)
	if strings.Index(p.body, "Công văn số 050") > strings.Index(p.body, "Công văn số 054") {
		t.Errorf("second page not oldest first")
	}
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestEscaping(t *testing.T) {
	reg, err := registry.Parse([]byte(`{"agencies":[{"id":"000.00.00.G01","name":"Bộ <script>alert(1)</script> Công an"},
		{"id":"000.00.00.G22","name":"Văn phòng \"Chính phủ\" <b>"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), store.Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys := token.New([]byte("0123456789abcdef0123456789abcdef"))
	p, err := New(Config{Store: st, Registry: reg, Keyring: keys, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	f := &fixture{st: st, reg: reg, keys: keys, portal: p, srv: srv}
	evilID := `000.00.00.G22,2026/11/22,1/"><script>alert(2)</script>`
	accept(t, st, doc{ID: evilID, From: govOffice, To: []string{police}, Subject: xss, Notation: `<i>`,
		Attachments: []envelope.Attachment{{ContentID: `cid:"><x>`, AttachmentName: `<img src=x onerror=alert(3)>.txt`,
			ContentType: `text/html"><script>`, Content: "YQ=="}}})
	status(t, st, evilID, police, store.CodeRejected, `<script>alert(4)</script>`)
	tok, _ := keys.Issue(token.Claims{Auditor: true, Expires: time.Now().Add(time.Hour).Unix()})
	c := f.signedIn(t, tok)
	for _, path := range []string{"/", "/inbox?agency=" + police, "/outbox?agency=" + govOffice + "&q=" + url.QueryEscape(`"><script>`),
		docURL(evilID, ""), "/audit", "/audit?doc=" + url.QueryEscape(evilID),
		"/documents/" + url.PathEscape(`<script>alert(5)</script>`), "/login?next=" + url.QueryEscape(`/"><script>`)} {
		pg := c.get(path)
		if pg.status >= 500 {
			t.Errorf("%s = %d", path, pg.status)
		}
		if strings.Contains(pg.body, "<script") || strings.Contains(pg.body, "<img src=x") || strings.Contains(pg.body, "<b>") ||
			strings.Contains(pg.body, "<i>") || strings.Contains(pg.body, `"><x>`) {
			t.Errorf("%s: unescaped markup in the page", path)
		}
	}
	pg := c.get(docURL(evilID, ""))
	mustContain(t, pg, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "Bộ &lt;script&gt;alert(1)&lt;/script&gt; Công an",
		"&lt;script&gt;alert(4)&lt;/script&gt;")
	mustContain(t, pg, "Chỉ cơ quan gửi và cơ quan nhận tải được tệp đính kèm.") // the auditor gets no link
	mustNotContain(t, pg, "/attachments/")
	// The hostile attachment is still served to a party as a download of the safe default type.
	ptok, _ := keys.Issue(token.Claims{Agency: police, Expires: time.Now().Add(time.Hour).Unix()})
	c = f.signedIn(t, ptok)
	pg = c.get(docURL(evilID, ""))
	m := regexp.MustCompile(`href="(/documents/[^"]*/attachments/[^"]*)"`).FindStringSubmatch(pg.body)
	if m == nil {
		t.Fatal("no attachment link")
	}
	a := c.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if a.status != 200 || a.body != "a" || a.header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(a.header.Get("Content-Disposition"), "attachment;") {
		t.Errorf("hostile attachment: %d %q %v", a.status, a.body, a.header)
	}
}

func TestAuditPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.st.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	c := f.signedIn(t, f.auditor)
	p := c.get("/audit")
	if p.status != 200 {
		t.Fatalf("status %d", p.status)
	}
	head, _, _ := f.st.AuditHead(ctx)
	mustContain(t, p, `id="chain-status"`, "Chuỗi toàn vẹn:", "Chữ ký các điểm kiểm tra CHƯA được xác minh",
		"Điểm kiểm tra có chữ ký", "Tiếp nhận", "Trạng thái", decreeID)
	// The checkpoint is listed, attesting the event before it.
	mustContain(t, p, "<td data-label=\"Chứng thực đến sự kiện\">"+u(head-1)+"</td>")
	// Codes in the user's language: the statuses of G01, the update's business type.
	mustContain(t, p, "Đã đến (01)", "Đã tiếp nhận (03)", "Cập nhật "+decreeID)
	// Filter by document: only the decree's events (accepted + 2 statuses).
	p = c.get("/audit?doc=" + url.QueryEscape(decreeID))
	if n := strings.Count(p.body, `<td data-label="Loại">`); n != 3 {
		t.Errorf("doc filter: %d events, want 3", n)
	}
	// Filter by agency: G12 sent one document to G01.
	p = c.get("/audit?agency=" + finance)
	if n := strings.Count(p.body, `<td data-label="Loại">`); n != 1 {
		t.Errorf("agency filter: %d events, want 1", n)
	}
	if p := c.get("/audit?from=0"); p.status != 400 {
		t.Errorf("from=0 = %d", p.status)
	}
	// A window from seq 1 shows the start and links later events.
	p = c.get("/audit?from=1")
	mustContain(t, p, `<td data-label="Số">1</td>`)
	// Verification is cached by the audit head: a new event refreshes it.
	accept(t, f.st, doc{ID: "000.00.00.G22,2026/11/24,1/X", From: govOffice, To: []string{police}, Subject: "x"})
	p = c.get("/audit")
	mustContain(t, p, "Chuỗi toàn vẹn:", u(head+1))
}

func u(n uint64) string { return (&auditView{}).Seq(n) }

// FuzzDocumentPath: whatever the path under /documents/, the portal answers without a
// server error, and an agency never gets 200 for a document it is not a party to.
func FuzzDocumentPath(f *testing.F) {
	fx := newFixture(f)
	btc := "000.00.00.G12,2026/11/22,9/BTC"
	for _, s := range []string{url.PathEscape(decreeID), url.PathEscape(btc), btc, url.PathEscape(btc) + "/attachments/cid:1",
		decreeID + "/attachments/cid:1", "%zz", "a/attachments/", "/attachments/cid:1", url.PathEscape(decreeID) + "/attachments/%2e%2e",
		url.PathEscape(decreeID) + "?sha=00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		req, err := http.NewRequest("GET", "http://axis.example/documents/"+rest, nil)
		if err != nil {
			return
		}
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: fx.tok[ngheAn]})
		w := httptest.NewRecorder()
		fx.portal.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("/documents/%s = %d", rest, w.Code)
		}
		if w.Code == 200 && strings.Contains(w.Body.String(), "Công văn mật") || w.Body.String() == attTextBody && strings.Contains(rest, "BTC") {
			t.Fatalf("/documents/%s showed another agency's document to H41", rest)
		}
	})
}

// fakeSigner and fakeVerifier stand in for the axis identity: the verifier accepts what
// the signer marked, so the page's "signatures verified" path is exercised.
type fakeSigner struct{}

func (fakeSigner) Sign(doc []byte) ([]byte, error) {
	return append([]byte("<!--signed-->"), doc...), nil
}

type fakeVerifier struct{}

func (fakeVerifier) VerifyCheckpoint(b []byte) ([]byte, error) {
	doc, ok := bytes.CutPrefix(b, []byte("<!--signed-->"))
	if !ok {
		return nil, errors.New("not signed")
	}
	return doc, nil
}

func TestAuditCheckpointSignatures(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{Logger: zaptest.NewLogger(t), Checkpoints: fakeSigner{}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := loadRegistry(t)
	keys := token.New([]byte("0123456789abcdef0123456789abcdef"))
	for _, tt := range []struct {
		cv   audit.CheckpointVerifier
		want string
	}{{fakeVerifier{}, "Chữ ký các điểm kiểm tra đã được xác minh."}, {nil, "CHƯA được xác minh"}} {
		p, err := New(Config{Store: st, Registry: reg, Keyring: keys, Checkpoints: tt.cv, Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(p)
		f := &fixture{st: st, reg: reg, keys: keys, portal: p, srv: srv}
		accept(t, st, doc{ID: "000.00.00.G22,2026/11/22,1/X", From: govOffice, To: []string{police}, Subject: "x"})
		if _, err := st.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		tok, _ := keys.Issue(token.Claims{Auditor: true, Expires: time.Now().Add(time.Hour).Unix()})
		pg := f.signedIn(t, tok).get("/audit")
		mustContain(t, pg, "Chuỗi toàn vẹn:", tt.want)
		srv.Close()
	}
}

// slowVerify is a store whose verification waits for a gate (a huge log).
type slowVerify struct {
	*store.Store
	gate chan struct{}
}

func (s slowVerify) VerifyAudit(ctx context.Context, cv audit.CheckpointVerifier) (audit.Report, error) {
	select {
	case <-s.gate:
	case <-ctx.Done():
		return audit.Report{}, ctx.Err()
	}
	return s.Store.VerifyAudit(ctx, cv)
}

// A slow verification never holds a page longer than auditWait: the page says it is
// running, and shows the result once done; a newer head marks the old result stale.
func TestAuditVerificationInBackground(t *testing.T) {
	f := newFixture(t)
	gate := make(chan struct{})
	p, err := New(Config{Store: slowVerify{f.st, gate}, Registry: f.reg, Keyring: f.keys, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		req := httptest.NewRequest("GET", "/audit", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: f.auditor})
		w := httptest.NewRecorder()
		start := time.Now()
		p.ServeHTTP(w, req)
		if d := time.Since(start); w.Code != 200 || d > auditWait+2*time.Second {
			t.Fatalf("status %d after %v", w.Code, d)
		}
		return w.Body.String()
	}
	if body := get(); !strings.Contains(body, "Đang kiểm tra toàn bộ chuỗi băm") {
		t.Fatalf("no pending notice")
	}
	close(gate) // the refresh started by the first view finishes
	waitFor(t, func() bool { return strings.Contains(get(), "Chuỗi toàn vẹn: 6 sự kiện") })
	accept(t, f.st, doc{ID: "000.00.00.G22,2026/11/24,1/X", From: govOffice, To: []string{police}, Subject: "x"})
	waitFor(t, func() bool { return strings.Contains(get(), "Chuỗi toàn vẹn: 7 sự kiện") })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The CSRF key comes from the data directory's token secret: a logout form rendered
// before a restart (the daemon restarts itself to recover its store) still posts after
// it; another data directory's secret gives other tokens.
func TestCSRFOutlivesARestart(t *testing.T) {
	f := newFixture(t)
	restarted, err := New(Config{Store: f.st, Registry: f.reg, Keyring: f.keys, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Store: f.st, Registry: f.reg, Keyring: token.New([]byte("another data directory's secret")),
		Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	session := f.tok[police]
	if f.portal.csrfToken(session) != restarted.csrfToken(session) {
		t.Fatal("a restart changed the CSRF tokens")
	}
	if f.portal.csrfToken(session) == other.csrfToken(session) {
		t.Fatal("two data directories share CSRF tokens")
	}
}

// TestLogoutEndsTheSession: the cookie holds a session token, not the token signed in
// with; logging out ends that session for good (a copy of the cookie is refused), while
// the token signed in with, and another session opened with it, go on working.
func TestLogoutEndsTheSession(t *testing.T) {
	f := newFixture(t)
	signIn := func() (*client, string) {
		c := f.client(t)
		form := hidden(t, c.get("/login").body, "form")
		if p := c.post("/login", url.Values{"token": {f.tok[police]}, "form": {form}}, nil); p.status != http.StatusSeeOther {
			t.Fatalf("login = %d", p.status)
		}
		for _, ck := range c.hc.Jar.Cookies(c.url) {
			if ck.Name == sessionCookie {
				return c, ck.Value
			}
		}
		t.Fatal("no session cookie")
		return nil, ""
	}
	c, session := signIn()
	other, _ := signIn()
	if session == f.tok[police] {
		t.Fatal("the cookie holds the token signed in with: a logout could not end it without revoking that token")
	}
	cl, err := f.keys.Check(session, time.Now())
	if err != nil || cl.Agency != police || cl.Parent == "" || cl.Expires > time.Now().Add(12*time.Hour).Unix() {
		t.Fatalf("session claims %+v, %v: want the police's grant, a parent, at most 12 h", cl, err)
	}
	csrf := hidden(t, c.get("/inbox").body, "csrf")
	if p := c.post("/logout", url.Values{"csrf": {csrf}}, nil); p.status != http.StatusSeeOther {
		t.Fatalf("logout = %d", p.status)
	}
	copied := f.signedIn(t, session) // the cookie as it was, replayed
	if p := copied.get("/inbox"); p.status != http.StatusSeeOther {
		t.Errorf("a copy of the logged-out cookie: GET /inbox = %d, want 303 to /login", p.status)
	}
	if _, err := f.keys.Check(f.tok[police], time.Now()); err != nil {
		t.Errorf("the token signed in with no longer works after a logout: %v", err)
	}
	if p := other.get("/inbox"); p.status != 200 {
		t.Errorf("another session of the same token after a logout: GET /inbox = %d", p.status)
	}
	// A session token does not sign in again (it would outlive its logout's reach).
	lc := f.client(t)
	form := hidden(t, lc.get("/login").body, "form")
	if p := lc.post("/login", url.Values{"token": {session}, "form": {form}}, nil); p.status != http.StatusUnauthorized {
		t.Errorf("signing in with a session token = %d, want 401", p.status)
	}
}
