package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"
)

// Document and delivery records are stored in a compact binary form: every accepted
// package writes one document and one delivery per recipient, and every publish and
// status rewrites a delivery; as JSON they were a fifth of the writer's time per package.
// Records written as JSON by earlier versions (they start with '{') still read.

const (
	docV1   = 1
	docV2   = 2 // v1, then a uvarint of flags: written only when one is set, so that
	delivV1 = 1 // every other record keeps the v1 form older versions read
)

// Flags of a v2 document record.
const docLegacy = 1 << 0 // Meta.Legacy

var errRecord = errors.New("corrupt record")

// recReader reads the fields of a binary record; the first failure sticks.
type recReader struct {
	v   []byte
	err error
}

func (r *recReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.v)
	if n <= 0 {
		r.err = errRecord
		return 0
	}
	r.v = r.v[n:]
	return x
}

func (r *recReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Varint(r.v)
	if n <= 0 {
		r.err = errRecord
		return 0
	}
	r.v = r.v[n:]
	return x
}

func (r *recReader) byte() byte {
	if r.err != nil || len(r.v) == 0 {
		r.err = errRecord
		return 0
	}
	b := r.v[0]
	r.v = r.v[1:]
	return b
}

func (r *recReader) str() string {
	if r.err != nil {
		return ""
	}
	s, rest, err := readStr(r.v)
	if err != nil {
		r.err = errRecord
		return ""
	}
	r.v = rest
	return string(s)
}

// count reads a list length, refusing one longer than the bytes left could hold (each
// element takes at least one byte), so corrupt input cannot make a huge allocation.
func (r *recReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.v)) {
		r.err = errRecord
		return 0
	}
	return int(n)
}

func (r *recReader) done() error {
	if r.err == nil && len(r.v) != 0 {
		r.err = errRecord
	}
	return r.err
}

// A time is Unix nanoseconds, 0 for the zero time (time.Time{}.UnixNano() is not
// representable).
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

func (r *recReader) time() time.Time {
	ns := r.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// encode: version, uvarint num, seq, target; varint blob offset, size, at, receipt
// offset, receipt length; strings sha256, DocumentId, From, Subject, CodeNumber,
// CodeNotation, DocTypeName, meta target; varint DocType, Priority, BusinessType;
// uvarint n + n recipients; uvarint n + n revision docnums; v2 only: uvarint flags.
func (d *docRecord) encode() []byte {
	m := &d.Meta
	b := make([]byte, 0, 96+len(d.SHA256)+len(m.DocumentID)+len(m.From)+len(m.Subject)+len(m.CodeNumber)+
		len(m.CodeNotation)+len(m.DocTypeName)+len(m.Target)+16*len(m.To)+4*len(d.Revisions))
	var flags uint64
	if m.Legacy {
		flags |= docLegacy
	}
	if flags == 0 {
		b = append(b, docV1)
	} else {
		b = append(b, docV2)
	}
	b = binary.AppendUvarint(b, d.Num)
	b = binary.AppendUvarint(b, d.Seq)
	b = binary.AppendUvarint(b, d.Target)
	b = binary.AppendVarint(b, d.BlobOff)
	b = binary.AppendVarint(b, d.Size)
	b = appendTime(b, d.At)
	b = binary.AppendVarint(b, d.ReceiptOff)
	b = binary.AppendVarint(b, d.ReceiptLen)
	for _, s := range []string{d.SHA256, m.DocumentID, m.From, m.Subject, m.CodeNumber, m.CodeNotation, m.DocTypeName, m.Target} {
		b = appendStr(b, s)
	}
	b = binary.AppendVarint(b, int64(m.DocType))
	b = binary.AppendVarint(b, int64(m.Priority))
	b = binary.AppendVarint(b, int64(m.BusinessType))
	b = binary.AppendUvarint(b, uint64(len(m.To)))
	for _, to := range m.To {
		b = appendStr(b, to)
	}
	b = binary.AppendUvarint(b, uint64(len(d.Revisions)))
	for _, n := range d.Revisions {
		b = binary.AppendUvarint(b, n)
	}
	if flags != 0 {
		b = binary.AppendUvarint(b, flags)
	}
	return b
}

func decodeDoc(v []byte) (docRecord, error) {
	var d docRecord
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &d)
		return d, err
	}
	if len(v) == 0 || v[0] != docV1 && v[0] != docV2 {
		return d, errRecord
	}
	r := recReader{v: v[1:]}
	m := &d.Meta
	d.Num, d.Seq, d.Target = r.uvarint(), r.uvarint(), r.uvarint()
	d.BlobOff, d.Size = r.varint(), r.varint()
	d.At = r.time()
	d.ReceiptOff, d.ReceiptLen = r.varint(), r.varint()
	for _, dst := range []*string{&d.SHA256, &m.DocumentID, &m.From, &m.Subject, &m.CodeNumber, &m.CodeNotation, &m.DocTypeName, &m.Target} {
		*dst = r.str()
	}
	m.DocType, m.Priority, m.BusinessType = int(r.varint()), int(r.varint()), int(r.varint())
	if n := r.count(); n > 0 {
		m.To = make([]string, n)
		for i := range m.To {
			m.To[i] = r.str()
		}
	}
	if n := r.count(); n > 0 {
		d.Revisions = make([]uint64, n)
		for i := range d.Revisions {
			d.Revisions[i] = r.uvarint()
		}
	}
	if v[0] == docV2 {
		m.Legacy = r.uvarint()&docLegacy != 0
	}
	return d, r.done()
}

// encode: version, state byte, recall, at arrived, uvarint n, then n × (at, kind,
// from, code, description, sha256, uvarint audit seq).
func (d *deliveryRecord) encode() []byte {
	n := 16 + len(d.Recall)
	for i := range d.History {
		h := &d.History[i]
		n += 24 + len(h.Kind) + len(h.From) + len(h.Code) + len(h.Description) + len(h.SHA256)
	}
	b := make([]byte, 0, n)
	b = append(b, delivV1, stateCode(d.State))
	b = appendStr(b, string(d.Recall))
	b = appendTime(b, d.ArrivedAt)
	b = binary.AppendUvarint(b, uint64(len(d.History)))
	for i := range d.History {
		h := &d.History[i]
		b = appendTime(b, h.Time)
		for _, s := range []string{h.Kind, h.From, h.Code, h.Description, h.SHA256} {
			b = appendStr(b, s)
		}
		b = binary.AppendUvarint(b, h.AuditSeq)
	}
	return b
}

func decodeDelivery(v []byte) (deliveryRecord, error) {
	var d deliveryRecord
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &d)
		return d, err
	}
	if len(v) == 0 || v[0] != delivV1 {
		return d, errRecord
	}
	r := recReader{v: v[1:]}
	st := r.byte()
	if int(st) >= len(byteState) {
		return d, errRecord
	}
	d.State = byteState[st]
	d.Recall = Recall(r.str())
	d.ArrivedAt = r.time()
	d.History = make([]HistoryEntry, r.count())
	for i := range d.History {
		h := &d.History[i]
		h.Time = r.time()
		for _, dst := range []*string{&h.Kind, &h.From, &h.Code, &h.Description, &h.SHA256} {
			*dst = r.str()
		}
		h.AuditSeq = r.uvarint()
	}
	return d, r.done()
}

// stateCode is a state's byte; an unknown state (never stored) is pending's.
func stateCode(s State) byte { return stateByte[s] }
