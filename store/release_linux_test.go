package store

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// After ReleaseMapped the store's mapped pages no longer count in the resident set, and
// everything reads back as before.
func TestReleaseMapped(t *testing.T) {
	s := openStore(t, t.TempDir())
	const n = 3000
	for i := range n {
		must[AcceptResult](t)(s.Accept(ctx, pkg(fmt.Sprint("M", i), vpcp, []string{bca, tn}, strings.Repeat("x", 200))))
	}
	readAll := func() {
		for i := 0; i < n; i += 7 {
			must[Document](t)(s.Document(ctx, fmt.Sprint("M", i)))
		}
		verifyLog(t, s)
	}
	readAll()
	before := rssFileKB(t)
	resBefore := must[int64](t)(ResidentFileBytes())
	size := must[int64](t)(s.MappedSize(ctx))
	var from int64
	for steps := 0; ; steps++ { // a slice at a time, as the daemon does, round the file once
		next, err := s.ReleaseMapped(ctx, from, size/4+1)
		if err != nil {
			t.Fatal(err)
		}
		if next == 0 || steps > 8 {
			break
		}
		from = next
	}
	after := rssFileKB(t)
	resAfter := must[int64](t)(ResidentFileBytes())
	t.Logf("RssFile %d kB before, %d kB after; ResidentFileBytes %d kB, %d kB", before, after, resBefore>>10, resAfter>>10)
	if after >= before {
		t.Errorf("RssFile %d kB after release, %d kB before", after, before)
	}
	// ResidentFileBytes (what the daemon's budget reads) sees the same drop.
	if drop, seen := int64(before-after)<<10, resBefore-resAfter; seen < drop/2 {
		t.Errorf("ResidentFileBytes fell by %d kB, RssFile by %d kB", seen>>10, drop>>10)
	}
	readAll()
}

func rssFileKB(t *testing.T) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// ResidentFileBytes counts mapped files only (what ReleaseMapped can drop): were the heap
// counted, the daemon's heap alone would exceed its 64 MB budget and the store's pages
// would be dropped every 100 ms for ever. (From review: TestReleaseMapped does not tell
// statm's "shared" from "resident", both fall with a release.)
func TestResidentFileBytesIgnoresHeap(t *testing.T) {
	before := must[int64](t)(ResidentFileBytes())
	heap := make([]byte, 128<<20)
	for i := 0; i < len(heap); i += 4096 {
		heap[i] = 1 // resident, anonymous
	}
	after := must[int64](t)(ResidentFileBytes())
	runtime.KeepAlive(heap)
	if after-before > 32<<20 {
		t.Fatalf("ResidentFileBytes grew by %d MB with 128 MB of heap touched", (after-before)>>20)
	}
}
