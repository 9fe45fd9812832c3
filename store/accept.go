package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"axis/axis/errs"
	"axis/store/audit"
)

// Accept stores a verified package and queues it for every recipient, in one transaction
// (SPEC §2): identical bytes already stored return the first result with Existing set;
// a new package (BusinessType 0) reusing (From, DocumentId) with other bytes is
// errs.DuplicateDocument; a revision (1–3) whose target (From, Target or DocumentId) was
// never accepted is errs.UnknownTarget.
func (s *Store) Accept(ctx context.Context, req AcceptRequest) (AcceptResult, error) {
	j, err := prepareAccept(req)
	if err != nil {
		return AcceptResult{}, err
	}
	// The checks first, on a snapshot: bytes are written to the blob log only for a
	// package the writer will (almost certainly) take; it checks again.
	var existing bool
	check := func(tx *bolt.Tx) error {
		var err error
		existing, _, err = j.check(tx)
		return err
	}
	checked, err := s.precheck(ctx, len(req.Bytes), check)
	j.late = !checked
	if err != nil {
		return AcceptResult{}, err
	}
	if checked && !existing {
		if j.blob, err = s.writeBlob(req.Bytes); err != nil {
			return AcceptResult{}, err
		}
		j.written = true
	}
	var res AcceptResult
	owed := req.Receipt != nil
	if owed {
		s.receiptsOwed.Add(1) // before the commit, which receiptsComplete may follow
	}
	defer func() {
		if owed {
			s.receiptsOwed.Add(-1)
		}
	}()
	err = s.do(ctx, func(w *wtx) error {
		var err error
		res, err = j.run(w)
		return err
	})
	if err != nil || req.Receipt == nil || res.Receipt != nil {
		return res, err
	}
	// The receipt is signed here, in the caller's goroutine (signing inside the single
	// writer serialised it behind every other write: measured, half the writer's time
	// per package), and stored in the background (receipts.go).
	rc, err := req.Receipt(res.AuditSeq, res.AcceptedAt)
	if err != nil {
		return AcceptResult{}, errs.Wrap(errs.Internal, err, "the package is stored but its receipt could not be built")
	}
	if res.Existing || !s.receipts.queue(res.doc, rc) {
		// A receipt lost in a crash, rebuilt now: stored before answering.
		stored, err := s.storeReceipt(ctx, res.doc, rc)
		if err != nil {
			s.log.Warn("receipt not stored; it is rebuilt on the next submission of these bytes, or at the next start",
				zap.String("document_id", res.DocumentID), zap.Error(err))
			stored = rc
			owed = false // stays owed: the mark stays, and the next start rebuilds it
		}
		rc = stored
	}
	res.Receipt = rc
	return res, nil
}

// storeReceipt stores the receipt of a document unless one is stored already, and
// returns the stored one (so that racing identical submissions all answer the same).
func (s *Store) storeReceipt(ctx context.Context, doc uint64, rc []byte) ([]byte, error) {
	var had bool
	var ref blobRef
	if err := s.view(ctx, func(tx *bolt.Tx) error {
		ref, had = storedReceipt(tx, doc)
		return nil
	}); err != nil {
		return nil, err
	}
	if had {
		return s.readBlob(ref)
	}
	mine, err := s.writeBlob(rc)
	if err != nil {
		return nil, err
	}
	if err := s.do(ctx, func(w *wtx) error {
		var err error
		ref, err = w.putReceipt(doc, mine)
		return err
	}); err != nil {
		return nil, err
	}
	if ref.Off != mine.Off {
		return s.readBlob(ref)
	}
	return rc, nil
}

// receiptRef is where a document's receipt is, if it has one: in the receipts bucket, or
// (stores written before the receipt moved out of the writer) in the document record.
func receiptRef(tx *bolt.Tx, d *docRecord) (blobRef, bool) {
	if d.ReceiptLen > 0 {
		return blobRef{Off: d.ReceiptOff, Len: d.ReceiptLen}, true
	}
	return storedReceipt(tx, d.Num)
}

// precheck runs a submission's checks on a snapshot before it reaches the writer, unless
// a batch's write-ahead record is being synced (checked false). Waiting for that sync, the
// submission then missed the next batch too (measured at 1,000/s: about a batch of
// latency); instead the writer checks it, and writes its bytes itself if it takes it: a
// small append its write-ahead record carries. Bytes over quietBlobMax are fsynced on
// append, which the writer must not wait for: those always check first.
func (s *Store) precheck(ctx context.Context, size int, check func(tx *bolt.Tx) error) (checked bool, err error) {
	if size <= quietBlobMax {
		return s.tryView(ctx, check)
	}
	return true, s.view(ctx, check)
}

