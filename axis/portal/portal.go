// Package portal is the web portal of the axis daemon (SPEC §6): server-rendered HTML
// for clerks (their agency's inbox and outbox, a document's timeline) and auditors (every
// agency, the audit log), plus public statistics. It works without JavaScript (there is
// none), in Vietnamese first and English, and authorises exactly like the JSON API: the
// session cookie holds the same bearer token, checked by the same keyring.
package portal

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"axis/axis/errs"
	"axis/axis/registry"
	"axis/axis/token"
	"axis/envelope"
	"axis/store"
	"axis/store/audit"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Store is what the portal reads; *store.Store implements it.
type Store interface {
	Stats(ctx context.Context, now time.Time) (store.Stats, error)
	ListAgency(ctx context.Context, agency string, dir store.Direction, f store.Filter, cursor string, limit int) (store.Page, error)
	HasAgency(ctx context.Context, agency string) (bool, error)
	DocumentsByID(ctx context.Context, id string) ([]store.Document, error)
	Bytes(ctx context.Context, sha string) ([]byte, error)
	AuditHead(ctx context.Context) (seq uint64, hash string, err error)
	AuditSince(ctx context.Context, after uint64, limit int) ([]store.AuditLine, error)
	VerifyAudit(ctx context.Context, cv audit.CheckpointVerifier) (audit.Report, error)
}

// Config wires the portal to the daemon.
type Config struct {
	Store    Store
	Registry *registry.Registry
	Keyring  *token.Keyring
	// Checkpoints verifies the audit checkpoint signatures shown on /audit (the daemon's
	// verify.Checkpoints); nil reports them as not verified.
	Checkpoints audit.CheckpointVerifier
	Logger      *zap.Logger
	// Secret keys the CSRF tokens (default: derived from Keyring, so that a form
	// rendered before a restart still posts after it).
	Secret []byte
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxPackageBytes bounds the stored packages the portal parses (default 64 MiB).
	MaxPackageBytes int64
	// SecureCookies: the portal is reached over HTTPS through a proxy that terminates TLS,
	// so cookies are Secure and HSTS is sent though the connection here is plain HTTP.
	// (Without it, only a TLS connection to the portal itself does both.)
	SecureCookies bool
	// SessionTTL bounds a sign-in (default 12 h): the session's token expires then, or
	// with the token signed in with if that is sooner.
	SessionTTL time.Duration
}

// Portal is the portal's http.Handler.
type Portal struct {
	cfg   Config
	log   *zap.Logger
	pages map[string]*template.Template
	css   []byte
	mux   *http.ServeMux
	h     http.Handler

	auditMu    sync.Mutex
	auditCache auditCache
}

const (
	sessionCookie = "axis_session"
	loginCookie   = "axis_login_csrf" // double-submit cookie of the login form
	langCookie    = "lang"
	pageSize      = 50
)

// New builds the portal.
func New(cfg Config) (*Portal, error) {
	if cfg.Store == nil || cfg.Registry == nil || cfg.Keyring == nil {
		return nil, errors.New("portal: Store, Registry and Keyring are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.MaxPackageBytes <= 0 {
		cfg.MaxPackageBytes = 64 << 20
	}
	if len(cfg.Secret) == 0 { // from the data directory's token secret: forms outlive a restart
		cfg.Secret = cfg.Keyring.Derive("axis portal csrf")
	}
	p := &Portal{cfg: cfg, log: cfg.Logger, pages: map[string]*template.Template{}}
	var err error
	if p.css, err = fs.ReadFile(assets, "static/style.css"); err != nil {
		return nil, err
	}
	layout, err := template.New("layout.html").ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"home", "login", "list", "document", "audit", "error"} {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.pages[name] = t
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.serve(p.home))
	mux.HandleFunc("GET /static/style.css", p.styles)
	mux.HandleFunc("GET /login", p.serve(p.loginForm))
	mux.HandleFunc("POST /login", p.serve(p.login))
	mux.HandleFunc("POST /logout", p.serve(p.authed(p.logout)))
	mux.HandleFunc("GET /inbox", p.serve(p.authed(p.list(store.In))))
	mux.HandleFunc("GET /outbox", p.serve(p.authed(p.list(store.Out))))
	mux.HandleFunc("GET /documents/", p.serve(p.authed(p.documentOrAttachment)))
	mux.HandleFunc("GET /audit", p.serve(p.authed(p.audit)))
	mux.HandleFunc("/", p.serve(func(w http.ResponseWriter, r *http.Request) error {
		return errs.E(errs.NotFound, "no such page")
	}))
	p.mux = mux
	// Browsers say where a POST comes from (Sec-Fetch-Site, Origin): cross-site ones are
	// refused before any handler runs; the form tokens cover browsers that do not.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fail(w, r, errForbidden)
	}))
	p.h = cop.Handler(mux)
	return p, nil
}

