package axis

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// trustSettle is how long the trust path must stay unchanged before it is read again:
// an operator copying several files, or a CRL written in pieces, is read once, whole.
const trustSettle = 500 * time.Millisecond

// ReloadTrust reads --trust again (roots, intermediates and CRLs). On success the next
// verification uses it, chains validated before are forgotten, and the CRL freshness
// metric and warnings follow the new CRLs. On failure (a file half written, a directory
// left without a root) the trust store in use stays, and the error is logged and
// returned. Safe for concurrent use; `axis serve` calls it on SIGHUP, and Run when a
// file of the trust path changes.
func (d *Daemon) ReloadTrust(why string) error {
	d.trustMu.Lock()
	defer d.trustMu.Unlock()
	ts, err := d.verifier.ReloadTrust(d.cfg.TrustPath)
	if err != nil {
		d.m.trustReloads.WithLabelValues("error").Inc()
		d.log.Error("trust store not reloaded; the one in use stays", zap.String("trust", d.cfg.TrustPath),
			zap.String("why", why), zap.Error(err))
		return err
	}
	d.m.trustReloads.WithLabelValues("ok").Inc()
	d.m.trustLoaded.SetToCurrentTime()
	if d.stopCRLWatch != nil {
		d.stopCRLWatch()
		d.stopCRLWatch = d.watchCRLs(ts.CRLs(), time.Now())
	}
	d.log.Info("trust store reloaded", zap.String("trust", d.cfg.TrustPath), zap.String("why", why),
		zap.String("summary", ts.Summary()))
	return nil
}

// startCRLWatch reports the CRLs in use until the returned function is called.
func (d *Daemon) startCRLWatch() (stop func()) {
	d.trustMu.Lock()
	defer d.trustMu.Unlock()
	d.stopCRLWatch = d.watchCRLs(d.verifier.Trust().CRLs(), time.Now())
	return func() {
		d.trustMu.Lock()
		defer d.trustMu.Unlock()
		d.stopCRLWatch()
		d.stopCRLWatch = nil
	}
}

// watchTrust reloads the trust store when a file of the trust path changes, once the
// changes settle. It watches the directory (for a file: the directory holding it, so
// that a file replaced by a rename is seen too). Without file events (e.g. a file
// system that gives none), SIGHUP still reloads.
func (d *Daemon) watchTrust(ctx context.Context) {
	path := d.cfg.TrustPath
	st, err := os.Stat(path)
	if err != nil {
		d.log.Warn("not watching the trust path; SIGHUP reloads it", zap.String("trust", path), zap.Error(err))
		return
	}
	dir, only := path, ""
	if !st.IsDir() {
		dir, only = filepath.Dir(path), filepath.Clean(path)
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(dir); err != nil {
			w.Close()
		}
	}
	if err != nil {
		d.log.Warn("not watching the trust path; SIGHUP reloads it", zap.String("trust", path), zap.Error(err))
		return
	}
	defer w.Close()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if only != "" && filepath.Clean(ev.Name) != only {
				continue
			}
			settle.Reset(trustSettle)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			d.log.Warn("watching the trust path", zap.String("trust", path), zap.Error(err))
		case <-settle.C:
			d.ReloadTrust("the trust path changed")
		}
	}
}
