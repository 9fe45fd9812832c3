package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// axis send against a stand-in daemon: results come in file order whatever order the
// answers arrive in, refusals carry the daemon's code, 503 is retried, receipts are saved.
func TestSendOrderRetryReceipts(t *testing.T) {
	var unavailable atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		name := strings.TrimSpace(string(b))
		var n int
		fmt.Sscanf(name, "doc%d", &n)
		time.Sleep(time.Duration(10-n) * 5 * time.Millisecond) // later files answer first
		switch {
		case n == 3:
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"error":{"code":"duplicate_document","message":"sent before with other bytes"}}`)
		case n == 5 && unavailable.Add(1) == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"unavailable","message":"store busy"}}`)
		default:
			status := http.StatusAccepted
			if n == 7 {
				status = http.StatusOK
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"document_id":"X,2026/01/01,%d/A","sha256":"%064d","audit_seq":%d,"recipients":[{"organ_id":"R1","state":"pending"},{"organ_id":"R2","state":"pending"}],"receipt":"<r>%d</r>"}`, n, n, n, n)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	for i := 0; i < 10; i++ {
		os.WriteFile(filepath.Join(in, fmt.Sprintf("doc%d.edxml", i)), []byte(fmt.Sprintf("doc%d", i)), 0o644)
	}
	os.WriteFile(filepath.Join(in, "notes.txt"), []byte("not a package"), 0o644)
	receipts := filepath.Join(dir, "receipts")
	out, errOut, code := run(t, nil, "send", "--server", srv.URL, "--concurrency", "8", "--receipts", receipts, in)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 10 {
		t.Fatalf("exit %d, %d lines:\n%s\n%s", code, len(lines), out, errOut)
	}
	for i, l := range lines {
		file := filepath.Join(in, fmt.Sprintf("doc%d.edxml", i))
		var want string
		switch i {
		case 3:
			want = "REJECTED " + file + ": duplicate_document: sent before with other bytes"
		case 7:
			want = fmt.Sprintf("ALREADY_ACCEPTED %s: X,2026/01/01,%d/A sha256 %064d audit_seq %d recipients R1,R2", file, i, i, i)
		default:
			want = fmt.Sprintf("ACCEPTED %s: X,2026/01/01,%d/A sha256 %064d audit_seq %d recipients R1,R2", file, i, i, i)
		}
		if l != want {
			t.Errorf("line %d:\n got %q\nwant %q", i, l, want)
		}
	}
	if !strings.Contains(errOut, "8 accepted, 1 already accepted, 1 refused") {
		t.Errorf("summary: %q", errOut)
	}
	if r, _ := os.ReadDir(receipts); len(r) != 9 {
		t.Errorf("%d receipts saved", len(r))
	}
	if b, _ := os.ReadFile(filepath.Join(receipts, "X_2026_01_01_5_A.000000000000.receipt.xml")); string(b) != "<r>5</r>" {
		t.Errorf("receipt of doc5: %q", b)
	}
}

// An axis that cannot be reached refused nothing: send and status say FAILED and exit
// 75 (try again), not REJECTED and 1, so a clerk or a script sends the same bytes again.
func TestSendUnreachableIsNotARefusal(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "p.edxml")
	if err := os.WriteFile(f, []byte("<edXML/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "http://" + l.Addr().String()
	l.Close() // nobody listens there now
	out, errOut, code := run(t, nil, "send", "--server", server, "--timeout", "3s", f)
	if code != 75 || !strings.HasPrefix(out, "FAILED "+f+": unavailable: ") {
		t.Fatalf("send: exit %d %q %s", code, out, errOut)
	}
}
