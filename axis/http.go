package axis

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"axis/axis/errs"
	"axis/axis/token"
	"axis/envelope"
	"axis/store"
)

// handler is an HTTP handler that returns its error; serve turns errors into the JSON
// body of SPEC §6 in one place, and keeps internal details in the log.
type handler func(w http.ResponseWriter, r *http.Request) error

func (d *Daemon) serve(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		code := errs.CodeOf(err)
		if code == errs.Internal || (code == errs.Unavailable && !d.shutting.Load()) {
			d.log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		}
		writeJSON(w, code.HTTPStatus(), errs.ToBody(err))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// No HTML escaping: a browser never sniffs this as HTML (nosniff), and the receipt's
	// XML would otherwise travel as \u003c…\u003e, a third larger.
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/packages", d.serve(d.postPackage))
	mux.HandleFunc("POST /v1/status", d.serve(d.postStatus))
	mux.HandleFunc("GET /v1/documents/{id...}", d.serve(d.authed(d.getDocument)))
	mux.HandleFunc("GET /v1/agencies/{id}/documents", d.serve(d.authed(d.listAgency)))
	mux.HandleFunc("GET /v1/audit", d.serve(d.authed(d.getAudit)))
	mux.HandleFunc("GET /v1/audit/verify", d.serve(d.authed(d.verifyAudit)))
	mux.HandleFunc("GET /v1/stats", d.serve(d.authed(d.getStats)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", d.serve(d.readyz))
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/v1/", d.serve(func(w http.ResponseWriter, r *http.Request) error {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return errs.E(errs.MethodNotAllowed, "%s takes %s", r.URL.Path, strings.Join(allow, " or "))
		}
		return errs.E(errs.NotFound, "no such endpoint")
	}))
	mux.Handle("/", d.portal) // the HTML portal (SPEC §6): everything the API does not claim
	return mux
}

// allowedMethods lists the methods the API serves r's path with: a GET of /v1/packages
// is answered 405 with them, not 404 (the catch-all /v1/ would otherwise claim it).
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); strings.HasPrefix(pattern, m+" ") {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	return allow
}

// A submission's body must keep coming: each read may wait BodyIdle, and the whole body
// gets BodyIdle plus its size at bodyMinRate. A client that announces a large body and
// then trickles it (slowloris) is cut off rather than holding its connection for ever.
const bodyMinRate = 16 << 10 // bytes per second

// readBody reads a submission, refusing more than --max-package-bytes. The buffer grows
// with the bytes that arrive, never ahead of them from Content-Length: an announced
// size costs nothing until it is sent.
func (d *Daemon) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > d.cfg.MaxPackageBytes {
		return nil, errs.E(errs.TooLarge, "body is %d bytes, limit is %d", r.ContentLength, d.cfg.MaxPackageBytes)
	}
	expect := r.ContentLength // net/http holds the body to it
	if expect < 0 {
		expect = d.cfg.MaxPackageBytes
	}
	rc := http.NewResponseController(w)
	end := time.Now().Add(d.cfg.BodyIdle + time.Duration(expect)*time.Second/bodyMinRate)
	defer rc.SetReadDeadline(time.Time{}) // the answer comes after the store, unbounded by these
	body := http.MaxBytesReader(nil, r.Body, d.cfg.MaxPackageBytes)
	b := make([]byte, 0, min(max(r.ContentLength, 512), 64<<10))
	var err error
	for r.ContentLength < 0 || int64(len(b)) < r.ContentLength {
		if len(b) == cap(b) {
			n := 2 * cap(b)
			if r.ContentLength > 0 {
				n = int(min(int64(n), r.ContentLength))
			}
			b = slices.Grow(b, n-len(b))
		}
		dl := time.Now().Add(d.cfg.BodyIdle)
		if dl.After(end) {
			dl = end
		}
		_ = rc.SetReadDeadline(dl) // not every ResponseWriter can; then the server's own limits hold
		var n int
		n, err = body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			break
		}
	}
	if err == io.EOF {
		err = nil
		if r.ContentLength > 0 && int64(len(b)) < r.ContentLength {
			err = io.ErrUnexpectedEOF
		}
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errs.E(errs.TooLarge, "body is over the limit of %d bytes", d.cfg.MaxPackageBytes)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, errs.Wrap(errs.BadRequest, err, "the body came too slowly (each part within %s, the whole at %d KiB/s)", d.cfg.BodyIdle, bodyMinRate>>10)
	}
	if err != nil {
		return nil, errs.Wrap(errs.BadRequest, err, "reading the body failed")
	}
	return b, nil
}

