package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"axis/axis/errs"
)

// The write-ahead log makes a batch durable with one sequential append and one fdatasync,
// instead of bbolt's page writes and two fdatasyncs per commit (measured on this VM: 9.4 ms
// of the writer's 12 ms per batch at 1,000 packages/s went to bbolt's synced commits, about
// 100 random pages each; a 64 KB append and its fdatasync take 1.1 ms). bbolt then commits
// without syncing, and a checkpoint (checkpoint.go) syncs it in the background about once a
// second. A batch record lists the batch's key/value changes and the small blob bytes it
// references (quietBlobMax); replaying the records after the last checkpoint onto the
// checkpoint's state gives exactly the acknowledged state.
//
// The log is a series of segment files axis.wal.<16 hex digits>. A record is
//
//	length uint32 | crc32c(length, payload) uint32 | payload (length bytes)
//
// and its payload starts with its type: 'B' (a batch) or 'C' (a checkpoint); zeros end a
// segment. A torn record can only be the last one of the last segment that holds records:
// the writer syncs a segment before it starts the next (the one after is prepared, empty).

const (
	walPrefix    = "axis.wal."
	walMaxRecord = 1 << 30

	recBatch      = 'B'
	recCheckpoint = 'C'

	mutPut  = 'p'
	mutDel  = 'd'
	mutSeq  = 's'
	mutBlob = 'b' // bytes of the blob log at an offset (quietBlobMax)
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walSegmentSize: a checkpoint starts a new segment once the current one is this big
// (tests lower it).
var walSegmentSize int64 = 64 << 20

// walPos is a place in the log: a segment and an offset in it.
type walPos struct {
	Seg uint64
	Off int64
}

func (p walPos) String() string { return fmt.Sprintf("%s%016x@%d", walPrefix, p.Seg, p.Off) }

func walName(dir string, seg uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%016x", walPrefix, seg))
}

// walSegments lists the log's segment numbers in order.
func walSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, walPrefix) || len(name) != len(walPrefix)+16 {
			continue
		}
		n, err := strconv.ParseUint(name[len(walPrefix):], 16, 64)
		if err != nil {
			continue
		}
		segs = append(segs, n)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	return segs, nil
}

// LogFiles reports the write-ahead log on disk: how many segments and their bytes
// (initialised ahead of the appends, so the disk space they take). Checkpoints delete the
// segments they no longer need: a count that keeps growing means checkpoints fail.
func (s *Store) LogFiles() (segments int, bytes int64, err error) {
	if s.wal == nil {
		return 0, 0, nil
	}
	segs, err := walSegments(s.wal.dir)
	if err != nil {
		return 0, 0, errs.Wrap(errs.Unavailable, err, "list the write-ahead log")
	}
	for _, seg := range segs {
		if st, err := os.Stat(walName(s.wal.dir, seg)); err == nil { // removed meanwhile: not counted
			segments++
			bytes += st.Size()
		}
	}
	return segments, bytes, nil
}

// wal is the log being appended to. A segment is a blobLog: initialised ahead of the
// appends (an fdatasync that changes the file's size commits ext4's journal, which
// flushes every file's dirty data: bbolt's unsynced pages included) and with shared
// fsyncs for the writer's and the checkpointer's records.
type wal struct {
	dir string

	mu  sync.Mutex // guards seg and cur against rotate
	seg uint64
	cur *blobLog
	buf []byte // the writer's record being framed

	// The next segment, prepared in the background: initialising a segment's first
	// blobPrealloc bytes takes tens of ms, which the first appends would otherwise wait for.
	next chan preparedSegment
}

type preparedSegment struct {
	seg uint64
	log *blobLog
	err error
}

// createWAL starts a new, empty segment numbered seg and makes its name durable.
func createWAL(dir string, seg uint64) (*wal, error) {
	l, err := createSegment(dir, seg)
	if err != nil {
		return nil, err
	}
	w := &wal{dir: dir, seg: seg, cur: l}
	w.prepare(seg + 1)
	return w, nil
}

