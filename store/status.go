package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"axis/axis/errs"
	"axis/store/audit"
)

// RecordStatus records a verified status message and queues its forwarding, in one
// transaction. Codes 01–06, 15, 16 must come from a recipient of the document and are
// forwarded to its sender; 13 must come from the sender and is forwarded to every
// recipient. Otherwise errs.StatusNotAllowed. A document never accepted (no package with
// that DocumentId, from DocFrom if given) is errs.UnknownTarget. The status applies to the
// most recent package under that DocumentId the sender is a party to (a revision carrying
// the same DocumentId supersedes its original). Identical bytes, or other bytes carrying
// the same signed statement (req.Signed), return the first result.
func (s *Store) RecordStatus(ctx context.Context, req StatusRequest) (StatusResult, error) {
	switch {
	case req.DocumentID == "" || req.From == "":
		return StatusResult{}, errs.Field(errs.InvalidEnvelope, "MessageHeader", "ResponseFor/DocumentId and From are required")
	case !validCode(req.Code):
		return StatusResult{}, errs.Field(errs.InvalidEnvelope, "MessageHeader/StatusCode", "unknown status code %q", req.Code)
	case len(req.Bytes) == 0:
		return StatusResult{}, errs.E(errs.InvalidEnvelope, "empty status")
	case strings.ContainsRune(req.DocumentID+req.DocFrom+req.From, 0):
		return StatusResult{}, errs.E(errs.InvalidEnvelope, "NUL in an identifier")
	}
	sum := sha256.Sum256(req.Bytes)
	hexSum := hex.EncodeToString(sum[:])
	type key struct{ bucket, k []byte }
	keys := []key{{bSHA, sum[:]}}
	if len(req.Signed) > 0 {
		stmt := sha256.Sum256(req.Signed)
		keys = append(keys, key{bStmts, stmt[:]})
	}
	// The checks first, on a snapshot, so that refused statuses write no bytes.
	var existing bool
	check := func(tx *bolt.Tx) error {
		for _, k := range keys {
			if _, ok := decodeSHA(tx.Bucket(k.bucket).Get(k.k)); ok {
				existing = true
				return nil
			}
		}
		_, err := statusTarget(tx, req)
		return err
	}
	checked, err := s.precheck(ctx, len(req.Bytes), check)
	if err != nil {
		return StatusResult{}, err
	}
	late := !checked
	var blob blobRef
	written := false
	if checked && !existing {
		if blob, err = s.writeBlob(req.Bytes); err != nil {
			return StatusResult{}, err
		}
		written = true
	}
	var res StatusResult
	err = s.do(ctx, func(w *wtx) error {
		for _, k := range keys {
			rec, ok := decodeSHA(w.get(k.bucket, k.k))
			if !ok {
				continue
			}
			if rec.Kind != 's' {
				return errs.E(errs.InvalidEnvelope, "these bytes were accepted as a package")
			}
			d, err := loadDoc(w.tx, rec.Doc)
			if err != nil {
				return err
			}
			res = StatusResult{DocumentID: d.Meta.DocumentID, Code: rec.Code, SHA256: hexSum, AuditSeq: rec.Seq, Existing: true}
			return nil
		}
		doc, err := statusTarget(w.tx, req)
		if err != nil {
			return err
		}
		if late && !written {
			if blob, err = w.s.writeBlob(req.Bytes); err != nil {
				return err
			}
			written = true
		}
		if !written { // the snapshot saw them stored, and stored statuses never go away
			return errs.E(errs.Internal, "status bytes not written")
		}
		at := w.now()
		w.useBlob(blob)
		recall := req.Code == CodeRecallRequest || req.Code == CodeRecallAgreed || req.Code == CodeRecallRefused
		var forwardTo []string
		if req.Code == CodeRecallRequest {
			forwardTo = doc.Meta.To
		} else {
			forwardTo = []string{doc.Meta.From}
		}
		ev := audit.Event{Time: at, Type: audit.Status, DocumentID: doc.Meta.DocumentID, From: req.From,
			To: strings.Join(forwardTo, ","), SHA256: hexSum, Code: req.Code}
		seq, err := w.event(ev)
		if err != nil {
			return err
		}
		if recall {
			ev.Type = audit.Recall
			if _, err := w.event(ev); err != nil {
				return err
			}
		}
		entry := HistoryEntry{Time: at, Kind: "status", From: req.From, Code: req.Code, Description: req.Description, SHA256: hexSum, AuditSeq: seq}
		parties := []string{req.From}
		if req.Code == CodeRecallRequest {
			parties = doc.Meta.To
		}
		for _, organ := range parties {
			if err := w.applyStatus(doc, organ, entry); err != nil {
				return err
			}
		}
		for _, to := range forwardTo {
			if err := w.outbox(outboxRecord{Kind: "status", Recipient: to, Doc: doc.Num, DocumentID: doc.Meta.DocumentID,
				From: req.From, SHA256: hexSum, Code: req.Code, BlobOff: blob.Off, BlobLen: blob.Len, At: at, Seq: seq}); err != nil {
				return err
			}
		}
		rec := shaRecord{Kind: 's', Doc: doc.Num, Blob: blob, Seq: seq, Code: req.Code}.encode()
		for _, k := range keys {
			if err := w.put(k.bucket, k.k, rec); err != nil {
				return err
			}
		}
		if err := w.count(kStatuses, 1); err != nil {
			return err
		}
		res = StatusResult{DocumentID: doc.Meta.DocumentID, Code: req.Code, SHA256: hexSum, AuditSeq: seq}
		return nil
	})
	if err != nil {
		return StatusResult{}, err
	}
	return res, nil
}

