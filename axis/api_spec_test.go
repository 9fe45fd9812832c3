package axis

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"axis/envelope"
	"axis/store"
)

// SPEC §6: "200 with the same body for an identical resubmission".
func TestResubmissionSameBody(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 601)
	first := h.postPackage(b)
	if first.Status != http.StatusAccepted {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	h.waitInbox(ngheAn, 1)
	h.mustStatus(status(t, ngheAn, id, "03", ""))
	again := h.postPackage(b)
	if again.Status != http.StatusOK {
		t.Fatalf("again: %d %s", again.Status, again.Body)
	}
	var m1, m2 map[string]any
	first.json(t, &m1)
	again.json(t, &m2)
	j1, _ := json.Marshal(m1)
	j2, _ := json.Marshal(m2)
	if !bytes.Equal(j1, j2) {
		t.Errorf("resubmission body differs:\nfirst %s\nagain %s", j1, j2)
	}
}

// GET /v1/agencies/{id}/documents?since=D&until=D (YYYY-MM-DD) lists what was accepted on
// day D, a day in Vietnam time as in the portal (until=D was midnight UTC starting D).
func TestListUntilDayIncludesTheDay(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 602)
	a := h.mustAccept(b)
	var got []string
	for _, day := range []string{a.AcceptedAt.In(envelope.Vietnam).Format("2006-01-02")} {
		q := "?direction=out&since=" + day + "&until=" + day
		r := h.do("GET", "/v1/agencies/"+govOffice+"/documents"+q, h.agencyToken(govOffice), nil)
		var page struct {
			Documents []store.Summary `json:"documents"`
		}
		r.json(t, &page)
		if r.Status == 200 && len(page.Documents) == 1 && page.Documents[0].DocumentID == id {
			return
		}
		got = append(got, q+" -> "+strings.TrimSpace(string(r.Body)))
	}
	t.Errorf("document accepted %s is listed for neither its UTC nor its Vietnam day:\n%s",
		a.AcceptedAt.Format(time.RFC3339), strings.Join(got, "\n"))
}

// 15/16 answer a recall request (13) or a revision: to a new document with no recall
// requested there is nothing to agree to or refuse; once 13 came, 15 is recorded.
func TestRecallAnswerWithoutRequest(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 603)
	h.mustAccept(b)
	defer func() {
		h.mustStatus(status(t, govOffice, id, "13", "thu hồi"))
		h.mustStatus(status(t, police, id, "15", "đồng ý"))
	}()
	for _, code := range []string{"15", "16"} {
		r := h.postStatus(status(t, police, id, code, "no recall was asked"))
		if r.Status != http.StatusForbidden || r.errCode() != "status_not_allowed" {
			d := h.document(id)
			t.Errorf("status %s with no 13 before: %d %s (recall state now %q), want 403 status_not_allowed",
				code, r.Status, r.Body, deliveryOf(t, d, police).Recall)
		}
	}
}

// /v1/stats after accepted, resubmitted, refused packages, a revision and statuses.
func TestStatsConsistent(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 604)
	h.mustAccept(b)
	h.postPackage(b) // identical: nothing new
	other, _ := decree(t, 604)
	other = bytes.Replace(other, []byte("Toàn văn nghị định"), []byte("Toàn văn nghị định (bản 2)"), 1)
	if r := h.postPackage(signAs(t, govOffice, other)); r.Status != http.StatusConflict {
		t.Fatalf("dup: %d", r.Status)
	}
	rev, _ := revision(t, 605, "2", id)
	h.mustAccept(rev)
	h.waitInbox(ngheAn, 2)
	s1 := status(t, ngheAn, id, "01", "")
	h.mustStatus(s1)
	h.postStatus(s1)                                   // identical
	h.postStatus(status(t, finance, id, "01", ""))     // refused
	h.mustStatus(status(t, govOffice, id, "13", "rc")) // recall
	r := h.do("GET", "/v1/stats", h.auditorToken(), nil)
	var st store.Stats
	r.json(t, &st)
	var g22, h41 store.AgencyVolume
	for _, a := range st.Agencies {
		switch a.Agency {
		case govOffice:
			g22 = a
		case ngheAn:
			h41 = a
		}
	}
	if st.AllTime != 2 || st.Today != 2 || st.ThisMonth != 2 || st.Statuses != 2 || g22.Sent != 2 || h41.Received != 2 || st.Arrivals != 1 {
		t.Errorf("stats: %s", r.Body)
	}
}

// SPEC §6: GET /metrics, names prefixed axis_.
func TestMetricsAllPrefixed(t *testing.T) {
	h := startDaemon(t)
	m := string(h.do("GET", "/metrics", "", nil).Body)
	var bad []string
	for _, l := range strings.Split(m, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !strings.HasPrefix(l, "axis_") {
			name, _, _ := strings.Cut(l, " ")
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d metric samples not prefixed axis_, e.g. %v", len(bad), bad[:min(3, len(bad))])
	}
}

// SPEC §6 names the list filter status=, and SPEC §2 calls the edXML codes statuses:
// status=03 (accepted) should filter like status=accepted, not be refused.
func TestListStatusByCode(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 606)
	h.mustAccept(b)
	h.mustStatus(status(t, ngheAn, id, "03", ""))
	r := h.do("GET", "/v1/agencies/"+ngheAn+"/documents?direction=in&status=03", h.agencyToken(ngheAn), nil)
	if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte(id)) {
		t.Errorf("status=03: %d %s", r.Status, r.Body)
	}
}

// After a replacement reusing the DocumentId, the original's per-recipient history (SPEC
// §6 "full status history") must stay reachable over the API, as the portal offers (?sha=).
func TestOriginalHistoryAfterSameIDReplacement(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 607)
	orig := h.mustAccept(b)
	h.mustStatus(status(t, ngheAn, id, "03", "vào sổ"))
	same, _ := decree(t, 607)
	same = bytes.Replace(same, []byte("</TraceHeaderList>"),
		[]byte("<Bussiness><BussinessDocType>3</BussinessDocType><BussinessDocReason>thay thế</BussinessDocReason></Bussiness></TraceHeaderList>"), 1)
	h.mustAccept(signAs(t, govOffice, same))
	r := h.do("GET", "/v1/documents/"+url.PathEscape(id)+"?sha="+orig.SHA256, h.agencyToken(govOffice), nil)
	var d store.Document
	r.json(t, &d)
	if d.SHA256 != orig.SHA256 || statusCodes(deliveryOf(t, d, ngheAn)) != "03" {
		t.Errorf("the original (sha %s) and its 03 from %s cannot be read any more: got sha %s, %s history %q",
			orig.SHA256[:12], ngheAn, d.SHA256[:12], ngheAn, statusCodes(deliveryOf(t, d, ngheAn)))
	}
}
