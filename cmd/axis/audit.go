package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"axis/axis/client"
	"axis/axis/verify"
	"axis/signing"
	"axis/signing/devpki"
	"axis/store"
	"axis/store/audit"
)

func init() { register(auditCommand()) }

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "export and verify the tamper-evident audit log (SPEC §9)",
		Subcommands: []*cli.Command{
			{
				Name:  "export",
				Usage: "write the audit log as JSON lines on stdout",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "data-dir", Usage: "the daemon's data directory (daemon stopped)", EnvVars: []string{"AXIS_DATA_DIR"}},
					&cli.StringFlag{Name: "server", Usage: "a running daemon's URL", EnvVars: []string{"AXIS_SERVER"}},
					&cli.StringFlag{Name: "token", Usage: "auditor bearer token for --server", EnvVars: []string{"AXIS_TOKEN"}},
					&cli.Uint64Flag{Name: "from", Value: 1, Usage: "first seq to export", EnvVars: []string{"AXIS_AUDIT_FROM"}},
				},
				Action: auditExport,
			},
			{
				Name:      "verify",
				Usage:     "verify an exported audit log offline; prints the last good seq, exit 1 on a break",
				ArgsUsage: "FILE|-",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "trust", Usage: "trusted roots (PEM file or directory): also verify checkpoint signatures", EnvVars: []string{"AXIS_TRUST"}},
					&cli.StringFlag{Name: "identity-cert", Usage: "the axis identity certificate (PEM) checkpoints must be signed with; default: any certificate under --trust whose subject serialNumber is \"axis\"", EnvVars: []string{"AXIS_IDENTITY_CERT"}},
				},
				Action: auditVerify,
			},
			auditReplayCommand(),
		},
	}
}

func auditExport(c *cli.Context) error {
	switch {
	case c.String("server") != "" && c.String("data-dir") != "":
		return cli.Exit("audit export: give --data-dir or --server, not both", 2)
	case c.String("server") != "":
		cl, err := client.New(c.String("server"), client.WithToken(c.String("token")))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(c.App.Writer, 256<<10)
		if _, err := cl.ExportAudit(c.Context, w, c.Uint64("from")); err != nil {
			return err
		}
		return w.Flush()
	case c.String("data-dir") == "":
		return cli.Exit("audit export: --data-dir (or --server) is required", 2)
	}
	s, err := store.Open(c.String("data-dir"), store.Options{ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		return err
	}
	defer s.Close()
	w := bufio.NewWriterSize(c.App.Writer, 256<<10)
	if _, err := s.ExportAudit(c.Context, w, c.Uint64("from")); err != nil {
		return err
	}
	return w.Flush()
}

func auditVerify(c *cli.Context) error {
	args, trust, identity, err := trailingFlags(c.Args().Slice(), c.String("trust"), c.String("identity-cert"))
	if err != nil {
		return cli.Exit("audit verify: "+err.Error(), 2)
	}
	if len(args) != 1 {
		return cli.Exit("audit verify: give one FILE, or - for stdin", 2)
	}
	var in io.Reader = os.Stdin
	if name := args[0]; name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	opts := audit.VerifyOptions{}
	if trust != "" {
		v, err := checkpointVerifier(trust, identity)
		if err != nil {
			return err
		}
		opts.Checkpoints = v
	} else if identity != "" {
		return cli.Exit("audit verify: --identity-cert needs --trust", 2)
	}
	if isTerminal(os.Stderr) {
		opts.Progress = func(n uint64) { fmt.Fprintf(c.App.ErrWriter, "\rverified %d lines…", n) }
		defer fmt.Fprint(c.App.ErrWriter, "\r\033[K")
	}
	r, err := audit.Verify(c.Context, in, opts)
	if err != nil {
		return err
	}
	out := c.App.Writer
	if b := r.Break; b != nil {
		fmt.Fprintf(out, "BROKEN first_bad_seq=%d line=%d last_good_seq=%d: %s\n", b.Seq, b.Line, r.LastSeq, b.Reason)
		return cli.Exit("", 1)
	}
	fmt.Fprintf(out, "OK last_good_seq=%d events=%d checkpoints=%d last_checkpoint=%d\n", r.LastSeq, r.Events, r.Checkpoints, r.LastCheckpoint)
	if r.Partial() {
		fmt.Fprintf(out, "note: the log starts at seq %d; what came before was not checked\n", r.FirstSeq)
	}
	switch {
	case !r.SignaturesChecked:
		fmt.Fprintln(out, "note: checkpoint signatures not checked (no --trust)")
	case r.Unattested() > 0 && r.LastCheckpoint == 0:
		fmt.Fprintf(out, "warning: no signed checkpoint: none of the %d events is attested; the log may have been cut short\n", r.Unattested())
	case r.Unattested() > 0:
		fmt.Fprintf(out, "warning: %d events after the last checkpoint (seq %d) are not attested; the log may have been cut short after seq %d\n",
			r.Unattested(), r.LastCheckpoint, r.LastCheckpoint)
	}
	return nil
}

// trailingFlags accepts --trust and --identity-cert after FILE too (urfave/cli stops
// parsing flags at the first argument), as in "axis audit verify log.jsonl --trust F".
func trailingFlags(args []string, trust, identity string) ([]string, string, string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "--") || (name != "trust" && name != "identity-cert") {
			rest = append(rest, args[i])
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, "", "", fmt.Errorf("--%s needs a value", name)
			}
			i++
			val = args[i]
		}
		if name == "trust" {
			trust = val
		} else {
			identity = val
		}
	}
	return rest, trust, identity, nil
}

// checkpointVerifier loads the trust and the optional pinned identity certificate.
func checkpointVerifier(trustPath, identityCert string) (audit.CheckpointVerifier, error) {
	ts, err := signing.LoadTrust(trustPath)
	if err != nil {
		return nil, err
	}
	var pinned string
	if identityCert != "" {
		certs, err := devpki.LoadCertificates(identityCert)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(certs[0].Raw)
		pinned = hex.EncodeToString(sum[:])
	}
	return verify.Checkpoints(ts, pinned), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
