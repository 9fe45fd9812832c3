package dropdir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"axis/axis/errs"
)

// fake is a submitter with the intake's contract: contents starting with "bad" are
// refused (invalid_envelope), transient[content] failures come first, identical bytes
// get the first answer with Existing.
type fake struct {
	mu        sync.Mutex
	calls     []string
	transient map[string]int
	answers   map[string]Answer
	block     chan struct{} // if set, every submission waits for it
	entered   chan struct{} // with block: one value per submission that started
}

func newFake() *fake { return &fake{transient: map[string]int{}, answers: map[string]Answer{}} }

func (f *fake) submit(ctx context.Context, b []byte) (Answer, error) {
	if f.block != nil {
		f.entered <- struct{}{}
		<-f.block
	}
	s := string(b)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	switch {
	case strings.HasPrefix(s, "bad"):
		return Answer{}, errs.Field(errs.InvalidEnvelope, "MessageHeader/From", "missing")
	case f.transient[s] > 0:
		f.transient[s]--
		return Answer{}, errs.Wrap(errs.Unavailable, os.ErrDeadlineExceeded, "store cannot write")
	}
	if a, ok := f.answers[s]; ok {
		a.Existing = true
		return a, nil
	}
	sum := sha256.Sum256(b)
	a := Answer{DocumentID: "D-" + s, SHA256: hex.EncodeToString(sum[:]), AuditSeq: uint64(len(f.answers) + 1)}
	f.answers[s] = a
	return a, nil
}

func (f *fake) callCount(content string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == content {
			n++
		}
	}
	return n
}

func (f *fake) allCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// harness runs a drop directory in a temp dir until the test ends.
type harness struct {
	t    *testing.T
	dir  string
	f    *fake
	logs *observer.ObservedLogs
	done chan error
	stop context.CancelFunc

	refusedMu sync.Mutex
	refusedAt []error // Config.Refused calls
}

func (h *harness) refused() []error {
	h.refusedMu.Lock()
	defer h.refusedMu.Unlock()
	return append([]error(nil), h.refusedAt...)
}

func start(t *testing.T, f *fake, setup func(dir string), tune func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	if setup != nil {
		for _, s := range []string{Incoming, Accepted, Rejected} {
			mustMkdir(t, filepath.Join(dir, s))
		}
		setup(dir)
	}
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{t: t, dir: dir, f: f, logs: logs, done: make(chan error, 1)}
	cfg := Config{Dir: dir, Submit: f.submit, Rescan: 50 * time.Millisecond, MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 20 * time.Millisecond, Logger: zap.New(core),
		Refused: func(_ context.Context, err error) {
			h.refusedMu.Lock()
			defer h.refusedMu.Unlock()
			h.refusedAt = append(h.refusedAt, err)
		}}
	if tune != nil {
		tune(&cfg)
	}
	d, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(func() { h.shutdown() })
	h.waitLog("drop directory watched")
	return h
}

func (h *harness) shutdown() {
	h.stop()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
		h.done <- nil // later calls return at once
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
}

func (h *harness) path(parts ...string) string {
	return filepath.Join(append([]string{h.dir}, parts...)...)
}

// drop writes a file elsewhere and renames it in, as writers must.
func (h *harness) drop(name, content string) {
	h.t.Helper()
	dropInto(h.t, h.dir, name, content)
}

func dropInto(t testing.TB, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".writing")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, Incoming, name)); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) waitLog(msg string) {
	h.t.Helper()
	waitFor(h.t, "log "+msg, func() bool { return h.logs.FilterMessage(msg).Len() > 0 })
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) waitFile(parts ...string) {
	h.t.Helper()
	p := h.path(parts...)
	waitFor(h.t, p, func() bool { _, err := os.Lstat(p); return err == nil })
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range list {
		out = append(out, de.Name())
	}
	return out
}

