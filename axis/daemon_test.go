package axis

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"axis/axis/bus"
	"axis/axis/bus/membus"
	"axis/axis/errs"
	"axis/axis/token"
	"axis/signing/devpki"
	"axis/store"
	"axis/store/audit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pki.dir != "" {
		os.RemoveAll(pki.dir)
	}
	os.Exit(code)
}

// SPEC §6 POST /v1/packages and §8: a package to three recipients is accepted with the
// documented body and reaches every inbox byte for byte with every header.
func TestPackageRoutedToEveryRecipient(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 1)
	before := time.Now().UTC().Add(-time.Second)

	r := h.postPackage(b)
	if r.Status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", r.Status, r.Body)
	}
	var body map[string]json.RawMessage
	r.json(t, &body)
	for _, k := range []string{"document_id", "sha256", "accepted_at", "audit_seq", "recipients", "receipt"} {
		if _, ok := body[k]; !ok {
			t.Errorf("202 body lacks %q: %s", k, r.Body)
		}
	}
	var a PackageAnswer
	r.json(t, &a)
	sum := sha256.Sum256(b)
	wantSum := hex.EncodeToString(sum[:])
	switch {
	case a.DocumentID != id:
		t.Errorf("document_id %q, want %q", a.DocumentID, id)
	case a.SHA256 != wantSum:
		t.Errorf("sha256 %s, want %s", a.SHA256, wantSum)
	case a.AuditSeq == 0:
		t.Error("audit_seq is 0")
	case a.AcceptedAt.Before(before) || a.AcceptedAt.After(time.Now().Add(time.Second)):
		t.Errorf("accepted_at %v is not now", a.AcceptedAt)
	}
	var got []string
	for _, rs := range a.Recipients {
		got = append(got, rs.OrganID)
	}
	slices.Sort(got)
	if !slices.Equal(got, decreeTo) {
		t.Errorf("recipients %v, want %v", got, decreeTo)
	}

	// The receipt is signed by the axis identity under the dev root and names the document.
	res, err := checker(t).Check([]byte(a.Receipt))
	if err != nil {
		t.Fatalf("receipt does not verify: %v\n%s", err, a.Receipt)
	}
	if res.Receipt == nil {
		t.Fatalf("receipt verified as %v, not a receipt", res.Kind)
	}
	rc := res.Receipt
	if rc.DocumentID != id || rc.SHA256 != wantSum || rc.From != govOffice || rc.AuditSeq != a.AuditSeq {
		t.Errorf("receipt says %+v; answer %+v", rc, a)
	}
	if rt := slices.Sorted(slices.Values(rc.Recipients)); !slices.Equal(rt, decreeTo) {
		t.Errorf("receipt recipients %v", rc.Recipients)
	}

	for _, to := range decreeTo {
		msgs := h.waitInbox(to, 1)
		if len(msgs) != 1 {
			t.Fatalf("%s: %d messages, want 1", to, len(msgs))
		}
		m := msgs[0]
		if !bytes.Equal(m.Value, b) {
			t.Errorf("%s: value is not the submitted bytes", to)
		}
		if string(m.Key) != id {
			t.Errorf("%s: key %q, want %q", to, m.Key, id)
		}
		checkHeaders(t, m, "edoc", id, govOffice)
		if m.Header(HeaderAuditSeq) != strconv.FormatUint(a.AuditSeq, 10) {
			t.Errorf("%s: axis-audit-seq %q, want %d", to, m.Header(HeaderAuditSeq), a.AuditSeq)
		}
	}
	if n := len(h.inbox(govOffice)); n != 0 {
		t.Errorf("the sender's inbox got %d messages", n)
	}
	// Published deliveries move the recipients to "published".
	eventually(t, 5*time.Second, "deliveries marked published", func() bool {
		d := h.document(id)
		for _, to := range decreeTo {
			if stateOf(d, to) != store.StatePublished {
				return false
			}
		}
		return true
	})
}

// checkHeaders checks the SPEC §8 headers of an inbox message.
func checkHeaders(t testing.TB, m bus.Message, typ, docID, from string) {
	t.Helper()
	sum := sha256.Sum256(m.Value)
	want := map[string]string{HeaderType: typ, HeaderDocumentID: docID, HeaderFrom: from, HeaderSHA256: hex.EncodeToString(sum[:])}
	for k, v := range want {
		if got := m.Header(k); got != v {
			t.Errorf("%s: header %s = %q, want %q", m.Topic, k, got, v)
		}
	}
	at := m.Header(HeaderAcceptedAt)
	ts, err := time.Parse(time.RFC3339, at)
	if err != nil || !strings.HasSuffix(at, "Z") || time.Since(ts) > time.Minute {
		t.Errorf("%s: axis-accepted-at %q is not a recent RFC 3339 UTC time (%v)", m.Topic, at, err)
	}
	if seq, err := strconv.ParseUint(m.Header(HeaderAuditSeq), 10, 64); err != nil || seq == 0 {
		t.Errorf("%s: axis-audit-seq %q", m.Topic, m.Header(HeaderAuditSeq))
	}
}