// csp allows the stylesheet and nothing else: no script at all, no inline style.
const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP sets the security headers every response carries, then routes.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if p.secure(r) {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	p.h.ServeHTTP(w, r)
}

func (p *Portal) styles(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(p.css)
}

// errForbidden is a refused form (CSRF).
var errForbidden = errors.New("forbidden")

// handler returns its error; serve renders it as an error page in one place.
type handler func(w http.ResponseWriter, r *http.Request) error

func (p *Portal) serve(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r = p.withSession(r)
		if err := h(w, r); err != nil {
			p.fail(w, r, err)
		}
	}
}

func (p *Portal) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, errForbidden):
		status = http.StatusForbidden
	case errs.Is(err, errs.Unauthorized):
		p.toLogin(w, r)
		return
	default:
		status = errs.CodeOf(err).HTTPStatus()
	}
	key, ok := map[int]string{400: "err.400", 403: "err.403", 404: "err.404", 405: "err.405", 503: "err.503"}[status]
	switch {
	case ok:
	case status >= 500:
		p.log.Error("portal request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		key = "err.500"
	default:
		key = "err.400"
	}
	b := p.base(w, r, "err.title")
	b.Status = status
	p.render(w, status, "error", &errorPage{base: b, Message: b.Lang.T(key)})
}

type errorPage struct {
	*base
	Message string
}

// toLogin sends a visitor without a valid session to the login form, remembering where
// they were going (a local path only).
func (p *Portal) toLogin(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		p.clearCookie(w, r, sessionCookie, "/")
	}
	target := "/login"
	if r.Method == http.MethodGet {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// render executes a page into a buffer first, so a template error never sends half a page.
func (p *Portal) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.pages[name].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		p.log.Error("portal template failed", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// base is what every page's layout needs.
type base struct {
	Lang       Lang
	Title      string
	Status     int
	Claims     *token.Claims // nil when not signed in
	CSRF       string        // the logout form's token
	SwitchURL  string        // this page in the other language
	Active     string        // nav entry
	reg        *registry.Registry
	hasSession bool
}

// T and the helpers below are called from the templates.
func (b *base) T(key string) string                  { return b.Lang.T(key) }
func (b *base) Tf(key string, args ...any) string    { return b.Lang.Tf(key, args...) }
func (b *base) Date(t time.Time) string              { return b.Lang.Date(t) }
func (b *base) DateSec(t time.Time) string           { return b.Lang.DateSec(t) }
func (b *base) Num(n uint64) string                  { return b.Lang.Num(n) }
func (b *base) Agency(id string) string              { return b.reg.Name(id) }
func (b *base) State(s store.State) string           { return b.Lang.T("state." + string(s)) }
func (b *base) Recall(s store.Recall) string         { return b.Lang.T("recall." + string(s)) }
func (b *base) Business(n int) string                { return b.Lang.T("biz." + itoa(n)) }
func (b *base) Size(n int64) string                  { return b.Lang.Size(n) }
func (b *base) Auditor() bool                        { return b.Claims != nil && b.Claims.Auditor }
func (b *base) DocURL(id string) string              { return docURL(id, "") }
func (b *base) RefURL(id, sha string) string         { return docURL(id, sha) }
func (b *base) Agencies() []registry.Agency          { return b.reg.Agencies() }
func (b *base) StateCSS(s store.State) string        { return "state-" + string(s) }
func (b *base) Code(code string) string              { return b.codeLabel(code) }
func (b *base) Other() Lang                          { return map[Lang]Lang{Vi: En, En: Vi}[b.Lang] }
func (b *base) Short(s string, n int) string         { return short(s, n) }
func (b *base) Join(ids []string, sep string) string { return strings.Join(ids, sep) }

// PkgDate shows an edXML date (YYYY/MM/DD) in the user's language; anything else as it is.
func (b *base) PkgDate(s string) string {
	t, err := envelope.ParseDate(s)
	if err != nil {
		return s
	}
	if b.Lang == En {
		return t.Format("02 Jan 2006")
	}
	return t.Format("02/01/2006")
}

func (b *base) codeLabel(code string) string {
	if _, ok := messages["code."+code]; ok {
		return b.Lang.T("code." + code)
	}
	return code
}

func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func itoa(n int) string {
	if n >= 0 && n <= 3 {
		return string(rune('0' + n))
	}
	return "x"
}

// docURL links a document; the id is path-escaped whole ("/" too), so the attachment
// route can split on the next slash.
func docURL(id, sha string) string {
	u := "/documents/" + url.PathEscape(id)
	if sha != "" {
		u += "?sha=" + url.QueryEscape(sha)
	}
	return u
}

// base reads the language (setting the cookie when ?lang= asks) and the session.
func (p *Portal) base(w http.ResponseWriter, r *http.Request, titleKey string) *base {
	lang := Vi
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := parseLang(c.Value); ok {
			lang = l
		}
	}
	if l, ok := parseLang(r.URL.Query().Get("lang")); ok {
		lang = l
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: p.secure(r)})
	}
	b := &base{Lang: lang, reg: p.cfg.Registry}
	b.Title = lang.T(titleKey)
	if c, ok := claimsOf(r); ok {
		b.Claims = &c
		if s, err := r.Cookie(sessionCookie); err == nil {
			b.CSRF = p.csrfToken(s.Value)
		}
	}
	q := r.URL.Query()
	q.Set("lang", string(b.Other()))
	sw := *r.URL
	sw.RawQuery = q.Encode()
	if r.Method != http.MethodGet {
		sw.Path, sw.RawPath, sw.RawQuery = "/", "", "lang="+string(b.Other())
	}
	b.SwitchURL = sw.RequestURI()
	return b
}