func errorBody(code errs.Code, msg string) string {
	b, _ := json.Marshal(errs.Body{Error: errs.BodyError{Code: string(code), Message: msg}})
	return string(b) + "\n"
}

func TestAcceptedAndRejected(t *testing.T) {
	h := start(t, newFake(), nil, func(c *Config) { c.MaxBytes = 64 })
	for _, s := range []string{Incoming, Accepted, Rejected} {
		if fi, err := os.Stat(h.path(s)); err != nil || !fi.IsDir() {
			t.Fatalf("%s not created: %v", s, err)
		}
	}
	h.drop("good.edxml", "ok one")
	h.drop("bad.edxml", "bad one")
	h.drop("big.edxml", strings.Repeat("x", 65))
	h.waitFile(Accepted, "good.edxml")
	h.waitFile(Rejected, "bad.edxml"+ErrorSuffix)
	h.waitFile(Rejected, "big.edxml"+ErrorSuffix)

	if got := read(t, h.path(Accepted, "good.edxml")); got != "ok one" {
		t.Errorf("accepted content %q", got)
	}
	if got := read(t, h.path(Rejected, "bad.edxml")); got != "bad one" {
		t.Errorf("rejected content %q", got)
	}
	if got, want := read(t, h.path(Rejected, "bad.edxml"+ErrorSuffix)),
		errorBody(errs.InvalidEnvelope, "MessageHeader/From: missing"); got != want {
		t.Errorf("error.json\n got %s want %s", got, want)
	}
	if got, want := read(t, h.path(Rejected, "big.edxml"+ErrorSuffix)),
		errorBody(errs.TooLarge, "file is 65 bytes, limit is 64"); got != want {
		t.Errorf("too_large error.json\n got %s want %s", got, want)
	}
	if n := len(h.f.allCalls()); n != 2 {
		t.Errorf("%d submissions, want 2 (too large files are not submitted)", n)
	}
	if got := h.refused(); len(got) != 1 || !errs.Is(got[0], errs.TooLarge) {
		t.Errorf("refused unread: %v, want the too_large file once", got)
	}
	if got := names(t, h.path(Incoming)); len(got) != 0 {
		t.Errorf("incoming/ still holds %v", got)
	}
	h.waitLog("dropped package accepted") // written after the move
	acc := h.logs.FilterMessage("dropped package accepted").All()
	if len(acc) != 1 || acc[0].ContextMap()["document_id"] != "D-ok one" || acc[0].ContextMap()["file"] != "good.edxml" {
		t.Errorf("accepted log lines: %v", acc)
	}
}

func TestTransientThenSuccess(t *testing.T) {
	f := newFake()
	f.transient["ok flaky"] = 3
	h := start(t, f, nil, func(c *Config) { c.MinBackoff, c.MaxBackoff = 30*time.Millisecond, 60*time.Millisecond })
	h.drop("flaky.edxml", "ok flaky")
	waitFor(t, "first attempt", func() bool { return f.callCount("ok flaky") >= 1 })
	if f.callCount("ok flaky") < 4 {
		if _, err := os.Stat(h.path(Incoming, "flaky.edxml")); err != nil {
			t.Fatalf("after a transient failure the file must stay in incoming/: %v", err)
		}
	}
	h.waitFile(Accepted, "flaky.edxml")
	if n := f.callCount("ok flaky"); n != 4 {
		t.Errorf("%d submissions, want 3 failures + 1 success", n)
	}
	retried := h.logs.FilterMessage("submission failed; the file stays in incoming/ and will be retried")
	if w, d := retried.FilterLevelExact(zap.WarnLevel).Len(), retried.FilterLevelExact(zap.DebugLevel).Len(); w != 1 || d != 2 {
		t.Errorf("transient log lines: %d warnings, %d debug; want the first as a warning, the other 2 at debug", w, d)
	}
	h.waitLog("dropped package accepted")
	if got := h.logs.FilterMessage("dropped package accepted").All()[0].ContextMap()["failed_attempts"]; got != int64(3) {
		t.Errorf("failed_attempts = %v (%T), want 3", got, got)
	}
	if got := names(t, h.path(Rejected)); len(got) != 0 {
		t.Errorf("rejected/ holds %v", got)
	}
}

