package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"axis/axis/replay"
)

// auditReplayCommand is `axis audit replay` (SPEC §5): rebuild the delivery history from
// the axis.audit topic alone and verify it.
func auditReplayCommand() *cli.Command {
	return &cli.Command{
		Name:  "replay",
		Usage: "rebuild and verify the delivery history from the axis.audit topic (or an export file); exit 1 on a chain break or a missing start",
		Flags: append([]cli.Flag{
			&cli.Uint64Flag{Name: "from", Value: 1, Usage: "first seq to replay (earlier events are skipped, not verified); exit 1 if the log starts after it (its head was deleted)", EnvVars: []string{"AXIS_AUDIT_FROM"}},
			&cli.StringFlag{Name: "topic", Value: replay.TopicAudit, Usage: "the audit topic", EnvVars: []string{"AXIS_AUDIT_TOPIC"}},
			&cli.StringFlag{Name: "file", Usage: "replay an export file (- for stdin) instead of the topic", EnvVars: []string{"AXIS_REPLAY_FILE"}},
			&cli.StringFlag{Name: "trust", Usage: "trusted roots (PEM file or directory): also verify checkpoint signatures", EnvVars: []string{"AXIS_TRUST"}},
			&cli.StringFlag{Name: "identity-cert", Usage: "the axis identity certificate checkpoints must be signed with (with --trust)", EnvVars: []string{"AXIS_IDENTITY_CERT"}},
			&cli.BoolFlag{Name: "json", Usage: "print the rebuilt history as JSON", EnvVars: []string{"AXIS_REPLAY_JSON"}},
		}, kafkaFlags()...),
		Action: auditReplay,
	}
}

func auditReplay(c *cli.Context) error {
	opts := replay.Options{From: c.Uint64("from")}
	if p := c.String("trust"); p != "" {
		v, err := checkpointVerifier(p, c.String("identity-cert"))
		if err != nil {
			return err
		}
		opts.Checkpoints = v
	} else if c.String("identity-cert") != "" {
		return cli.Exit("audit replay: --identity-cert needs --trust", 2)
	}
	var src replay.Source
	switch f := c.String("file"); f {
	case "":
		kc := kafkaConfig(c)
		dialer, err := kc.Dialer()
		if err != nil {
			return cli.Exit("audit replay: "+err.Error(), 2)
		}
		src = replay.Kafka{Brokers: kc.Brokers, Dialer: dialer, Topic: c.String("topic")}
	case "-":
		src = replay.Reader{R: os.Stdin}
	default:
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		defer fh.Close()
		src = replay.Reader{R: fh}
	}
	if isTerminal(os.Stderr) {
		opts.Progress = func(n uint64) { fmt.Fprintf(c.App.ErrWriter, "\rreplayed %d events…", n) }
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	h, err := replay.Run(ctx, src, opts)
	if opts.Progress != nil {
		fmt.Fprint(c.App.ErrWriter, "\r\033[K")
	}
	if err != nil {
		return fmt.Errorf("audit replay: %w", err)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(h); err != nil {
			return err
		}
	} else if err := replay.WriteText(c.App.Writer, h); err != nil {
		return err
	}
	if !h.OK() { // a break, or a log that lost its start: neither is verified from --from
		if c.Bool("json") {
			fmt.Fprintln(c.App.ErrWriter, h.Summary())
		}
		return cli.Exit("", 1)
	}
	if rep := h.Report; opts.Checkpoints == nil {
		fmt.Fprintln(c.App.ErrWriter, "note: checkpoint signatures not checked (no --trust)")
	} else if rep.Unattested() > 0 && rep.LastCheckpoint == 0 {
		fmt.Fprintf(c.App.ErrWriter, "warning: no signed checkpoint yet: none of the %d events is attested\n", rep.Unattested())
	} else if rep.Unattested() > 0 {
		fmt.Fprintf(c.App.ErrWriter, "warning: %d events after the last checkpoint (seq %d) are not attested\n", rep.Unattested(), rep.LastCheckpoint)
	}
	return nil
}
