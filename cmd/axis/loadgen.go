package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"axis/axis/loadgen"
	"axis/axis/logging"
	"axis/axis/registry"
)

func init() { register(loadgenCommand()) }

func loadgenCommand() *cli.Command {
	return &cli.Command{
		Name:  "loadgen",
		Usage: "sign a corpus, submit it to a running axis and consume the inboxes: end-to-end throughput and latency",
		Description: "The last line is\n   e2e_per_s=X p50_ms=X p95_ms=X p99_ms=X verify_per_s=X ratio=X errors=N lost=N\n" +
			"   Latency: arrival at the last recipient minus submission start (with --rate, the time it was due).\n" +
			"   verify_per_s: in-process verification of the same corpus on all cores; ratio = e2e/verify.\n" +
			"   lost: accepted but not at every recipient's inbox --lost-after the last answer.\n" +
			"   Exit status 1 if any submission failed or any package was lost.",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "server", Usage: "the axis (http://host:port)", Required: true, EnvVars: []string{"AXIS_SERVER"}},
			&cli.StringFlag{Name: "pki", Usage: "development PKI directory (axis pki init): root.pem, agencies/<id>.key/.pem", Required: true, EnvVars: []string{"AXIS_PKI_DIR"}},
			&cli.StringFlag{Name: "registry", Usage: "agency registry (JSON)", Required: true, EnvVars: []string{"AXIS_REGISTRY"}},
			&cli.IntFlag{Name: "n", Value: 1000, Usage: "packages in the corpus", EnvVars: []string{"AXIS_LOADGEN_N"}},
			&cli.IntFlag{Name: "size", Value: 5000, Usage: "bytes per signed package, about (an attachment pads it)", EnvVars: []string{"AXIS_LOADGEN_SIZE"}},
			&cli.IntFlag{Name: "recipients", Value: 3, Usage: "recipients per package", EnvVars: []string{"AXIS_LOADGEN_RECIPIENTS"}},
			&cli.Float64Flag{Name: "rate", Usage: "packages per second offered, open loop (0: as fast as the axis answers)", EnvVars: []string{"AXIS_LOADGEN_RATE"}},
			&cli.IntFlag{Name: "concurrency", Value: 64, Usage: "submissions in flight at most", EnvVars: []string{"AXIS_LOADGEN_CONCURRENCY"}},
			&cli.DurationFlag{Name: "lost-after", Value: 30 * time.Second, Usage: "wait for deliveries after the last answer; missing then: lost", EnvVars: []string{"AXIS_LOADGEN_LOST_AFTER"}},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the submission phase to this file", EnvVars: []string{"AXIS_LOADGEN_CPUPROFILE"}},
			&cli.StringFlag{Name: "latencies", Usage: "write every package's latencies to this file (CSV: due, answer, published, e2e in ms)", EnvVars: []string{"AXIS_LOADGEN_LATENCIES"}},
			&cli.Uint64Flag{Name: "seed", Usage: "corpus seed (0: random)", EnvVars: []string{"AXIS_LOADGEN_SEED"}},
		}, kafkaFlags()...), logFlags()...),
		Action: loadgenAction,
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func loadgenAction(c *cli.Context) error {
	log, err := logging.New(logging.Config{Format: c.String("log-format"), Level: c.String("log-level")})
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	defer log.Sync()
	reg, err := registry.Load(c.String("registry"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if c.Int("n") <= 0 {
		return cli.Exit("loadgen: --n must be positive", 2)
	}
	cfg := loadgen.Config{
		Server: c.String("server"), PKIDir: c.String("pki"), Registry: reg,
		N: c.Int("n"), Size: c.Int("size"), Recipients: c.Int("recipients"), Rate: c.Float64("rate"),
		Concurrency: c.Int("concurrency"), Kafka: kafkaConfig(c), LostAfter: c.Duration("lost-after"),
		Seed: c.Uint64("seed"), Logger: log.Named("loadgen"),
	}
	if isTerminal(os.Stderr) {
		cfg.Progress = c.App.ErrWriter
	}
	if p := c.String("cpuprofile"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return cli.Exit("loadgen: "+err.Error(), 2)
		}
		defer f.Close()
		cfg.CPUProfile = f
	}
	if p := c.String("latencies"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return cli.Exit("loadgen: "+err.Error(), 2)
		}
		defer f.Close()
		cfg.Latencies = f
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil && res.Packages == 0 {
		return cli.Exit("loadgen: "+err.Error(), 1)
	}
	w := c.App.Writer
	offered := "full speed"
	if res.Offered > 0 {
		offered = fmt.Sprintf("%g/s offered", res.Offered)
	}
	fmt.Fprintf(w, "corpus: %d packages, %d bytes on average, %d recipients each, signed at %.0f/s\n",
		res.Packages, res.AvgBytes, cfg.Recipients, res.SignPerSec)
	fmt.Fprintf(w, "submitted (%s, concurrency %d): %d accepted, %d failed, answered at %.0f/s\n",
		offered, cfg.Concurrency, res.Accepted, res.Errors, res.SubmitPerSec)
	fmt.Fprintf(w, "delivered to every recipient: %d in %s (%d duplicate copies)\n", res.Delivered, res.Wall.Round(time.Millisecond), res.Duplicates)
	fmt.Fprintf(w, "answered by the axis (submit to 202): p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f\n",
		ms(res.AnsP50), ms(res.AnsP95), ms(res.AnsP99))
	fmt.Fprintf(w, "published by the axis (record timestamp of the last copy): p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f\n",
		ms(res.PubP50), ms(res.PubP95), ms(res.PubP99))
	if res.CPUPerPkg > 0 { // loadgen shares the machine with the daemon: what it takes, the daemon does not get
		fmt.Fprintf(w, "loadgen: cpu_ms_per_pkg=%.3f (submission and delivery)\n", ms(res.CPUPerPkg))
	}
	interrupted := errors.Is(err, context.Canceled)
	if interrupted {
		fmt.Fprintf(w, "interrupted: %d of %d packages not submitted; deliveries still on their way were not waited for (lost counts them)\n",
			res.Unsent, res.Packages)
	}
	fmt.Fprintln(w, res.Line())
	if interrupted {
		return cli.Exit("loadgen: interrupted", 130)
	}
	if err != nil {
		return cli.Exit("loadgen: "+err.Error(), 1)
	}
	if res.Errors > 0 || res.Lost > 0 {
		return cli.Exit("", 1) // scripts and CI see a failed run without parsing the line
	}
	return nil
}
