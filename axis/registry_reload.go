package axis

import (
	"context"
	"time"

	"go.uber.org/zap"

	"axis/axis/registry"
)

// ReloadRegistry reads --registry again (SIGHUP): adding an agency to the national axis
// must not need a restart. The new agencies' inbox topics are created first, so that no
// package is accepted for an inbox that does not exist; if that or the file fails, the
// registry in use stays. Removed agencies can no longer send or be addressed; deliveries
// already queued for them are still published (their topics stay).
func (d *Daemon) ReloadRegistry(ctx context.Context, why string) (registry.Change, error) {
	d.regMu.Lock()
	defer d.regMu.Unlock()
	fail := func(err error) (registry.Change, error) {
		d.m.regReloads.WithLabelValues("error").Inc()
		d.log.Error("registry not reloaded; the one in use stays", zap.String("registry", d.cfg.RegistryFile),
			zap.String("why", why), zap.Error(err))
		return registry.Change{}, err
	}
	next, err := registry.Load(d.cfg.RegistryFile)
	if err != nil {
		return fail(err)
	}
	var topics []string
	for _, id := range next.IDs() {
		if _, ok := d.registry.Lookup(id); !ok {
			topics = append(topics, InboxTopic(id))
		}
	}
	if len(topics) > 0 {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := d.bus.EnsureTopics(tctx, topics...)
		cancel()
		if err != nil {
			return fail(err)
		}
	}
	c := d.registry.Replace(next)
	d.m.regReloads.WithLabelValues("ok").Inc()
	d.m.regAgencies.Set(float64(d.registry.Len()))
	d.log.Info("registry reloaded", zap.String("registry", d.cfg.RegistryFile), zap.String("why", why),
		zap.Int("agencies", d.registry.Len()), zap.Strings("added", c.Added), zap.Strings("removed", c.Removed),
		zap.Strings("changed", c.Changed))
	return c, nil
}
