package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"axis/axis/errs"
)

func TestDecodeError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		code    errs.Code
		message string
	}{
		{"spec body", 409, `{"error":{"code":"duplicate_document","message":"already sent with other bytes"}}`, errs.DuplicateDocument, "already sent with other bytes"},
		{"field message", 422, `{"error":{"code":"invalid_envelope","message":"MessageHeader/DocumentId: required"}}` + "\n", errs.InvalidEnvelope, "MessageHeader/DocumentId: required"},
		{"unknown code kept", 422, `{"error":{"code":"future_code","message":"m"}}`, "future_code", "m"},
		{"empty message", 403, `{"error":{"code":"sender_mismatch"}}`, errs.SenderMismatch, "sender_mismatch"},
		{"html from a proxy", 502, "<html><body>Bad   gateway</body></html>", errs.Unavailable, "HTTP 502: <html><body>Bad gateway</body></html>"},
		{"empty 404", 404, "", errs.NotFound, "HTTP 404: Not Found"},
		{"code with spaces is not a code", 500, `{"error":{"code":"a b","message":"m"}}`, errs.Internal, `HTTP 500: {"error":{"code":"a b","message":"m"}}`},
		{"error not an object", 400, `{"error":"x"}`, errs.BadRequest, `HTTP 400: {"error":"x"}`},
		{"413", 413, "too big", errs.TooLarge, "HTTP 413: too big"},
		{"401", 401, `{"error":{"code":"unauthorized","message":"a bearer token is required"}}`, errs.Unauthorized, "a bearer token is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := DecodeError(tc.status, []byte(tc.body))
			if e.Code != tc.code || e.Message() != tc.message {
				t.Fatalf("got %q %q, want %q %q", e.Code, e.Message(), tc.code, tc.message)
			}
		})
	}
	long := strings.Repeat("é", 1000)
	if e := DecodeError(500, []byte(long)); len([]rune(e.Msg)) > 220 {
		t.Fatalf("message not shortened: %d runes", len([]rune(e.Msg)))
	}
}

// The same body the daemon writes round-trips to the same code and message.
func TestDecodeErrorRoundTrip(t *testing.T) {
	for _, code := range []errs.Code{errs.MalformedXML, errs.SignatureInvalid, errs.CertificateRevoked, errs.UnknownTarget,
		errs.StatusNotAllowed, errs.Unavailable, errs.NotFound} {
		in := errs.E(code, "why: %s", code)
		b, _ := json.Marshal(errs.ToBody(in))
		out := DecodeError(code.HTTPStatus(), b)
		if out.Code != code || out.Message() != in.Message() {
			t.Errorf("%s: got %v", code, out)
		}
	}
}

func FuzzDecodeError(f *testing.F) {
	f.Add(409, []byte(`{"error":{"code":"duplicate_document","message":"x"}}`))
	f.Add(502, []byte("<html>"))
	f.Add(200, []byte(`{"error":{"code":"","message":""}}`))
	f.Add(500, []byte(`{"error":null}`))
	f.Add(422, []byte("\xff\xfe{"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := DecodeError(status, body)
		if e == nil || e.Code == "" || e.Message() == "" {
			t.Fatalf("empty error for %d %q", status, body)
		}
		if !validCode(string(e.Code)) {
			t.Fatalf("code %q is not a code", e.Code)
		}
	})
}

// fake is a daemon stand-in that records what it received.
type fake struct {
	path, rawPath, auth, ctype string
	body                       []byte
}

func (f *fake) server(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.path, f.rawPath, f.auth, f.ctype = r.URL.Path, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		f.body, _ = io.ReadAll(r.Body)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/", WithToken("tok "))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSubmitAndRead(t *testing.T) {
	var f fake
	status := http.StatusAccepted
	c := f.server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/packages":
			w.WriteHeader(status)
			io.WriteString(w, `{"document_id":"A,2026/01/02,1/X","sha256":"ab","audit_seq":7,"recipients":[{"organ_id":"B","state":"pending"}],"receipt":"<r/>"}`)
		case "/v1/status":
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"document_id":"A,2026/01/02,1/X","code":"03","audit_seq":9}`)
		case "/v1/documents/A,2026/01/02,1/NĐ-CP":
			io.WriteString(w, `{"document_id":"A,2026/01/02,1/NĐ-CP","recipients":[{"organ_id":"B","state":"arrived","history":[{"kind":"published","audit_seq":2},{"kind":"status","code":"01","audit_seq":5}]}]}`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"code":"not_found","message":"no document"}}`)
		}
	})
	ctx := context.Background()
	a, err := c.SubmitPackage(ctx, []byte("<edXML/>"))
	if err != nil || a.Existing || a.AuditSeq != 7 || a.Recipients[0].OrganID != "B" || a.Receipt != "<r/>" {
		t.Fatalf("%+v %v", a, err)
	}
	if string(f.body) != "<edXML/>" || f.ctype != "application/xml" || f.auth != "Bearer tok" {
		t.Fatalf("request: %q %q %q", f.body, f.ctype, f.auth)
	}
	status = http.StatusOK
	if a, err = c.SubmitPackage(ctx, []byte("<edXML/>")); err != nil || !a.Existing {
		t.Fatalf("200 must be Existing: %+v %v", a, err)
	}
	s, err := c.SubmitStatus(ctx, []byte("<s/>"))
	if err != nil || s.Code != "03" || s.AuditSeq != 9 {
		t.Fatalf("%+v %v", s, err)
	}
	doc, raw, err := c.Document(ctx, "A,2026/01/02,1/NĐ-CP")
	if err != nil || len(doc.Recipients) != 1 || doc.Recipients[0].History[1].Code != "01" || !json.Valid(raw) {
		t.Fatalf("%+v %v", doc, err)
	}
	// The id is one escaped path segment: its '/' must not reach the server as separators.
	if f.rawPath != "/v1/documents/A%2C2026%2F01%2F02%2C1%2FN%C4%90-CP" {
		t.Fatalf("escaped path %q", f.rawPath)
	}
	_, _, err = c.Document(ctx, "nope")
	if !errs.Is(err, errs.NotFound) || !strings.Contains(err.Error(), "no document") {
		t.Fatalf("want not_found, got %v", err)
	}
}

func TestExportAuditPages(t *testing.T) {
	var f fake
	c := f.server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("from") {
		case "1":
			w.Header().Set("X-Axis-Next", "3")
			io.WriteString(w, "{\"seq\":1}\n{\"seq\":2}\n")
		case "3":
			io.WriteString(w, "{\"seq\":3}\n")
		default:
			t.Errorf("unexpected from=%s", r.URL.Query().Get("from"))
		}
	})
	var out bytes.Buffer
	n, err := c.ExportAudit(context.Background(), &out, 1)
	if err != nil || n != 3 || out.String() != "{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n" {
		t.Fatalf("%d %v %q", n, err, out.String())
	}
}

func TestExportAuditCutShort(t *testing.T) {
	var f fake
	c := f.server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{\"seq\":1}\n{\"se") })
	var out bytes.Buffer
	if _, err := c.ExportAudit(context.Background(), &out, 1); !errs.Is(err, errs.Unavailable) || out.String() != "{\"seq\":1}\n" {
		t.Fatalf("%v %q", err, out.String())
	}
}

func TestUnreachable(t *testing.T) {
	c, err := New("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubmitPackage(context.Background(), []byte("x")); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("want unavailable, got %v", err)
	}
	for _, bad := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := New(bad); !errs.Is(err, errs.BadRequest) {
			t.Errorf("%q: want bad_request, got %v", bad, err)
		}
	}
}
