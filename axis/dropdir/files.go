package dropdir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"go.uber.org/zap"

	"axis/axis/errs"
	"axis/axis/internal/durable"
)

// Test hooks (export_test.go): crash tests widen the windows between the steps.
var (
	testHookSubmitted   func(name string, err error) // after Submit, before any move
	testHookRejectMoved func(name string)            // package in rejected/, error.json still pending
	testNoWatch         bool                         // rely on the rescan alone
)

const (
	pendingPrefix = ".axis-pending." // + name in rejected/ + pendingSuffix: an error body not yet in place
	pendingSuffix = ".tmp"
	// Longest names chosen in accepted/ and rejected/: a rejected name must still fit
	// with ErrorSuffix, and with the pending prefix and suffix, in 255 bytes.
	acceptedNameMax = 255
	rejectedNameMax = 255 - len(pendingPrefix) - len(pendingSuffix)
)

var (
	errNotRegular = errors.New("not a regular file")
	errGone       = errors.New("file no longer in incoming/")
	errReplaced   = errors.New("another file was renamed in under the same name")
)

// process makes one attempt at incoming/name, after attempts transient failures.
func (d *Dir) process(ctx context.Context, name string, attempts int) outcome {
	log := d.log.With(zap.String("file", name))
	b, read, err := d.read(filepath.Join(d.incoming, name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return finished // moved or removed by someone else, or already handled
	case errors.Is(err, errNotRegular):
		return skipped
	case err != nil && !errs.Is(err, errs.TooLarge):
		d.logRetry(log, attempts, "cannot read the dropped file; will retry", zap.Error(err))
		return retry
	}
	var a Answer
	if err == nil {
		a, err = d.cfg.Submit(ctx, b)
		if testHookSubmitted != nil {
			testHookSubmitted(name, err)
		}
	} else if d.cfg.Refused != nil {
		d.cfg.Refused(ctx, err)
	}
	if err == nil {
		if attempts > 0 {
			log = log.With(zap.Int("failed_attempts", attempts))
		}
		return d.accept(log, name, read, a)
	}
	if code := errs.CodeOf(err); code.Transient() {
		d.logRetry(log, attempts, "submission failed; the file stays in incoming/ and will be retried",
			zap.String("code", string(code)), zap.Error(err))
		return retry
	}
	return d.reject(log, name, read, err)
}

// logRetry logs the first of a run of transient failures as a warning and the rest at
// debug level: during a store outage every waiting file fails again at each backoff.
func (d *Dir) logRetry(log *zap.Logger, attempts int, msg string, fields ...zap.Field) {
	if attempts == 0 {
		log.Warn(msg, fields...)
	} else {
		log.Debug(msg, append(fields, zap.Int("attempt", attempts+1))...)
	}
}

// read returns the file's bytes and which file it read (moves check that the name
// still holds it), or errs.TooLarge without reading more than the limit. A file that is
// not regular (or is swapped for one between the checks) is errNotRegular; it is never
// opened in a way that could block (FIFO) or follow a link.
func (d *Dir) read(path string) ([]byte, os.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, errNotRegular
	}
	if err := d.checkSize(fi.Size()); err != nil {
		return nil, fi, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, nil, errNotRegular
		}
		return nil, nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, errNotRegular
	}
	if err := d.checkSize(fi.Size()); err != nil {
		return nil, fi, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, fi.Size()+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, d.cfg.MaxBytes+1)); err != nil {
		return nil, nil, err
	}
	if buf.Len() > int(d.cfg.MaxBytes) { // it grew while we read: a writer broke the rename rule
		return nil, fi, errs.E(errs.TooLarge, "file is over the limit of %d bytes", d.cfg.MaxBytes)
	}
	return buf.Bytes(), fi, nil
}

func (d *Dir) checkSize(n int64) error {
	if n > d.cfg.MaxBytes {
		return errs.E(errs.TooLarge, "file is %d bytes, limit is %d", n, d.cfg.MaxBytes)
	}
	return nil
}

