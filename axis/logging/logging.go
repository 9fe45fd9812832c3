// Package logging builds the zap logger every command passes down: JSON lines in
// production (for log shippers), coloured readable lines on a developer's terminal.
package logging

import (
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// Config selects the format and level. Format "auto" means console on a terminal,
// JSON otherwise.
type Config struct {
	Format string // auto | json | console
	Level  string // debug | info | warn | error
}

// New builds a logger writing to stderr.
func New(c Config) (*zap.Logger, error) {
	lvl := zapcore.InfoLevel
	if c.Level != "" {
		if err := lvl.UnmarshalText([]byte(strings.ToLower(c.Level))); err != nil {
			return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.Level)
		}
	}
	format := strings.ToLower(c.Format)
	if format == "" || format == "auto" {
		format = "json"
		if term.IsTerminal(int(os.Stderr.Fd())) {
			format = "console"
		}
	}
	var enc zapcore.Encoder
	switch format {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey = "time"
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		if term.IsTerminal(int(os.Stderr.Fd())) { // colour codes only where they are read as colour
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("log format %q: want auto, json or console", c.Format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(os.Stderr))), nil
}
