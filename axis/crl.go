package axis

import (
	"time"

	"go.uber.org/zap"

	"axis/signing"
)

// watchCRLs reports the freshness of the trust store's CRLs: a CRL past its next update
// keeps revoking what it lists, but certificates revoked since are unknown to the axis
// until the operator installs the current CRL in --trust (read again on a change, or on
// SIGHUP). It sets axis_trust_crl_next_update_timestamp_seconds (alert on it going below
// time()) for these CRLs only, warns now for a stale CRL and later when one becomes
// stale, and returns a function that cancels the later warnings.
func (d *Daemon) watchCRLs(crls []signing.CRLInfo, now time.Time) (stop func()) {
	d.m.crlNextUpdate.Reset()      // issuers of a trust store replaced by a reload go
	next := map[string]time.Time{} // per issuer, its freshest CRL decides
	for _, c := range crls {
		if c.NextUpdate.IsZero() {
			continue
		}
		if t, ok := next[c.Issuer]; !ok || c.NextUpdate.After(t) {
			next[c.Issuer] = c.NextUpdate
		}
	}
	var timers []*time.Timer
	for issuer, at := range next {
		d.m.crlNextUpdate.WithLabelValues(issuer).Set(float64(at.Unix()))
		warn := func() {
			d.log.Warn("a CRL of the trust store is past its next update: certificates revoked since are still accepted; install the issuer's current CRL in --trust (read again on a change, or on SIGHUP)",
				zap.String("issuer", issuer), zap.Time("next_update", at))
		}
		if now.After(at) {
			warn()
		} else {
			timers = append(timers, time.AfterFunc(at.Sub(now), warn))
		}
	}
	return func() {
		for _, t := range timers {
			t.Stop()
		}
	}
}
