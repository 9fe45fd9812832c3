package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"axis/axis/errs"
)

// Document returns the package stored under DocumentId: the original (the first accepted
// with BusinessType 0, else the first accepted) with its deliveries and revisions.
// errs.NotFound if none. When several senders used the same DocumentId, DocumentsByID
// returns them all; callers authorising an agency should use it.
func (s *Store) Document(ctx context.Context, id string) (Document, error) {
	docs, err := s.DocumentsByID(ctx, id)
	if err != nil {
		return Document{}, err
	}
	for _, d := range docs {
		if d.BusinessType == 0 {
			return d, nil
		}
	}
	return docs[0], nil
}

// DocumentsByID returns every package stored under DocumentId (any sender, revisions
// carrying the same id included), oldest first; errs.NotFound if none.
func (s *Store) DocumentsByID(ctx context.Context, id string) ([]Document, error) {
	var out []Document
	err := s.view(ctx, func(tx *bolt.Tx) error {
		nums := docsUnder(tx, id, "")
		slices.Sort(nums)
		for _, n := range nums {
			d, err := s.documentOf(tx, n)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err == nil && len(out) == 0 {
		err = errs.E(errs.NotFound, "no document %s", id)
	}
	if err == nil {
		for i := range out {
			if err = s.lateReceipt(ctx, &out[i]); err != nil {
				break
			}
		}
	}
	return out, err
}

// lateReceipt covers a receipt stored by the background writer after the read's snapshot
// was taken and dropped from memory before it looked there: a new snapshot has it.
func (s *Store) lateReceipt(ctx context.Context, d *Document) error {
	if d.Receipt != nil {
		return nil
	}
	var ref blobRef
	var ok bool
	if err := s.view(ctx, func(tx *bolt.Tx) error {
		ref, ok = storedReceipt(tx, d.num)
		return nil
	}); err != nil || !ok {
		return err
	}
	var err error
	if d.Receipt, err = s.readBlob(ref); err != nil {
		return errs.Wrap(errs.Unavailable, err, "read receipt")
	}
	return nil
}

// DocumentBySHA returns the package with these bytes; errs.NotFound if none.
func (s *Store) DocumentBySHA(ctx context.Context, sha string) (Document, error) {
	return s.documentBySHA(ctx, sha, true)
}

// AcceptedBySHA is DocumentBySHA for the intake's shortcut (identical bytes answered
// again without being verified): it does not wait while a batch's write-ahead record is
// being synced, and answers errs.NotFound then. The caller takes the full path, whose
// Accept finds the package; a submission arriving during the fsync does not lose the
// next batch by waiting for it here.
func (s *Store) AcceptedBySHA(ctx context.Context, sha string) (Document, error) {
	return s.documentBySHA(ctx, sha, false)
}

func (s *Store) documentBySHA(ctx context.Context, sha string, wait bool) (Document, error) {
	var d Document
	k, err := shaKey(sha)
	if err != nil {
		return d, errs.E(errs.NotFound, "no package %s", sha)
	}
	read := s.view
	if !wait {
		read = s.viewNow
	}
	err = read(ctx, func(tx *bolt.Tx) error {
		rec, ok := decodeSHA(tx.Bucket(bSHA).Get(k))
		if !ok || rec.Kind != 'p' {
			return errs.E(errs.NotFound, "no package %s", sha)
		}
		d, err = s.documentOf(tx, rec.Doc)
		return err
	})
	if err == nil {
		err = s.lateReceipt(ctx, &d)
	}
	return d, err
}

// Bytes returns the exact stored bytes (package or status) with this sha256.
func (s *Store) Bytes(ctx context.Context, sha string) ([]byte, error) {
	k, err := shaKey(sha)
	if err != nil {
		return nil, errs.E(errs.NotFound, "no bytes %s", sha)
	}
	var ref blobRef
	err = s.view(ctx, func(tx *bolt.Tx) error {
		rec, ok := decodeSHA(tx.Bucket(bSHA).Get(k))
		if !ok {
			return errs.E(errs.NotFound, "no bytes %s", sha)
		}
		ref = rec.Blob
		return nil
	})
	if err != nil {
		return nil, err
	}
	b, err := s.readBlob(ref)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "read bytes %s", sha)
	}
	return b, nil
}

func refOf(d *docRecord) Ref {
	return Ref{DocumentID: d.Meta.DocumentID, From: d.Meta.From, SHA256: d.SHA256, BusinessType: d.Meta.BusinessType, AcceptedAt: d.At, to: d.Meta.To}
}

// OwnDelivery returns d with, for a recipient agency, only its own delivery: the state
// and history of the others (their clerks' notes included) are theirs and the sender's.
// The sender and an auditor (agency "") see every delivery. The recipients' names stay
// in To: the signed package lists them anyway.
func (d Document) OwnDelivery(agency string) Document {
	if agency == "" || agency == d.From {
		return d
	}
	var own []Delivery
	for _, r := range d.Recipients {
		if r.OrganID == agency {
			own = append(own, r)
		}
	}
	d.Recipients = own
	return d
}

// SeenBy returns d with only the revision links (Revises, Revisions) to documents see
// allows, given their sender and recipients: a caller learns nothing of a revision it
// was not sent, not even its id, bytes or time, as asking for it directly answers 404.
func (d Document) SeenBy(see func(from string, to []string) bool) Document {
	if d.Revises != nil && !see(d.Revises.From, d.Revises.to) {
		d.Revises = nil
	}
	var kept []Ref
	for _, r := range d.Revisions {
		if see(r.From, r.to) {
			kept = append(kept, r)
		}
	}
	d.Revisions = kept
	return d
}

func (s *Store) documentOf(tx *bolt.Tx, num uint64) (Document, error) {
	r, err := loadDoc(tx, num)
	if err != nil {
		return Document{}, err
	}
	d := Document{DocumentMeta: r.Meta, SHA256: r.SHA256, Size: r.Size, AcceptedAt: r.At, AuditSeq: r.Seq, num: num}
	for _, to := range r.Meta.To {
		dl, err := loadDelivery(tx, num, to)
		if err != nil {
			return d, err
		}
		d.Recipients = append(d.Recipients, Delivery{OrganID: to, State: dl.State, Recall: dl.Recall, ArrivedAt: dl.ArrivedAt, History: dl.History})
	}
	if r.Target != 0 {
		t, err := loadDoc(tx, r.Target)
		if err != nil {
			return d, err
		}
		ref := refOf(t)
		d.Revises = &ref
	}
	for _, n := range r.Revisions {
		rv, err := loadDoc(tx, n)
		if err != nil {
			return d, err
		}
		d.Revisions = append(d.Revisions, refOf(rv))
	}
	if ref, ok := receiptRef(tx, r); ok {
		if d.Receipt, err = s.readBlob(ref); err != nil {
			return d, errs.Wrap(errs.Unavailable, err, "read receipt")
		}
	} else if rc, ok := s.receipts.lookup(num); ok {
		d.Receipt = rc
	}
	return d, nil
}

// Direction selects an agency's inbox (documents it received) or outbox (it sent).
type Direction string

// Directions of ListAgency.
const (
	In  Direction = "in"
	Out Direction = "out"
)

// Filter narrows ListAgency. Zero fields do not filter.
type Filter struct {
	State       State     // in: the agency's own delivery state; out: any recipient's
	Counterpart string    // in: the sender; out: one of the recipients
	Since       time.Time // accepted at or after
	Until       time.Time // accepted at or before
	Text        string    // case-insensitive, in subject, code number/notation or DocumentId
	Oldest      bool      // oldest first (default: newest first); cursors work in either order
}

// Summary is one row of a list page.
type Summary struct {
	DocumentID   string           `json:"document_id"`
	From         string           `json:"from"`
	To           []string         `json:"to,omitempty"` // out only: a recipient sees its own copy
	Subject      string           `json:"subject,omitempty"`
	CodeNumber   string           `json:"code_number,omitempty"`
	CodeNotation string           `json:"code_notation,omitempty"`
	BusinessType int              `json:"business_type,omitempty"`
	AcceptedAt   time.Time        `json:"accepted_at"`
	Recipients   []RecipientState `json:"recipients"` // in: only the agency itself

	docnum uint64
}

// Page is one page of ListAgency, newest first. Next, when not empty, is the cursor of
// the following page.
type Page struct {
	Items []Summary
	Next  string
}

// ListAgency lists the documents an agency received (In) or sent (Out), newest first,
// from the list indexes only: it can never show another agency's documents. cursor is a
// Page.Next from a previous call ("" for the first page).
func (s *Store) ListAgency(ctx context.Context, agency string, dir Direction, f Filter, cursor string, limit int) (Page, error) {
	var bucket []byte
	switch dir {
	case In:
		bucket = bIdxIn
	case Out:
		bucket = bIdxOut
	default:
		return Page{}, errs.E(errs.BadRequest, "direction must be in or out")
	}
	if agency == "" || strings.ContainsRune(agency, 0) {
		return Page{}, errs.E(errs.BadRequest, "bad agency id")
	}
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	prefix := append([]byte(agency), 0)
	upper := append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	if !f.Until.IsZero() {
		upper = binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(f.Until.UnixNano()+1))
	}
	if cursor != "" {
		c, err := hex.DecodeString(cursor)
		if err != nil || len(c) != 16 {
			return Page{}, errs.E(errs.BadRequest, "bad cursor")
		}
		if cu := append(bytes.Clone(prefix), c...); bytes.Compare(cu, upper) < 0 {
			upper = cu
		}
	}
	var since int64
	if !f.Since.IsZero() {
		since = f.Since.UnixNano()
	}
	text := []byte(strings.ToLower(f.Text))
	stateCode := -1
	if f.State != "" {
		c, ok := stateByte[f.State]
		if !ok {
			return Page{}, errs.E(errs.BadRequest, "unknown state %q", f.State)
		}
		stateCode = int(c)
	}
	var page Page
	var buf []byte
	if f.Oldest {
		err := s.view(ctx, func(tx *bolt.Tx) error {
			return listForward(ctx, tx.Bucket(bucket).Cursor(), prefix, agency, dir, f, cursor, since, stateCode, text, limit, &page, &buf)
		})
		return page, err
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		k, v := c.Seek(upper) // first key ≥ upper; we want the last one below it
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for n := 0; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return errs.Wrap(errs.Unavailable, ctx.Err(), "list cancelled")
			}
			if int64(binary.BigEndian.Uint64(k[len(prefix):])) < since {
				break
			}
			sv, err := viewSummary(v)
			if err != nil {
				return errs.Wrap(errs.Internal, err, "list index")
			}
			if !sv.matches(dir, f, stateCode, text, &buf) {
				continue
			}
			if len(page.Items) == limit {
				page.Next = hex.EncodeToString(lastKeySuffix(page, prefix, agency))
				return nil
			}
			sm, err := sv.decode()
			if err != nil {
				return errs.Wrap(errs.Internal, err, "list index")
			}
			page.Items = append(page.Items, sm.row(dir))
		}
		return nil
	})
	return page, err
}

