package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"

	"axis/axis/errs"
)

// Checkpoints: bbolt commits without fsync (its durability comes from the write-ahead log,
// wal.go), and about once a second a checkpoint makes bbolt's file durable and records in
// the log where a recovery starts from.
//
// A commit without fsync is safe against kill -9 (the page cache survives), not against a
// power loss: the file's newest meta page may reach the disk before the pages it points
// to, and later commits reuse pages of the last synced state. So a checkpoint
//   - opens a read transaction (the pin) at the last commit, c: bbolt never reuses a page a
//     read transaction can see, so c's pages stay as they are on disk;
//   - copies c's meta page (bbolt alternates between two; later commits overwrite both);
//   - fdatasyncs the file and the blob log (in the background: the writer goes on), then
//     appends the checkpoint record (c, the meta page, where c's successors start in the
//     log) and syncs it. Then the previous checkpoint's pin is let go, and the segments
//     before this one are deleted.
//
// Recovery (Open) writes the last checkpoint's meta page back, which brings the file back
// to c whatever part of the later writes reached the disk, and replays the batch records
// after it: exactly the acknowledged state.
//
// A pin blocks bbolt's remapping of a growing file, which happens inside a commit: the
// writer would wait for a pin only it can let go. The file is therefore mapped large at
// open (mapSizeFor), and a store that grows close to the mapping switches, for the rest of
// the process, to bbolt's own synced commits (synced mode: no pins, no batch records).

// Meta page layout of bbolt (go.etcd.io/bbolt internal/common: a 16-byte page header,
// then magic, version, page size, flags, root bucket (root, sequence), freelist, pgid,
// txid, checksum (FNV-64a of the fields before it)); stable since bbolt's format version 2.
const (
	metaMagicOff    = 16
	metaFreelistOff = 48
	metaTxidOff     = 64
	metaChecksumOff = 72
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
)

var nativeEndian = binary.NativeEndian

// validMeta reports whether p is a sound meta page of transaction txid.
func validMeta(p []byte, txid uint64) bool {
	if len(p) < metaChecksumOff+8 || nativeEndian.Uint32(p[metaMagicOff:]) != boltMagic ||
		nativeEndian.Uint32(p[metaMagicOff+4:]) != boltVersion || nativeEndian.Uint64(p[metaTxidOff:]) != txid {
		return false
	}
	h := fnv.New64a()
	h.Write(p[metaMagicOff:metaChecksumOff])
	return h.Sum64() == nativeEndian.Uint64(p[metaChecksumOff:])
}

// mapSizeFor is the mapping to ask bbolt for: large enough that this process will not
// remap (see above), 64 GiB or four times the file, whichever is larger (address space
// only: the mapping costs no memory until read).
func mapSizeFor(fileSize int64) int {
	if ^uint(0)>>32 == 0 { // 32-bit: bbolt's mapping is capped well below this
		return 1 << 30
	}
	const gib = 1 << 30
	size := max(int64(64*gib), (4*fileSize+gib-1)/gib*gib)
	return int(size)
}

// mapHeadroom: a store within this of the mapping switches to synced mode (no batch
// comes close to allocating this much).
const mapHeadroom = 1 << 30

// checkpointer is the state of checkpoints, shared by the writer and the background sync.
type checkpointer struct {
	every time.Duration
	last  time.Time     // the last checkpoint started (writer only)
	done  chan struct{} // closed when the checkpoint in flight ends; nil when none is
	pins  []*bolt.Tx    // the read transactions holding the last checkpoints' pages (writer, or the background sync while done is open)
}

// readMeta copies the meta page bbolt wrote for transaction txid.
func (s *Store) readMeta(txid uint64) ([]byte, error) {
	page := s.db.Info().PageSize
	p := make([]byte, page)
	if _, err := s.dbFile.ReadAt(p, int64(txid%2)*int64(page)); err != nil {
		return nil, err
	}
	if !validMeta(p, txid) {
		return nil, fmt.Errorf("meta page of transaction %d not found in %s", txid, s.dbFile.Name())
	}
	return p, nil
}

// checkpointDue reports whether a checkpoint is due and none is in flight (writer).
func (s *Store) checkpointDue(now time.Time) bool {
	ck := &s.ck
	if s.synced || s.failed() != nil || (now.Sub(ck.last) < ck.every && !s.ckNow.Load()) {
		return false
	}
	if ck.done != nil {
		select {
		case <-ck.done:
			ck.done = nil
		default:
			return false
		}
	}
	return true
}