// acceptJob is a validated, hashed submission: the costly work is done before it reaches
// the writer goroutine.
type acceptJob struct {
	req     AcceptRequest
	sum     [sha256.Size]byte
	hexSum  string
	blob    blobRef // the bytes in the blob log, when written
	written bool
	late    bool // not checked before the writer: it writes the bytes if it takes them
}

func prepareAccept(req AcceptRequest) (*acceptJob, error) {
	m := req.Meta
	switch {
	case m.DocumentID == "" || m.From == "":
		return nil, errs.Field(errs.InvalidEnvelope, "MessageHeader", "DocumentId and From are required")
	case len(m.To) == 0:
		return nil, errs.Field(errs.InvalidEnvelope, "MessageHeader/To", "no recipient")
	case m.BusinessType < 0 || m.BusinessType > 3:
		return nil, errs.Field(errs.InvalidEnvelope, "Bussiness/BussinessDocType", "must be 0–3")
	case len(req.Bytes) == 0:
		return nil, errs.E(errs.InvalidEnvelope, "empty package")
	case strings.ContainsRune(m.DocumentID+m.From+m.Target+strings.Join(m.To, ""), 0):
		return nil, errs.E(errs.InvalidEnvelope, "NUL in an identifier")
	}
	req.Meta.To = dedupe(m.To)
	j := &acceptJob{req: req, sum: sha256.Sum256(req.Bytes)}
	j.hexSum = hex.EncodeToString(j.sum[:])
	return j, nil
}

// check applies Accept's rules to a snapshot: identical bytes already stored
// (existing), a duplicate DocumentId, a revision's unknown target. It returns the
// revision's target.
func (j *acceptJob) check(tx *bolt.Tx) (existing bool, target *docRecord, _ error) {
	m := j.req.Meta
	if rec, ok := decodeSHA(tx.Bucket(bSHA).Get(j.sum[:])); ok {
		if rec.Kind != 'p' {
			return false, nil, errs.E(errs.InvalidEnvelope, "these bytes were recorded as a status message")
		}
		return true, nil, nil
	}
	if m.BusinessType == 0 && len(docsUnder(tx, m.DocumentID, m.From)) > 0 {
		return false, nil, errs.E(errs.DuplicateDocument, "document %s from %s already exists with other content", m.DocumentID, m.From)
	}
	if m.BusinessType != 0 {
		tid := targetOf(m)
		nums := docsUnder(tx, tid, m.From)
		if len(nums) == 0 {
			return false, nil, errs.E(errs.UnknownTarget, "%s never sent document %s", m.From, tid)
		}
		t, err := loadDoc(tx, nums[0]) // the original: revisions all link to it
		if err != nil {
			return false, nil, err
		}
		target = t
	}
	return false, target, nil
}

// run is the transactional part of Accept.
func (j *acceptJob) run(w *wtx) (res AcceptResult, _ error) {
	m, sum, hexSum := j.req.Meta, j.sum, j.hexSum
	existing, target, err := j.check(w.tx)
	if err != nil {
		return res, err
	}
	if existing {
		rec, _ := decodeSHA(w.get(bSHA, sum[:]))
		r, err := acceptResultOf(w, rec.Doc)
		r.Existing = true
		return r, err
	}
	if !j.written && j.late {
		if j.blob, err = w.s.writeBlob(j.req.Bytes); err != nil {
			return res, err
		}
		j.written = true
	}
	if !j.written { // the snapshot saw these bytes stored, and stored bytes never go away
		return res, errs.E(errs.Internal, "package bytes not written")
	}
	// Every check is done: from here on everything is written.
	at := w.now()
	blob := j.blob
	w.useBlob(blob)
	num, err := w.next(bDocs)
	if err != nil {
		return res, err
	}
	seq, err := w.event(audit.Event{Time: at, Type: audit.Accepted, DocumentID: m.DocumentID, From: m.From,
		To: strings.Join(m.To, ","), SHA256: hexSum, Code: businessCode(m.BusinessType), Detail: acceptedDetail(m)})
	if err != nil {
		return res, err
	}
	doc := docRecord{Num: num, Meta: m, SHA256: hexSum, BlobOff: blob.Off, Size: blob.Len, At: at, Seq: seq}
	if target != nil {
		doc.Target = target.Num
		target.Revisions = append(target.Revisions, num)
		if err := w.put(bDocs, u64(target.Num), target.encode()); err != nil {
			return res, err
		}
	}
	if err := w.put(bDocs, u64(num), doc.encode()); err != nil {
		return res, err
	}
	if err := w.put(bSHA, sum[:], shaRecord{Kind: 'p', Doc: num, Blob: blob}.encode()); err != nil {
		return res, err
	}
	if err := w.put(bKeys, keysKey(m.DocumentID, m.From, num), nil); err != nil {
		return res, err
	}
	sm := summary{Doc: num, DocumentID: m.DocumentID, From: m.From, To: m.To, Subject: m.Subject,
		CodeNumber: m.CodeNumber, CodeNotation: m.CodeNotation, BusinessType: m.BusinessType, At: at.UnixNano()}
	res = AcceptResult{DocumentID: m.DocumentID, From: m.From, SHA256: hexSum, AcceptedAt: at, AuditSeq: seq, doc: num}
	for _, to := range m.To {
		sm.States = append(sm.States, StatePending)
		if err := w.put(bDeliv, delivKey(num, to), pendingDelivery); err != nil {
			return res, err
		}
		if err := w.outbox(outboxRecord{Kind: "edoc", Recipient: to, Doc: num, DocumentID: m.DocumentID,
			From: m.From, SHA256: hexSum, BlobOff: blob.Off, BlobLen: blob.Len, At: at, Seq: seq}); err != nil {
			return res, err
		}
		in := sm
		in.To, in.States = []string{to}, []State{StatePending}
		if err := w.put(bIdxIn, idxKey(to, at, num), in.encode()); err != nil {
			return res, err
		}
		if err := w.count(agencyInKey(to), 1); err != nil {
			return res, err
		}
		res.Recipients = append(res.Recipients, RecipientState{OrganID: to, State: StatePending})
	}
	if err := w.put(bIdxOut, idxKey(m.From, at, num), sm.encode()); err != nil {
		return res, err
	}
	return res, w.countAccepted(m.From, at)
}

