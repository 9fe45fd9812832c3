package dropdir

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReplacedWhileSubmitting: a writer renames a new file onto a name that is
// still being submitted (the "again" case Run tracks). The new file must be submitted
// (or left in incoming/); it must never land in accepted/ unsubmitted.
func TestReplacedWhileSubmitting(t *testing.T) {
	f := newFake()
	var once sync.Once
	var dir string
	var mu sync.Mutex
	testHookSubmitted = func(name string, err error) {
		once.Do(func() {
			mu.Lock()
			d := dir
			mu.Unlock()
			// The writer's next package, renamed in under the same name (as writers must).
			dropInto(t, d, "same.edxml", "ok second")
			time.Sleep(50 * time.Millisecond) // let the notification reach Run
		})
	}
	t.Cleanup(func() { testHookSubmitted = nil })
	h := start(t, f, nil, nil)
	mu.Lock()
	dir = h.dir
	mu.Unlock()
	h.drop("same.edxml", "ok first")
	h.waitFile(Accepted, "same.edxml")
	time.Sleep(500 * time.Millisecond) // rescans and retries settle
	inAccepted := map[string]bool{}
	for _, n := range names(t, h.path(Accepted)) {
		inAccepted[read(t, filepath.Join(h.path(Accepted), n))] = true
	}
	_, errIn := os.Lstat(h.path(Incoming, "same.edxml"))
	t.Logf("submitted: %q; accepted/ holds %v; still in incoming/: %v", f.allCalls(), inAccepted, errIn == nil)
	if inAccepted["ok second"] && f.callCount("ok second") == 0 {
		t.Fatalf("the second file was moved to accepted/ but never submitted")
	}
	if !inAccepted["ok second"] && errIn != nil {
		t.Fatalf("the second file is lost")
	}
}

// TestLongNonUTF8Name: a long file name (legal on Linux: any bytes) that is not
// UTF-8 and must be shortened for rejected/ loses its whole stem: the file lands under a
// hidden name (".1"), which writers' tools and the drop directory itself treat as ignored.
func TestLongNonUTF8Name(t *testing.T) {
	h := start(t, newFake(), nil, nil)
	name := "\xff" + strings.Repeat("a", 249)
	tmp := h.path("staging")
	if err := os.WriteFile(tmp, []byte("bad package"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, h.path(Incoming, name)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "incoming/ empty", func() bool { return len(names(t, h.path(Incoming))) == 0 })
	time.Sleep(200 * time.Millisecond)
	got := names(t, h.path(Rejected))
	t.Logf("rejected/ holds %q", got)
	for _, n := range got {
		if strings.HasPrefix(n, ".") {
			t.Errorf("refused file stored under a hidden name %q", n)
		}
	}
}
