package axis

import (
	"bytes"
	"net/http"
	"testing"

	"axis/store"
)

// A status is one signed statement, whatever bytes carry it. Whoever holds a recipient's
// signed status (the sender gets every one on its inbox topic) could re-submit it with a
// byte added outside the signed content (a comment after the root): before, it was
// recorded again as new, forwarded again, and applied to the most recent package under
// the DocumentId, so after the sender replaced its document (BussinessDocType 3, same
// DocumentId), the recipient's "06 completed" about the original marked the replacement
// completed. Now the replay is answered 200 with the first answer, and changes nothing.
func TestStatusReplayOntoReplacement(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 20)
	h.mustAccept(b)
	done := status(t, ngheAn, id, "06", "đã xử lý xong bản gốc")
	first := h.mustStatus(done)

	// The sender replaces the document under the same DocumentId: nobody has handled it.
	same, _ := decree(t, 20)
	same = bytes.Replace(same, []byte("</TraceHeaderList>"),
		[]byte("<Bussiness><BussinessDocType>3</BussinessDocType><BussinessDocReason>thay thế</BussinessDocReason></Bussiness></TraceHeaderList>"), 1)
	h.mustAccept(signAs(t, govOffice, same))
	if st := stateOf(h.document(id), ngheAn); st == store.StateCompleted {
		t.Fatalf("replacement already completed before any status")
	}

	// The old status, one comment appended after the root: same signed content.
	replay := append(bytes.Clone(done), []byte("<!-- replay -->\n")...)
	r := h.postStatus(replay)
	d := h.document(id)
	var again StatusAnswer
	r.json(t, &again)
	if r.Status != http.StatusOK || again.AuditSeq != first.AuditSeq {
		t.Fatalf("replay answered %d %s, want 200 with audit_seq %d", r.Status, r.Body, first.AuditSeq)
	}
	if r.Status == http.StatusAccepted || stateOf(d, ngheAn) == store.StateCompleted {
		t.Fatalf("replayed status (signed before the replacement existed) answered %d %s;\n"+
			"replacement's state at %s is now %q, history %s", r.Status, r.Body, ngheAn, stateOf(d, ngheAn),
			statusCodes(deliveryOf(t, d, ngheAn)))
	}
}

// The same replay the other way: every recipient receives the sender's recall request
// (13) on its inbox. After the sender replaces the document under the same DocumentId,
// a recipient re-submitting that old 13 (one comment appended) must not recall the
// replacement in the sender's name.
func TestRecallReplayByRecipient(t *testing.T) {
	h := startDaemon(t)
	b, id := pkg(t, 21)
	h.mustAccept(b)
	recall := status(t, govOffice, id, "13", "thu hồi bản gốc")
	h.mustStatus(recall)
	got := h.waitInbox(ngheAn, 2) // the package and the recall: Nghệ An holds the signed 13
	if !bytes.Equal(got[1].Value, recall) {
		t.Fatal("recall not on the recipient's inbox")
	}

	same, _ := decree(t, 21)
	same = bytes.Replace(same, []byte("</TraceHeaderList>"),
		[]byte("<Bussiness><BussinessDocType>3</BussinessDocType><BussinessDocReason>thay thế</BussinessDocReason></Bussiness></TraceHeaderList>"), 1)
	h.mustAccept(signAs(t, govOffice, same))
	if rc := deliveryOf(t, h.document(id), police).Recall; rc != store.RecallNone {
		t.Fatalf("replacement's recall state %q before any recall of it", rc)
	}

	replay := append(bytes.Clone(got[1].Value), []byte("<!-- replay -->\n")...)
	r := h.postStatus(replay) // submitted by Nghệ An: submissions are authenticated by signature only
	d := h.document(id)
	if r.Status == http.StatusAccepted || deliveryOf(t, d, police).Recall != store.RecallNone {
		t.Fatalf("a recipient replayed the sender's old recall request: %d %s;\n"+
			"replacement's recall state at %s is %q", r.Status, r.Body, police, deliveryOf(t, d, police).Recall)
	}
}