// accept moves an accepted file to accepted/. The acceptance is already durable, so a
// failure here only means the next attempt resubmits (and gets Existing) and moves again.
func (d *Dir) accept(log *zap.Logger, name string, read os.FileInfo, a Answer) outcome {
	log = log.With(zap.String("document_id", a.DocumentID))
	src := filepath.Join(d.incoming, name)
	d.moveMu.Lock()
	dst, err := freeName(d.accepted, name, acceptedNameMax, false)
	if err == nil {
		err = rename(src, read, filepath.Join(d.accepted, dst))
	}
	d.moveMu.Unlock()
	switch {
	case errors.Is(err, errReplaced):
		log.Info("dropped package accepted; a new file under its name stays in incoming/ for its own submission",
			zap.String("sha256", a.SHA256), zap.Uint64("audit_seq", a.AuditSeq), zap.Bool("existing", a.Existing))
		return finished
	case errors.Is(err, errGone):
		log.Warn("file left incoming/ before it could be moved; it was accepted", zap.String("sha256", a.SHA256))
		return finished
	case err != nil:
		log.Error("package accepted but not moved to accepted/; will retry", zap.Error(err))
		return retry
	}
	d.syncDirs(log, d.accepted, d.incoming)
	log.Info("dropped package accepted", zap.String("sha256", a.SHA256), zap.Uint64("audit_seq", a.AuditSeq),
		zap.Bool("existing", a.Existing), zap.String("moved_to", filepath.Join(Accepted, dst)))
	return finished
}

// reject moves a refused file to rejected/ with its error body beside it, in the order
// the package comment explains.
func (d *Dir) reject(log *zap.Logger, name string, read os.FileInfo, cause error) outcome {
	body := errs.ToBody(cause)
	js, err := json.Marshal(body)
	if err != nil {
		log.Error("cannot encode the error body", zap.Error(err))
		return retry
	}
	js = append(js, '\n')
	log = log.With(zap.String("code", body.Error.Code))
	src := filepath.Join(d.incoming, name)

	d.moveMu.Lock()
	defer d.moveMu.Unlock()
	dst, err := freeName(d.rejected, name, rejectedNameMax, true)
	if err != nil {
		log.Error("refused, but cannot choose a name in rejected/; will retry", zap.Error(err))
		return retry
	}
	pending := filepath.Join(d.rejected, pendingPrefix+dst+pendingSuffix)
	if err := writeSynced(pending, js); err == nil {
		err = syncDir(d.rejected)
	}
	if err != nil {
		os.Remove(pending)
		log.Error("refused, but cannot write the error file; will retry", zap.Error(err))
		return retry
	}
	if err := rename(src, read, filepath.Join(d.rejected, dst)); err != nil {
		os.Remove(pending)
		if errors.Is(err, errReplaced) {
			log.Warn("dropped file refused; a new file under its name stays in incoming/ for its own submission", zap.Error(cause))
			return finished
		}
		if errors.Is(err, errGone) {
			log.Warn("file left incoming/ before it could be moved to rejected/", zap.Error(cause))
			return finished
		}
		log.Error("refused, but not moved to rejected/; will retry", zap.Error(err))
		return retry
	}
	d.syncDirs(log, d.rejected, d.incoming)
	if testHookRejectMoved != nil {
		testHookRejectMoved(name)
	}
	if err := os.Rename(pending, filepath.Join(d.rejected, dst+ErrorSuffix)); err != nil {
		// The file is in rejected/ already; Open completes this at the next start.
		log.Error("cannot put the error file in place", zap.String("pending", pending), zap.Error(err))
	}
	d.syncDirs(log, d.rejected)
	log.Info("dropped file rejected", zap.String("message", body.Error.Message),
		zap.String("moved_to", filepath.Join(Rejected, dst)), zap.Error(cause))
	return finished
}

