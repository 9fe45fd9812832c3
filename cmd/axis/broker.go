package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"axis/axis/broker"
	"axis/axis/logging"
)

func init() { register(brokerCommand()) }

func brokerCommand() *cli.Command {
	return &cli.Command{
		Name:  "broker",
		Usage: "run the development Kafka-protocol broker (kfake) until SIGINT or SIGTERM",
		Description: "A single-node broker for development and tests; any Kafka client (kafka-go, kcat) can use it.\n" +
			"With --data-dir it keeps topics, messages and consumer offsets across restarts and fsyncs\n" +
			"every batch before acknowledging it (--no-sync trades that for speed: a machine crash may\n" +
			"then lose the last seconds). Without --data-dir everything is lost when it stops.\n" +
			"It prints its address on the first line of standard output.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: broker.DefaultAddr, Usage: "host:port to listen on (port 0: any free port)", EnvVars: []string{"AXIS_BROKER_ADDR"}},
			&cli.StringFlag{Name: "advertise", Usage: "host:port clients are told to connect to (default: the listen address)", EnvVars: []string{"AXIS_BROKER_ADVERTISE"}},
			&cli.StringFlag{Name: "data-dir", Usage: "directory for the broker's data (default: memory only)", EnvVars: []string{"AXIS_BROKER_DATA_DIR"}},
			&cli.BoolFlag{Name: "no-sync", Usage: "do not fsync each batch (faster; a machine crash may lose acknowledged messages)", EnvVars: []string{"AXIS_BROKER_NO_SYNC"}},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"AXIS_LOG_LEVEL"}},
			&cli.StringFlag{Name: "log-format", Value: "auto", Usage: "auto, json or console", EnvVars: []string{"AXIS_LOG_FORMAT"}},
		},
		Action: func(c *cli.Context) error {
			log, err := logging.New(logging.Config{Level: c.String("log-level"), Format: c.String("log-format")})
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			defer log.Sync()
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			b, err := broker.Start(ctx, broker.Config{
				Addr:      c.String("addr"),
				Advertise: c.String("advertise"),
				DataDir:   c.String("data-dir"),
				NoSync:    c.Bool("no-sync"),
				Logger:    log.Named("broker"),
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, b.Addr())
			<-ctx.Done()
			stop() // a second signal now ends the process at once
			return b.Close()
		},
	}
}
