package replay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"

	"axis/axis/bus"
	"axis/axis/errs"
	"axis/store/audit"
)

// TopicAudit is the audit topic of SPEC §8.
const TopicAudit = "axis.audit"

// Source yields audit lines in order. fn returning an error stops the reading.
type Source interface {
	Lines(ctx context.Context, fn func(line []byte) error) error
}

// Run reads every line of src into a new Replayer. A chain break is not an error: it is
// in History.Break, and reading stops there; a log that lost its start is not one either
// (History.HeadMissing). Check History.OK.
func Run(ctx context.Context, src Source, opts Options) (*History, error) {
	r := New(opts)
	err := src.Lines(ctx, func(line []byte) error {
		var b *audit.Break
		if err := r.Add(line); errors.As(err, &b) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return r.History(), err
	}
	r.Flush() // a gap still open is a break, in History.Break
	return r.History(), nil
}

var errStop = errors.New("stop")

// Reader is a Source over an export file or stream (one line per event).
type Reader struct{ R io.Reader }

// Lines implements Source.
func (s Reader) Lines(ctx context.Context, fn func([]byte) error) error {
	br := bufio.NewReaderSize(s.R, 256<<10)
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := br.ReadBytes('\n')
		if len(line) > audit.MaxLine {
			return fmt.Errorf("line %d is longer than %d bytes", n+1, audit.MaxLine)
		}
		if l := bytes.TrimSuffix(line, []byte{'\n'}); len(l) > 0 {
			if ferr := fn(l); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Kafka is a Source reading one partition of the audit topic directly (no consumer
// group: an auditor's read leaves no trace in the cluster), from its first offset to the
// end offset it had when reading started.
type Kafka struct {
	Brokers   []string
	Dialer    *kafka.Dialer
	Topic     string // default axis.audit
	Partition int    // default 0 (the daemon creates one partition, which keeps the order)
}

// Lines implements Source.
func (k Kafka) Lines(ctx context.Context, fn func([]byte) error) error {
	if k.Topic == "" {
		k.Topic = TopicAudit
	}
	if k.Dialer == nil {
		k.Dialer = &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	}
	first, end, err := k.bounds(ctx)
	if err != nil {
		return err
	}
	if first >= end {
		if first > 0 {
			// Every line was deleted (retention): an empty replay would pass for a
			// verified one.
			return errs.E(errs.NotFound, "%s/%d holds no line any more: offsets 0 to %d were deleted (the topic's retention?); the log cannot be replayed from Kafka",
				k.Topic, k.Partition, first-1)
		}
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: k.Brokers, Topic: k.Topic, Partition: k.Partition, Dialer: k.Dialer,
		MinBytes: 1, MaxBytes: bus.MaxMessageBytes + 1<<20, MaxWait: 500 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return err
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "reading %s/%d", k.Topic, k.Partition)
		}
		if err := fn(m.Value); err != nil {
			return err
		}
		if m.Offset+1 >= end {
			return nil
		}
	}
}

// bounds returns the first offset and the end offset of the partition.
func (k Kafka) bounds(ctx context.Context) (first, end int64, err error) {
	for _, addr := range k.Brokers {
		var conn *kafka.Conn
		conn, err = k.Dialer.DialLeader(ctx, "tcp", addr, k.Topic, k.Partition)
		if err != nil {
			continue
		}
		first, end, err = conn.ReadOffsets()
		conn.Close()
		if err == nil {
			return first, end, nil
		}
	}
	if err == nil {
		err = errors.New("no broker given")
	}
	return 0, 0, errs.Wrap(errs.Unavailable, err, "offsets of %s/%d", k.Topic, k.Partition)
}