// lastKeySuffix is the at+docnum of the last item: the exclusive upper bound of the next page.
// listForward pages oldest first: from the cursor (exclusive) or Since, up to Until.
func listForward(ctx context.Context, c *bolt.Cursor, prefix []byte, agency string, dir Direction, f Filter,
	cursor string, since int64, stateCode int, text []byte, limit int, page *Page, buf *[]byte) error {
	lower := binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(max(since, 0)))
	var after []byte // the cursor's key: skipped, it was the last row of the previous page
	if cursor != "" {
		cu, err := hex.DecodeString(cursor)
		if err != nil || len(cu) != 16 {
			return errs.E(errs.BadRequest, "bad cursor")
		}
		if after = append(bytes.Clone(prefix), cu...); bytes.Compare(after, lower) > 0 {
			lower = after
		}
	}
	until := int64(math.MaxInt64)
	if !f.Until.IsZero() {
		until = f.Until.UnixNano()
	}
	n := 0
	for k, v := c.Seek(lower); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return errs.Wrap(errs.Unavailable, ctx.Err(), "list cancelled")
		}
		if after != nil && bytes.Equal(k, after) {
			continue
		}
		if int64(binary.BigEndian.Uint64(k[len(prefix):])) > until {
			break
		}
		sv, err := viewSummary(v)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "list index")
		}
		if !sv.matches(dir, f, stateCode, text, buf) {
			continue
		}
		if len(page.Items) == limit {
			page.Next = hex.EncodeToString(lastKeySuffix(*page, prefix, agency))
			return nil
		}
		sm, err := sv.decode()
		if err != nil {
			return errs.Wrap(errs.Internal, err, "list index")
		}
		page.Items = append(page.Items, sm.row(dir))
	}
	return nil
}

