package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"
)

// docRecord is the stored form of one accepted package.
type docRecord struct {
	Num        uint64       `json:"n"`
	Meta       DocumentMeta `json:"m"`
	SHA256     string       `json:"h"`
	BlobOff    int64        `json:"b"` // in the blob log; length is Size
	Size       int64        `json:"z"`
	At         time.Time    `json:"t"`
	Seq        uint64       `json:"q"`
	Target     uint64       `json:"g,omitempty"`  // docnum this revision applies to
	ReceiptOff int64        `json:"ro,omitempty"` // receipt in the blob log
	ReceiptLen int64        `json:"rl,omitempty"`
	Revisions  []uint64     `json:"r,omitempty"` // docnums of revisions of this one
}

type deliveryRecord struct {
	State     State          `json:"s"`
	Recall    Recall         `json:"r,omitempty"`
	ArrivedAt time.Time      `json:"a,omitzero"`
	History   []HistoryEntry `json:"h"`
}

type outboxRecord struct {
	Kind       string    `json:"k"`
	Recipient  string    `json:"r"`
	Doc        uint64    `json:"d"`
	DocumentID string    `json:"i"`
	From       string    `json:"f"`
	SHA256     string    `json:"h"`
	Code       string    `json:"c,omitempty"`
	BlobOff    int64     `json:"b"`
	BlobLen    int64     `json:"l"`
	At         time.Time `json:"t"`
	Seq        uint64    `json:"q"`
}

// summary is the value of a list index entry: everything a list page shows and filters
// on, so listing never reads the documents themselves. Stored in a compact binary form
// (see encode) so that a filtered scan of 100,000 entries needs no reflection.
type summary struct {
	Doc          uint64
	At           int64
	BusinessType int
	DocumentID   string
	From         string
	Subject      string
	CodeNumber   string
	CodeNotation string
	To           []string // outbox index: every recipient; inbox index: the recipient itself
	States       []State  // aligned with To
}

var stateByte = map[State]byte{StatePending: 0, StatePublished: 1, StateArrived: 2, StateAccepted: 3,
	StateAssigned: 4, StateProcessing: 5, StateCompleted: 6, StateRejected: 7}
var byteState = func() []State {
	out := make([]State, len(stateByte))
	for s, b := range stateByte {
		out[b] = s
	}
	return out
}()

