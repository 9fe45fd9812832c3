// Package dropdir is the drop directory of the axis daemon (SPEC §7): files renamed into
// DIR/incoming/ are submitted as by HTTP, then moved to DIR/accepted/, or to DIR/rejected/
// with a <name>.error.json beside them holding the HTTP error body.
//
// # No file lost, none submitted twice
//
// The store is the only record of what was accepted; the directories only say what is
// left to do. The order of operations makes every crash point safe:
//
//  1. Submit the bytes. An acceptance is durable in the store before Submit returns.
//  2. Accepted: rename incoming/NAME to accepted/NAME', then fsync accepted/ and incoming/.
//     A crash between 1 and 2 leaves the file in incoming/; at restart it is submitted again
//     and the store's byte identity (SPEC §2) returns the first answer (Existing), so it is
//     not accepted or routed twice; it is then moved.
//  3. Refused: write the error body to a pending temp file in rejected/ (fsync the file and
//     the directory), rename the package into rejected/NAME' (fsync rejected/, incoming/),
//     then rename the temp to NAME'.error.json (fsync rejected/). At start, before
//     anything else, a pending temp whose package is already in rejected/ is completed,
//     and one whose package is not there (a crash before the move) is removed: its file is
//     still in incoming/ and is refused again. So a refused file ends up in rejected/
//     exactly once, with its error.json (a reader may see it a moment before that file).
//  4. Transient errors (errs.Code.Transient: the store cannot write) and local I/O errors
//     leave the file in incoming/; it is retried with exponential backoff.
//
// A rename is atomic, so a file is always in exactly one of incoming/, accepted/ or
// rejected/. Names in accepted/ and rejected/ are chosen under a lock and never replace
// an existing file (a collision gets a numeric suffix: a.xml, a.1.xml, a.2.xml, ...).
// That lock is per process; a file lock on DIR/.axis-drop.lock keeps a second process
// away from the same drop directory.
//
// Writers must write elsewhere (or under a name that is ignored: a leading '.', or a
// .tmp or .part suffix) and rename the finished file in: a file is read as soon as it
// appears. Files that are not regular (directories, symlinks, FIFOs, devices) are left
// alone, with one log line.
package dropdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"axis/envelope"
)

// Subdirectories of the drop directory and the suffix of an error file.
const (
	Incoming    = "incoming"
	Accepted    = "accepted"
	Rejected    = "rejected"
	ErrorSuffix = ".error.json"
	lockName    = ".axis-drop.lock"
)

// Answer is what the drop directory needs of a successful submission.
type Answer struct {
	DocumentID string
	SHA256     string
	AuditSeq   uint64
	Existing   bool // identical bytes were accepted before
}

// SubmitFunc submits one package. Its errors carry an errs code: transient codes
// (errs.Unavailable, errs.Internal) leave the file in incoming/ for a retry, any other
// code rejects it. It must be idempotent on identical bytes (SPEC §2), which is what
// makes a resubmission after a crash harmless.
type SubmitFunc func(ctx context.Context, b []byte) (Answer, error)

// Config configures a drop directory. Zero values take the defaults.
type Config struct {
	Dir    string     // required
	Submit SubmitFunc // required
	// Refused, if set, is told about a file refused before it could be submitted (too
	// large to read), so that the refusal is recorded like any other.
	Refused  func(ctx context.Context, err error)
	MaxBytes int64 // larger files are rejected with too_large unread (default 64 MiB)
	Workers  int   // files submitted at once (default 2)
	// Rescan is the period of the full listing of incoming/ that backs up the file
	// system notifications (default 2 s).
	Rescan time.Duration
	// MinBackoff and MaxBackoff bound the wait before a file whose submission failed
	// transiently is tried again (defaults 250 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *zap.Logger
}

