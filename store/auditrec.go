package store

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"axis/axis/errs"
	"axis/store/audit"
)

// Audit events are stored as their fields plus their hash (about 150 bytes instead of a
// 450-byte export line): the export line is rebuilt with the pinned encoder, which is
// deterministic, and carries the stored hash, so a field changed in the file since is a
// hash mismatch for any verifier. prev is the stored hash of the previous seq.
//
// Record: hash(32) time(8, unix ns) type(1) then uvarint-length strings document_id,
// from, to, code, detail, then sha256: 1 + 32 raw bytes when it is 64 lowercase hex,
// else 0 + a uvarint-length string.

var auditTypes = []audit.Type{audit.Accepted, audit.Rejected, audit.Published, audit.Status,
	audit.Forwarded, audit.Recall, audit.Replay, audit.Checkpoint}

var errAuditRecord = errors.New("corrupt audit record")

func encodeAuditRecord(e *audit.Event, hash string) []byte {
	b := make([]byte, 41, 100+len(e.DocumentID)+len(e.To)+len(e.Detail))
	hex.Decode(b[:32], []byte(hash))
	binary.BigEndian.PutUint64(b[32:], uint64(e.Time.UnixNano()))
	for i, t := range auditTypes {
		if t == e.Type {
			b[40] = byte(i)
		}
	}
	for _, s := range []string{e.DocumentID, e.From, e.To, e.Code, e.Detail} {
		b = appendStr(b, s)
	}
	if isLowerHex64(e.SHA256) {
		b = append(b, 1)
		n := len(b)
		b = append(b, make([]byte, 32)...)
		hex.Decode(b[n:], []byte(e.SHA256))
		return b
	}
	return appendStr(append(b, 0), e.SHA256)
}

func recordHash(rec []byte) (string, error) {
	if len(rec) < 41 {
		return "", errAuditRecord
	}
	return hex.EncodeToString(rec[:32]), nil
}

// decodeAuditRecord returns the event (Seq and Prev filled from the arguments) and its hash.
func decodeAuditRecord(seq uint64, prev string, rec []byte) (audit.Event, string, error) {
	var e audit.Event
	if len(rec) < 41 || int(rec[40]) >= len(auditTypes) {
		return e, "", errAuditRecord
	}
	e.Seq, e.Prev = seq, prev
	e.Time = time.Unix(0, int64(binary.BigEndian.Uint64(rec[32:]))).UTC()
	e.Type = auditTypes[rec[40]]
	v := rec[41:]
	for _, dst := range []*string{&e.DocumentID, &e.From, &e.To, &e.Code, &e.Detail} {
		s, rest, err := readStr(v)
		if err != nil {
			return e, "", errAuditRecord
		}
		*dst, v = string(s), rest
	}
	switch {
	case len(v) == 33 && v[0] == 1:
		e.SHA256 = hex.EncodeToString(v[1:])
	case len(v) >= 1 && v[0] == 0:
		s, rest, err := readStr(v[1:])
		if err != nil || len(rest) != 0 {
			return e, "", errAuditRecord
		}
		e.SHA256 = string(s)
	default:
		return e, "", errAuditRecord
	}
	return e, hex.EncodeToString(rec[:32]), nil
}

// auditLines calls fn with each export line from seq from on, in order, inside tx. The
// line buffer is reused: fn must copy what it keeps.
// A corrupt record is reported as errs.Internal.
func (s *Store) auditLines(tx *bolt.Tx, from uint64, fn func(seq uint64, line []byte) (more bool, err error)) error {
	if from == 0 {
		from = 1
	}
	b := tx.Bucket(bAudit)
	prev := audit.ZeroHash
	if from > 1 {
		rec := b.Get(u64(from - 1))
		if rec == nil {
			return nil // nothing before from: nothing from there on either
		}
		var err error
		if prev, err = recordHash(rec); err != nil {
			return errs.Wrap(errs.Internal, err, "audit seq %d", from-1)
		}
	}
	c := b.Cursor()
	var line []byte
	for k, rec := c.Seek(u64(from)); k != nil; k, rec = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		e, hash, err := decodeAuditRecord(seq, prev, rec)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "audit seq %d", seq)
		}
		line = audit.AppendLine(line[:0], &e, hash)
		more, err := fn(seq, line)
		if err != nil || !more {
			return err
		}
		prev = hash
	}
	return nil
}

// isLowerHex64 reports whether s is a sha256 in lowercase hex (stored as 32 raw bytes,
// exported back exactly).
func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