// recoverPending completes refusals a crash interrupted (see the package comment).
func (d *Dir) recoverPending() error {
	list, err := os.ReadDir(d.rejected)
	if err != nil {
		return err
	}
	changed := false
	for _, de := range list {
		p := de.Name()
		if !strings.HasPrefix(p, pendingPrefix) || !strings.HasSuffix(p, pendingSuffix) || len(p) <= len(pendingPrefix)+len(pendingSuffix) {
			continue
		}
		dst := p[len(pendingPrefix) : len(p)-len(pendingSuffix)]
		pending := filepath.Join(d.rejected, p)
		pkg, err := exists(filepath.Join(d.rejected, dst))
		if err != nil {
			return err
		}
		ej, err := exists(filepath.Join(d.rejected, dst+ErrorSuffix))
		if err != nil {
			return err
		}
		if pkg && !ej {
			err = os.Rename(pending, filepath.Join(d.rejected, dst+ErrorSuffix))
			d.log.Info("completed an interrupted rejection", zap.String("file", dst))
		} else {
			err = os.Remove(pending) // the package is still in incoming/ and will be refused again
		}
		if err != nil {
			return err
		}
		changed = true
	}
	if changed {
		return syncDir(d.rejected)
	}
	return nil
}

// freeName returns a name in dir that is not taken (nor its error file, with sidecar):
// name itself, else name with a numeric suffix before its extension.
func freeName(dir, name string, limit int, sidecar bool) (string, error) {
	for i := 0; i < 1_000_000; i++ {
		cand := candidate(name, i, limit)
		taken, err := exists(filepath.Join(dir, cand))
		if err == nil && !taken && sidecar {
			taken, err = exists(filepath.Join(dir, cand+ErrorSuffix))
		}
		if err != nil {
			return "", err
		}
		if !taken {
			return cand, nil
		}
	}
	return "", fmt.Errorf("no free name for %s in %s", name, dir)
}

// candidate is name with suffix ".i" before its extension (i > 0), shortened to limit bytes.
func candidate(name string, i, limit int) string {
	ext := filepath.Ext(name)
	if len(ext) > 16 || len(ext) == len(name) {
		ext = ""
	}
	stem := name[:len(name)-len(ext)]
	suffix := ""
	if i > 0 {
		suffix = "." + strconv.Itoa(i)
	}
	if room := limit - len(ext) - len(suffix); len(stem) > room {
		// Do not cut a character in half: back up to the start of the one cut, at most
		// 3 bytes (a name need not be UTF-8 at all; its other bytes stay as they are).
		cut := room
		for cut > 0 && cut > room-utf8.UTFMax+1 && !utf8.RuneStart(stem[cut]) {
			cut--
		}
		stem = stem[:cut]
	}
	return stem + suffix + ext
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// rename moves src to dst, which freeName found free, if src is still the file that was
// read. errGone: src is not there; errReplaced: a writer renamed another file in under
// its name meanwhile (submitted or not, that one is not moved: it gets its own turn).
// The check narrows that window from the whole submission to this call.
func rename(src string, read os.FileInfo, dst string) error {
	if read != nil {
		fi, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			return errGone
		}
		if err == nil && !os.SameFile(fi, read) {
			return errReplaced
		}
	}
	err := os.Rename(src, dst)
	if err != nil {
		if ok, _ := exists(src); !ok {
			return errGone
		}
	}
	return err
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes renames in dir durable.
var syncDir = durable.SyncDir

// syncDirs syncs after a rename that already happened: a failure cannot be undone, only
// reported (the file is where it should be unless the machine crashes).
func (d *Dir) syncDirs(log *zap.Logger, dirs ...string) {
	for _, dir := range dirs {
		if err := syncDir(dir); err != nil {
			log.Error("cannot sync directory", zap.String("dir", dir), zap.Error(err))
		}
	}
}