// A file that keeps failing stays in incoming/ across shutdown.
func TestTransientForeverStays(t *testing.T) {
	f := newFake()
	f.transient["ok down"] = 1 << 30
	h := start(t, f, nil, nil)
	h.drop("down.edxml", "ok down")
	waitFor(t, "several attempts", func() bool { return f.callCount("ok down") >= 3 })
	h.shutdown()
	if _, err := os.Stat(h.path(Incoming, "down.edxml")); err != nil {
		t.Fatalf("file left incoming/: %v", err)
	}
}

func TestCollisions(t *testing.T) {
	h := start(t, newFake(), func(dir string) {
		mustWrite(t, filepath.Join(dir, Accepted, "a.edxml"), "older a")
		mustWrite(t, filepath.Join(dir, Accepted, "b.edxml"), "older b")
		mustWrite(t, filepath.Join(dir, Accepted, "b.1.edxml"), "older b.1")
		mustWrite(t, filepath.Join(dir, Rejected, "c.edxml"), "older c")
		mustWrite(t, filepath.Join(dir, Rejected, "c.edxml"+ErrorSuffix), "older c error")
		// An error file without its package is still never overwritten.
		mustWrite(t, filepath.Join(dir, Rejected, "d.edxml"+ErrorSuffix), "orphan d error")
	}, nil)
	h.drop("a.edxml", "ok new a")
	h.drop("b.edxml", "ok new b")
	h.drop("c.edxml", "bad new c")
	h.drop("d.edxml", "bad new d")
	h.waitFile(Accepted, "a.1.edxml")
	h.waitFile(Accepted, "b.2.edxml")
	h.waitFile(Rejected, "c.1.edxml"+ErrorSuffix)
	h.waitFile(Rejected, "d.1.edxml"+ErrorSuffix)
	// The same name dropped again after the first one moved.
	h.drop("a.edxml", "ok new a")
	h.waitFile(Accepted, "a.2.edxml")

	want := map[string]string{
		filepath.Join(Accepted, "a.edxml"):               "older a",
		filepath.Join(Accepted, "a.1.edxml"):             "ok new a",
		filepath.Join(Accepted, "a.2.edxml"):             "ok new a",
		filepath.Join(Accepted, "b.edxml"):               "older b",
		filepath.Join(Accepted, "b.1.edxml"):             "older b.1",
		filepath.Join(Accepted, "b.2.edxml"):             "ok new b",
		filepath.Join(Rejected, "c.edxml"):               "older c",
		filepath.Join(Rejected, "c.edxml"+ErrorSuffix):   "older c error",
		filepath.Join(Rejected, "c.1.edxml"):             "bad new c",
		filepath.Join(Rejected, "d.edxml"+ErrorSuffix):   "orphan d error",
		filepath.Join(Rejected, "d.1.edxml"):             "bad new d",
		filepath.Join(Rejected, "c.1.edxml"+ErrorSuffix): errorBody(errs.InvalidEnvelope, "MessageHeader/From: missing"),
		filepath.Join(Rejected, "d.1.edxml"+ErrorSuffix): errorBody(errs.InvalidEnvelope, "MessageHeader/From: missing"),
	}
	for p, content := range want {
		if got := read(t, h.path(p)); got != content {
			t.Errorf("%s = %q, want %q", p, got, content)
		}
	}
	if n := len(names(t, h.path(Accepted))) + len(names(t, h.path(Rejected))); n != len(want) {
		t.Errorf("%d files in accepted/ and rejected/, want %d", n, len(want))
	}
	// The log line follows the move (after the directory syncs).
	waitFor(t, "three accepted log lines", func() bool { return h.logs.FilterMessage("dropped package accepted").Len() == 3 })
	existing := 0
	for _, e := range h.logs.FilterMessage("dropped package accepted").All() {
		if e.ContextMap()["existing"] == true {
			existing++
		}
	}
	if existing != 1 {
		t.Errorf("%d resubmissions answered as existing, want 1", existing)
	}
}