func (c *Config) validate() error {
	if c.Dir == "" {
		return errors.New("drop directory: no directory given")
	}
	if c.Submit == nil {
		return errors.New("drop directory: no submitter")
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = envelope.DefaultMaxBytes
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.Rescan <= 0 {
		c.Rescan = 2 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(30*time.Second, c.MinBackoff)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return nil
}

// Dir is an open drop directory.
type Dir struct {
	cfg                          Config
	log                          *zap.Logger
	incoming, accepted, rejected string
	lock                         *os.File
	closeOnce                    sync.Once
	moveMu                       sync.Mutex // choosing a free name and renaming onto it are one step
}

// Run opens the drop directory and serves it until ctx ends (see Open and Dir.Run).
func Run(ctx context.Context, cfg Config) error {
	d, err := Open(cfg)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

// Open creates the subdirectories, takes the directory's lock and completes any refusal
// a crash interrupted, so that configuration problems show at start.
func Open(cfg Config) (_ *Dir, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &Dir{cfg: cfg, log: cfg.Logger, incoming: filepath.Join(cfg.Dir, Incoming),
		accepted: filepath.Join(cfg.Dir, Accepted), rejected: filepath.Join(cfg.Dir, Rejected)}
	for _, p := range []string{d.incoming, d.accepted, d.rejected} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("drop directory: %w", err)
		}
	}
	if err := syncDir(cfg.Dir); err != nil {
		return nil, fmt.Errorf("drop directory: %w", err)
	}
	if d.lock, err = os.OpenFile(filepath.Join(cfg.Dir, lockName), os.O_CREATE|os.O_RDWR, 0o600); err != nil {
		return nil, fmt.Errorf("drop directory: %w", err)
	}
	if err := syscall.Flock(int(d.lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		d.lock.Close()
		return nil, fmt.Errorf("drop directory %s is in use by another process: %w", cfg.Dir, err)
	}
	if err := d.recoverPending(); err != nil {
		d.Close()
		return nil, fmt.Errorf("drop directory: %w", err)
	}
	return d, nil
}

// Close releases the directory lock. Run calls it when it returns.
func (d *Dir) Close() error {
	var err error
	d.closeOnce.Do(func() { err = d.lock.Close() })
	return err
}

// outcome of one attempt at a file.
type outcome int

const (
	finished outcome = iota // moved, or no longer there
	retry                   // still in incoming/: try again later
	skipped                 // not a regular file: left alone
)

type job struct {
	name     string
	attempts int // transient failures so far
}

type result struct {
	name string
	out  outcome
}

// entry is the dispatcher's state of one name in incoming/.
type entry struct {
	queued, busy bool
	again        bool // notified while busy: the name may hold a new file
	attempts     int  // transient failures in a row
}

// Run processes the files already in incoming/ (in name order), then new ones as they
// appear, until ctx ends. Files being submitted when ctx ends are finished first, so the
// caller must keep the submitter usable until Run returns. Run closes d.
func (d *Dir) Run(ctx context.Context) error {
	defer d.Close()
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	if !testNoWatch {
		// Watch before the first listing, so no file slips in between.
		w, err := fsnotify.NewWatcher()
		if err == nil {
			if err = w.Add(d.incoming); err != nil {
				w.Close()
			}
		}
		if err != nil {
			d.log.Warn("cannot watch the drop directory; relying on the periodic rescan",
				zap.String("dir", d.incoming), zap.Duration("rescan", d.cfg.Rescan), zap.Error(err))
		} else {
			defer w.Close()
			events, watchErrs = w.Events, w.Errors
		}
	}
	d.log.Info("drop directory watched", zap.String("dir", d.cfg.Dir), zap.Int("workers", d.cfg.Workers),
		zap.Int64("max_bytes", d.cfg.MaxBytes))

	// Submissions run to completion even when ctx ends: a half-done file is safe, but a
	// finished one avoids a resubmission at the next start.
	sctx := context.WithoutCancel(ctx)
	work := make(chan job)
	results := make(chan result)
	due := make(chan string)
	var wg sync.WaitGroup
	for range d.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				results <- result{j.name, d.process(sctx, j.name, j.attempts)}
			}
		}()
	}
	defer func() {
		close(work)
		go func() { wg.Wait(); close(results) }()
		for range results {
		}
	}()

	files := map[string]*entry{}
	var queue []string
	notRegular := map[string]bool{} // logged once while the name stays
	push := func(name string, e *entry) {
		e.queued = true
		queue = append(queue, name)
	}
	notify := func(name string) {
		if ignored(name) {
			return
		}
		e := files[name]
		switch {
		case e == nil:
			e = &entry{}
			files[name] = e
			push(name, e)
		case e.busy:
			e.again = true
		}
	}
	logSkip := func(name string, mode fs.FileMode) {
		if !notRegular[name] {
			notRegular[name] = true
			d.log.Warn("not a regular file; left in incoming/", zap.String("file", name), zap.Stringer("mode", mode))
		}
	}
	rescan := func() {
		list, err := os.ReadDir(d.incoming) // sorted by name
		if err != nil {
			d.log.Error("cannot list the drop directory", zap.String("dir", d.incoming), zap.Error(err))
			return
		}
		seen := make(map[string]bool, len(list))
		for _, de := range list {
			name := de.Name()
			if ignored(name) {
				continue
			}
			seen[name] = true
			if !de.Type().IsRegular() {
				logSkip(name, de.Type())
				continue
			}
			delete(notRegular, name)
			if files[name] == nil {
				notify(name)
			}
		}
		for name := range notRegular {
			if !seen[name] {
				delete(notRegular, name)
			}
		}
	}

	rescan()
	tick := time.NewTicker(d.cfg.Rescan)
	defer tick.Stop()
	for {
		var send chan<- job
		var next job
		if len(queue) > 0 {
			send, next = work, job{queue[0], files[queue[0]].attempts}
		}
		select {
		case <-ctx.Done():
			return nil
		case send <- next:
			queue = queue[1:]
			e := files[next.name]
			e.queued, e.busy = false, true
		case r := <-results:
			e := files[r.name]
			e.busy = false
			switch {
			case r.out == skipped:
				delete(files, r.name)
				if fi, err := os.Lstat(filepath.Join(d.incoming, r.name)); err == nil {
					logSkip(r.name, fi.Mode())
				}
			case e.again:
				e.again, e.attempts = false, 0
				push(r.name, e)
			case r.out == finished:
				delete(files, r.name)
			case r.out == retry:
				e.attempts++
				wait := backoff(d.cfg.MinBackoff, d.cfg.MaxBackoff, e.attempts)
				d.log.Debug("retry scheduled", zap.String("file", r.name), zap.Duration("in", wait))
				name := r.name
				time.AfterFunc(wait, func() {
					select {
					case due <- name:
					case <-ctx.Done():
					}
				})
			}
		case name := <-due:
			if e := files[name]; e != nil && !e.busy && !e.queued {
				push(name, e)
			}
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Has(fsnotify.Create) { // a rename into the directory is a Create
				notify(filepath.Base(ev.Name))
			}
		case err, ok := <-watchErrs:
			if !ok {
				watchErrs = nil
				continue
			}
			// Overflow or a watch failure: the listing finds what the events missed.
			d.log.Warn("drop directory notification error; rescanning", zap.Error(err))
			rescan()
		case <-tick.C:
			rescan()
		}
	}
}

// ignored: names writers use while a file is not complete yet.
func ignored(name string) bool {
	if name == "" || name[0] == '.' {
		return true
	}
	n := len(name)
	return n >= 4 && equalFold(name[n-4:], ".tmp") || n >= 5 && equalFold(name[n-5:], ".part")
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// backoff is the wait before attempt n+1 after n transient failures, with ±20% jitter so
// that files failing together do not retry in lockstep.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
