package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"axis/axis/bus"
	"axis/axis/bus/kafkabus"
	"axis/axis/registry"
	"axis/axis/token"
	"axis/envelope"
	"axis/signing"
	"axis/signing/devpki"
)

const (
	govOffice   = "000.00.00.G22"
	decreeDocID = "000.00.00.G22,2026/11/22,1234/NĐ-CP"
	registryRel = "../../testdata/agencies.json"
	decreeRel   = "../../testdata/demo/decree.edxml"
)

var recipients = []string{"000.00.00.G01", "000.00.00.H41", "000.00.00.H53"}

// Shared by every test of the binary: the binary itself and one dev PKI.
var (
	axisBin  string
	pkiDir   string
	regFile  string
	govSign  *signing.Signer
	decreeIn []byte
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		code = 1
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "axis-e2e-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(tmp)
	axisBin = filepath.Join(tmp, "axis")
	if out, err := exec.Command("go", "build", "-o", axisBin, "axis/cmd/axis").CombinedOutput(); err != nil {
		return 1, fmt.Errorf("building bin/axis: %v\n%s", err, out)
	}
	if regFile, err = filepath.Abs(registryRel); err != nil {
		return 1, err
	}
	reg, err := registry.Load(regFile)
	if err != nil {
		return 1, err
	}
	pkiDir = filepath.Join(tmp, "pki")
	if err := devpki.Init(pkiDir, reg.IDs(), devpki.Options{KeyType: devpki.ECDSA}); err != nil {
		return 1, err
	}
	key, err := devpki.LoadKey(devpki.AgencyKeyPath(pkiDir, govOffice))
	if err != nil {
		return 1, err
	}
	certs, err := devpki.LoadCertificates(devpki.AgencyCertPath(pkiDir, govOffice))
	if err != nil {
		return 1, err
	}
	govSign = &signing.Signer{Key: key, Cert: certs[0], Chain: certs[1:]}
	if decreeIn, err = os.ReadFile(decreeRel); err != nil {
		return 1, err
	}
	return m.Run(), nil
}

// long reports whether the bigger sizes were asked for (AXIS_E2E_LONG=1).
func long() bool { return os.Getenv("AXIS_E2E_LONG") != "" }

// submission is one signed package.
type submission struct {
	DocID string
	SHA   string
	Bytes []byte
}

// corpus signs n decrees with distinct DocumentIds (base+i).
func corpus(t testing.TB, base, n int) []submission {
	t.Helper()
	out := make([]submission, n)
	for i := range out {
		id := fmt.Sprintf("000.00.00.G22,2026/11/22,%d/NĐ-CP", base+i)
		b := bytes.Replace(decreeIn, []byte(decreeDocID), []byte(id), 1)
		b, err := govSign.SignBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		out[i] = submission{DocID: id, SHA: hex.EncodeToString(s[:]), Bytes: b}
	}
	return out
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a child process with its output in a log file.
type proc struct {
	t        testing.TB
	name     string
	cmd      *exec.Cmd
	log      string
	logStart int64 // the log's size when this process started (restarts append to it)
	done     chan struct{}
	err      error
}

// logged reports whether this process wrote s to its log.
func (p *proc) logged(s string) bool {
	b, _ := os.ReadFile(p.log)
	return int64(len(b)) > p.logStart && strings.Contains(string(b[p.logStart:]), s)
}

func start(t testing.TB, name, logFile string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var logStart int64
	if st, err := f.Stat(); err == nil {
		logStart = st.Size()
	}
	cmd := exec.Command(axisBin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "AXIS_LOG_FORMAT=json")
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{t: t, name: name, cmd: cmd, log: logFile, logStart: logStart, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			p.dumpLog()
		}
	})
	return p
}

func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit and returns its exit error.
func (p *proc) wait(timeout time.Duration) (error, bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(timeout):
		return nil, false
	}
}

func (p *proc) kill9() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) dumpLog() {
	b, _ := os.ReadFile(p.log)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	p.t.Logf("--- last lines of %s (%s)\n%s", p.name, p.log, b)
}

// daemon is an `axis serve` process and what is needed to restart it.
type daemon struct {
	*proc
	dir, http, broker string
	args              []string
}

