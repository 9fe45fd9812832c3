package dropdir_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"axis/axis/dropdir"
	"axis/axis/errs"
	"axis/store"
)

const crashEnv = "AXIS_DROP_CRASH_CHILD" // JSON crashDirs: run as the crash test's child

type crashDirs struct{ PKI, Data, Drop string }

// TestCrashChild is the child of TestCrashNoLossNoDouble: the real daemon (store-backed
// intake) behind a drop directory, until SIGKILL or SIGTERM. It prints a line when a
// submission returned and when a refused file reached rejected/, then pauses a little,
// so the parent can kill it inside the windows between the steps.
func TestCrashChild(t *testing.T) {
	env := os.Getenv(crashEnv)
	if env == "" {
		t.Skip("run by TestCrashNoLossNoDouble")
	}
	var dirs crashDirs
	if err := json.Unmarshal([]byte(env), &dirs); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		os.Stdout.WriteString(fmt.Sprintf(format+"\n", args...)) // one write per line
		mu.Unlock()
	}
	dropdir.SetTestHooks(func(name string, err error) {
		code := "ok"
		if err != nil {
			code = string(errs.CodeOf(err))
		}
		say("SUBMITTED %s %s", name, code)
		time.Sleep(time.Duration(40+rand.IntN(40)) * time.Millisecond)
	}, func(name string) {
		say("REJMOVED %s", name)
		time.Sleep(time.Duration(40+rand.IntN(40)) * time.Millisecond)
	})
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(os.Stderr), zap.InfoLevel))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	d := newDaemon(context.Background(), t, dirs.Data, dirs.PKI, log.Named("axis"))
	daemonCtx, stopDaemon := context.WithCancel(context.Background())
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- d.Run(daemonCtx) }()
	dd, err := dropdir.Open(dropdir.Config{Dir: dirs.Drop, Submit: submitter(d), Rescan: 200 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, Logger: log.Named("drop")})
	if err != nil {
		t.Fatal(err)
	}
	say("READY")
	if err := dd.Run(ctx); err != nil {
		t.Fatal(err)
	}
	stopDaemon() // the drop directory first: its submissions need the store
	if err := <-daemonDone; err != nil {
		t.Fatal(err)
	}
}

type crashChild struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *bytes.Buffer
}

func startCrashChild(t *testing.T, dirs crashDirs) *crashChild {
	t.Helper()
	env, _ := json.Marshal(dirs)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(env))
	c := &crashChild{cmd: cmd, lines: make(chan string, 1024), stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	select {
	case l := <-c.lines:
		if l != "READY" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child said %q\n%s", l, c.stderr)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child not ready\n%s", c.stderr)
	}
	return c
}

// kill SIGKILLs the child, drains its output and checks that the kill is what ended it.
func (c *crashChild) kill(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	for range c.lines {
	}
	err := c.cmd.Wait()
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, c.stderr)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	l, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range l {
		out = append(out, e.Name())
	}
	return out
}

// Real child processes killed with SIGKILL at random moments and inside the windows
// between the steps, restarted each time: no file is lost, none is in two places, each
// package is accepted exactly once by the store, each refused file ends in rejected/
// exactly once with its error.json.
func TestCrashNoLossNoDouble(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test in -short mode")
	}
	const (
		nGood  = 60
		nBad   = 6
		rounds = 12
		batch  = 4 // good files fed per killed round; the rest in the final run
	)
	root := t.TempDir()
	dirs := crashDirs{PKI: filepath.Join(root, "pki"), Data: filepath.Join(root, "data"), Drop: filepath.Join(root, "drop")}
	staging := filepath.Join(root, "staging")
	if err := os.MkdirAll(staging, 0o755); err != nil {
		t.Fatal(err)
	}
	newPKI(t, dirs.PKI)
	pkgs := corpus(t, dirs.PKI, nGood+nBad)
	content := map[string][]byte{}
	var good, bad []string
	for i := range nGood {
		n := fmt.Sprintf("pkg-%03d.edxml", i)
		good, content[n] = append(good, n), pkgs[i]
	}
	for i := range nBad {
		n := fmt.Sprintf("bad-%02d.edxml", i)
		bad, content[n] = append(bad, n), tamper(t, pkgs[nGood+i])
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	rng.Shuffle(len(good), func(i, j int) { good[i], good[j] = good[j], good[i] })
	isBad := func(n string) bool { return strings.HasPrefix(n, "bad-") }

	in := filepath.Join(dirs.Drop, dropdir.Incoming)
	acc := filepath.Join(dirs.Drop, dropdir.Accepted)
	rej := filepath.Join(dirs.Drop, dropdir.Rejected)
	var fed []string
	feed := func(names []string) chan struct{} {
		done := make(chan struct{})
		gaps := make([]time.Duration, len(names))
		for i := range gaps {
			gaps[i] = time.Duration(rng.IntN(15)) * time.Millisecond
		}
		fed = append(fed, names...)
		go func() {
			defer close(done)
			for i, n := range names {
				time.Sleep(gaps[i])
				p := filepath.Join(staging, n)
				err := os.WriteFile(p, content[n], 0o644)
				if err == nil {
					err = os.Rename(p, filepath.Join(in, n))
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
		return done
	}
	// place checks the invariant after every kill: every file fed so far is in exactly
	// one place, good ones never in rejected/, bad ones never in accepted/, nothing else.
	place := func(round int) map[string]string {
		where := map[string]string{}
		for dir, names := range map[string][]string{"incoming": listDir(t, in), "accepted": listDir(t, acc), "rejected": listDir(t, rej)} {
			for _, n := range names {
				if strings.HasPrefix(n, ".") || strings.HasSuffix(n, dropdir.ErrorSuffix) {
					continue
				}
				if w, dup := where[n]; dup {
					t.Fatalf("round %d: %s is in %s and %s", round, n, w, dir)
				}
				if content[n] == nil {
					t.Fatalf("round %d: unexpected file %s/%s", round, dir, n)
				}
				where[n] = dir
			}
		}
		for _, n := range fed {
			switch {
			case where[n] == "":
				t.Fatalf("round %d: %s lost", round, n)
			case where[n] == "accepted" && isBad(n), where[n] == "rejected" && !isBad(n):
				t.Fatalf("round %d: %s in %s", round, n, where[n])
			}
		}
		if len(where) != len(fed) {
			t.Fatalf("round %d: %d files placed, %d fed", round, len(where), len(fed))
		}
		return where
	}

	next, nextBad := 0, 0
	acceptWindow, rejectWindow := 0, 0
	for round := range rounds {
		mode := round % 3 // 0: kill at a random moment; 1: right after a submission; 2: right after a refused file moved
		names := good[next : next+batch]
		next += batch
		if mode == 2 {
			names = append([]string{bad[nextBad]}, names...)
			nextBad++
		}
		c := startCrashChild(t, dirs)
		began := time.Now()
		fedDone := feed(names)
		limit := time.Duration(30+rng.IntN(400)) * time.Millisecond
		if mode != 0 {
			limit = 10 * time.Second // if the awaited line never comes
		}
		timer := time.NewTimer(limit)
		trigger := ""
	wait:
		for {
			select {
			case l, ok := <-c.lines:
				if !ok {
					t.Fatalf("round %d: child exited\n%s", round, c.stderr)
				}
				f := strings.Fields(l)
				// Mode 1 waits for a file fed in this round: its first acceptance, not a
				// resubmission of a file left by an earlier round.
				if mode == 1 && len(f) == 3 && f[0] == "SUBMITTED" && f[2] == "ok" && slices.Contains(names, f[1]) ||
					mode == 2 && len(f) == 2 && f[0] == "REJMOVED" {
					trigger = f[1]
					break wait
				}
			case <-timer.C:
				break wait
			}
		}
		timer.Stop()
		alive := time.Since(began)
		c.kill(t)
		<-fedDone
		where := place(round)
		switch {
		case mode == 1 && trigger != "" && where[trigger] == "incoming":
			acceptWindow++ // first acceptance durable in the store, file not moved: the restart must not accept it twice
		case mode == 2 && trigger != "" && where[trigger] == "rejected" && !present(filepath.Join(rej, trigger+dropdir.ErrorSuffix)):
			rejectWindow++ // moved, error.json still pending: the restart must complete it
		}
		t.Logf("round %d: mode %d, killed %s after ready, trigger %q; %d in incoming", round, mode, alive.Round(time.Millisecond), trigger, len(listDir(t, in)))
	}

	// The final run: feed the rest, let it finish, stop it cleanly.
	c := startCrashChild(t, dirs)
	<-feed(append(good[next:], bad[nextBad:]...))
	waitUntil(t, "every file moved", 60*time.Second, func() bool {
		if len(listDir(t, in)) != 0 {
			return false
		}
		for _, n := range bad {
			if !present(filepath.Join(rej, n+dropdir.ErrorSuffix)) {
				return false
			}
		}
		return len(listDir(t, acc)) == nGood
	})
	c.cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		for range c.lines {
		}
	}()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("final run: %v\n%s", err, c.stderr)
	}

	where := place(rounds)
	if got := listDir(t, in); len(got) != 0 {
		t.Fatalf("incoming/ holds %v", got)
	}
	wantAcc := slices.Sorted(slices.Values(good))
	if got := listDir(t, acc); !slices.Equal(got, wantAcc) {
		t.Fatalf("accepted/ = %v\nwant %v", got, wantAcc)
	}
	var wantRej []string
	for _, n := range bad {
		wantRej = append(wantRej, n, n+dropdir.ErrorSuffix)
	}
	slices.Sort(wantRej)
	if got := listDir(t, rej); !slices.Equal(got, wantRej) {
		t.Fatalf("rejected/ = %v\nwant %v (no pending error files left)", got, wantRej)
	}
	for n, dir := range where {
		b, err := os.ReadFile(filepath.Join(dirs.Drop, dir, n))
		if err != nil || !bytes.Equal(b, content[n]) {
			t.Fatalf("%s/%s: content changed (%v)", dir, n, err)
		}
		if dir == "rejected" {
			var body errs.Body
			eb, _ := os.ReadFile(filepath.Join(rej, n+dropdir.ErrorSuffix))
			if err := json.Unmarshal(eb, &body); err != nil || body.Error.Code != string(errs.SignatureInvalid) {
				t.Fatalf("%s error.json = %q (%v)", n, eb, err)
			}
		}
	}

	// The store: exactly nGood documents, each accepted once.
	evs := exportAudit(t, dirs.Data)
	accepted := countType(evs, "accepted")
	total := 0
	for i := range nGood {
		if accepted[docID(i)] != 1 {
			t.Errorf("%s accepted %d times", docID(i), accepted[docID(i)])
		}
		total += accepted[docID(i)]
	}
	if len(accepted) != nGood || total != nGood {
		t.Fatalf("%d accepted events for %d documents, want %d", total, len(accepted), nGood)
	}
	s, err := store.Open(dirs.Data, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Stats(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.AllTime != nGood {
		t.Fatalf("store holds %d documents, want %d", st.AllTime, nGood)
	}
	for i := range nGood {
		if docs, err := s.DocumentsByID(context.Background(), docID(i)); err != nil || len(docs) != 1 {
			t.Fatalf("%s: %d documents (%v)", docID(i), len(docs), err)
		}
	}
	rejected := 0
	for _, e := range evs {
		if e.Type == "rejected" {
			rejected++
		}
	}
	t.Logf("%d rounds killed: %d inside the accept window, %d inside the reject window; audit: %d accepted, %d rejected (a refusal cut before its move is refused again)",
		rounds, acceptWindow, rejectWindow, total, rejected)
	if acceptWindow == 0 || rejectWindow == 0 {
		t.Fatalf("no kill landed inside a window (accept %d, reject %d): the test proved less than it claims", acceptWindow, rejectWindow)
	}
}