// startCheckpoint starts a checkpoint of the last commit (writer, between transactions,
// once checkpointDue said so before that commit: it wrote bbolt's freelist).
func (s *Store) startCheckpoint(now time.Time) {
	ck := &s.ck
	ck.last = now
	s.ckNow.Store(false)
	pin, meta, start, err := s.pinLast()
	if err != nil {
		s.fail(fmt.Errorf("checkpoint: %w", err))
		return
	}
	done := make(chan struct{})
	ck.done = done
	go func() {
		defer close(done)
		began := time.Now()
		err := s.db.Sync()
		if err == nil { // the bytes of transactions up to the pin, which their records carry
			err = s.blobs.syncAll()
		}
		if err == nil {
			err = s.logCheckpoint(checkpointRec{Txid: uint64(pin.ID()), Start: start, Meta: meta})
		}
		if err != nil {
			pin.Rollback()
			s.fail(fmt.Errorf("checkpoint: %w", err))
			return
		}
		s.keepPin(pin)
		if s.opts.OnCheckpoint != nil {
			s.opts.OnCheckpoint(time.Since(began))
		}
		if err := s.wal.removeBefore(start.Seg); err != nil {
			s.log.Warn("old write-ahead segments not removed", zap.Error(err))
		}
		if s.opts.testCheckpointed != nil {
			s.opts.testCheckpointed()
		}
	}()
}

// pinLast pins the last commit, copies its meta page and starts a new log segment if the
// current one is big (writer, between transactions).
func (s *Store) pinLast() (*bolt.Tx, []byte, walPos, error) {
	pin, err := s.db.Begin(false)
	if err != nil {
		return nil, nil, walPos{}, err
	}
	meta, err := s.readMeta(uint64(pin.ID()))
	if err != nil {
		pin.Rollback()
		return nil, nil, walPos{}, err
	}
	start, err := s.wal.rotate(walSegmentSize)
	if err != nil {
		pin.Rollback()
		return nil, nil, walPos{}, err
	}
	return pin, meta, start, nil
}

// keepPin makes pin the pin of the newest durable checkpoint and lets the older ones go.
func (s *Store) keepPin(pin *bolt.Tx) {
	s.releasePins()
	s.ck.pins = append(s.ck.pins, pin)
}

func (s *Store) releasePins() {
	for _, p := range s.ck.pins {
		p.Rollback()
	}
	s.ck.pins = s.ck.pins[:0]
}

func (s *Store) logCheckpoint(c checkpointRec) error {
	return s.wal.write(c.encode())
}

// waitCheckpoint waits for the checkpoint in flight, if any (writer).
func (s *Store) waitCheckpoint() {
	if s.ck.done != nil {
		<-s.ck.done
		s.ck.done = nil
	}
}

// checkpointNow makes a checkpoint of the last commit before returning, for a file that is
// already durable up to it (after recovery; writer or Open).
func (s *Store) checkpointNow() error {
	s.waitCheckpoint()
	pin, meta, start, err := s.pinLast()
	if err != nil {
		return err
	}
	if err := s.logCheckpoint(checkpointRec{Txid: uint64(pin.ID()), Start: start, Meta: meta}); err != nil {
		pin.Rollback()
		return err
	}
	s.keepPin(pin)
	s.ck.last = time.Now()
	return s.wal.removeBefore(start.Seg)
}

// trustFile syncs the file and records that it can be trusted as it is from now on:
// before synced mode, and at a clean close (writer). No pin is needed afterwards.
func (s *Store) trustFile(clean bool) error {
	s.waitCheckpoint()
	if err := s.db.Sync(); err != nil {
		return err
	}
	if err := s.blobs.syncAll(); err != nil {
		return err
	}
	var txid uint64
	if err := s.db.View(func(tx *bolt.Tx) error { txid = uint64(tx.ID()); return nil }); err != nil {
		return err
	}
	if err := s.logCheckpoint(checkpointRec{Txid: txid, Start: s.wal.pos(), Trusted: true, Clean: clean}); err != nil {
		return err
	}
	s.releasePins()
	return nil
}

// enterSyncedMode switches to bbolt's synced commits for the rest of the process (the
// file is close to its mapping; see above). Called inside the writer's transaction,
// before its commit.
func (s *Store) enterSyncedMode(size int64) error {
	if err := s.trustFile(false); err != nil {
		return err
	}
	s.synced = true
	s.db.NoSync = false
	s.log.Warn("store file close to its mapping: commits are synced by bbolt until the next restart",
		zap.Int64("size", size), zap.Int("mapping", s.mapSize))
	return nil
}

// ---- recovery ----