// SPEC §2 identity rules: idempotent resubmission, duplicate_document, unknown_target,
// and linked revisions.
func TestResubmissionDuplicateAndRevision(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 2)
	first := h.postPackage(b)
	if first.Status != http.StatusAccepted {
		t.Fatalf("first submission: %d %s", first.Status, first.Body)
	}
	h.waitInbox(police, 1)

	again := h.postPackage(b)
	if again.Status != http.StatusOK {
		t.Fatalf("identical resubmission: %d %s, want 200", again.Status, again.Body)
	}
	var a1, a2 PackageAnswer
	first.json(t, &a1)
	again.json(t, &a2)
	if a1.DocumentID != a2.DocumentID || a1.SHA256 != a2.SHA256 || !a1.AcceptedAt.Equal(a2.AcceptedAt) ||
		a1.AuditSeq != a2.AuditSeq || a1.Receipt != a2.Receipt || len(a2.Recipients) != 3 {
		t.Errorf("resubmission answered\n%s\nfirst answer\n%s", again.Body, first.Body)
	}

	// Same (From, DocumentId), other bytes: a re-signed copy with another description.
	other, _ := decree(t, 2)
	other = bytes.Replace(other, []byte("Toàn văn nghị định"), []byte("Toàn văn nghị định (bản 2)"), 1)
	r := h.postPackage(signAs(t, govOffice, other))
	if r.Status != http.StatusConflict || r.errCode() != "duplicate_document" {
		t.Errorf("same DocumentId, other bytes: %d %s, want 409 duplicate_document", r.Status, r.Body)
	}

	// A revision of a document never sent.
	rev, _ := revision(t, 3, "2", "000.00.00.G22,2026/11/22,999/NĐ-CP")
	r = h.postPackage(rev)
	if r.Status != http.StatusUnprocessableEntity || r.errCode() != "unknown_target" {
		t.Errorf("revision of an unknown document: %d %s, want 422 unknown_target", r.Status, r.Body)
	}
	// Both refusals are audit steps, with their codes and the package's identity.
	var refused []string
	for _, line := range bytes.Split(bytes.TrimSpace(h.do("GET", "/v1/audit?from=1", h.auditorToken(), nil).Body), []byte("\n")) {
		if rec, err := audit.ParseLine(line); err == nil && rec.Event.Type == audit.Rejected && rec.Event.SHA256 != "" && rec.Event.DocumentID != "" {
			refused = append(refused, rec.Event.Code)
		}
	}
	if strings.Join(refused, ",") != "duplicate_document,unknown_target" {
		t.Errorf("rejected audit events %v, want duplicate_document,unknown_target", refused)
	}

	// A revision of the one just sent: accepted and linked both ways.
	rev, revID := revision(t, 4, "2", id)
	ra := h.mustAccept(rev)
	if ra.DocumentID != revID {
		t.Errorf("revision answered document_id %q", ra.DocumentID)
	}
	orig := h.document(id)
	if len(orig.Revisions) != 1 || orig.Revisions[0].DocumentID != revID || orig.Revisions[0].BusinessType != 2 {
		t.Errorf("original's revisions: %+v", orig.Revisions)
	}
	rd := h.document(revID)
	if rd.Revises == nil || rd.Revises.DocumentID != id || rd.BusinessType != 2 {
		t.Errorf("revision's revises: %+v (business_type %d)", rd.Revises, rd.BusinessType)
	}

	// A replacement (3) without Bussiness/DocumentId targets its own header DocumentId.
	same, _ := decree(t, 2)
	same = bytes.Replace(same, []byte("</TraceHeaderList>"),
		[]byte("<Bussiness><BussinessDocType>3</BussinessDocType><BussinessDocReason>thay thế</BussinessDocReason></Bussiness></TraceHeaderList>"), 1)
	h.mustAccept(signAs(t, govOffice, same))
	// GET by id now shows the replacement (statuses apply to it), linked to the original.
	if cur := h.document(id); cur.BusinessType != 3 || cur.Revises == nil || cur.Revises.DocumentID != id || cur.Revises.BusinessType != 0 {
		t.Errorf("after a replacement under the same DocumentId: business_type %d, revises %+v", cur.BusinessType, cur.Revises)
	}

	// Nothing was routed twice: each inbox holds the original, the update and the
	// replacement once each.
	for _, to := range decreeTo {
		msgs := h.waitInbox(to, 3)
		time.Sleep(50 * time.Millisecond)
		msgs = h.inbox(to)
		if len(msgs) != 3 || string(msgs[0].Key) != id || string(msgs[1].Key) != revID || string(msgs[2].Key) != id {
			var keys []string
			for _, m := range msgs {
				keys = append(keys, string(m.Key))
			}
			t.Errorf("%s received %v, want [%s %s %s]", to, keys, id, revID, id)
		}
	}
}

// SPEC §2 status lifecycle over POST /v1/status: history, forwarding to the sender, no
// moving backwards, status_not_allowed, and the recall codes.
func TestStatusLifecycle(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 10)
	h.mustAccept(b)
	h.waitInbox(ngheAn, 1)

	var sent [][]byte
	for _, code := range []string{"01", "03", "04", "05", "06"} {
		s := status(t, ngheAn, id, code, "bước "+code)
		a := h.mustStatus(s)
		if a.DocumentID != id || a.Code != code || a.AuditSeq == 0 {
			t.Errorf("status %s answered %+v", code, a)
		}
		sent = append(sent, s)
	}
	d := h.document(id)
	if got := statusCodes(deliveryOf(t, d, ngheAn)); got != "01,03,04,05,06" {
		t.Errorf("history of %s: %s", ngheAn, got)
	}
	if st := stateOf(d, ngheAn); st != store.StateCompleted {
		t.Errorf("state %s after 06, want completed", st)
	}

	// Each status reaches the sender's inbox as the exact signed bytes.
	msgs := h.waitInbox(govOffice, len(sent))
	for i, m := range msgs {
		if !bytes.Equal(m.Value, sent[i]) {
			t.Errorf("forwarded status %d is not the signed bytes", i)
		}
		checkHeaders(t, m, "status", id, ngheAn)
		if string(m.Key) != id {
			t.Errorf("forwarded status key %q", m.Key)
		}
	}

	// A late 01 after 05 at another recipient: in the history, the state stays 05.
	for i, code := range []string{"01", "05", "01"} {
		h.mustStatus(status(t, tayNinh, id, code, "late "+code+" #"+strconv.Itoa(i)))
	}
	d = h.document(id)
	if got := statusCodes(deliveryOf(t, d, tayNinh)); got != "01,05,01" {
		t.Errorf("history of %s: %s", tayNinh, got)
	}
	if st := stateOf(d, tayNinh); st != store.StateProcessing {
		t.Errorf("state after 01,05,01: %s, want processing", st)
	}

	// A status from an agency that is not a recipient, and a 13 from a recipient.
	for _, s := range [][]byte{status(t, finance, id, "01", ""), status(t, police, id, "13", "")} {
		r := h.postStatus(s)
		if r.Status != http.StatusForbidden || r.errCode() != "status_not_allowed" {
			t.Errorf("status not allowed: %d %s, want 403 status_not_allowed", r.Status, r.Body)
		}
	}
	// A status about a document never sent.
	r := h.postStatus(status(t, ngheAn, "000.00.00.G22,2026/11/22,4040/NĐ-CP", "01", ""))
	if r.Status != http.StatusUnprocessableEntity || r.errCode() != "unknown_target" {
		t.Errorf("status about an unknown document: %d %s", r.Status, r.Body)
	}
	// A package posted to /v1/status.
	if r := h.postStatus(b); r.Status != http.StatusUnprocessableEntity || r.errCode() != "invalid_envelope" {
		t.Errorf("package on /v1/status: %d %s", r.Status, r.Body)
	}

	// Recall: 13 from the sender goes to every recipient; 15 and 16 come back.
	recall := status(t, govOffice, id, "13", "thu hồi")
	h.mustStatus(recall)
	for _, to := range decreeTo {
		var got []bus.Message
		eventually(t, 5*time.Second, "recall at "+to, func() bool {
			got = only(h.inbox(to), HeaderType, "status")
			return len(got) == 1
		})
		if !bytes.Equal(got[0].Value, recall) {
			t.Errorf("%s: recall bytes differ", to)
		}
		checkHeaders(t, got[0], "status", id, govOffice)
	}
	agree, refuse := status(t, police, id, "15", "đồng ý"), status(t, ngheAn, id, "16", "không đồng ý")
	h.mustStatus(agree)
	h.mustStatus(refuse)
	back := h.waitInbox(govOffice, len(sent)+5) // 5 lifecycle, 3 late ones, 15, 16
	if !bytes.Equal(back[len(back)-2].Value, agree) || !bytes.Equal(back[len(back)-1].Value, refuse) {
		t.Errorf("15/16 not forwarded to the sender in order")
	}
	d = h.document(id)
	if rc := deliveryOf(t, d, police).Recall; rc != store.RecallAgreed {
		t.Errorf("recall state of %s: %q", police, rc)
	}
	if rc := deliveryOf(t, d, ngheAn).Recall; rc != store.RecallRefused {
		t.Errorf("recall state of %s: %q", ngheAn, rc)
	}

	// An identical status again: 200, not forwarded twice.
	if r := h.postStatus(agree); r.Status != http.StatusOK {
		t.Errorf("identical status again: %d %s, want 200", r.Status, r.Body)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(h.inbox(govOffice)); n != len(back) {
		t.Errorf("sender inbox has %d messages after a resubmitted status, want %d", n, len(back))
	}
}

