package store

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"axis/store/audit"
)

const crashEnv = "AXIS_STORE_CRASH_CHILD"

// TestCrashChild is the child of TestCrashRecovery: it writes until it is killed, and
// prints an ack line only after the store call returned (the write is durable).
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCrashRecovery")
	}
	round := os.Getenv("AXIS_STORE_CRASH_ROUND")
	s, err := Open(dir, Options{Checkpoints: fakeSigner(), CheckpointEvery: 50})
	if err != nil {
		fmt.Println("OPEN", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	ack := func(format string, args ...any) {
		line := fmt.Sprintf(format+"\n", args...)
		mu.Lock()
		os.Stdout.WriteString(line) // one write: a pipe never interleaves it
		mu.Unlock()
	}
	fmt.Println("READY")
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("R%s-W%d-%d", round, w, i)
				switch i % 3 {
				case 0, 1:
					r, err := s.Accept(ctx, pkg(id, vpcp, []string{bca, tn}, "crash"))
					if err != nil {
						ack("ERR %v", err)
						return
					}
					ack("A %s %d %s", id, r.AuditSeq, r.SHA256)
					if i%3 == 1 {
						if _, err := s.RecordStatus(ctx, status(id, bca, CodeArrived)); err != nil {
							ack("ERR %v", err)
							return
						}
						ack("S %s", id)
					}
				case 2:
					seq, err := s.RecordRejected(ctx, Rejection{Code: "malformed_xml", Detail: id})
					if err != nil {
						ack("ERR %v", err)
						return
					}
					ack("R %d %s", seq, id)
				}
			}
		}()
	}
	wg.Wait()
	os.Exit(3)
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	dir := t.TempDir()
	hashes := map[uint64]string{} // every seq seen so far and its hash: never rewritten
	type acc struct {
		seq uint64
		sha string
	}
	accepted := map[string]acc{}
	statuses := map[string]bool{}
	rejected := map[uint64]string{}
	const rounds = 20
	start := time.Now()
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, "AXIS_STORE_CRASH_ROUND="+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() || sc.Text() != "READY" {
			t.Fatalf("child: %q", sc.Text())
		}
		kill := time.AfterFunc(time.Duration(20+rand.IntN(250))*time.Millisecond, func() {
			cmd.Process.Signal(syscall.SIGKILL)
		})
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch f[0] {
			case "A":
				seq, _ := strconv.ParseUint(f[2], 10, 64)
				accepted[f[1]] = acc{seq, f[3]}
			case "S":
				statuses[f[1]] = true
			case "R":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				rejected[seq] = f[2]
			default:
				t.Fatalf("child: %s", sc.Text())
			}
			n++
		}
		kill.Stop()
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("child did not die by SIGKILL: %v", err)
		}

		s, err := Open(dir, Options{Checkpoints: fakeSigner(), CheckpointEvery: 50})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		for id, a := range accepted {
			d, err := s.DocumentBySHA(ctx, a.sha)
			if err != nil || d.DocumentID != id || d.AuditSeq != a.seq {
				t.Fatalf("round %d: acknowledged %s lost: %v", round, id, err)
			}
			if b, err := s.Bytes(ctx, a.sha); err != nil || fmt.Sprintf("%x", sha256.Sum256(b)) != a.sha {
				t.Fatalf("round %d: bytes of %s lost or damaged: %v", round, id, err)
			}
			if statuses[id] && d.Recipients[0].State != StateArrived {
				t.Fatalf("round %d: acknowledged status of %s lost", round, id)
			}
		}
		lines, err := s.AuditSince(ctx, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		v := audit.NewVerifier(audit.VerifyOptions{Checkpoints: trust()})
		for _, l := range lines {
			if err := v.Add(l.Line); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			r, _ := audit.ParseLine(l.Line)
			if h, ok := hashes[l.Seq]; ok && h != r.Hash {
				t.Fatalf("round %d: seq %d was rewritten", round, l.Seq)
			}
			hashes[l.Seq] = r.Hash
			if id, ok := rejected[l.Seq]; ok && (r.Event.Type != audit.Rejected || r.Event.Detail != id) {
				t.Fatalf("round %d: acknowledged rejection %d lost", round, l.Seq)
			}
		}
		if rep := v.Report(); rep.LastSeq != uint64(len(lines)) || rep.FirstSeq != 1 {
			t.Fatalf("round %d: log %+v", round, rep)
		}
		t.Logf("round %d: %d acks in this round, %d events", round, n, len(lines))
		if round%2 == 1 {
			s.Close() // a clean shutdown now and then: final checkpoint, then crash again
		} else {
			s.crashForTest() // leave without checkpoint, like a crash of the parent
		}
	}
	if len(accepted) < rounds || len(rejected) == 0 {
		t.Fatalf("too few acknowledged writes to prove anything: %d accepts", len(accepted))
	}
	t.Logf("%d rounds, %d accepts, %d rejections acknowledged, %v", rounds, len(accepted), len(rejected), time.Since(start))
}
