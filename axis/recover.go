package axis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// ErrRecover is what Run returns after the store stopped writing (a failed durable write:
// a full or failing disk) and the data directory has room again: the daemon has shut
// down cleanly, and a new one on the same configuration recovers the store (its Open
// replays the write-ahead log) and goes on. `axis serve` does that in the same process.
// Until then the axis keeps serving reads, and answers writes with 503.
var ErrRecover = errors.New("the store stopped writing and the data directory has room again: start the axis anew to recover")

// recoverRoom is the free space the data directory needs before a restart is tried: a new
// write-ahead segment, the next one prepared, and a blob log extension (16 MiB each),
// with room to spare.
const recoverRoom = 64 << 20

// recoverWhenWritable waits for the store to stop writing, then checks the data directory
// (free space, and a synced write) after RecoverProbe, twice as long each time up to a
// minute, and asks Run to stop with ErrRecover once it is writable.
func (d *Daemon) recoverWhenWritable(ctx context.Context) {
	var cause error
	select {
	case <-ctx.Done():
		return
	case cause = <-d.storeStopped:
	}
	d.log.Error("the store stopped writing: submissions are answered 503 until the data directory has room again and the axis restarts its store",
		zap.String("data_dir", d.cfg.DataDir), zap.Error(cause))
	delay := d.cfg.RecoverProbe
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		err := probeWritable(d.cfg.DataDir, recoverRoom)
		if err == nil {
			d.log.Warn("the data directory is writable again: restarting the axis to recover the store",
				zap.String("data_dir", d.cfg.DataDir))
			select {
			case d.recoverNow <- struct{}{}:
			default:
			}
			return
		}
		delay = min(2*delay, time.Minute)
		d.log.Warn("the data directory is still not writable; the store stays stopped",
			zap.String("data_dir", d.cfg.DataDir), zap.Duration("next_check", delay), zap.Error(err))
	}
}

// probeWritable checks that dir has room free and takes a synced write.
func probeWritable(dir string, room uint64) error {
	if free, ok := freeSpace(dir); ok && free < room {
		return fmt.Errorf("%d MiB free, %d MiB needed", free>>20, room>>20)
	}
	f, err := os.CreateTemp(dir, ".axis-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		return err
	}
	return f.Sync()
}