func (d *Daemon) postPackage(w http.ResponseWriter, r *http.Request) error {
	return submit(d, w, r, d.intake.SubmitPackage, func(a PackageAnswer) bool { return a.Existing })
}

func (d *Daemon) postStatus(w http.ResponseWriter, r *http.Request) error {
	return submit(d, w, r, d.intake.SubmitStatus, func(a StatusAnswer) bool { return a.Existing })
}

// submit reads a signed document and answers 202, or 200 when identical bytes were
// accepted before (SPEC §6).
func submit[A any](d *Daemon, w http.ResponseWriter, r *http.Request,
	intake func(context.Context, []byte, string) (A, error), existing func(A) bool) error {
	if d.shutting.Load() {
		return errs.E(errs.Unavailable, "shutting down")
	}
	b, err := d.readBody(w, r)
	if errs.Is(err, errs.TooLarge) {
		d.intake.Refused(r.Context(), err, SourceHTTP)
	}
	if err != nil {
		return err
	}
	a, err := intake(r.Context(), b, SourceHTTP)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if existing(a) {
		status = http.StatusOK
	}
	return writeJSON(w, status, a)
}

func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) error {
	if d.shutting.Load() {
		return errs.E(errs.Unavailable, "shutting down")
	}
	if err := d.store.Ping(r.Context()); err != nil {
		return errs.Wrap(errs.Unavailable, err, "store not accepting writes")
	}
	if d.intake.storeFailing.Load() {
		// The last submission could not be written: probe with a write that changes
		// nothing (the audit cursor never moves back), so readiness returns on its own.
		err := d.store.SetAuditPublished(r.Context(), 0)
		d.intake.noteStore(err)
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "store writes are failing")
		}
	}
	_, err := io.WriteString(w, "ready\n")
	return err
}

type claimsKey struct{}