func TestIgnoredFiles(t *testing.T) {
	h := start(t, newFake(), nil, nil)
	ign := []string{".hidden", "x.tmp", "y.part", "Z.TMP", "w.Part"}
	for _, n := range ign {
		mustWrite(t, h.path(Incoming, n), "ok "+n)
	}
	// Signal the end of a few rescans with a real file dropped last.
	time.Sleep(150 * time.Millisecond)
	h.drop("real.edxml", "ok real")
	h.waitFile(Accepted, "real.edxml")
	if got := h.f.allCalls(); !slices.Equal(got, []string{"ok real"}) {
		t.Fatalf("submitted %q", got)
	}
	for _, n := range ign {
		if _, err := os.Stat(h.path(Incoming, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	// The writer's last step: rename the finished temp file to its real name.
	if err := os.Rename(h.path(Incoming, "x.tmp"), h.path(Incoming, "x.edxml")); err != nil {
		t.Fatal(err)
	}
	h.waitFile(Accepted, "x.edxml")
}

func TestStartupBacklogInNameOrder(t *testing.T) {
	want := []string{"ok 01", "ok 02", "ok 03", "bad 04", "ok 05", "ok 06"}
	f := newFake()
	h := start(t, f, func(dir string) {
		for _, i := range []int{5, 2, 0, 4, 1, 3} { // creation order is not name order
			mustWrite(t, filepath.Join(dir, Incoming, want[i][len(want[i])-2:]+".edxml"), want[i])
		}
	}, func(c *Config) { c.Workers = 1; c.Rescan = time.Hour })
	h.waitFile(Accepted, "06.edxml")
	h.waitFile(Rejected, "04.edxml"+ErrorSuffix)
	if got := f.allCalls(); !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
}

// With the rescan an hour away, only file system notifications can find these.
func TestFilesAppearingWhileRunning(t *testing.T) {
	f := newFake()
	h := start(t, f, nil, func(c *Config) { c.Rescan = time.Hour })
	const n = 40
	for i := range n {
		h.drop(name(i), content(i))
	}
	for i := range n {
		h.waitFile(Accepted, name(i))
	}
	if got := len(f.allCalls()); got != n {
		t.Fatalf("%d submissions, want %d", got, n)
	}
}

// Without notifications, the periodic rescan alone finds the files.
func TestRescanFallback(t *testing.T) {
	SetNoWatch(true)
	defer SetNoWatch(false)
	f := newFake()
	h := start(t, f, nil, func(c *Config) { c.Rescan = 20 * time.Millisecond })
	for i := range 10 {
		h.drop(name(i), content(i))
	}
	for i := range 10 {
		h.waitFile(Accepted, name(i))
	}
}

func name(i int) string    { return fmt.Sprintf("pkg-%03d.edxml", i) }
func content(i int) string { return fmt.Sprintf("ok %d", i) }

func TestNotRegularFilesSkipped(t *testing.T) {
	h := start(t, newFake(), func(dir string) {
		in := filepath.Join(dir, Incoming)
		mustMkdir(t, filepath.Join(in, "subdir"))
		if err := syscall.Mkfifo(filepath.Join(in, "fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(dir, "outside"), "ok outside")
		if err := os.Symlink(filepath.Join(dir, "outside"), filepath.Join(in, "link.edxml")); err != nil {
			t.Fatal(err)
		}
	}, nil)
	h.drop("real.edxml", "ok real")
	// Appearing while running: found by a notification, refused by the worker.
	if err := os.Symlink(h.path("outside"), h.path(Incoming, "late-link.edxml")); err != nil {
		t.Fatal(err)
	}
	h.waitFile(Accepted, "real.edxml")
	time.Sleep(200 * time.Millisecond) // several rescans
	for _, n := range []string{"subdir", "fifo", "link.edxml", "late-link.edxml"} {
		if _, err := os.Lstat(h.path(Incoming, n)); err != nil {
			t.Errorf("%s moved: %v", n, err)
		}
		if got := h.logs.FilterMessage("not a regular file; left in incoming/").FilterField(zap.String("file", n)).Len(); got != 1 {
			t.Errorf("%s logged %d times, want once", n, got)
		}
	}
	if got := h.f.allCalls(); !slices.Equal(got, []string{"ok real"}) {
		t.Fatalf("submitted %q", got)
	}
}

// A file over the limit is refused from its size: the process does not read it.
func TestTooLargeIsNotRead(t *testing.T) {
	h := start(t, newFake(), nil, func(c *Config) { c.MaxBytes = 1 << 20 })
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := os.Create(h.path(".huge"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil { // sparse: 1 GiB that takes no disk
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(h.path(".huge"), h.path(Incoming, "huge.edxml")); err != nil {
		t.Fatal(err)
	}
	h.waitFile(Rejected, "huge.edxml"+ErrorSuffix)
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("allocated %d bytes handling an oversize file", grew)
	}
	if got, want := read(t, h.path(Rejected, "huge.edxml"+ErrorSuffix)),
		errorBody(errs.TooLarge, "file is 1073741824 bytes, limit is 1048576"); got != want {
		t.Errorf("got %s want %s", got, want)
	}
	if len(h.f.allCalls()) != 0 {
		t.Error("an oversize file was submitted")
	}
}

// The submission in flight when the context ends is finished and its file moved.
func TestShutdownFinishesInFlight(t *testing.T) {
	f := newFake()
	f.block, f.entered = make(chan struct{}), make(chan struct{}, 1)
	h := start(t, f, nil, nil)
	h.drop("slow.edxml", "ok slow")
	<-f.entered
	h.stop()
	select {
	case <-h.done:
		t.Fatal("Run returned with a submission in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(f.block)
	h.shutdown()
	if _, err := os.Stat(h.path(Accepted, "slow.edxml")); err != nil {
		t.Fatalf("in-flight file not moved: %v", err)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Submit: newFake().submit}
	d, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second Open: %v", err)
	}
	d.Close()
	d2, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	d2.Close()
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{Submit: newFake().submit}, {Dir: t.TempDir()}} {
		if _, err := Open(c); err == nil {
			t.Errorf("Open(%+v) succeeded", c)
		}
	}
}

// Open completes a refusal a crash cut between the package move and the error file, and
// drops a pending error file whose package never moved (it is still in incoming/).
func TestRecoverPending(t *testing.T) {
	dir := t.TempDir()
	rej := filepath.Join(dir, Rejected)
	mustMkdir(t, rej)
	mustMkdir(t, filepath.Join(dir, Incoming))
	body := errorBody(errs.SignatureInvalid, "bad")
	mustWrite(t, filepath.Join(rej, "moved.edxml"), "package")
	mustWrite(t, filepath.Join(rej, pendingPrefix+"moved.edxml"+pendingSuffix), body)
	mustWrite(t, filepath.Join(rej, pendingPrefix+"notmoved.edxml"+pendingSuffix), body)
	mustWrite(t, filepath.Join(dir, Incoming, "notmoved.edxml"), "bad package")
	mustWrite(t, filepath.Join(rej, "done.edxml"), "package")
	mustWrite(t, filepath.Join(rej, "done.edxml"+ErrorSuffix), "kept")
	mustWrite(t, filepath.Join(rej, pendingPrefix+"done.edxml"+pendingSuffix), body)

	d, err := Open(Config{Dir: dir, Submit: newFake().submit})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := names(t, rej)
	want := []string{"done.edxml", "done.edxml" + ErrorSuffix, "moved.edxml", "moved.edxml" + ErrorSuffix}
	if !slices.Equal(got, want) {
		t.Fatalf("rejected/ = %q, want %q", got, want)
	}
	if read(t, filepath.Join(rej, "moved.edxml"+ErrorSuffix)) != body || read(t, filepath.Join(rej, "done.edxml"+ErrorSuffix)) != "kept" {
		t.Fatal("error files wrong")
	}
}

func TestIgnored(t *testing.T) {
	for name, want := range map[string]bool{
		"a.edxml": false, "a": false, "tmp": false, "a.tmpl": false, "part": false, "a.partial": false, "a.tmp.xml": false,
		".a": true, ".": true, "": true, "a.tmp": true, "a.TMP": true, ".tmp": true, "a.part": true, "a.PaRt": true,
	} {
		if got := ignored(name); got != want {
			t.Errorf("ignored(%q) = %v", name, got)
		}
	}
}

func TestCandidate(t *testing.T) {
	long := strings.Repeat("é", 200) + ".edxml" // 406 bytes
	for _, c := range []struct {
		name  string
		i     int
		limit int
		want  string
	}{
		{"a.edxml", 0, 255, "a.edxml"},
		{"a.edxml", 1, 255, "a.1.edxml"},
		{"a.edxml", 12, 255, "a.12.edxml"},
		{"a", 2, 255, "a.2"},
		{"a.b.c", 1, 255, "a.b.1.c"},
		{"a.verylongextension-over-16", 1, 255, "a.verylongextension-over-16.1"},
		{"abcdef.x", 1, 8, "abcd.1.x"},
		{long, 0, 20, "ééééééé.edxml"},  // 7×2 bytes: the 8th would be cut in half
		{long, 3, 20, "éééééé.3.edxml"}, // 12 + 2 + 6
		// Not UTF-8 (any bytes but / and NUL are a Linux name): only the cut is trimmed.
		{"\xff" + strings.Repeat("a", 30), 1, 12, "\xffaaaaaaaaa.1"},
		{"\xffé" + strings.Repeat("a", 30), 0, 2, "\xff"},
	} {
		got := candidate(c.name, c.i, c.limit)
		if got != c.want {
			t.Errorf("candidate(%q, %d, %d) = %q, want %q", c.name, c.i, c.limit, got, c.want)
		}
	}
}

func FuzzCandidate(f *testing.F) {
	for _, s := range []string{"a.edxml", "a", "a.b.c", strings.Repeat("é", 130) + ".xml", "x.verylongextension-over-16", "\xff" + strings.Repeat("a", 249)} {
		f.Add(s, 1, 255)
	}
	f.Fuzz(func(t *testing.T, name string, i, limit int) {
		if ignored(name) || strings.ContainsAny(name, "/\x00") || i < 0 || i >= 1_000_000 || limit < 40 || limit > 255 {
			return
		}
		got := candidate(name, i, limit)
		if len(got) > limit {
			t.Fatalf("%q longer than %d", got, limit)
		}
		if utf8.ValidString(name) && !utf8.ValidString(got) || strings.ContainsRune(got, '/') || got == "" || got[0] == '.' {
			t.Fatalf("candidate(%q, %d) = %q", name, i, got)
		}
		if i == 0 && len(name) <= limit && got != name {
			t.Fatalf("candidate(%q, 0) = %q: a name that fits is kept", name, got)
		}
		if i > 0 && got == candidate(name, i+1, limit) {
			t.Fatalf("suffixes %d and %d give the same name %q", i, i+1, got)
		}
	})
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for n, want := range map[int]time.Duration{1: lo, 2: 2 * lo, 3: 4 * lo, 4: 8 * lo, 5: hi, 50: hi} {
		for range 20 {
			got := backoff(lo, hi, n)
			if got < want*8/10 || got > want*12/10 {
				t.Fatalf("backoff(%d) = %v, want %v ±20%%", n, got, want)
			}
		}
	}
}
