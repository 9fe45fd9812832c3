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
		CommandNotFound: func(c *cli.Context, name string) {
			// Also called when a command's required flag is missing and urfave/cli shows
			// its help with the arguments as a topic: the error that follows says what.
			if c.Command != nil && !hasSubcommands(c.Command) && c.Command.Name != "" && c.Command.Name != c.App.Name && c.Command.Name != "help" {
				return
			}
			fmt.Fprintf(c.App.ErrWriter, "axis: unknown command %q (axis --help lists them)\n", name)
			os.Exit(2)
		},
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

// hasSubcommands: cmd groups commands (urfave/cli gives every command a "help" one).
func hasSubcommands(cmd *cli.Command) bool {
	for _, s := range cmd.Subcommands {
		if s.Name != "help" {
			return true
		}
	}
	return false
}

func main() {
	if err := newApp().Run(os.Args); err != nil {
		// What reaches here never went through ExitErrHandler: the command line itself
		// is wrong (a required flag missing, a flag that does not parse). Say so: a bare
		// exit status tells a newcomer nothing.
		fmt.Fprintln(os.Stderr, "axis:", err)
		os.Exit(2)
	}
}