func lastKeySuffix(p Page, prefix []byte, agency string) []byte {
	last := p.Items[len(p.Items)-1]
	return idxKey(agency, last.AcceptedAt, last.docnum)[len(prefix):]
}

func (sv *summaryView) matches(dir Direction, f Filter, stateCode int, text []byte, buf *[]byte) bool {
	if f.State != "" || (dir == Out && f.Counterpart != "") {
		found := false
		sv.recipients(func(to []byte, st byte) bool {
			found = (f.State == "" || int(st) == stateCode) && (dir == In || f.Counterpart == "" || string(to) == f.Counterpart)
			return found
		})
		if !found {
			return false
		}
	}
	if dir == In && f.Counterpart != "" && string(sv.from) != f.Counterpart {
		return false
	}
	if len(text) > 0 && !containsFold(buf, sv.subject, text) && !containsFold(buf, sv.cn, text) &&
		!containsFold(buf, sv.cno, text) && !containsFold(buf, sv.id, text) {
		return false
	}
	return true
}

// containsFold reports whether lower-cased text occurs in b, case-insensitively. buf is
// reused across calls so a full scan does not allocate per entry.
func containsFold(buf *[]byte, b, text []byte) bool {
	if len(b) < len(text) {
		return false
	}
	l := (*buf)[:0]
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			l = append(l, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		l = utf8.AppendRune(l, unicode.ToLower(r))
		i += n
	}
	*buf = l
	return bytes.Contains(l, text)
}

func (sm *summary) row(dir Direction) Summary {
	r := Summary{DocumentID: sm.DocumentID, From: sm.From, To: sm.To, Subject: sm.Subject, CodeNumber: sm.CodeNumber,
		CodeNotation: sm.CodeNotation, BusinessType: sm.BusinessType,
		AcceptedAt: time.Unix(0, sm.At).UTC(), docnum: sm.Doc}
	for i, to := range sm.To {
		r.Recipients = append(r.Recipients, RecipientState{OrganID: to, State: sm.States[i]})
	}
	if dir == In {
		r.To = nil // the inbox entry holds only the agency's own copy
	}
	return r
}

// HasAgency reports whether agency sent or received any document: an agency removed
// from the registry keeps its history readable.
func (s *Store) HasAgency(ctx context.Context, agency string) (bool, error) {
	if agency == "" || strings.ContainsRune(agency, 0) {
		return false, nil
	}
	prefix := append([]byte(agency), 0)
	var found bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bIdxIn, bIdxOut} {
			if k, _ := tx.Bucket(name).Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
				found = true
				return nil
			}
		}
		return nil
	})
	return found, err
}