// startDaemon runs `axis serve`; brokers empty runs the embedded broker on embedded.
func startDaemon(t testing.TB, dir, httpAddr, brokers, embedded string, extra ...string) *daemon {
	t.Helper()
	args := []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--http", httpAddr, "--registry", regFile,
		"--trust", devpki.RootCertPath(pkiDir), "--identity-key", devpki.AxisKeyPath(pkiDir),
		"--identity-cert", devpki.AxisCertPath(pkiDir), "--log-level", "info"}
	d := &daemon{dir: filepath.Join(dir, "data"), http: httpAddr}
	if brokers != "" {
		args = append(args, "--brokers", brokers)
		d.broker = brokers
	} else {
		args = append(args, "--embedded-broker", embedded)
		d.broker = embedded
	}
	d.args = append(args, extra...)
	for attempt := 0; ; attempt++ {
		d.proc = start(t, "axis serve", filepath.Join(dir, "serve.log"), d.args...)
		if attempt < 3 && d.portTaken() {
			// freePort's port was taken by a parallel test between its check and this
			// start: take another.
			d.http = freePort(t)
			d.args[slices.Index(d.args, "--http")+1] = d.http
			continue
		}
		d.waitReady(t)
		return d
	}
}

// portTaken waits until the daemon is ready or has exited, and reports whether it exited
// because its --http address was in use.
func (d *daemon) portTaken() bool {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if d.exited() {
			return d.proc.logged("address already in use")
		}
		if d.proc.logged(`"msg":"axis ready"`) {
			return false
		}
	}
	return false
}

func (d *daemon) restart(t testing.TB) {
	t.Helper()
	d.proc = start(t, "axis serve", d.proc.log, d.args...)
	d.waitReady(t)
}

func (d *daemon) url(path string) string { return "http://" + d.http + path }

func (d *daemon) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if d.exited() {
			t.Fatalf("axis serve exited at start: %v", d.proc.err)
		}
		// Ready is this process's "axis ready": another test's daemon could answer on
		// the same address if it took it first (this one then exits).
		if !d.proc.logged(`"msg":"axis ready"`) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if resp, err := http.Get(d.url("/readyz")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("axis serve not ready after 60 s")
}