// restoreMeta writes a checkpoint's meta page back into the file and invalidates the
// other meta slot, so that bbolt opens the checkpoint's state (before bbolt opens it).
func restoreMeta(path string, c checkpointRec) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	page := int64(len(c.Meta))
	slot := int64(c.Txid % 2)
	cur := make([]byte, page)
	if _, err := f.ReadAt(cur, slot*page); err != nil {
		return err
	}
	other := make([]byte, page)
	if _, err := f.ReadAt(other, (1-slot)*page); err != nil {
		return err
	}
	if bytes.Equal(cur, c.Meta) && !validMeta(other, nativeEndian.Uint64(other[metaTxidOff:])) {
		return nil // restored already
	}
	if _, err := f.WriteAt(c.Meta, slot*page); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if _, err := f.WriteAt(make([]byte, page), (1-slot)*page); err != nil {
		return err
	}
	return f.Sync()
}

// recoveryPlan is what the log says about the file: the checkpoint to start from (nil:
// no log, the file is trusted as it is) and the batch records to replay after it.
type recoveryPlan struct {
	cp      *checkpointRec
	batches []walRecord
}

func planRecovery(dir string) (recoveryPlan, error) {
	recs, err := readWAL(dir)
	if err != nil {
		return recoveryPlan{}, err
	}
	var plan recoveryPlan
	last := -1
	for i, r := range recs {
		if r.Payload[0] == recCheckpoint {
			last = i
		}
	}
	if last < 0 {
		if len(recs) > 0 {
			return plan, errors.New("write-ahead log holds batches but no checkpoint")
		}
		return plan, nil
	}
	cp, err := decodeCheckpoint(recs[last].Payload)
	if err != nil {
		return plan, err
	}
	plan.cp = &cp
	for _, r := range recs {
		if r.Payload[0] == recBatch && !r.At.before(cp.Start) {
			plan.batches = append(plan.batches, r)
		}
	}
	return plan, nil
}

func (p walPos) before(q walPos) bool { return p.Seg < q.Seg || (p.Seg == q.Seg && p.Off < q.Off) }

// clean reports whether the file needs no recovery.
func (p recoveryPlan) clean() bool {
	return p.cp == nil || (p.cp.Clean && len(p.batches) == 0)
}

