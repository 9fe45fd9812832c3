package portal

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"axis/axis/registry"
	"axis/axis/token"
	"axis/envelope"
	"axis/store"
)

// Agencies of testdata/agencies.json.
const (
	govOffice = "000.00.00.G22" // Văn phòng Chính phủ
	police    = "000.00.00.G01" // Bộ Công an
	ngheAn    = "000.00.00.H41" // UBND tỉnh Nghệ An
	tayNinh   = "000.00.00.H53" // UBND tỉnh Tây Ninh
	finance   = "000.00.00.G12" // Bộ Tài chính: a party to nothing below
)

const (
	decreeID   = "000.00.00.G22,2026/11/22,1234/NĐ-CP"
	decreeSubj = "Nghị định quy định về quản lý, kết nối và chia sẻ dữ liệu số"
	xss        = `<script>alert("x")</script><img src=x onerror=alert(1)>`
)

func loadRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	reg, err := registry.Load("../../testdata/agencies.json")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// doc describes one package to accept into a test store.
type doc struct {
	ID, From, Subject, Notation string
	To                          []string
	Priority, Business          int
	Target                      string
	Attachments                 []envelope.Attachment
	At                          time.Time
}

// packageBytes builds the (unsigned: the store does not verify) edXML of d.
func packageBytes(t testing.TB, d doc) []byte {
	t.Helper()
	p := &envelope.Package{From: envelope.Organization{OrganID: d.From}, DocumentID: d.ID,
		Code: envelope.Code{CodeNumber: "1234", CodeNotation: d.Notation}, Subject: d.Subject,
		DocumentType: envelope.DocumentType{Type: "2", TypeName: "Nghị định"}, SteeringType: "1",
		SignerInfo: envelope.SignerInfo{FullName: "Thủ tướng Chính phủ"}, Attachments: d.Attachments,
		PromulgationInfo: envelope.PromulgationInfo{Place: "Hà Nội", PromulgationDate: "2026/11/22"}, DueDate: "2026/12/31"}
	for _, to := range d.To {
		p.To = append(p.To, envelope.Organization{OrganID: to})
	}
	for _, a := range d.Attachments {
		p.References = append(p.References, envelope.Reference{ContentID: a.ContentID, ContentType: a.ContentType, AttachmentName: a.AttachmentName})
	}
	if d.Business != 0 {
		p.Business = &envelope.Business{DocType: fmt.Sprint(d.Business), DocumentID: d.Target}
	}
	b, err := p.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func accept(t testing.TB, st *store.Store, d doc) store.AcceptResult {
	t.Helper()
	res, err := acceptErr(t, st, d)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// acceptErr is accept for other goroutines than the test's (no Fatal).
func acceptErr(t testing.TB, st *store.Store, d doc) (store.AcceptResult, error) {
	meta := store.DocumentMeta{DocumentID: d.ID, From: d.From, To: d.To, Subject: d.Subject, CodeNumber: "1234",
		CodeNotation: d.Notation, DocType: 2, DocTypeName: "Nghị định", Priority: d.Priority, BusinessType: d.Business, Target: d.Target}
	res, err := st.Accept(context.Background(), store.AcceptRequest{Meta: meta, Bytes: packageBytes(t, d),
		Receipt: func(seq uint64, at time.Time) ([]byte, error) {
			return fmt.Appendf(nil, `<Receipt><Seq>%d</Seq><Document>%s</Document><Note>&lt;b&gt;</Note></Receipt>`, seq, d.ID), nil
		}})
	if err != nil {
		return res, fmt.Errorf("accept %s: %w", d.ID, err)
	}
	return res, nil
}

func status(t testing.TB, st *store.Store, id, from, code, desc string) {
	t.Helper()
	_, err := st.RecordStatus(context.Background(), store.StatusRequest{DocumentID: id, From: from, Code: code, Description: desc,
		Bytes: fmt.Appendf(nil, "<Status><Id>%s</Id><From>%s</From><Code>%s</Code></Status>", id, from, code)})
	if err != nil {
		t.Fatalf("status %s %s: %v", code, from, err)
	}
}

// fixture is a store with a few documents, a keyring and a portal.
type fixture struct {
	st      *store.Store
	reg     *registry.Registry
	keys    *token.Keyring
	portal  *Portal
	srv     *httptest.Server
	auditor string
	tok     map[string]string // agency → token
}

var attText = envelope.Attachment{ContentID: "cid:1", AttachmentName: "1234-NĐ-CP toàn văn.txt", Description: "Toàn văn nghị định",
	ContentType: "text/plain; charset=utf-8", Content: base64.StdEncoding.EncodeToString([]byte(attTextBody))}
var attHTML = envelope.Attachment{ContentID: "cid:2", AttachmentName: "x.html", ContentType: "text/html",
	Content: base64.StdEncoding.EncodeToString([]byte(attHTMLBody))}

const (
	attTextBody = "Toàn văn nghị định số 1234/NĐ-CP"
	attHTMLBody = "<script>alert(1)</script>"
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, reg: loadRegistry(t), keys: token.New([]byte("0123456789abcdef0123456789abcdef")), tok: map[string]string{}}
	f.portal, err = New(Config{Store: st, Registry: f.reg, Keyring: f.keys, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.portal)
	t.Cleanup(f.srv.Close)
	exp := time.Now().Add(time.Hour).Unix()
	if f.auditor, err = f.keys.Issue(token.Claims{Auditor: true, Expires: exp}); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.reg.IDs() {
		if f.tok[a], err = f.keys.Issue(token.Claims{Agency: a, Expires: exp}); err != nil {
			t.Fatal(err)
		}
	}
	// The decree: G22 → G01, H41, H53, urgent, with attachments; statuses from G01.
	accept(t, st, doc{ID: decreeID, From: govOffice, To: []string{police, ngheAn, tayNinh}, Subject: decreeSubj,
		Notation: "NĐ-CP", Priority: 1, Attachments: []envelope.Attachment{attText, attHTML}})
	status(t, st, decreeID, police, store.CodeArrived, "")
	status(t, st, decreeID, police, store.CodeAccepted, "Đã tiếp nhận, chuyển Vụ Pháp chế")
	// An update of the decree, and an ordinary letter H41 → G22, and one G12 → G01 (H41 must never see it).
	accept(t, st, doc{ID: "000.00.00.G22,2026/11/23,1235/NĐ-CP", From: govOffice, To: []string{police, ngheAn, tayNinh},
		Subject: "Cập nhật nghị định 1234", Notation: "NĐ-CP", Business: 2, Target: decreeID})
	accept(t, st, doc{ID: "000.00.00.H41,2026/11/22,77/UBND-VP", From: ngheAn, To: []string{govOffice},
		Subject: "Báo cáo tình hình triển khai", Notation: "UBND-VP"})
	accept(t, st, doc{ID: "000.00.00.G12,2026/11/22,9/BTC", From: finance, To: []string{police},
		Subject: "Công văn mật của Bộ Tài chính " + xss, Notation: "BTC", Attachments: []envelope.Attachment{attText}})
	return f
}

// client is a browser-like client (cookie jar, no automatic redirects).
type client struct {
	t   testing.TB
	f   *fixture
	hc  *http.Client
	url *url.URL
}

func (f *fixture) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(f.srv.URL)
	return &client{t: t, f: f, url: u, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// signedIn is a client holding a session cookie for tok (set directly, as after /login).
func (f *fixture) signedIn(t testing.TB, tok string) *client {
	c := f.client(t)
	c.hc.Jar.SetCookies(c.url, []*http.Cookie{{Name: sessionCookie, Value: tok, Path: "/"}})
	return c
}

type page struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(req *http.Request) page {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *client) get(path string) page {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.f.srv.URL+path, nil)
	return c.do(req)
}

func (c *client) post(path string, form url.Values, hdr map[string]string) page {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.do(req)
}

var hiddenRe = regexp.MustCompile(`name="(form|csrf)" value="([^"]*)"`)

// hidden returns the value of the form/csrf hidden field of a page.
func hidden(t testing.TB, body, name string) string {
	t.Helper()
	for _, m := range hiddenRe.FindAllStringSubmatch(body, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	t.Fatalf("no hidden %q field in:\n%s", name, body)
	return ""
}

func hasBrowser() (string, bool) {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}
