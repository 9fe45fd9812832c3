package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"axis/axis/agency"
	"axis/axis/client"
	"axis/axis/errs"
)

// exitTempFail (sysexits EX_TEMPFAIL): nothing was refused, something could not be
// submitted; running the same command again is safe.
const exitTempFail = 75

func init() { register(sendCommand()) }

func sendCommand() *cli.Command {
	return &cli.Command{
		Name:      "send",
		Usage:     "submit signed edXML packages to the axis over HTTP; exit 1 if any is refused, 75 if any could not be submitted (try again)",
		ArgsUsage: "FILE|DIR...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Value: "http://127.0.0.1:8080", Usage: "the axis URL", EnvVars: []string{"AXIS_SERVER"}},
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "submissions in flight", EnvVars: []string{"AXIS_SEND_CONCURRENCY"}},
			&cli.StringFlag{Name: "receipts", Usage: "directory to save each acceptance receipt (XML) in", EnvVars: []string{"AXIS_SEND_RECEIPTS"}},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "bound on one submission", EnvVars: []string{"AXIS_SEND_TIMEOUT"}},
		},
		Action: sendAction,
	}
}

type sendResult struct {
	file string
	a    client.PackageAnswer
	err  error
}

func sendAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.Exit("send: no file given", 2)
	}
	cl, err := client.New(c.String("server"))
	if err != nil {
		return cli.Exit("send: "+err.Error(), 2)
	}
	files, err := expandFiles(c.Args().Slice())
	if err != nil {
		return err
	}
	if dir := c.String("receipts"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	workers := max(1, c.Int("concurrency"))
	// Results are printed in the order of the files, whatever order they finish in.
	results := make([]chan sendResult, len(files))
	for i := range results {
		results[i] = make(chan sendResult, 1)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i] <- submitFile(c.Context, cl, files[i], c.Duration("timeout"))
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range files {
			select {
			case jobs <- i:
			case <-c.Context.Done():
				for ; i < len(files); i++ {
					results[i] <- sendResult{file: files[i], err: errs.Wrap(errs.Unavailable, c.Context.Err(), "not sent")}
				}
				return
			}
		}
	}()
	progress := isTerminal(os.Stderr)
	accepted, already, refused, failed := 0, 0, 0, 0
	for i := range files {
		r := <-results[i]
		if progress {
			fmt.Fprint(c.App.ErrWriter, "\r\033[K")
		}
		switch {
		case r.err != nil && errs.CodeOf(r.err).Transient():
			// Not a refusal: the axis could not be reached or could not decide; the same
			// bytes can be sent again safely (an accepted package answers 200).
			failed++
			fmt.Fprintf(c.App.Writer, "FAILED %s: %s: %s\n", r.file, errs.CodeOf(r.err), oneLine(errs.ToBody(r.err).Error.Message))
		case r.err != nil:
			refused++
			fmt.Fprintf(c.App.Writer, "REJECTED %s: %s: %s\n", r.file, errs.CodeOf(r.err), oneLine(errs.ToBody(r.err).Error.Message))
		default:
			word := "ACCEPTED"
			if r.a.Existing {
				word, already = "ALREADY_ACCEPTED", already+1
			} else {
				accepted++
			}
			var to []string
			for _, rc := range r.a.Recipients {
				to = append(to, rc.OrganID)
			}
			fmt.Fprintf(c.App.Writer, "%s %s: %s sha256 %s audit_seq %d recipients %s\n", word, r.file, r.a.DocumentID, r.a.SHA256,
				r.a.AuditSeq, strings.Join(to, ","))
			if dir := c.String("receipts"); dir != "" && r.a.Receipt != "" {
				name := filepath.Join(dir, agency.SafeName(r.a.DocumentID)+"."+r.a.SHA256[:min(12, len(r.a.SHA256))]+".receipt.xml")
				if err := os.WriteFile(name, []byte(r.a.Receipt), 0o644); err != nil {
					return err
				}
			}
		}
		if progress {
			fmt.Fprintf(c.App.ErrWriter, "sent %d/%d (%d refused, %d failed)", i+1, len(files), refused, failed)
		}
	}
	wg.Wait()
	if progress {
		fmt.Fprint(c.App.ErrWriter, "\r\033[K")
	}
	if len(files) > 1 {
		fmt.Fprintf(c.App.ErrWriter, "%d accepted, %d already accepted, %d refused, %d failed (send those again)\n", accepted, already, refused, failed)
	}
	if refused > 0 {
		return cli.Exit("", 1)
	}
	if failed > 0 {
		return cli.Exit("", exitTempFail)
	}
	return nil
}

// submitFile sends one file, retrying a few times while the axis answers "unavailable"
// (nothing was accepted then, and a resubmission is idempotent anyway).
func submitFile(ctx context.Context, cl *client.Client, file string, timeout time.Duration) sendResult {
	b, err := os.ReadFile(file)
	if err != nil {
		return sendResult{file: file, err: errs.Wrap(errs.BadRequest, err, "%v", err)}
	}
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		a, err := cl.SubmitPackage(actx, b)
		cancel()
		if err == nil || !errs.Is(err, errs.Unavailable) || attempt == 3 || ctx.Err() != nil {
			return sendResult{file: file, a: a, err: err}
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay *= 2
	}
}
