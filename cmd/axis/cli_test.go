package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// These tests run the real binary, as a clerk or an auditor would.

var axisBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "axis-cli")
	if err != nil {
		panic(err)
	}
	axisBin = filepath.Join(dir, "axis")
	if out, err := exec.Command("go", "build", "-o", axisBin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run executes axis and returns stdout, stderr and the exit code.
func run(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(axisBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestPKISignVerify(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	reg := "../../testdata/agencies.json"
	out, errOut, code := run(t, nil, "pki", "init", "--dir", pki, "--registry", reg)
	if code != 0 || !strings.Contains(out, "15 certificates created, 0 kept") {
		t.Fatalf("pki init: %d %q %q", code, out, errOut)
	}
	for _, f := range []string{"root.pem", "root.key", "axis.pem", "axis.key", "agencies/000.00.00.G22.pem", "agencies/000.21.32.H53.key"} {
		if _, err := os.Stat(filepath.Join(pki, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	rootBefore, _ := os.ReadFile(filepath.Join(pki, "root.pem"))
	out, _, _ = run(t, nil, "pki", "init", "--dir", pki, "--registry", reg)
	rootAfter, _ := os.ReadFile(filepath.Join(pki, "root.pem"))
	if !strings.Contains(out, "0 certificates created, 15 kept") || !bytes.Equal(rootBefore, rootAfter) {
		t.Fatalf("second pki init must keep everything: %q", out)
	}

	key, cert := filepath.Join(pki, "agencies/000.00.00.G22.key"), filepath.Join(pki, "agencies/000.00.00.G22.pem")
	signed := filepath.Join(dir, "decree.edxml")
	// SPEC §5 writes the output flag after the input.
	if _, e, code := run(t, nil, "sign", "--key", key, "--cert", cert, "../../testdata/demo/decree.edxml", "-o", signed); code != 0 {
		t.Fatalf("sign: %s", e)
	}
	want := "OK 000.00.00.G22,2026/11/22,1234/NĐ-CP from 000.00.00.G22\n"
	out, _, code = run(t, nil, "verify", "--trust", filepath.Join(pki, "root.pem"), "--registry", reg, signed)
	if code != 0 || out != want {
		t.Fatalf("verify: %d %q", code, out)
	}
	// stdin in, stdout out gives the same verifiable result.
	decree, _ := os.ReadFile("../../testdata/demo/decree.edxml")
	piped, e, code := run(t, decree, "sign", "--key", key, "--cert", cert, "-")
	if code != 0 {
		t.Fatalf("sign -: %s", e)
	}
	pipedFile := filepath.Join(dir, "piped.edxml")
	os.WriteFile(pipedFile, []byte(piped), 0o644)

	forged := filepath.Join(dir, "forged.edxml")
	b, _ := os.ReadFile(signed)
	os.WriteFile(forged, bytes.Replace(b, []byte("Nghị định quy định"), []byte("Nghị quyết quy định"), 1), 0o644)
	out, _, code = run(t, nil, "verify", "--trust", filepath.Join(pki, "root.pem"), "--registry", reg, pipedFile, forged)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 2 || lines[0]+"\n" != want ||
		!strings.HasPrefix(lines[1], "REJECTED "+forged+": signature_invalid: ") {
		t.Fatalf("verify forged: exit %d, %q", code, out)
	}

	// A package signed by the wrong agency's key: sender_mismatch.
	wrong := filepath.Join(dir, "wrong.edxml")
	if _, e, code := run(t, nil, "sign", "--key", filepath.Join(pki, "agencies/000.00.00.H41.key"),
		"--cert", filepath.Join(pki, "agencies/000.00.00.H41.pem"), "-o", wrong, "../../testdata/demo/decree.edxml"); code != 0 {
		t.Fatalf("sign: %s", e)
	}
	out, _, code = run(t, nil, "verify", "--trust", filepath.Join(pki, "root.pem"), wrong)
	if code != 1 || !strings.Contains(out, ": sender_mismatch: ") {
		t.Fatalf("wrong signer: %d %q", code, out)
	}
	// A key that does not match the certificate is a usage error, before anything is signed.
	if _, e, code := run(t, nil, "sign", "--key", filepath.Join(pki, "agencies/000.00.00.H41.key"), "--cert", cert, "../../testdata/demo/decree.edxml"); code != 2 || !strings.Contains(e, "is not the key of") {
		t.Fatalf("sign with a mismatched key: exit %d %q", code, e)
	}
}

func TestVerifyCorpusDirectory(t *testing.T) {
	out, _, code := run(t, nil, "verify", "--trust", "../../testdata/attacks/trust", "--registry", "../../testdata/attacks/registry.json",
		"--max-package-bytes", "65536", "../../testdata/attacks")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	ok, rejected := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(l, "OK "):
			ok++
		case strings.HasPrefix(l, "REJECTED "):
			rejected++
		}
	}
	// Without --allow-sha1 the legacy case is refused too: 6 accepted, 42 refused.
	if ok != 6 || rejected != 42 {
		t.Fatalf("ok=%d rejected=%d:\n%s", ok, rejected, out)
	}
}

func TestVerifyFieldSamplesAreRefused(t *testing.T) {
	// The field samples carry placeholder SHA-1 signatures in the wrong namespace: refused, never crashing.
	out, _, code := run(t, nil, "verify", "--trust", "../../testdata/attacks/trust", "../../testdata/edxml")
	if code != 1 || strings.Count(out, "REJECTED ") != 16 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	if _, e, code := run(t, nil, "verify", "--trust", "/nonexistent", "x.edxml"); code == 0 || !strings.Contains(e, "nonexistent") {
		t.Fatalf("missing trust: %d %q", code, e)
	}
	if _, e, code := run(t, nil, "sign", "--key", "k", "--cert", "c"); code != 2 || !strings.Contains(e, "input") {
		t.Fatalf("sign without input: %d %q", code, e)
	}
}

// A wrong command line says what is wrong on stderr and exits 2: a missing required
// flag (urfave/cli returned it without a word, exit 1), an unknown command or
// subcommand, an unknown flag.
func TestCommandLineErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "x.edxml"}, `axis: Required flag "trust" not set`},
		{[]string{"sign", "x.edxml"}, `axis: Required flags "key, cert" not set`},
		{[]string{"frobnicate"}, `axis: unknown command "frobnicate"`},
		{[]string{"token", "frob"}, `axis: unknown command "frob"`},
		{[]string{"verify", "--bogus"}, "axis: flag provided but not defined: -bogus"},
	} {
		_, errOut, code := run(t, nil, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("axis %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
}

// SPEC §5: every flag is also readable from an AXIS_* variable.
func TestEveryFlagHasAnEnvVar(t *testing.T) {
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				ef, ok := f.(interface{ GetEnvVars() []string })
				name := f.Names()[0]
				if !ok || len(ef.GetEnvVars()) == 0 || !strings.HasPrefix(ef.GetEnvVars()[0], "AXIS_") {
					t.Errorf("axis %s%s --%s has no AXIS_* variable", path, c.Name, name)
				}
			}
			walk(path+c.Name+" ", c.Subcommands)
		}
	}
	walk("", newApp().Commands)
}

// axis verify - reads the document from standard input.
func TestVerifyStdin(t *testing.T) {
	out, errOut, code := run(t, []byte("<edXML>not closed"), "verify", "--trust", "../../testdata/attacks/trust", "-")
	if code != 1 || !strings.HasPrefix(out, "REJECTED -: malformed_xml: ") {
		t.Fatalf("verify -: %d %q %s", code, out, errOut)
	}
}