// auditorToken issues a token from the data directory's secret (like `axis token issue`).
func (d *daemon) auditorToken(t testing.TB) string {
	t.Helper()
	k, err := token.LoadOrCreate(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Issue(token.Claims{Auditor: true, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var client = &http.Client{Timeout: 60 * time.Second}

// post submits a package; it returns the HTTP status, or 0 with the error.
func post(url string, b []byte) (int, []byte, error) {
	resp, err := client.Post(url+"/v1/packages", "application/xml", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// startBroker runs `axis broker` and waits for it to print its address.
func startBroker(t testing.TB, addr, dir, logFile string) *proc {
	t.Helper()
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(axisBin, "broker", "--addr", addr, "--data-dir", dir, "--log-format", "json")
	cmd.Stderr = f
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: "axis broker", cmd: cmd, log: logFile, done: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(f, out)
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			p.dumpLog()
		}
	})
	select {
	case got := <-lines:
		if got != addr {
			t.Fatalf("axis broker printed %q, want %s", got, addr)
		}
	case <-p.done:
		t.Fatalf("axis broker exited: %v", p.err)
	case <-time.After(30 * time.Second):
		t.Fatal("axis broker did not print its address in 30 s")
	}
	return p
}

// inboxes consumes the inbox topics with kafkabus (a fresh consumer group) until each
// holds every wanted sha256 or the timeout passes. It returns, per topic, how many
// times each axis-sha256 was seen, and fails on a message whose header does not match
// its value.
func inboxes(t testing.TB, brokers string, want map[string]bool, timeout time.Duration) map[string]map[string]int {
	t.Helper()
	b, err := kafkabus.New(kafkabus.Config{Brokers: []string{brokers}, Logger: zap.NewNop(), MetadataTTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	group := "e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var mu sync.Mutex
	seen := map[string]map[string]int{}
	var wg sync.WaitGroup
	var bad []string
	for _, r := range recipients {
		topic := "axis.inbox." + r
		seen[topic] = map[string]int{}
		sctx, stop := context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer stop()
			b.Subscribe(sctx, topic, group, func(_ context.Context, m bus.Message) error {
				mu.Lock()
				defer mu.Unlock()
				sum := sha256.Sum256(m.Value)
				sha := m.Header("axis-sha256")
				if sha != hex.EncodeToString(sum[:]) {
					bad = append(bad, fmt.Sprintf("%s offset %d: axis-sha256 %q does not match the value", topic, m.Offset, sha))
				}
				seen[topic][sha]++
				complete := true
				for s := range want {
					if seen[topic][s] == 0 {
						complete = false
						break
					}
				}
				if complete {
					stop()
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for _, s := range bad {
		t.Error(s)
	}
	return seen
}

// checkDelivered requires every wanted sha256 on every recipient's inbox.
func checkDelivered(t testing.TB, seen map[string]map[string]int, want map[string]bool) (total, dups int) {
	t.Helper()
	for topic, got := range seen {
		missing := 0
		for s := range want {
			if got[s] == 0 {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s: %d of %d accepted packages missing", topic, missing, len(want))
		}
		for _, n := range got {
			total += n
			if n > 1 {
				dups += n - 1
			}
		}
	}
	return total, dups
}

// auditExportVerify runs `axis audit export --data-dir` and `axis audit verify --trust`
// (the daemon must be stopped) and returns the verify line and the last exported line.
func auditExportVerify(t testing.TB, dataDir, tmp string) (string, string) {
	t.Helper()
	export := filepath.Join(tmp, "audit.jsonl")
	out, err := exec.Command(axisBin, "audit", "export", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatalf("axis audit export: %v\n%s", err, exitStderr(err))
	}
	if err := os.WriteFile(export, out, 0o644); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	v, err := exec.Command(axisBin, "audit", "verify", "--trust", devpki.RootCertPath(pkiDir), export).CombinedOutput()
	if err != nil {
		t.Fatalf("axis audit verify: %v\n%s", err, v)
	}
	return strings.TrimSpace(string(v)), lines[len(lines)-1]
}

func exitStderr(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

// agencySigner loads an agency's key and certificate from the dev PKI.
func agencySigner(t testing.TB, organID string) *signing.Signer {
	t.Helper()
	key, err := devpki.LoadKey(devpki.AgencyKeyPath(pkiDir, organID))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := devpki.LoadCertificates(devpki.AgencyCertPath(pkiDir, organID))
	if err != nil {
		t.Fatal(err)
	}
	return &signing.Signer{Key: key, Cert: certs[0], Chain: certs[1:]}
}

// signedStatus is a status about docID from an agency, signed by it.
func signedStatus(t testing.TB, from, docID, code string) []byte {
	t.Helper()
	s := envelope.Status{
		ResponseFor: envelope.ResponseFor{OrganID: govOffice, DocumentID: docID},
		From:        envelope.Organization{OrganID: from, OrganName: from},
		StatusCode:  code, Timestamp: time.Now().UTC().Format("2006/01/02 15:04:05"),
	}
	b, err := s.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if b, err = agencySigner(t, from).SignBytes(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// consume reads a topic with a fresh consumer group until done says so or the timeout
// passes, and returns what it read.
func consume(t testing.TB, brokers, topic string, timeout time.Duration, done func([]bus.Message) bool) []bus.Message {
	t.Helper()
	b, err := kafkabus.New(kafkabus.Config{Brokers: []string{brokers}, Logger: zap.NewNop(), MetadataTTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var msgs []bus.Message
	b.Subscribe(ctx, topic, "e2e-"+strconv.FormatInt(time.Now().UnixNano(), 36), func(_ context.Context, m bus.Message) error {
		msgs = append(msgs, m)
		if done(msgs) {
			cancel()
		}
		return nil
	})
	return msgs
}

// publish writes messages with kafkabus, as an agency system would.
func publish(t testing.TB, brokers string, msgs ...bus.Message) {
	t.Helper()
	b, err := kafkabus.New(kafkabus.Config{Brokers: []string{brokers}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}
