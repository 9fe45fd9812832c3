// Package client is the HTTP client of the axis API (SPEC §6): submitting packages and
// statuses, reading documents, agency lists and the audit log. Every failure carries an
// errs code: the daemon's JSON error body is decoded into the same code it was made from,
// and transport failures are errs.Unavailable, so callers handle one error type.
//
// It knows the wire format only; it does not import the daemon or the store.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"axis/axis/errs"
)

// Client talks to one axis daemon. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Option adjusts a Client.
type Option func(*Client)

// WithToken sets the bearer token sent with read requests (axis token issue).
func WithToken(token string) Option { return func(c *Client) { c.token = strings.TrimSpace(token) } }

// WithHTTPClient replaces the default HTTP client (which has no overall timeout: a 64 MiB
// upload may take long; callers bound requests with their context).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client for the daemon at server ("http://host:port", a path prefix is kept).
func New(server string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(server))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errs.Field(errs.BadRequest, "server", "%q: want http://host:port or https://host:port", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{base: u, http: &http.Client{Transport: http.DefaultTransport}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Recipient is one recipient's state in an acceptance answer.
type Recipient struct {
	OrganID string `json:"organ_id"`
	State   string `json:"state"`
}

// PackageAnswer is the answer to POST /v1/packages.
type PackageAnswer struct {
	DocumentID string      `json:"document_id"`
	SHA256     string      `json:"sha256"`
	AcceptedAt time.Time   `json:"accepted_at"`
	AuditSeq   uint64      `json:"audit_seq"`
	Recipients []Recipient `json:"recipients"`
	Receipt    string      `json:"receipt"` // the axis-signed acceptance receipt (XML)
	// Existing is true for a 200: identical bytes had been accepted before.
	Existing bool `json:"-"`
}

// StatusAnswer is the answer to POST /v1/status.
type StatusAnswer struct {
	DocumentID string `json:"document_id"`
	Code       string `json:"code"`
	AuditSeq   uint64 `json:"audit_seq"`
	Existing   bool   `json:"-"`
}

// HistoryEntry is one step of a delivery.
type HistoryEntry struct {
	Time        time.Time `json:"time"`
	Kind        string    `json:"kind"` // "published" or "status"
	From        string    `json:"from,omitempty"`
	Code        string    `json:"code,omitempty"`
	Description string    `json:"description,omitempty"`
	SHA256      string    `json:"sha256,omitempty"`
	AuditSeq    uint64    `json:"audit_seq"`
}

// Delivery is one recipient of a document.
type Delivery struct {
	OrganID   string         `json:"organ_id"`
	State     string         `json:"state"`
	Recall    string         `json:"recall,omitempty"`
	ArrivedAt time.Time      `json:"arrived_at,omitzero"`
	History   []HistoryEntry `json:"history"`
}

// Ref names a revision of a document, or the document a revision applies to.
type Ref struct {
	DocumentID   string    `json:"document_id"`
	From         string    `json:"from"`
	SHA256       string    `json:"sha256"`
	BusinessType int       `json:"business_type"`
	AcceptedAt   time.Time `json:"accepted_at"`
}

// Document is GET /v1/documents/{id}.
type Document struct {
	DocumentID   string     `json:"document_id"`
	From         string     `json:"from"`
	To           []string   `json:"to"`
	Subject      string     `json:"subject,omitempty"`
	CodeNumber   string     `json:"code_number,omitempty"`
	CodeNotation string     `json:"code_notation,omitempty"`
	DocType      int        `json:"doc_type,omitempty"`
	DocTypeName  string     `json:"doc_type_name,omitempty"`
	Priority     int        `json:"priority,omitempty"`
	BusinessType int        `json:"business_type,omitempty"`
	Target       string     `json:"target,omitempty"`
	SHA256       string     `json:"sha256"`
	Size         int64      `json:"size"`
	AcceptedAt   time.Time  `json:"accepted_at"`
	AuditSeq     uint64     `json:"audit_seq"`
	Recipients   []Delivery `json:"recipients"`
	Revises      *Ref       `json:"revises,omitempty"`
	Revisions    []Ref      `json:"revisions,omitempty"`
	Receipt      string     `json:"receipt,omitempty"`
}

// Summary is one row of an agency's document list.
type Summary map[string]any

// ListQuery filters GET /v1/agencies/{id}/documents.
type ListQuery struct {
	Direction string // "in" (default) or "out"
	Status    string // a delivery state
	Limit     int    // 1..500, 0: the daemon's default
	Cursor    string // Page.Next of the previous page
}

// Page is one page of an agency's documents.
type Page struct {
	Documents []json.RawMessage `json:"documents"`
	Next      string            `json:"next"`
}

// SubmitPackage posts signed package bytes. A refusal is an *errs.Error with the
// daemon's code (e.g. duplicate_document).
func (c *Client) SubmitPackage(ctx context.Context, b []byte) (PackageAnswer, error) {
	var a PackageAnswer
	status, err := c.do(ctx, http.MethodPost, "/v1/packages", nil, "application/xml", b, &a)
	a.Existing = status == http.StatusOK
	return a, err
}

// SubmitStatus posts signed status bytes.
func (c *Client) SubmitStatus(ctx context.Context, b []byte) (StatusAnswer, error) {
	var a StatusAnswer
	status, err := c.do(ctx, http.MethodPost, "/v1/status", nil, "application/xml", b, &a)
	a.Existing = status == http.StatusOK
	return a, err
}

// Document reads one document with its per-recipient timeline. raw is the body as the
// daemon sent it (for --json output).
func (c *Client) Document(ctx context.Context, id string) (doc Document, raw json.RawMessage, err error) {
	if id == "" {
		return Document{}, nil, errs.E(errs.BadRequest, "empty document id")
	}
	// The id holds '/' and ',': escape it as one path segment.
	_, err = c.do(ctx, http.MethodGet, "/v1/documents/"+url.PathEscape(id), nil, "", nil, &raw)
	if err != nil {
		return Document{}, nil, err
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Document{}, nil, errs.Wrap(errs.Internal, err, "the daemon's answer is not a document")
	}
	return doc, raw, nil
}

// List reads one page of an agency's documents.
func (c *Client) List(ctx context.Context, agency string, q ListQuery) (Page, error) {
	v := url.Values{}
	if q.Direction != "" {
		v.Set("direction", q.Direction)
	}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	var p Page
	_, err := c.do(ctx, http.MethodGet, "/v1/agencies/"+url.PathEscape(agency)+"/documents", v, "", nil, &p)
	return p, err
}

// ExportAudit copies the audit log from seq from on (JSON lines, SPEC §9) to w, page by
// page until the end, and returns the number of lines written.
func (c *Client) ExportAudit(ctx context.Context, w io.Writer, from uint64) (uint64, error) {
	if from == 0 {
		from = 1
	}
	var n uint64
	for {
		v := url.Values{"from": {strconv.FormatUint(from, 10)}, "limit": {"10000"}}
		resp, err := c.send(ctx, http.MethodGet, "/v1/audit", v, "", nil)
		if err != nil {
			return n, err
		}
		lines, last, err := copyLines(w, resp.Body)
		resp.Body.Close()
		n += lines
		if err != nil {
			return n, err
		}
		next := resp.Header.Get("X-Axis-Next")
		if next == "" {
			return n, nil
		}
		nf, err := strconv.ParseUint(next, 10, 64)
		if err != nil || nf <= from || lines == 0 {
			return n, errs.E(errs.Internal, "the daemon's X-Axis-Next %q does not move forward (from %d, last %q)", next, from, last)
		}
		from = nf
	}
}

// copyLines copies newline-terminated lines, making sure each written line is complete.
func copyLines(w io.Writer, r io.Reader) (n uint64, last string, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] != '\n' {
				return n, last, errs.E(errs.Unavailable, "audit export cut short after %d lines", n)
			}
			if _, err := w.Write(line); err != nil {
				return n, last, err
			}
			n++
			last = string(bytes.TrimSpace(line[:min(len(line), 40)]))
		}
		if rerr == io.EOF {
			return n, last, nil
		}
		if rerr != nil {
			return n, last, errs.Wrap(errs.Unavailable, rerr, "reading the audit export")
		}
	}
}