// replay applies the plan's batch records with a transaction id above the file's, in one
// synced transaction, and returns how many it applied.
func (s *Store) replay(dataDir string, p recoveryPlan) (int, error) {
	n := 0
	if len(p.batches) == 0 {
		return 0, nil
	}
	blobs, err := os.OpenFile(filepath.Join(dataDir, BlobFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer blobs.Close()
	err = s.db.Update(func(tx *bolt.Tx) error {
		next := uint64(tx.ID())
		for _, r := range p.batches {
			txid, muts, err := decodeBatch(r.Payload)
			if err != nil {
				return fmt.Errorf("write-ahead record at %s: %w", r.At, err)
			}
			if txid < next {
				continue // in the file already
			}
			if txid != next {
				return fmt.Errorf("write-ahead log jumps from transaction %d to %d at %s", next-1, txid, r.At)
			}
			next++
			n++
			for _, m := range muts {
				if m.Kind == mutBlob {
					if _, err := blobs.WriteAt(m.Value, int64(m.Seq)); err != nil {
						return fmt.Errorf("replay %s: %w", r.At, err)
					}
					continue
				}
				b := tx.Bucket(allBuckets[m.Bucket])
				if b == nil {
					return fmt.Errorf("bucket %s missing", allBuckets[m.Bucket])
				}
				switch m.Kind {
				case mutPut:
					err = b.Put(m.Key, m.Value)
				case mutDel:
					err = b.Delete(m.Key)
				case mutSeq:
					err = b.SetSequence(m.Seq)
				}
				if err != nil {
					return fmt.Errorf("replay %s: %w", r.At, err)
				}
			}
		}
		return blobs.Sync() // before the commit that references them
	})
	return n, err
}

// openBolt reads the write-ahead log, restores the file to its last checkpoint if the log
// says so, and opens bbolt (which commits without fsync unless read-only).
func openBolt(dataDir string, opts Options) (*bolt.DB, recoveryPlan, int, error) {
	path := Path(dataDir)
	plan, err := planRecovery(dataDir)
	if err != nil {
		return nil, plan, 0, errs.Wrap(errs.Unavailable, err, "read the write-ahead log in %s", dataDir)
	}
	if opts.ReadOnly && !plan.clean() {
		return nil, plan, 0, errs.E(errs.Unavailable,
			"the store in %s was not closed cleanly: start `axis serve` on it once (it recovers the store), stop it, then retry; or read through the running daemon (--server)", dataDir)
	}
	var size int64
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
		if !opts.ReadOnly && plan.cp != nil && !plan.cp.Trusted {
			if err := restoreMeta(path, *plan.cp); err != nil {
				return nil, plan, 0, errs.Wrap(errs.Unavailable, err, "restore %s to its last checkpoint", path)
			}
		}
	} else if plan.cp != nil {
		return nil, plan, 0, errs.Wrap(errs.Unavailable, err, "%s has a write-ahead log but no store file", dataDir)
	}
	mapSize := mapSizeFor(size)
	if opts.testMapSize > 0 {
		mapSize = opts.testMapSize
	}
	open := func(mapSize int) (*bolt.DB, error) {
		if opts.testMapLimit > 0 && mapSize > opts.testMapLimit {
			return nil, syscall.ENOMEM // as the kernel answers past an address-space limit
		}
		return bolt.Open(path, 0o600, &bolt.Options{
			Timeout:         opts.LockTimeout,
			ReadOnly:        opts.ReadOnly,
			FreelistType:    bolt.FreelistMapType,
			InitialMmapSize: mapSize,
			// Most commits leave the freelist out: with the checkpoints' pins, thousands of
			// freed pages stay pending for a second, and sorting them into each commit's
			// freelist page was a third of bbolt's commit time at 1,000 packages/s
			// (pprof). The commits a checkpoint pins, and the one at a clean close, write
			// it, so that an open reads it rather than walks the tree (writer, Open).
			// Set here too: with it off, bbolt would commit the freelist at open, a
			// transaction the write-ahead log does not know.
			NoFreelistSync: !opts.ReadOnly,
		})
	}
	db, err := open(mapSize)
	// An address-space limit (ulimit -v, some containers) refuses the large mapping: take
	// the largest half that fits, as long as it leaves the store room to grow before
	// synced mode (mapHeadroom).
	for wanted := mapSize; errors.Is(err, syscall.ENOMEM) && int64(mapSize/2) >= size+2*mapHeadroom; {
		mapSize /= 2
		if db, err = open(mapSize); err == nil && !opts.ReadOnly { // a reader never grows the file
			opts.Logger.Named("store").Warn("the store's file could not be mapped as large as wanted (an address-space limit, ulimit -v?): it switches to synced commits, slower, once within 1 GiB of the mapping",
				zap.Int("wanted_bytes", wanted), zap.Int("mapped_bytes", mapSize), zap.Int64("file_bytes", size))
		}
	}
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, plan, 0, errs.Wrap(errs.Unavailable, err, "%s is locked by another process (is the daemon running?)", path)
	}
	if err != nil {
		return nil, plan, 0, errs.Wrap(errs.Unavailable, err, "open %s", path)
	}
	return db, plan, mapSize, nil
}

// startWAL starts a fresh log segment after the existing ones, makes the first checkpoint
// of this process in it (the file is durable here: recovery and initialisation commit
// synced) and switches bbolt to commits without fsync.
func (s *Store) startWAL(dataDir string) (err error) {
	segs, err := walSegments(dataDir)
	if err != nil {
		return err
	}
	next := uint64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	if s.wal, err = createWAL(dataDir, next); err != nil {
		return err
	}
	defer func() {
		if err != nil { // Open fails: nothing may stay open (a pin would hang bbolt's Close)
			s.releasePins()
			s.wal.close()
			if s.dbFile != nil {
				s.dbFile.Close()
			}
		}
	}()
	if s.dbFile, err = os.Open(Path(dataDir)); err != nil {
		return err
	}
	s.ck.every = s.opts.SyncEvery
	if err := s.db.Sync(); err != nil {
		return err
	}
	if err := s.checkpointNow(); err != nil {
		return err
	}
	s.db.NoSync = true
	return nil
}

// fail stops all writing after a durable write failed: what the log and the file hold may
// differ from what this process believes, and only a new Open (recovery) sets it right.
func (s *Store) fail(err error) {
	if s.broken.CompareAndSwap(nil, &err) {
		s.log.Error("store stopped writing: it recovers when opened again", zap.Error(err))
		if s.opts.OnFail != nil {
			s.opts.OnFail(err)
		}
	}
}

// failed is the error that stopped writing, if any.
func (s *Store) failed() error {
	if err := s.broken.Load(); err != nil {
		return errs.Wrap(errs.Unavailable, *err, "store stopped writing after a failed durable write (it recovers when opened again)")
	}
	return nil
}
