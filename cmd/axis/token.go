package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"axis/axis/token"
)

func init() { register(tokenCommand()) }

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "bearer tokens for the read API and the portal",
		Subcommands: []*cli.Command{{
			Name:  "issue",
			Usage: "issue a token for one agency (--agency ID) or for an auditor (--auditor)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "data-dir", Value: ".axis", Usage: "the daemon's data directory (holds the token secret)", EnvVars: []string{"AXIS_DATA_DIR"}},
				&cli.StringFlag{Name: "agency", Usage: "OrganId the token acts for", EnvVars: []string{"AXIS_TOKEN_AGENCY"}},
				&cli.BoolFlag{Name: "auditor", Usage: "a token that sees every document and the audit log", EnvVars: []string{"AXIS_TOKEN_AUDITOR"}},
				&cli.DurationFlag{Name: "ttl", Value: 24 * time.Hour, Usage: "validity", EnvVars: []string{"AXIS_TOKEN_TTL"}},
			},
			Action: func(c *cli.Context) error {
				if (c.String("agency") == "") == !c.Bool("auditor") {
					return cli.Exit("token issue: give exactly one of --agency ID or --auditor", 2)
				}
				if c.Duration("ttl") <= 0 {
					return cli.Exit("token issue: --ttl must be positive", 2)
				}
				dir := c.String("data-dir")
				k, err := token.Load(dir)
				if errors.Is(err, fs.ErrNotExist) {
					// The first start of a daemon creates it too; say so, as a mistyped
					// --data-dir gives tokens that daemon refuses.
					fmt.Fprintf(c.App.ErrWriter, "axis: no token secret in %s yet: created %s (a daemon with another --data-dir refuses this token)\n",
						dir, filepath.Join(dir, token.SecretFile))
					k, err = token.LoadOrCreate(dir)
				}
				if err != nil {
					return err
				}
				tok, err := k.Issue(token.Claims{Agency: c.String("agency"), Auditor: c.Bool("auditor"),
					Expires: time.Now().Add(c.Duration("ttl")).Unix()})
				if err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, tok)
				return nil
			},
		}, {
			Name:      "revoke",
			Usage:     "revoke one token (a running daemon refuses it within a second)",
			ArgsUsage: "TOKEN|-",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "data-dir", Value: ".axis", Usage: "the daemon's data directory (holds the token secret and the revoked tokens)", EnvVars: []string{"AXIS_DATA_DIR"}},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return cli.Exit("token revoke: give the token, or - to read it from stdin", 2)
				}
				tok := c.Args().First()
				if tok == "-" {
					b, err := io.ReadAll(c.App.Reader)
					if err != nil {
						return err
					}
					tok = string(b)
				}
				k, err := token.Load(c.String("data-dir"))
				if err != nil {
					return cli.Exit("token revoke: "+err.Error()+" (give the daemon's --data-dir)", 1)
				}
				claims, err := k.Revoke(strings.TrimSpace(tok), time.Now())
				if err != nil {
					return cli.Exit("token revoke: "+err.Error(), 1)
				}
				fmt.Fprintf(c.App.Writer, "REVOKED %s token (it would have expired at %s)\n", claims.Subject(),
					time.Unix(claims.Expires, 0).UTC().Format(time.RFC3339))
				return nil
			},
		}, {
			Name:  "rotate",
			Usage: "replace the token secret: earlier tokens are refused at once, or after --grace (a running daemon follows within a second)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "data-dir", Value: ".axis", Usage: "the daemon's data directory (holds the token secret)", EnvVars: []string{"AXIS_DATA_DIR"}},
				&cli.DurationFlag{Name: "grace", Usage: "how long tokens issued before stay valid (0: refused at once, for a leaked secret)", EnvVars: []string{"AXIS_TOKEN_GRACE"}},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 0 {
					return cli.Exit("token rotate: no arguments (the data directory is --data-dir)", 2)
				}
				if c.Duration("grace") < 0 {
					return cli.Exit("token rotate: --grace cannot be negative", 2)
				}
				r, err := token.Rotate(c.String("data-dir"), c.Duration("grace"), time.Now())
				if err != nil {
					return cli.Exit("token rotate: "+err.Error(), 1)
				}
				if r.GraceUntil.IsZero() {
					fmt.Fprintln(c.App.Writer, "ROTATED: every token issued before is refused; issue new ones with `axis token issue`")
				} else {
					fmt.Fprintf(c.App.Writer, "ROTATED: tokens issued before stay valid until %s (or their own expiry, if sooner)\n",
						r.GraceUntil.UTC().Format(time.RFC3339))
				}
				if r.Kept > 0 {
					fmt.Fprintf(c.App.Writer, "(%d secret(s) of earlier rotations keep their own grace)\n", r.Kept)
				}
				return nil
			},
		}},
	}
}