func validCode(c string) bool {
	return StateOfCode(c) != "" || c == CodeRecallRequest || c == CodeRecallAgreed || c == CodeRecallRefused
}

func statusTarget(tx *bolt.Tx, req StatusRequest) (*docRecord, error) {
	nums := docsUnder(tx, req.DocumentID, req.DocFrom)
	if len(nums) == 0 {
		return nil, errs.E(errs.UnknownTarget, "no document %s", req.DocumentID)
	}
	slices.Sort(nums)
	for i := len(nums) - 1; i >= 0; i-- { // most recent first
		d, err := loadDoc(tx, nums[i])
		if err != nil {
			return nil, err
		}
		if req.Code == CodeRecallRequest {
			if d.Meta.From == req.From {
				return d, nil
			}
		} else if slices.Contains(d.Meta.To, req.From) {
			if (req.Code == CodeRecallAgreed || req.Code == CodeRecallRefused) && d.Meta.BusinessType == 0 {
				// 15/16 answer a recall request (13) or a revision (revoke, update,
				// replace: EDXML.md). To a new document nobody asked to recall, it would
				// show a recall agreed that nobody requested.
				dl, err := loadDelivery(tx, d.Num, req.From)
				if err != nil {
					return nil, err
				}
				if dl.Recall == RecallNone {
					return nil, errs.E(errs.StatusNotAllowed, "nothing to agree to or refuse: no recall of %s was requested of %s, and it is not a revision", req.DocumentID, req.From)
				}
			}
			return d, nil
		}
	}
	if req.Code == CodeRecallRequest {
		return nil, errs.E(errs.StatusNotAllowed, "only the sender of %s may request its recall", req.DocumentID)
	}
	return nil, errs.E(errs.StatusNotAllowed, "%s is not a recipient of %s", req.From, req.DocumentID)
}

// applyStatus appends the entry to one delivery's history and moves its state forward only.
func (w *wtx) applyStatus(doc *docRecord, organ string, e HistoryEntry) error {
	d, err := loadDelivery(w.tx, doc.Num, organ)
	if err != nil {
		return err
	}
	d.History = append(d.History, e)
	changed := false
	if st := StateOfCode(e.Code); st != "" && st.Rank() > d.State.Rank() {
		d.State, changed = st, true
	}
	var rc Recall
	switch e.Code {
	case CodeRecallRequest:
		rc = RecallRequested
	case CodeRecallAgreed:
		rc = RecallAgreed
	case CodeRecallRefused:
		rc = RecallRefused
	}
	if rc.rank() > d.Recall.rank() {
		d.Recall = rc
	}
	if e.Code == CodeArrived && d.ArrivedAt.IsZero() {
		d.ArrivedAt = e.Time
		if err := w.countArrival(e.Time.Sub(doc.At)); err != nil {
			return err
		}
	}
	if err := w.put(bDeliv, delivKey(doc.Num, organ), d.encode()); err != nil {
		return err
	}
	if changed {
		return w.updateIndexes(doc, organ, d.State)
	}
	return nil
}

// updateIndexes rewrites the list index entries that show organ's state of doc.
func (w *wtx) updateIndexes(doc *docRecord, organ string, st State) error {
	ch := map[string]State{organ: st}
	if err := w.setIndexStates(bIdxIn, organ, doc.At, doc.Num, ch); err != nil {
		return err
	}
	return w.setIndexStates(bIdxOut, doc.Meta.From, doc.At, doc.Num, ch)
}

// setIndexStates rewrites one list index entry with new states for some recipients. Only
// the state bytes change: they are patched in a copy, without decoding the entry.
func (w *wtx) setIndexStates(bucket []byte, agency string, at time.Time, num uint64, states map[string]State) error {
	k := idxKey(agency, at, num)
	v := w.get(bucket, k)
	sv, err := viewSummary(v)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "index entry of document %d", num)
	}
	out := bytes.Clone(v) // bbolt's value is read-only and must stay valid
	err = sv.recipientsAt(func(to []byte, _ byte, fromEnd int) bool {
		if st, ok := states[string(to)]; ok {
			out[len(v)-fromEnd] = stateByte[st]
		}
		return false
	})
	if err != nil {
		return errs.Wrap(errs.Internal, err, "index entry of document %d", num)
	}
	return w.put(bucket, k, out)
}

// RecordRejected records a refused input as an audit event and returns its seq.
func (s *Store) RecordRejected(ctx context.Context, r Rejection) (uint64, error) {
	return s.RecordEvent(ctx, audit.Event{Type: audit.Rejected, DocumentID: r.DocumentID, From: r.From, To: r.To,
		SHA256: r.SHA256, Code: r.Code, Detail: r.Detail})
}

// RecordEvent appends a free-standing audit event: types rejected and replay only (the
// others are written by the operations they describe). Seq, Prev and Time are assigned.
func (s *Store) RecordEvent(ctx context.Context, e audit.Event) (uint64, error) {
	if e.Type != audit.Rejected && e.Type != audit.Replay {
		return 0, errs.E(errs.BadRequest, "event type %q is written by the store itself", e.Type)
	}
	e.Time = time.Time{}
	var seq uint64
	err := s.do(ctx, func(w *wtx) error {
		var err error
		seq, err = w.event(e)
		return err
	})
	return seq, err
}