// pendingDelivery is every new delivery record (encoded once).
var pendingDelivery = (&deliveryRecord{State: StatePending, History: []HistoryEntry{}}).encode()

// targetOf is the DocumentId a revision applies to ("" for a new package).
// LegacyDetail marks, in the detail of an accepted event, a package accepted on SHA-1.
const LegacyDetail = "legacy SHA-1 signature"

// acceptedDetail is the detail of an accepted event: the revision's target, and
// LegacyDetail, joined by "; " when both.
func acceptedDetail(m DocumentMeta) string {
	d := targetOf(m)
	if m.Legacy {
		if d != "" {
			d += "; "
		}
		d += LegacyDetail
	}
	return d
}

func targetOf(m DocumentMeta) string {
	switch {
	case m.BusinessType == 0:
		return ""
	case m.Target != "":
		return m.Target
	}
	return m.DocumentID
}

func businessCode(bt int) string {
	if bt == 0 {
		return ""
	}
	return string(rune('0' + bt))
}

func (w *wtx) outbox(r outboxRecord) error {
	id, err := w.next(bOutbox)
	if err != nil {
		return err
	}
	if err := w.count(kOutbox, 1); err != nil {
		return err
	}
	w.outboxed = true
	return w.put(bOutbox, u64(id), r.encode())
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// docsUnder lists the docnums stored under (DocumentId, From), oldest first; from "" lists
// every sender's.
func docsUnder(tx *bolt.Tx, documentID, from string) []uint64 {
	prefix := append([]byte(documentID), 0)
	if from != "" {
		prefix = append(append(prefix, from...), 0)
	}
	var out []uint64
	c := tx.Bucket(bKeys).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, binary.BigEndian.Uint64(k[len(k)-8:]))
	}
	return out
}

func loadDoc(tx *bolt.Tx, num uint64) (*docRecord, error) {
	v := tx.Bucket(bDocs).Get(u64(num))
	if v == nil {
		return nil, errs.E(errs.Internal, "document %d missing", num)
	}
	d, err := decodeDoc(v)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "decode document %d", num)
	}
	return &d, nil
}

func loadDelivery(tx *bolt.Tx, num uint64, organ string) (*deliveryRecord, error) {
	v := tx.Bucket(bDeliv).Get(delivKey(num, organ))
	if v == nil {
		return nil, errs.E(errs.Internal, "delivery %d/%s missing", num, organ)
	}
	d, err := decodeDelivery(v)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "decode delivery")
	}
	return &d, nil
}

func acceptResultOf(w *wtx, num uint64) (AcceptResult, error) {
	tx := w.tx
	d, err := loadDoc(tx, num)
	if err != nil {
		return AcceptResult{}, err
	}
	r := AcceptResult{DocumentID: d.Meta.DocumentID, From: d.Meta.From, SHA256: d.SHA256, AcceptedAt: d.At, AuditSeq: d.Seq, doc: num}
	if ref, ok := receiptRef(tx, d); ok {
		if r.Receipt, err = w.s.readBlob(ref); err != nil {
			return r, errs.Wrap(errs.Unavailable, err, "read receipt")
		}
	} else if rc, ok := w.s.receipts.lookup(num); ok {
		r.Receipt = rc
	}
	// The first answer's states, as SPEC §2 promises the same answer: every delivery was
	// pending when the package was accepted (the document view has the states now).
	for _, to := range d.Meta.To {
		r.Recipients = append(r.Recipients, RecipientState{OrganID: to, State: StatePending})
	}
	return r, nil
}
