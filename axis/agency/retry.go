package agency

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.uber.org/zap"

	"axis/axis/bus"
	"axis/axis/errs"
)

// refusedBody is the .error.json kept beside a refused message: the error body (as the
// drop directory's) and how the axis delivered it, so that RetryRefused can handle the
// message again as it came (its axis-accepted-at sets the verification time).
type refusedBody struct {
	errs.Body
	Delivery *refusedDelivery `json:"delivery,omitempty"`
}

type refusedDelivery struct {
	Topic     string            `json:"topic"`
	Partition int               `json:"partition"`
	Offset    int64             `json:"offset"`
	Headers   map[string]string `json:"headers"` // the axis-* headers
}

// RetryResult counts what RetryRefused did.
type RetryResult struct {
	Handled int // written and answered now (or found already done): removed from refused/
	Refused int // refused again: kept, with the new reason in its .error.json
}

// RetryRefused handles again every message kept in refused/, once what refused it was
// set right here (a --registry that lacked the sender, a trust store without its CA, a
// smaller size limit): the sender's delivery otherwise stays "published", as the axis
// delivers a package once. Each is handled as Handle would, with the headers it came with
// (a copy kept by an older version, without them, is verified at the current time). A
// message handled now is removed from refused/; one refused again stays, with the new
// reason. Handle waits while it runs. An error (disk, broker) stops it; what was done so
// far stays done.
func (in *Inbox) RetryRefused(ctx context.Context) (RetryResult, error) {
	in.serial.Lock()
	defer in.serial.Unlock()
	var res RetryResult
	dir := filepath.Join(in.cfg.Dir, RefusedDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, errs.Wrap(errs.Unavailable, err, "reading %s", dir)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && !strings.HasSuffix(n, ErrorSuffix) && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		path := filepath.Join(dir, n)
		m, err := refusedMessage(path)
		if err != nil {
			return res, err
		}
		kind, err := in.handle(ctx, m)
		if err != nil {
			return res, err
		}
		if kind == Refused {
			res.Refused++
			continue
		}
		for _, p := range []string{path, path + ErrorSuffix} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return res, errs.Wrap(errs.Unavailable, err, "removing %s", p)
			}
		}
		if err := syncDir(dir); err != nil {
			return res, errs.Wrap(errs.Unavailable, err, "removing %s", path)
		}
		in.log.Info("refused message handled on retry", zap.String("file", path), zap.String("outcome", string(kind)))
		res.Handled++
	}
	return res, nil
}

// refusedMessage rebuilds the delivery of a message kept in refused/.
func refusedMessage(path string) (bus.Message, error) {
	value, err := os.ReadFile(path)
	if err != nil {
		return bus.Message{}, errs.Wrap(errs.Unavailable, err, "reading %s", path)
	}
	m := bus.Message{Value: value}
	var kept refusedBody
	if b, err := os.ReadFile(path + ErrorSuffix); err == nil && json.Unmarshal(b, &kept) == nil && kept.Delivery != nil {
		m.Topic, m.Partition, m.Offset = kept.Delivery.Topic, kept.Delivery.Partition, kept.Delivery.Offset
		keys := make([]string, 0, len(kept.Delivery.Headers))
		for k := range kept.Delivery.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m.Headers = append(m.Headers, bus.Header{Key: k, Value: []byte(kept.Delivery.Headers[k])})
		}
	}
	if m.Header(HeaderSHA256) == "" {
		// Kept only when its bytes were what the axis delivered (Handle): they still are
		// if they hash as named, which Handle checks against this.
		m.Headers = append(m.Headers, bus.Header{Key: HeaderSHA256, Value: []byte(sha256Hex(value))})
	}
	return m, nil
}
