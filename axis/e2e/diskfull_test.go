package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A real full disk, on a process: the data directory is a 160 MiB tmpfs (root only, so
// this runs with AXIS_DISKFULL=1: `sudo make test-diskfull`). The disk is filled up to a
// few MiB; submissions go on until the store stops writing (503); the filler is then
// removed, and the axis must recover by itself (no restart by hand): the refused package
// is answered (202, or 200 if its batch had reached the write-ahead log), every package
// accepted before is still there (200), and the audit log verifies after a clean stop.
func TestDiskFullRecovers(t *testing.T) {
	if os.Getenv("AXIS_DISKFULL") == "" {
		t.Skip("set AXIS_DISKFULL=1 (as root: it mounts a tmpfs) to fill a real disk")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", data).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs (root needed): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", data).Run() })
	brokerAddr := freePort(t)
	startBroker(t, brokerAddr, filepath.Join(dir, "kafka"), filepath.Join(dir, "broker.log"))
	d := startDaemon(t, dir, freePort(t), brokerAddr, "")

	// Fill the disk, leaving 20 MiB: one more blob log extension (16 MiB) fits, not two,
	// nor the write-ahead segments a few checkpoints would prepare (16 MiB each).
	filler := filepath.Join(data, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(data, &st); err != nil {
			t.Fatal(err)
		}
		if uint64(st.Bavail)*uint64(st.Bsize) <= 20<<20 {
			break
		}
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()

	subs := corpus(t, 600000, 6000)
	var accepted []submission
	var refused *submission
	t0 := time.Now()
	for i := range subs {
		code, body, err := post(d.url(""), subs[i].Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusServiceUnavailable {
			refused = &subs[i]
			t.Logf("disk full after %d packages (%v): %.200s", len(accepted), time.Since(t0).Round(time.Millisecond), body)
			break
		}
		if code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", subs[i].DocID, code, body)
		}
		accepted = append(accepted, subs[i])
	}
	if refused == nil {
		t.Fatal("the disk never filled")
	}
	if code, _ := getStatus(d.url("/readyz")); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz %d with the store stopped", code)
	}
	if !strings.Contains(metrics(t, d), "\naxis_store_stopped 1\n") {
		t.Error("axis_store_stopped is not 1")
	}

	// The operator frees space; the axis recovers by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	for {
		// 202, or 200 when the batch it was in reached the write-ahead log before the
		// failure: a 503 of a stopped store says the outcome is known after recovery.
		code, body, err := post(d.url(""), refused.Bytes)
		if err == nil && (code == http.StatusAccepted || code == http.StatusOK) {
			t.Logf("the package refused with 503, submitted again after the recovery: %d", code)
			break
		}
		if err == nil && code != http.StatusServiceUnavailable {
			t.Fatalf("the refused package after the recovery: %d %s", code, body)
		}
		if d.exited() {
			t.Fatal("axis serve exited")
		}
		if time.Since(freed) > 3*time.Minute {
			t.Fatal("no recovery 3 minutes after the disk was freed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("recovered %v after the disk was freed", time.Since(freed).Round(time.Millisecond))
	if log, err := os.ReadFile(d.proc.log); err == nil {
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "store stopped writing") {
				t.Logf("the daemon's log: %.300s", line)
				break
			}
		}
	}
	if len(accepted) < 10 {
		t.Fatalf("only %d packages accepted before the disk filled", len(accepted))
	}
	for _, s := range append(accepted[:3:3], accepted[len(accepted)-3:]...) {
		if code, body, err := post(d.url(""), s.Bytes); err != nil || code != http.StatusOK {
			t.Fatalf("%s accepted before the disk filled: %d %.200s %v", s.DocID, code, body, err)
		}
	}
	stopDaemon(t, d)
	verify, _ := auditExportVerify(t, d.dir, dir)
	if !strings.HasPrefix(verify, "OK ") {
		t.Errorf("audit verify: %s", verify)
	}
	t.Logf("audit %s", verify)
}

func getStatus(u string) (int, error) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func metrics(t *testing.T, d *daemon) string {
	t.Helper()
	resp, err := http.Get(d.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
