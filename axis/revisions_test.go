package axis

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"axis/store"
)

// A recipient of a document does not see, in its revisions, a later revision it was not
// sent (its DocumentId, sha256, time and kind), in the API or the portal, as asking for
// that revision directly answers 404; nor does a recipient of only the revision see the
// original it revises. The parties to both see both links.
func TestRevisionsOnlyThoseSeen(t *testing.T) {
	h := startDaemon(t)
	orig, origID := pkg(t, 901)
	h.mustAccept(orig)
	// The sender replaces the decree, sending the replacement to the Police only.
	b, revID := decree(t, 902)
	for _, other := range []string{ngheAn, tayNinh} {
		re := regexp.MustCompile(`(?s)\s*<To>\s*<OrganId>` + regexp.QuoteMeta(other) + `</OrganId>.*?</To>`)
		b = re.ReplaceAll(b, nil)
	}
	bu := "<Bussiness><BussinessDocType>3</BussinessDocType><BussinessDocReason>thay thế</BussinessDocReason><DocumentId>" +
		origID + "</DocumentId></Bussiness>\n      </TraceHeaderList>"
	b = bytes.Replace(b, []byte("</TraceHeaderList>"), []byte(bu), 1)
	a := h.mustAccept(signAs(t, govOffice, b))
	if len(a.Recipients) != 1 || a.Recipients[0].OrganID != police {
		t.Fatalf("replacement recipients %+v, want only %s", a.Recipients, police)
	}
	tok := h.agencyToken(ngheAn)
	if r := h.do("GET", "/v1/documents/"+url.PathEscape(revID), tok, nil); r.Status != http.StatusNotFound {
		t.Fatalf("the replacement as %s: %d, want 404", ngheAn, r.Status)
	}
	r := h.do("GET", "/v1/documents/"+url.PathEscape(origID), tok, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("the original as %s: %d %s", ngheAn, r.Status, r.Body)
	}
	var d store.Document
	r.json(t, &d)
	for _, rv := range d.Revisions {
		if rv.DocumentID == revID {
			t.Errorf("%s (not a party to the replacement) sees it in the original's revisions: %+v", ngheAn, rv)
		}
	}
	// The portal shows it too (document.html, "revised by").
	req, _ := http.NewRequest("GET", h.url+"/documents/"+url.PathEscape(origID), nil)
	req.AddCookie(&http.Cookie{Name: "axis_session", Value: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || bytes.Contains(page, []byte(url.PathEscape(revID))) {
		t.Errorf("the portal's page of the original (%d) links the replacement for %s", resp.StatusCode, ngheAn)
	}
	// The replacement's only recipient sees it, not the original it replaces (it was
	// sent that one too, here: so take the sender's view to check both links are kept).
	var sender store.Document
	h.do("GET", "/v1/documents/"+url.PathEscape(origID), h.agencyToken(govOffice), nil).json(t, &sender)
	if len(sender.Revisions) != 1 || sender.Revisions[0].DocumentID != revID {
		t.Errorf("the sender lost its revision link: %+v", sender.Revisions)
	}
	var rv store.Document
	h.do("GET", "/v1/documents/"+url.PathEscape(revID), h.agencyToken(police), nil).json(t, &rv)
	if rv.Revises == nil || rv.Revises.DocumentID != origID {
		t.Errorf("%s, a recipient of both, lost the link to the original: %+v", police, rv.Revises)
	}
	// An update sent to the Ministry of Finance alone, which never received the original.
	up, upID := decree(t, 906)
	up = regexp.MustCompile(`(?s)<OrganId>000\.00\.00\.G01</OrganId>`).ReplaceAll(up, []byte("<OrganId>"+finance+"</OrganId>"))
	for _, other := range []string{ngheAn, tayNinh} {
		re := regexp.MustCompile(`(?s)\s*<To>\s*<OrganId>` + regexp.QuoteMeta(other) + `</OrganId>.*?</To>`)
		up = re.ReplaceAll(up, nil)
	}
	up = bytes.Replace(up, []byte("</TraceHeaderList>"), []byte("<Bussiness><BussinessDocType>2</BussinessDocType><BussinessDocReason>đính chính</BussinessDocReason><DocumentId>"+
		origID+"</DocumentId></Bussiness>\n      </TraceHeaderList>"), 1)
	if a := h.mustAccept(signAs(t, govOffice, up)); len(a.Recipients) != 1 || a.Recipients[0].OrganID != finance {
		t.Fatalf("update recipients %+v, want only %s", a.Recipients, finance)
	}
	var fin store.Document
	if r := h.do("GET", "/v1/documents/"+url.PathEscape(upID), h.agencyToken(finance), nil); r.Status != http.StatusOK {
		t.Fatalf("the update as %s: %d", finance, r.Status)
	} else {
		r.json(t, &fin)
	}
	if fin.Revises != nil {
		t.Errorf("%s, not a party to the original, sees it: %+v", finance, fin.Revises)
	}
}

// A recipient sees its own delivery only: another recipient's state and history (its
// clerks' notes) are that recipient's and the sender's business, as the inbox list
// already showed. The sender and an auditor see every delivery.
func TestRecipientSeesOwnDelivery(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 907)
	h.mustAccept(b)
	note := "chuyển Vụ Pháp chế xử lý, hạn 30/11"
	h.mustStatus(status(t, police, id, "03", note))
	for _, tc := range []struct {
		token string
		want  []string
	}{
		{h.agencyToken(ngheAn), []string{ngheAn}},
		{h.agencyToken(police), []string{police}},
		{h.agencyToken(govOffice), []string{police, ngheAn, tayNinh}},
		{h.auditorToken(), []string{police, ngheAn, tayNinh}},
	} {
		var d store.Document
		h.do("GET", "/v1/documents/"+url.PathEscape(id), tc.token, nil).json(t, &d)
		var got []string
		for _, r := range d.Recipients {
			got = append(got, r.OrganID)
		}
		if len(got) != len(tc.want) || len(d.To) != 3 {
			t.Fatalf("recipients shown %v (To %v), want %v", got, d.To, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("recipients shown %v, want %v", got, tc.want)
			}
		}
	}
	req, _ := http.NewRequest("GET", h.url+"/documents/"+url.PathEscape(id), nil)
	req.AddCookie(&http.Cookie{Name: "axis_session", Value: h.agencyToken(ngheAn)})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || bytes.Contains(page, []byte("Vụ Pháp chế")) {
		t.Fatalf("the portal shows %s another recipient's note (%d)", ngheAn, resp.StatusCode)
	}
}