// createSegment creates segment seg with its first blobPrealloc bytes initialised, durably.
func createSegment(dir string, seg uint64) (*blobLog, error) {
	f, err := os.OpenFile(walName(dir, seg), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	l := newBlobLog(dataSyncFile{f}, 0)
	l.strict = true
	l.extend(0, blobPrealloc)
	if l.broken == nil {
		l.broken = syncDir(dir)
	}
	if err := l.broken; err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// prepare creates segment seg in the background (rotate takes it).
func (l *wal) prepare(seg uint64) {
	ch := make(chan preparedSegment, 1)
	l.next = ch
	go func() {
		log, err := createSegment(l.dir, seg)
		ch <- preparedSegment{seg, log, err}
	}()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// pos is where the next record goes.
func (l *wal) pos() walPos {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur.mu.Lock()
	defer l.cur.mu.Unlock()
	return walPos{l.seg, l.cur.end}
}

// write appends one record and returns once it is durable (its fsync is shared with
// the appends of concurrent writers).
func (l *wal) write(payload []byte) error {
	wait, err := l.start(payload)
	if err != nil {
		return err
	}
	return wait()
}

// start appends one record and starts its fsync; wait returns once the record is durable.
// The record is in the file (the page cache) when start returns: a crash of the process
// alone keeps it; only the machine's loses it before wait returns.
func (l *wal) start(payload []byte) (wait func() error, err error) {
	if len(payload) > walMaxRecord {
		return nil, fmt.Errorf("write-ahead record of %d bytes is too large", len(payload))
	}
	l.mu.Lock()
	l.buf = appendFrame(l.buf[:0], payload)
	cur := l.cur
	ref, err := cur.append(l.buf, false)
	if cap(l.buf) > 4<<20 {
		l.buf = nil
	}
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return func() error { return cur.waitSynced(ref.sync) }, nil
}

// appendFrame appends payload framed as a record.
func appendFrame(b, payload []byte) []byte {
	at := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[at:], uint32(len(payload)))
	crc := crc32.Update(0, crcTable, b[at:at+4])
	binary.BigEndian.PutUint32(b[at+4:], crc32.Update(crc, crcTable, payload))
	return b
}

// rotate starts a new segment if the current one holds at least min bytes, and returns
// where the next record goes. Every record of the current segment must be durable (the
// writer calls it between batches).
func (l *wal) rotate(min int64) (walPos, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur.mu.Lock()
	end := l.cur.end
	l.cur.mu.Unlock()
	if end < min {
		return walPos{l.seg, end}, nil
	}
	p := <-l.next // ready long since, normally: a checkpoint is a second after the last
	if p.err != nil || p.seg != l.seg+1 {
		if p.log != nil {
			p.log.close()
		}
		var err error
		if p.log, err = createSegment(l.dir, l.seg+1); err != nil {
			l.prepare(l.seg + 1)
			return walPos{}, err
		}
	}
	old := l.cur
	l.cur, l.seg = p.log, l.seg+1
	l.prepare(l.seg + 1)
	go old.close() // waits for its zeroing to end
	return walPos{l.seg, 0}, nil
}

// removeBefore deletes the segments before seg (a durable checkpoint made them useless).
func (l *wal) removeBefore(seg uint64) error {
	segs, err := walSegments(l.dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s >= seg {
			break
		}
		if err := os.Remove(walName(l.dir, s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (l *wal) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := <-l.next; p.log != nil {
		p.log.close() // left empty: harmless, removed after the next start's first checkpoint
	}
	l.next = make(chan preparedSegment, 1)
	l.next <- preparedSegment{err: errors.New("write-ahead log closed")}
	return l.cur.close()
}

// ---- records ----

// mutLog accumulates one transaction's changes as a batch record payload.
type mutLog struct{ b []byte }

func (m *mutLog) reset(txid uint64) {
	m.b = binary.BigEndian.AppendUint64(append(m.b[:0], recBatch), txid)
}

func (m *mutLog) put(bucket byte, k, v []byte) {
	m.b = append(m.b, mutPut, bucket)
	m.b = binary.AppendUvarint(m.b, uint64(len(k)))
	m.b = append(m.b, k...)
	m.b = binary.AppendUvarint(m.b, uint64(len(v)))
	m.b = append(m.b, v...)
}

func (m *mutLog) del(bucket byte, k []byte) {
	m.b = append(m.b, mutDel, bucket)
	m.b = binary.AppendUvarint(m.b, uint64(len(k)))
	m.b = append(m.b, k...)
}

func (m *mutLog) seq(bucket byte, n uint64) {
	m.b = binary.BigEndian.AppendUint64(append(m.b, mutSeq, bucket), n)
}

func (m *mutLog) blob(off int64, b []byte) {
	m.b = binary.BigEndian.AppendUint64(append(m.b, mutBlob, 0), uint64(off))
	m.b = binary.AppendUvarint(m.b, uint64(len(b)))
	m.b = append(m.b, b...)
}

// mutation is one decoded change of a batch record.
type mutation struct {
	Kind   byte
	Bucket byte
	Key    []byte
	Value  []byte // or a blob's bytes
	Seq    uint64 // or a blob's offset
}

// decodeBatch reads a batch record's payload (type byte included).
func decodeBatch(p []byte) (txid uint64, muts []mutation, err error) {
	if len(p) < 9 || p[0] != recBatch {
		return 0, nil, errors.New("not a batch record")
	}
	txid = binary.BigEndian.Uint64(p[1:])
	p = p[9:]
	bytesOf := func() ([]byte, error) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return nil, errors.New("truncated batch record")
		}
		b := p[k : k+int(n)]
		p = p[k+int(n):]
		return b, nil
	}
	for len(p) > 0 {
		if len(p) < 2 {
			return 0, nil, errors.New("truncated batch record")
		}
		m := mutation{Kind: p[0], Bucket: p[1]}
		p = p[2:]
		if int(m.Bucket) >= len(allBuckets) {
			return 0, nil, fmt.Errorf("batch record names bucket %d", m.Bucket)
		}
		switch m.Kind {
		case mutPut:
			if m.Key, err = bytesOf(); err == nil {
				m.Value, err = bytesOf()
			}
		case mutDel:
			m.Key, err = bytesOf()
		case mutSeq, mutBlob:
			if len(p) < 8 {
				return 0, nil, errors.New("truncated batch record")
			}
			m.Seq = binary.BigEndian.Uint64(p)
			p = p[8:]
			if m.Kind == mutBlob {
				if m.Bucket != 0 || m.Seq > 1<<62 {
					return 0, nil, errors.New("bad blob in batch record")
				}
				m.Value, err = bytesOf()
			}
		default:
			return 0, nil, fmt.Errorf("batch record has change kind %q", m.Kind)
		}
		if err != nil {
			return 0, nil, err
		}
		muts = append(muts, m)
	}
	return txid, muts, nil
}

// checkpointRec says: bbolt is durable at transaction Txid, whose meta page was Meta
// (empty when Trusted), and every change after it is in the batch records from Start on.
// Trusted: the file's own meta can be trusted (its commits are synced, or it was closed
// cleanly), nothing is to be restored. Clean: written by Close, nothing follows.
type checkpointRec struct {
	Txid    uint64
	Start   walPos
	Trusted bool
	Clean   bool
	Meta    []byte
}

func (c checkpointRec) encode() []byte {
	b := []byte{recCheckpoint}
	b = binary.BigEndian.AppendUint64(b, c.Txid)
	b = binary.BigEndian.AppendUint64(b, c.Start.Seg)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Start.Off))
	var flags byte
	if c.Trusted {
		flags |= 1
	}
	if c.Clean {
		flags |= 2
	}
	b = append(b, flags)
	return append(b, c.Meta...)
}

func decodeCheckpoint(p []byte) (checkpointRec, error) {
	if len(p) < 26 || p[0] != recCheckpoint {
		return checkpointRec{}, errors.New("not a checkpoint record")
	}
	c := checkpointRec{Txid: binary.BigEndian.Uint64(p[1:]),
		Start:   walPos{binary.BigEndian.Uint64(p[9:]), int64(binary.BigEndian.Uint64(p[17:]))},
		Trusted: p[25]&1 != 0, Clean: p[25]&2 != 0}
	if len(p) > 26 {
		c.Meta = p[26:]
	}
	if !c.Trusted && len(c.Meta) < metaTxidOff+8 {
		return c, errors.New("checkpoint record without its meta page")
	}
	return c, nil
}

// ---- reading ----

// walRecord is one record read back, with where it starts and where the next one does.
type walRecord struct {
	At, Next walPos
	Payload  []byte
}

// readWAL reads every intact record of the log, in order. A damaged or torn record ends
// the log if no later segment holds a record (the tail of a crash; segments prepared
// ahead are empty); otherwise it is an error: the log is damaged and replaying past it
// would skip acknowledged changes.
func readWAL(dir string) ([]walRecord, error) {
	segs, err := walSegments(dir)
	if err != nil {
		return nil, err
	}
	var out []walRecord
	var damage error
	for _, seg := range segs {
		data, err := os.ReadFile(walName(dir, seg))
		if err != nil {
			return nil, err
		}
		recs, bad := parseSegment(seg, data)
		if damage != nil && len(recs) > 0 {
			return nil, damage
		}
		out = append(out, recs...)
		if bad != nil && damage == nil {
			damage = fmt.Errorf("write-ahead log %s: %w", walName(dir, seg), bad)
		}
	}
	return out, nil
}

// parseSegment reads a segment's intact records, up to its end (zeros) or to the first
// damaged record, which it reports.
func parseSegment(seg uint64, data []byte) ([]walRecord, error) {
	var out []walRecord
	var off int64
	for off < int64(len(data)) {
		payload, n, err := readRecord(data[off:])
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("damaged at offset %d: %w", off, err)
		}
		out = append(out, walRecord{At: walPos{seg, off}, Next: walPos{seg, off + n}, Payload: payload})
		off += n
	}
	return out, nil
}

// readRecord decodes the record at the start of b and its framed length.
func readRecord(b []byte) ([]byte, int64, error) {
	if len(b) < 8 {
		return nil, 0, io.ErrUnexpectedEOF
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 && binary.BigEndian.Uint32(b[4:]) == 0 {
		return nil, 0, io.EOF // zeros: the end
	}
	if n > walMaxRecord || int64(n) > int64(len(b)-8) {
		return nil, 0, io.ErrUnexpectedEOF
	}
	crc := crc32.Update(0, crcTable, b[:4])
	if crc32.Update(crc, crcTable, b[8:8+n]) != binary.BigEndian.Uint32(b[4:]) {
		return nil, 0, errors.New("checksum mismatch")
	}
	if n == 0 || (b[8] != recBatch && b[8] != recCheckpoint) {
		return nil, 0, errors.New("unknown record type")
	}
	return b[8 : 8+n], int64(8 + n), nil
}
