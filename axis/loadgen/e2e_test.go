package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"axis/axis/agency"
	"axis/signing/devpki"
)

// axisBin builds cmd/axis once (not with -race: the daemon is the system under load,
// the race detector covers this package's own code).
var axisBin = sync.OnceValues(func() (string, error) {
	dir, err := tempDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "axis")
	if out, err := exec.Command("go", "build", "-o", bin, "axis/cmd/axis").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// daemon runs `axis serve` with its embedded broker and returns its HTTP and broker
// addresses once it is ready.
func daemon(t *testing.T, bin, pkiDir string) (httpAddr, brokerAddr string) {
	t.Helper()
	reg, _ := filepath.Abs(registryFile)
	httpAddr, brokerAddr = freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(dir, "data"), "--http", httpAddr,
		"--embedded-broker", brokerAddr, "--registry", reg, "--trust", devpki.RootCertPath(pkiDir),
		"--identity-key", devpki.AxisKeyPath(pkiDir), "--identity-cert", devpki.AxisCertPath(pkiDir),
		"--log-format", "json", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("axis serve log:\n%s", b[max(0, len(b)-6000):])
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatal("axis serve exited at start")
		default:
		}
		if resp, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return httpAddr, brokerAddr
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("axis serve not ready after 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLoadgenAgainstDaemon runs `axis loadgen` as a user would, against a real `axis
// serve` process, then an open-loop run in-process: every package must be accepted and
// reach every recipient's inbox. Timing is not asserted (this machine is shared).
func TestLoadgenAgainstDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	bin, err := axisBin()
	if err != nil {
		t.Fatal(err)
	}
	dir, reg := pki(t)
	httpAddr, brokerAddr := daemon(t, bin, dir)
	regFile, _ := filepath.Abs(registryFile)

	t.Run("command", func(t *testing.T) {
		cmd := exec.Command(bin, "loadgen", "--server", "http://"+httpAddr, "--pki", dir, "--registry", regFile,
			"--brokers", brokerAddr, "--n", "200", "--size", "5000", "--recipients", "3", "--lost-after", "30s")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("axis loadgen: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
		if stderr.Len() > 0 {
			t.Errorf("stderr is not quiet when piped: %q", stderr.String())
		}
		lines := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
		last := lines[len(lines)-1]
		m := lineRE.FindStringSubmatch(last)
		if m == nil {
			t.Fatalf("last line %q does not match the SPEC §5 format\n%s", last, stdout.String())
		}
		if m[13] != "0" || m[14] != "0" {
			t.Fatalf("errors=%s lost=%s, want 0 and 0\n%s", m[13], m[14], stdout.String())
		}
		for _, i := range []int{1, 3, 5, 7, 9, 11} { // rates, percentiles and ratio are positive
			if v, _ := strconv.ParseFloat(m[i], 64); v <= 0 {
				t.Fatalf("field %d of %q is not positive", i, last)
			}
		}
		if !strings.Contains(stdout.String(), "delivered to every recipient: 200 ") {
			t.Fatalf("not every package delivered:\n%s", stdout.String())
		}
	})

	t.Run("open loop", func(t *testing.T) {
		res, err := Run(context.Background(), Config{Server: "http://" + httpAddr, PKIDir: dir, Registry: reg,
			N: 100, Size: 3000, Recipients: 2, Rate: 200, Concurrency: 8, LostAfter: 30 * time.Second,
			Kafka: agency.KafkaConfig{Brokers: []string{brokerAddr}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != 0 || res.Lost != 0 || res.Accepted != 100 || res.Delivered != 100 {
			t.Fatalf("%+v\n%s", res, res.Line())
		}
		if !(res.P50 > 0 && res.P50 <= res.P95 && res.P95 <= res.P99) || res.E2EPerSec <= 0 || res.VerifyPerSec <= 0 {
			t.Fatalf("implausible figures: %s", res.Line())
		}
		if res.Wall < 400*time.Millisecond { // 100 due over 0.5 s: the offered rate held
			t.Fatalf("100 packages at 200/s delivered in %v", res.Wall)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		// Ctrl-C part way: what was not sent is not an error, and what was sent is
		// answered (and counted) although the context ended.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var once sync.Once
		res, err := Run(ctx, Config{Server: "http://" + httpAddr, PKIDir: dir, Registry: reg,
			N: 200, Size: 3000, Recipients: 1, Rate: 50, Concurrency: 4, LostAfter: 30 * time.Second,
			Kafka: agency.KafkaConfig{Brokers: []string{brokerAddr}},
			Progress: writerFunc(func(b []byte) { // the first answer: stop a second later
				if bytes.Contains(b, []byte("submitting")) {
					once.Do(func() { time.AfterFunc(time.Second, cancel) })
				}
			})})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if res.Errors != 0 || res.Unsent == 0 || res.Accepted+res.Unsent != 200 {
			t.Fatalf("errors=%d unsent=%d accepted=%d, want 0, >0 and 200 in all", res.Errors, res.Unsent, res.Accepted)
		}
	})

	t.Run("axis unreachable", func(t *testing.T) {
		res, err := Run(context.Background(), Config{Server: "http://" + freeAddr(t), PKIDir: dir, Registry: reg,
			N: 5, Recipients: 1, LostAfter: time.Second, Kafka: agency.KafkaConfig{Brokers: []string{brokerAddr}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != 5 || res.Accepted != 0 || res.Lost != 0 {
			t.Fatalf("%+v", res)
		}
	})
}

// writerFunc is an io.Writer calling f with each write.
type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }
