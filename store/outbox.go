package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"

	"axis/axis/errs"
	"axis/store/audit"
)

// MaxPendingBytes bounds the bytes one PendingDeliveries call loads (packages may be
// 64 MiB each); it always returns at least one entry when there is one.
const MaxPendingBytes = 128 << 20

var pendingBytesCap int64 = MaxPendingBytes // tests lower it

// PendingDeliveries returns up to limit outbox entries with ID > after, in order, with
// their bytes (shared between the entries of one package: read only) (at most MaxPendingBytes in all, but at least one entry). Entries stay until
// MarkPublished, across restarts.
func (s *Store) PendingDeliveries(ctx context.Context, after uint64, limit int) ([]OutboxEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []OutboxEntry
	var refs []blobRef
	var total int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bOutbox).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			r, err := decodeOutbox(v)
			if err != nil {
				return errs.Wrap(errs.Internal, err, "decode outbox entry")
			}
			if total += r.BlobLen; len(out) > 0 && total > pendingBytesCap {
				break
			}
			out = append(out, OutboxEntry{ID: binary.BigEndian.Uint64(k), Kind: r.Kind, Recipient: r.Recipient,
				DocumentID: r.DocumentID, From: r.From, SHA256: r.SHA256, Code: r.Code, AcceptedAt: r.At,
				AuditSeq: r.Seq})
			refs = append(refs, blobRef{Off: r.BlobOff, Len: r.BlobLen})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Outside the read transaction: the log is append-only. A package's entries (one per
	// recipient) share its bytes, read once.
	read := make(map[[2]int64][]byte, len(out))
	for i := range out {
		key := [2]int64{refs[i].Off, refs[i].Len}
		b, ok := read[key]
		if !ok {
			if b, err = s.readBlob(refs[i]); err != nil {
				return nil, errs.Wrap(errs.Unavailable, err, "read outbox bytes")
			}
			read[key] = b
		}
		out[i].Value = b
	}
	return out, nil
}

// MarkPublished removes acknowledged outbox entries and records each as an audit event
// ("published" for a package, "forwarded" for a status); a package's delivery moves to
// StatePublished. Unknown (already marked) ids are ignored, so it is idempotent.
func (s *Store) MarkPublished(ctx context.Context, ids ...uint64) error {
	return s.do(ctx, func(w *wtx) error {
		// The sender's list entry of a package is rewritten once for all of its
		// recipients published here, not once per recipient.
		type outEntry struct {
			from  string
			at    time.Time
			moved map[string]State
		}
		var outs map[uint64]*outEntry
		var order []uint64
		for _, id := range ids {
			v := w.get(bOutbox, u64(id))
			if v == nil {
				continue
			}
			r, err := decodeOutbox(v)
			if err != nil {
				return errs.Wrap(errs.Internal, err, "decode outbox entry")
			}
			if err := w.del(bOutbox, u64(id)); err != nil {
				return err
			}
			if err := w.uncount(kOutbox, 1); err != nil {
				return err
			}
			typ := audit.Published
			if r.Kind == "status" {
				typ = audit.Forwarded
			}
			seq, err := w.event(audit.Event{Type: typ, DocumentID: r.DocumentID, From: r.From, To: r.Recipient, SHA256: r.SHA256, Code: r.Code})
			if err != nil {
				return err
			}
			if r.Kind != "edoc" {
				continue
			}
			// The outbox entry carries the document's sender, time and number: the
			// document record itself is not needed.
			d, err := loadDelivery(w.tx, r.Doc, r.Recipient)
			if err != nil {
				return err
			}
			d.History = append(d.History, HistoryEntry{Time: w.lastTime, Kind: "published", AuditSeq: seq})
			moved := StatePublished.Rank() > d.State.Rank()
			if moved {
				d.State = StatePublished
			}
			if err := w.put(bDeliv, delivKey(r.Doc, r.Recipient), d.encode()); err != nil {
				return err
			}
			if !moved {
				continue
			}
			if err := w.setIndexStates(bIdxIn, r.Recipient, r.At, r.Doc, map[string]State{r.Recipient: StatePublished}); err != nil {
				return err
			}
			if outs == nil {
				outs = map[uint64]*outEntry{}
			}
			o := outs[r.Doc]
			if o == nil {
				o = &outEntry{from: r.From, at: r.At, moved: map[string]State{}}
				outs[r.Doc] = o
				order = append(order, r.Doc)
			}
			o.moved[r.Recipient] = StatePublished
		}
		for _, num := range order {
			o := outs[num]
			if err := w.setIndexStates(bIdxOut, o.from, o.at, num, o.moved); err != nil {
				return err
			}
		}
		return nil
	})
}