// Sessions: the cookie holds a session token made from the token signed in with
// (token.Keyring.Session; HttpOnly, so scripts never read it), checked on every request
// like the Authorization header of the API. Logging out revokes that session token,
// never the token signed in with, which may be in use elsewhere.

type claimsKey struct{}

func claimsOf(r *http.Request) (token.Claims, bool) {
	c, ok := r.Context().Value(claimsKey{}).(token.Claims)
	return c, ok
}

// session returns the claims of a valid session cookie.
func (p *Portal) session(r *http.Request) (token.Claims, string, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return token.Claims{}, "", errs.E(errs.Unauthorized, "not signed in")
	}
	cl, err := p.cfg.Keyring.Check(c.Value, p.cfg.Now())
	if err != nil {
		return token.Claims{}, "", errs.Wrap(errs.Unauthorized, err, "bad session")
	}
	return cl, c.Value, nil
}

// withSession adds the claims of a valid session (if any) to the request.
func (p *Portal) withSession(r *http.Request) *http.Request {
	if cl, _, err := p.session(r); err == nil {
		return r.WithContext(context.WithValue(r.Context(), claimsKey{}, cl))
	}
	return r
}

// authed requires a valid session: without one, the visitor goes to /login.
func (p *Portal) authed(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, ok := claimsOf(r); !ok {
			return errs.E(errs.Unauthorized, "not signed in")
		}
		return h(w, r)
	}
}

// csrfToken is bound to the session: an attacker who cannot read the HttpOnly cookie
// cannot compute it.
func (p *Portal) csrfToken(session string) string {
	m := hmac.New(sha256.New, p.cfg.Secret)
	m.Write([]byte("axis portal csrf\x00"))
	m.Write([]byte(session))
	return hex.EncodeToString(m.Sum(nil))
}

func (p *Portal) checkCSRF(r *http.Request, session string) error {
	got := r.PostFormValue("csrf")
	if got == "" || !hmac.Equal([]byte(got), []byte(p.csrfToken(session))) {
		return errForbidden
	}
	return nil
}

func (p *Portal) clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: p.secure(r)})
}

// localPath accepts only a path on this site as a redirect target (no open redirect).
func localPath(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return ""
	}
	return s
}

// secure reports whether cookies are marked Secure and HSTS sent for r.
func (p *Portal) secure(r *http.Request) bool { return p.cfg.SecureCookies || r.TLS != nil }