// SPEC §8 axis.status: statuses published on the topic are accepted like HTTP ones;
// those that cannot be go to axis.dlq with their error; committed offsets survive a
// restart of the consumer.
func TestStatusTopicAndDLQ(t *testing.T) {
	mb := membus.New(membus.Options{})
	dir := t.TempDir()
	h := startOn(t, mb, dir)
	b, id := pkg(t, 20)
	h.mustAccept(b)

	ctx := context.Background()
	good := status(t, ngheAn, id, "03", "qua Kafka")
	notAllowed := status(t, finance, id, "01", "")
	garbage := []byte("<edXML><not closed")
	pub := func(v []byte) {
		t.Helper()
		if err := mb.Publish(ctx, bus.Message{Topic: TopicStatus, Key: []byte(id), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	pub(good)
	pub(notAllowed)
	pub(garbage)

	eventually(t, 10*time.Second, "two messages on axis.dlq", func() bool { return len(mb.Messages(TopicDLQ)) >= 2 })
	d := h.document(id)
	if st := stateOf(d, ngheAn); st != store.StateAccepted {
		t.Errorf("state after a 03 on axis.status: %s", st)
	}
	fwd := only(h.waitInbox(govOffice, 1), HeaderType, "status")
	if len(fwd) != 1 || !bytes.Equal(fwd[0].Value, good) {
		t.Fatalf("status from axis.status not forwarded to the sender")
	}
	dlq := mb.Messages(TopicDLQ)
	want := []struct {
		value []byte
		code  string
	}{{notAllowed, "status_not_allowed"}, {garbage, "malformed_xml"}}
	for i, w := range want {
		m := dlq[i]
		if !bytes.Equal(m.Value, w.value) {
			t.Errorf("dlq[%d]: value differs", i)
		}
		if m.Header(HeaderErrorCode) != w.code || m.Header(HeaderError) == "" {
			t.Errorf("dlq[%d]: %s=%q %s=%q, want code %s and a message", i, HeaderErrorCode, m.Header(HeaderErrorCode),
				HeaderError, m.Header(HeaderError), w.code)
		}
	}

	// Restart: the new consumer starts after the committed offsets. A fresh bad marker is
	// processed after anything replayed, so once it is on the DLQ, replays would be too.
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	auditBefore := auditTypes(t, dir)
	h2 := startOn(t, mb, dir)
	marker := []byte("<marker/>")
	pub(marker)
	eventually(t, 10*time.Second, "the marker on axis.dlq", func() bool { return len(mb.Messages(TopicDLQ)) >= 3 })
	time.Sleep(100 * time.Millisecond)
	if dlq := mb.Messages(TopicDLQ); len(dlq) != 3 || !bytes.Equal(dlq[2].Value, marker) {
		t.Errorf("after a restart the DLQ holds %d messages, want the 2 old ones and the marker", len(dlq))
	}
	if h2.document(id).Recipients == nil {
		t.Fatal("document lost")
	}
	if n := len(only(h2.inbox(govOffice), HeaderType, "status")); n != 1 {
		t.Errorf("sender inbox has %d statuses after the restart, want 1", n)
	}
	h2.shutdown()
	after := auditTypes(t, dir)
	if got := after[len(auditBefore):]; countType(got, audit.Status) != 0 || countType(got, audit.Rejected) != 1 {
		t.Errorf("audit events after the restart: %v (want one rejection, no status)", got)
	}
}

// auditTypes reads the audit event types of a stopped daemon's data directory.
func auditTypes(t testing.TB, dir string) []audit.Type {
	t.Helper()
	s, err := store.Open(dir, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lines, err := s.AuditSince(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Type
	for _, l := range lines {
		rec, err := audit.ParseLine(l.Line)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec.Event.Type)
	}
	return out
}

func countType(ts []audit.Type, want audit.Type) int {
	n := 0
	for _, t := range ts {
		if t == want {
			n++
		}
	}
	return n
}

// SPEC §6 authorization of the read API.
func TestReadAuthorization(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 30)
	h.mustAccept(b)
	docPath := "/v1/documents/" + url.PathEscape(id)

	cases := []struct {
		name, path, tok string
		want            int
	}{
		{"no token", docPath, "", http.StatusUnauthorized},
		{"bad token", docPath, "not-a-token", http.StatusUnauthorized},
		{"sender", docPath, h.agencyToken(govOffice), http.StatusOK},
		{"recipient", docPath, h.agencyToken(tayNinh), http.StatusOK},
		{"other agency", docPath, h.agencyToken(finance), http.StatusNotFound},
		{"auditor", docPath, h.auditorToken(), http.StatusOK},
		{"unknown document", "/v1/documents/" + url.PathEscape("000.00.00.G22,2026/11/22,1/X"), h.auditorToken(), http.StatusNotFound},
		{"own list", "/v1/agencies/" + finance + "/documents", h.agencyToken(finance), http.StatusOK},
		{"other's list", "/v1/agencies/" + govOffice + "/documents", h.agencyToken(finance), http.StatusNotFound},
		{"list without token", "/v1/agencies/" + govOffice + "/documents", "", http.StatusUnauthorized},
		{"auditor's list", "/v1/agencies/" + govOffice + "/documents?direction=out", h.auditorToken(), http.StatusOK},
		{"audit for an agency", "/v1/audit", h.agencyToken(govOffice), http.StatusNotFound},
		{"audit verify for an agency", "/v1/audit/verify", h.agencyToken(govOffice), http.StatusNotFound},
		{"audit without token", "/v1/audit", "", http.StatusUnauthorized},
		{"audit for the auditor", "/v1/audit", h.auditorToken(), http.StatusOK},
		{"stats", "/v1/stats", h.agencyToken(finance), http.StatusOK},
		{"expired token", docPath, h.token(tokenClaims(govOffice, -time.Minute)), http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("GET", c.path, c.tok, nil)
			if r.Status != c.want {
				t.Fatalf("GET %s: %d %s, want %d", c.path, r.Status, r.Body, c.want)
			}
			if r.Status >= 400 && r.errCode() == "" {
				t.Errorf("error without a JSON error body: %s", r.Body)
			}
			if r.Status == http.StatusNotFound && bytes.Contains(r.Body, []byte("Nghị định")) {
				t.Errorf("404 leaks the document: %s", r.Body)
			}
		})
	}

	// The document view has metadata, recipients and history.
	var view struct {
		store.Document
		Receipt string `json:"receipt"`
	}
	h.do("GET", docPath, h.agencyToken(govOffice), nil).json(t, &view)
	if view.DocumentID != id || view.From != govOffice || len(view.Recipients) != 3 || view.Receipt == "" || view.Subject == "" {
		t.Errorf("document view: %+v", view)
	}
}

func tokenClaims(agency string, ttl time.Duration) token.Claims {
	return token.Claims{Agency: agency, Expires: time.Now().Add(ttl).Unix()}
}

// GET /v1/agencies/{id}/documents filters by direction and state.
func TestAgencyListFilters(t *testing.T) {
	h := startDaemon(t)
	var ids []string
	for n := 40; n < 43; n++ {
		b, id := pkg(t, n)
		h.mustAccept(b)
		ids = append(ids, id)
	}
	h.waitInbox(ngheAn, 3)
	h.mustStatus(status(t, ngheAn, ids[1], "03", ""))

	list := func(agency, query, tok string) []string {
		t.Helper()
		r := h.do("GET", "/v1/agencies/"+agency+"/documents"+query, tok, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list %s%s: %d %s", agency, query, r.Status, r.Body)
		}
		var page struct {
			Documents []store.Summary `json:"documents"`
		}
		r.json(t, &page)
		var out []string
		for _, d := range page.Documents {
			out = append(out, d.DocumentID)
		}
		slices.Sort(out)
		return out
	}
	cases := []struct {
		agency, query string
		want          []string
	}{
		{ngheAn, "", ids},
		{ngheAn, "?direction=in", ids},
		{ngheAn, "?direction=out", nil},
		{govOffice, "?direction=out", ids},
		{govOffice, "?direction=in", nil},
		{ngheAn, "?direction=in&status=accepted", ids[1:2]},
		{ngheAn, "?direction=in&limit=1", ids[2:3]}, // newest first
		{ngheAn, "?direction=in&limit=1&order=oldest", ids[0:1]},
		{finance, "", nil},
	}
	for _, c := range cases {
		if got := list(c.agency, c.query, h.agencyToken(c.agency)); !slices.Equal(got, c.want) {
			t.Errorf("%s%s: %v, want %v", c.agency, c.query, got, c.want)
		}
	}
	if r := h.do("GET", "/v1/agencies/"+ngheAn+"/documents?direction=sideways", h.agencyToken(ngheAn), nil); r.Status != http.StatusBadRequest {
		t.Errorf("bad direction: %d", r.Status)
	}
	if r := h.do("GET", "/v1/agencies/"+ngheAn+"/documents?order=random", h.agencyToken(ngheAn), nil); r.Status != http.StatusBadRequest {
		t.Errorf("bad order: %d", r.Status)
	}
}

// GET /v1/audit and /v1/audit/verify (SPEC §6, §9).
func TestAuditEndpoints(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 50)
	a := h.mustAccept(b)
	h.postPackage([]byte("<broken"))
	h.waitInbox(police, 1)
	eventually(t, 5*time.Second, "published events", func() bool {
		return bytes.Count(h.do("GET", "/v1/audit", h.auditorToken(), nil).Body, []byte(`"type":"published"`)) == 3
	})
	r := h.do("GET", "/v1/audit", h.auditorToken(), nil)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") {
		t.Errorf("Content-Type %q", ct)
	}
	rep, err := audit.Verify(context.Background(), bytes.NewReader(r.Body), audit.VerifyOptions{})
	if err != nil || rep.Break != nil || rep.FirstSeq != 1 {
		t.Fatalf("export does not verify: %v %+v\n%s", err, rep.Break, r.Body)
	}
	var types []audit.Type
	for _, l := range bytes.Split(bytes.TrimSpace(r.Body), []byte("\n")) {
		rec, err := audit.ParseLine(l)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, rec.Event.Type)
		if rec.Event.Seq == a.AuditSeq && (rec.Event.Type != audit.Accepted || rec.Event.DocumentID != id || rec.Event.SHA256 != a.SHA256) {
			t.Errorf("event %d is %+v, want the acceptance", a.AuditSeq, rec.Event)
		}
	}
	if countType(types, audit.Accepted) != 1 || countType(types, audit.Rejected) != 1 || countType(types, audit.Published) != 3 {
		t.Errorf("audit types %v", types)
	}

	// Paging: from and limit, with the next seq in a header.
	r = h.do("GET", "/v1/audit?from=2&limit=2", h.auditorToken(), nil)
	lines := bytes.Split(bytes.TrimSpace(r.Body), []byte("\n"))
	if len(lines) != 2 || r.Header.Get("X-Axis-Next") != "4" {
		t.Errorf("from=2&limit=2: %d lines, next %q", len(lines), r.Header.Get("X-Axis-Next"))
	}
	if rec, err := audit.ParseLine(lines[0]); err != nil || rec.Event.Seq != 2 {
		t.Errorf("from=2 starts at %+v (%v)", rec.Event, err)
	}
	if r := h.do("GET", "/v1/audit?from=0", h.auditorToken(), nil); r.Status != http.StatusBadRequest || r.errCode() != "bad_request" {
		t.Errorf("from=0: %d %s", r.Status, r.Body)
	}

	r = h.do("GET", "/v1/audit/verify", h.auditorToken(), nil)
	var v struct {
		OK          bool   `json:"ok"`
		Events      uint64 `json:"events"`
		LastGoodSeq uint64 `json:"last_good_seq"`
	}
	r.json(t, &v)
	if r.Status != http.StatusOK || !v.OK || v.Events != uint64(len(types)) && v.Events < uint64(len(types)) {
		t.Errorf("audit verify: %d %s", r.Status, r.Body)
	}
}

