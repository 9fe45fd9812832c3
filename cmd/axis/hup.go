package main

import (
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"axis/signing"
)

// onSIGHUP calls fn on every SIGHUP until stop is called. Registering also keeps SIGHUP
// from ending the process (its default action), e.g. when the terminal closes.
func onSIGHUP(fn func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
			fn()
		}
	}()
	return func() {
		signal.Stop(ch)
		close(ch)
		<-done
	}
}

// reloadTrust reads the trust path again into v; on failure v keeps its trust store.
func reloadTrust(path string, v *signing.Verifier, log *zap.Logger) error {
	ts, err := v.ReloadTrust(path)
	if err != nil {
		log.Error("trust store not reloaded; the one in use stays", zap.String("trust", path), zap.Error(err))
		return err
	}
	log.Info("trust store reloaded", zap.String("trust", path), zap.String("summary", ts.Summary()))
	return nil
}
