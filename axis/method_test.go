package axis

import (
	"net/http"
	"testing"
)

// TestWrongMethodIs405: an endpoint asked with a method it does not serve answers 405
// method_not_allowed with an Allow header, not 404 (which says it does not exist).
func TestWrongMethodIs405(t *testing.T) {
	h := startDaemon(t)
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/v1/packages", "POST"},
		{"PUT", "/v1/packages", "POST"},
		{"GET", "/v1/status", "POST"},
		{"POST", "/v1/documents/D1", "GET, HEAD"},
		{"DELETE", "/v1/audit", "GET, HEAD"},
		{"POST", "/v1/agencies/000.00.00.G01/documents", "GET, HEAD"},
	} {
		r := h.do(c.method, c.path, h.auditorToken(), nil)
		if r.Status != http.StatusMethodNotAllowed || r.errCode() != "method_not_allowed" || r.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %q Allow %q, want 405 method_not_allowed Allow %q\n%s", c.method, c.path, r.Status, r.errCode(), r.Header.Get("Allow"), c.allow, r.Body)
		}
	}
	for _, p := range []string{"/v1/nothing", "/v1/agencies/000.00.00.G01", "/v1/"} {
		if r := h.do("GET", p, h.auditorToken(), nil); r.Status != http.StatusNotFound || r.errCode() != "not_found" {
			t.Errorf("GET %s: %d %q, want 404 not_found", p, r.Status, r.errCode())
		}
	}
}
