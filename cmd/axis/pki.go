package main

import (
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"axis/axis/registry"
	"axis/signing/devpki"
)

func init() { register(pkiCommand()) }

func pkiCommand() *cli.Command {
	return &cli.Command{
		Name:  "pki",
		Usage: "development PKI (never for production)",
		Subcommands: []*cli.Command{{
			Name:  "init",
			Usage: "create a root CA, the daemon identity and one key+certificate per registry agency; existing files are kept",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "dir", Usage: "output directory", Required: true, EnvVars: []string{"AXIS_PKI_DIR"}},
				&cli.StringFlag{Name: "registry", Usage: "agency registry (JSON, SPEC §4)", Required: true, EnvVars: []string{"AXIS_REGISTRY"}},
				&cli.BoolFlag{Name: "ecdsa", Usage: "ECDSA P-256 keys instead of RSA-2048", EnvVars: []string{"AXIS_PKI_ECDSA"}},
			},
			Action: func(c *cli.Context) error {
				reg, err := registry.Load(c.String("registry"))
				if err != nil {
					return err
				}
				dir := c.String("dir")
				ids := reg.IDs()
				paths := []string{devpki.RootCertPath(dir), devpki.AxisCertPath(dir)}
				for _, id := range ids {
					paths = append(paths, devpki.AgencyCertPath(dir, id))
				}
				created := 0
				// Each line as soon as its certificate is written: hundreds of RSA keys
				// take tens of seconds.
				opts := devpki.Options{Created: func(p string) {
					created++
					fmt.Fprintln(c.App.Writer, "created", p)
				}}
				if c.Bool("ecdsa") {
					opts.KeyType = devpki.ECDSA
				}
				if err := devpki.Init(dir, ids, opts); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "development PKI in %s: %d certificates created, %d kept (root: %s)\n",
					dir, created, len(paths)-created, filepath.Join(dir, "root.pem"))
				return nil
			},
		}},
	}
}
