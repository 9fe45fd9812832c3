package store

import (
	"encoding/binary"
	"encoding/json"
	"time"
)

// docRecord is the stored form of one accepted package.
type docRecord struct {
	Num       uint64       `json:"n"`
	Meta      DocumentMeta `json:"m"`
	SHA256    string       `json:"h"`
	BlobOff   int64        `json:"b"` // in the blob log; length is Size
	Size      int64        `json:"z"`
	At        time.Time    `json:"t"`
	Seq       uint64       `json:"q"`
	Target    uint64       `json:"g,omitempty"` // docnum this revision applies to
	Revisions []uint64     `json:"r,omitempty"` // docnums of revisions of this one
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
// on, so listing never reads the documents themselves.
type summary struct {
	Doc          uint64   `json:"n"`
	DocumentID   string   `json:"i"`
	From         string   `json:"f"`
	To           []string `json:"t,omitempty"` // outbox index only
	States       []State  `json:"s"`           // aligned with To; in the inbox index: the recipient's own
	Subject      string   `json:"j,omitempty"`
	CodeNumber   string   `json:"c,omitempty"`
	CodeNotation string   `json:"o,omitempty"`
	BusinessType int      `json:"b,omitempty"`
	At           int64    `json:"a"`
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