// SPEC §6 error table: each intake code over HTTP, with its HTTP status and JSON body.
// The signature and certificate cases come from the attack corpus (its own trust and
// registry); the store-dependent ones are built here.
func TestIntakeErrorCodes(t *testing.T) {
	const corpus = "../testdata/attacks/"
	// The corpus's trust, plus the root of the axis identity the harness starts with (the
	// daemon refuses an identity its trust does not verify).
	trust := t.TempDir()
	for _, f := range []string{corpus + "trust/root.pem", corpus + "trust/root.crl", devpki.RootCertPath(testPKI(t))} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		if strings.HasPrefix(f, corpus) {
			name = "corpus-" + name
		}
		if err := os.WriteFile(filepath.Join(trust, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := startDaemon(t, withTrust(trust, corpus+"registry.json"), withMaxBytes(64<<10))
	cases := loadAttackCases(t, corpus+"cases.json")
	seen := map[string]bool{}
	for _, c := range cases {
		if c.Expect == "" || c.AllowSHA1 {
			continue
		}
		t.Run(c.File, func(t *testing.T) {
			b, err := os.ReadFile(corpus + c.File)
			if err != nil {
				t.Fatal(err)
			}
			path := "/v1/packages"
			if strings.Contains(c.File, "status") {
				path = "/v1/status"
			}
			r := h.do("POST", path, "", b)
			if r.errCode() != c.Expect || r.Status != errStatus[c.Expect] {
				t.Fatalf("%s: %d %s, want %d %s (%s)", c.File, r.Status, r.Body, errStatus[c.Expect], c.Expect, c.What)
			}
			seen[c.Expect] = true
		})
	}

	// The rest on a daemon of the dev PKI: too_large, duplicate_document, unknown_target,
	// status_not_allowed (unavailable: TestStoreWriteFailure).
	d := startDaemon(t, withMaxBytes(16<<10))
	b, id := pkg(t, 60)
	d.mustAccept(b)
	other, _ := decree(t, 60)
	other = bytes.Replace(other, []byte("Hà Nội"), []byte("Hà  Nội"), 1)
	big, _ := decree(t, 61)
	big = bytes.Replace(big, []byte("<Content>"), []byte("<Content>"+strings.Repeat("x", 20<<10)), 1)
	rev, _ := revision(t, 62, "1", "000.00.00.G22,2026/01/01,1/X")
	dcases := []struct {
		name, path string
		body       []byte
		want       string
	}{
		{"too_large", "/v1/packages", big, "too_large"}, // not even signed: refused before parsing
		{"too_large status", "/v1/status", big, "too_large"},
		{"malformed_xml", "/v1/packages", []byte("<edXML>"), "malformed_xml"},
		{"empty body", "/v1/packages", []byte{}, "malformed_xml"},
		{"doctype", "/v1/packages", []byte(`<!DOCTYPE x [<!ENTITY a "b">]><edXML/>`), "malformed_xml"},
		{"signature_missing", "/v1/packages", other, "signature_missing"},
		{"duplicate_document", "/v1/packages", signAs(t, govOffice, other), "duplicate_document"},
		{"unknown_target", "/v1/packages", rev, "unknown_target"},
		{"status_not_allowed", "/v1/status", status(t, finance, id, "01", ""), "status_not_allowed"},
		{"sender_mismatch", "/v1/packages", signAs(t, finance, other), "sender_mismatch"},
	}
	for _, c := range dcases {
		r := d.do("POST", c.path, "", c.body)
		if r.errCode() != c.want || r.Status != errStatus[c.want] {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Body, errStatus[c.want], c.want)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
		seen[c.want] = true
	}
	for code := range errStatus {
		if !seen[code] && code != "unavailable" {
			t.Errorf("SPEC §6 code %s not exercised over HTTP", code)
		}
	}
}

// errStatus is the SPEC §6 table.
var errStatus = map[string]int{
	"malformed_xml": 400, "invalid_envelope": 422, "signature_missing": 422, "signature_invalid": 422,
	"algorithm_not_allowed": 422, "certificate_untrusted": 422, "certificate_expired": 422, "certificate_revoked": 422,
	"sender_mismatch": 403, "unknown_agency": 422, "duplicate_document": 409, "unknown_target": 422,
	"status_not_allowed": 403, "too_large": 413, "unavailable": 503,
}

type attackCase struct {
	File      string `json:"file"`
	Expect    string `json:"expect"`
	AllowSHA1 bool   `json:"allow_sha1"`
	What      string `json:"what"`
}

func loadAttackCases(t testing.TB, path string) []attackCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cs []attackCase
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

// A store that cannot write: 503 unavailable, nothing accepted, /readyz fails; once the
// fault clears, submissions work again.
func TestStoreWriteFailure(t *testing.T) {
	var failing atomic.Bool
	h := startDaemon(t, withStoreHooks(func(o *store.Options) {
		o.FailWrites = func() error {
			if failing.Load() {
				return errors.New("injected: disk full")
			}
			return nil
		}
	}))
	if r := h.do("GET", "/readyz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("/readyz before the fault: %d %s", r.Status, r.Body)
	}
	failing.Store(true)
	b, id := pkg(t, 70)
	r := h.postPackage(b)
	if r.Status != http.StatusServiceUnavailable || r.errCode() != "unavailable" {
		t.Fatalf("submission while the store fails: %d %s, want 503 unavailable", r.Status, r.Body)
	}
	if r := h.do("GET", "/readyz", "", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the store fails: %d %s, want 503", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/documents/"+url.PathEscape(id), h.auditorToken(), nil); r.Status != http.StatusNotFound {
		t.Errorf("document after a failed write: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/healthz", "", nil); r.Status != http.StatusOK {
		t.Errorf("/healthz while the store fails: %d", r.Status)
	}
	time.Sleep(50 * time.Millisecond)
	for _, to := range decreeTo {
		if n := len(h.inbox(to)); n != 0 {
			t.Errorf("%s got %d messages of a refused package", to, n)
		}
	}

	failing.Store(false)
	if r := h.do("GET", "/readyz", "", nil); r.Status != http.StatusOK {
		t.Errorf("/readyz after the fault cleared: %d %s", r.Status, r.Body)
	}
	a := h.mustAccept(b)
	if a.DocumentID != id {
		t.Errorf("accepted %q", a.DocumentID)
	}
	h.waitInbox(police, 1)
}

// SPEC §8 axis.audit: every audit event, in order, as export lines that verify.
func TestAuditTopic(t *testing.T) {
	mb := membus.New(membus.Options{})
	dir := t.TempDir()
	h := startOn(t, mb, dir)
	b, id := pkg(t, 80)
	h.mustAccept(b)
	h.postPackage([]byte("garbage"))
	h.waitInbox(ngheAn, 1)
	h.mustStatus(status(t, ngheAn, id, "01", ""))
	h.postStatus(status(t, finance, id, "01", ""))
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	// After a clean shutdown everything, the final checkpoint included, is on the topic.
	s, err := store.Open(dir, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := s.ExportAudit(context.Background(), &want, 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var got bytes.Buffer
	for i, m := range mb.Messages(TopicAudit) {
		got.Write(m.Value)
		got.WriteByte('\n')
		if m.Header(HeaderAuditSeq) != strconv.Itoa(i+1) {
			t.Errorf("audit message %d has axis-audit-seq %q", i, m.Header(HeaderAuditSeq))
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("axis.audit differs from the store's export\n--- topic\n%s\n--- store\n%s", got.Bytes(), want.Bytes())
	}
	rep, err := audit.Verify(context.Background(), bytes.NewReader(got.Bytes()), audit.VerifyOptions{})
	if err != nil || rep.Break != nil {
		t.Fatalf("axis.audit does not verify: %v %+v", err, rep.Break)
	}
	lines := bytes.Split(bytes.TrimSpace(got.Bytes()), []byte("\n"))
	last, _ := audit.ParseLine(lines[len(lines)-1])
	if last.Event.Type != audit.Checkpoint || rep.Unattested() != 0 {
		t.Errorf("log ends with %s, %d unattested events", last.Event.Type, rep.Unattested())
	}
	var types []audit.Type
	for _, l := range lines {
		rec, _ := audit.ParseLine(l)
		types = append(types, rec.Event.Type)
	}
	for typ, n := range map[audit.Type]int{audit.Accepted: 1, audit.Rejected: 2, audit.Published: 3, audit.Status: 1, audit.Forwarded: 1} {
		if countType(types, typ) != n {
			t.Errorf("%d %s events, want %d: %v", countType(types, typ), typ, n, types)
		}
	}
}

// /healthz, /metrics, and /readyz failing during shutdown.
func TestHealthMetricsShutdown(t *testing.T) {
	h := startDaemon(t)
	b, _ := pkg(t, 90)
	h.mustAccept(b)
	h.postPackage([]byte("<x"))
	h.waitInbox(police, 1)
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := h.do("GET", p, "", nil); r.Status != http.StatusOK {
			t.Errorf("%s: %d %s", p, r.Status, r.Body)
		}
	}
	eventually(t, 5*time.Second, "publish metrics", func() bool {
		return bytes.Contains(h.do("GET", "/metrics", "", nil).Body, []byte(`axis_kafka_publish_seconds_count{stream="deliveries"}`))
	})
	m := string(h.do("GET", "/metrics", "", nil).Body)
	for _, want := range []string{
		`axis_intake_total{kind="edoc",result="accepted",source="http"} 1`,
		`axis_intake_total{kind="edoc",result="malformed_xml",source="http"} 1`,
		"axis_verify_seconds_count",
		`axis_store_commit_seconds_count{op="accept"} 1`,
		`axis_kafka_publish_seconds_count{stream="deliveries"}`,
		"axis_outbox_depth 0",
		"axis_store_checkpoint_seconds_count",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The write-ahead log on disk: the current segment, and the next one once it is
	// created in the background (and one a checkpoint may be deleting).
	if !regexp.MustCompile(`(?m)^axis_store_wal_segments [123]$`).MatchString(m) ||
		!regexp.MustCompile(`(?m)^axis_store_wal_bytes [1-9][0-9.e+]*$`).MatchString(m) {
		t.Errorf("/metrics lacks the write-ahead log's segments and bytes:\n%s", grepLines(m, "axis_store_wal"))
	}

	// While shutting down /readyz fails (or the listener is already closed) and intake
	// refuses with 503.
	h.d.shutting.Store(true) // the first step of Run's shutdown
	if r := h.do("GET", "/readyz", "", nil); r.Status != http.StatusServiceUnavailable || r.errCode() != "unavailable" {
		t.Errorf("/readyz while shutting down: %d %s", r.Status, r.Body)
	}
	if r := h.postPackage(b); r.Status != http.StatusServiceUnavailable {
		t.Errorf("submission while shutting down: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/healthz", "", nil); r.Status != http.StatusOK {
		t.Errorf("/healthz while shutting down: %d", r.Status)
	}
	start := time.Now()
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > h.cfg.ShutdownGrace {
		t.Errorf("shutdown took %v, grace %v", el, h.cfg.ShutdownGrace)
	}
	if _, err := http.Get(h.url + "/readyz"); err == nil {
		t.Error("/readyz still answers after shutdown")
	}
}

// The dispatcher cuts a page at outboxPageBytes; what is left must go out at once, not
// after the idle wait, and the depth gauge must count only what is still pending.
func TestDispatcherPagesLargeDeliveries(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 3
	for i := range n {
		b := bytes.Repeat([]byte{'a' + byte(i)}, outboxPageBytes/2+1)
		if _, err := s.Accept(ctx, store.AcceptRequest{Bytes: b, Meta: store.DocumentMeta{
			DocumentID: "000.00.00.G22,2026/11/22," + strconv.Itoa(i) + "/X", From: govOffice, To: []string{police}}}); err != nil {
			t.Fatal(err)
		}
	}
	mb := membus.New(membus.Options{})
	if err := mb.EnsureTopics(ctx, InboxTopic(police)); err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	m.watchOutbox(s)
	if depth := outboxGauge(t, m); depth != n { // read from the store, before any dispatcher ran
		t.Errorf("axis_outbox_depth %v before dispatching, want %d", depth, n)
	}
	d := &dispatcher{store: s, pub: mb, log: zaptest.NewLogger(t), m: m, wake: newWakeup(), audit: newWakeup()}
	for sent := 0; sent < n; {
		got, err := d.once(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sent += got
		if got != 1 {
			t.Fatalf("a page of %d deliveries over %d bytes", got, outboxPageBytes)
		}
		if depth := outboxGauge(t, m); depth != float64(n-sent) {
			t.Errorf("axis_outbox_depth %v after %d of %d sent", depth, sent, n)
		}
		woke := false
		select {
		case <-d.wake:
			woke = true
		default:
		}
		if woke != (sent < n) {
			t.Errorf("after %d of %d: dispatcher woken = %v", sent, n, woke)
		}
	}
	if msgs := mb.Messages(InboxTopic(police)); len(msgs) != n {
		t.Errorf("%d messages delivered, want %d", len(msgs), n)
	}
}

// outboxGauge reads axis_outbox_depth as a scrape does.
func outboxGauge(t testing.TB, m *metrics) float64 {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "axis_outbox_depth" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no axis_outbox_depth")
	return 0
}

func gaugeValue(t testing.TB, g interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// slowAudit delays publishes to axis.audit and reports when one starts.
type slowAudit struct {
	*membus.Bus
	delay   time.Duration
	started chan struct{}
}

func (s *slowAudit) Publish(ctx context.Context, msgs ...bus.Message) error {
	if len(msgs) > 0 && msgs[0].Topic == TopicAudit {
		select {
		case s.started <- struct{}{}:
		default:
		}
		if !sleep(ctx, s.delay) {
			return ctx.Err()
		}
	}
	return s.Bus.Publish(ctx, msgs...)
}

// A shutdown while the audit publisher is sending must not publish the same events
// twice (the final flush used to run beside the still-running loop).
func TestShutdownDoesNotRepublishAudit(t *testing.T) {
	mb := membus.New(membus.Options{})
	slow := &slowAudit{Bus: mb, delay: 300 * time.Millisecond, started: make(chan struct{}, 1)}
	h := startOn(t, mb, t.TempDir(), func(_ *Config, o *Options) { o.Bus = slow })
	b, _ := pkg(t, 95)
	h.mustAccept(b)
	select {
	case <-slow.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the audit publisher never started")
	}
	if err := h.shutdown(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var seqs []string
	for _, m := range mb.Messages(TopicAudit) {
		seq := m.Header(HeaderAuditSeq)
		seen[seq]++
		seqs = append(seqs, seq)
	}
	for i, s := range seqs {
		if s != strconv.Itoa(i+1) {
			t.Fatalf("axis.audit carries seqs %v, want 1..n once each in order", seqs)
		}
	}
}

// Identical bytes submitted concurrently: one 202, the others 200 with the same
// answer, and one delivery per recipient.
func TestConcurrentIdenticalSubmissions(t *testing.T) {
	h := startDaemon(t)
	b, _ := pkg(t, 96)
	const n = 8
	codes := make(chan int, n)
	bodies := make(chan PackageAnswer, n)
	for range n {
		go func() {
			r := doHTTPNoFatal(h.url+"/v1/packages", b)
			var a PackageAnswer
			json.Unmarshal(r.Body, &a)
			codes <- r.Status
			bodies <- a
		}()
	}
	count := map[int]int{}
	var first PackageAnswer
	for i := range n {
		count[<-codes]++
		a := <-bodies
		if i == 0 {
			first = a
		} else if a.SHA256 != first.SHA256 || a.AuditSeq != first.AuditSeq || a.Receipt != first.Receipt {
			t.Errorf("answers differ: %+v vs %+v", a, first)
		}
	}
	if count[http.StatusAccepted] != 1 || count[http.StatusOK] != n-1 {
		t.Errorf("status codes %v, want one 202 and %d 200", count, n-1)
	}
	for _, to := range decreeTo {
		h.waitInbox(to, 1)
	}
	time.Sleep(100 * time.Millisecond)
	for _, to := range decreeTo {
		if got := len(h.inbox(to)); got != 1 {
			t.Errorf("%s got %d copies", to, got)
		}
	}
}

// doHTTPNoFatal posts from any goroutine (status 0 on a transport error).
func doHTTPNoFatal(u string, body []byte) response {
	resp, err := http.Post(u, "application/xml", bytes.NewReader(body))
	if err != nil {
		return response{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// too_large also holds for a chunked body (no Content-Length to refuse up front).
func TestTooLargeChunked(t *testing.T) {
	h := startDaemon(t, withMaxBytes(8<<10))
	body := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), 64<<10))) // hides the length
	req, _ := http.NewRequest("POST", h.url+"/v1/packages", body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Body: b}
	if req.ContentLength != 0 || r.Status != http.StatusRequestEntityTooLarge || r.errCode() != "too_large" {
		t.Errorf("chunked oversize body: %d %s (content length %d)", r.Status, r.Body, req.ContentLength)
	}
	// Refused unread, it is still an audit step (SPEC §9).
	a := h.do("GET", "/v1/audit?from=1", h.auditorToken(), nil)
	rec, err := audit.ParseLine(bytes.TrimSpace(a.Body))
	if err != nil || rec.Event.Type != audit.Rejected || rec.Event.Code != "too_large" || rec.Event.SHA256 != "" {
		t.Errorf("audit after a too_large body: %s (%v)", a.Body, err)
	}
}

// A status on axis.status that meets a failing store is not dead-lettered: it stays
// uncommitted and is accepted once the store writes again.
func TestStatusTopicStoreFailureRetried(t *testing.T) {
	var failing atomic.Bool
	h := startDaemon(t, withStoreHooks(func(o *store.Options) {
		o.FailWrites = func() error {
			if failing.Load() {
				return errors.New("injected: disk full")
			}
			return nil
		}
	}))
	b, id := pkg(t, 97)
	h.mustAccept(b)
	h.waitInbox(police, 1)
	failing.Store(true)
	s := status(t, police, id, "03", "")
	if err := h.bus.Publish(context.Background(), bus.Message{Topic: TopicStatus, Key: []byte(id), Value: s}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // several redeliveries
	if n := len(h.bus.Messages(TopicDLQ)); n != 0 {
		t.Fatalf("a transient store failure sent the status to the DLQ (%d messages)", n)
	}
	failing.Store(false)
	eventually(t, 10*time.Second, "the status recorded after the fault", func() bool {
		return stateOf(h.document(id), police) == store.StateAccepted
	})
	fwd := only(h.waitInbox(govOffice, 1), HeaderType, "status")
	if len(fwd) != 1 || !bytes.Equal(fwd[0].Value, s) {
		t.Errorf("status forwarded %d times", len(fwd))
	}
	if n := len(h.bus.Messages(TopicDLQ)); n != 0 {
		t.Errorf("%d messages on the DLQ", n)
	}
}

// downAdmin is a membus whose topic creation fails until up is set, like Kafka
// unreachable.
type downAdmin struct {
	*membus.Bus
	up atomic.Bool
}

func (b *downAdmin) EnsureTopics(ctx context.Context, topics ...string) error {
	if !b.up.Load() {
		return errs.E(errs.Unavailable, "brokers unreachable")
	}
	return b.Bus.EnsureTopics(ctx, topics...)
}

func (b *downAdmin) Publish(ctx context.Context, msgs ...bus.Message) error {
	if !b.up.Load() {
		return errs.E(errs.Unavailable, "brokers unreachable")
	}
	return b.Bus.Publish(ctx, msgs...)
}

// A daemon (re)started while Kafka is down still starts and accepts into the store
// (SPEC §8); once Kafka is back it creates the topics and delivers.
func TestStartWithKafkaDown(t *testing.T) {
	mb := membus.New(membus.Options{})
	down := &downAdmin{Bus: mb}
	h := startOn(t, mb, t.TempDir(), func(_ *Config, o *Options) { o.Bus = down })
	b, _ := pkg(t, 98)
	h.mustAccept(b)
	if r := h.do("GET", "/readyz", "", nil); r.Status != http.StatusOK {
		t.Errorf("/readyz with Kafka down: %d %s", r.Status, r.Body)
	}
	down.up.Store(true)
	for _, to := range decreeTo {
		if m := h.waitInbox(to, 1); !bytes.Equal(m[0].Value, b) {
			t.Errorf("%s: wrong bytes", to)
		}
	}
}

// GET /v1/audit/verify checks checkpoint signatures with the daemon's trust: a log whose
// checkpoints are signed by someone other than the axis identity is not "ok".
func TestAuditVerifyChecksCheckpointSignatures(t *testing.T) {
	cases := []struct {
		name   string
		signer func(t testing.TB) audit.CheckpointSigner
		ok     bool
	}{
		{"axis identity", nil, true},
		{"an agency's key", func(t testing.TB) audit.CheckpointSigner {
			s := signer(t, finance)
			return audit.SignerFunc(s.SignBytes)
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opts []harnessOpt
			if c.signer != nil {
				cs := c.signer(t)
				opts = append(opts, withStoreHooks(func(o *store.Options) { o.Checkpoints = cs; o.CheckpointEvery = 2 }))
			} else {
				opts = append(opts, withStoreHooks(func(o *store.Options) { o.CheckpointEvery = 2 }))
			}
			h := startDaemon(t, opts...)
			b, _ := pkg(t, 99)
			h.mustAccept(b)
			h.waitInbox(police, 1)
			eventually(t, 5*time.Second, "a checkpoint", func() bool {
				return bytes.Contains(h.do("GET", "/v1/audit", h.auditorToken(), nil).Body, []byte(`"type":"checkpoint"`))
			})
			r := h.do("GET", "/v1/audit/verify", h.auditorToken(), nil)
			var v struct {
				OK          bool   `json:"ok"`
				Checkpoints uint64 `json:"checkpoints"`
			}
			r.json(t, &v)
			if r.Status != http.StatusOK || v.OK != c.ok {
				t.Errorf("audit verify: %d %s, want ok=%v", r.Status, r.Body, c.ok)
			}
			if c.ok && v.Checkpoints == 0 {
				t.Errorf("no checkpoint verified: %s", r.Body)
			}
		})
	}
}

// refusingBus refuses, for good, every publish that holds a message for one topic, as a
// broker does for a topic whose max.message.bytes is too small (a topic created before
// the daemon with the broker's defaults).
type refusingBus struct {
	*membus.Bus
	topic string
}

func (b *refusingBus) Publish(ctx context.Context, msgs ...bus.Message) error {
	for _, m := range msgs {
		if m.Topic == b.topic {
			return errs.E(errs.TooLarge, "message larger than the broker accepts")
		}
	}
	return b.Bus.Publish(ctx, msgs...)
}

// A delivery Kafka refuses for good must not hold up the others: the rest of the
// outbox, to every other recipient, is still delivered.
func TestPoisonDeliveryDoesNotBlockOutbox(t *testing.T) {
	mb := membus.New(membus.Options{})
	h := startOn(t, mb, t.TempDir(), func(_ *Config, o *Options) { o.Bus = &refusingBus{Bus: mb, topic: InboxTopic(ngheAn)} })
	b1, id1 := pkg(t, 600)
	b2, id2 := pkg(t, 601)
	h.mustAccept(b1)
	h.mustAccept(b2)
	for _, to := range []string{police, tayNinh} {
		msgs := h.waitInbox(to, 2)
		if string(msgs[0].Key) != id1 || string(msgs[1].Key) != id2 {
			t.Errorf("%s: got %s, %s", to, msgs[0].Key, msgs[1].Key)
		}
	}
	h.mustStatus(status(t, police, id1, "01", ""))
	h.waitInbox(govOffice, 1)
	if n := len(h.inbox(ngheAn)); n != 0 {
		t.Errorf("the refused topic got %d messages", n)
	}
	if st := stateOf(h.document(id1), ngheAn); st != store.StatePending {
		t.Errorf("the refused delivery is %s, want still pending", st)
	}
}

// Publishing and marking run pipelined: under a burst every delivery goes out exactly
// once, and the idle rescan from the start of the outbox (after a second) sends nothing
// again.
func TestDispatcherPipelineExactlyOnce(t *testing.T) {
	h := startDaemon(t)
	const n = 150
	subs := make([][]byte, n)
	for i := range subs {
		subs[i], _ = pkg(t, 2000+i)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				h.mustAccept(subs[i])
			}
		}()
	}
	wg.Wait()
	for _, org := range []string{police, ngheAn, tayNinh} {
		h.waitInbox(org, n)
	}
	time.Sleep(1500 * time.Millisecond) // past the idle rescan
	for _, org := range []string{police, ngheAn, tayNinh} {
		seen := map[string]int{}
		for _, m := range h.inbox(org) {
			seen[m.Header(HeaderSHA256)]++
		}
		if len(seen) != n || len(h.inbox(org)) != n {
			t.Errorf("%s: %d messages for %d packages, want each once", org, len(h.inbox(org)), len(seen))
		}
	}
	if depth := outboxGauge(t, h.d.m); depth != 0 {
		t.Errorf("axis_outbox_depth %v with everything sent", depth)
	}
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// `axis token revoke` beside a running daemon: the token is refused within a second or
// two (API and portal share the check); other tokens still work.
func TestTokenRevokedWhileRunning(t *testing.T) {
	h := startDaemon(t)
	leaked, kept := h.auditorToken(), h.agencyToken(police)
	if r := h.do("GET", "/v1/stats", leaked, nil); r.Status != http.StatusOK {
		t.Fatalf("before: %d", r.Status)
	}
	k, err := token.LoadOrCreate(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Revoke(leaked, time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the revoked token refused", func() bool {
		return h.do("GET", "/v1/stats", leaked, nil).Status == http.StatusUnauthorized
	})
	if r := h.do("GET", "/v1/stats", kept, nil); r.Status != http.StatusOK {
		t.Fatalf("another token: %d", r.Status)
	}
}

// axis token rotate while the daemon runs: without grace, every earlier token is
// refused within a second and tokens of the new secret accepted, without a restart.
func TestTokenRotatedWhileRunning(t *testing.T) {
	h := startDaemon(t)
	before := h.auditorToken()
	if r := h.do("GET", "/v1/stats", before, nil); r.Status != http.StatusOK {
		t.Fatalf("before: %d", r.Status)
	}
	if _, err := token.Rotate(h.dir, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the replaced secret's token refused", func() bool {
		return h.do("GET", "/v1/stats", before, nil).Status == http.StatusUnauthorized
	})
	if r := h.do("GET", "/v1/stats", h.auditorToken(), nil); r.Status != http.StatusOK {
		t.Fatalf("a token of the new secret: %d", r.Status)
	}
}

// fakeMapped records ReleaseMapped's slices over a file of size bytes.
type fakeMapped struct {
	size   int64
	slices [][2]int64
}

func (f *fakeMapped) MappedSize(context.Context) (int64, error) { return f.size, nil }
func (f *fakeMapped) ReleaseMapped(_ context.Context, from, n int64) (int64, error) {
	f.slices = append(f.slices, [2]int64{from, n})
	return (from + n) % f.size, nil
}

// The store's mapped pages are dropped only while the resident mapped files exceed the
// budget, a tenth of the file a step, walking the file round.
func TestReleaserKeepsToBudget(t *testing.T) {
	ctx := context.Background()
	f := &fakeMapped{size: 100 << 20}
	resident := int64(10 << 20)
	r := &releaser{st: f, resident: func() (int64, error) { return resident, nil }, budget: 64 << 20}
	for range 5 {
		if err := r.step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.slices) != 0 {
		t.Fatalf("released %v under the budget", f.slices)
	}
	resident = 65 << 20
	for range 12 {
		if err := r.step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.slices) != 12 {
		t.Fatalf("%d slices released in 12 steps over the budget, want 12", len(f.slices))
	}
	for i, sl := range f.slices {
		if want := (int64(i) % 10) * (10 << 20); sl != [2]int64{want, 10 << 20} {
			t.Fatalf("slice %d is %v, want [%d %d]", i, sl, want, 10<<20)
		}
	}
	// Further over the budget, larger slices: a tenth of the file per multiple, up to 4.
	for _, c := range []struct{ resident, slice int64 }{{130 << 20, 20 << 20}, {200 << 20, 30 << 20}, {900 << 20, 40 << 20}} {
		resident = c.resident
		if err := r.step(ctx); err != nil {
			t.Fatal(err)
		}
		if got := f.slices[len(f.slices)-1][1]; got != c.slice {
			t.Errorf("resident %d MB: a slice of %d MB, want %d", c.resident>>20, got>>20, c.slice>>20)
		}
	}
	// A resident set that cannot be read releases anyway (the budget is not known).
	n := len(f.slices)
	r.resident = func() (int64, error) { return 0, errors.New("no /proc") }
	if err := r.step(ctx); err != nil || len(f.slices) != n+1 || f.slices[n][1] != 10<<20 {
		t.Fatalf("unreadable resident set: %v, %d slices", err, len(f.slices)-n)
	}
}

// A scrape never waits for the disk: while the store's writer is stuck in a write-ahead
// fsync (reads wait for it), axis_outbox_depth answers within outboxScrapeWait with the
// last depth it read, and reads the store again once the fsync is over. (Found in
// review: the scrape blocked for as long as the disk did.)
func TestOutboxGaugeDoesNotWaitForAStalledDisk(t *testing.T) {
	ctx := context.Background()
	var stall atomic.Bool
	release := make(chan struct{})
	s, err := store.Open(t.TempDir(), store.Options{FailLogSync: func() error {
		if stall.Load() {
			<-release // the disk stalls
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := newMetrics()
	m.watchOutbox(s)
	if depth := outboxGauge(t, m); depth != 0 {
		t.Fatalf("axis_outbox_depth %v on an empty store", depth)
	}
	stall.Store(true)
	accepted := make(chan error, 1)
	go func() {
		_, err := s.Accept(ctx, store.AcceptRequest{Bytes: bytes.Repeat([]byte{'a'}, 100), Meta: store.DocumentMeta{
			DocumentID: "000.00.00.G22,2026/11/22,1/X", From: govOffice, To: []string{police}}})
		accepted <- err
	}()
	var once sync.Once
	unstall := func() { once.Do(func() { stall.Store(false); close(release) }) }
	defer unstall()
	time.Sleep(300 * time.Millisecond) // the writer is in its fsync
	start := time.Now()
	scraped := make(chan float64, 1)
	go func() { scraped <- outboxGauge(t, m) }()
	select {
	case depth := <-scraped:
		if took := time.Since(start); took > time.Second || depth != 0 {
			t.Errorf("a scrape during a stalled fsync: %v after %v, want the last depth (0) within %v", depth, took, outboxScrapeWait)
		}
	case <-time.After(5 * time.Second):
		unstall()
		t.Fatal("a scrape during a stalled fsync still waiting after 5 s")
	}
	unstall()
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	if depth := outboxGauge(t, m); depth != 1 {
		t.Errorf("axis_outbox_depth %v after the fsync, want 1", depth)
	}
}