// OutboxDepth is the number of deliveries (packages and statuses) not yet acknowledged
// by Kafka.
func (s *Store) OutboxDepth(ctx context.Context) (uint64, error) {
	var n uint64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = outboxDepth(tx)
		return nil
	})
	return n, err
}

func outboxDepth(tx *bolt.Tx) uint64 { return readU64(tx.Bucket(bStats).Get(kOutbox)) }

// OutboxDepthNow is OutboxDepth without waiting for the disk: ok is false if a commit's
// write-ahead record is being synced (OutboxDepth would wait for that fsync).
func (s *Store) OutboxDepthNow(ctx context.Context) (n uint64, ok bool, err error) {
	ok, err = s.tryView(ctx, func(tx *bolt.Tx) error {
		n = outboxDepth(tx)
		return nil
	})
	return n, ok, err
}

// AuditSince returns up to limit export lines with seq > after, in order.
func (s *Store) AuditSince(ctx context.Context, after uint64, limit int) ([]AuditLine, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []AuditLine
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return s.auditLines(tx, after+1, func(seq uint64, line []byte) (bool, error) {
			out = append(out, AuditLine{Seq: seq, Line: bytes.Clone(line)})
			return len(out) < limit, nil
		})
	})
	return out, err
}

// AuditHead returns the seq and hash of the last audit event (0 and "" when empty).
func (s *Store) AuditHead(ctx context.Context) (seq uint64, hash string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		c, _ := decodeHead(tx.Bucket(bMeta).Get(kHead))
		seq, hash = c.Seq, c.Hash
		return nil
	})
	return seq, hash, err
}

// ExportAudit writes the export lines with seq ≥ from (one per line) to w and returns how
// many it wrote. It reads one consistent snapshot.
func (s *Store) ExportAudit(ctx context.Context, w io.Writer, from uint64) (uint64, error) {
	var n uint64
	var buf []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return s.auditLines(tx, from, func(_ uint64, line []byte) (bool, error) {
			if n%4096 == 0 && ctx.Err() != nil {
				return false, errs.Wrap(errs.Unavailable, ctx.Err(), "export cancelled")
			}
			buf = append(append(buf[:0], line...), '\n')
			if _, err := w.Write(buf); err != nil {
				return false, errs.Wrap(errs.Unavailable, err, "write export")
			}
			n++
			return true, nil
		})
	})
	return n, err
}

// AuditPublished is the last audit seq the daemon published to the axis.audit topic.
func (s *Store) AuditPublished(ctx context.Context) (uint64, error) {
	var seq uint64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		seq = readU64(tx.Bucket(bMeta).Get(kAuditPub))
		return nil
	})
	return seq, err
}

// SetAuditPublished durably records that every event up to seq is on axis.audit. It never
// moves the cursor backwards.
func (s *Store) SetAuditPublished(ctx context.Context, seq uint64) error {
	return s.do(ctx, func(w *wtx) error {
		if readU64(w.get(bMeta, kAuditPub)) >= seq {
			return nil
		}
		return w.put(bMeta, kAuditPub, u64(seq))
	})
}

// Checkpoint writes an audit checkpoint now unless the last event already is one, and
// returns the seq of the latest checkpoint.
func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	var seq uint64
	err := s.do(ctx, func(w *wtx) error {
		if w.chain.Seq > w.lastCP {
			if err := w.checkpoint(); err != nil {
				return err
			}
		}
		seq = w.lastCP
		return nil
	})
	return seq, err
}

// VerifyAudit verifies the whole stored chain (GET /v1/audit/verify): every line, and the
// checkpoint signatures when cv is not nil. Chain problems are in the report's Break.
func (s *Store) VerifyAudit(ctx context.Context, cv audit.CheckpointVerifier) (audit.Report, error) {
	v := audit.NewVerifier(audit.VerifyOptions{Checkpoints: cv})
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return s.auditLines(tx, 1, func(_ uint64, line []byte) (bool, error) {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return false, errs.Wrap(errs.Unavailable, ctx.Err(), "verify cancelled")
			}
			return v.Add(line) == nil, nil
		})
	})
	return v.Report(), err
}
