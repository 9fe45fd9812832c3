package portal

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"axis/axis/errs"
	"axis/store"
)

// Home: public statistics only (counts, never a document's details).

type homePage struct {
	*base
	Stats    store.Stats
	Agencies uint64
	Chart    chart
	Busiest  []busy
}

type busy struct {
	ID, Name       string
	Sent, Received uint64
	Total, Max     uint64
}

func (p *Portal) home(w http.ResponseWriter, r *http.Request) error {
	st, err := p.cfg.Store.Stats(r.Context(), p.cfg.Now())
	if err != nil {
		return err
	}
	b := p.base(w, r, "home.title")
	b.Active = "home"
	pg := &homePage{base: b, Stats: st, Agencies: uint64(p.cfg.Registry.Len()), Chart: dailyChart(st.Daily, b.Lang)}
	vols := slices.Clone(st.Agencies)
	slices.SortStableFunc(vols, func(a, c store.AgencyVolume) int {
		ta, tc := a.Sent+a.Received, c.Sent+c.Received
		switch {
		case ta > tc:
			return -1
		case ta < tc:
			return 1
		}
		return strings.Compare(a.Agency, c.Agency)
	})
	for i, v := range vols {
		if i == 10 || v.Sent+v.Received == 0 {
			break
		}
		pg.Busiest = append(pg.Busiest, busy{ID: v.Agency, Name: p.cfg.Registry.Name(v.Agency), Sent: v.Sent, Received: v.Received,
			Total: v.Sent + v.Received, Max: vols[0].Sent + vols[0].Received})
	}
	p.render(w, http.StatusOK, "home", pg)
	return nil
}

// chart is the 30-day bar chart, drawn on the server as inline SVG (no script, no
// inline style: geometry goes in attributes, colours in the stylesheet).
type chart struct {
	W, H, Top, Bottom, LabelY int
	Bars                      []bar
	Max                       uint64
	Total                     uint64
	Grid                      []gridLine
}

type bar struct {
	X, Y, W, H int
	LabelX     int
	Label      string // the day, shown under some bars
	Title      string // the tooltip: day and count
}

type gridLine struct {
	Y     int
	Label string
}

func dailyChart(days []store.DayCount, l Lang) chart {
	c := chart{W: 640, H: 220, Top: 10, Bottom: 190, LabelY: 208}
	for _, d := range days {
		c.Max = max(c.Max, d.Count)
		c.Total += d.Count
	}
	scale := max(c.Max, 1)
	left, width := 40, c.W-50
	step := width / max(len(days), 1)
	for i, d := range days {
		h := int(uint64(c.Bottom-c.Top) * d.Count / scale)
		if d.Count > 0 && h < 1 {
			h = 1
		}
		b := bar{X: left + i*step + 1, W: step - 2, H: h, Y: c.Bottom - h, Title: l.Day(d.Day) + ": " + l.Num(d.Count)}
		b.LabelX = b.X + b.W/2
		if i%5 == 4 || i == len(days)-1 && i%5 != 4 && len(days)-1-i >= 2 {
			b.Label = l.Day(d.Day)
		}
		c.Bars = append(c.Bars, b)
	}
	for _, f := range []uint64{0, 1, 2} {
		v := scale * f / 2
		if c.Max == 0 && f > 0 {
			break
		}
		c.Grid = append(c.Grid, gridLine{Y: c.Bottom - int(uint64(c.Bottom-c.Top)*v/scale), Label: l.Num(v)})
	}
	return c
}

// Login: a form posting the token. The form carries a double-submit token: a random
// value both in a SameSite=Strict cookie and in the form, which a cross-site page can
// neither read nor set.

type loginPage struct {
	*base
	Form  string
	Next  string
	Error bool
}

func (p *Portal) loginForm(w http.ResponseWriter, r *http.Request) error {
	return p.showLogin(w, r, http.StatusOK, false)
}

func (p *Portal) showLogin(w http.ResponseWriter, r *http.Request, status int, bad bool) error {
	v := make([]byte, 16)
	rand.Read(v)
	form := hex.EncodeToString(v)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: form, Path: "/login", MaxAge: 3600, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: p.secure(r)})
	b := p.base(w, r, "login.title")
	b.Active = "login"
	next := localPath(r.URL.Query().Get("next"))
	if r.Method == http.MethodPost {
		next = localPath(r.PostFormValue("next"))
	}
	p.render(w, status, "login", &loginPage{base: b, Form: form, Next: next, Error: bad})
	return nil
}

func (p *Portal) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || r.PostFormValue("form") != c.Value {
		return errForbidden
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	now := p.cfg.Now()
	session, cl, err := p.cfg.Keyring.Session(tok, now, p.cfg.SessionTTL)
	if err != nil {
		return p.showLogin(w, r, http.StatusUnauthorized, true)
	}
	p.clearCookie(w, r, loginCookie, "/login")
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: p.secure(r), MaxAge: max(1, int(cl.Expires-now.Unix()))})
	p.log.Info("signed in", zap.String("subject", cl.Subject()), zap.Time("until", time.Unix(cl.Expires, 0).UTC()))
	next := localPath(r.PostFormValue("next"))
	if next == "" {
		next = "/inbox"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (p *Portal) logout(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	s, err := r.Cookie(sessionCookie)
	if err != nil {
		return errs.E(errs.Unauthorized, "not signed in")
	}
	if err := p.checkCSRF(r, s.Value); err != nil {
		return err
	}
	// Ended for good, not only forgotten by this browser: a copy of the cookie taken
	// before (a shared computer, a proxy's log) must not outlive the logout.
	if err := p.cfg.Keyring.EndSession(s.Value, p.cfg.Now()); err != nil {
		p.log.Warn("logout: the session could not be ended; it stays valid until it expires", zap.Error(err))
	}
	p.clearCookie(w, r, sessionCookie, "/")
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