// encode: uvarint doc, varint at, byte business type, then uvarint-length strings
// DocumentID, From, Subject, CodeNumber, CodeNotation, then uvarint n and n × (string
// recipient, byte state).
func (sm *summary) encode() []byte {
	b := make([]byte, 0, 64+len(sm.DocumentID)+len(sm.Subject)+16*len(sm.To))
	b = binary.AppendUvarint(b, sm.Doc)
	b = binary.AppendVarint(b, sm.At)
	b = append(b, byte(sm.BusinessType))
	for _, s := range []string{sm.DocumentID, sm.From, sm.Subject, sm.CodeNumber, sm.CodeNotation} {
		b = appendStr(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(sm.To)))
	for i, to := range sm.To {
		b = appendStr(b, to)
		b = append(b, stateByte[sm.States[i]])
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// summaryView aliases a stored entry (valid only inside its read transaction): filters
// run on it without allocating, and only matching rows are decoded.
type summaryView struct {
	doc                             uint64
	at                              int64
	bt                              int
	id, from, subject, cn, cno, rcp []byte
}

var errSummary = errors.New("corrupt index entry")

func viewSummary(v []byte) (sv summaryView, err error) {
	var n int
	if sv.doc, n = binary.Uvarint(v); n <= 0 {
		return sv, errSummary
	}
	v = v[n:]
	if sv.at, n = binary.Varint(v); n <= 0 || len(v) == n {
		return sv, errSummary
	}
	sv.bt, v = int(v[n]), v[n+1:]
	for _, dst := range []*[]byte{&sv.id, &sv.from, &sv.subject, &sv.cn, &sv.cno} {
		if *dst, v, err = readStr(v); err != nil {
			return sv, err
		}
	}
	sv.rcp = v
	return sv, nil
}

func readStr(v []byte) ([]byte, []byte, error) {
	l, n := binary.Uvarint(v)
	if n <= 0 || uint64(len(v)-n) < l {
		return nil, nil, errSummary
	}
	return v[n : n+int(l)], v[n+int(l):], nil
}

// recipients calls fn for each (recipient, state byte) until it returns true.
func (sv *summaryView) recipients(fn func(to []byte, st byte) bool) error {
	return sv.recipientsAt(func(to []byte, st byte, _ int) bool { return fn(to, st) })
}

// recipientsAt is recipients with the position of each state byte, counted from the end
// of the entry (the entry's length minus the byte's offset), for patching it in a copy.
func (sv *summaryView) recipientsAt(fn func(to []byte, st byte, fromEnd int) bool) error {
	cnt, n := binary.Uvarint(sv.rcp)
	if n <= 0 {
		return errSummary
	}
	v := sv.rcp[n:]
	for range cnt {
		to, rest, err := readStr(v)
		if err != nil || len(rest) == 0 {
			return errSummary
		}
		if fn(to, rest[0], len(rest)) {
			return nil
		}
		v = rest[1:]
	}
	return nil
}

func (sv *summaryView) decode() (summary, error) {
	sm := summary{Doc: sv.doc, At: sv.at, BusinessType: sv.bt, DocumentID: string(sv.id), From: string(sv.from),
		Subject: string(sv.subject), CodeNumber: string(sv.cn), CodeNotation: string(sv.cno)}
	err := sv.recipients(func(to []byte, st byte) bool {
		sm.To = append(sm.To, string(to))
		if int(st) < len(byteState) {
			sm.States = append(sm.States, byteState[st])
		} else {
			sm.States = append(sm.States, "")
		}
		return false
	})
	return sm, err
}

// shaRecord says what a byte string (by its sha256) is: a package or a status.
type shaRecord struct {
	Kind byte // 'p' package, 's' status
	Doc  uint64
	Blob blobRef
	Seq  uint64 // status: audit seq of its event
	Code string
}

func (r shaRecord) encode() []byte {
	b := make([]byte, 33, 33+len(r.Code))
	b[0] = r.Kind
	binary.BigEndian.PutUint64(b[1:], r.Doc)
	putRef(b[9:], r.Blob)
	binary.BigEndian.PutUint64(b[25:], r.Seq)
	return append(b, r.Code...)
}

func decodeSHA(b []byte) (shaRecord, bool) {
	if len(b) < 33 {
		return shaRecord{}, false
	}
	return shaRecord{Kind: b[0], Doc: binary.BigEndian.Uint64(b[1:]), Blob: getRef(b[9:]),
		Seq: binary.BigEndian.Uint64(b[25:]), Code: string(b[33:])}, true
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are encoded here
	}
	return b
}

// idxKey is agency \0 at(8) docnum(8): newest-first listing and time ranges by seek.
func idxKey(agency string, at time.Time, doc uint64) []byte {
	k := make([]byte, 0, len(agency)+17)
	k = append(k, agency...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(at.UnixNano()))
	return binary.BigEndian.AppendUint64(k, doc)
}

// keysKey is DocumentId \0 From \0 docnum.
func keysKey(documentID, from string, doc uint64) []byte {
	k := make([]byte, 0, len(documentID)+len(from)+10)
	k = append(k, documentID...)
	k = append(k, 0)
	k = append(k, from...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, doc)
}

func delivKey(doc uint64, organ string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(organ)), doc)
	return append(k, organ...)
}

// outboxV1 marks the binary outbox record (JSON records, written before it, start with '{').
const outboxV1 = 1

// encode: version byte, uvarint doc, uvarint seq, varint blob offset, varint blob length,
// varint at (Unix ns), then uvarint-length strings kind, recipient, DocumentID, from,
// sha256, code. Binary because the dispatcher decodes every entry twice (read, mark):
// JSON was a third of the writer's time for a published page.
func (r *outboxRecord) encode() []byte {
	b := make([]byte, 0, 48+len(r.Kind)+len(r.Recipient)+len(r.DocumentID)+len(r.From)+len(r.SHA256)+len(r.Code))
	b = append(b, outboxV1)
	b = binary.AppendUvarint(b, r.Doc)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendVarint(b, r.BlobOff)
	b = binary.AppendVarint(b, r.BlobLen)
	b = binary.AppendVarint(b, r.At.UnixNano())
	for _, s := range []string{r.Kind, r.Recipient, r.DocumentID, r.From, r.SHA256, r.Code} {
		b = appendStr(b, s)
	}
	return b
}

var errOutbox = errors.New("corrupt outbox entry")

func decodeOutbox(v []byte) (outboxRecord, error) {
	var r outboxRecord
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &r)
		return r, err
	}
	if len(v) == 0 || v[0] != outboxV1 {
		return r, errOutbox
	}
	v = v[1:]
	for _, dst := range []*uint64{&r.Doc, &r.Seq} {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			return r, errOutbox
		}
		*dst, v = x, v[n:]
	}
	var at int64
	for _, dst := range []*int64{&r.BlobOff, &r.BlobLen, &at} {
		x, n := binary.Varint(v)
		if n <= 0 {
			return r, errOutbox
		}
		*dst, v = x, v[n:]
	}
	r.At = time.Unix(0, at).UTC()
	for _, dst := range []*string{&r.Kind, &r.Recipient, &r.DocumentID, &r.From, &r.SHA256, &r.Code} {
		s, rest, err := readStr(v)
		if err != nil {
			return r, errOutbox
		}
		*dst, v = string(s), rest
	}
	if len(v) != 0 {
		return r, errOutbox
	}
	return r, nil
}