// AuditVerification is GET /v1/audit/verify.
type AuditVerification struct {
	OK             bool            `json:"ok"`
	Events         uint64          `json:"events"`
	LastGoodSeq    uint64          `json:"last_good_seq"`
	Checkpoints    uint64          `json:"checkpoints"`
	LastCheckpoint uint64          `json:"last_checkpoint"`
	Break          json.RawMessage `json:"break,omitempty"`
}

// VerifyAudit asks the daemon to verify its stored audit chain.
func (c *Client) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	var v AuditVerification
	_, err := c.do(ctx, http.MethodGet, "/v1/audit/verify", nil, "", nil, &v)
	return v, err
}

// maxAnswer bounds a JSON answer read into memory (a document view is small; the receipt
// is a few KiB).
const maxAnswer = 16 << 20

// do sends a request and decodes a 2xx JSON answer into out (a *json.RawMessage keeps it
// raw). It returns the HTTP status.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, ctype string, body []byte, out any) (int, error) {
	resp, err := c.send(ctx, method, path, q, ctype, body)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return resp.StatusCode, errs.Wrap(errs.Unavailable, err, "reading the answer of %s %s", method, path)
	}
	if len(b) > maxAnswer {
		return resp.StatusCode, errs.E(errs.Internal, "answer of %s %s is over %d bytes", method, path, maxAnswer)
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], b...)
		if !json.Valid(b) {
			return resp.StatusCode, errs.E(errs.Internal, "answer of %s %s is not JSON", method, path)
		}
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, errs.Wrap(errs.Internal, err, "answer of %s %s is not the expected JSON", method, path)
	}
	return resp.StatusCode, nil
}

