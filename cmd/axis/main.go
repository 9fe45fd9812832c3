// Command axis is the national document-interchange axis: one binary for the daemon,
// the development broker and PKI, and the agency and auditor tools (SPEC §5).
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
)

// commands is filled by the init functions of this package's files, one file per command,
// so that commands can be added without touching this file.
var commands []*cli.Command

func register(c *cli.Command) { commands = append(commands, c) }

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return &cli.App{
		Name:                 "axis",
		Usage:                "national document-interchange axis for signed edXML packages",
		Commands:             commands,
		EnableBashCompletion: true,
		ExitErrHandler: func(c *cli.Context, err error) {
			if err == nil {
				return
			}
			if ec, ok := err.(cli.ExitCoder); ok {
				if msg := err.Error(); msg != "" {
					fmt.Fprintln(c.App.ErrWriter, "axis:", msg)
				}
				os.Exit(ec.ExitCode())
			}
			fmt.Fprintln(c.App.ErrWriter, "axis:", err)
			os.Exit(1)
		},
	}
}

func main() {
	if err := newApp().Run(os.Args); err != nil {
		os.Exit(1)
	}
}