// authed requires a bearer token (SPEC §6): none or a bad one is 401.
func (d *Daemon) authed(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := d.claims(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="axis"`)
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	}
}

func (d *Daemon) claims(r *http.Request) (token.Claims, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" { // RFC 7235: the scheme is case-insensitive
		return token.Claims{}, errs.E(errs.Unauthorized, "a bearer token is required (axis token issue)")
	}
	return d.keyring.Check(strings.TrimSpace(tok), time.Now())
}

func claimsOf(r *http.Request) token.Claims {
	c, _ := r.Context().Value(claimsKey{}).(token.Claims)
	return c
}

// DocumentView is a document as the read API shows it.
type DocumentView struct {
	store.Document
	Receipt string `json:"receipt,omitempty"`
}

func (d *Daemon) getDocument(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c := claimsOf(r)
	docs, err := d.store.DocumentsByID(r.Context(), id)
	if err != nil {
		return err
	}
	// Several packages may carry the same DocumentId (another sender, or a replacement
	// reusing it): show the newest the caller may see, which is the one statuses apply to,
	// or the one with ?sha= (an original whose id a replacement reuses keeps its history).
	sha := strings.ToLower(r.URL.Query().Get("sha"))
	for i := len(docs) - 1; i >= 0; i-- {
		doc := docs[i]
		if c.CanSee(doc.From, doc.To) && (sha == "" || doc.SHA256 == sha) {
			return writeJSON(w, http.StatusOK, DocumentView{Document: doc.SeenBy(c.CanSee).OwnDelivery(c.Agency), Receipt: string(doc.Receipt)})
		}
	}
	return errs.E(errs.NotFound, "no document %q", id) // the same answer as for one that does not exist
}

func (d *Daemon) listAgency(w http.ResponseWriter, r *http.Request) error {
	agency := r.PathValue("id")
	c := claimsOf(r)
	if !c.Auditor && c.Agency != agency {
		return errs.E(errs.NotFound, "no agency %q", agency)
	}
	if _, ok := d.registry.Lookup(agency); !ok {
		// Removed from the registry since: its history stays readable.
		if had, err := d.store.HasAgency(r.Context(), agency); err != nil || !had {
			return errs.E(errs.NotFound, "no agency %q", agency)
		}
	}
	q := r.URL.Query()
	dir := store.Direction(q.Get("direction"))
	if dir == "" {
		dir = store.In
	}
	if dir != store.In && dir != store.Out {
		return errs.E(errs.BadRequest, "direction must be in or out")
	}
	limit, err := intParam(q.Get("limit"), 50, 1, 500)
	if err != nil {
		return err
	}
	st := store.State(q.Get("status"))
	if byCode := store.StateOfCode(q.Get("status")); byCode != "" { // an edXML code (03) names its state
		st = byCode
	}
	f := store.Filter{State: st, Counterpart: q.Get("counterpart"), Text: q.Get("q")}
	switch q.Get("order") {
	case "", "newest":
	case "oldest":
		f.Oldest = true
	default:
		return errs.E(errs.BadRequest, "order must be newest or oldest")
	}
	if f.Since, err = timeParam(q.Get("since"), false); err != nil {
		return err
	}
	if f.Until, err = timeParam(q.Get("until"), true); err != nil {
		return err
	}
	page, err := d.store.ListAgency(r.Context(), agency, dir, f, q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []store.Summary{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"documents": page.Items, "next": page.Next})
}

// getAudit streams export lines (application/x-ndjson), auditors only.
func (d *Daemon) getAudit(w http.ResponseWriter, r *http.Request) error {
	if !claimsOf(r).Auditor {
		return errs.E(errs.NotFound, "the audit log is for auditors")
	}
	q := r.URL.Query()
	from, err := intParam(q.Get("from"), 1, 1, 1<<62)
	if err != nil {
		return errs.E(errs.BadRequest, "from=%q: want an audit seq, 1 or more", q.Get("from"))
	}
	limit, err := intParam(q.Get("limit"), 1000, 1, 100000)
	if err != nil {
		return err
	}
	lines, err := d.store.AuditSince(r.Context(), uint64(from)-1, limit)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if len(lines) == limit {
		w.Header().Set("X-Axis-Next", strconv.FormatUint(lines[len(lines)-1].Seq+1, 10))
	}
	for _, l := range lines {
		w.Write(l.Line)
		w.Write([]byte{'\n'})
	}
	return nil
}

// verifyAudit verifies the whole chain as stored, with the daemon's own trust.
func (d *Daemon) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	if !claimsOf(r).Auditor {
		return errs.E(errs.NotFound, "the audit log is for auditors")
	}
	rep, err := d.store.VerifyAudit(r.Context(), d.checkpoints)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "verifying the audit log failed")
	}
	out := map[string]any{"ok": rep.Break == nil, "events": rep.Events, "last_good_seq": rep.LastSeq,
		"checkpoints": rep.Checkpoints, "last_checkpoint": rep.LastCheckpoint, "signatures_checked": rep.SignaturesChecked}
	if rep.Break != nil {
		out["break"] = rep.Break
	}
	return writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) getStats(w http.ResponseWriter, r *http.Request) error {
	st, err := d.store.Stats(r.Context(), time.Now())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func intParam(s string, def, min, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, errs.E(errs.BadRequest, "%q: want a number from %d to %d", s, min, max)
	}
	return n, nil
}

// timeParam reads an RFC 3339 time, or a date: a day in Vietnam time, as in the portal
// and the statistics; its first instant, or its last when it ends a range (until=D
// includes day D).
func timeParam(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, envelope.Vietnam)
	if err != nil {
		return time.Time{}, errs.E(errs.BadRequest, "%q: want RFC 3339 or YYYY-MM-DD", s)
	}
	if end {
		t = t.AddDate(0, 0, 1).Add(-time.Nanosecond)
	}
	return t, nil
}
