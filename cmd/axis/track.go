package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"axis/axis/client"
	"axis/axis/errs"
)

func init() { register(trackCommand()) }

func trackCommand() *cli.Command {
	return &cli.Command{
		Name:      "track",
		Usage:     "show a document's timeline per recipient (states, statuses, revisions, receipt)",
		ArgsUsage: "DOCID",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "server", Value: "http://127.0.0.1:8080", Usage: "the axis URL", EnvVars: []string{"AXIS_SERVER"}},
			&cli.StringFlag{Name: "token", Usage: "bearer token (axis token issue)", Required: true, EnvVars: []string{"AXIS_TOKEN"}},
			&cli.BoolFlag{Name: "json", Usage: "print the daemon's JSON as it is", EnvVars: []string{"AXIS_TRACK_JSON"}},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, EnvVars: []string{"AXIS_TIMEOUT"}},
		},
		Action: func(c *cli.Context) error {
			// urfave/cli stops parsing flags at the DocumentId: accept a trailing --json.
			var args []string
			asJSON := c.Bool("json")
			for _, a := range c.Args().Slice() {
				if a == "--json" || a == "-json" {
					asJSON = true
					continue
				}
				args = append(args, a)
			}
			if len(args) != 1 {
				return cli.Exit("track: give exactly one DocumentId", 2)
			}
			cl, err := client.New(c.String("server"), client.WithToken(c.String("token")))
			if err != nil {
				return cli.Exit("track: "+err.Error(), 2)
			}
			ctx, cancel := contextWithTimeout(c, c.Duration("timeout"))
			defer cancel()
			doc, raw, err := cl.Document(ctx, args[0])
			if err != nil {
				return cli.Exit(fmt.Sprintf("track: %s: %s", errs.CodeOf(err), errs.ToBody(err).Error.Message), 1)
			}
			if asJSON {
				_, err = fmt.Fprintf(c.App.Writer, "%s\n", raw)
				return err
			}
			return client.WriteTimeline(c.App.Writer, doc)
		},
	}
}

func contextWithTimeout(c *cli.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(c.Context)
	}
	return context.WithTimeout(c.Context, d)
}
