package axis

import (
	"maps"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"axis/signing"
)

// TestWatchCRLs: the freshest CRL of each issuer decides; a stale one is reported at
// once, one that becomes stale while the axis runs is reported then, and stop cancels
// what has not happened yet.
func TestWatchCRLs(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	d := &Daemon{log: zap.New(core), m: newMetrics()}
	now := time.Now()
	stop := d.watchCRLs([]signing.CRLInfo{
		{Issuer: "CN=A", NextUpdate: now.Add(24 * time.Hour)},                      // fresh
		{Issuer: "CN=A", NextUpdate: now.Add(-time.Hour)},                          // an older CRL of A, also given: the fresh one decides
		{Issuer: "CN=B", NextUpdate: now.Add(-time.Minute)},                        // stale now
		{Issuer: "CN=C", NextUpdate: now.Add(50 * time.Millisecond)},               // stale soon
		{Issuer: "CN=D", NextUpdate: now.Add(time.Hour)},                           // never, before stop
		{Issuer: "CN=E", ThisUpdate: now.Add(-time.Hour), NextUpdate: time.Time{}}, // names no next update
	}, now)
	warned := func() map[string]int {
		out := map[string]int{}
		for _, e := range logs.All() {
			out[e.ContextMap()["issuer"].(string)]++
		}
		return out
	}
	if w := warned(); len(w) != 1 || w["CN=B"] != 1 {
		t.Fatalf("warnings at start %v, want one for CN=B", w)
	}
	deadline := time.Now().Add(5 * time.Second)
	for warned()["CN=C"] == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if w := warned(); len(w) != 2 || w["CN=C"] != 1 {
		t.Fatalf("warnings %v, want CN=B and then CN=C", w)
	}
	got := map[string]float64{}
	mfs, err := d.m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "axis_trust_crl_next_update_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{"CN=A": float64(now.Add(24 * time.Hour).Unix()), "CN=B": float64(now.Add(-time.Minute).Unix()),
		"CN=C": float64(now.Add(50 * time.Millisecond).Unix()), "CN=D": float64(now.Add(time.Hour).Unix())}
	if !maps.Equal(got, want) { // CN=E names no next update
		t.Errorf("exported next updates %v, want %v", got, want)
	}
}