// send performs the request; a non-2xx answer is returned as the decoded error (the body
// is consumed and closed then).
func (c *Client) send(ctx context.Context, method, path string, q url.Values, ctype string, body []byte) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	if strings.Contains(path, "%") {
		// Keep the escaping of the id segment exactly as given.
		u.RawPath = c.base.EscapedPath() + path
		if p, err := url.PathUnescape(path); err == nil {
			u.Path = c.base.Path + p
		}
	}
	if q != nil {
		u.RawQuery = q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, errs.Wrap(errs.BadRequest, err, "building %s %s", method, path)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errs.Wrap(errs.Unavailable, ctx.Err(), "%s %s cancelled", method, path)
		}
		return nil, errs.Wrap(errs.Unavailable, err, "cannot reach the axis at %s", c.base.Host)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, DecodeError(resp.StatusCode, b)
}

// DecodeError turns a non-2xx answer into an *errs.Error. A SPEC §6 body
// {"error":{"code","message"}} gives its code and message; anything else (a proxy's HTML
// page, an empty body) gets the code that matches the HTTP status, with the start of the
// body as message. Unknown codes in a well-formed body are kept as they are, so a newer
// daemon's codes still reach the user.
func DecodeError(status int, body []byte) *errs.Error {
	var b struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &b) == nil && b.Error != nil && validCode(b.Error.Code) {
		msg := b.Error.Message
		if msg == "" {
			msg = b.Error.Code
		}
		return &errs.Error{Code: errs.Code(b.Error.Code), Msg: msg}
	}
	text := strings.Join(strings.Fields(string(body)), " ")
	if r := []rune(text); len(r) > 200 {
		text = string(r[:200]) + "…"
	}
	if text == "" {
		text = http.StatusText(status)
	}
	return &errs.Error{Code: codeOfStatus(status), Msg: fmt.Sprintf("HTTP %d: %s", status, text)}
}

// validCode accepts what looks like an error code: short, lower case, digits and '_'.
func validCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if ch := s[i]; !('a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '_') {
			return false
		}
	}
	return true
}

func codeOfStatus(status int) errs.Code {
	switch {
	case status == http.StatusBadRequest:
		return errs.BadRequest
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return errs.Unauthorized
	case status == http.StatusNotFound:
		return errs.NotFound
	case status == http.StatusRequestEntityTooLarge:
		return errs.TooLarge
	case status == http.StatusConflict:
		return errs.DuplicateDocument
	case status == http.StatusServiceUnavailable, status == http.StatusBadGateway, status == http.StatusGatewayTimeout,
		status == http.StatusTooManyRequests:
		return errs.Unavailable
	}
	return errs.Internal
}
